//! The shared desk (issue 8): who is calling (an agent or the operator), a chat's priority,
//! the list's assignment filters, agent tokens (random, stored as SHA-256), canned-response
//! placeholders, urgent keywords, and the desk's settings. Pure: no I/O.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A chat's priority; active chats are listed highest first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Priority {
    /// Can wait.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Raised by an agent, or automatically by an urgent keyword.
    High,
    /// Only set by an agent.
    Urgent,
}

impl Priority {
    /// The stored value (0 low .. 3 urgent); anything else reads as normal.
    pub fn from_i64(v: i64) -> Priority {
        match v {
            0 => Priority::Low,
            2 => Priority::High,
            3 => Priority::Urgent,
            _ => Priority::Normal,
        }
    }

    /// The stored value.
    pub fn as_i64(self) -> i64 {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }

    /// `low`, `normal`, `high`, `urgent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// The inverse of [`Priority::as_str`] (case-insensitive).
    pub fn parse(s: &str) -> Option<Priority> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
}

/// Whose chats a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AssignmentFilter {
    /// Everyone's.
    #[default]
    All,
    /// Nobody's.
    Unassigned,
    /// This agent's.
    Agent(i64),
}

/// An agent, as a call is attributed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRef {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// The first name users may see.
    pub display_name: String,
}

/// Who made a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The admin token: the operator, a superuser with no agent identity (stored as NULL).
    Operator,
    /// A named agent.
    Agent(AgentRef),
}

impl Caller {
    /// The agent's id; `None` for the operator.
    pub fn agent_id(&self) -> Option<i64> {
        match self {
            Caller::Operator => None,
            Caller::Agent(a) => Some(a.id),
        }
    }

    /// The agent, if any.
    pub fn agent(&self) -> Option<&AgentRef> {
        match self {
            Caller::Operator => None,
            Caller::Agent(a) => Some(a),
        }
    }

    /// `agent` or `operator`, as the audit trail records it.
    pub fn actor(&self) -> &'static str {
        match self {
            Caller::Operator => "operator",
            Caller::Agent(_) => "agent",
        }
    }

    /// The agent's name, or `operator`.
    pub fn label(&self) -> String {
        match self {
            Caller::Operator => "operator".into(),
            Caller::Agent(a) => a.name.clone(),
        }
    }
}

/// The desk's settings (`[support]` in the config file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskSettings {
    /// Agents' messages reach WhatsApp as "🎧 {first name}: …" instead of "🎧 Support Team: …".
    #[serde(default)]
    pub show_agent_name: bool,
    /// Words or phrases (whole words, case-insensitive) that raise a chat to high priority.
    #[serde(default)]
    pub urgent_keywords: Vec<String>,
    /// New chats go to the available agent who was assigned least recently.
    #[serde(default)]
    pub round_robin: bool,
    /// The bot keeps acknowledging a user's chat messages ("✓ Your message has been sent to
    /// support…") after an agent has replied in the chat; by default it stops then.
    #[serde(default)]
    pub ack_after_agent_reply: bool,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `text` contains one of `keywords` as whole words (a phrase matches as consecutive
/// words), ignoring case and punctuation.
pub fn has_urgent_keyword(text: &str, keywords: &[String]) -> bool {
    let text = words(text);
    keywords.iter().any(|k| {
        let k = words(k);
        !k.is_empty() && text.windows(k.len()).any(|w| w == k.as_slice())
    })
}

/// A canned response's body with `{name}` (the contact) and `{agent}` (the agent's first name)
/// filled in.
pub fn expand(body: &str, name: &str, agent: &str) -> String {
    body.replace("{name}", name).replace("{agent}", agent)
}

/// The first word of a display name (what users see with `show_agent_name`).
pub fn first_name(display_name: &str) -> &str {
    display_name
        .split_whitespace()
        .next()
        .unwrap_or(display_name)
}

/// A new agent token: 32 random bytes, hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("csa_{}", hex::encode(bytes))
}

/// What is stored of a token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// Checks a canned response's shortcut: 1–32 letters, digits, `-` or `_`.
///
/// # Errors
/// A message saying what is wrong.
pub fn validate_shortcut(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().count() > 32 {
        return Err("shortcut must be 1 to 32 characters".into());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "shortcut {s:?} may only hold letters, digits, '-' and '_'"
        ));
    }
    Ok(())
}

/// Checks an agent's login name: 1–40 letters, digits, `.`, `-` or `_`.
///
/// # Errors
/// A message saying what is wrong.
pub fn validate_agent_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().count() > 40 {
        return Err("agent name must be 1 to 40 characters".into());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "agent name {s:?} may only hold letters, digits, '.', '-' and '_'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgent_keywords_match_whole_words_ignoring_case() {
        let k = vec!["exam".to_string(), "due today".to_string()];
        assert!(has_urgent_keyword("My EXAM is tomorrow!", &k));
        assert!(has_urgent_keyword("it's due today, help", &k));
        assert!(!has_urgent_keyword("I passed the examination", &k));
        assert!(!has_urgent_keyword("due tomorrow today", &k));
        assert!(!has_urgent_keyword("anything", &[String::new()]));
    }

    #[test]
    fn placeholders_expand_and_priorities_round_trip() {
        assert_eq!(
            expand("Hi {name}, {agent} here. {other}", "Ada", "Bola"),
            "Hi Ada, Bola here. {other}"
        );
        for p in [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ] {
            assert_eq!(Priority::from_i64(p.as_i64()), p);
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        assert_eq!(first_name("Ada Lovelace"), "Ada");
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&format!(" {a}\n")));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert!(validate_shortcut("hello-1").is_ok());
        assert!(validate_shortcut("no spaces").is_err());
        assert!(validate_agent_name("ada.o").is_ok());
        assert!(validate_agent_name("").is_err());
    }
}
