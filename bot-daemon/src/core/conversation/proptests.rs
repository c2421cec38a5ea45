//! Property tests of the keyword matcher and the state machine (proptest; `PROPTEST_CASES`
//! raises the number of cases):
//!
//! - keywords: never panic; case, surrounding spaces and punctuation do not matter; a support
//!   phrase anywhere as whole words matches; an end phrase matches only as the whole message;
//! - `step` alone: over arbitrary event sequences (taps, keywords, free text, media, reactions,
//!   agent messages and ends, random FAQ settings) a contact's state and its chat session agree
//!   after every event, sessions never overlap (no start while open, no end while closed), a chat
//!   always ends at the contact's home, `REGISTERED`/`IDLE`/`AWAITING_NAME` match the contact's
//!   kind, every outgoing message fits WhatsApp's limits, and `step` is deterministic;
//! - the engine on a real SQLite store: arbitrary sequences of webhooks (with redeliveries),
//!   agent sends and ends leave every contact consistent in the database: at most one open
//!   session, `chat_support_active` ⇔ `CHAT_SUPPORT_ACTIVE` ⇔ an open session that is the
//!   current one, sessions in order without overlap, each message in a session of its contact.
#![allow(clippy::type_complexity)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::{keywords::*, *};
use crate::domain::{Content, MediaKind};

// ---------------------------------------------------------------------------------------------
// Keywords.

fn punct() -> impl Strategy<Value = String> {
    "[ !?.,;:()\\-❌🙂💬\\t\\n]{0,4}"
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn matchers_never_panic_and_agree_with_normalized(t in any::<String>()) {
        let end = is_end_request(&t);
        prop_assert_eq!(end, END_PHRASES.contains(&normalized(&t).as_str()));
        let _ = (is_support_request(&t), is_menu_request(&t), is_cancel(&t), words(&t));
        // Words never contain separators.
        for w in words(&t) {
            prop_assert!(!w.is_empty());
            prop_assert!(!w.contains(' '));
        }
    }

    #[test]
    fn ascii_case_and_surrounding_punctuation_do_not_matter(
        t in "[a-zA-Z0-9 ,.!?']{0,40}",
        before in punct(),
        after in punct(),
    ) {
        let variants = [t.to_ascii_uppercase(), t.to_ascii_lowercase(), format!("{before}{t}{after}")];
        for v in &variants {
            prop_assert_eq!(is_support_request(v), is_support_request(&t), "{:?} vs {:?}", v, t);
            prop_assert_eq!(is_end_request(v), is_end_request(&t), "{:?} vs {:?}", v, t);
            prop_assert_eq!(is_menu_request(v), is_menu_request(&t));
        }
    }

    #[test]
    fn a_support_phrase_as_whole_words_anywhere_matches(
        phrase in prop::sample::select(SUPPORT_PHRASES),
        before in "([a-z]{1,8} ){0,4}",
        after in "( [a-z]{1,8}){0,4}",
        shout in any::<bool>(),
        p1 in punct(),
        p2 in punct(),
    ) {
        let phrase = if shout { phrase.to_uppercase() } else { phrase.to_string() };
        let t = format!("{p1}{before}{phrase}{after}{p2}");
        prop_assert!(is_support_request(&t), "{:?}", t);
    }

    #[test]
    fn a_support_word_glued_to_other_letters_does_not_match(
        phrase in prop::sample::select(&["support", "agent", "human", "chat"][..]),
        glue in "[a-z]{1,5}",
        front in any::<bool>(),
    ) {
        let t = if front { format!("{glue}{phrase}") } else { format!("{phrase}{glue}") };
        // Unless the glued word happens to be another phrase ("chat" + ... never is).
        prop_assert!(!is_support_request(&t), "{:?}", t);
    }

    #[test]
    fn an_end_phrase_ends_only_as_the_whole_message(
        phrase in prop::sample::select(END_PHRASES),
        shout in any::<bool>(),
        p1 in punct(),
        p2 in punct(),
        extra in "[a-z0-9]{1,8}",
        extra_first in any::<bool>(),
    ) {
        let phrase = if shout { phrase.to_uppercase() } else { phrase.to_string() };
        let whole = format!("{p1}{phrase}{p2}");
        prop_assert!(is_end_request(&whole), "{:?}", whole);
        let longer = if extra_first { format!("{extra} {phrase}") } else { format!("{phrase} {extra}") };
        prop_assert!(!is_end_request(&longer), "{:?}", longer);
    }
}

// ---------------------------------------------------------------------------------------------
// The state machine alone.

pub(crate) fn content() -> impl Strategy<Value = Content> {
    let tap = |id: &'static str| Content::Button {
        id: id.into(),
        title: id.into(),
    };
    prop_oneof![
        3 => prop::sample::select(&[
            "chat_support", "end_chat", "main_menu", "faq", "register", "faq_1", "faq_2", "faq_11", "nonsense",
        ][..]).prop_map(tap),
        3 => prop::sample::select(&[
            "support", "I need a human", "talk to someone please", "done", "Done!", "end chat", "exit",
            "hello", "menu", "cancel", "1", "2", "3", "99", "Ada Obi", "Jean-Luc O'Neil", "x", "12345",
            "I'm done uploading but it failed", "",
        ][..]).prop_map(|t| Content::Text(t.into())),
        2 => any::<String>().prop_map(Content::Text),
        1 => Just(Content::Media { kind: MediaKind::Image, media_id: "m".into(), caption: None, filename: None, voice: false }),
        1 => Just(Content::Reaction { message_id: "wamid.x".into(), emoji: "👍".into() }),
        1 => prop::sample::select(&["chat_support", "end_chat", "support", "other"][..])
            .prop_map(|p| Content::TemplateButton { payload: p.into(), text: p.into() }),
        1 => prop::sample::select(&["faq_1", "faq_3", "end_chat", "csat_4", "csat_9"][..])
            .prop_map(|id| Content::ListReply { id: id.into(), title: id.into() }),
        1 => Just(Content::Unsupported { type_name: "hologram".into() }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => content().prop_map(Event::User),
        1 => "[a-z ]{1,30}".prop_map(|text| Event::AgentMessage { text }),
        1 => "[a-z ]{1,30}".prop_map(|message| Event::AgentEnd { message }),
        1 => Just(Event::InactivityReminder),
        1 => Just(Event::InactivityEnd),
    ]
}

fn settings() -> impl Strategy<Value = BotSettings> {
    (
        prop::collection::vec((any::<String>(), "[a-z ]{1,40}"), 0..13),
        any::<bool>(),
    )
        .prop_map(|(faq, csat)| BotSettings {
            faq: faq
                .into_iter()
                .map(|(question, answer)| Faq { question, answer })
                .collect(),
            reengagement_template: None,
            csat,
            inactivity: Some(Inactivity {
                remind_after_ms: Some(1),
                end_after_ms: 2,
                remind_text: texts::DEFAULT_INACTIVITY_REMIND.into(),
                end_text: texts::DEFAULT_INACTIVITY_END.into(),
            }),
            ..BotSettings::default()
        })
}

fn start() -> impl Strategy<Value = Contact> {
    (any::<bool>(), prop::option::of(any::<String>())).prop_map(|(student, profile_name)| Contact {
        state: if student {
            State::Registered
        } else {
            State::Idle
        },
        kind: if student {
            ContactKind::Student
        } else {
            ContactKind::Lead
        },
        registered_name: student.then(|| "Ada Obi".to_string()),
        profile_name,
        recently_acknowledged: false,
        agent_replied: false,
        queue: None,
        closed_until: None,
        survey: None,
    })
}

/// WhatsApp's limits on what the bot sends.
fn check_outgoing(m: &Outgoing) -> Result<(), TestCaseError> {
    let len = |s: &str| s.chars().count();
    match m {
        Outgoing::Text { body } => prop_assert!(len(body) <= 4096),
        Outgoing::Buttons { body, buttons } => {
            prop_assert!(len(body) <= 1024 && !body.is_empty());
            prop_assert!((1..=3).contains(&buttons.len()));
            for b in buttons {
                prop_assert!(len(&b.title) <= 20 && len(&b.id) <= 256, "{:?}", b);
            }
        }
        Outgoing::List { body, button, rows } => {
            prop_assert!(len(body) <= 1024 && len(button) <= 20);
            prop_assert!((1..=10).contains(&rows.len()));
            for r in rows {
                prop_assert!(len(&r.title) <= 24, "row title {:?}", r.title);
                prop_assert!(
                    len(&r.description) <= 72,
                    "row description {:?}",
                    r.description
                );
                prop_assert!(len(&r.id) <= 200);
            }
        }
        Outgoing::Template { .. } => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_event_sequence_leaves_a_contact_inconsistent(
        initial in start(),
        settings in settings(),
        events in prop::collection::vec((event(), any::<bool>()), 1..40),
    ) {
        let mut c = initial;
        let mut open = false;
        for (e, recent) in &events {
            c.recently_acknowledged = *recent && c.state == State::ChatSupportActive;
            let t = step(&c, e, &settings);
            prop_assert_eq!(&t, &step(&c, e, &settings), "step is not deterministic");
            for a in &t.actions {
                match a {
                    Action::StartSession => {
                        prop_assert!(!open, "a session started while one was open: {:?} on {:?}", e, c);
                        open = true;
                    }
                    Action::EndSession(_) => {
                        prop_assert!(open, "a session ended while none was open: {:?} on {:?}", e, c);
                        open = false;
                        prop_assert_eq!(t.state, c.home(), "a chat ended away from home");
                    }
                    Action::Register { name } => {
                        prop_assert_eq!(c.state, State::AwaitingName);
                        prop_assert!(valid_name(name));
                        c.kind = ContactKind::Student;
                        c.registered_name = Some(name.clone());
                    }
                    Action::Reply { message, sender } => {
                        check_outgoing(message)?;
                        if matches!(e, Event::User(_)) {
                            prop_assert_eq!(*sender, Sender::Bot);
                        }
                    }
                    Action::Reject(_) => {
                        prop_assert_eq!(t.actions.len(), 1);
                        prop_assert_eq!(t.state, c.state);
                    }
                    Action::StartSurvey => {
                        prop_assert!(!open, "a survey for a chat still open");
                        c.survey = Some(SurveyStage::AwaitingRating);
                    }
                    Action::RateSurvey(n) => {
                        prop_assert!((1..=5).contains(n));
                        prop_assert_eq!(c.survey, Some(SurveyStage::AwaitingRating), "rated twice or late");
                        c.survey = Some(SurveyStage::AwaitingComment);
                    }
                    Action::CommentSurvey(_) => {
                        prop_assert_eq!(c.survey, Some(SurveyStage::AwaitingComment));
                        c.survey = Some(SurveyStage::Rated);
                    }
                    Action::CloseSurvey => {
                        c.survey = match c.survey {
                            Some(SurveyStage::AwaitingComment) => Some(SurveyStage::Rated),
                            Some(SurveyStage::AwaitingRating) => Some(SurveyStage::Closed),
                            other => other,
                        };
                    }
                    Action::MarkReminded => {
                        prop_assert_eq!(c.state, State::ChatSupportActive);
                    }
                }
            }
            if matches!(e, Event::User(Content::Reaction { .. })) {
                // Outside a chat a reaction is ignored: nothing sent, nothing started.
                let quiet = t.actions.is_empty() && t.state == c.state;
                prop_assert!(quiet || c.state == State::ChatSupportActive, "reaction on {:?}: {:?}", c, t);
            }
            if matches!(e, Event::AgentMessage { .. }) {
                // An agent's message always leaves the contact in a chat (it opens one outside).
                prop_assert_eq!(t.state, State::ChatSupportActive, "an agent message left no chat open");
            }
            c.state = t.state;
            prop_assert_eq!(c.state == State::ChatSupportActive, open, "state and session disagree after {:?}", e);
            match c.state {
                State::Registered => prop_assert_eq!(c.kind, ContactKind::Student),
                State::Idle | State::AwaitingName => prop_assert_eq!(c.kind, ContactKind::Lead),
                State::ChatSupportActive | State::Faq => {}
            }
        }
    }
}
