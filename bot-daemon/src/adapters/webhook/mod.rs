//! WhatsApp Cloud API webhook deliveries: verifying their signature ([`signature`]) and parsing
//! their JSON body into plain values ([`parse`] → [`Delivery`]).
//!
//! This module owns the Cloud API's inbound wire format (`object` → `entry[]` → `changes[]` →
//! `value` with `contacts[]`, `messages[]` and `statuses[]`, including the 2026 business-scoped
//! user ids and usernames) and nothing else: no I/O, no clock, no state. The HTTP layer verifies
//! the signature over the raw bytes, calls [`parse`], and hands the [`Delivery`] on.
//!
//! Parsing is tolerant of what Meta may add (unknown fields, unknown message types, unknown status
//! names, changes for other fields) and strict about what the daemon needs (message ids, senders,
//! timestamps, the content of known types): a malformed item fails the whole body with a
//! [`ParseError`] that names the path, e.g. `entry[0].changes[1].value.messages[2]: missing "id"`.

pub mod signature;

pub use signature::{sign, verify_signature, SignatureError};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::{looks_like_bsuid, Content, DeliveryStatus, MediaKind, Millis};

/// The only top-level `object` this parser accepts.
const OBJECT: &str = "whatsapp_business_account";

/// The path used for problems with the top-level object itself.
const TOP: &str = "(top level)";

/// Why a webhook body could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is not UTF-8 or not JSON; holds serde_json's message (with line and column).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The top-level `object` is not `whatsapp_business_account`; holds what was found.
    #[error("top-level \"object\" must be \"whatsapp_business_account\", got {0}")]
    WrongObject(String),
    /// JSON of the wrong shape: a required field missing or empty, a wrong type, a bad value.
    #[error("{path}: {reason}")]
    Invalid {
        /// Where, e.g. `entry[0].changes[1].value.messages[2]`.
        path: String,
        /// What is wrong there, e.g. `missing "id"`.
        reason: String,
    },
}

pub use crate::inbound::{
    CloudError, Delivery, IdentityChange, InboundMessage, StatusUpdate, UserRef,
};

// ---------------------------------------------------------------------------------------------
// Wire structs. Every field is optional and defaulted, so extra or missing fields never fail
// deserialization; requirements are checked afterwards with path-naming errors. Type-specific
// payloads are only decoded for the message's own type, so junk under other keys is ignored.

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireContact {
    wa_id: Option<String>,
    user_id: Option<String>,
    parent_user_id: Option<String>,
    profile: Option<WireProfile>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireProfile {
    name: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireMessage {
    id: Option<String>,
    from: Option<String>,
    from_user_id: Option<String>,
    /// A string of digits as Meta sends it, or a JSON number.
    timestamp: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireText {
    body: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireInteractive {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireReply {
    id: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireTemplateButton {
    payload: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireMedia {
    id: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    voice: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireLocation {
    latitude: Option<Value>,
    longitude: Option<Value>,
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireSharedContact {
    name: Option<WireName>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireName {
    formatted_name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireReaction {
    message_id: Option<String>,
    emoji: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireSystem {
    body: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    wa_id: Option<String>,
    new_wa_id: Option<String>,
    user_id: Option<String>,
    new_user_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireStatus {
    id: Option<String>,
    status: Option<String>,
    timestamp: Option<Value>,
    recipient_id: Option<String>,
    recipient_user_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireError {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
    error_data: Option<WireErrorData>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireErrorData {
    details: Option<String>,
}

/// A `value.contacts[]` entry, normalised.
struct Contact {
    phone: Option<String>,
    user_id: Option<String>,
    parent_user_id: Option<String>,
    username: Option<String>,
    name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The parser.

/// Keeps only what is addressed to the business number `own` (or says nothing of its number):
/// a shared app can deliver another number's messages and statuses. Returns how many messages
/// were dropped.
pub fn keep_own_number(d: &mut Delivery, own: &str) -> usize {
    let before = d.messages.len();
    d.messages
        .retain(|m| m.phone_number_id.as_deref().is_none_or(|id| id == own));
    let other = before - d.messages.len();
    // Statuses of another number's messages are not ours either (and would only pile up as
    // statuses for unknown messages).
    d.statuses
        .retain(|s| s.phone_number_id.as_deref().is_none_or(|id| id == own));
    other
}

/// Parses a webhook body (the exact bytes Meta POSTed; verify the signature first).
///
/// Changes whose `field` is not `messages` are skipped, as are statuses with a status name this
/// daemon does not know; unknown message types become [`Content::Unsupported`].
///
/// # Errors
/// [`ParseError::InvalidJson`] for bytes that are not UTF-8 JSON, [`ParseError::WrongObject`] when
/// `object` is not `whatsapp_business_account`, and [`ParseError::Invalid`] (with the path) for a
/// missing `entry`, a message without an id, sender, timestamp or content, and the like.
pub fn parse(body: &[u8]) -> Result<Delivery, ParseError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ParseError::InvalidJson(format!("body is not valid UTF-8: {e}")))?;
    let root: Value =
        serde_json::from_str(text).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    if !root.is_object() {
        return Err(invalid(
            TOP,
            format!("expected a JSON object, got {}", kind_of(&root)),
        ));
    }
    match root.get("object") {
        Some(Value::String(s)) if s == OBJECT => {}
        None => return Err(ParseError::WrongObject("nothing (it is missing)".into())),
        Some(other) => return Err(ParseError::WrongObject(show(other))),
    }
    let entries = match root.get("entry") {
        Some(Value::Array(entries)) => entries,
        None => return Err(invalid(TOP, "missing \"entry\"")),
        Some(other) => {
            return Err(invalid(
                "entry",
                format!("expected an array, got {}", kind_of(other)),
            ))
        }
    };

    let mut out = Delivery::default();
    for (i, entry) in entries.iter().enumerate() {
        let entry_path = format!("entry[{i}]");
        expect_object(entry, &entry_path)?;
        for (j, change) in optional_array(entry, "changes", &entry_path)?
            .iter()
            .enumerate()
        {
            let change_path = format!("{entry_path}.changes[{j}]");
            expect_object(change, &change_path)?;
            if change.get("field").and_then(Value::as_str) != Some("messages") {
                continue;
            }
            let value = change
                .get("value")
                .ok_or_else(|| invalid(&change_path, "missing \"value\""))?;
            parse_value(value, &format!("{change_path}.value"), &mut out)?;
        }
    }
    Ok(out)
}

/// One `changes[].value` of field `messages`.
fn parse_value(value: &Value, path: &str, out: &mut Delivery) -> Result<(), ParseError> {
    expect_object(value, path)?;
    let phone_number_id = value
        .get("metadata")
        .and_then(|m| m.get("phone_number_id"))
        .and_then(|id| match id {
            Value::String(s) => present(Some(s.clone())),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });

    let mut contacts = Vec::new();
    for (k, contact) in optional_array(value, "contacts", path)?.iter().enumerate() {
        contacts.push(parse_contact(contact, &format!("{path}.contacts[{k}]"))?);
    }

    for (k, message) in optional_array(value, "messages", path)?.iter().enumerate() {
        let message_path = format!("{path}.messages[{k}]");
        parse_message(
            message,
            &message_path,
            &contacts,
            phone_number_id.as_deref(),
            out,
        )?;
    }

    for (k, status) in optional_array(value, "statuses", path)?.iter().enumerate() {
        let status_path = format!("{path}.statuses[{k}]");
        if let Some(mut update) = parse_status(status, &status_path, &contacts)? {
            update.phone_number_id.clone_from(&phone_number_id);
            out.statuses.push(update);
        }
    }
    Ok(())
}

fn parse_contact(contact: &Value, path: &str) -> Result<Contact, ParseError> {
    let wire: WireContact = decode(contact, path)?;
    let profile = wire.profile.unwrap_or_default();
    Ok(Contact {
        phone: optional_phone(wire.wa_id, &format!("{path}.wa_id"))?,
        user_id: present(wire.user_id),
        parent_user_id: present(wire.parent_user_id),
        username: present(profile.username),
        name: present(profile.name),
    })
}

fn parse_message(
    message: &Value,
    path: &str,
    contacts: &[Contact],
    phone_number_id: Option<&str>,
    out: &mut Delivery,
) -> Result<(), ParseError> {
    let wire: WireMessage = decode(message, path)?;
    let wamid = required(wire.id, path, "id")?;
    let timestamp_ms = timestamp_ms(wire.timestamp.as_ref(), path)?;
    let kind = required(wire.kind, path, "type")?;
    let from_phone = optional_phone(wire.from, &format!("{path}.from"))?;
    let from_user_id = present(wire.from_user_id);

    if kind == "system" {
        let system_path = format!("{path}.system");
        let system: WireSystem = decode(payload(message, "system", path)?, &system_path)?;
        let new_wa_id = present(system.wa_id).or(present(system.new_wa_id));
        out.identity_changes.push(IdentityChange {
            wamid,
            timestamp_ms,
            kind: present(system.kind).unwrap_or_else(|| "unknown".into()),
            old_phone: from_phone,
            new_phone: optional_phone(new_wa_id, &format!("{system_path}.wa_id"))?,
            old_user_id: from_user_id,
            new_user_id: present(system.user_id).or(present(system.new_user_id)),
            body: system.body.unwrap_or_default(),
        });
        return Ok(());
    }

    let user = resolve_sender(from_phone, from_user_id, contacts, path)?;
    let content = parse_content(message, &kind, path)?;
    let context_wamid = message
        .get("context")
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
        .map(str::to_owned);
    out.messages.push(InboundMessage {
        wamid,
        user,
        timestamp_ms,
        content,
        context_wamid,
        phone_number_id: phone_number_id.map(str::to_owned),
    });
    Ok(())
}

/// Combines the message's own sender fields with the matching `contacts[]` entry: the one with
/// the same `user_id` or `wa_id`, else the change's only contact unless it contradicts them.
fn resolve_sender(
    phone: Option<String>,
    user_id: Option<String>,
    contacts: &[Contact],
    path: &str,
) -> Result<UserRef, ParseError> {
    let matches = |c: &&Contact| {
        (user_id.is_some() && c.user_id == user_id) || (phone.is_some() && c.phone == phone)
    };
    let contradicts = |c: &Contact| {
        let differs =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        differs(&c.phone, &phone) || differs(&c.user_id, &user_id)
    };
    let contact = contacts.iter().find(matches).or(match contacts {
        [only] if !contradicts(only) => Some(only),
        _ => None,
    });
    let user = UserRef {
        user_id: user_id.or_else(|| contact.and_then(|c| c.user_id.clone())),
        phone: phone.or_else(|| contact.and_then(|c| c.phone.clone())),
        username: contact.and_then(|c| c.username.clone()),
        profile_name: contact.and_then(|c| c.name.clone()),
        parent_user_id: contact.and_then(|c| c.parent_user_id.clone()),
    };
    if user.user_id.is_none() && user.phone.is_none() {
        return Err(invalid(
            path,
            "message has no sender: no \"from\" or \"from_user_id\", and no contacts[] entry with a \"wa_id\" or \"user_id\"",
        ));
    }
    Ok(user)
}

/// The message's content from the payload named after its `type`.
fn parse_content(message: &Value, kind: &str, path: &str) -> Result<Content, ParseError> {
    let sub = format!("{path}.{kind}");
    let media = |media_kind: MediaKind| -> Result<Content, ParseError> {
        let wire: WireMedia = decode(payload(message, kind, path)?, &sub)?;
        Ok(Content::Media {
            kind: media_kind,
            media_id: required(wire.id, &sub, "id")?,
            caption: present(wire.caption),
            filename: present(wire.filename),
            voice: media_kind == MediaKind::Audio && wire.voice == Some(true),
        })
    };
    Ok(match kind {
        "text" => {
            let wire: WireText = decode(payload(message, "text", path)?, &sub)?;
            Content::Text(wire.body.ok_or_else(|| invalid(&sub, "missing \"body\""))?)
        }
        "interactive" => {
            let interactive = payload(message, "interactive", path)?;
            let wire: WireInteractive = decode(interactive, &sub)?;
            let reply_kind = required(wire.kind, &sub, "type")?;
            match reply_kind.as_str() {
                "button_reply" | "list_reply" => {
                    let reply_path = format!("{sub}.{reply_kind}");
                    let reply: WireReply =
                        decode(payload(interactive, &reply_kind, &sub)?, &reply_path)?;
                    let id = required(reply.id, &reply_path, "id")?;
                    let title = reply.title.unwrap_or_default();
                    if reply_kind == "button_reply" {
                        Content::Button { id, title }
                    } else {
                        Content::ListReply { id, title }
                    }
                }
                other => Content::Unsupported {
                    type_name: format!("interactive.{other}"),
                },
            }
        }
        "button" => {
            let wire: WireTemplateButton = decode(payload(message, "button", path)?, &sub)?;
            Content::TemplateButton {
                payload: wire.payload.unwrap_or_default(),
                text: wire.text.unwrap_or_default(),
            }
        }
        "image" => media(MediaKind::Image)?,
        "audio" => media(MediaKind::Audio)?,
        "video" => media(MediaKind::Video)?,
        "document" => media(MediaKind::Document)?,
        "sticker" => media(MediaKind::Sticker)?,
        "location" => {
            let wire: WireLocation = decode(payload(message, "location", path)?, &sub)?;
            Content::Location {
                latitude: coordinate(wire.latitude.as_ref(), &sub, "latitude")?,
                longitude: coordinate(wire.longitude.as_ref(), &sub, "longitude")?,
                name: present(wire.name),
                address: present(wire.address),
            }
        }
        "contacts" => {
            let cards = match payload(message, "contacts", path)? {
                Value::Array(cards) => cards,
                other => {
                    return Err(invalid(
                        &sub,
                        format!("expected an array, got {}", kind_of(other)),
                    ))
                }
            };
            let mut names = Vec::with_capacity(cards.len());
            for (n, card) in cards.iter().enumerate() {
                let wire: WireSharedContact = decode(card, &format!("{sub}[{n}]"))?;
                let name = wire.name.unwrap_or_default();
                let full = present(name.formatted_name).or_else(|| {
                    let parts: Vec<String> = [name.first_name, name.last_name]
                        .into_iter()
                        .filter_map(present)
                        .collect();
                    (!parts.is_empty()).then(|| parts.join(" "))
                });
                names.extend(full);
            }
            Content::Contacts(names)
        }
        "reaction" => {
            let wire: WireReaction = decode(payload(message, "reaction", path)?, &sub)?;
            Content::Reaction {
                message_id: required(wire.message_id, &sub, "message_id")?,
                emoji: wire.emoji.unwrap_or_default(),
            }
        }
        other => Content::Unsupported {
            type_name: other.to_string(),
        },
    })
}

/// One `statuses[]` item; `None` for status names the daemon does not track.
fn parse_status(
    item: &Value,
    path: &str,
    contacts: &[Contact],
) -> Result<Option<StatusUpdate>, ParseError> {
    let wire: WireStatus = decode(item, path)?;
    let name = required(wire.status, path, "status")?;
    // Only the Cloud API's names; `received`/`pending` are the store's own states.
    let status = match DeliveryStatus::parse(&name) {
        Some(
            s @ (DeliveryStatus::Sent
            | DeliveryStatus::Delivered
            | DeliveryStatus::Read
            | DeliveryStatus::Failed),
        ) => s,
        _ => return Ok(None),
    };
    let wamid = required(wire.id, path, "id")?;
    let timestamp_ms = timestamp_ms(wire.timestamp.as_ref(), path)?;

    let mut recipient_user_id = present(wire.recipient_user_id);
    let mut recipient_phone = None;
    if let Some(recipient) = present(wire.recipient_id) {
        if looks_like_bsuid(&recipient) {
            recipient_user_id.get_or_insert(recipient);
        } else {
            recipient_phone = Some(phone_digits(&recipient, &format!("{path}.recipient_id"))?);
        }
    }
    // Fill the other half of the identity from the matching contact, when there is one.
    if let Some(contact) = contacts.iter().find(|c| {
        (recipient_phone.is_some() && c.phone == recipient_phone)
            || (recipient_user_id.is_some() && c.user_id == recipient_user_id)
    }) {
        recipient_phone = recipient_phone.or_else(|| contact.phone.clone());
        recipient_user_id = recipient_user_id.or_else(|| contact.user_id.clone());
    }

    let error = match optional_array(item, "errors", path)?.first() {
        None => None,
        Some(first) => {
            let error_path = format!("{path}.errors[0]");
            let wire: WireError = decode(first, &error_path)?;
            Some(CloudError {
                code: wire
                    .code
                    .ok_or_else(|| invalid(&error_path, "missing \"code\""))?,
                title: wire.title.unwrap_or_default(),
                message: wire.message.unwrap_or_default(),
                details: wire.error_data.and_then(|d| present(d.details)),
            })
        }
    };

    Ok(Some(StatusUpdate {
        wamid,
        status,
        timestamp_ms,
        recipient_phone,
        recipient_user_id,
        error,
        phone_number_id: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn invalid(path: &str, reason: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Decodes a wire struct; on a type error, names the offending field in the path.
fn decode<T: DeserializeOwned>(value: &Value, path: &str) -> Result<T, ParseError> {
    let Some(object) = value.as_object() else {
        return Err(invalid(
            path,
            format!("expected an object, got {}", kind_of(value)),
        ));
    };
    T::deserialize(value).map_err(|e| {
        // All wire fields are optional, so a field fails alone exactly when its type is wrong.
        let culprit = object.iter().find(|(key, field)| {
            let mut single = Map::new();
            single.insert((*key).clone(), (*field).clone());
            T::deserialize(&Value::Object(single)).is_err()
        });
        match culprit {
            Some((key, _)) => invalid(&format!("{path}.{key}"), e.to_string()),
            None => invalid(path, e.to_string()),
        }
    })
}

fn expect_object(value: &Value, path: &str) -> Result<(), ParseError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(invalid(
            path,
            format!("expected an object, got {}", kind_of(value)),
        ))
    }
}

/// `parent[key]` as a slice: empty when absent or null, an error when not an array.
fn optional_array<'a>(parent: &'a Value, key: &str, path: &str) -> Result<&'a [Value], ParseError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(invalid(
            &format!("{path}.{key}"),
            format!("expected an array, got {}", kind_of(other)),
        )),
    }
}

/// The type-specific payload `parent[key]`, required.
fn payload<'a>(parent: &'a Value, key: &str, path: &str) -> Result<&'a Value, ParseError> {
    match parent.get(key) {
        Some(value) if !value.is_null() => Ok(value),
        _ => Err(invalid(path, format!("missing \"{key}\""))),
    }
}

/// A string that is present and not blank.
fn present(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.trim().is_empty())
}

fn required(value: Option<String>, path: &str, key: &str) -> Result<String, ParseError> {
    match value {
        None => Err(invalid(path, format!("missing \"{key}\""))),
        Some(s) if s.trim().is_empty() => Err(invalid(path, format!("\"{key}\" is empty"))),
        Some(s) => Ok(s),
    }
}

/// A phone number as digits only: a leading `+` is dropped, anything else but digits refused.
fn phone_digits(raw: &str, path: &str) -> Result<String, ParseError> {
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            path,
            format!("not a phone number (digits, optional leading '+'): {raw:?}"),
        ));
    }
    Ok(digits.to_string())
}

fn optional_phone(raw: Option<String>, path: &str) -> Result<Option<String>, ParseError> {
    present(raw).map(|p| phone_digits(&p, path)).transpose()
}

/// Meta's `timestamp` (unix seconds, a string of digits or a JSON integer) in milliseconds.
/// Values too large for milliseconds saturate; whether a time is plausible is the engine's call
/// (it knows the receive time), not the parser's.
fn timestamp_ms(value: Option<&Value>, path: &str) -> Result<Millis, ParseError> {
    let seconds = match value {
        None | Some(Value::Null) => return Err(invalid(path, "missing \"timestamp\"")),
        // Digits only, so a failed parse is an overflow.
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.parse::<i64>().unwrap_or(i64::MAX))
        }
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|s| *s >= 0)
            .or_else(|| n.as_u64().map(|_| i64::MAX)),
        Some(_) => None,
    };
    seconds.map(|s| s.saturating_mul(1000)).ok_or_else(|| {
        invalid(
            &format!("{path}.timestamp"),
            format!(
                "expected unix seconds (digits, as a string or an integer), got {}",
                value.map_or_else(String::new, show)
            ),
        )
    })
}

/// A latitude or longitude: a JSON number (or a numeric string), finite.
fn coordinate(value: Option<&Value>, path: &str, key: &str) -> Result<f64, ParseError> {
    let number = match value {
        None | Some(Value::Null) => return Err(invalid(path, format!("missing \"{key}\""))),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    number.filter(|n| n.is_finite()).ok_or_else(|| {
        invalid(
            &format!("{path}.{key}"),
            format!(
                "expected a number, got {}",
                value.map_or_else(String::new, show)
            ),
        )
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a value for error messages: strings and numbers as JSON, else the kind.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() <= 60 => format!("{s:?}"),
        Value::String(s) => format!("{:?}…", s.chars().take(60).collect::<String>()),
        Value::Number(_) | Value::Bool(_) | Value::Null => value.to_string(),
        Value::Array(_) | Value::Object(_) => kind_of(value).to_string(),
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
