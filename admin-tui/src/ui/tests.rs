//! Rendering tests: the whole screen drawn into ratatui's `TestBackend` at 80×24 and 160×48,
//! checked with explicit line assertions and insta snapshots (times are deterministic: "now"
//! is part of the state and the zone is UTC, so nothing needs redacting).

use ratatui::{backend::TestBackend, buffer::Buffer, Terminal};

use super::render;
use crate::app::tests::{app_sized, at, chat, event, load, msg, snapshot, type_text};
use crate::app::{Action, App, Failure, Msg, NetEvent, Outgoing};
use crate::model::{EventBody, Kind, LastMessage, Sender, Status};

/// The buffer as text, one line per row (wide characters once).
fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut x = 0;
        let mut line = String::new();
        while x < area.width {
            let sym = buf[(x, y)].symbol();
            line.push_str(sym);
            x += u16::try_from(super::width(sym).max(1)).unwrap();
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn draw(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(app.size.0, app.size.1)).unwrap();
    terminal.draw(|f| render(app, f)).unwrap();
    text(terminal.backend().buffer())
}

fn has(screen: &str, needle: &str) {
    assert!(
        screen.contains(needle),
        "{needle:?} not on screen:\n{screen}"
    );
}

fn lacks(screen: &str, needle: &str) {
    assert!(
        !screen.contains(needle),
        "{needle:?} should not be on screen:\n{screen}"
    );
}

/// Three chats (Ada waiting longest, Bola new, Chidi answered), Ada's thread loaded.
fn demo(w: u16, h: u16) -> App {
    let mut app = app_sized(w, h);
    let mut ada = chat("2348011111111", "Ada Okafor", Some(-4));
    ada.kind = Kind::Student;
    ada.unread_count = 2;
    ada.chat_session_id = 2;
    ada.last_message = Some(LastMessage {
        text: "I can't upload my homework".into(),
        sender: Sender::User,
        at: Some(at(-4)),
    });
    let mut chidi = chat("2348033333333", "Chidi", None);
    chidi.answered = true;
    chidi.last_inbound_at = Some(at(-23 * 60 - 20));
    chidi.last_message = Some(LastMessage {
        text: "Let me check that for you".into(),
        sender: Sender::Agent,
        at: Some(at(-2)),
    });
    snapshot(&mut app, 10, vec![ada, chidi]);
    let mut bola = chat("2348022222222", "Bola", Some(-1));
    bola.last_message = Some(LastMessage {
        text: "hello?".into(),
        sender: Sender::User,
        at: Some(at(-1)),
    });
    event(&mut app, 11, EventBody::ChatStarted(bola, 1));
    let mut old = msg(1, Sender::User, "hello", -26 * 60);
    old.session_id = 0;
    let mut menu = msg(2, Sender::Bot, "Hi Ada! Choose an option.", -26 * 60);
    menu.session_id = 0;
    let mut welcome = msg(
        3,
        Sender::Bot,
        "Hi Ada! 💬\n\n📞 Live Chat Support\n\nYou are now connected to our support team! 🎯",
        -10,
    );
    welcome.session_id = 2;
    let mut m4 = msg(4, Sender::User, "I can't upload my homework", -9);
    m4.session_id = 2;
    let mut m5 = msg(5, Sender::Agent, "Which subject is it for?", -8);
    m5.session_id = 2;
    m5.status = Status::Read;
    let mut m6 = msg(6, Sender::User, "[image] homework.png", -6);
    m6.session_id = 2;
    m6.kind = "image".into();
    let mut m7 = msg(
        7,
        Sender::Agent,
        "🎧 Support Team: Thanks, looking at it",
        -5,
    );
    m7.session_id = 2;
    m7.status = Status::Delivered;
    let mut m8 = msg(8, Sender::Agent, "Are you still there?", -4);
    m8.session_id = 2;
    m8.status = Status::Failed;
    m8.error_code = 131_026;
    m8.error_message = "Message undeliverable".into();
    let mut m9 = msg(9, Sender::User, "I can't upload my homework", -4);
    m9.session_id = 2;
    load(
        &mut app,
        "2348011111111",
        vec![old, menu, welcome, m4, m5, m6, m7, m8, m9],
        0,
    );
    app.threads
        .get_mut("2348011111111")
        .unwrap()
        .outgoing
        .push(Outgoing {
            local_id: 99,
            text: "One moment please".into(),
            key: "k".into(),
            at: at(0),
            error: None,
        });
    app
}

fn demo_focus(w: u16, h: u16, actions: &[Action]) -> App {
    let mut app = demo(w, h);
    for a in actions {
        app.update(Msg::Action(*a));
    }
    app
}

#[test]
fn list_80x24() {
    let app = demo(80, 24);
    let s = draw(&app);
    // At 80 columns the waiting alarm (the chats started 30 minutes ago and no agent has
    // answered) stays; the product name and the active count make room for it.
    has(&s, "2 waiting · oldest waiting 30m");
    has(&s, "Active chats (3)");
    has(&s, "Ada Okafor");
    has(&s, "waiting 4m · 2 unread");
    has(
        &s,
        "+2348011111111 · student · 23:56 left · user: I can't upload my homework",
    );
    has(&s, " NEW  Bola");
    has(&s, "0:40 left");
    has(&s, "● connected");
    // Longest-waiting first: Ada above Bola above Chidi.
    let (a, b, c) = (
        s.find("Ada").unwrap(),
        s.find("Bola").unwrap(),
        s.find("Chidi").unwrap(),
    );
    assert!(a < b && b < c);
    lacks(&s, "Which subject");
    insta::assert_snapshot!(s);
}

#[test]
fn list_160x48() {
    let app = demo(160, 48);
    let s = draw(&app);
    has(&s, "Active chats (3)");
    has(&s, "Ada Okafor · +2348011111111 · student");
    has(&s, "Which subject is it for? ✓✓ read");
    insta::assert_snapshot!(s);
}

#[test]
fn thread_80x24() {
    let app = demo_focus(80, 24, &[Action::Open]);
    let s = draw(&app);
    lacks(&s, "Active chats (3)");
    has(&s, "Ada Okafor · +2348011111111 · student");
    has(&s, "chat session 2");
    has(&s, "10:10 agent Thanks, looking at it ✓✓");
    has(&s, "10:11 agent Are you still there? ✗");
    has(&s, "✗ failed: Message undeliverable (131026)");
    has(&s, "10:09 user  [image] homework.png");
    has(&s, "10:07 agent Which subject is it for? ✓✓ read");
    has(&s, "10:15 agent One moment please sending…");
    has(&s, "chat active 30m · waiting 4m · 23:56 left · 2 unread");
    has(&s, "Reply to Ada Okafor");
    has(&s, "Press i to reply");
    insta::assert_snapshot!(s);
}

#[test]
fn thread_160x48_shows_dates_sessions_and_the_whole_history() {
    let app = demo_focus(160, 48, &[Action::Open]);
    let s = draw(&app);
    has(&s, "start of the conversation");
    has(&s, "Wed 31 Dec 2025");
    has(&s, "Thu 1 Jan 2026");
    has(&s, "chat session 2");
    has(&s, "📞 Live Chat Support");
    has(&s, "08:15 user  hello");
    insta::assert_snapshot!(s);
}

#[test]
fn compose_80x24() {
    let mut app = demo_focus(80, 24, &[Action::Compose]);
    type_text(&mut app, "Please send the file again");
    app.update(Msg::Action(Action::Newline));
    type_text(&mut app, "as a PDF");
    let s = draw(&app);
    has(&s, "Please send the file again");
    has(&s, "as a PDF");
    has(&s, "Enter send · Ctrl-J newline · Esc back");
    insta::assert_snapshot!(s);
}

#[test]
fn compose_160x48_warns_when_the_window_is_closed() {
    let mut app = demo(160, 48);
    app.update(Msg::Action(Action::Bottom));
    app.update(Msg::Action(Action::Compose));
    let mut chidi = app.chats["2348033333333"].clone();
    chidi.last_inbound_at = Some(at(-25 * 60));
    event(&mut app, 12, EventBody::ContactUpdated(chidi));
    type_text(&mut app, "Hello again");
    let s = draw(&app);
    has(&s, "Reply to Chidi");
    has(
        &s,
        "24-hour window closed: WhatsApp will likely refuse a free-form reply",
    );
    has(&s, "24h window closed");
    insta::assert_snapshot!(s);
}

#[test]
fn end_chat_dialog_80x24() {
    let app = demo_focus(80, 24, &[Action::EndChat]);
    let s = draw(&app);
    has(&s, "End chat");
    has(&s, "End the chat with Ada Okafor (+2348011111111)?");
    has(&s, "Thank you for contacting support. Chat session ended.");
    has(&s, "Enter end chat · Tab message on/off · Esc cancel");
    has(&s, "[x] send this closing message (Tab: end silently)");
    insta::assert_snapshot!(s);
}

#[test]
fn end_chat_dialog_160x48_shows_a_refusal() {
    let mut app = demo_focus(160, 48, &[Action::EndChat, Action::Confirm]);
    app.update(Msg::Net(NetEvent::Ended {
        address: "2348011111111".into(),
        result: Err("no active chat for 2348011111111".into()),
    }));
    let s = draw(&app);
    has(&s, "no active chat for 2348011111111");
    has(&s, "Thank you for contacting support. Chat session ended.");
    insta::assert_snapshot!(s);
}

#[test]
fn end_chat_dialog_can_end_silently() {
    let app = demo_focus(80, 24, &[Action::EndChat, Action::Toggle]);
    let s = draw(&app);
    has(&s, "[ ] end without writing to the user");
}

#[test]
fn the_silent_end_dialog_does_not_promise_a_message() {
    let mut app = demo_focus(80, 24, &[Action::EndChat, Action::Toggle]);
    let s = draw(&app);
    has(&s, "End the chat with Ada Okafor (+2348011111111)?");
    lacks(&s, "They receive");
    has(&s, "Nothing is sent to");
    // Back on: the message and its button are promised again.
    app.update(Msg::Action(Action::Toggle));
    has(&draw(&app), "They receive this");
}

#[test]
fn a_send_refused_during_an_outage_stays_above_what_came_after_it() {
    let mut app = app_sized(160, 48);
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-20))]);
    app.update(Msg::Action(Action::Open));
    load(
        &mut app,
        "1",
        vec![msg(1, Sender::User, "first question", -20)],
        0,
    );
    // At -10 the agent sends; the daemon is gone and the send fails.
    app.update(Msg::Tick(at(-10)));
    app.update(Msg::Action(Action::Compose));
    type_text(&mut app, "an answer that never left");
    app.update(Msg::Action(Action::Send));
    let local_id = app.threads["1"].outgoing[0].local_id;
    app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 1,
        failure: Failure::Unreachable("refused".into()),
    }));
    app.update(Msg::Net(NetEvent::Sent {
        address: "1".into(),
        local_id,
        result: Err("daemon unreachable".into()),
    }));
    // Reconnected at 0: the thread reloads with what the user wrote meanwhile.
    app.update(Msg::Tick(at(0)));
    let gen = app.watch_gen;
    app.update(Msg::Net(NetEvent::Connected { gen }));
    snapshot(&mut app, 2, vec![chat("1", "Ada", Some(-20))]);
    load(
        &mut app,
        "1",
        vec![
            msg(1, Sender::User, "first question", -20),
            msg(2, Sender::User, "hello? anyone there", -5),
        ],
        0,
    );
    let s = draw(&app);
    let pos = |needle: &str| {
        s.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{s}"))
    };
    assert!(
        pos("first question") < pos("an answer that never left"),
        "{s}"
    );
    assert!(pos("not sent") < pos("hello? anyone there"), "{s}");
}

#[test]
fn help_80x24() {
    let app = demo_focus(80, 24, &[Action::Help]);
    let s = draw(&app);
    has(&s, "Keys");
    has(&s, "Chat list and thread");
    has(&s, "j ↓");
    has(&s, "end the chat (asks first)");
    insta::assert_snapshot!(s);
}

#[test]
fn help_160x48_lists_every_section() {
    let app = demo_focus(160, 48, &[Action::Help]);
    let s = draw(&app);
    for section in [
        "Chat list and thread",
        "Compose",
        "Text fields",
        "End-chat dialog",
        "Filter",
        "Everywhere",
        "Mouse",
    ] {
        has(&s, section);
    }
    has(&s, "^J M-Enter");
    has(&s, "send the reply");
    insta::assert_snapshot!(s);
}

#[test]
fn help_scrolls_at_80x24() {
    let mut app = demo_focus(80, 24, &[Action::Help]);
    let before = draw(&app);
    for _ in 0..50 {
        app.update(Msg::Action(Action::Down));
    }
    let after = draw(&app);
    assert_ne!(before, after);
    has(&after, "Mouse");
}

fn disconnected(w: u16, h: u16) -> App {
    let mut app = demo(w, h);
    app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 1,
        failure: Failure::Unreachable("Connection refused (os error 111)".into()),
    }));
    app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 2,
        failure: Failure::Unreachable("Connection refused (os error 111)".into()),
    }));
    app
}

#[test]
fn disconnected_banner_80x24() {
    let app = disconnected(80, 24);
    let s = draw(&app);
    has(
        &s,
        "⚠ daemon unreachable at http://127.0.0.1:50051 · reconnecting in 2s…",
    );
    has(&s, "daemon unreachable · reconnecting in 2s…");
    // The last known state stays on screen.
    has(&s, "Ada Okafor");
    insta::assert_snapshot!(s);
}

#[test]
fn disconnected_banner_160x48() {
    let mut app = disconnected(160, 48);
    app.update(Msg::Tick(at(0) + chrono::Duration::seconds(1)));
    let s = draw(&app);
    has(&s, "⚠ daemon unreachable at http://127.0.0.1:50051 · reconnecting in 1s… · typed text is kept · Connection refused (os error 111)");
    insta::assert_snapshot!(s);
}

#[test]
fn token_refused_and_missing_token_say_what_to_do() {
    let mut app = demo(160, 48);
    app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 1,
        failure: Failure::TokenRefused("invalid token".into()),
    }));
    let s = draw(&app);
    has(
        &s,
        "token refused: check --token / CHAT_SUPPORT_ADMIN_TOKEN or the token file",
    );
    has(&s, "reconnecting in 10s…");
    app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 2,
        failure: Failure::NoToken("cannot read ./chat-support.db.admin-token".into()),
    }));
    let s = draw(&app);
    has(&s, "no admin token · reconnecting in 10s…");
    has(&s, "cannot read ./chat-support.db.admin-token");
}

#[test]
fn a_revoked_token_says_so_and_that_it_will_not_reconnect() {
    let mut app = demo(160, 48);
    app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 1,
        failure: Failure::Revoked(
            "agent \"bola\" was disabled; ask your lead (the operator) to enable it again".into(),
        ),
    }));
    app.update(Msg::Tick(at(0) + chrono::Duration::seconds(30)));
    let s = draw(&app);
    has(&s, "⚠ access revoked: ask your lead for a new token");
    has(&s, "access revoked · not reconnecting (R to try again)");
    has(&s, "agent \"bola\" was disabled");
    assert!(!s.contains("reconnecting in"), "{s}");
}

#[test]
fn before_the_first_snapshot_the_console_says_it_is_connecting() {
    let mut app = crate::app::App::new(crate::app::tests::settings(), at(0), (80, 24));
    app.start();
    let s = draw(&app);
    has(&s, "connecting to http://127.0.0.1:50051…");
    has(&s, "Waiting for the daemon…");
}

#[test]
fn filter_line_and_empty_results() {
    let mut app = demo_focus(80, 24, &[Action::Filter]);
    type_text(&mut app, "zzz");
    let s = draw(&app);
    has(&s, "/zzz");
    has(&s, "Nothing matches the filter");
}

#[test]
fn names_with_escape_sequences_cannot_reach_the_terminal() {
    let mut app = demo(80, 24);
    let mut evil = chat("2348044444444", "Eve\u{1b}[2J\u{7}", Some(-30));
    evil.last_message = Some(LastMessage {
        text: "line\u{1b}]0;pwned\u{7}".into(),
        sender: Sender::User,
        at: Some(at(-30)),
    });
    event(&mut app, 20, EventBody::ChatStarted(evil, 1));
    let s = draw(&app);
    assert!(!s.contains('\u{1b}') && !s.contains('\u{7}'));
    has(&s, "Eve [2J");
}

#[test]
fn long_lists_scroll_with_the_selection() {
    let mut app = app_sized(80, 24);
    let chats = (0..30)
        .map(|i| {
            chat(
                &format!("23480{i:08}"),
                &format!("User {i:02}"),
                Some(-100 + i),
            )
        })
        .collect();
    snapshot(&mut app, 1, chats);
    for _ in 0..20 {
        app.update(Msg::Action(Action::Down));
    }
    let s = draw(&app);
    has(&s, "User 20");
    lacks(&s, "User 00");
    has(&s, "↓ 9 more");
}

#[test]
fn tiny_and_odd_sizes_never_panic() {
    for (w, h) in [
        (1, 1),
        (2, 2),
        (10, 3),
        (20, 5),
        (40, 10),
        (99, 30),
        (100, 12),
        (300, 100),
    ] {
        for actions in [
            &[][..],
            &[Action::Open][..],
            &[Action::Compose][..],
            &[Action::EndChat][..],
            &[Action::Help][..],
            &[Action::Filter][..],
        ] {
            let mut app = demo_focus(w, h, actions);
            type_text(
                &mut app,
                "some text that is long enough to wrap around a narrow box",
            );
            app.update(Msg::Net(NetEvent::StreamEnded {
                gen: 1,
                failure: Failure::Lost("x".into()),
            }));
            let _ = draw(&app);
            for a in [Action::Up, Action::PageUp, Action::Top, Action::Down] {
                app.update(Msg::Action(a));
                let _ = draw(&app);
            }
        }
    }
}

// --- The shared desk (issue 8) ---

fn desk_80x24() -> App {
    let mut app = crate::app::desk_tests::desk_app();
    app.update(Msg::Resize(80, 24));
    app
}

#[test]
fn desk_tabs_badges_and_assignees_80x24() {
    let mut app = desk_80x24();
    let s = draw(&app);
    has(&s, "3 Mine   4 Unassigned");
    has(&s, "Bola ▲ high @bola");
    has(&s, "Ada @ada");
    crate::app::tests::key(&mut app, Action::TabMine);
    let s = draw(&app);
    has(&s, "Mine (1)");
    has(&s, "Ada @ada");
    lacks(&s, "Chidi");
    insta::assert_snapshot!(s);
}

#[test]
fn desk_unassigned_tab_empty_80x24() {
    let mut app = desk_80x24();
    let mut c = chat("3", "Chidi", Some(-7));
    c.assigned_agent = "bola".into();
    event(&mut app, 2, EventBody::ContactUpdated(c));
    crate::app::tests::key(&mut app, Action::TabUnassigned);
    let s = draw(&app);
    has(&s, "Unassigned (0)");
    has(&s, crate::strings::NO_UNASSIGNED);
}

#[test]
fn canned_picker_80x24() {
    let mut app = desk_80x24();
    load(&mut app, "3", Vec::new(), 0);
    crate::app::tests::key(&mut app, Action::TabUnassigned);
    crate::app::tests::key(&mut app, Action::Compose);
    type_text(&mut app, "/g");
    let s = draw(&app);
    has(&s, "Canned responses");
    has(&s, "/greet");
    has(&s, "/goodbye");
    lacks(&s, "/hours");
    insta::assert_snapshot!(s);
}

#[test]
fn an_empty_canned_list_says_how_to_add_one() {
    let mut app = desk_80x24();
    let mut desk = app.desk.clone();
    desk.canned.clear();
    app.set_desk(desk);
    load(&mut app, "3", Vec::new(), 0);
    crate::app::tests::key(&mut app, Action::TabUnassigned);
    crate::app::tests::key(&mut app, Action::Compose);
    type_text(&mut app, "/");
    let s = draw(&app);
    has(&s, "No canned responses yet");
    has(&s, "bot-daemon admin canned add SHORTCUT");
    // A reply that is not a shortcut shows no hint.
    type_text(&mut app, " not a shortcut");
    lacks(&draw(&app), "No canned responses yet");
}

#[test]
fn thread_with_notes_and_agent_names_80x24() {
    let mut app = desk_80x24();
    let mut m1 = msg(1, Sender::User, "I paid my fees twice", -9);
    m1.session_id = 1;
    let mut m2 = msg(2, Sender::Agent, "Let me check", -5);
    m2.session_id = 1;
    m2.agent_name = "ada".into();
    load(&mut app, "1", vec![m1, m2], 0);
    let note = crate::model::Note {
        id: 1,
        text: "Bursary confirms the double payment".into(),
        agent_name: "bola".into(),
        at: Some(at(-7)),
        activity: false,
    };
    event(
        &mut app,
        3,
        EventBody::NoteAdded(chat("1", "Ada", Some(-9)), note),
    );
    crate::app::tests::key(&mut app, Action::Down);
    crate::app::tests::key(&mut app, Action::Open);
    let s = draw(&app);
    has(&s, "📝 note by bola");
    has(&s, "Bursary confirms the double payment");
    has(&s, "Let me check ✓ · ada");
    // The note sits between the user's message and the reply, by time.
    let (user, noted, reply) = (
        s.find("I paid my fees twice").unwrap(),
        s.find("note by bola").unwrap(),
        s.find("Let me check").unwrap(),
    );
    assert!(user < noted && noted < reply, "{s}");
    insta::assert_snapshot!(s);
}

/// A wire timestamp `minutes` from the tests' reference time.
fn wire(minutes: i64) -> Option<prost_types::Timestamp> {
    let t = at(minutes);
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

#[test]
fn activity_lines_sit_among_the_messages_in_time_order_80x24() {
    use proto::v1 as pb;
    let mut app = desk_80x24();
    let mut m1 = msg(1, Sender::User, "I paid my fees twice", -20);
    m1.session_id = 1;
    let mut m2 = msg(2, Sender::Agent, "Let me check", -5);
    m2.session_id = 1;
    m2.agent_name = "ada".into();
    // The page as the daemon sends it: the audit trail's activity and a rated survey.
    let audit = |id: i64, minute: i64, agent: &str, action: &str, detail: &str| pb::AuditEntry {
        id,
        at: wire(minute),
        actor: if agent.is_empty() {
            "operator"
        } else {
            "agent"
        }
        .into(),
        agent_name: agent.into(),
        action: action.into(),
        detail: detail.into(),
        ..Default::default()
    };
    let mut page = crate::model::thread_page(pb::Conversation {
        activity: vec![
            audit(7, -15, "ada", "claimed", ""),
            audit(8, -10, "", "priority", "urgent"),
            audit(9, -2, "ada", "transferred", "to bola: refund desk"),
        ],
        csat: vec![pb::CsatAnswer {
            chat_session_id: 1,
            rating: 2,
            comment: "too slow".into(),
            rated_at: wire(-1),
            ..Default::default()
        }],
        ..Default::default()
    });
    page.summary = app.summary("1").cloned();
    page.messages = vec![m1, m2];
    app.update(Msg::Net(NetEvent::Thread {
        address: "1".into(),
        before: 0,
        result: Ok(page),
    }));
    crate::app::tests::key(&mut app, Action::Down);
    crate::app::tests::key(&mut app, Action::Open);
    // A live event adds its line at once.
    let live = crate::model::event(pb::ChatEvent {
        sequence: 40,
        timestamp: wire(0),
        event: Some(pb::chat_event::Event::AssignmentChanged(
            pb::AssignmentChanged {
                conversation: Some(pb::ConversationSummary {
                    phone_number: "1".into(),
                    display_name: "Ada".into(),
                    chat_active: true,
                    assigned_agent: "ada".into(),
                    chat_started_at: wire(-30),
                    last_inbound_at: wire(-20),
                    ..Default::default()
                }),
                agent: "ada".into(),
                previous_agent: "bola".into(),
                action: "takeover".into(),
                by: "ada".into(),
            },
        )),
    });
    let gen = app.watch_gen;
    app.update(Msg::Net(NetEvent::Event { gen, event: live }));
    let s = draw(&app);
    let order = [
        "I paid my fees twice",
        "· ada claimed the chat",
        "· operator set the priority to urgent",
        "Let me check",
        "· ada transferred the chat to bola: refund desk",
        "· the user rated the chat 2/5: “too slow”",
        "· ada took the chat over from bola",
    ];
    let found: Vec<usize> = order
        .iter()
        .map(|n| s.find(n).unwrap_or_else(|| panic!("{n:?} not in\n{s}")))
        .collect();
    assert!(found.windows(2).all(|w| w[0] < w[1]), "out of order:\n{s}");
    insta::assert_snapshot!(s);
    // A reload (R, a reconnect) brings the server's entry for the takeover: one line, not two.
    let mut again = crate::model::thread_page(pb::Conversation {
        activity: vec![
            audit(7, -15, "ada", "claimed", ""),
            audit(10, 0, "ada", "takeover", "from bola"),
        ],
        ..Default::default()
    });
    again.summary = app.summary("1").cloned();
    app.update(Msg::Net(NetEvent::Thread {
        address: "1".into(),
        before: 0,
        result: Ok(again),
    }));
    let s = draw(&app);
    assert_eq!(s.matches("took the chat over from bola").count(), 1, "{s}");
    assert_eq!(s.matches("claimed the chat").count(), 1, "{s}");
}

#[test]
fn assign_dialog_80x24() {
    let mut app = desk_80x24();
    crate::app::tests::key(&mut app, Action::Transfer);
    crate::app::tests::key(&mut app, Action::Down);
    type_text(&mut app, "fees question");
    let s = draw(&app);
    has(&s, "Transfer chat");
    has(&s, "bola (Bola Adeyemi)");
    has(&s, "Note: fees question");
    lacks(&s, crate::strings::NOBODY);
    insta::assert_snapshot!(s);
}

#[test]
fn the_header_says_who_is_at_the_console_when_it_fits() {
    let mut app = crate::app::desk_tests::desk_app();
    app.update(Msg::Net(NetEvent::Availability(Ok(true))));
    let s = draw(&app);
    has(&s, "ada available · 3 waiting · 3 active");
    // At 80 columns the name stays; the product name makes room.
    app.update(Msg::Resize(80, 24));
    let s = draw(&app);
    let header = s.lines().next().unwrap_or_default();
    has(header, "4 Unassigned");
    has(header, "ada available · 3 waiting");
    lacks(header, "chat-support");
}

#[test]
fn at_80_columns_the_list_keeps_the_priority_badge() {
    let mut app = crate::app::desk_tests::desk_app();
    app.update(Msg::Resize(80, 24));
    let mut long = chat("4", "Oluwaseun Adebayo-Williams Okonkwo", Some(-12));
    long.priority = crate::model::Priority::Urgent;
    long.assigned_agent = "bolaji".into();
    long.unread_count = 12;
    event(&mut app, 2, EventBody::ChatStarted(long, 9));
    let s = draw(&app);
    // The name gives way before the badge and the assignee do.
    has(&s, "‼ urgent @bolaji");
    has(&s, "Oluwaseun Adebayo");
}

fn stats_data() -> crate::model::Stats {
    use crate::model::{Durations, Stats};
    let mut hours = vec![0; 24];
    hours[8] = 3;
    hours[9] = 5;
    hours[10] = 2;
    hours[14] = 4;
    Stats {
        timezone: "Africa/Lagos".into(),
        chats_started: 14,
        chats_ended: 12,
        ended_by: [5, 6, 1],
        unanswered: 1,
        waiting_now: 2,
        first_response: Durations {
            count: 13,
            median_ms: 245_000,
            p90_ms: 720_000,
        },
        wait: Durations {
            count: 14,
            median_ms: 250_000,
            p90_ms: 1_800_000,
        },
        handle: Durations {
            count: 12,
            median_ms: 1_260_000,
            p90_ms: 3_720_000,
        },
        csat_count: 9,
        csat_average: 4.111,
        csat_distribution: vec![0, 1, 1, 3, 4],
        busiest_hours: hours,
        top_words: vec![("fees".into(), 5), ("homework".into(), 3)],
    }
}

#[test]
fn stats_80x24_shows_the_figures_and_charts() {
    let mut app = app_sized(80, 24);
    app.update(Msg::Action(Action::Stats));
    let loading = draw(&app);
    has(&loading, "Stats · last 7 days");
    has(&loading, "Loading");
    app.update(Msg::Net(NetEvent::Stats {
        result: Ok(stats_data()),
    }));
    let s = draw(&app);
    has(&s, "started 14 · ended 12 · waiting now 2");
    has(&s, "First response    4m 05s  12m 00s     13");
    has(&s, "Handle time      21m 00s   1h 02m     12");
    has(&s, "4.11 / 5 from 9 rating(s)");
    has(&s, "fees (5), homework (3)");
    has(&s, "Chats started by hour (Africa/Lagos)");
    has(&s, "Ratings");
    insta::assert_snapshot!(s);
    // Esc goes back to the chats.
    app.update(Msg::Action(Action::Back));
    lacks(&draw(&app), "Stats · last 7 days");
}

#[test]
fn the_stats_screen_keeps_the_tabs_and_the_connection_line_and_fills_the_width() {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = app_sized(w, h);
        app.update(Msg::Action(Action::Stats));
        app.update(Msg::Net(NetEvent::Stats {
            result: Ok(stats_data()),
        }));
        let s = draw(&app);
        has(&s, "1 Active   2 All");
        has(&s, "● connected");
        has(&s, "Stats · last 7 days");
        // The hours chart (in the desk's zone, as the daemon counts it) spans the screen:
        // what is left after its last hour is less than one more hour's bar and the borders.
        has(&s, "Chats started by hour (Africa/Lagos)");
        let labels = s
            .lines()
            .find(|l| l.contains("00 ") && l.contains(" 23"))
            .unwrap_or_else(|| panic!("no hour labels:\n{s}"));
        let end = labels.find(" 23").unwrap() + 3;
        let col = super::width(&labels[..end]);
        assert!(col + 24 + 4 >= usize::from(w), "{w}: {labels}");
    }
}

#[test]
fn the_status_bar_hints_the_keys_of_the_focused_pane() {
    let last = |s: &str| s.lines().last().unwrap_or_default().to_string();
    let mut app = demo(160, 48);
    app.notice = None;
    let s = last(&draw(&app));
    has(&s, "● connected");
    has(&s, "j/k move · Enter open · i reply · c claim");
    has(&s, "? help");
    app.update(Msg::Action(Action::Open));
    has(&last(&draw(&app)), "j/k scroll · i reply · o older");
    app.update(Msg::Action(Action::Compose));
    has(&last(&draw(&app)), "Enter send · Ctrl-J newline");
    // At 80 columns as many as fit, and the connection state stays.
    app.update(Msg::Resize(80, 24));
    app.update(Msg::Action(Action::Back));
    let s = last(&draw(&app));
    has(&s, "● connected");
    has(&s, "j/k scroll");
    has(&s, "? help");
}

#[test]
fn stats_error_is_shown() {
    let mut app = app_sized(80, 24);
    app.update(Msg::Action(Action::Stats));
    app.update(Msg::Net(NetEvent::Stats {
        result: Err("the daemon did not answer in time".into()),
    }));
    has(&draw(&app), "the daemon did not answer in time");
}

#[test]
fn the_list_shows_queue_positions_of_unanswered_chats() {
    let s = draw(&demo(80, 24));
    has(&s, "#1 in queue");
    has(&s, "#2 in queue");
    lacks(&s, "#3 in queue");
}

#[test]
fn the_thread_footer_shows_the_latest_survey_answer() {
    let mut app = demo_focus(160, 48, &[Action::Open]);
    let address = app.open.clone().unwrap();
    let summary = app.summary(&address).cloned();
    app.update(Msg::Net(NetEvent::Thread {
        address,
        before: 0,
        result: Ok(crate::model::ThreadPage {
            summary,
            messages: Vec::new(),
            next_before: 0,
            notes: Vec::new(),
            csat: Some(crate::model::csat_line(&proto::v1::CsatAnswer {
                rating: 4,
                comment: "Quick and kind".into(),
                ..Default::default()
            })),
        }),
    }));
    has(&draw(&app), "CSAT 4/5 “Quick and kind”");
    assert_eq!(
        crate::model::csat_line(&proto::v1::CsatAnswer {
            open: true,
            ..Default::default()
        }),
        "CSAT asked"
    );
}

#[test]
fn a_narrow_list_keeps_the_assignee_and_shortens_the_queue_label() {
    let mut app = app_sized(120, 40);
    snapshot(&mut app, 1, Vec::new());
    let mut ada = chat("2348012345678", "Ada", Some(-1));
    ada.unread_count = 2;
    ada.assigned_agent = "ada".into();
    event(&mut app, 2, EventBody::ChatStarted(ada, 1));
    let s = draw(&app);
    has(&s, "NEW  Ada @ada");
    has(&s, "#1 · waiting 1m · 2 unread");
    lacks(&s, "in queue");
    // With room, the whole label.
    app.update(Msg::Resize(200, 40));
    has(&draw(&app), "#1 in queue · waiting 1m · 2 unread");
}

/// The foreground colour where `needle` first appears on screen.
fn colour_of(app: &App, needle: &str) -> Option<ratatui::style::Color> {
    let mut terminal = Terminal::new(TestBackend::new(app.size.0, app.size.1)).unwrap();
    terminal.draw(|f| render(app, f)).unwrap();
    let buf = terminal.backend().buffer();
    for y in 0..buf.area.height {
        let row: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        let line: String = row.concat();
        if let Some(byte) = line.find(needle) {
            // Cells are one symbol each (ASCII before the needle in these rows).
            let x = line[..byte].chars().count();
            return buf[(u16::try_from(x).unwrap(), y)].fg.into();
        }
    }
    None
}

#[test]
fn waiting_alarms_colour_queued_chats_amber_then_red_and_the_header_names_the_oldest() {
    use ratatui::style::Color;
    let mut app = app_sized(160, 48);
    // Three chats nobody has answered yet, started 1, 3 and 6 minutes ago.
    let mut calm = chat("1", "Ada", None);
    calm.chat_started_at = Some(at(-1));
    calm.answered = false;
    let mut amber = chat("2", "Bola", None);
    amber.chat_started_at = Some(at(-3));
    amber.answered = false;
    let mut red = chat("3", "Chidi", None);
    red.chat_started_at = Some(at(-6));
    red.answered = false;
    snapshot(&mut app, 1, vec![calm, amber, red]);
    let s = draw(&app);
    has(&s, "oldest waiting 6m");
    assert_eq!(colour_of(&app, "oldest waiting 6m"), Some(Color::Red));
    // Chidi is first in the queue (the oldest), Ada third.
    assert_eq!(colour_of(&app, "#1 in queue"), Some(Color::Red));
    assert_eq!(colour_of(&app, "#2 in queue"), Some(Color::Yellow));
    assert_eq!(colour_of(&app, "#3 in queue"), Some(Color::Reset));

    // Thresholds from the console's options (--wait-amber / --wait-red).
    app.settings.alarms = crate::app::Alarms {
        amber: chrono::Duration::minutes(1),
        red: chrono::Duration::minutes(10),
    };
    assert_eq!(colour_of(&app, "#1 in queue"), Some(Color::Yellow));
    assert_eq!(colour_of(&app, "#3 in queue"), Some(Color::Yellow));

    // Once every chat has an agent reply nothing is waiting: no alarm in the header.
    let mut answered = Vec::new();
    for (a, n) in [("1", "Ada"), ("2", "Bola"), ("3", "Chidi")] {
        let mut c = chat(a, n, None);
        c.answered = true;
        answered.push(c);
    }
    snapshot(&mut app, 2, answered);
    lacks(&draw(&app), "oldest");
}

#[test]
fn the_assign_picker_shows_each_agents_availability_and_open_chats() {
    let mut app = crate::app::desk_tests::desk_app();
    app.desk.agents[1].available = true;
    // Chidi's chat goes to ada as well: two open chats.
    let mut c = chat("3", "Chidi", Some(-7));
    c.assigned_agent = "ada".into();
    event(&mut app, 2, EventBody::ContactUpdated(c));
    crate::app::tests::key(&mut app, Action::Transfer);
    let s = draw(&app);
    has(&s, "ada (Ada Obi) · 2 open chats");
    has(&s, "bola (Bola Adeyemi) · available · 1 open chat");
}
