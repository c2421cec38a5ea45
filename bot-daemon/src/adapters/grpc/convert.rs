//! Conversions from the store's domain records to the `chatsupport.v1` messages.

use proto::v1 as pb;

use crate::{
    desk::Priority,
    domain::{ContactKind, DeliveryStatus, Millis, Sender},
    storage::{
        AgentRecord, AuditRecord, CannedResponse, EventKind, MessageRecord, NoteRecord,
        StoredEvent, Summary,
    },
};

/// The earliest instant a protobuf `Timestamp` may hold: 0001-01-01T00:00:00Z, in unix ms.
pub const MIN_TIMESTAMP_MS: Millis = -62_135_596_800_000;
/// The latest: 9999-12-31T23:59:59.999Z, in unix ms.
pub const MAX_TIMESTAMP_MS: Millis = 253_402_300_799_999;

/// Unix milliseconds as a protobuf timestamp, clamped to the range protobuf allows (clients'
/// JSON decoders refuse a whole message over one out-of-range timestamp).
pub fn ts(ms: Millis) -> prost_types::Timestamp {
    let ms = ms.clamp(MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS);
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

fn sender(s: Sender) -> pb::Sender {
    match s {
        Sender::User => pb::Sender::User,
        Sender::Admin => pb::Sender::Admin,
        Sender::Bot => pb::Sender::Bot,
    }
}

fn status(s: DeliveryStatus) -> pb::DeliveryStatus {
    match s {
        DeliveryStatus::Received => pb::DeliveryStatus::Received,
        DeliveryStatus::Pending => pb::DeliveryStatus::Pending,
        DeliveryStatus::Sent => pb::DeliveryStatus::Sent,
        DeliveryStatus::Delivered => pb::DeliveryStatus::Delivered,
        DeliveryStatus::Read => pb::DeliveryStatus::Read,
        DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
    }
}

/// A conversation summary.
pub fn summary(s: &Summary) -> pb::ConversationSummary {
    pb::ConversationSummary {
        phone_number: s.phone.clone().unwrap_or_default(),
        display_name: s.display_name.clone(),
        kind: match s.kind {
            ContactKind::Lead => pb::ContactKind::Lead,
            ContactKind::Student => pb::ContactKind::Student,
        } as i32,
        state: s.state.as_str().to_string(),
        chat_active: s.chat_active,
        last_message: s.last_message.as_ref().map(|m| pb::LastMessage {
            text: m.text.clone(),
            sender: sender(m.sender) as i32,
            timestamp: Some(ts(m.timestamp)),
        }),
        message_count: s.message_count,
        chat_started_at: s.chat_started_at.map(ts),
        waiting_since: s.waiting_since.map(ts),
        unread_count: s.unread_count,
        user_id: s.user_id.clone().unwrap_or_default(),
        username: s.username.clone().unwrap_or_default(),
        chat_session_id: s.chat_session_id.unwrap_or(0),
        last_inbound_at: s.last_inbound_at.map(ts),
        first_response_at: s.first_response_at.map(ts),
        address: s.address(),
        assigned_agent: s.assigned_agent.clone().unwrap_or_default(),
        assigned_agent_id: s.assigned_agent_id.unwrap_or(0),
        priority: priority(s.priority) as i32,
    }
}

/// A message of a thread.
pub fn message(m: &MessageRecord) -> pb::ChatMessage {
    pb::ChatMessage {
        id: m.id,
        sender: sender(m.sender) as i32,
        text: m.text.clone(),
        timestamp: Some(ts(m.timestamp)),
        status: status(m.status) as i32,
        chat_session_id: m.session_id.unwrap_or(0),
        wa_message_id: m.wamid.clone().unwrap_or_default(),
        kind: m.kind.clone(),
        media_id: m.media_id.clone().unwrap_or_default(),
        error_code: m
            .error_code
            .unwrap_or(0)
            .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        error_message: m.error_message.clone().unwrap_or_default(),
        agent_name: m.agent_name.clone().unwrap_or_default(),
        agent_id: m.agent_id.unwrap_or(0),
    }
}

/// A priority.
pub fn priority(p: Priority) -> pb::Priority {
    match p {
        Priority::Low => pb::Priority::Low,
        Priority::Normal => pb::Priority::Normal,
        Priority::High => pb::Priority::High,
        Priority::Urgent => pb::Priority::Urgent,
    }
}

/// A priority from the wire; `None` for unspecified or unknown values.
pub fn priority_from(v: i32) -> Option<Priority> {
    match pb::Priority::try_from(v) {
        Ok(pb::Priority::Low) => Some(Priority::Low),
        Ok(pb::Priority::Normal) => Some(Priority::Normal),
        Ok(pb::Priority::High) => Some(Priority::High),
        Ok(pb::Priority::Urgent) => Some(Priority::Urgent),
        _ => None,
    }
}

/// An agent.
pub fn agent(a: &AgentRecord) -> pb::Agent {
    pb::Agent {
        id: a.id,
        name: a.name.clone(),
        display_name: a.display_name.clone(),
        enabled: a.enabled,
        available: a.available,
        created_at: Some(ts(a.created_at)),
        last_assigned_at: a.last_assigned_at.map(ts),
    }
}

/// A private note.
pub fn note(n: &NoteRecord) -> pb::Note {
    pb::Note {
        id: n.id,
        text: n.text.clone(),
        agent_name: n.agent_name.clone().unwrap_or_default(),
        agent_id: n.agent_id.unwrap_or(0),
        timestamp: Some(ts(n.created_at)),
        chat_session_id: n.session_id.unwrap_or(0),
    }
}

/// A canned response.
pub fn canned(c: &CannedResponse) -> pb::CannedResponse {
    pb::CannedResponse {
        shortcut: c.shortcut.clone(),
        body: c.body.clone(),
        updated_at: Some(ts(c.updated_at)),
    }
}

/// An audit row.
pub fn audit(a: &AuditRecord) -> pb::AuditEntry {
    pb::AuditEntry {
        id: a.id,
        at: Some(ts(a.at)),
        actor: a.actor.clone(),
        agent_name: a.agent_name.clone().unwrap_or_default(),
        agent_id: a.agent_id.unwrap_or(0),
        action: a.action.clone(),
        detail: a.detail.clone(),
    }
}

/// A logged event as a stream item.
pub fn event(e: &StoredEvent) -> pb::ChatEvent {
    use pb::chat_event::Event;
    let conv = e.summary.as_ref().map(summary);
    let inner = match &e.kind {
        EventKind::ChatStarted { session_id } => Event::ChatStarted(pb::ChatStarted {
            conversation: conv,
            chat_session_id: *session_id,
        }),
        EventKind::MessageAdded { message: m } => Event::MessageAdded(pb::MessageAdded {
            conversation: conv,
            message: Some(message(m)),
        }),
        EventKind::ChatEnded {
            session_id,
            ended_by,
            agent,
        } => Event::ChatEnded(pb::ChatEnded {
            conversation: conv,
            chat_session_id: *session_id,
            ended_by: ended_by.as_str().to_string(),
            ended_by_agent: agent.clone().unwrap_or_default(),
        }),
        EventKind::DeliveryStatusChanged {
            message_id,
            status: st,
            error_code,
            error_message,
        } => Event::DeliveryStatusChanged(pb::DeliveryStatusChanged {
            address: e.summary.as_ref().map(Summary::address).unwrap_or_default(),
            message_id: *message_id,
            status: status(*st) as i32,
            error_code: error_code
                .unwrap_or(0)
                .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            error_message: error_message.clone().unwrap_or_default(),
        }),
        EventKind::ContactUpdated => {
            Event::ContactUpdated(pb::ContactUpdated { conversation: conv })
        }
        EventKind::AssignmentChanged {
            agent,
            previous,
            action,
            by,
        } => Event::AssignmentChanged(pb::AssignmentChanged {
            conversation: conv,
            agent: agent.clone().unwrap_or_default(),
            previous_agent: previous.clone().unwrap_or_default(),
            action: action.clone(),
            by: by.clone(),
        }),
        EventKind::NoteAdded { note: n } => Event::NoteAdded(pb::NoteAdded {
            conversation: conv,
            note: Some(note(n)),
        }),
        EventKind::PriorityChanged { priority: p, by } => {
            Event::PriorityChanged(pb::PriorityChanged {
                conversation: conv,
                priority: priority(*p) as i32,
                by: by.clone(),
            })
        }
        EventKind::CsatRated {
            session_id,
            rating,
            agent,
        } => Event::CsatRated(pb::CsatRated {
            conversation: conv,
            chat_session_id: *session_id,
            rating: i32::from(*rating),
            agent: agent.clone().unwrap_or_default(),
        }),
        EventKind::CannedChanged {
            shortcut,
            body,
            updated_at,
        } => Event::CannedResponseChanged(pb::CannedResponseChanged {
            shortcut: shortcut.clone(),
            response: body.as_ref().map(|b| pb::CannedResponse {
                shortcut: shortcut.clone(),
                body: b.clone(),
                updated_at: Some(ts(*updated_at)),
            }),
            deleted: body.is_none(),
        }),
    };
    pb::ChatEvent {
        sequence: e.seq.max(0) as u64,
        timestamp: Some(ts(e.at)),
        event: Some(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_milliseconds_and_handle_negative_values() {
        let t = ts(1_767_262_500_123);
        assert_eq!((t.seconds, t.nanos), (1_767_262_500, 123_000_000));
        let t = ts(-1);
        assert_eq!((t.seconds, t.nanos), (-1, 999_000_000));
    }

    #[test]
    fn timestamps_outside_protobufs_range_are_clamped_to_it() {
        // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z are protobuf's bounds.
        let t = ts(Millis::MAX);
        assert_eq!((t.seconds, t.nanos), (253_402_300_799, 999_000_000));
        let t = ts(10_000_000_000_000_000);
        assert_eq!(t.seconds, 253_402_300_799);
        let t = ts(Millis::MIN);
        assert_eq!((t.seconds, t.nanos), (-62_135_596_800, 0));
    }
}
