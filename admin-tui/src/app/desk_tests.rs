//! Tests of the shared desk in the console (issue 8): the mine / unassigned tabs, priority
//! order, claiming, assigning and transferring, notes, takeover, the canned-response picker.

use super::tests::{app, chat, event, key, load, snapshot, type_text};
use super::{Action, App, Cmd, Dialog, Focus, Msg, NetCmd, NetEvent, Tab};
use crate::model::{Agent, Canned, Desk, EventBody, Note, Priority};

pub(crate) fn agent(name: &str, display: &str) -> Agent {
    Agent {
        name: name.into(),
        display_name: display.into(),
        available: false,
    }
}

/// The desk as ada sees it: ada and bola, two canned responses.
pub(crate) fn ada_desk() -> Desk {
    Desk {
        me: Some(agent("ada", "Ada Obi")),
        agents: vec![agent("ada", "Ada Obi"), agent("bola", "Bola Adeyemi")],
        canned: vec![
            Canned {
                shortcut: "greet".into(),
                body: "Hi {name}, this is {agent}.".into(),
            },
            Canned {
                shortcut: "goodbye".into(),
                body: "Bye {name}!".into(),
            },
            Canned {
                shortcut: "hours".into(),
                body: "We are open 8 to 4.".into(),
            },
        ],
    }
}

/// Three active chats: Ada (ada's, urgent), Bola (bola's), Chidi (nobody's), oldest first.
pub(crate) fn desk_app() -> App {
    let mut app = app();
    app.set_desk(ada_desk());
    let mut a = chat("1", "Ada", Some(-9));
    a.assigned_agent = "ada".into();
    let mut b = chat("2", "Bola", Some(-8));
    b.assigned_agent = "bola".into();
    b.priority = Priority::High;
    let c = chat("3", "Chidi", Some(-7));
    snapshot(&mut app, 1, vec![a, b, c]);
    app
}

fn names(app: &App) -> Vec<String> {
    app.rows().iter().map(|s| s.display_name.clone()).collect()
}

#[test]
fn tabs_show_mine_and_unassigned_and_priority_sorts_first() {
    let mut app = desk_app();
    // High priority first, then the longest waiting.
    assert_eq!(names(&app), ["Bola", "Ada", "Chidi"]);
    key(&mut app, Action::TabMine);
    assert_eq!(app.tab, Tab::Mine);
    assert_eq!(names(&app), ["Ada"]);
    key(&mut app, Action::TabUnassigned);
    assert_eq!(names(&app), ["Chidi"]);
    // Claiming it moves it to "mine" when the stream says so.
    let mut c = chat("3", "Chidi", Some(-7));
    c.assigned_agent = "ada".into();
    event(&mut app, 2, EventBody::ContactUpdated(c));
    assert!(names(&app).is_empty());
    key(&mut app, Action::TabMine);
    assert_eq!(names(&app), ["Ada", "Chidi"]);
}

#[test]
fn the_operator_has_no_mine_tab_to_fill_and_cannot_claim() {
    let mut app = desk_app();
    app.set_desk(Desk {
        me: None,
        ..ada_desk()
    });
    key(&mut app, Action::TabMine);
    assert!(names(&app).is_empty());
    key(&mut app, Action::TabUnassigned);
    assert!(key(&mut app, Action::Claim).is_empty());
    assert!(app.notice.as_ref().unwrap().error);
}

#[test]
fn claim_priority_and_the_agent_picker_send_the_right_calls() {
    let mut app = desk_app();
    key(&mut app, Action::TabUnassigned);
    assert_eq!(
        key(&mut app, Action::Claim),
        [Cmd::Net(NetCmd::Claim {
            address: "3".into()
        })]
    );
    assert_eq!(
        key(&mut app, Action::CyclePriority),
        [Cmd::Net(NetCmd::SetPriority {
            address: "3".into(),
            priority: Priority::High
        })]
    );
    // Assign: pick bola, with a note.
    key(&mut app, Action::Assign);
    assert!(matches!(
        app.dialog,
        Some(Dialog::Assign {
            transfer: false,
            ..
        })
    ));
    key(&mut app, Action::Down);
    type_text(&mut app, "knows fees");
    assert_eq!(
        key(&mut app, Action::Confirm),
        [Cmd::Net(NetCmd::Assign {
            address: "3".into(),
            agent: "bola".into(),
            note: "knows fees".into()
        })]
    );
    // The answer closes the dialog and updates the list.
    let mut c = chat("3", "Chidi", Some(-7));
    c.assigned_agent = "bola".into();
    app.update(Msg::Net(NetEvent::DeskDone {
        address: "3".into(),
        done: "assigned".into(),
        result: Ok(Some(c)),
    }));
    assert!(app.dialog.is_none());
    assert_eq!(app.chats["3"].assigned_agent, "bola");
    // "nobody" is the row after the agents: unassigns.
    key(&mut app, Action::TabActive);
    key(&mut app, Action::Assign);
    for _ in 0..5 {
        key(&mut app, Action::Down);
    }
    let cmds = key(&mut app, Action::Confirm);
    assert!(
        matches!(&cmds[..], [Cmd::Net(NetCmd::Assign { agent, .. })] if agent.is_empty()),
        "{cmds:?}"
    );
}

#[test]
fn a_transfer_needs_a_note_and_a_refusal_stays_in_the_dialog() {
    let mut app = desk_app();
    key(&mut app, Action::Transfer);
    assert!(key(&mut app, Action::Confirm).is_empty());
    let Some(Dialog::Assign { error, .. }) = &app.dialog else {
        panic!("the dialog stays");
    };
    assert!(error.is_some());
    key(&mut app, Action::Down);
    type_text(&mut app, "over to you");
    let cmds = key(&mut app, Action::Confirm);
    let [Cmd::Net(NetCmd::Transfer {
        address,
        agent,
        note,
    })] = &cmds[..]
    else {
        panic!("{cmds:?}")
    };
    assert_eq!((agent.as_str(), note.as_str()), ("bola", "over to you"));
    app.update(Msg::Net(NetEvent::DeskDone {
        address: address.clone(),
        done: String::new(),
        result: Err("this chat is assigned to bola".into()),
    }));
    let Some(Dialog::Assign { error, busy, .. }) = &app.dialog else {
        panic!("a refusal keeps the dialog");
    };
    assert!(!busy);
    assert_eq!(error.as_deref(), Some("this chat is assigned to bola"));
}

#[test]
fn notes_are_written_in_a_dialog_and_arrive_live_in_the_thread() {
    let mut app = desk_app();
    load(&mut app, "2", Vec::new(), 0);
    key(&mut app, Action::AddNote);
    type_text(&mut app, "paid twice");
    let cmds = key(&mut app, Action::Confirm);
    assert_eq!(
        cmds,
        [Cmd::Net(NetCmd::AddNote {
            address: "2".into(),
            text: "paid twice".into()
        })]
    );
    let note = Note {
        id: 4,
        text: "paid twice".into(),
        agent_name: "ada".into(),
        at: None,
        activity: false,
    };
    event(
        &mut app,
        5,
        EventBody::NoteAdded(chat("2", "Bola", Some(-8)), note.clone()),
    );
    event(
        &mut app,
        6,
        EventBody::NoteAdded(chat("2", "Bola", Some(-8)), note),
    );
    assert_eq!(
        app.threads["2"].notes.len(),
        1,
        "once, however often it arrives"
    );
}

#[test]
fn ctrl_t_sends_with_a_takeover() {
    let mut app = desk_app();
    load(&mut app, "2", Vec::new(), 0);
    key(&mut app, Action::Compose);
    type_text(&mut app, "I'll take this");
    let cmds = key(&mut app, Action::SendTakeover);
    assert!(
        matches!(&cmds[..], [Cmd::Net(NetCmd::Send { takeover: true, text, .. })] if text == "I'll take this"),
        "{cmds:?}"
    );
}

#[test]
fn typing_slash_offers_canned_responses_and_enter_expands_one() {
    let mut app = desk_app();
    load(&mut app, "3", Vec::new(), 0);
    key(&mut app, Action::TabUnassigned);
    key(&mut app, Action::Compose);
    assert_eq!(app.focus, Focus::Compose);
    type_text(&mut app, "/");
    assert_eq!(app.picker_matches().len(), 3);
    type_text(&mut app, "g");
    let offered: Vec<&str> = app
        .picker_matches()
        .iter()
        .map(|c| c.shortcut.as_str())
        .collect();
    assert_eq!(offered, ["greet", "goodbye"]);
    key(&mut app, Action::Down);
    // Enter inserts (does not send) the expanded text.
    assert!(key(&mut app, Action::Send).is_empty());
    assert_eq!(app.open_draft().unwrap().editor.text(), "Bye Chidi!");
    assert!(app.picker_matches().is_empty());
    // Text that is not a shortcut sends as typed.
    let draft = app.drafts.get_mut("3").unwrap();
    draft.editor = crate::editor::Editor::with_text("/nothing here");
    let cmds = key(&mut app, Action::Send);
    assert!(
        matches!(&cmds[..], [Cmd::Net(NetCmd::Send { .. })]),
        "{cmds:?}"
    );
    // The first match expands with the agent's first name.
    type_text(&mut app, "/gr");
    key(&mut app, Action::Confirm);
    assert_eq!(
        app.open_draft().unwrap().editor.text(),
        "Hi Chidi, this is Ada."
    );
}

#[test]
fn v_toggles_availability_for_round_robin() {
    let mut app = desk_app();
    assert_eq!(
        key(&mut app, Action::ToggleAvailable),
        [Cmd::Net(NetCmd::SetAvailability { available: true })]
    );
    app.update(Msg::Net(NetEvent::Availability(Ok(true))));
    assert!(app.desk.me.as_ref().unwrap().available);
    assert_eq!(
        key(&mut app, Action::ToggleAvailable),
        [Cmd::Net(NetCmd::SetAvailability { available: false })]
    );
}

#[test]
fn going_available_does_not_promise_round_robin_chats_the_desk_may_not_give() {
    // Round-robin is off unless the operator turns it on, and the console cannot tell which:
    // the notice must be true either way.
    let mut app = desk_app();
    key(&mut app, Action::ToggleAvailable);
    app.update(Msg::Net(NetEvent::Availability(Ok(true))));
    let on = app.notice.clone().unwrap().text;
    assert!(!on.contains("round-robin gives you new chats"), "{on}");
    assert!(on.contains("You are available"), "{on}");
    assert!(on.contains("only when the desk has round-robin on"), "{on}");
    app.update(Msg::Net(NetEvent::Availability(Ok(false))));
    let off = app.notice.clone().unwrap().text;
    assert!(off.contains("You are away"), "{off}");
    assert!(!off.contains("round-robin gives you no new chats"), "{off}");
}
