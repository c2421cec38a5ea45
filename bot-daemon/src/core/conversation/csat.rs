//! The satisfaction survey after a chat (CSAT), pure like the rest of the state machine: after
//! every end (user, agent or system) the bot sends an interactive list rated 1–5; a rating is
//! followed by one optional comment. The engine stores the survey; this module decides what an
//! answer means given the contact's latest survey ([`SurveyStage`]).
//!
//! Choices: a second rating never overwrites the first (the user is told it is recorded); a
//! rating after the survey closed (timeout, or a new chat started) is answered politely and not
//! stored as a rating (the tap itself stays in the history as a user message); "support" or a new
//! chat during the survey closes it and the normal flow wins; "skip" closes it without a comment.

use super::{bot, keywords, texts, Action, BotSettings, Contact, ListRow, Outgoing, Transition};
pub use crate::domain::SurveyStage;
use crate::domain::{Content, State};

/// Prefix of the rating rows' ids (`csat_1` … `csat_5`).
pub const CSAT_ROW_PREFIX: &str = "csat_";
/// The survey's question.
pub const CSAT_QUESTION: &str =
    "How would you rate your chat with our support team today? Tap below to choose 1 to 5.";
/// The list's menu button label.
pub const CSAT_BUTTON: &str = "Rate this chat";
/// After a rating: the optional comment.
pub const CSAT_ASK_COMMENT: &str =
    "Thank you for rating us {rating}/5! ⭐ Reply with a comment about your chat, or send 'skip'.";
/// After the comment or a skip.
pub const CSAT_THANKS: &str = "Thank you for your feedback! 🙏";
/// A rating tapped again while the comment is awaited.
pub const CSAT_ALREADY_RATED_OPEN: &str =
    "You've already rated this chat, thank you! Reply with a comment, or send 'skip'.";
/// A rating tapped again after the survey finished.
pub const CSAT_ALREADY_RATED: &str = "You've already rated this chat. Thank you! 🙏";
/// A rating after the survey closed.
pub const CSAT_LATE: &str =
    "Sorry, this survey has closed, so we couldn't record your rating. Thank you all the same! 🙏";

const LABELS: [&str; 5] = ["Very poor", "Poor", "Okay", "Good", "Excellent"];

/// The rating list: 5 rows, best first.
pub fn survey_list() -> Outgoing {
    let rows = (1..=5u8)
        .rev()
        .map(|n| ListRow {
            id: format!("{CSAT_ROW_PREFIX}{n}"),
            title: format!("{} {n}", "⭐".repeat(n as usize)),
            description: LABELS[usize::from(n - 1)].to_string(),
        })
        .collect();
    Outgoing::List {
        body: CSAT_QUESTION.to_string(),
        button: CSAT_BUTTON.to_string(),
        rows,
    }
}

/// What ending a chat adds for the survey (nothing when surveys are off).
pub(super) fn ask(settings: &BotSettings) -> Vec<Action> {
    if settings.csat {
        vec![Action::StartSurvey, bot(survey_list())]
    } else {
        Vec::new()
    }
}

/// A rating in a list or button reply id (`csat_4`).
fn rating_from_id(id: &str) -> Option<u8> {
    let n: u8 = id.strip_prefix(CSAT_ROW_PREFIX)?.parse().ok()?;
    (1..=5).contains(&n).then_some(n)
}

fn text_reply(contact: &Contact, body: &str) -> Outgoing {
    Outgoing::Buttons {
        body: body.to_string(),
        buttons: texts::menu_buttons(contact.kind == crate::domain::ContactKind::Student),
    }
}

/// The survey's reading of a user message outside a chat; `None` lets the normal flow handle it
/// (and [`super::step`] closes a survey still waiting for its comment).
pub(super) fn answer(contact: &Contact, content: &Content) -> Option<Transition> {
    let stay = |actions: Vec<Action>| {
        Some(Transition {
            state: contact.state,
            actions,
        })
    };
    let tapped = match content {
        Content::ListReply { id, .. } | Content::Button { id, .. } => rating_from_id(id),
        _ => None,
    };
    let at_home = matches!(contact.state, State::Idle | State::Registered);
    match (contact.survey, tapped, content) {
        (Some(SurveyStage::AwaitingRating), Some(n), _) => stay(vec![
            Action::RateSurvey(n),
            bot(text_reply(
                contact,
                &CSAT_ASK_COMMENT.replace("{rating}", &n.to_string()),
            )),
        ]),
        // A bare "1".."5" typed instead of tapped counts too (not in the FAQ, where digits pick
        // a question).
        (Some(SurveyStage::AwaitingRating), None, Content::Text(t)) if at_home => {
            let n: u8 = keywords::normalized(t).parse().ok()?;
            (1..=5).contains(&n).then(|| Transition {
                state: contact.state,
                actions: vec![
                    Action::RateSurvey(n),
                    bot(text_reply(
                        contact,
                        &CSAT_ASK_COMMENT.replace("{rating}", &n.to_string()),
                    )),
                ],
            })
        }
        (Some(SurveyStage::AwaitingComment), Some(_), _) => {
            stay(vec![bot(text_reply(contact, CSAT_ALREADY_RATED_OPEN))])
        }
        (Some(SurveyStage::Rated), Some(_), _) => {
            stay(vec![bot(text_reply(contact, CSAT_ALREADY_RATED))])
        }
        (Some(SurveyStage::Closed) | None, Some(_), _) => {
            stay(vec![bot(text_reply(contact, CSAT_LATE))])
        }
        (Some(SurveyStage::AwaitingComment), None, Content::Text(t)) if at_home => {
            if keywords::is_support_request(t) || keywords::is_menu_request(t) {
                None
            } else if keywords::is_cancel(t) || keywords::normalized(t) == "skip" {
                stay(vec![
                    Action::CloseSurvey,
                    bot(text_reply(contact, CSAT_THANKS)),
                ])
            } else {
                stay(vec![
                    Action::CommentSurvey(t.trim().to_string()),
                    bot(text_reply(contact, CSAT_THANKS)),
                ])
            }
        }
        _ => None,
    }
}
