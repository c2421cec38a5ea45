//! Intent matching on user text: the seed's support keywords (whole words or phrases anywhere in
//! the text) and end-chat keywords (the whole message, ignoring case, spaces and punctuation).

/// Phrases that ask for a person, matched as whole words anywhere in the message.
pub const SUPPORT_PHRASES: &[&str] = &[
    "support",
    "chat",
    "help me",
    "agent",
    "human",
    "talk to someone",
];

/// Whole messages that end a chat.
pub const END_PHRASES: &[&str] = &["end chat", "close", "done", "quit chat", "exit"];

/// Lower-cased words of `text`: runs of letters and digits (apostrophes inside words kept).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || (c == '\'' || c == '’') && !cur.is_empty() {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether the words of `phrase` appear consecutively among `words`.
fn contains_phrase(words: &[String], phrase: &str) -> bool {
    let needle: Vec<&str> = phrase.split(' ').collect();
    !needle.is_empty()
        && words.len() >= needle.len()
        && words
            .windows(needle.len())
            .any(|w| w.iter().zip(&needle).all(|(a, b)| a == b))
}

/// True when the text asks for live support ("support", "I need a human", "talk to someone").
/// "chatting" or "supported" do not count: whole words only.
pub fn is_support_request(text: &str) -> bool {
    let w = words(text);
    SUPPORT_PHRASES.iter().any(|p| contains_phrase(&w, p))
}

/// The message reduced to its words joined by single spaces, for whole-message matching.
pub fn normalized(text: &str) -> String {
    words(text).join(" ")
}

/// True when the whole message is an end-chat keyword ("Done!", "❌ End Chat", " EXIT ").
/// "I'm done uploading but it failed" is not.
pub fn is_end_request(text: &str) -> bool {
    let n = normalized(text);
    END_PHRASES.contains(&n.as_str())
}

/// True when the whole message asks for the menu ("menu", "main menu", "hi", "hello", "start").
pub fn is_menu_request(text: &str) -> bool {
    matches!(
        normalized(text).as_str(),
        "menu" | "main menu" | "hi" | "hello" | "hey" | "start"
    )
}

/// True when the whole message asks where the user stands in the queue ("queue", "Position?",
/// "my position", "where am I in the queue").
pub fn is_queue_request(text: &str) -> bool {
    matches!(
        normalized(text).as_str(),
        "queue"
            | "position"
            | "queue position"
            | "my position"
            | "position in queue"
            | "position in the queue"
            | "where am i in the queue"
            | "wait time"
    )
}

/// True when the whole message cancels what the bot asked for.
pub fn is_cancel(text: &str) -> bool {
    matches!(normalized(text).as_str(), "cancel" | "stop" | "back")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_keywords_match_whole_words_case_insensitively() {
        for t in [
            "support",
            "SUPPORT please",
            "Chat Support",
            "💬 Chat Support",
            "can I chat?",
            "please help me",
            "Help Me!!",
            "I want an agent",
            "Are you human?",
            "I need to talk to someone",
            "Hi, I want to talk to someone about my fees",
        ] {
            assert!(is_support_request(t), "{t:?} should start a chat");
        }
    }

    #[test]
    fn support_keywords_do_not_match_inside_words_or_split_phrases() {
        for t in [
            "chatting with friends",
            "is this supported",
            "helpful",
            "help",
            "agency",
            "humanities homework",
            "talk to me someone",
            "",
            "   ",
        ] {
            assert!(!is_support_request(t), "{t:?} should not start a chat");
        }
    }

    #[test]
    fn end_keywords_match_the_whole_message_only() {
        for t in [
            "end chat",
            "End Chat",
            "❌ End Chat",
            "close",
            "Done!",
            "  done. ",
            "quit chat",
            "EXIT",
        ] {
            assert!(is_end_request(t), "{t:?} should end the chat");
        }
        for t in [
            "I'm done uploading but it failed",
            "done with question 1, now question 2",
            "please close my account",
            "end",
            "chat",
            "exit exam date?",
        ] {
            assert!(!is_end_request(t), "{t:?} must not end the chat");
        }
    }

    #[test]
    fn queue_words_match_the_whole_message_only() {
        for t in [
            "queue",
            "Queue?",
            "POSITION",
            "my position",
            "Where am I in the queue?",
        ] {
            assert!(is_queue_request(t), "{t:?}");
        }
        for t in ["queue for exams", "what position is the teacher", ""] {
            assert!(!is_queue_request(t), "{t:?}");
        }
    }

    #[test]
    fn menu_and_cancel_words() {
        assert!(is_menu_request("Menu"));
        assert!(is_menu_request("🏠 Main Menu"));
        assert!(is_menu_request("hello!"));
        assert!(!is_menu_request("hello, my fees are wrong"));
        assert!(is_cancel("Cancel"));
        assert!(!is_cancel("cancel my exam"));
    }
}
