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

/// The seed's welcome when a chat starts.
pub fn chat_welcome(name: &str) -> Outgoing {
    Outgoing::Buttons {
        body: format!(
            "Hi {name}! 💬\n\n📞 Live Chat Support\n\nYou are now connected to our support team! 🎯\n\nPlease describe your issue and an admin will respond to you shortly.\n\nYou can continue chatting until you select 'End Chat' to return to the main menu."
        ),
        buttons: vec![end_chat_button()],
    }
}

/// The acknowledgement of a message sent during a chat, keeping the End Chat button.
pub fn chat_ack() -> Outgoing {
    Outgoing::Buttons {
        body: CHAT_ACK.to_string(),
        buttons: vec![end_chat_button()],
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
