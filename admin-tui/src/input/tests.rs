//! Key mapping tests: the same key means different things in different places.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::*;
use crate::app::tests::{app, chat, snapshot};
use crate::app::{Action, Msg};

fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, mods)
}

fn plain(c: char) -> KeyEvent {
    press(KeyCode::Char(c), KeyModifiers::NONE)
}

fn act(a: Action) -> Option<Msg> {
    Some(Msg::Action(a))
}

#[test]
fn browsing_keys() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    assert_eq!(map_key(&app, plain('j')), act(Action::Down));
    assert_eq!(
        map_key(&app, press(KeyCode::Down, KeyModifiers::NONE)),
        act(Action::Down)
    );
    assert_eq!(map_key(&app, plain('k')), act(Action::Up));
    assert_eq!(
        map_key(&app, press(KeyCode::Enter, KeyModifiers::NONE)),
        act(Action::Open)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Esc, KeyModifiers::NONE)),
        act(Action::Back)
    );
    assert_eq!(map_key(&app, plain('/')), act(Action::Filter));
    assert_eq!(map_key(&app, plain('e')), act(Action::EndChat));
    assert_eq!(map_key(&app, plain('i')), act(Action::Compose));
    assert_eq!(map_key(&app, plain('r')), act(Action::Compose));
    assert_eq!(map_key(&app, plain('?')), act(Action::Help));
    assert_eq!(map_key(&app, plain('q')), act(Action::Quit));
    assert_eq!(
        map_key(&app, press(KeyCode::Tab, KeyModifiers::NONE)),
        act(Action::NextPane)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::BackTab, KeyModifiers::SHIFT)),
        act(Action::PrevPane)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        act(Action::ForceQuit)
    );
    // A shifted letter is its capital, however the terminal reports it.
    assert_eq!(
        map_key(&app, press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
        act(Action::Bottom)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Char('g'), KeyModifiers::SHIFT)),
        act(Action::Bottom)
    );
    assert_eq!(map_key(&app, plain('g')), act(Action::Top));
    assert_eq!(
        map_key(&app, plain('x')),
        None,
        "no stray typing outside text fields"
    );
}

#[test]
fn composing_keys_type_text_and_enter_sends() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    app.update(Msg::Action(Action::Compose));
    assert_eq!(map_key(&app, plain('q')), Some(Msg::Insert('q')));
    assert_eq!(map_key(&app, plain('?')), Some(Msg::Insert('?')));
    assert_eq!(map_key(&app, plain('j')), Some(Msg::Insert('j')));
    assert_eq!(
        map_key(&app, press(KeyCode::Char('A'), KeyModifiers::SHIFT)),
        Some(Msg::Insert('A'))
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Enter, KeyModifiers::NONE)),
        act(Action::Send)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Char('s'), KeyModifiers::CONTROL)),
        act(Action::Send)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Char('j'), KeyModifiers::CONTROL)),
        act(Action::Newline)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Enter, KeyModifiers::ALT)),
        act(Action::Newline)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Enter, KeyModifiers::SHIFT)),
        act(Action::Newline)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Esc, KeyModifiers::NONE)),
        act(Action::Back)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Up, KeyModifiers::NONE)),
        act(Action::Up)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Char('u'), KeyModifiers::CONTROL)),
        act(Action::KillToStart)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Char('w'), KeyModifiers::CONTROL)),
        act(Action::DeleteWord)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Backspace, KeyModifiers::NONE)),
        act(Action::DeleteBack)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Tab, KeyModifiers::NONE)),
        act(Action::NextPane)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::F(1), KeyModifiers::NONE)),
        act(Action::Help)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        act(Action::ForceQuit)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Char('x'), KeyModifiers::ALT)),
        None
    );
}

#[test]
fn key_releases_are_ignored() {
    let app = app();
    let mut k = plain('j');
    k.kind = KeyEventKind::Release;
    assert_eq!(map_key(&app, k), None);
}

#[test]
fn dialogs_and_help_take_their_own_keys() {
    let mut app = app();
    snapshot(&mut app, 1, vec![chat("1", "Ada", Some(-5))]);
    app.update(Msg::Action(Action::EndChat));
    assert_eq!(map_key(&app, plain('y')), Some(Msg::Insert('y')));
    assert_eq!(
        map_key(&app, press(KeyCode::Enter, KeyModifiers::NONE)),
        act(Action::Confirm)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Esc, KeyModifiers::NONE)),
        act(Action::Cancel)
    );
    app.update(Msg::Action(Action::Cancel));
    app.update(Msg::Action(Action::Help));
    assert_eq!(map_key(&app, plain('j')), act(Action::Down));
    assert_eq!(
        map_key(&app, plain('q')),
        act(Action::Help),
        "q closes the help"
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Esc, KeyModifiers::NONE)),
        act(Action::Help)
    );
    assert_eq!(map_key(&app, plain('e')), None);
}

#[test]
fn the_filter_types_and_enter_keeps_it() {
    let mut app = app();
    app.update(Msg::Action(Action::Filter));
    assert_eq!(map_key(&app, plain('j')), Some(Msg::Insert('j')));
    assert_eq!(
        map_key(&app, press(KeyCode::Enter, KeyModifiers::NONE)),
        act(Action::Confirm)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Esc, KeyModifiers::NONE)),
        act(Action::Cancel)
    );
    assert_eq!(
        map_key(&app, press(KeyCode::Down, KeyModifiers::NONE)),
        act(Action::Down)
    );
}

#[test]
fn every_action_is_reachable_and_the_help_lists_it() {
    use std::collections::HashSet;
    let bound: HashSet<String> = BINDINGS
        .iter()
        .filter_map(|b| b.action)
        .map(|a| format!("{a:?}"))
        .collect();
    for a in [
        Action::Quit,
        Action::ForceQuit,
        Action::Help,
        Action::Redraw,
        Action::NextPane,
        Action::PrevPane,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Open,
        Action::Back,
        Action::Filter,
        Action::Compose,
        Action::EndChat,
        Action::TabActive,
        Action::TabAll,
        Action::Refresh,
        Action::Older,
        Action::Send,
        Action::Newline,
        Action::Left,
        Action::Right,
        Action::LineStart,
        Action::LineEnd,
        Action::WordLeft,
        Action::WordRight,
        Action::DeleteBack,
        Action::DeleteForward,
        Action::DeleteWord,
        Action::KillToStart,
        Action::KillToEnd,
        Action::Confirm,
        Action::Cancel,
        Action::Yes,
        Action::No,
    ] {
        assert!(bound.contains(&format!("{a:?}")), "{a:?} has no key");
    }
    // Each section of the help has at least one visible row.
    for (ctx, title) in HELP_SECTIONS {
        assert!(
            BINDINGS
                .iter()
                .any(|b| b.ctx == *ctx && !b.label.is_empty()),
            "{title} is empty"
        );
    }
}

#[test]
fn mouse_wheel_and_clicks_land_on_the_pane_under_the_pointer() {
    let mut app = app();
    snapshot(
        &mut app,
        1,
        vec![chat("1", "Ada", Some(-5)), chat("2", "Bola", Some(-1))],
    );
    let mouse = |kind, column, row| MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    // 160 columns: the list is 64 wide from the left, the thread right of it.
    assert_eq!(
        map_mouse(&app, mouse(MouseEventKind::ScrollDown, 10, 5)),
        Some(Msg::Scroll(Pane::List, 1))
    );
    assert_eq!(
        map_mouse(&app, mouse(MouseEventKind::ScrollUp, 100, 5)),
        Some(Msg::Scroll(Pane::Thread, -3))
    );
    assert_eq!(
        map_mouse(&app, mouse(MouseEventKind::Down(MouseButton::Left), 10, 4)),
        Some(Msg::Click(Pane::List, 2))
    );
    assert_eq!(map_mouse(&app, mouse(MouseEventKind::Moved, 10, 4)), None);
}

#[test]
fn paste_and_resize_pass_through() {
    let app = app();
    assert_eq!(
        map_event(&app, Event::Paste("hi".into())),
        Some(Msg::Paste("hi".into()))
    );
    assert_eq!(
        map_event(&app, Event::Resize(80, 24)),
        Some(Msg::Resize(80, 24))
    );
}
