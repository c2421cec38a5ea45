//! Every text and button the bot sends, in one place. The chat-support texts are the seed's.

use super::{Button, Outgoing};

/// Button id that starts a chat.
pub const BTN_CHAT_SUPPORT: &str = "chat_support";
/// Button id that ends a chat.
pub const BTN_END_CHAT: &str = "end_chat";
/// Button id that shows the main menu.
pub const BTN_MAIN_MENU: &str = "main_menu";
/// Button id that opens the FAQ list.
pub const BTN_FAQ: &str = "faq";
/// Button id that starts registration.
pub const BTN_REGISTER: &str = "register";
/// Prefix of FAQ list row ids (`faq_1`, `faq_2`, ...).
pub const FAQ_ROW_PREFIX: &str = "faq_";

/// The prefix agents' messages carry on WhatsApp (the seed's format).
pub const AGENT_PREFIX: &str = "🎧 Support Team: ";
/// The default closing message when an agent ends a chat (the seed's).
pub const DEFAULT_CLOSING: &str = "Thank you for contacting support. Chat session ended.";
/// The acknowledgement of every message in a chat (the seed's text).
pub const CHAT_ACK: &str = "✓ Your message has been sent to support...";
/// The reply when the user ends the chat (the seed's text).
pub const USER_ENDED: &str = "Thanks for chatting! Chat support session ended...";

fn button(id: &str, title: &str) -> Button {
    Button {
        id: id.to_string(),
        title: title.to_string(),
    }
}

/// "💬 Chat Support".
pub fn chat_support_button() -> Button {
    button(BTN_CHAT_SUPPORT, "💬 Chat Support")
}

/// "❌ End Chat".
pub fn end_chat_button() -> Button {
    button(BTN_END_CHAT, "❌ End Chat")
}

/// "🏠 Main Menu".
pub fn main_menu_button() -> Button {
    button(BTN_MAIN_MENU, "🏠 Main Menu")
}

/// The normal menu buttons: Chat Support, FAQ, and Register for leads (3 at most, as WhatsApp
/// allows).
pub fn menu_buttons(is_student: bool) -> Vec<Button> {
    let mut b = vec![chat_support_button(), button(BTN_FAQ, "📚 FAQ")];
    if !is_student {
        b.push(button(BTN_REGISTER, "📝 Register"));
    }
    b
}

/// The seed's welcome when a chat starts, then the queue line (if any) as its last paragraph.
pub fn chat_welcome(name: &str, queue_line: Option<String>) -> Outgoing {
    let mut body = format!(
        "Hi {name}! 💬\n\n📞 Live Chat Support\n\nYou are now connected to our support team! 🎯\n\nPlease describe your issue and an admin will respond to you shortly.\n\nYou can continue chatting until you select 'End Chat' to return to the main menu."
    );
    if let Some(line) = queue_line {
        body.push_str("\n\n");
        body.push_str(&line);
    }
    Outgoing::Buttons {
        body,
        buttons: vec![end_chat_button()],
    }
}

/// The acknowledgement of a message sent during a chat (the seed's text, then the queue line
/// while no agent has answered), keeping the End Chat button.
pub fn chat_ack(queue_line: Option<String>) -> Outgoing {
    let body = match queue_line {
        Some(line) => format!("{CHAT_ACK}\n\n{line}"),
        None => CHAT_ACK.to_string(),
    };
    Outgoing::Buttons {
        body,
        buttons: vec![end_chat_button()],
    }
}

/// The default queue line (`{position}`, `{eta}`).
pub const DEFAULT_QUEUE_TEXT: &str =
    "⏳ You are number {position} in the queue. Estimated wait: {eta}.";
/// The default line outside business hours (`{back}`, `{position}`).
pub const DEFAULT_CLOSED_TEXT: &str = "🌙 Our support team is away right now and back {back}. Your chat stays open: you are number {position} in the queue and an agent will reply as soon as we're back.";
/// The default inactivity reminder.
pub const DEFAULT_INACTIVITY_REMIND: &str =
    "Are you still there? 👋 This chat will close soon if there is no new message.";
/// The default closing message of a chat ended for inactivity.
pub const DEFAULT_INACTIVITY_END: &str = "This chat was closed because there was no activity. Tap 💬 Chat Support whenever you need us again.";
/// Said when the user asks for the queue after an agent has answered.
pub const ALREADY_ANSWERED: &str =
    "An agent is already looking after your chat and will reply here. No need to wait in the queue. 🙂";

/// An estimated wait in words: "a few minutes" without enough data, else rounded
/// ("under a minute", "about 1 minute", "about 4 minutes", "about 2 hours").
pub fn eta_words(eta_ms: Option<i64>) -> String {
    let Some(ms) = eta_ms else {
        return "a few minutes".to_string();
    };
    let minutes = (ms + 30_000) / 60_000;
    if ms < 60_000 {
        "under a minute".to_string()
    } else if minutes < 60 {
        if minutes == 1 {
            "about 1 minute".to_string()
        } else {
            format!("about {minutes} minutes")
        }
    } else {
        let hours = (ms + 30 * 60_000) / 3_600_000;
        if hours == 1 {
            "about 1 hour".to_string()
        } else {
            format!("about {hours} hours")
        }
    }
}

/// Queue places are counted exactly up to here; further back the user reads "200+". Counting
/// a place is a range of an index as long as the queue ahead, done for each acknowledgement:
/// capped, the work per message stays bounded however long the queue grows (issue 15), and
/// past 200 people ahead the exact number tells the user nothing more.
pub const QUEUE_EXACT_UP_TO: u32 = 200;

/// A queue place as the user reads it: the number, or "200+" past [`QUEUE_EXACT_UP_TO`].
pub fn position_words(position: u32) -> String {
    if position > QUEUE_EXACT_UP_TO {
        format!("{QUEUE_EXACT_UP_TO}+")
    } else {
        position.to_string()
    }
}

/// The queue line from its template.
pub fn queue_line(template: &str, position: u32, eta_ms: Option<i64>) -> String {
    template
        .replace("{position}", &position_words(position))
        .replace("{eta}", &eta_words(eta_ms))
}

/// The closed-hours line from its template.
pub fn closed_line(template: &str, back: &str, position: u32) -> String {
    template
        .replace("{back}", back)
        .replace("{position}", &position_words(position))
}

/// The answer to "queue" / "position" during a chat.
pub fn queue_answer(line: Option<String>) -> Outgoing {
    Outgoing::Buttons {
        body: line.unwrap_or_else(|| ALREADY_ANSWERED.to_string()),
        buttons: vec![end_chat_button()],
    }
}

/// The answer to "queue" outside a chat.
pub fn not_in_queue(is_student: bool) -> Outgoing {
    Outgoing::Buttons {
        body: "You're not in the support queue right now. Tap 💬 Chat Support to start a chat."
            .to_string(),
        buttons: menu_buttons(is_student),
    }
}

/// The inactivity reminder, keeping the End Chat button.
pub fn inactivity_reminder(text: &str) -> Outgoing {
    Outgoing::Buttons {
        body: text.to_string(),
        buttons: vec![end_chat_button()],
    }
}

/// The closing message of a chat ended for inactivity, with the normal menu.
pub fn inactivity_end(text: &str, is_student: bool) -> Outgoing {
    Outgoing::Buttons {
        body: text.to_string(),
        buttons: menu_buttons(is_student),
    }
}

/// The reply when the user ends the chat, with the normal menu restored.
pub fn user_ended(is_student: bool) -> Outgoing {
    Outgoing::Buttons {
        body: USER_ENDED.to_string(),
        buttons: menu_buttons(is_student),
    }
}

/// The agent's closing message with the Main Menu button.
pub fn agent_closing(message: &str) -> Outgoing {
    Outgoing::Buttons {
        body: message.to_string(),
        buttons: vec![main_menu_button()],
    }
}

/// An agent's message as the user sees it.
pub fn agent_message(message: &str) -> Outgoing {
    Outgoing::Text {
        body: format!("{AGENT_PREFIX}{message}"),
    }
}

/// The main menu.
pub fn main_menu(name: &str, is_student: bool) -> Outgoing {
    let body = if is_student {
        format!("Hi {name}! 👋 How can we help you today?\n\nChoose an option below.")
    } else {
        format!(
            "Hi {name}! 👋 How can we help you today?\n\nChoose an option below. Students can register to get personalised help."
        )
    };
    Outgoing::Buttons {
        body,
        buttons: menu_buttons(is_student),
    }
}

/// Said when the user taps End Chat with no chat open.
pub fn no_active_chat(is_student: bool) -> Outgoing {
    Outgoing::Buttons {
        body:
            "You don't have an open chat with our support team. Tap 💬 Chat Support to start one."
                .to_string(),
        buttons: menu_buttons(is_student),
    }
}

/// Registration's question.
pub fn ask_name() -> Outgoing {
    Outgoing::Buttons {
        body: "📝 Registration\n\nPlease send your full name as it appears on your school records."
            .to_string(),
        buttons: vec![main_menu_button()],
    }
}

/// Registration's complaint about an unusable name.
pub fn bad_name() -> Outgoing {
    Outgoing::Buttons {
        body: "That doesn't look like a name. Please send your full name (letters, 2 to 80 characters), or tap Main Menu to cancel.".to_string(),
        buttons: vec![main_menu_button()],
    }
}

/// Registration's confirmation.
pub fn registered(name: &str) -> Outgoing {
    Outgoing::Buttons {
        body: format!("Thanks, {name}! ✅ You are now registered as a student."),
        buttons: menu_buttons(true),
    }
}

/// Said to a student who taps Register again.
pub fn already_registered(name: &str) -> Outgoing {
    Outgoing::Buttons {
        body: format!("You're already registered, {name}. ✅"),
        buttons: menu_buttons(true),
    }
}

/// The FAQ list's body, button label and empty-case text.
pub const FAQ_BODY: &str = "📚 Frequently asked questions\n\nPick a question to see the answer.";
/// The list's menu button label (≤ 20 characters).
pub const FAQ_BUTTON: &str = "View questions";
/// When no FAQ is configured.
pub const FAQ_EMPTY: &str = "There are no FAQ answers yet. Tap 💬 Chat Support to ask our team.";

/// An FAQ answer, with a way to a person or back.
pub fn faq_answer(answer: &str) -> Outgoing {
    Outgoing::Buttons {
        body: answer.to_string(),
        buttons: vec![
            chat_support_button(),
            button(BTN_FAQ, "📚 More FAQ"),
            main_menu_button(),
        ],
    }
}
