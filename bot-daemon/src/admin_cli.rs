//! `bot-daemon admin …`: the agents' API from a shell, over gRPC. Human tables by default,
//! `--json` (one JSON document, or one per line for `watch`) for scripts: the gRPC field names,
//! RFC 3339 UTC timestamps (`null` when unset), enums as lowercase words. Output goes through
//! [`emit`] (a closed pipe stops quietly) and failures are [`CliError`]s with distinct exit codes.

use clap::{Args, Subcommand};
use proto::v1::{self as pb, support_admin_client::SupportAdminClient};
use serde_json::{json, Value};
use tonic::{metadata::MetadataValue, transport::Channel, Request};

use crate::{
    admin_desk::DeskCommand,
    cli_output::{emit, CliError, START_HINT},
    config::Config,
};

/// Attaches the bearer token to every call.
pub type Attach = Box<dyn FnMut(Request<()>) -> Result<Request<()>, tonic::Status> + Send + Sync>;

/// The gRPC client the admin commands use (bearer token attached).
pub type AdminClient =
    SupportAdminClient<tonic::service::interceptor::InterceptedService<Channel, Attach>>;

/// `bot-daemon admin`.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// The daemon's gRPC address (default: the configured --grpc-addr).
    #[arg(long)]
    pub addr: Option<String>,
    /// The admin token, or an agent's token. Prefer the environment variable or the file beside
    /// the database (`<db>.admin-token`): a flag's value shows in `ps`.
    #[arg(long, env = "CHAT_SUPPORT_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to verify a TLS-enabled daemon (`--tls-cert` on its side); the
    /// connection then uses https.
    #[arg(long)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// List conversations (active chats first, longest-waiting first).
    List {
        /// Only active chats.
        #[arg(long)]
        active: bool,
        /// Filter by name or number.
        #[arg(long)]
        query: Option<String>,
        /// Rows per page.
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        /// Continue from a previous page's token.
        #[arg(long)]
        page_token: Option<String>,
        /// Only chats assigned to this token's agent.
        #[arg(long, conflicts_with = "unassigned")]
        mine: bool,
        /// Only unassigned chats.
        #[arg(long)]
        unassigned: bool,
    },
    /// Show a conversation's thread.
    Show {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// Messages per page.
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        /// Older than this message id.
        #[arg(long, default_value_t = 0)]
        before: i64,
    },
    /// Send "🎧 Support Team: MESSAGE" to the user.
    Send {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// The text.
        message: String,
        /// Makes retries safe: the same key sends once.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Send into a chat assigned to another agent (it becomes yours).
        #[arg(long)]
        takeover: bool,
    },
    /// End the user's chat with a closing message and the Main Menu button.
    End {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// The closing message (default: the standard one).
        #[arg(long)]
        message: Option<String>,
        /// End without messaging the user (e.g. outside WhatsApp's 24-hour window).
        #[arg(long, conflicts_with = "message")]
        silent: bool,
        /// End a chat assigned to another agent.
        #[arg(long)]
        takeover: bool,
    },
    /// Mark the user's messages read on WhatsApp.
    Read {
        /// Phone number or WhatsApp user id.
        phone_number: String,
    },
    /// The support lead's figures (queue, response times, CSAT, busiest hours) as a table.
    Stats {
        /// Range start: YYYY-MM-DD (midnight UTC) or an RFC 3339 time (default: --days before --to).
        #[arg(long)]
        from: Option<String>,
        /// Range end, exclusive (default: now).
        #[arg(long)]
        to: Option<String>,
        /// The range's length in days when --from is not given (default 7).
        #[arg(long, conflicts_with = "from")]
        days: Option<u32>,
        /// Only the chats this agent wrote in or ended.
        #[arg(long)]
        agent: Option<String>,
    },
    /// Follow chat events live.
    Watch {
        /// Resume after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// The shared desk: agents, assignment, priority, notes, canned responses, audit.
    #[command(flatten)]
    Desk(DeskCommand),
}

fn token(cfg: &Config, args: &AdminArgs) -> Result<String, CliError> {
    if let Some(t) = args.token.clone().or_else(|| cfg.admin_token.clone()) {
        return Ok(t);
    }
    let mut name = cfg.db.as_os_str().to_owned();
    name.push(".admin-token");
    let path = std::path::PathBuf::from(name);
    std::fs::read_to_string(&path).map(|t| t.trim().to_string()).map_err(|e| {
        CliError::NoToken(format!(
            "no admin token: set CHAT_SUPPORT_ADMIN_TOKEN, or run where the daemon's database is, or point --db at it ({}: {e})",
            path.display()
        ))
    })
}

/// A timestamp as `YYYY-MM-DD HH:MM:SS` (UTC), empty when unset.
pub fn ts(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn sender(v: i32) -> &'static str {
    match pb::Sender::try_from(v) {
        Ok(pb::Sender::User) => "user",
        Ok(pb::Sender::Admin) => "admin",
        Ok(pb::Sender::Bot) => "bot",
        _ => "?",
    }
}

fn status(v: i32) -> &'static str {
    match pb::DeliveryStatus::try_from(v) {
        Ok(pb::DeliveryStatus::Received) => "received",
        Ok(pb::DeliveryStatus::Pending) => "pending",
        Ok(pb::DeliveryStatus::Sent) => "sent",
        Ok(pb::DeliveryStatus::Delivered) => "delivered",
        Ok(pb::DeliveryStatus::Read) => "read",
        Ok(pb::DeliveryStatus::Failed) => "failed",
        _ => "?",
    }
}

fn kind(v: i32) -> &'static str {
    match pb::ContactKind::try_from(v) {
        Ok(pb::ContactKind::Student) => "student",
        _ => "lead",
    }
}

fn priority(v: i32) -> &'static str {
    match pb::Priority::try_from(v) {
        Ok(pb::Priority::Low) => "low",
        Ok(pb::Priority::High) => "high",
        Ok(pb::Priority::Urgent) => "urgent",
        _ => "normal",
    }
}

/// A timestamp for `--json`: RFC 3339 in UTC (`2026-12-01T09:30:00Z`, with fractional seconds
/// only when there are any), `null` when unset.
pub fn ts_json(t: &Option<prost_types::Timestamp>) -> Value {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map_or(Value::Null, |d| {
            Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        })
}

/// A summary as JSON (the `ConversationSummary` fields).
pub fn summary_json(s: &pb::ConversationSummary) -> Value {
    json!({
        "phone_number": s.phone_number, "display_name": s.display_name, "kind": kind(s.kind),
        "state": s.state, "chat_active": s.chat_active,
        "last_message": s.last_message.as_ref().map(|m| json!({"text": m.text, "sender": sender(m.sender), "timestamp": ts_json(&m.timestamp)})),
        "message_count": s.message_count, "chat_started_at": ts_json(&s.chat_started_at),
        "waiting_since": ts_json(&s.waiting_since), "unread_count": s.unread_count,
        "user_id": s.user_id, "username": s.username, "chat_session_id": s.chat_session_id,
        "last_inbound_at": ts_json(&s.last_inbound_at), "address": s.address,
        "assigned_agent": s.assigned_agent, "assigned_agent_id": s.assigned_agent_id,
        "priority": priority(s.priority), "first_response_at": ts_json(&s.first_response_at),
    })
}

/// A message as JSON (the `ChatMessage` fields).
pub fn message_json(m: &pb::ChatMessage) -> Value {
    json!({
        "id": m.id, "sender": sender(m.sender), "text": m.text, "timestamp": ts_json(&m.timestamp),
        "status": status(m.status), "chat_session_id": m.chat_session_id,
        "wa_message_id": m.wa_message_id, "kind": m.kind, "media_id": m.media_id,
        "error_code": m.error_code, "error_message": m.error_message,
        "agent_name": m.agent_name, "agent_id": m.agent_id,
    })
}

/// A private note as JSON (the `Note` fields).
pub fn note_json(n: &pb::Note) -> Value {
    json!({"id": n.id, "text": n.text, "agent_name": n.agent_name, "agent_id": n.agent_id,
           "timestamp": ts_json(&n.timestamp), "chat_session_id": n.chat_session_id})
}

/// A survey answer as JSON (the `CsatAnswer` fields; `rating` is `null` until rated).
fn csat_json(c: &pb::CsatAnswer) -> Value {
    json!({"chat_session_id": c.chat_session_id, "rating": (c.rating > 0).then_some(c.rating),
           "comment": c.comment, "asked_at": ts_json(&c.asked_at), "rated_at": ts_json(&c.rated_at),
           "open": c.open})
}

/// `admin show --json`: the `Conversation` fields.
pub fn conversation_json(r: &pb::Conversation) -> Value {
    json!({
        "summary": r.summary.as_ref().map(summary_json),
        "messages": r.messages.iter().map(message_json).collect::<Vec<_>>(),
        "next_before": r.next_before,
        "notes": r.notes.iter().map(note_json).collect::<Vec<_>>(),
        "csat": r.csat.iter().map(csat_json).collect::<Vec<_>>(),
        "activity": r.activity.iter().map(audit_json).collect::<Vec<_>>(),
    })
}

/// An audit (activity) entry as JSON: the `AuditEntry` fields.
pub fn audit_json(e: &pb::AuditEntry) -> Value {
    json!({"id": e.id, "at": ts_json(&e.at), "actor": e.actor, "agent_name": e.agent_name,
           "agent_id": e.agent_id, "action": e.action, "detail": e.detail})
}

fn one_line(s: &str, max: usize) -> String {
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

/// An event as one JSON line: `sequence`, `timestamp`, `type` (the name of the `ChatEvent`
/// oneof member) and that member's fields under its own name, e.g. `"message_added": {…}`.
pub fn event_json(e: &pb::ChatEvent) -> Value {
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
            json!({"address": d.address, "message_id": d.message_id, "status": status(d.status), "error_code": d.error_code, "error_message": d.error_message}),
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
            json!({"conversation": conv(&p.conversation), "priority": priority(p.priority), "by": p.by}),
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
                .map(|m| (sender(m.sender), one_line(&m.text, 60)))
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
            status(d.status)
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
            priority(p.priority),
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

/// `admin list`: the table, one string per line.
pub fn list_lines(r: &pb::ListConversationsResponse) -> Vec<String> {
    let mut out = vec![format!(
        "{:<22} {:<20} {:<7} {:<19} {:<19} {:>6}  {:<12} {:<8} LAST MESSAGE",
        "ADDRESS", "NAME", "KIND", "STATE", "WAITING SINCE", "UNREAD", "AGENT", "PRIORITY"
    )];
    for c in &r.conversations {
        let last = c
            .last_message
            .as_ref()
            .map(|m| format!("{}: {}", sender(m.sender), one_line(&m.text, 40)))
            .unwrap_or_default();
        out.push(format!(
            "{:<22} {:<20} {:<7} {:<19} {:<19} {:>6}  {:<12} {:<8} {last}",
            one_line(&c.address, 22),
            one_line(&c.display_name, 20),
            kind(c.kind),
            c.state,
            ts(&c.waiting_since),
            c.unread_count,
            one_line(&c.assigned_agent, 12),
            priority(c.priority)
        ));
    }
    if !r.next_page_token.is_empty() {
        out.push(format!("(more: --page-token {})", r.next_page_token));
    }
    out
}

/// `admin show`: the header, survey answers, messages and notes, one string per line.
pub fn show_lines(r: &pb::Conversation) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = &r.summary {
        out.push(format!(
            "{} ({}) · {} · {}{}",
            s.display_name,
            s.address,
            kind(s.kind),
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
            sender(m.sender),
            status(m.status),
            m.text
        ));
    }
    out.extend(others.map(|(_, line)| line));
    out
}

/// Emits each line.
///
/// # Errors
/// See [`emit`].
pub fn emit_lines(lines: impl IntoIterator<Item = String>) -> Result<(), CliError> {
    lines.into_iter().try_for_each(emit)
}

/// Connects to the daemon's gRPC API with the token attached.
async fn connect(cfg: &Config, args: &AdminArgs) -> Result<AdminClient, CliError> {
    let token = token(cfg, args)?;
    let addr = args.addr.clone().unwrap_or_else(|| cfg.grpc_addr.clone());
    let scheme = if args.tls_ca.is_some() {
        "https"
    } else {
        "http"
    };
    let url = if addr.starts_with("http") {
        addr.clone()
    } else {
        format!("{scheme}://{addr}")
    };
    let mut endpoint = Channel::from_shared(url.clone())
        .map_err(|e| CliError::Usage(format!("{url:?} is not a gRPC address: {e}")))?;
    if let Some(ca) = &args.tls_ca {
        let pem = std::fs::read(ca)
            .map_err(|e| CliError::Usage(format!("reading {}: {e}", ca.display())))?;
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pem));
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| CliError::Usage(format!("TLS with {}: {e}", ca.display())))?;
    }
    let channel = endpoint.connect().await.map_err(|e| {
        // The innermost cause says what happened ("Connection refused (os error 111)").
        let mut why = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            why = c.to_string();
            cause = c.source();
        }
        CliError::Unreachable(format!(
            "cannot reach the daemon's gRPC API at {url}: {why}; is the daemon running? (start it with: {START_HINT})"
        ))
    })?;
    let bearer: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .map_err(|_| CliError::NoToken("the token has characters a header cannot carry".into()))?;
    let attach: Attach = Box::new(move |mut req: Request<()>| {
        req.metadata_mut().insert("authorization", bearer.clone());
        Ok(req)
    });
    Ok(SupportAdminClient::with_interceptor(channel, attach))
}

/// Runs one admin command.
///
/// # Errors
/// The daemon is unreachable, refuses the token, or refuses the request (its message is
/// shown), or stdout was closed ([`CliError::BrokenPipe`]); [`CliError::exit_code`] tells them
/// apart.
pub async fn run(cfg: &Config, args: &AdminArgs) -> Result<(), CliError> {
    let mut client = connect(cfg, args).await?;
    let fail = CliError::from_status;
    match &args.command {
        AdminCommand::List {
            active,
            query,
            page_size,
            page_token,
            mine,
            unassigned,
        } => {
            let assignment = if *mine {
                pb::AssignmentFilter::Mine
            } else if *unassigned {
                pb::AssignmentFilter::Unassigned
            } else {
                pb::AssignmentFilter::All
            };
            let r = client
                .list_conversations(pb::ListConversationsRequest {
                    active_only: *active,
                    page_size: *page_size,
                    page_token: page_token.clone().unwrap_or_default(),
                    query: query.clone().unwrap_or_default(),
                    assignment: assignment as i32,
                })
                .await
                .map_err(fail)?
                .into_inner();
            if args.json {
                emit(
                    json!({"conversations": r.conversations.iter().map(summary_json).collect::<Vec<_>>(), "next_page_token": r.next_page_token}),
                )?;
            } else {
                emit_lines(list_lines(&r))?;
            }
        }
        AdminCommand::Stats {
            from,
            to,
            days,
            agent,
        } => {
            let req = crate::admin_stats::request(
                from.as_deref(),
                to.as_deref(),
                *days,
                agent.as_deref(),
            )
            .map_err(CliError::Usage)?;
            let r = client.get_stats(req).await.map_err(fail)?.into_inner();
            if args.json {
                emit(crate::admin_stats::to_json(&r))?;
            } else {
                emit(crate::admin_stats::to_table(&r, agent.as_deref()))?;
            }
        }
        AdminCommand::Show {
            phone_number,
            page_size,
            before,
        } => {
            let r = client
                .get_conversation(pb::GetConversationRequest {
                    phone_number: phone_number.clone(),
                    page_size: *page_size,
                    before: *before,
                })
                .await
                .map_err(fail)?
                .into_inner();
            if args.json {
                emit(conversation_json(&r))?;
            } else {
                emit_lines(show_lines(&r))?;
            }
        }
        AdminCommand::Send {
            phone_number,
            message,
            idempotency_key,
            takeover,
        } => {
            let r = client
                .send_message(pb::SendMessageRequest {
                    phone_number: phone_number.clone(),
                    message: message.clone(),
                    idempotency_key: idempotency_key.clone().unwrap_or_default(),
                    takeover: *takeover,
                })
                .await
                .map_err(fail)?
                .into_inner();
            if args.json {
                emit(
                    json!({"phone_number": r.phone_number, "message_sent": r.message_sent, "timestamp": ts_json(&r.timestamp), "message_id": r.message_id, "template_used": r.template_used, "chat_started": r.chat_started, "chat_session_id": r.chat_session_id}),
                )?;
            } else {
                emit(format!(
                    "sent to {} at {} (message {})",
                    r.phone_number,
                    ts(&r.timestamp),
                    r.message_id
                ))?;
                if r.chat_started {
                    emit(format!(
                        "opened chat session {}: {} was not in a chat, so their answer now comes to the desk",
                        r.chat_session_id, r.phone_number
                    ))?;
                }
                if !r.template_used.is_empty() {
                    emit(format!(
                        "note: outside WhatsApp's 24-hour window, so the approved template {:?} was sent instead of your text",
                        r.template_used
                    ))?;
                }
            }
        }
        AdminCommand::End {
            phone_number,
            message,
            silent,
            takeover,
        } => {
            let r = client
                .end_chat(pb::EndChatRequest {
                    phone_number: phone_number.clone(),
                    message: message.clone().unwrap_or_default(),
                    skip_closing_message: *silent,
                    takeover: *takeover,
                })
                .await
                .map_err(fail)?
                .into_inner();
            if args.json {
                emit(
                    json!({"phone_number": r.phone_number, "session_ended": ts_json(&r.session_ended), "template_used": r.template_used}),
                )?;
            } else {
                emit(format!(
                    "chat with {} ended at {}",
                    r.phone_number,
                    ts(&r.session_ended)
                ))?;
            }
        }
        AdminCommand::Read { phone_number } => {
            let r = client
                .mark_read(pb::MarkReadRequest {
                    phone_number: phone_number.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            if args.json {
                emit(json!({"phone_number": r.phone_number, "marked": r.marked}))?;
            } else if r.marked {
                emit(format!("marked {}'s messages read", r.phone_number))?;
            } else {
                emit(format!("nothing new to mark read for {}", r.phone_number))?;
            }
        }
        AdminCommand::Watch { after } => {
            let mut stream = client
                .watch_chats(pb::WatchChatsRequest {
                    after_sequence: *after,
                })
                .await
                .map_err(fail)?
                .into_inner();
            while let Some(e) = stream.message().await.map_err(fail)? {
                if args.json {
                    emit(event_json(&e))?;
                } else {
                    emit(event_line(&e))?;
                }
            }
        }
        AdminCommand::Desk(cmd) => crate::admin_desk::run(&mut client, cmd, args.json).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos })
    }

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
        let e = event_json(&pb::ChatEvent {
            sequence: 12,
            timestamp: at(1_793_491_200, 0),
            event: Some(pb::chat_event::Event::ChatEnded(pb::ChatEnded {
                conversation: Some(s),
                chat_session_id: 3,
                ended_by: "admin".into(),
                ended_by_agent: "ada".into(),
            })),
        });
        assert_eq!(e["type"], "chat_ended");
        assert_eq!(e["chat_ended"]["ended_by_agent"], "ada");
        assert_eq!(e["chat_ended"]["conversation"]["address"], "2348012345678");
        assert_eq!(e["timestamp"], "2026-11-01T00:00:00Z");
    }

    #[test]
    fn the_list_table_has_a_header_a_row_per_chat_and_the_next_page() {
        let r = pb::ListConversationsResponse {
            conversations: vec![pb::ConversationSummary {
                address: "2348012345678".into(),
                display_name: "Ada\nOkafor".into(),
                ..Default::default()
            }],
            next_page_token: "abc".into(),
        };
        let lines = list_lines(&r);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ADDRESS"));
        assert!(lines[1].contains("Ada Okafor"), "{}", lines[1]);
        assert_eq!(lines[2], "(more: --page-token abc)");
    }
}
