//! `bot-daemon admin watch`: chat events as they happen, one line each (a JSON document per
//! line with `--json`), flushed as they arrive; the stream ends when the daemon goes away or the
//! reader of stdout does.

use proto::{client::Client, v1 as pb, words};
use serde_json::{json, Value};

use super::output::{message_json, note_json, one_line, summary_json, ts, ts_json, Output};
use crate::cli_output::CliError;

/// `admin watch`: prints each event after `after` until the stream ends.
pub(crate) async fn watch(c: &mut Client, after: u64, json: bool) -> Result<(), CliError> {
    let mut stream = c
        .watch_chats(pb::WatchChatsRequest {
            after_sequence: after,
        })
        .await
        .map_err(CliError::from_status)?
        .into_inner();
    while let Some(e) = stream.message().await.map_err(CliError::from_status)? {
        render_event(&e, json).emit()?;
    }
    Ok(())
}

/// One event: a line for people, or [`event_json`].
pub(crate) fn render_event(e: &pb::ChatEvent, json: bool) -> Output {
    if json {
        Output::Json(event_json(e))
    } else {
        Output::line(event_line(e))
    }
}

/// An event as one JSON line: `sequence`, `timestamp`, `type` (the name of the `ChatEvent`
/// oneof member) and that member's fields under its own name, e.g. `"message_added": {…}`.
fn event_json(e: &pb::ChatEvent) -> Value {
    use pb::chat_event::Event;
    let conv = |c: &Option<pb::ConversationSummary>| c.as_ref().map(summary_json);
    let (kind, body) = match &e.event {
        Some(Event::Snapshot(s)) => (
            "snapshot",
            json!({"active_chats": s.active_chats.iter().map(summary_json).collect::<Vec<_>>()}),
        ),
        Some(Event::ChatStarted(c)) => (
            "chat_started",
            json!({"conversation": conv(&c.conversation), "chat_session_id": c.chat_session_id}),
        ),
        Some(Event::MessageAdded(m)) => (
            "message_added",
            json!({"conversation": conv(&m.conversation), "message": m.message.as_ref().map(message_json)}),
        ),
        Some(Event::ChatEnded(c)) => (
            "chat_ended",
            json!({"conversation": conv(&c.conversation), "chat_session_id": c.chat_session_id,
                   "ended_by": c.ended_by, "ended_by_agent": c.ended_by_agent}),
        ),
        Some(Event::DeliveryStatusChanged(d)) => (
            "delivery_status_changed",
            json!({"address": d.address, "message_id": d.message_id, "status": words::delivery_status(d.status), "error_code": d.error_code, "error_message": d.error_message}),
        ),
        Some(Event::ContactUpdated(c)) => (
            "contact_updated",
            json!({"conversation": conv(&c.conversation)}),
        ),
        Some(Event::AssignmentChanged(a)) => (
            "assignment_changed",
            json!({"conversation": conv(&a.conversation), "agent": a.agent,
                   "previous_agent": a.previous_agent, "action": a.action, "by": a.by}),
        ),
        Some(Event::NoteAdded(n)) => (
            "note_added",
            json!({"conversation": conv(&n.conversation), "note": n.note.as_ref().map(note_json)}),
        ),
        Some(Event::PriorityChanged(p)) => (
            "priority_changed",
            json!({"conversation": conv(&p.conversation), "priority": words::priority(p.priority), "by": p.by}),
        ),
        Some(Event::CsatRated(c)) => (
            "csat_rated",
            json!({"conversation": c.conversation.as_ref().map(summary_json), "chat_session_id": c.chat_session_id,
                   "rating": c.rating, "agent": c.agent}),
        ),
        Some(Event::CannedResponseChanged(c)) => (
            "canned_response_changed",
            json!({"shortcut": c.shortcut, "deleted": c.deleted,
                   "body": c.response.as_ref().map(|r| r.body.clone())}),
        ),
        None => ("unknown", Value::Null),
    };
    let mut out = json!({"sequence": e.sequence, "timestamp": ts_json(&e.timestamp), "type": kind});
    out[kind] = body;
    out
}

fn event_line(e: &pb::ChatEvent) -> String {
    use pb::chat_event::Event;
    let who = |c: &Option<pb::ConversationSummary>| {
        c.as_ref()
            .map(|c| format!("{} ({})", c.display_name, c.address))
            .unwrap_or_default()
    };
    let what = match &e.event {
        Some(Event::Snapshot(s)) => format!("snapshot: {} active chat(s)", s.active_chats.len()),
        Some(Event::ChatStarted(c)) => format!("chat started   {}", who(&c.conversation)),
        Some(Event::MessageAdded(m)) => {
            let (s, t) = m
                .message
                .as_ref()
                .map(|m| (words::sender(m.sender), one_line(&m.text, 60)))
                .unwrap_or(("?", String::new()));
            format!("message        {} {s}: {t}", who(&m.conversation))
        }
        Some(Event::ChatEnded(c)) => {
            format!("chat ended     {} by {}", who(&c.conversation), c.ended_by)
        }
        Some(Event::DeliveryStatusChanged(d)) => format!(
            "status         {} message {} → {}",
            d.address,
            d.message_id,
            words::delivery_status(d.status)
        ),
        Some(Event::ContactUpdated(c)) => format!("contact        {}", who(&c.conversation)),
        Some(Event::AssignmentChanged(a)) => format!(
            "assignment     {} {} → {} by {}",
            who(&a.conversation),
            a.action,
            if a.agent.is_empty() {
                "nobody"
            } else {
                &a.agent
            },
            a.by
        ),
        Some(Event::NoteAdded(n)) => {
            let (by, t) = n
                .note
                .as_ref()
                .map(|n| (n.agent_name.clone(), one_line(&n.text, 60)))
                .unwrap_or_default();
            format!("note           {} {by}: {t}", who(&n.conversation))
        }
        Some(Event::PriorityChanged(p)) => format!(
            "priority       {} → {} by {}",
            who(&p.conversation),
            words::priority(p.priority),
            p.by
        ),
        Some(Event::CsatRated(c)) => format!(
            "csat           {} rated {}/5 (agent {})",
            who(&c.conversation),
            c.rating,
            if c.agent.is_empty() { "none" } else { &c.agent }
        ),
        Some(Event::CannedResponseChanged(c)) if c.deleted => {
            format!("canned         /{} deleted", c.shortcut)
        }
        Some(Event::CannedResponseChanged(c)) => format!("canned         /{} saved", c.shortcut),
        None => "?".into(),
    };
    format!("#{:<6} {} {what}", e.sequence, ts(&e.timestamp))
}

#[cfg(test)]
mod tests {
    use super::super::output::at;
    use super::*;

    fn ada() -> pb::ConversationSummary {
        pb::ConversationSummary {
            address: "2348012345678".into(),
            display_name: "Ada".into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_event_is_one_line_for_people() {
        let e = |event| pb::ChatEvent {
            sequence: 12,
            timestamp: at(1_793_491_200, 0),
            event: Some(event),
        };
        let added = e(pb::chat_event::Event::MessageAdded(pb::MessageAdded {
            conversation: Some(ada()),
            message: Some(pb::ChatMessage {
                sender: pb::Sender::User as i32,
                text: "I can't upload\nmy homework".into(),
                ..Default::default()
            }),
        }));
        assert_eq!(
            render_event(&added, false).text(),
            "#12     2026-11-01 00:00:00 message        Ada (2348012345678) user: I can't upload my homework\n"
        );
        let status = e(pb::chat_event::Event::DeliveryStatusChanged(
            pb::DeliveryStatusChanged {
                address: "2348012345678".into(),
                message_id: 9,
                status: pb::DeliveryStatus::Delivered as i32,
                ..Default::default()
            },
        ));
        assert_eq!(
            render_event(&status, false).text(),
            "#12     2026-11-01 00:00:00 status         2348012345678 message 9 → delivered\n"
        );
        let assigned = e(pb::chat_event::Event::AssignmentChanged(
            pb::AssignmentChanged {
                conversation: Some(ada()),
                action: "unassigned".into(),
                by: "operator".into(),
                ..Default::default()
            },
        ));
        assert_eq!(
            render_event(&assigned, false).text(),
            "#12     2026-11-01 00:00:00 assignment     Ada (2348012345678) unassigned → nobody by operator\n"
        );
    }

    #[test]
    fn an_event_as_json_names_its_type_and_nests_its_fields_under_it() {
        let e = pb::ChatEvent {
            sequence: 12,
            timestamp: at(1_793_491_200, 0),
            event: Some(pb::chat_event::Event::ChatEnded(pb::ChatEnded {
                conversation: Some(ada()),
                chat_session_id: 3,
                ended_by: "admin".into(),
                ended_by_agent: "ada".into(),
            })),
        };
        let j = match render_event(&e, true) {
            Output::Json(j) => j,
            other => panic!("{other:?}"),
        };
        assert_eq!(j["type"], "chat_ended");
        assert_eq!(j["sequence"], 12);
        assert_eq!(j["chat_ended"]["ended_by_agent"], "ada");
        assert_eq!(j["chat_ended"]["conversation"]["address"], "2348012345678");
        assert_eq!(j["timestamp"], "2026-11-01T00:00:00Z");
        assert_eq!(
            render_event(&e, false).text(),
            "#12     2026-11-01 00:00:00 chat ended     Ada (2348012345678) by admin\n"
        );
    }
}
