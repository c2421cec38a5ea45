//! Transition tables for the state machine: every transition of the seed's flow, its keywords,
//! and the negative cases.

use super::*;
use crate::domain::MediaKind;

pub(super) fn lead(state: State) -> Contact {
    Contact {
        state,
        kind: ContactKind::Lead,
        registered_name: None,
        profile_name: Some("Ada".into()),
        recently_acknowledged: false,
        agent_replied: false,
        queue: None,
        closed_until: None,
        survey: None,
    }
}

fn student(state: State) -> Contact {
    Contact {
        state,
        kind: ContactKind::Student,
        registered_name: Some("Ada Obi".into()),
        profile_name: Some("Ada".into()),
        recently_acknowledged: false,
        agent_replied: false,
        queue: None,
        closed_until: None,
        survey: None,
    }
}

fn settings() -> BotSettings {
    BotSettings {
        reengagement_template: None,
        csat: false,
        faq: vec![
            Faq {
                question: "When are fees due?".into(),
                answer: "Fees are due on the 1st.".into(),
            },
            Faq {
                question: "How do I submit homework online?".into(),
                answer: "Use the portal.".into(),
            },
        ],
        // The seed's tables pin the seed's actions; the survey has its own tables.
        ..BotSettings::default()
    }
}

fn text(t: &str) -> Event {
    Event::User(Content::Text(t.into()))
}

fn tap(id: &str, title: &str) -> Event {
    Event::User(Content::Button {
        id: id.into(),
        title: title.into(),
    })
}

fn image() -> Event {
    Event::User(Content::Media {
        kind: MediaKind::Image,
        media_id: "m1".into(),
        caption: Some("error".into()),
        filename: None,
        voice: false,
    })
}

fn replies(t: &Transition) -> Vec<&Outgoing> {
    t.actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

fn button_ids(o: &Outgoing) -> Vec<&str> {
    match o {
        Outgoing::Buttons { buttons, .. } => buttons.iter().map(|b| b.id.as_str()).collect(),
        _ => vec![],
    }
}

#[test]
fn starting_a_chat_from_every_menu_state_by_button_or_keyword() {
    let starters = [
        tap("chat_support", "💬 Chat Support"),
        text("Chat Support"),
        text("support"),
        text("can we chat"),
        text("help me please"),
        text("I want an agent"),
        text("a human please"),
        text("I need to talk to someone"),
    ];
    for state in [
        State::Idle,
        State::Registered,
        State::Faq,
        State::AwaitingName,
    ] {
        for ev in &starters {
            let c = lead(state);
            let t = step(&c, ev, &settings());
            assert_eq!(t.state, State::ChatSupportActive, "{state:?} {ev:?}");
            assert_eq!(t.actions[0], Action::StartSession);
            let r = replies(&t);
            assert_eq!(r.len(), 1);
            assert!(r[0]
                .body()
                .starts_with("Hi Ada! 💬\n\n📞 Live Chat Support"));
            assert!(r[0]
                .body()
                .contains("You are now connected to our support team! 🎯"));
            assert_eq!(button_ids(r[0]), vec!["end_chat"]);
            match r[0] {
                Outgoing::Buttons { buttons, .. } => assert_eq!(buttons[0].title, "❌ End Chat"),
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn welcome_greets_registered_name_first_then_profile_then_there() {
    let t = step(&student(State::Registered), &text("support"), &settings());
    assert!(replies(&t)[0].body().starts_with("Hi Ada Obi! 💬"));
    let mut anon = lead(State::Idle);
    anon.profile_name = None;
    let t = step(&anon, &text("support"), &settings());
    assert!(replies(&t)[0].body().starts_with("Hi there! 💬"));
}

#[test]
fn every_message_in_chat_is_acknowledged_and_stays_in_chat() {
    let events = [
        text("I can't upload my homework"),
        text("I'm done uploading but it failed"),
        text("support"),
        image(),
        tap("main_menu", "🏠 Main Menu"),
        Event::User(Content::Reaction {
            message_id: "w".into(),
            emoji: "👍".into(),
        }),
        Event::User(Content::Location {
            latitude: 1.0,
            longitude: 2.0,
            name: None,
            address: None,
        }),
        Event::User(Content::Unsupported {
            type_name: "unsupported".into(),
        }),
    ];
    for ev in events {
        let t = step(&lead(State::ChatSupportActive), &ev, &settings());
        assert_eq!(t.state, State::ChatSupportActive, "{ev:?}");
        let r = replies(&t);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].body(), "✓ Your message has been sent to support...");
        assert_eq!(button_ids(r[0]), vec!["end_chat"]);
        assert!(!t.actions.iter().any(|a| matches!(a, Action::EndSession(_))));
    }
}

#[test]
fn user_ends_chat_by_button_or_whole_message_keyword() {
    let enders = [
        tap("end_chat", "❌ End Chat"),
        text("end chat"),
        text("End Chat"),
        text("close"),
        text("Done!"),
        text("quit chat"),
        text("EXIT"),
        text("❌ End Chat"),
    ];
    for ev in &enders {
        let t = step(&lead(State::ChatSupportActive), ev, &settings());
        assert_eq!(t.state, State::Idle, "{ev:?}");
        assert_eq!(t.actions[0], Action::EndSession(EndedBy::User));
        let r = replies(&t);
        assert_eq!(
            r[0].body(),
            "Thanks for chatting! Chat support session ended..."
        );
        assert_eq!(button_ids(r[0]), vec!["chat_support", "faq", "register"]);

        let t = step(&student(State::ChatSupportActive), ev, &settings());
        assert_eq!(t.state, State::Registered, "{ev:?}");
        assert_eq!(button_ids(replies(&t)[0]), vec!["chat_support", "faq"]);
    }
}

#[test]
fn sentences_containing_end_words_do_not_end_the_chat() {
    for t in [
        "I'm done uploading but it failed",
        "please close my account",
        "exit exam?",
    ] {
        let tr = step(&lead(State::ChatSupportActive), &text(t), &settings());
        assert_eq!(tr.state, State::ChatSupportActive, "{t:?}");
    }
}

#[test]
fn agent_message_in_a_chat_is_prefixed_and_changes_no_state() {
    let t = step(
        &lead(State::ChatSupportActive),
        &Event::AgentMessage {
            text: "How can I help?".into(),
        },
        &settings(),
    );
    assert_eq!(t.state, State::ChatSupportActive);
    assert_eq!(
        t.actions,
        vec![Action::Reply {
            sender: Sender::Admin,
            message: Outgoing::Text {
                body: "🎧 Support Team: How can I help?".into()
            }
        }]
    );
}

#[test]
fn agent_message_outside_a_chat_opens_one_so_the_answer_reaches_the_desk() {
    for state in [
        State::Idle,
        State::Registered,
        State::Faq,
        State::AwaitingName,
    ] {
        let t = step(
            &lead(state),
            &Event::AgentMessage {
                text: "About your fees".into(),
            },
            &settings(),
        );
        assert_eq!(t.state, State::ChatSupportActive, "from {state:?}");
        assert_eq!(
            t.actions,
            vec![
                Action::StartSession,
                Action::Reply {
                    sender: Sender::Admin,
                    message: Outgoing::Text {
                        body: "🎧 Support Team: About your fees".into()
                    }
                }
            ],
            "from {state:?}"
        );
    }
    // The last chat's open survey gives way to the new chat.
    let mut c = lead(State::Idle);
    c.survey = Some(SurveyStage::AwaitingRating);
    let t = step(&c, &Event::AgentMessage { text: "Hi".into() }, &settings());
    assert_eq!(t.actions.first(), Some(&Action::CloseSurvey));
    assert_eq!(t.actions.get(1), Some(&Action::StartSession));
}

#[test]
fn agent_end_closes_with_main_menu_button_and_goes_home() {
    let ev = Event::AgentEnd {
        message: "Thank you for contacting us".into(),
    };
    let t = step(&lead(State::ChatSupportActive), &ev, &settings());
    assert_eq!(t.state, State::Idle);
    assert_eq!(t.actions[0], Action::EndSession(EndedBy::Admin));
    assert_eq!(
        t.actions[1],
        Action::Reply {
            sender: Sender::Admin,
            message: Outgoing::Buttons {
                body: "Thank you for contacting us".into(),
                buttons: vec![Button {
                    id: "main_menu".into(),
                    title: "🏠 Main Menu".into()
                }]
            }
        }
    );
    let t = step(&student(State::ChatSupportActive), &ev, &settings());
    assert_eq!(t.state, State::Registered);
}

#[test]
fn agent_end_without_active_chat_is_rejected_and_changes_nothing() {
    for state in [
        State::Idle,
        State::Registered,
        State::Faq,
        State::AwaitingName,
    ] {
        let c = lead(state);
        let t = step(
            &c,
            &Event::AgentEnd {
                message: "bye".into(),
            },
            &settings(),
        );
        assert_eq!(t.state, state);
        assert_eq!(t.actions, vec![Action::Reject(Rejection::ChatNotActive)]);
    }
}

#[test]
fn anything_else_outside_chat_shows_the_menu() {
    for ev in [
        text("hello"),
        text("what time is it"),
        image(),
        tap("main_menu", "🏠 Main Menu"),
        text("done"),
    ] {
        let t = step(&lead(State::Idle), &ev, &settings());
        assert_eq!(t.state, State::Idle, "{ev:?}");
        let r = replies(&t);
        assert!(r[0].body().starts_with("Hi Ada! 👋"));
        assert_eq!(button_ids(r[0]), vec!["chat_support", "faq", "register"]);
        let t = step(&student(State::Registered), &ev, &settings());
        assert_eq!(t.state, State::Registered);
        assert_eq!(button_ids(replies(&t)[0]), vec!["chat_support", "faq"]);
    }
}

#[test]
fn menu_buttons_respect_cloud_api_limits() {
    for student in [false, true] {
        let b = texts::menu_buttons(student);
        assert!((1..=3).contains(&b.len()));
        for x in &b {
            assert!(x.title.encode_utf16().count() <= 20, "{}", x.title);
        }
    }
    for b in [texts::end_chat_button(), texts::main_menu_button()] {
        assert!(b.title.encode_utf16().count() <= 20);
    }
}

#[test]
fn reactions_outside_chat_get_no_reply() {
    let ev = Event::User(Content::Reaction {
        message_id: "w".into(),
        emoji: "👍".into(),
    });
    let t = step(&lead(State::Idle), &ev, &settings());
    assert_eq!(t.state, State::Idle);
    assert!(t.actions.is_empty());
}

#[test]
fn end_chat_outside_chat_says_there_is_none() {
    let t = step(
        &lead(State::Idle),
        &tap("end_chat", "❌ End Chat"),
        &settings(),
    );
    assert_eq!(t.state, State::Idle);
    assert!(replies(&t)[0].body().contains("don't have an open chat"));
    assert!(!t.actions.iter().any(|a| matches!(a, Action::EndSession(_))));
}

#[test]
fn faq_list_and_answers() {
    let t = step(&lead(State::Idle), &tap("faq", "📚 FAQ"), &settings());
    assert_eq!(t.state, State::Faq);
    match replies(&t)[0] {
        Outgoing::List { rows, button, .. } => {
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[0].id, "faq_1");
            assert_eq!(rows[0].title, "When are fees due?");
            assert_eq!(rows[1].title.chars().count(), 24);
            assert!(button.chars().count() <= 20);
            for r in rows {
                assert!(r.description.chars().count() <= 72);
            }
        }
        other => panic!("{other:?}"),
    }
    let pick = Event::User(Content::ListReply {
        id: "faq_2".into(),
        title: "How do I submit homework".into(),
    });
    let t = step(&lead(State::Faq), &pick, &settings());
    assert_eq!(t.state, State::Faq);
    assert_eq!(replies(&t)[0].body(), "Use the portal.");
    assert_eq!(
        button_ids(replies(&t)[0]),
        vec!["chat_support", "faq", "main_menu"]
    );
    // By number while browsing.
    let t = step(&lead(State::Faq), &text("1"), &settings());
    assert_eq!(replies(&t)[0].body(), "Fees are due on the 1st.");
    // Unknown row: the list again.
    let bad = Event::User(Content::ListReply {
        id: "faq_99".into(),
        title: "?".into(),
    });
    let t = step(&lead(State::Faq), &bad, &settings());
    assert!(matches!(replies(&t)[0], Outgoing::List { .. }));
    // No FAQ configured.
    let t = step(
        &lead(State::Idle),
        &tap("faq", "📚 FAQ"),
        &BotSettings::default(),
    );
    assert_eq!(replies(&t)[0].body(), texts::FAQ_EMPTY);
}

#[test]
fn registration_asks_for_a_name_and_makes_a_student() {
    let t = step(
        &lead(State::Idle),
        &tap("register", "📝 Register"),
        &settings(),
    );
    assert_eq!(t.state, State::AwaitingName);
    assert!(replies(&t)[0].body().contains("full name"));

    let t = step(
        &lead(State::AwaitingName),
        &text("  Ada   Obi "),
        &settings(),
    );
    assert_eq!(t.state, State::Registered);
    assert_eq!(
        t.actions[0],
        Action::Register {
            name: "Ada Obi".into()
        }
    );
    assert!(replies(&t)[0].body().contains("Ada Obi"));

    for bad in ["x", "12345", "ada@example.com", &"a".repeat(81)] {
        let t = step(&lead(State::AwaitingName), &text(bad), &settings());
        assert_eq!(t.state, State::AwaitingName, "{bad:?}");
        assert!(!t
            .actions
            .iter()
            .any(|a| matches!(a, Action::Register { .. })));
    }
    // Cancel and menu leave registration.
    for out in ["cancel", "menu"] {
        let t = step(&lead(State::AwaitingName), &text(out), &settings());
        assert_eq!(t.state, State::Idle, "{out}");
    }
    // Students are told they are registered already.
    let t = step(
        &student(State::Registered),
        &tap("register", "📝 Register"),
        &settings(),
    );
    assert_eq!(t.state, State::Registered);
    assert!(replies(&t)[0].body().contains("already registered"));
}

#[test]
fn template_quick_reply_asking_for_support_starts_a_chat() {
    let ev = Event::User(Content::TemplateButton {
        payload: "reopen_chat".into(),
        text: "Talk to support".into(),
    });
    let t = step(&lead(State::Idle), &ev, &settings());
    assert_eq!(t.state, State::ChatSupportActive);
}

#[test]
fn step_is_deterministic() {
    let c = lead(State::Idle);
    assert_eq!(
        step(&c, &text("support"), &settings()),
        step(&c, &text("support"), &settings())
    );
}

#[test]
fn a_burst_of_chat_messages_gets_one_acknowledgement() {
    let mut c = lead(State::ChatSupportActive);
    c.recently_acknowledged = true;
    let t = step(&c, &text("and another thing"), &settings());
    assert_eq!(t.state, State::ChatSupportActive);
    assert!(t.actions.is_empty(), "no second ack: {:?}", t.actions);
    // Ending still works and still answers.
    let t = step(&c, &text("done"), &settings());
    assert_eq!(t.state, State::Idle);
    assert_eq!(replies(&t).len(), 1);
}

#[test]
fn acknowledgements_stop_once_an_agent_has_replied() {
    let mut c = lead(State::ChatSupportActive);
    // Before the first agent reply: the seed's acknowledgement.
    let t = step(&c, &text("my fees are wrong"), &settings());
    assert_eq!(replies(&t).len(), 1);
    assert!(replies(&t)[0].body().starts_with(texts::CHAT_ACK));
    // After it: messages (text, media) go to the agent without a bot reply.
    c.agent_replied = true;
    for event in [text("ok thanks"), image()] {
        let t = step(&c, &event, &settings());
        assert_eq!(t.state, State::ChatSupportActive);
        assert!(
            t.actions.is_empty(),
            "no ack after an agent reply: {:?}",
            t.actions
        );
    }
    // Asking for the queue and ending the chat are still answered.
    assert_eq!(replies(&step(&c, &text("queue"), &settings())).len(), 1);
    let t = step(&c, &text("done"), &settings());
    assert_eq!(t.state, State::Idle);
    assert_eq!(replies(&t).len(), 1);
}

#[test]
fn acknowledgements_after_an_agent_reply_can_be_turned_back_on() {
    let mut c = lead(State::ChatSupportActive);
    c.agent_replied = true;
    let on = BotSettings {
        ack_after_agent_reply: true,
        ..settings()
    };
    let t = step(&c, &text("ok thanks"), &on);
    assert_eq!(replies(&t).len(), 1);
    assert!(replies(&t)[0].body().starts_with(texts::CHAT_ACK));
    // The burst rule still holds.
    c.recently_acknowledged = true;
    assert!(step(&c, &text("and another"), &on).actions.is_empty());
}
