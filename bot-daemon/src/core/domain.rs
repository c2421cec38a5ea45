//! Plain domain types shared by the state machine, the store, the webhook parser and the APIs:
//! conversation states, senders, delivery statuses, addresses, message content, where a
//! contact's satisfaction survey stands, and the [`Clock`] handle's type. Pure: no I/O.

use serde::{Deserialize, Serialize};

/// Unix time in milliseconds.
pub type Millis = i64;

/// Where the time comes from: the engine and the outbound sender read "now" only through one
/// (the daemon passes the system clock, tests a fixed or stepped one). The core never reads it.
pub type Clock = std::sync::Arc<dyn Fn() -> Millis + Send + Sync>;

/// Where a contact is in the bot's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Unknown contact or lead at the main menu.
    Idle,
    /// A registered student at the main menu.
    Registered,
    /// Talking to the support team: every message goes to the agents.
    ChatSupportActive,
    /// Browsing the FAQ list.
    Faq,
    /// Registration asked for the full name and waits for it.
    AwaitingName,
}

impl State {
    /// The stored and displayed name (`CHAT_SUPPORT_ACTIVE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Idle => "IDLE",
            State::Registered => "REGISTERED",
            State::ChatSupportActive => "CHAT_SUPPORT_ACTIVE",
            State::Faq => "FAQ",
            State::AwaitingName => "AWAITING_NAME",
        }
    }

    /// Parses a stored name; unknown names fall back to `IDLE` (the safe menu state).
    pub fn parse(s: &str) -> State {
        match s {
            "REGISTERED" => State::Registered,
            "CHAT_SUPPORT_ACTIVE" => State::ChatSupportActive,
            "FAQ" => State::Faq,
            "AWAITING_NAME" => State::AwaitingName,
            _ => State::Idle,
        }
    }
}

/// Student or lead, the seed's "type indicator".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    /// Not (yet) a registered student.
    Lead,
    /// Registered through the bot or imported by an operator.
    Student,
}

impl ContactKind {
    /// `lead` or `student`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Lead => "lead",
            ContactKind::Student => "student",
        }
    }

    /// Parses a stored name; anything but `student` is a lead.
    pub fn parse(s: &str) -> ContactKind {
        if s == "student" {
            ContactKind::Student
        } else {
            ContactKind::Lead
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    /// The WhatsApp user.
    User,
    /// A support agent.
    Admin,
    /// The bot's automatic replies.
    Bot,
}

impl Sender {
    /// `user`, `admin` or `bot`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::User => "user",
            Sender::Admin => "admin",
            Sender::Bot => "bot",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Sender {
        match s {
            "admin" => Sender::Admin,
            "bot" => Sender::Bot,
            _ => Sender::User,
        }
    }
}

/// Who ended a chat session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndedBy {
    /// The user (button or keyword).
    User,
    /// An agent through the API.
    Admin,
    /// The daemon itself.
    System,
}

impl EndedBy {
    /// `user`, `admin` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::User => "user",
            EndedBy::Admin => "admin",
            EndedBy::System => "system",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> EndedBy {
        match s {
            "admin" => EndedBy::Admin,
            "system" => EndedBy::System,
            _ => EndedBy::User,
        }
    }
}

/// A message's delivery status. Outbound statuses only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Inbound and stored.
    Received,
    /// In the outbox, not yet accepted by the Cloud API.
    Pending,
    /// Accepted by the Cloud API, or recorded by the sandbox.
    Sent,
    /// Delivered to the user's phone.
    Delivered,
    /// Read by the user.
    Read,
    /// Failed for good (terminal).
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Received => "received",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parses a stored or Cloud API name (`played` counts as read); `None` for anything else.
    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        Some(match s {
            "received" => DeliveryStatus::Received,
            "pending" => DeliveryStatus::Pending,
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" | "played" => DeliveryStatus::Read,
            "failed" => DeliveryStatus::Failed,
            _ => return None,
        })
    }

    /// Whether moving from `self` to `next` is progress: sent → delivered → read, and failed is
    /// terminal. Repeats and regressions are refused, so out-of-order statuses change nothing.
    pub fn can_advance_to(self, next: DeliveryStatus) -> bool {
        match self {
            DeliveryStatus::Failed | DeliveryStatus::Received => false,
            _ => next > self,
        }
    }
}

/// How a WhatsApp user is addressed: by phone number when known, else by business-scoped id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Address {
    /// Digits only, with country code, no `+`.
    Phone(String),
    /// A business-scoped user id such as `NG.1502576394655843`.
    UserId(String),
}

impl Address {
    /// The string agents and scripts use for this contact.
    pub fn as_str(&self) -> &str {
        match self {
            Address::Phone(p) => p,
            Address::UserId(u) => u,
        }
    }
}

/// Parses what an agent or script typed to name a contact: a phone number (`+234 801…`,
/// `234-801…`) or a BSUID (`NG.1502576394655843`).
///
/// # Errors
/// A reason naming what is wrong, for an `INVALID_ARGUMENT` answer.
pub fn parse_address(input: &str) -> Result<Address, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("phone_number is empty".into());
    }
    if looks_like_bsuid(s) {
        return Ok(Address::UserId(s.to_string()));
    }
    let mut digits = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => {
                return Err(format!(
                    "phone_number {s:?} is neither a phone number (digits, optional leading '+'), a WhatsApp user id (like NG.1502576394655843) nor a @username"
                ))
            }
        }
    }
    if !(7..=15).contains(&digits.len()) {
        return Err(format!(
            "phone_number {s:?} must have 7 to 15 digits (E.164), got {}",
            digits.len()
        ));
    }
    Ok(Address::Phone(digits))
}

/// How an agent or script names a contact: an [`Address`], or the WhatsApp username the
/// console shows (`@uche.k`), which the engine resolves to the contact's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    /// A phone number or BSUID.
    Address(Address),
    /// A username without its `@` (compared case-insensitively).
    Username(String),
}

/// Parses what an agent or script typed to name a contact: `@username`, or what
/// [`parse_address`] takes.
///
/// # Errors
/// A reason naming what is wrong, for an `INVALID_ARGUMENT` answer.
pub fn parse_contact(input: &str) -> Result<ContactRef, String> {
    let s = input.trim();
    let Some(name) = s.strip_prefix('@') else {
        return parse_address(s).map(ContactRef::Address);
    };
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(ContactRef::Username(name.to_string()))
    } else {
        Err(format!(
            "phone_number {s:?} is not a WhatsApp username (@ then letters, digits, '.', '_' or '-')"
        ))
    }
}

/// Whether `s` has the BSUID shape: two uppercase letters, a dot, then dot-separated
/// alphanumeric parts (`NG.123`, `US.ENT.118157992128868`), at most 160 characters.
pub fn looks_like_bsuid(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() >= 4
        && s.len() <= 160
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_uppercase()
        && b[2] == b'.'
        && s[3..]
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// A WhatsApp user's identity as Meta reports it: the business-scoped user id (BSUID) and/or
/// the phone number, plus names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The business-scoped user id (BSUID), from `messages[].from_user_id` or `contacts[].user_id`.
    pub user_id: Option<String>,
    /// The phone number, digits only, from `messages[].from` or `contacts[].wa_id`.
    pub phone: Option<String>,
    /// The WhatsApp username (`contacts[].profile.username`), for users who set one.
    pub username: Option<String>,
    /// The profile name (`contacts[].profile.name`).
    pub profile_name: Option<String>,
    /// The parent BSUID shared across portfolios (`contacts[].parent_user_id`).
    pub parent_user_id: Option<String>,
}

/// The kinds of media a user can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A photo.
    Image,
    /// An audio file or voice note.
    Audio,
    /// A video.
    Video,
    /// A document (PDF, ...).
    Document,
    /// A sticker.
    Sticker,
}

impl MediaKind {
    /// The Cloud API type name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

/// What a user sent, normalised from the Cloud API's message types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Content {
    /// A text message.
    Text(String),
    /// A reply-button tap (`interactive.button_reply`).
    Button {
        /// The button id we sent (`chat_support`, `end_chat`, ...).
        id: String,
        /// The title the user saw.
        title: String,
    },
    /// A list row pick (`interactive.list_reply`).
    ListReply {
        /// The row id we sent.
        id: String,
        /// The row title.
        title: String,
    },
    /// A template quick-reply tap (`button`).
    TemplateButton {
        /// The payload configured on the template.
        payload: String,
        /// The button text.
        text: String,
    },
    /// Image, audio, video, document or sticker.
    Media {
        /// Which media type.
        kind: MediaKind,
        /// The Cloud API media id.
        media_id: String,
        /// Caption, if any.
        caption: Option<String>,
        /// File name, for documents.
        filename: Option<String>,
        /// True for voice notes.
        voice: bool,
    },
    /// A shared location.
    Location {
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
        /// Place name.
        name: Option<String>,
        /// Address.
        address: Option<String>,
    },
    /// Shared contact cards (their formatted names).
    Contacts(Vec<String>),
    /// A reaction to a message; an empty emoji removes it.
    Reaction {
        /// The wamid reacted to.
        message_id: String,
        /// The emoji, empty when removed.
        emoji: String,
    },
    /// A type WhatsApp could not deliver to the API, or one this daemon does not know.
    Unsupported {
        /// The Cloud API type name.
        type_name: String,
    },
}

impl Content {
    /// The Cloud API type name this content came as.
    pub fn kind_str(&self) -> &str {
        match self {
            Content::Text(_) => "text",
            Content::Button { .. } | Content::ListReply { .. } => "interactive",
            Content::TemplateButton { .. } => "button",
            Content::Media { kind, .. } => kind.as_str(),
            Content::Location { .. } => "location",
            Content::Contacts(_) => "contacts",
            Content::Reaction { .. } => "reaction",
            Content::Unsupported { .. } => "unsupported",
        }
    }

    /// The text stored in the history and shown to agents: the text itself, the tapped button's
    /// title, or a readable placeholder such as `[image] caption` for everything else.
    pub fn display_text(&self) -> String {
        fn with_extra(tag: &str, extra: Option<&str>) -> String {
            match extra.map(str::trim).filter(|e| !e.is_empty()) {
                Some(e) => format!("{tag} {e}"),
                None => tag.to_string(),
            }
        }
        match self {
            Content::Text(t) => t.clone(),
            Content::Button { title, .. } | Content::ListReply { title, .. } => title.clone(),
            Content::TemplateButton { text, .. } => text.clone(),
            Content::Media {
                kind,
                caption,
                filename,
                voice,
                ..
            } => {
                let tag = if *voice {
                    "[voice note]".to_string()
                } else {
                    format!("[{}]", kind.as_str())
                };
                let extra = match (caption.as_deref(), filename.as_deref()) {
                    (Some(c), Some(f)) => Some(format!("{f}: {c}")),
                    (Some(c), None) => Some(c.to_string()),
                    (None, Some(f)) => Some(f.to_string()),
                    (None, None) => None,
                };
                with_extra(&tag, extra.as_deref())
            }
            Content::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                let place: Vec<&str> = [name.as_deref(), address.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.trim().is_empty())
                    .collect();
                let place = if place.is_empty() {
                    String::new()
                } else {
                    format!("{} ", place.join(", "))
                };
                format!("[location] {place}({latitude}, {longitude})")
            }
            Content::Contacts(names) => with_extra("[contacts]", Some(&names.join(", "))),
            Content::Reaction { emoji, .. } => {
                if emoji.is_empty() {
                    "[reaction removed]".to_string()
                } else {
                    format!("[reaction] {emoji}")
                }
            }
            Content::Unsupported { type_name } => {
                if type_name == "unsupported" {
                    "[unsupported message]".to_string()
                } else {
                    format!("[unsupported message: {type_name}]")
                }
            }
        }
    }

    /// The media id, for media messages.
    pub fn media_id(&self) -> Option<&str> {
        match self {
            Content::Media { media_id, .. } => Some(media_id),
            _ => None,
        }
    }
}

/// Where the contact's latest survey stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyStage {
    /// Asked, no rating yet.
    AwaitingRating,
    /// Rated; the next text is the comment.
    AwaitingComment,
    /// Finished with a rating.
    Rated,
    /// Closed without a rating (timed out or superseded by a new chat).
    Closed,
}

impl SurveyStage {
    /// Still waiting for an answer.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            SurveyStage::AwaitingRating | SurveyStage::AwaitingComment
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise_to_digits_or_bsuid() {
        assert_eq!(
            parse_address("+234 801-234-5678"),
            Ok(Address::Phone("2348012345678".into()))
        );
        assert_eq!(
            parse_address("2348012345678"),
            Ok(Address::Phone("2348012345678".into()))
        );
        assert_eq!(
            parse_address("NG.1502576394655843"),
            Ok(Address::UserId("NG.1502576394655843".into()))
        );
        assert_eq!(
            parse_address("US.ENT.118157992128868"),
            Ok(Address::UserId("US.ENT.118157992128868".into()))
        );
        assert!(parse_address("234abc5678").is_err());
        assert!(parse_address("123456789012345678901234567890").is_err());
        assert!(parse_address("   ").is_err());
        assert!(parse_address("12+345678").is_err());
    }

    #[test]
    fn a_contact_is_named_by_phone_bsuid_or_username() {
        assert_eq!(
            parse_contact(" @Uche.K "),
            Ok(ContactRef::Username("Uche.K".into()))
        );
        assert_eq!(
            parse_contact("+234 801 234 5678"),
            Ok(ContactRef::Address(Address::Phone("2348012345678".into())))
        );
        assert_eq!(
            parse_contact("NG.1502576394655843"),
            Ok(ContactRef::Address(Address::UserId(
                "NG.1502576394655843".into()
            )))
        );
        for bad in ["@", "@two words", "@semi;colon"] {
            let e = parse_contact(bad).unwrap_err();
            assert!(e.contains("username"), "{bad}: {e}");
        }
        assert!(parse_contact("uche").unwrap_err().contains("@username"));
    }

    #[test]
    fn status_moves_only_forward() {
        use DeliveryStatus::*;
        assert!(Pending.can_advance_to(Sent));
        assert!(Sent.can_advance_to(Delivered));
        assert!(Sent.can_advance_to(Read));
        assert!(Delivered.can_advance_to(Failed));
        assert!(!Read.can_advance_to(Delivered));
        assert!(!Delivered.can_advance_to(Delivered));
        assert!(!Failed.can_advance_to(Read));
    }

    #[test]
    fn placeholders_are_readable() {
        let img = Content::Media {
            kind: MediaKind::Image,
            media_id: "1".into(),
            caption: Some("this is the error".into()),
            filename: None,
            voice: false,
        };
        assert_eq!(img.display_text(), "[image] this is the error");
        let voice = Content::Media {
            kind: MediaKind::Audio,
            media_id: "2".into(),
            caption: None,
            filename: None,
            voice: true,
        };
        assert_eq!(voice.display_text(), "[voice note]");
        let loc = Content::Location {
            latitude: 6.5,
            longitude: 3.4,
            name: Some("School".into()),
            address: None,
        };
        assert_eq!(loc.display_text(), "[location] School (6.5, 3.4)");
        let r = Content::Reaction {
            message_id: "w".into(),
            emoji: String::new(),
        };
        assert_eq!(r.display_text(), "[reaction removed]");
    }
}
