//! Tests of what reaches an open console live (issue 14 items 6 and 8): canned responses
//! changed elsewhere, and the notifications for chats that concern this agent.

use super::desk_tests::desk_app;
use super::tests::{event, key, load, type_text};
use super::{Action, App, Cmd, Focus};
use crate::model::{EventBody, Message, Sender, Status};
use crate::strings;

fn offered(app: &App) -> Vec<String> {
    app.picker_matches()
        .iter()
        .map(|c| c.shortcut.clone())
        .collect()
}

fn notice(app: &App) -> Option<&str> {
    app.notice.as_ref().map(|n| n.text.as_str())
}

fn user_msg(id: i64, text: &str) -> Message {
    super::tests::msg(id, Sender::User, text, 0)
}

#[test]
fn canned_responses_saved_or_deleted_elsewhere_reach_the_open_picker() {
    let mut app = desk_app();
    // As the daemon lists them: by shortcut.
    app.desk.canned.sort_by(|a, b| a.shortcut.cmp(&b.shortcut));
    load(&mut app, "3", Vec::new(), 0);
    key(&mut app, Action::TabUnassigned);
    key(&mut app, Action::Compose);
    assert_eq!(app.focus, Focus::Compose);
    type_text(&mut app, "/");
    assert_eq!(offered(&app), ["goodbye", "greet", "hours"]);

    // `admin canned add refund "…"` elsewhere: offered at once, in order.
    event(
        &mut app,
        2,
        EventBody::CannedChanged("refund".into(), Some("Refunds take 3 days.".into())),
    );
    assert_eq!(offered(&app), ["goodbye", "greet", "hours", "refund"]);
    // Changed: one entry, the new body.
    event(
        &mut app,
        3,
        EventBody::CannedChanged("greet".into(), Some("Hello {name}!".into())),
    );
    assert_eq!(offered(&app), ["goodbye", "greet", "hours", "refund"]);
    let greet = app.desk.canned.iter().find(|c| c.shortcut == "greet");
    assert_eq!(greet.map(|c| c.body.as_str()), Some("Hello {name}!"));
    // Deleted: gone.
    event(&mut app, 4, EventBody::CannedChanged("hours".into(), None));
    assert_eq!(offered(&app), ["goodbye", "greet", "refund"]);
}

#[test]
fn a_chat_given_to_me_by_someone_else_is_announced_with_the_bell() {
    let mut app = desk_app();
    let mut c = super::tests::chat("3", "Chidi", Some(-7));
    c.assigned_agent = "ada".into();
    let cmds = event(
        &mut app,
        2,
        EventBody::AssignmentChanged(c.clone(), "ada".into(), "assigned".into(), "bola".into()),
    );
    assert_eq!(notice(&app), Some("Chidi was assigned to you"));
    assert!(cmds.contains(&Cmd::Bell), "{cmds:?}");

    let mut b = super::tests::chat("2", "Bola", Some(-8));
    b.assigned_agent = "ada".into();
    let cmds = event(
        &mut app,
        3,
        EventBody::AssignmentChanged(b, "ada".into(), "transferred".into(), "bola".into()),
    );
    assert_eq!(notice(&app), Some("Bola was transferred to you"));
    assert!(cmds.contains(&Cmd::Bell));
}

#[test]
fn my_own_claim_and_other_agents_chats_do_not_notify() {
    let mut app = desk_app();
    app.notice = None;
    let mut c = super::tests::chat("3", "Chidi", Some(-7));
    c.assigned_agent = "ada".into();
    let cmds = event(
        &mut app,
        2,
        EventBody::AssignmentChanged(c, "ada".into(), "claimed".into(), "ada".into()),
    );
    assert_eq!(notice(&app), None);
    assert!(!cmds.contains(&Cmd::Bell));
    // A message in bola's chat is not ada's business.
    let cmds = event(
        &mut app,
        3,
        EventBody::MessageAdded(
            super::tests::chat("2", "Bola", Some(-8)),
            user_msg(20, "hi"),
        ),
    );
    assert_eq!(notice(&app), None);
    assert!(!cmds.contains(&Cmd::Bell));
}

#[test]
fn a_new_message_in_one_of_my_chats_notifies_unless_i_am_reading_it() {
    let mut app = desk_app();
    app.notice = None;
    let mut a = super::tests::chat("1", "Ada", Some(-9));
    a.assigned_agent = "ada".into();
    let cmds = event(
        &mut app,
        2,
        EventBody::MessageAdded(a.clone(), user_msg(21, "still there?")),
    );
    assert_eq!(
        notice(&app),
        Some(strings::new_message_in_mine("Ada").as_str())
    );
    assert!(cmds.contains(&Cmd::Bell));

    // Reading that thread: no interruption.
    app.notice = None;
    key(&mut app, Action::TabMine);
    load(&mut app, "1", Vec::new(), 0);
    key(&mut app, Action::Compose);
    assert_eq!(app.open.as_deref(), Some("1"));
    assert_eq!(app.focus, Focus::Compose);
    let mut m = user_msg(22, "hello?");
    m.status = Status::Received;
    let cmds = event(&mut app, 3, EventBody::MessageAdded(a, m));
    assert_eq!(notice(&app), None);
    assert!(!cmds.contains(&Cmd::Bell));
}

#[test]
fn without_the_bell_option_notifications_stay_silent() {
    let mut app = desk_app();
    app.settings.bell = false;
    let mut a = super::tests::chat("1", "Ada", Some(-9));
    a.assigned_agent = "ada".into();
    let cmds = event(&mut app, 2, EventBody::MessageAdded(a, user_msg(21, "hi")));
    assert_eq!(notice(&app), Some("New message from Ada"));
    assert!(!cmds.contains(&Cmd::Bell));
}

#[test]
fn a_rating_of_1_or_2_on_a_chat_i_handled_is_announced() {
    let mut app = desk_app();
    app.notice = None;
    let mut s = super::tests::chat("1", "Ada", None);
    s.chat_active = false;
    // A good rating, or a poor one on bola's chat: nothing.
    let cmds = event(
        &mut app,
        2,
        EventBody::CsatRated(s.clone(), 5, "ada".into()),
    );
    assert_eq!(notice(&app), None);
    assert!(!cmds.contains(&Cmd::Bell));
    event(
        &mut app,
        3,
        EventBody::CsatRated(s.clone(), 1, "bola".into()),
    );
    assert_eq!(notice(&app), None);
    // A 2 on ada's chat.
    let cmds = event(&mut app, 4, EventBody::CsatRated(s, 2, "ada".into()));
    assert_eq!(notice(&app), Some("Ada rated your chat 2/5"));
    assert!(cmds.contains(&Cmd::Bell));
}
