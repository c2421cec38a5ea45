//! What the admin commands print, shared by every command file: [`Output`] (a JSON document or
//! lines for people, emitted through [`emit`]), times in both forms, one-line text, and the
//! JSON of the messages several commands return (summaries, messages, notes, audit entries). Pure, except
//! [`Output::emit`].

use proto::{v1 as pb, words};
use serde_json::{json, Value};

use crate::cli_output::{emit, CliError};

/// What a command prints: one JSON document (`--json`) or lines for people.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    /// One JSON document on one line.
    Json(Value),
    /// Lines of text (none prints nothing).
    Lines(Vec<String>),
}

impl Output {
    /// One line of text.
    pub(crate) fn line(s: impl Into<String>) -> Output {
        Output::Lines(vec![s.into()])
    }

    /// Exactly what [`Output::emit`] writes to stdout.
    #[cfg(test)]
    pub(crate) fn text(&self) -> String {
        match self {
            Output::Json(v) => format!("{v}\n"),
            Output::Lines(lines) => lines.iter().map(|l| format!("{l}\n")).collect(),
        }
    }

    /// Prints it, a line at a time.
    ///
    /// # Errors
    /// See [`emit`].
    pub(crate) fn emit(&self) -> Result<(), CliError> {
        match self {
            Output::Json(v) => emit(v),
            Output::Lines(lines) => lines.iter().try_for_each(emit),
        }
    }
}

/// A timestamp as `YYYY-MM-DD HH:MM:SS` (UTC), empty when unset.
pub(crate) fn ts(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A timestamp for `--json`: RFC 3339 in UTC (`2026-12-01T09:30:00Z`, with fractional seconds
/// only when there are any), `null` when unset.
pub(crate) fn ts_json(t: &Option<prost_types::Timestamp>) -> Value {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map_or(Value::Null, |d| {
            Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        })
}

/// `s` on one line (control characters as spaces), at most `max` characters (`…` when cut).
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        format!(
            "{}…",
            flat.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    } else {
        flat
    }
}

/// A summary as JSON (the `ConversationSummary` fields).
pub(crate) fn summary_json(s: &pb::ConversationSummary) -> Value {
    json!({
        "phone_number": s.phone_number, "display_name": s.display_name, "kind": words::contact_kind(s.kind),
        "state": s.state, "chat_active": s.chat_active,
        "last_message": s.last_message.as_ref().map(|m| json!({"text": m.text, "sender": words::sender(m.sender), "timestamp": ts_json(&m.timestamp)})),
        "message_count": s.message_count, "chat_started_at": ts_json(&s.chat_started_at),
        "waiting_since": ts_json(&s.waiting_since), "unread_count": s.unread_count,
        "user_id": s.user_id, "username": s.username, "chat_session_id": s.chat_session_id,
        "last_inbound_at": ts_json(&s.last_inbound_at), "address": s.address,
        "assigned_agent": s.assigned_agent, "assigned_agent_id": s.assigned_agent_id,
        "priority": words::priority(s.priority), "first_response_at": ts_json(&s.first_response_at),
    })
}

/// A message as JSON (the `ChatMessage` fields).
pub(crate) fn message_json(m: &pb::ChatMessage) -> Value {
    json!({
        "id": m.id, "sender": words::sender(m.sender), "text": m.text, "timestamp": ts_json(&m.timestamp),
        "status": words::delivery_status(m.status), "chat_session_id": m.chat_session_id,
        "wa_message_id": m.wa_message_id, "kind": m.kind, "media_id": m.media_id,
        "error_code": m.error_code, "error_message": m.error_message,
        "agent_name": m.agent_name, "agent_id": m.agent_id,
    })
}

/// A private note as JSON (the `Note` fields).
pub(crate) fn note_json(n: &pb::Note) -> Value {
    json!({"id": n.id, "text": n.text, "agent_name": n.agent_name, "agent_id": n.agent_id,
           "timestamp": ts_json(&n.timestamp), "chat_session_id": n.chat_session_id})
}

/// An audit (activity) entry as JSON: the `AuditEntry` fields.
pub(crate) fn audit_json(e: &pb::AuditEntry) -> Value {
    json!({"id": e.id, "at": ts_json(&e.at), "actor": e.actor, "agent_name": e.agent_name,
           "agent_id": e.agent_id, "action": e.action, "detail": e.detail})
}

#[cfg(test)]
pub(crate) fn at(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_times_are_rfc3339_utc_or_null() {
        assert_eq!(ts_json(&at(1_793_491_200, 0)), "2026-11-01T00:00:00Z");
        assert_eq!(
            ts_json(&at(1_793_491_200, 250_000_000)),
            "2026-11-01T00:00:00.250Z"
        );
        assert_eq!(ts_json(&None), Value::Null);
        // People still get the short form.
        assert_eq!(ts(&at(1_793_491_200, 0)), "2026-11-01 00:00:00");
        assert_eq!(ts(&None), "");
    }

    #[test]
    fn json_keys_are_the_grpc_field_names() {
        let s = pb::ConversationSummary {
            address: "2348012345678".into(),
            assigned_agent: "ada".into(),
            assigned_agent_id: 7,
            chat_started_at: at(1_793_491_200, 0),
            priority: pb::Priority::Urgent as i32,
            ..Default::default()
        };
        let j = summary_json(&s);
        assert_eq!(j["assigned_agent_id"], 7);
        assert_eq!(j["priority"], "urgent");
        assert_eq!(j["chat_started_at"], "2026-11-01T00:00:00Z");
        assert_eq!(j["first_response_at"], Value::Null);
        let m = message_json(&pb::ChatMessage {
            agent_name: "ada".into(),
            agent_id: 7,
            sender: pb::Sender::Admin as i32,
            ..Default::default()
        });
        assert_eq!(
            (&m["agent_name"], &m["agent_id"]),
            (&json!("ada"), &json!(7))
        );
        assert_eq!(m["sender"], "admin");
    }

    #[test]
    fn lines_and_json_print_as_they_will_on_stdout() {
        assert_eq!(Output::Lines(vec!["a".into(), "b".into()]).text(), "a\nb\n");
        assert_eq!(Output::Lines(vec![]).text(), "");
        assert_eq!(Output::Json(json!({"k": 1})).text(), "{\"k\":1}\n");
        assert_eq!(one_line("Ada\nOkafor", 20), "Ada Okafor");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
