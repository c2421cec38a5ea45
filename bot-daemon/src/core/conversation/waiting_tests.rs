//! Transition tables for the queue line, the satisfaction survey and the inactivity events.

use super::tests::lead;
use super::*;
use crate::domain::EndedBy;

fn queued(state: State, position: u32, eta_ms: Option<Millis>) -> Contact {
    Contact {
        queue: Some(QueueInfo { position, eta_ms }),
        ..lead(state)
    }
}

fn surveyed(stage: SurveyStage) -> Contact {
    Contact {
        survey: Some(stage),
        ..lead(State::Idle)
    }
}

fn settings() -> BotSettings {
    BotSettings {
        inactivity: Some(Inactivity {
            remind_after_ms: Some(600_000),
            end_after_ms: 1_800_000,
            remind_text: "Still there?".into(),
            end_text: "Closed for inactivity.".into(),
        }),
        ..BotSettings::default()
    }
}

fn text(t: &str) -> Event {
    Event::User(Content::Text(t.into()))
}

fn list_reply(id: &str) -> Event {
    Event::User(Content::ListReply {
        id: id.into(),
        title: id.into(),
    })
}

fn bodies(t: &Transition) -> Vec<&str> {
    t.actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply { message, .. } => Some(message.body()),
            _ => None,
        })
        .collect()
}

#[test]
fn eta_in_words() {
    let m = 60_000;
    for (eta, words) in [
        (None, "a few minutes"),
        (Some(20_000), "under a minute"),
        (Some(m + 20_000), "about 1 minute"),
        (Some(4 * m + 10_000), "about 4 minutes"),
        (Some(4 * m + 40_000), "about 5 minutes"),
        (Some(59 * m), "about 59 minutes"),
        (Some(75 * m), "about 1 hour"),
        (Some(150 * m), "about 3 hours"),
    ] {
        assert_eq!(texts::eta_words(eta), words, "{eta:?}");
    }
}

#[test]
fn the_welcome_ends_with_the_queue_position_and_eta() {
    let t = step(
        &queued(State::Idle, 3, Some(4 * 60_000)),
        &text("support"),
        &settings(),
    );
    assert_eq!(t.state, State::ChatSupportActive);
    let body = bodies(&t)[0];
    assert!(
        body.starts_with("Hi Ada! 💬\n\n📞 Live Chat Support"),
        "{body}"
    );
    assert!(
        body.ends_with(
            "main menu.\n\n⏳ You are number 3 in the queue. Estimated wait: about 4 minutes."
        ),
        "{body}"
    );
}

#[test]
fn places_past_two_hundred_read_as_two_hundred_plus() {
    // The engine counts at most QUEUE_EXACT_UP_TO places ahead (bounded work per message) and
    // hands on one more when the queue is longer.
    let t = step(
        &queued(State::Idle, texts::QUEUE_EXACT_UP_TO + 1, None),
        &text("support"),
        &settings(),
    );
    assert!(
        bodies(&t)[0]
            .ends_with("⏳ You are number 200+ in the queue. Estimated wait: a few minutes."),
        "{}",
        bodies(&t)[0]
    );
    let t = step(
        &queued(State::Idle, texts::QUEUE_EXACT_UP_TO, None),
        &text("support"),
        &settings(),
    );
    assert!(bodies(&t)[0].contains("You are number 200 in the queue"));
}

#[test]
fn acknowledgements_carry_the_queue_line_until_an_agent_answers() {
    let t = step(
        &queued(State::ChatSupportActive, 2, None),
        &text("my fees"),
        &settings(),
    );
    assert_eq!(
        bodies(&t),
        vec!["✓ Your message has been sent to support...\n\n⏳ You are number 2 in the queue. Estimated wait: a few minutes."]
    );
    // Answered: the seed's ack alone.
    let t = step(&lead(State::ChatSupportActive), &text("ok"), &settings());
    assert_eq!(bodies(&t), vec![texts::CHAT_ACK]);
    // Flood control still holds with the queue line.
    let mut c = queued(State::ChatSupportActive, 2, None);
    c.recently_acknowledged = true;
    assert!(step(&c, &text("more"), &settings()).actions.is_empty());
}

#[test]
fn queue_and_position_ask_again_even_right_after_an_ack() {
    let mut c = queued(State::ChatSupportActive, 1, Some(120_000));
    c.recently_acknowledged = true;
    for q in ["queue", "Position?", "where am I in the queue"] {
        let t = step(&c, &text(q), &settings());
        assert_eq!(t.state, State::ChatSupportActive);
        assert_eq!(
            bodies(&t),
            vec!["⏳ You are number 1 in the queue. Estimated wait: about 2 minutes."]
        );
    }
    let t = step(&lead(State::ChatSupportActive), &text("queue"), &settings());
    assert_eq!(bodies(&t), vec![texts::ALREADY_ANSWERED]);
    // Outside a chat: not queued, the menu's buttons.
    let t = step(&queued(State::Idle, 4, None), &text("queue"), &settings());
    assert_eq!(t.state, State::Idle);
    assert!(bodies(&t)[0].contains("not in the support queue"));
}

#[test]
fn outside_business_hours_the_welcome_says_when_support_is_back() {
    let mut c = queued(State::Idle, 2, Some(60_000));
    c.closed_until = Some("on Monday at 08:00".into());
    let t = step(&c, &text("support"), &settings());
    assert_eq!(t.state, State::ChatSupportActive, "the chat still opens");
    assert!(bodies(&t)[0].ends_with(
        "🌙 Our support team is away right now and back on Monday at 08:00. Your chat stays open: you are number 2 in the queue and an agent will reply as soon as we're back."
    ));
    let custom = BotSettings {
        closed_text: "Closed until {back}.".into(),
        ..settings()
    };
    assert!(bodies(&step(&c, &text("support"), &custom))[0]
        .ends_with("Closed until on Monday at 08:00."));
    // The queue line can be turned off.
    let off = BotSettings {
        queue_text: String::new(),
        ..settings()
    };
    let t = step(&queued(State::ChatSupportActive, 2, None), &text("x"), &off);
    assert_eq!(bodies(&t), vec![texts::CHAT_ACK]);
}

#[test]
fn every_end_asks_for_a_rating_after_the_closing_message() {
    let by_user = step(&lead(State::ChatSupportActive), &text("done"), &settings());
    let by_agent = step(
        &lead(State::ChatSupportActive),
        &Event::AgentEnd {
            message: "Bye".into(),
        },
        &settings(),
    );
    let by_system = step(
        &lead(State::ChatSupportActive),
        &Event::InactivityEnd,
        &settings(),
    );
    for (t, who) in [
        (&by_user, EndedBy::User),
        (&by_agent, EndedBy::Admin),
        (&by_system, EndedBy::System),
    ] {
        assert_eq!(t.state, State::Idle);
        assert_eq!(t.actions.len(), 4, "{t:?}");
        assert_eq!(t.actions[0], Action::EndSession(who));
        assert_eq!(t.actions[2], Action::StartSurvey);
        let Action::Reply {
            sender: Sender::Bot,
            message: Outgoing::List { rows, body, .. },
        } = &t.actions[3]
        else {
            panic!("no rating list: {t:?}")
        };
        assert_eq!(body, csat::CSAT_QUESTION);
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["csat_5", "csat_4", "csat_3", "csat_2", "csat_1"]);
        assert_eq!(rows[0].title, "⭐⭐⭐⭐⭐ 5");
        assert_eq!(rows[4].description, "Very poor");
    }
    assert_eq!(bodies(&by_system)[0], "Closed for inactivity.");
    // Off: the seed's end alone.
    let off = BotSettings {
        csat: false,
        ..settings()
    };
    assert_eq!(
        step(&lead(State::ChatSupportActive), &text("done"), &off)
            .actions
            .len(),
        2
    );
}

#[test]
fn a_rating_then_a_comment() {
    let t = step(
        &surveyed(SurveyStage::AwaitingRating),
        &list_reply("csat_4"),
        &settings(),
    );
    assert_eq!(t.state, State::Idle);
    assert_eq!(t.actions[0], Action::RateSurvey(4));
    assert!(bodies(&t)[0].contains("4/5") && bodies(&t)[0].contains("'skip'"));
    // A typed digit counts too.
    let t = step(
        &surveyed(SurveyStage::AwaitingRating),
        &text(" 5 "),
        &settings(),
    );
    assert_eq!(t.actions[0], Action::RateSurvey(5));
    // In the FAQ a digit picks a question instead.
    let mut in_faq = surveyed(SurveyStage::AwaitingRating);
    in_faq.state = State::Faq;
    let faq = BotSettings {
        faq: vec![Faq {
            question: "Q".into(),
            answer: "A".into(),
        }],
        ..settings()
    };
    assert_eq!(bodies(&step(&in_faq, &text("1"), &faq)), vec!["A"]);
    // The comment closes the survey.
    let t = step(
        &surveyed(SurveyStage::AwaitingComment),
        &text("  Quick and kind  "),
        &settings(),
    );
    assert_eq!(t.actions[0], Action::CommentSurvey("Quick and kind".into()));
    assert_eq!(bodies(&t), vec![csat::CSAT_THANKS]);
    let t = step(
        &surveyed(SurveyStage::AwaitingComment),
        &text("Skip"),
        &settings(),
    );
    assert_eq!(t.actions[0], Action::CloseSurvey);
    assert_eq!(bodies(&t), vec![csat::CSAT_THANKS]);
}

#[test]
fn repeated_and_late_ratings_are_answered_and_never_stored() {
    for (stage, answer) in [
        (
            Some(SurveyStage::AwaitingComment),
            csat::CSAT_ALREADY_RATED_OPEN,
        ),
        (Some(SurveyStage::Rated), csat::CSAT_ALREADY_RATED),
        (Some(SurveyStage::Closed), csat::CSAT_LATE),
        (None, csat::CSAT_LATE),
    ] {
        let c = Contact {
            survey: stage,
            ..lead(State::Registered)
        };
        let t = step(&c, &list_reply("csat_2"), &settings());
        assert_eq!(t.state, State::Registered);
        assert_eq!(bodies(&t), vec![answer], "{stage:?}");
        assert!(
            !t.actions.iter().any(|a| matches!(a, Action::RateSurvey(_))),
            "{stage:?}"
        );
    }
    // An id out of range is not a rating: the menu.
    let t = step(
        &surveyed(SurveyStage::AwaitingRating),
        &list_reply("csat_9"),
        &settings(),
    );
    assert!(bodies(&t)[0].contains("How can we help"));
}

#[test]
fn a_new_chat_during_the_survey_closes_it_and_wins() {
    for stage in [SurveyStage::AwaitingRating, SurveyStage::AwaitingComment] {
        let t = step(&surveyed(stage), &text("support"), &settings());
        assert_eq!(t.state, State::ChatSupportActive);
        assert_eq!(t.actions[0], Action::CloseSurvey);
        assert_eq!(t.actions[1], Action::StartSession);
    }
    // Something else while the comment is awaited: closed, the normal flow answers.
    let t = step(
        &surveyed(SurveyStage::AwaitingComment),
        &text("menu"),
        &settings(),
    );
    assert_eq!(t.actions[0], Action::CloseSurvey);
    assert!(bodies(&t)[0].contains("How can we help"));
    // While the rating is awaited, other messages leave the survey open.
    let t = step(
        &surveyed(SurveyStage::AwaitingRating),
        &text("hello"),
        &settings(),
    );
    assert!(!t.actions.contains(&Action::CloseSurvey));
}

#[test]
fn inactivity_reminds_then_ends_as_the_system_only_in_a_chat() {
    let t = step(
        &lead(State::ChatSupportActive),
        &Event::InactivityReminder,
        &settings(),
    );
    assert_eq!(t.state, State::ChatSupportActive);
    assert_eq!(t.actions[0], Action::MarkReminded);
    assert_eq!(bodies(&t), vec!["Still there?"]);
    for event in [Event::InactivityReminder, Event::InactivityEnd] {
        let idle = step(&lead(State::Idle), &event, &settings());
        assert_eq!((idle.state, idle.actions.len()), (State::Idle, 0));
        let off = BotSettings {
            inactivity: None,
            ..settings()
        };
        let t = step(&lead(State::ChatSupportActive), &event, &off);
        assert_eq!((t.state, t.actions.len()), (State::ChatSupportActive, 0));
    }
}
