//! `bot-daemon admin list|show|send|end|read`: the conversations and their threads. Each
//! command is a call and a pure `render_*` of its answer (the table or lines people read, or
//! the JSON of the gRPC fields for scripts).

use proto::{client::Client, v1 as pb, words};
use serde_json::{json, Value};

use super::output::{
    audit_json, message_json, note_json, one_line, summary_json, ts, ts_json, Output,
};
use crate::cli_output::CliError;

/// `admin list`'s flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListFlags {
    pub(crate) active: bool,
    pub(crate) query: Option<String>,
    pub(crate) page_size: u32,
    pub(crate) page_token: Option<String>,
    pub(crate) mine: bool,
    pub(crate) unassigned: bool,
}

/// `admin list`.
pub(crate) async fn list(c: &mut Client, f: &ListFlags, json: bool) -> Result<Output, CliError> {
    let r = c
        .list_conversations(pb::ListConversationsRequest {
            active_only: f.active,
            page_size: f.page_size,
            page_token: f.page_token.clone().unwrap_or_default(),
            query: f.query.clone().unwrap_or_default(),
            assignment: words::assignment_from_flags(f.mine, f.unassigned) as i32,
        })
        .await
        .map_err(CliError::from_status)?
        .into_inner();
    Ok(render_list(&r, json))
}

/// `admin list`'s answer: the table (a header, a row per chat, the next page's flag), or
/// `{conversations, next_page_token}`.
pub(crate) fn render_list(r: &pb::ListConversationsResponse, json: bool) -> Output {
    if json {
        return Output::Json(
            json!({"conversations": r.conversations.iter().map(summary_json).collect::<Vec<_>>(), "next_page_token": r.next_page_token}),
        );
    }
    let mut out = vec![format!(
        "{:<22} {:<20} {:<7} {:<19} {:<19} {:>6}  {:<12} {:<8} LAST MESSAGE",
        "ADDRESS", "NAME", "KIND", "STATE", "WAITING SINCE", "UNREAD", "AGENT", "PRIORITY"
    )];
    for c in &r.conversations {
        let last = c
            .last_message
            .as_ref()
            .map(|m| format!("{}: {}", words::sender(m.sender), one_line(&m.text, 40)))
            .unwrap_or_default();
        out.push(format!(
            "{:<22} {:<20} {:<7} {:<19} {:<19} {:>6}  {:<12} {:<8} {last}",
            one_line(&c.address, 22),
            one_line(&c.display_name, 20),
            words::contact_kind(c.kind),
            c.state,
            ts(&c.waiting_since),
            c.unread_count,
            one_line(&c.assigned_agent, 12),
            words::priority(c.priority)
        ));
    }
    if !r.next_page_token.is_empty() {
        out.push(format!("(more: --page-token {})", r.next_page_token));
    }
    Output::Lines(out)
}

/// `admin show`.
pub(crate) async fn show(
    c: &mut Client,
    phone_number: &str,
    page_size: u32,
    before: i64,
    json: bool,
) -> Result<Output, CliError> {
    let r = c
        .get_conversation(pb::GetConversationRequest {
            phone_number: phone_number.to_string(),
            page_size,
            before,
        })
        .await
        .map_err(CliError::from_status)?
        .into_inner();
    Ok(render_show(&r, json))
}

/// A survey answer as JSON (the `CsatAnswer` fields; `rating` is `null` until rated).
fn csat_json(c: &pb::CsatAnswer) -> Value {
    json!({"chat_session_id": c.chat_session_id, "rating": (c.rating > 0).then_some(c.rating),
           "comment": c.comment, "asked_at": ts_json(&c.asked_at), "rated_at": ts_json(&c.rated_at),
           "open": c.open})
}

/// `admin show --json`: the `Conversation` fields.
fn conversation_json(r: &pb::Conversation) -> Value {
    json!({
        "summary": r.summary.as_ref().map(summary_json),
        "messages": r.messages.iter().map(message_json).collect::<Vec<_>>(),
        "next_before": r.next_before,
        "notes": r.notes.iter().map(note_json).collect::<Vec<_>>(),
        "csat": r.csat.iter().map(csat_json).collect::<Vec<_>>(),
        "activity": r.activity.iter().map(audit_json).collect::<Vec<_>>(),
    })
}

/// `admin show`'s answer: the header, survey answers, then the thread in time order —
/// messages, notes, activity and ratings — one line each, or the `Conversation` as JSON.
pub(crate) fn render_show(r: &pb::Conversation, json: bool) -> Output {
    if json {
        return Output::Json(conversation_json(r));
    }
    let mut out = Vec::new();
    if let Some(s) = &r.summary {
        out.push(format!(
            "{} ({}) · {} · {}{}",
            s.display_name,
            s.address,
            words::contact_kind(s.kind),
            s.state,
            if s.chat_active { " · chat active" } else { "" }
        ));
    }
    for c in &r.csat {
        let rating = match c.rating {
            0 if c.open => "survey open, not rated yet".to_string(),
            0 => "survey closed without a rating".to_string(),
            n => format!("rated {n}/5"),
        };
        let comment = if c.comment.is_empty() {
            String::new()
        } else {
            format!(": {:?}", c.comment)
        };
        out.push(format!(
            "CSAT chat #{} {rating}{comment}",
            c.chat_session_id
        ));
    }
    if r.next_before != 0 {
        out.push(format!("(older: --before {})", r.next_before));
    }
    // One thread in time order: the messages in their order (commit order: a user's message
    // carries WhatsApp's whole-second time), each note, activity entry and rating just before
    // the first message written after it.
    let key = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| (t.seconds, t.nanos));
    let mut others: Vec<(Option<(i64, i32)>, String)> = Vec::new();
    for n in &r.notes {
        let by = if n.agent_name.is_empty() {
            "operator"
        } else {
            &n.agent_name
        };
        others.push((
            key(&n.timestamp),
            format!("{} 📝 note by {by}: {}", ts(&n.timestamp), n.text),
        ));
    }
    for a in &r.activity {
        let who = proto::activity::actor(&a.agent_name, &a.actor);
        let line = proto::activity::describe(&who, &a.action, &a.detail);
        others.push((key(&a.at), format!("{} · {line}", ts(&a.at))));
    }
    for c in r.csat.iter().filter(|c| c.rating > 0) {
        let line = proto::activity::rated(c.rating, &c.comment);
        others.push((key(&c.rated_at), format!("{} · {line}", ts(&c.rated_at))));
    }
    // Stable: at the same time notes come before activity, as they were pushed. Undated last.
    others.sort_by_key(|(at, _)| (at.is_none(), *at));
    let mut others = others.into_iter().peekable();
    for m in &r.messages {
        let at = key(&m.timestamp);
        while let Some((_, line)) =
            others.next_if(|(t, _)| matches!((t, at), (Some(t), Some(m)) if *t < m))
        {
            out.push(line);
        }
        let err = if m.error_message.is_empty() {
            String::new()
        } else {
            format!(" ({}: {})", m.error_code, m.error_message)
        };
        let by = if m.agent_name.is_empty() {
            String::new()
        } else {
            format!(" ({})", m.agent_name)
        };
        out.push(format!(
            "{} {:>5}{by} [{}] {}{err}",
            ts(&m.timestamp),
            words::sender(m.sender),
            words::delivery_status(m.status),
            m.text
        ));
    }
    out.extend(others.map(|(_, line)| line));
    Output::Lines(out)
}

/// `admin send`.
pub(crate) async fn send(
    c: &mut Client,
    phone_number: &str,
    message: &str,
    idempotency_key: Option<&str>,
    takeover: bool,
    json: bool,
) -> Result<Output, CliError> {
    let r = c
        .send_message(pb::SendMessageRequest {
            phone_number: phone_number.to_string(),
            message: message.to_string(),
            idempotency_key: idempotency_key.unwrap_or_default().to_string(),
            takeover,
        })
        .await
        .map_err(CliError::from_status)?
        .into_inner();
    Ok(render_send(&r, json))
}

/// `admin send`'s answer: when and under which id it was sent, and the template sent instead
/// outside WhatsApp's 24-hour window.
pub(crate) fn render_send(r: &pb::SendMessageResponse, json: bool) -> Output {
    if json {
        return Output::Json(
            json!({"phone_number": r.phone_number, "message_sent": r.message_sent, "timestamp": ts_json(&r.timestamp), "message_id": r.message_id, "template_used": r.template_used, "chat_started": r.chat_started, "chat_session_id": r.chat_session_id}),
        );
    }
    let mut out = vec![format!(
        "sent to {} at {} (message {})",
        r.phone_number,
        ts(&r.timestamp),
        r.message_id
    )];
    if r.chat_started {
        out.push(format!(
            "opened chat session {}: {} was not in a chat, so their answer now comes to the desk",
            r.chat_session_id, r.phone_number
        ));
    }
    if !r.template_used.is_empty() {
        out.push(format!(
            "note: outside WhatsApp's 24-hour window, so the approved template {:?} was sent instead of your text",
            r.template_used
        ));
    }
    Output::Lines(out)
}

/// `admin end`.
pub(crate) async fn end(
    c: &mut Client,
    phone_number: &str,
    message: Option<&str>,
    silent: bool,
    takeover: bool,
    json: bool,
) -> Result<Output, CliError> {
    let r = c
        .end_chat(pb::EndChatRequest {
            phone_number: phone_number.to_string(),
            message: message.unwrap_or_default().to_string(),
            skip_closing_message: silent,
            takeover,
        })
        .await
        .map_err(CliError::from_status)?
        .into_inner();
    Ok(render_end(&r, json))
}

/// `admin end`'s answer.
pub(crate) fn render_end(r: &pb::EndChatResponse, json: bool) -> Output {
    if json {
        return Output::Json(
            json!({"phone_number": r.phone_number, "session_ended": ts_json(&r.session_ended), "template_used": r.template_used}),
        );
    }
    Output::line(format!(
        "chat with {} ended at {}",
        r.phone_number,
        ts(&r.session_ended)
    ))
}

/// `admin read`.
pub(crate) async fn read(
    c: &mut Client,
    phone_number: &str,
    json: bool,
) -> Result<Output, CliError> {
    let r = c
        .mark_read(pb::MarkReadRequest {
            phone_number: phone_number.to_string(),
        })
        .await
        .map_err(CliError::from_status)?
        .into_inner();
    Ok(render_read(&r, json))
}

/// `admin read`'s answer.
pub(crate) fn render_read(r: &pb::MarkReadResponse, json: bool) -> Output {
    if json {
        return Output::Json(json!({"phone_number": r.phone_number, "marked": r.marked}));
    }
    Output::line(if r.marked {
        format!("marked {}'s messages read", r.phone_number)
    } else {
        format!("nothing new to mark read for {}", r.phone_number)
    })
}

#[cfg(test)]
mod tests {
    use super::super::output::at;
    use super::*;

    const T: i64 = 1_793_491_200; // 2026-11-01 00:00:00 UTC

    #[test]
    fn the_list_table_has_a_header_a_row_per_chat_and_the_next_page() {
        let r = pb::ListConversationsResponse {
            conversations: vec![pb::ConversationSummary {
                address: "2348012345678".into(),
                display_name: "Ada\nOkafor".into(),
                kind: pb::ContactKind::Student as i32,
                state: "chat".into(),
                waiting_since: at(T, 0),
                unread_count: 2,
                assigned_agent: "bola".into(),
                priority: pb::Priority::High as i32,
                last_message: Some(pb::LastMessage {
                    text: "I can't upload\nmy homework".into(),
                    sender: pb::Sender::User as i32,
                    timestamp: at(T, 0),
                }),
                ..Default::default()
            }],
            next_page_token: "abc".into(),
        };
        assert_eq!(
            render_list(&r, false).text(),
            "ADDRESS                NAME                 KIND    STATE               WAITING SINCE       UNREAD  AGENT        PRIORITY LAST MESSAGE\n\
             2348012345678          Ada Okafor           student chat                2026-11-01 00:00:00      2  bola         high     user: I can't upload my homework\n\
             (more: --page-token abc)\n"
        );
        let j = match render_list(&r, true) {
            Output::Json(j) => j,
            other => panic!("{other:?}"),
        };
        assert_eq!(j["next_page_token"], "abc");
        assert_eq!(j["conversations"][0]["kind"], "student");
        assert_eq!(
            j["conversations"][0]["waiting_since"],
            "2026-11-01T00:00:00Z"
        );
    }

    #[test]
    fn show_prints_the_header_surveys_and_the_thread_in_time_order() {
        let r = pb::Conversation {
            summary: Some(pb::ConversationSummary {
                address: "2348012345678".into(),
                display_name: "Ada".into(),
                state: "chat".into(),
                chat_active: true,
                ..Default::default()
            }),
            messages: vec![
                pb::ChatMessage {
                    id: 1,
                    sender: pb::Sender::User as i32,
                    text: "hello".into(),
                    timestamp: at(T, 0),
                    status: pb::DeliveryStatus::Received as i32,
                    ..Default::default()
                },
                pb::ChatMessage {
                    id: 2,
                    sender: pb::Sender::Admin as i32,
                    text: "🎧 Support Team: hi".into(),
                    timestamp: at(T + 60, 0),
                    status: pb::DeliveryStatus::Failed as i32,
                    agent_name: "bola".into(),
                    error_code: 131_047,
                    error_message: "Re-engagement message".into(),
                    ..Default::default()
                },
            ],
            next_before: 1,
            notes: vec![pb::Note {
                id: 1,
                text: "VIP".into(),
                timestamp: at(T + 120, 0),
                ..Default::default()
            }],
            csat: vec![pb::CsatAnswer {
                chat_session_id: 3,
                rating: 4,
                comment: "Quick and kind".into(),
                rated_at: at(T + 180, 0),
                ..Default::default()
            }],
            activity: vec![pb::AuditEntry {
                id: 9,
                at: at(T + 30, 0),
                actor: "agent".into(),
                agent_name: "bola".into(),
                action: "claimed".into(),
                ..Default::default()
            }],
        };
        assert_eq!(
            render_show(&r, false).text(),
            "Ada (2348012345678) · lead · chat · chat active\n\
             CSAT chat #3 rated 4/5: \"Quick and kind\"\n\
             (older: --before 1)\n\
             2026-11-01 00:00:00  user [received] hello\n\
             2026-11-01 00:00:30 · bola claimed the chat\n\
             2026-11-01 00:01:00 admin (bola) [failed] 🎧 Support Team: hi (131047: Re-engagement message)\n\
             2026-11-01 00:02:00 📝 note by operator: VIP\n\
             2026-11-01 00:03:00 · the user rated the chat 4/5: “Quick and kind”\n"
        );
        let j = match render_show(&r, true) {
            Output::Json(j) => j,
            other => panic!("{other:?}"),
        };
        assert_eq!(j["csat"][0]["rating"], 4);
        assert_eq!(j["messages"][1]["status"], "failed");
        assert_eq!(j["next_before"], 1);
    }

    #[test]
    fn send_end_and_read_say_what_happened() {
        let sent = pb::SendMessageResponse {
            phone_number: "2348012345678".into(),
            timestamp: at(T, 0),
            message_id: 7,
            template_used: "hello_again".into(),
            ..Default::default()
        };
        assert_eq!(
            render_send(&sent, false).text(),
            "sent to 2348012345678 at 2026-11-01 00:00:00 (message 7)\n\
             note: outside WhatsApp's 24-hour window, so the approved template \"hello_again\" was sent instead of your text\n"
        );
        assert_eq!(
            render_send(&sent, true).text(),
            "{\"chat_session_id\":0,\"chat_started\":false,\"message_id\":7,\"message_sent\":\"\",\"phone_number\":\"2348012345678\",\"template_used\":\"hello_again\",\"timestamp\":\"2026-11-01T00:00:00Z\"}\n"
        );
        let opened = pb::SendMessageResponse {
            phone_number: "2348012345678".into(),
            timestamp: at(T, 0),
            message_id: 8,
            chat_started: true,
            chat_session_id: 3,
            ..Default::default()
        };
        assert_eq!(
            render_send(&opened, false).text(),
            "sent to 2348012345678 at 2026-11-01 00:00:00 (message 8)\n\
             opened chat session 3: 2348012345678 was not in a chat, so their answer now comes to the desk\n"
        );
        let ended = pb::EndChatResponse {
            phone_number: "2348012345678".into(),
            session_ended: at(T, 0),
            ..Default::default()
        };
        assert_eq!(
            render_end(&ended, false).text(),
            "chat with 2348012345678 ended at 2026-11-01 00:00:00\n"
        );
        let read = |marked| pb::MarkReadResponse {
            phone_number: "2348012345678".into(),
            marked,
        };
        assert_eq!(
            render_read(&read(true), false).text(),
            "marked 2348012345678's messages read\n"
        );
        assert_eq!(
            render_read(&read(false), false).text(),
            "nothing new to mark read for 2348012345678\n"
        );
        assert_eq!(
            render_read(&read(true), true).text(),
            "{\"marked\":true,\"phone_number\":\"2348012345678\"}\n"
        );
    }
}
