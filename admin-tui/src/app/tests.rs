//! State tests: `update` driven with messages, checked on the state and the commands.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};

use super::*;
use crate::model::{
    ChatEvent, EventBody, LastMessage, ListPage, Message, Sender, SentAck, Status, ThreadPage,
};
use crate::strings;

/// 2026-01-01 10:15:00 UTC.
pub(crate) fn t0() -> Time {
    DateTime::from_timestamp(1_767_262_500, 0).unwrap()
}

pub(crate) fn at(minutes: i64) -> Time {
    t0() + chrono::Duration::minutes(minutes)
}

pub(crate) fn settings() -> Settings {
    Settings {
        server: "http://127.0.0.1:50051".into(),
        bell: true,
        nonce: "n".into(),
        utc_offset: FixedOffset::east_opt(0).unwrap(),
        alarms: Alarms::default(),
    }
}

pub(crate) fn app_sized(w: u16, h: u16) -> App {
    let mut app = App::new(settings(), t0(), (w, h));
    let cmds = app.start();
    assert_eq!(
        cmds,
        vec![Cmd::Net(NetCmd::Watch {
            gen: 1,
            after_sequence: 0,
            delay: Duration::ZERO
        })]
    );
    app.update(Msg::Net(NetEvent::Connected { gen: 1 }));
    app
}

pub(crate) fn app() -> App {
    app_sized(160, 48)
}

/// An active chat whose user has waited since `waiting` minutes after t0 (relative).
pub(crate) fn chat(address: &str, name: &str, waiting: Option<i64>) -> Summary {
    let mut s = Summary::new(address, name);
    s.waiting_since = waiting.map(at);
    s.chat_started_at = Some(at(-30));
    s.last_inbound_at = waiting.map(at).or(Some(at(-30)));
    // As the daemon keeps it: a chat waits from its start until an agent's first reply.
    s.answered = waiting.is_none();
    s
}

pub(crate) fn msg(id: i64, sender: Sender, text: &str, minute: i64) -> Message {
    Message {
        id,
        sender,
        text: text.into(),
        at: Some(at(minute)),
        status: if sender == Sender::User {
            Status::Received
        } else {
            Status::Sent
        },
        session_id: 1,
        kind: "text".into(),
        error_code: 0,
        error_message: String::new(),
        agent_name: String::new(),
    }
}

pub(crate) fn event(app: &mut App, sequence: u64, body: EventBody) -> Vec<Cmd> {
    let gen = app.watch_gen;
    app.update(Msg::Net(NetEvent::Event {
        gen,
        event: ChatEvent {
            sequence,
            body,
            activity: None,
        },
    }))
}

pub(crate) fn snapshot(app: &mut App, sequence: u64, chats: Vec<Summary>) -> Vec<Cmd> {
    event(app, sequence, EventBody::Snapshot(chats))
}

pub(crate) fn key(app: &mut App, a: Action) -> Vec<Cmd> {
    app.update(Msg::Action(a))
}

pub(crate) fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(Msg::Insert(c));
    }
}

/// Answers the open thread's load with `messages`.
pub(crate) fn load(app: &mut App, address: &str, messages: Vec<Message>, next_before: i64) {
    let summary = app.summary(address).cloned();
    app.update(Msg::Net(NetEvent::Thread {
        address: address.into(),
        before: 0,
        result: Ok(ThreadPage {
            csat: None,
            summary,
            messages,
            next_before,
            notes: Vec::new(),
        }),
    }));
}

/// Draws one frame, as the event loop does after every change: the panes' scroll state learns
/// what shows (and how far the thread goes) from it.
pub(crate) fn drawn(app: &App) {
    let backend = ratatui::backend::TestBackend::new(app.size.0, app.size.1);
    let mut terminal = ratatui::Terminal::new(backend).unwrap();
    terminal.draw(|f| crate::ui::render(app, f)).unwrap();
}

fn load_cmd(address: &str, before: i64) -> Cmd {
    Cmd::Net(NetCmd::LoadThread {
        address: address.into(),
        before,
    })
}

fn addresses(app: &App) -> Vec<String> {
    app.rows().iter().map(|s| s.address.clone()).collect()
}

fn ended(address: &str, name: &str) -> Summary {
    let mut s = chat(address, name, None);
    s.chat_active = false;
    s
}

fn delivery(app: &mut App, seq: u64, id: i64, status: Status, code: i32, error: &str) {
    event(
        app,
        seq,
        EventBody::Delivery {
            address: "1".into(),
            message_id: id,
            status,
            error_code: code,
            error_message: error.into(),
        },
    );
}

#[test]
fn a_snapshot_fills_the_list_longest_waiting_first_and_opens_the_first() {
    let mut app = app();
    let cmds = snapshot(
        &mut app,
        5,
        vec![
            chat("2", "Bola", Some(-2)),
            chat("1", "Ada", Some(-9)),
            chat("3", "Chidi", None),
        ],
    );
    assert_eq!(app.last_seq, 5);
    assert_eq!(addresses(&app), ["1", "2", "3"]);
    assert_eq!(app.selected.as_deref(), Some("1"));
    assert_eq!(app.open.as_deref(), Some("1"));
    assert_eq!(
        cmds,
        vec![load_cmd("1", 0), load_cmd("2", 0), load_cmd("3", 0)],
        "the open thread first, then a prefetch of the list"
    );
    assert_eq!(app.waiting_count(), 2);
    assert!(app.fresh.is_empty(), "the first snapshot is not news");
}

#[test]
fn a_later_snapshot_replaces_everything_and_marks_new_chats() {
    let mut app = app();
    snapshot(
        &mut app,
        5,
        vec![chat("1", "Ada", Some(-9)), chat("2", "Bola", None)],
    );
    let cmds = snapshot(
        &mut app,
        40,
        vec![chat("2", "Bola", None), chat("3", "Chidi", Some(-1))],
    );
    assert_eq!(app.last_seq, 40);
    assert_eq!(addresses(&app), ["3", "2"]);
    assert!(app.fresh.contains("3"));
    assert!(cmds.contains(&Cmd::Bell));
}

#[test]
fn live_events_apply_in_order() {
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    let cmds = event(
        &mut app,
        2,
        EventBody::ChatStarted(chat("1", "Ada", Some(0)), 1),
    );
    assert!(cmds.contains(&Cmd::Bell));
    assert!(app.fresh.contains("1"));
    assert_eq!(addresses(&app), ["1"]);
    assert!(app.notice.as_ref().unwrap().text.contains("Ada"));

    let mut s = chat("1", "Ada", Some(0));
    s.unread_count = 2;
    event(
        &mut app,
        3,
        EventBody::MessageAdded(s, msg(7, Sender::User, "help", 0)),
    );
    assert_eq!(app.chats["1"].unread_count, 2);

    event(
        &mut app,
        4,
        EventBody::ChatEnded(ended("1", "Ada"), "user".into()),
    );
    assert!(app.rows().is_empty());
    assert!(!app.fresh.contains("1"));
    assert_eq!(app.last_seq, 4);
}

#[test]
fn replayed_and_stale_sequences_are_ignored() {
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    event(
        &mut app,
        2,
        EventBody::ChatStarted(chat("1", "Ada", Some(0)), 1),
    );
    event(
        &mut app,
        3,
        EventBody::ChatEnded(ended("1", "Ada"), "admin".into()),
    );
    // A replay of seq 2 after a reconnect must not bring the chat back.
    let cmds = event(
        &mut app,
        2,
        EventBody::ChatStarted(chat("1", "Ada", Some(0)), 1),
    );
    assert!(cmds.is_empty());
    assert!(app.rows().is_empty());
    assert_eq!(app.last_seq, 3);
    // A gap (the server filled it, or the log was compacted) is applied, not waited for.
    event(
        &mut app,
        9,
        EventBody::ChatStarted(chat("2", "Bola", Some(0)), 1),
    );
    assert_eq!(addresses(&app), ["2"]);
    assert_eq!(app.last_seq, 9);
    event(
        &mut app,
        8,
        EventBody::ChatStarted(chat("3", "Chidi", Some(0)), 1),
    );
    assert_eq!(
        addresses(&app),
        ["2"],
        "older than the last applied: ignored"
    );
}

#[test]
fn items_of_a_replaced_stream_are_ignored() {
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 1,
        failure: Failure::Lost("bye".into()),
    }));
    app.update(Msg::Net(NetEvent::Event {
        gen: 1,
        event: ChatEvent {
            sequence: 2,
            body: EventBody::ChatStarted(chat("1", "Ada", Some(0)), 1),
            activity: None,
        },
    }));
    assert!(app.chats.is_empty());
    assert_eq!(app.last_seq, 1);
}

#[test]
fn a_dropped_stream_reconnects_with_backoff_and_resumes_after_the_last_sequence() {
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    event(
        &mut app,
        7,
        EventBody::ChatStarted(chat("1", "Ada", Some(0)), 1),
    );
    let cmds = app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 1,
        failure: Failure::Lost("the daemon is shutting down".into()),
    }));
    assert_eq!(
        cmds,
        vec![Cmd::Net(NetCmd::Watch {
            gen: 2,
            after_sequence: 7,
            delay: Duration::from_secs(1)
        })]
    );
    assert!(
        matches!(&app.conn, Conn::Down { retry_at: Some(at), .. } if *at == t0() + chrono::Duration::seconds(1))
    );
    let cmds = app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 2,
        failure: Failure::Unreachable("Connection refused".into()),
    }));
    assert_eq!(
        cmds,
        vec![Cmd::Net(NetCmd::Watch {
            gen: 3,
            after_sequence: 7,
            delay: Duration::from_secs(2)
        })]
    );
    app.update(Msg::Net(NetEvent::Connected { gen: 3 }));
    assert_eq!(app.conn, Conn::Connected);
    assert_eq!(app.attempts, 0);
    // The server replays from 8; a repeated 7 would be ignored anyway.
    event(
        &mut app,
        7,
        EventBody::ChatStarted(chat("9", "Dup", Some(0)), 1),
    );
    event(
        &mut app,
        8,
        EventBody::ChatStarted(chat("2", "Bola", Some(1)), 1),
    );
    assert_eq!(addresses(&app), ["1", "2"]);
}

#[test]
fn backoff_grows_to_a_cap_and_token_trouble_waits_longer() {
    let lost = Failure::Lost(String::new());
    let secs: Vec<u64> = (1..=7)
        .map(|n| backoff(&lost, n).unwrap().as_secs())
        .collect();
    assert_eq!(secs, [1, 2, 4, 8, 15, 15, 15]);
    assert_eq!(
        backoff(&Failure::TokenRefused(String::new()), 1),
        Some(Duration::from_secs(10))
    );
}

#[test]
fn a_revoked_stream_is_not_retried_until_asked() {
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    let cmds = app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 1,
        failure: Failure::Revoked("your access was revoked: agent \"bola\" was disabled".into()),
    }));
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Cmd::Net(NetCmd::Watch { .. }))),
        "no reconnect with a revoked token: {cmds:?}"
    );
    assert!(matches!(
        &app.conn,
        Conn::Down {
            failure: Failure::Revoked(_),
            retry_at: None
        }
    ));
    // Time passes: still no attempt.
    let cmds = app.update(Msg::Tick(t0() + chrono::Duration::minutes(5)));
    assert!(!cmds
        .iter()
        .any(|c| matches!(c, Cmd::Net(NetCmd::Watch { .. }))));
    // R (after the lead re-enabled the agent) tries once, at once.
    let cmds = key(&mut app, Action::Refresh);
    assert!(cmds.iter().any(|c| matches!(
        c,
        Cmd::Net(NetCmd::Watch { delay, .. }) if delay.is_zero()
    )));
}

#[test]
fn refresh_reconnects_at_once_when_down() {
    let mut app = app();
    app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 1,
        failure: Failure::Unreachable("refused".into()),
    }));
    let cmds = key(&mut app, Action::Refresh);
    assert!(cmds.contains(&Cmd::Net(NetCmd::Watch {
        gen: 3,
        after_sequence: 0,
        delay: Duration::ZERO
    })));
}

/// Ada's chat open and loaded, compose focused.
fn composing() -> App {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    load(
        &mut app,
        "1",
        vec![msg(5, Sender::User, "I can't upload", -5)],
        0,
    );
    key(&mut app, Action::Compose);
    assert_eq!(app.focus, Focus::Compose);
    app
}

fn send_cmd(cmds: &[Cmd]) -> (u64, String, String) {
    match cmds {
        [Cmd::Net(NetCmd::Send {
            address,
            local_id,
            text,
            key,
            takeover: false,
        })] => {
            assert_eq!(address, "1");
            (*local_id, text.clone(), key.clone())
        }
        other => panic!("expected one Send, got {other:?}"),
    }
}

fn sent(app: &mut App, local_id: u64, result: Result<SentAck, String>) {
    app.update(Msg::Net(NetEvent::Sent {
        address: "1".into(),
        local_id,
        result,
    }));
}

#[test]
fn a_reply_goes_pending_then_confirmed_then_delivered_and_read() {
    let mut app = composing();
    type_text(&mut app, "Let me help");
    key(&mut app, Action::Newline);
    type_text(&mut app, "you");
    let (local_id, text, key_) = send_cmd(&key(&mut app, Action::Send));
    assert_eq!(text, "Let me help\nyou");
    assert!(key_.starts_with("tui-n-"));
    assert!(
        app.open_draft().unwrap().editor.is_blank(),
        "the box is emptied"
    );
    let t = &app.threads["1"];
    assert_eq!(t.outgoing.len(), 1);
    assert_eq!(t.outgoing[0].error, None);

    sent(
        &mut app,
        local_id,
        Ok(SentAck {
            message_id: 6,
            at: Some(at(1)),
            template_used: String::new(),
            chat_started: false,
        }),
    );
    let t = &app.threads["1"];
    assert!(t.outgoing.is_empty());
    assert_eq!(t.messages.last().unwrap().id, 6);
    assert_eq!(t.messages.last().unwrap().status, Status::Pending);

    for (seq, status) in [(2, Status::Sent), (3, Status::Delivered), (4, Status::Read)] {
        delivery(&mut app, seq, 6, status, 0, "");
        assert_eq!(app.threads["1"].messages.last().unwrap().status, status);
    }
}

#[test]
fn the_stream_may_confirm_a_reply_before_the_call_returns() {
    let mut app = composing();
    type_text(&mut app, "hi");
    let (local_id, _, _) = send_cmd(&key(&mut app, Action::Send));
    let mut mine = msg(6, Sender::Agent, "hi", 1);
    mine.status = Status::Pending;
    event(
        &mut app,
        2,
        EventBody::MessageAdded(chat("1", "Ada", None), mine),
    );
    delivery(&mut app, 3, 6, Status::Delivered, 0, "");
    sent(
        &mut app,
        local_id,
        Ok(SentAck {
            message_id: 6,
            at: Some(at(1)),
            template_used: String::new(),
            chat_started: false,
        }),
    );
    let t = &app.threads["1"];
    assert_eq!(t.messages.iter().filter(|m| m.id == 6).count(), 1);
    assert_eq!(t.messages.last().unwrap().status, Status::Delivered);
    assert!(t.outgoing.is_empty());
    assert_eq!(app.waiting_count(), 0, "answered: no longer waiting");
}

#[test]
fn a_refused_send_keeps_the_text_and_a_retry_reuses_the_key() {
    let mut app = composing();
    type_text(&mut app, "hello");
    let (local_id, _, first_key) = send_cmd(&key(&mut app, Action::Send));
    sent(&mut app, local_id, Err("daemon unreachable".into()));
    assert_eq!(app.open_draft().unwrap().editor.text(), "hello");
    let t = &app.threads["1"];
    assert_eq!(t.outgoing[0].error.as_deref(), Some("daemon unreachable"));
    assert!(app.notice.as_ref().unwrap().error);
    let (_, text, retry_key) = send_cmd(&key(&mut app, Action::Send));
    assert_eq!(text, "hello");
    assert_eq!(retry_key, first_key, "the daemon sends a retried key once");
    assert_eq!(
        app.threads["1"].outgoing.len(),
        1,
        "the failed copy is replaced"
    );
    // Edited text is a new message with a new key.
    sent(&mut app, local_id + 1, Err("daemon unreachable".into()));
    key(&mut app, Action::LineEnd);
    type_text(&mut app, "!");
    let (_, text, new_key) = send_cmd(&key(&mut app, Action::Send));
    assert_eq!(text, "hello!");
    assert_ne!(new_key, first_key);
}

#[test]
fn a_refused_send_while_typing_the_next_one_stays_in_the_thread() {
    let mut app = composing();
    type_text(&mut app, "first");
    let (local_id, _, _) = send_cmd(&key(&mut app, Action::Send));
    type_text(&mut app, "second");
    sent(&mut app, local_id, Err("token refused".into()));
    assert_eq!(app.open_draft().unwrap().editor.text(), "second");
    assert_eq!(app.threads["1"].outgoing[0].text, "first");
    assert!(app.threads["1"].outgoing[0].error.is_some());
}

#[test]
fn a_failed_delivery_shows_metas_reason() {
    let mut app = composing();
    let mut mine = msg(6, Sender::Agent, "hi", 1);
    mine.status = Status::Pending;
    event(
        &mut app,
        2,
        EventBody::MessageAdded(chat("1", "Ada", None), mine),
    );
    delivery(
        &mut app,
        3,
        6,
        Status::Failed,
        131_047,
        "Re-engagement message",
    );
    let m = app.threads["1"].messages.last().unwrap();
    assert_eq!(m.status, Status::Failed);
    assert_eq!(
        (m.error_code, m.error_message.as_str()),
        (131_047, "Re-engagement message")
    );
}

#[test]
fn empty_and_oversized_replies_are_not_sent() {
    let mut app = composing();
    type_text(&mut app, "   ");
    assert!(key(&mut app, Action::Send).is_empty());
    assert!(app.notice.as_ref().unwrap().error);
    key(&mut app, Action::KillToStart);
    // 2040 emoji are 4080 UTF-16 units: one over WhatsApp's limit.
    app.update(Msg::Paste("😀".repeat(2040)));
    assert!(key(&mut app, Action::Send).is_empty());
    assert!(app.notice.as_ref().unwrap().text.contains("4079"));
    assert!(
        !app.open_draft().unwrap().editor.is_blank(),
        "kept for editing"
    );
}

#[test]
fn ending_a_chat_asks_with_an_editable_message() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    key(&mut app, Action::EndChat);
    let Some(Dialog::EndChat { editor, .. }) = &app.dialog else {
        panic!("no dialog: {:?}", app.dialog);
    };
    assert_eq!(editor.text(), strings::DEFAULT_CLOSING);
    key(&mut app, Action::KillToStart);
    type_text(&mut app, "Bye now");
    let cmds = key(&mut app, Action::Confirm);
    assert_eq!(
        cmds,
        vec![Cmd::Net(NetCmd::EndChat {
            address: "1".into(),
            message: "Bye now".into(),
            skip_closing_message: false,
        })]
    );
    assert!(
        key(&mut app, Action::Confirm).is_empty(),
        "no double end while busy"
    );
    app.update(Msg::Net(NetEvent::Ended {
        address: "1".into(),
        result: Ok(String::new()),
    }));
    assert!(app.dialog.is_none());
    assert_eq!(
        addresses(&app),
        ["1"],
        "the row leaves with the server's event"
    );
    event(
        &mut app,
        2,
        EventBody::ChatEnded(ended("1", "Ada"), "admin".into()),
    );
    assert!(app.rows().is_empty());
}

#[test]
fn a_refused_end_keeps_the_dialog_and_its_text() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    key(&mut app, Action::EndChat);
    type_text(&mut app, " Bye");
    key(&mut app, Action::Confirm);
    app.update(Msg::Net(NetEvent::Ended {
        address: "1".into(),
        result: Err("no active chat".into()),
    }));
    let Some(Dialog::EndChat {
        editor,
        error,
        busy,
        ..
    }) = &app.dialog
    else {
        panic!("dialog closed");
    };
    assert!(!busy);
    assert_eq!(error.as_deref(), Some("no active chat"));
    assert!(editor.text().ends_with(" Bye"));
    key(&mut app, Action::Cancel);
    assert!(app.dialog.is_none());
}

#[test]
fn ending_an_inactive_conversation_is_refused_at_once() {
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    key(&mut app, Action::TabAll);
    let req = app.all.req;
    app.update(Msg::Net(NetEvent::List {
        req,
        append: false,
        result: Ok(ListPage {
            conversations: vec![ended("4", "Dayo")],
            next_page_token: String::new(),
        }),
    }));
    key(&mut app, Action::EndChat);
    assert!(app.dialog.is_none());
    assert!(app.notice.as_ref().unwrap().text.contains("no active chat"));
}

#[test]
fn quitting_with_unsent_text_asks_first() {
    let mut app = composing();
    assert_eq!(key(&mut app, Action::ForceQuit), vec![Cmd::Quit]);
    assert!(
        app.dialog.is_none(),
        "nothing typed yet: the first ^C quits"
    );
    let mut app = composing();
    type_text(&mut app, "draft");
    assert!(key(&mut app, Action::ForceQuit).is_empty());
    assert_eq!(app.dialog, Some(Dialog::ConfirmQuit { unsent: 1 }));
    key(&mut app, Action::No);
    assert!(app.dialog.is_none());
    assert_eq!(app.open_draft().unwrap().editor.text(), "draft");
    key(&mut app, Action::ForceQuit);
    assert_eq!(key(&mut app, Action::Yes), vec![Cmd::Quit]);
}

#[test]
fn quitting_with_nothing_unsent_is_immediate() {
    let mut app = app();
    assert_eq!(key(&mut app, Action::Quit), vec![Cmd::Quit]);
}

#[test]
fn drafts_belong_to_their_conversation() {
    let mut app = app();
    snapshot(
        &mut app,
        1,
        vec![chat("1", "Ada", Some(-5)), chat("2", "Bola", Some(-1))],
    );
    key(&mut app, Action::Compose);
    type_text(&mut app, "for Ada");
    key(&mut app, Action::Back);
    key(&mut app, Action::Back);
    assert_eq!(app.focus, Focus::List);
    key(&mut app, Action::Down);
    assert_eq!(app.open.as_deref(), Some("2"));
    key(&mut app, Action::Compose);
    assert!(app.open_draft().is_none_or(|d| d.editor.is_blank()));
    key(&mut app, Action::Back);
    key(&mut app, Action::Back);
    key(&mut app, Action::Up);
    assert_eq!(app.open_draft().unwrap().editor.text(), "for Ada");
}

#[test]
fn the_thread_stays_put_while_the_agent_is_in_it_even_if_the_chat_ends() {
    let mut app = app();
    snapshot(
        &mut app,
        1,
        vec![chat("1", "Ada", Some(-5)), chat("2", "Bola", Some(-1))],
    );
    key(&mut app, Action::Open);
    assert_eq!(app.focus, Focus::Thread);
    event(
        &mut app,
        2,
        EventBody::ChatEnded(ended("1", "Ada"), "user".into()),
    );
    assert_eq!(app.open.as_deref(), Some("1"));
    assert_eq!(app.selected.as_deref(), Some("2"), "the list moved on");
    assert!(!app.open_summary().unwrap().chat_active);
    key(&mut app, Action::Back);
    assert_eq!(app.open.as_deref(), Some("2"));
}

#[test]
fn new_chats_are_highlighted_until_opened() {
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    event(
        &mut app,
        2,
        EventBody::ChatStarted(chat("1", "Ada", Some(0)), 1),
    );
    assert!(app.fresh.contains("1"));
    key(&mut app, Action::Open);
    assert!(!app.fresh.contains("1"));
}

#[test]
fn the_filter_narrows_the_active_list_and_esc_clears_it() {
    let mut app = app();
    snapshot(
        &mut app,
        1,
        vec![
            chat("2348011111111", "Ada", Some(-5)),
            chat("2348022222222", "Bola", Some(-1)),
        ],
    );
    key(&mut app, Action::Filter);
    type_text(&mut app, "bo");
    assert_eq!(addresses(&app), ["2348022222222"]);
    assert_eq!(app.open.as_deref(), Some("2348022222222"));
    key(&mut app, Action::Confirm);
    assert!(!app.filter.editing);
    assert_eq!(addresses(&app), ["2348022222222"]);
    key(&mut app, Action::Filter);
    key(&mut app, Action::KillToStart);
    type_text(&mut app, "+234 801");
    assert_eq!(addresses(&app), ["2348011111111"]);
    key(&mut app, Action::Cancel);
    assert_eq!(addresses(&app).len(), 2);
}

#[test]
fn the_all_tab_pages_and_drops_stale_answers() {
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    let cmds = key(&mut app, Action::TabAll);
    let Some(Cmd::Net(NetCmd::List { req: first, .. })) = cmds.first() else {
        panic!("no list request: {cmds:?}");
    };
    let first = *first;
    key(&mut app, Action::Filter);
    let cmds = app.update(Msg::Insert('a'));
    let Some(Cmd::Net(NetCmd::List {
        req: second, query, ..
    })) = cmds.first()
    else {
        panic!("no list request: {cmds:?}");
    };
    assert_eq!(query, "a");
    let second = *second;
    let page = |names: &[&str], token: &str| ListPage {
        conversations: names
            .iter()
            .enumerate()
            .map(|(i, n)| ended(&format!("{n}{i}"), n))
            .collect(),
        next_page_token: token.into(),
    };
    app.update(Msg::Net(NetEvent::List {
        req: first,
        append: false,
        result: Ok(page(&["Stale"], "")),
    }));
    assert!(
        app.rows().is_empty(),
        "an answer to an older query is dropped"
    );
    let cmds = app.update(Msg::Net(NetEvent::List {
        req: second,
        append: false,
        result: Ok(page(&["Ada", "Abu"], "next")),
    }));
    assert_eq!(app.rows().len(), 2);
    // Near the end of the rows with more on the server: the next page is asked for.
    assert!(
        matches!(
            cmds.as_slice(),
            [Cmd::Net(NetCmd::LoadThread { .. }), Cmd::Net(NetCmd::List { append: true, page_token, .. })] if page_token == "next"
        ),
        "{cmds:?}"
    );
}

#[test]
fn scrolling_past_the_oldest_line_loads_the_older_page() {
    let mut app = app_sized(80, 24);
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    key(&mut app, Action::Open);
    let many: Vec<Message> = (10..40)
        .map(|i| msg(i, Sender::User, &format!("message {i}"), -40 + i))
        .collect();
    load(&mut app, "1", many, 10);
    drawn(&app);
    key(&mut app, Action::Up);
    drawn(&app);
    assert_eq!(app.threads["1"].scroll.offset(), 1);
    let cmds = key(&mut app, Action::Top);
    assert_eq!(cmds, vec![load_cmd("1", 10)]);
    assert!(
        key(&mut app, Action::Top).is_empty(),
        "one request at a time"
    );
    drawn(&app);
    let scroll = app.threads["1"].scroll.offset();
    app.update(Msg::Net(NetEvent::Thread {
        address: "1".into(),
        before: 10,
        result: Ok(ThreadPage {
            csat: None,
            summary: None,
            messages: vec![msg(9, Sender::User, "oldest", -40)],
            next_before: 0,
            notes: Vec::new(),
        }),
    }));
    let t = &app.threads["1"];
    assert_eq!(t.messages.first().unwrap().id, 9);
    assert_eq!(t.next_before, 0);
    drawn(&app);
    assert_eq!(t.scroll.offset(), scroll, "the view stays where it was");
    key(&mut app, Action::Bottom);
    assert_eq!(app.threads["1"].scroll.offset(), 0);
}

#[test]
fn pasting_while_reading_starts_a_reply() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    key(&mut app, Action::Open);
    app.update(Msg::Paste("line one\r\nline two".into()));
    assert_eq!(app.focus, Focus::Compose);
    assert_eq!(
        app.open_draft().unwrap().editor.text(),
        "line one\nline two"
    );
}

#[test]
fn tab_cycles_panes_and_esc_backs_out() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    key(&mut app, Action::NextPane);
    assert_eq!(app.focus, Focus::Thread);
    key(&mut app, Action::NextPane);
    assert_eq!(app.focus, Focus::Compose);
    key(&mut app, Action::NextPane);
    assert_eq!(app.focus, Focus::List);
    key(&mut app, Action::PrevPane);
    assert_eq!(app.focus, Focus::Compose);
    key(&mut app, Action::Back);
    assert_eq!(app.focus, Focus::Thread);
    key(&mut app, Action::Back);
    assert_eq!(app.focus, Focus::List);
}

#[test]
fn mouse_clicks_select_rows_and_wheel_moves() {
    let mut app = app();
    snapshot(
        &mut app,
        1,
        vec![chat("1", "Ada", Some(-5)), chat("2", "Bola", Some(-1))],
    );
    app.update(Msg::Click(Pane::List, 2));
    assert_eq!(app.selected.as_deref(), Some("2"));
    app.update(Msg::Scroll(Pane::List, -1));
    assert_eq!(app.selected.as_deref(), Some("1"));
    app.update(Msg::Click(Pane::Compose, 0));
    assert_eq!(app.focus, Focus::Compose);
}

#[test]
fn chat_activity_follows_the_start_and_end_events_not_their_stale_summaries() {
    // The daemon builds an event's summary before it stores the new state: chat_started says
    // inactive, chat_ended and the closing message after it still say active.
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    let mut started = chat("1", "Ada", Some(0));
    started.chat_active = false;
    started.state = "IDLE".into();
    event(&mut app, 2, EventBody::ChatStarted(started, 4));
    assert_eq!(addresses(&app), ["1"]);
    assert_eq!(app.chats["1"].chat_session_id, 4);
    event(
        &mut app,
        3,
        EventBody::MessageAdded(ended("1", "Ada"), msg(5, Sender::User, "hi", 0)),
    );
    assert_eq!(addresses(&app), ["1"], "a message does not end the chat");
    let stale_end = chat("1", "Ada", None);
    event(&mut app, 4, EventBody::ChatEnded(stale_end, "admin".into()));
    assert!(app.rows().is_empty());
    let closing = chat("1", "Ada", None);
    event(
        &mut app,
        5,
        EventBody::MessageAdded(closing.clone(), msg(6, Sender::Agent, "Bye", 1)),
    );
    event(&mut app, 6, EventBody::ContactUpdated(closing));
    assert!(
        app.rows().is_empty(),
        "the closing message does not bring the chat back"
    );
}

#[test]
fn a_reader_scrolled_up_keeps_their_place_when_messages_arrive() {
    let mut app = app_sized(80, 24);
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-50))]);
    key(&mut app, Action::Open);
    let many: Vec<Message> = (10..40)
        .map(|i| msg(i, Sender::User, &format!("message {i}"), -40 + i))
        .collect();
    load(&mut app, "1", many, 0);
    drawn(&app);
    key(&mut app, Action::Up);
    key(&mut app, Action::Up);
    drawn(&app);
    event(
        &mut app,
        2,
        EventBody::MessageAdded(chat("1", "Ada", Some(-50)), msg(40, Sender::User, "new", 0)),
    );
    drawn(&app);
    assert_eq!(app.threads["1"].scroll.offset(), 3);
    key(&mut app, Action::Bottom);
    event(
        &mut app,
        3,
        EventBody::MessageAdded(
            chat("1", "Ada", Some(-50)),
            msg(41, Sender::User, "newer", 0),
        ),
    );
    drawn(&app);
    assert_eq!(
        app.threads["1"].scroll.offset(),
        0,
        "at the bottom: follow new messages"
    );
}

#[test]
fn the_list_previews_the_users_last_words_rather_than_the_bots_acknowledgement() {
    let mut app = app();
    snapshot(&mut app, 1, vec![]);
    event(
        &mut app,
        2,
        EventBody::ChatStarted(chat("1", "Ada", Some(0)), 1),
    );
    let mut s = chat("1", "Ada", Some(0));
    event(
        &mut app,
        3,
        EventBody::MessageAdded(s.clone(), msg(5, Sender::User, "my upload fails", 0)),
    );
    let ack = "✓ Your message has been sent to support...";
    s.last_message = Some(LastMessage {
        text: ack.into(),
        sender: Sender::Bot,
        at: Some(at(0)),
    });
    event(
        &mut app,
        4,
        EventBody::MessageAdded(s.clone(), msg(6, Sender::Bot, ack, 0)),
    );
    let row = app.rows()[0].clone();
    assert_eq!(app.preview(&row), Some((Sender::User, "my upload fails")));
    s.last_message = Some(LastMessage {
        text: "On it".into(),
        sender: Sender::Agent,
        at: Some(at(1)),
    });
    event(
        &mut app,
        5,
        EventBody::MessageAdded(s, msg(7, Sender::Agent, "On it", 1)),
    );
    let row = app.rows()[0].clone();
    assert_eq!(app.preview(&row), Some((Sender::Agent, "On it")));
}

#[test]
fn a_chat_can_be_ended_without_writing_to_the_user() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    key(&mut app, Action::EndChat);
    key(&mut app, Action::Toggle);
    let cmds = key(&mut app, Action::Confirm);
    assert_eq!(
        cmds,
        vec![Cmd::Net(NetCmd::EndChat {
            address: "1".into(),
            message: String::new(),
            skip_closing_message: true,
        })]
    );
}

#[test]
fn a_message_that_opened_a_chat_says_so() {
    let mut app = composing();
    type_text(&mut app, "One more thing about your fees");
    let (local_id, _, _) = send_cmd(&key(&mut app, Action::Send));
    sent(
        &mut app,
        local_id,
        Ok(SentAck {
            message_id: 6,
            at: Some(at(1)),
            template_used: String::new(),
            chat_started: true,
        }),
    );
    let notice = app.notice.as_ref().unwrap();
    assert!(
        notice.text.starts_with("Opened a chat with "),
        "{}",
        notice.text
    );
    assert!(notice.text.contains("answer comes"), "{}", notice.text);
}

#[test]
fn a_template_sent_instead_is_announced() {
    let mut app = composing();
    type_text(&mut app, "hello again");
    let (local_id, _, _) = send_cmd(&key(&mut app, Action::Send));
    sent(
        &mut app,
        local_id,
        Ok(SentAck {
            message_id: 6,
            at: Some(at(1)),
            template_used: "reengage_v1".into(),
            chat_started: false,
        }),
    );
    let notice = app.notice.as_ref().unwrap();
    assert!(notice.text.contains("reengage_v1"), "{}", notice.text);
    key(&mut app, Action::Back);
    key(&mut app, Action::EndChat);
    key(&mut app, Action::Confirm);
    app.update(Msg::Net(NetEvent::Ended {
        address: "1".into(),
        result: Ok("reengage_v1".into()),
    }));
    assert!(app
        .notice
        .as_ref()
        .unwrap()
        .text
        .contains("instead of the closing message"));
}

#[test]
fn opening_a_chat_with_unread_messages_marks_them_read_once_per_message() {
    let mut app = app();
    let mut ada = chat("1", "Ada", Some(-5));
    ada.unread_count = 2;
    ada.message_count = 4;
    snapshot(&mut app, 1, vec![ada.clone()]);
    let cmds = key(&mut app, Action::Open);
    assert!(
        cmds.contains(&Cmd::Net(NetCmd::MarkRead {
            address: "1".into()
        })),
        "{cmds:?}"
    );
    // Still unread until the daemon says otherwise: not asked again for the same messages.
    let cmds = key(&mut app, Action::Down);
    assert!(!cmds
        .iter()
        .any(|c| matches!(c, Cmd::Net(NetCmd::MarkRead { .. }))));
    // A new message while the agent looks at the thread: asked again.
    ada.unread_count = 3;
    ada.message_count = 5;
    let cmds = event(
        &mut app,
        2,
        EventBody::MessageAdded(ada, msg(9, Sender::User, "hello?", 0)),
    );
    assert!(cmds.contains(&Cmd::Net(NetCmd::MarkRead {
        address: "1".into()
    })));
    // Browsing the list does not mark anything read.
    let mut app = super::tests::app();
    let mut bola = chat("2", "Bola", Some(-5));
    bola.unread_count = 1;
    let cmds = snapshot(&mut app, 1, vec![bola]);
    assert!(!cmds
        .iter()
        .any(|c| matches!(c, Cmd::Net(NetCmd::MarkRead { .. }))));
}

#[test]
fn the_end_dialog_closes_when_the_chat_ends_first() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    key(&mut app, Action::EndChat);
    type_text(&mut app, " (typing)");
    event(
        &mut app,
        2,
        EventBody::ChatEnded(ended("1", "Ada"), "user".into()),
    );
    assert!(app.dialog.is_none());
    assert!(app
        .notice
        .as_ref()
        .unwrap()
        .text
        .contains("ended by the user"));
}

#[test]
fn queue_positions_follow_chat_starts_and_leave_with_the_first_reply() {
    let mut app = app_sized(80, 24);
    let mut a = chat("2348000000001", "A", Some(-20));
    a.chat_started_at = Some(at(-20));
    let mut b = chat("2348000000002", "B", Some(-10));
    b.chat_started_at = Some(at(-10));
    let mut c = chat("2348000000003", "C", None);
    c.chat_started_at = Some(at(-30));
    c.answered = true;
    snapshot(&mut app, 1, vec![a.clone(), b.clone(), c.clone()]);
    assert_eq!(app.queue_position(&a), Some(1));
    assert_eq!(app.queue_position(&b), Some(2));
    assert_eq!(app.queue_position(&c), None);
    a.answered = true;
    snapshot(&mut app, 2, vec![a.clone(), b.clone(), c]);
    assert_eq!(app.queue_position(&b), Some(1));
}

#[test]
fn the_stats_screen_asks_for_the_figures_and_refreshes() {
    let mut app = app_sized(80, 24);
    let cmds = app.update(Msg::Action(Action::Stats));
    assert!(
        cmds.contains(&Cmd::Net(NetCmd::Stats { days: 7 })),
        "{cmds:?}"
    );
    assert!(app.stats.as_ref().unwrap().loading);
    app.update(Msg::Net(NetEvent::Stats {
        result: Ok(crate::model::Stats::default()),
    }));
    let screen = app.stats.as_ref().unwrap();
    assert!(!screen.loading && screen.data.is_some());
    let cmds = app.update(Msg::Action(Action::Refresh));
    assert!(cmds.contains(&Cmd::Net(NetCmd::Stats { days: 7 })));
    app.update(Msg::Action(Action::Stats));
    assert!(app.stats.is_none());
    // A late reply after closing changes nothing.
    app.update(Msg::Net(NetEvent::Stats {
        result: Ok(crate::model::Stats::default()),
    }));
    assert!(app.stats.is_none());
}

#[test]
fn the_state_never_calls_the_renderer_and_layout_knows_no_state() {
    // One direction only: app → layout (a Rect and a Shape), ui → app. The state reads the
    // geometry a frame measured (crate::scroll), never the renderer's lines.
    let state = [
        ("mod.rs", include_str!("mod.rs")),
        ("actions.rs", include_str!("actions.rs")),
        ("desk.rs", include_str!("desk.rs")),
        ("dialogs.rs", include_str!("dialogs.rs")),
        ("msg.rs", include_str!("msg.rs")),
        ("overlays.rs", include_str!("overlays.rs")),
        ("replies.rs", include_str!("replies.rs")),
        ("stats.rs", include_str!("stats.rs")),
        ("stream.rs", include_str!("stream.rs")),
        ("thread.rs", include_str!("thread.rs")),
    ];
    for (file, text) in state {
        for banned in [
            "crate::ui",
            "crate::input",
            "layout::list_capacity",
            "layout::thread",
        ] {
            assert!(!text.contains(banned), "app/{file} uses {banned}");
        }
    }
    let layout = include_str!("../layout.rs");
    for banned in ["crate::app", "App"] {
        assert!(!layout.contains(banned), "layout.rs uses {banned}");
    }
    let scroll = include_str!("../scroll.rs");
    assert!(!scroll.contains("use crate::"), "scroll.rs is a leaf");
}

#[test]
fn not_sent_daemon_unreachable_clears_once_reconnected() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    key(&mut app, Action::Compose);
    type_text(&mut app, "hello");
    key(&mut app, Action::Send);
    let local_id = app.threads["1"].outgoing[0].local_id;
    app.update(Msg::Net(NetEvent::StreamEnded {
        gen: 1,
        failure: Failure::Unreachable("connection refused".into()),
    }));
    app.update(Msg::Net(NetEvent::Sent {
        address: "1".into(),
        local_id,
        result: Err("daemon unreachable: connection refused".into()),
    }));
    let shown = app.notice.clone().unwrap();
    assert!(
        shown.text.starts_with("Not sent: daemon unreachable"),
        "{shown:?}"
    );
    // A second later the stream is back: the notice is no longer true.
    app.update(Msg::Tick(t0() + chrono::Duration::seconds(1)));
    let gen = app.watch_gen;
    app.update(Msg::Net(NetEvent::Connected { gen }));
    assert_eq!(app.notice, None);
    // A refusal by a reachable daemon stays its few seconds.
    key(&mut app, Action::Send);
    let local_id = app.threads["1"].outgoing.last().unwrap().local_id;
    app.update(Msg::Net(NetEvent::Sent {
        address: "1".into(),
        local_id,
        result: Err("the chat is held by bola".into()),
    }));
    app.update(Msg::Net(NetEvent::Connected { gen }));
    assert!(app.notice.is_some());
}
