//! `bot-daemon admin whoami|claim|assign|transfer|priority|note|audit|available` and the
//! `agents` and `canned` groups: the shared desk (issue 8) from a shell, over the same gRPC
//! connection as the other admin commands; [`DeskCommand`] is flattened into `bot-daemon admin`.
//! Each command is a call and a pure `render_*` of its answer. Managing agents needs the
//! operator's admin token.

use clap::Subcommand;
use proto::{client::Client, v1 as pb, words};
use serde_json::{json, Value};

use super::{
    agents::{self, agent_json, AgentsCommand},
    canned::{self, CannedCommand},
    output::{audit_json, note_json, summary_json, ts, Output},
};
use crate::cli_output::CliError;

/// The desk's subcommands, flattened into `bot-daemon admin`.
#[derive(Debug, Clone, Subcommand)]
pub enum DeskCommand {
    /// Manage agents (add, list, disable, enable, rotate-token).
    Agents {
        /// What to do.
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Who this token is.
    Whoami,
    /// Take an unassigned chat (agent tokens only).
    Claim {
        /// Phone number or WhatsApp user id.
        phone_number: String,
    },
    /// Assign a chat to an agent, or unassign it with --none.
    Assign {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// The agent's name.
        #[arg(required_unless_present = "none")]
        agent: Option<String>,
        /// Unassign.
        #[arg(long, conflicts_with = "agent")]
        none: bool,
        /// Why (kept in the audit trail).
        #[arg(long)]
        note: Option<String>,
    },
    /// Hand a chat to another agent with a note for them.
    Transfer {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// The agent's name.
        agent: String,
        /// What the next agent needs to know (required).
        #[arg(long)]
        note: String,
    },
    /// Set a chat's priority: low, normal, high or urgent.
    Priority {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// low, normal, high, urgent.
        level: String,
    },
    /// Add a private note (never sent to WhatsApp).
    Note {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// The note.
        text: String,
    },
    /// Canned responses (list, add, delete, expand).
    Canned {
        /// What to do.
        #[command(subcommand)]
        command: CannedCommand,
    },
    /// Who did what to a conversation, newest first.
    Audit {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// Entries per page.
        #[arg(long, default_value_t = 100)]
        page_size: u32,
    },
    /// Take round-robin chats (on) or stop (off). Agent tokens only.
    Available {
        /// on or off.
        state: String,
    },
}

/// Runs one desk command.
///
/// # Errors
/// The daemon refuses the request (its code and message are shown), or a bad argument.
pub(crate) async fn run(c: &mut Client, cmd: &DeskCommand, json: bool) -> Result<Output, CliError> {
    let fail = CliError::from_status;
    match cmd {
        DeskCommand::Agents { command } => agents::run(c, command, json).await,
        DeskCommand::Canned { command } => canned::run(c, command, json).await,
        DeskCommand::Available { state } => agents::available(c, state, json).await,
        DeskCommand::Whoami => {
            let r = c
                .who_am_i(pb::WhoAmIRequest {})
                .await
                .map_err(fail)?
                .into_inner();
            Ok(render_whoami(&r, json))
        }
        DeskCommand::Claim { phone_number } => {
            let s = c
                .claim_conversation(pb::ClaimConversationRequest {
                    phone_number: phone_number.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            Ok(render_summary(&s, json))
        }
        DeskCommand::Assign {
            phone_number,
            agent,
            none: _,
            note,
        } => {
            let s = c
                .assign_conversation(pb::AssignConversationRequest {
                    phone_number: phone_number.clone(),
                    agent: agent.clone().unwrap_or_default(),
                    note: note.clone().unwrap_or_default(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            Ok(render_summary(&s, json))
        }
        DeskCommand::Transfer {
            phone_number,
            agent,
            note,
        } => {
            let s = c
                .transfer_conversation(pb::TransferConversationRequest {
                    phone_number: phone_number.clone(),
                    agent: agent.clone(),
                    note: note.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            Ok(render_summary(&s, json))
        }
        DeskCommand::Priority {
            phone_number,
            level,
        } => priority(c, phone_number, level, json).await,
        DeskCommand::Note { phone_number, text } => {
            let n = c
                .add_note(pb::AddNoteRequest {
                    phone_number: phone_number.clone(),
                    text: text.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            Ok(render_note(&n, json))
        }
        DeskCommand::Audit {
            phone_number,
            page_size,
        } => {
            let r = c
                .list_audit(pb::ListAuditRequest {
                    phone_number: phone_number.clone(),
                    page_size: *page_size,
                    before: 0,
                })
                .await
                .map_err(fail)?
                .into_inner();
            Ok(render_audit(&r, json))
        }
    }
}

/// `admin priority PHONE LEVEL`.
async fn priority(
    c: &mut Client,
    phone_number: &str,
    level: &str,
    json: bool,
) -> Result<Output, CliError> {
    let p = words::parse_priority(level).ok_or_else(|| {
        CliError::Usage(format!(
            "priority must be low, normal, high or urgent (got {level:?})"
        ))
    })?;
    let s = c
        .set_priority(pb::SetPriorityRequest {
            phone_number: phone_number.to_string(),
            priority: p as i32,
        })
        .await
        .map_err(CliError::from_status)?
        .into_inner();
    Ok(render_summary(&s, json))
}

/// `admin whoami`: the operator or the agent this token is.
pub(crate) fn render_whoami(r: &pb::WhoAmIResponse, json: bool) -> Output {
    match (&r.agent, json) {
        (a, true) => {
            Output::Json(json!({"operator": r.operator, "agent": a.as_ref().map(agent_json)}))
        }
        (Some(a), false) => Output::line(format!("agent {} ({})", a.name, a.display_name)),
        (None, false) => Output::line("operator (admin token)"),
    }
}

/// A conversation after a desk change (claim, assign, transfer, priority): who has it and its
/// priority, or the summary as JSON.
pub(crate) fn render_summary(s: &pb::ConversationSummary, json: bool) -> Output {
    if json {
        return Output::Json(summary_json(s));
    }
    let who = if s.assigned_agent.is_empty() {
        "unassigned".to_string()
    } else {
        format!("assigned to {}", s.assigned_agent)
    };
    Output::line(format!(
        "{} ({}) · {who} · priority {}",
        s.display_name,
        s.address,
        words::priority(s.priority)
    ))
}

/// `admin note`.
pub(crate) fn render_note(n: &pb::Note, json: bool) -> Output {
    if json {
        Output::Json(note_json(n))
    } else {
        Output::line(format!("note {} added", n.id))
    }
}

/// `admin audit`: a line per entry, newest first, or `{entries, next_before}`.
pub(crate) fn render_audit(r: &pb::ListAuditResponse, json: bool) -> Output {
    if json {
        let entries: Vec<Value> = r.entries.iter().map(audit_json).collect();
        return Output::Json(json!({"entries": entries, "next_before": r.next_before}));
    }
    Output::Lines(
        r.entries
            .iter()
            .map(|e| {
                let who = if e.agent_name.is_empty() {
                    &e.actor
                } else {
                    &e.agent_name
                };
                format!("{} {:<12} {:<14} {}", ts(&e.at), who, e.action, e.detail)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::output::at;
    use super::*;

    #[test]
    fn a_desk_change_says_who_has_the_chat_and_its_priority() {
        let mut s = pb::ConversationSummary {
            address: "2348012345678".into(),
            display_name: "Ada".into(),
            priority: pb::Priority::Urgent as i32,
            ..Default::default()
        };
        assert_eq!(
            render_summary(&s, false).text(),
            "Ada (2348012345678) · unassigned · priority urgent\n"
        );
        s.assigned_agent = "bola".into();
        s.priority = pb::Priority::Normal as i32;
        assert_eq!(
            render_summary(&s, false).text(),
            "Ada (2348012345678) · assigned to bola · priority normal\n"
        );
        let j = match render_summary(&s, true) {
            Output::Json(j) => j,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (&j["assigned_agent"], &j["priority"]),
            (&json!("bola"), &json!("normal"))
        );
    }

    #[test]
    fn whoami_note_and_audit() {
        let op = pb::WhoAmIResponse {
            operator: true,
            agent: None,
        };
        assert_eq!(render_whoami(&op, false).text(), "operator (admin token)\n");
        assert_eq!(
            render_whoami(&op, true).text(),
            "{\"agent\":null,\"operator\":true}\n"
        );
        let ada = pb::WhoAmIResponse {
            operator: false,
            agent: Some(pb::Agent {
                name: "ada".into(),
                display_name: "Ada".into(),
                ..Default::default()
            }),
        };
        assert_eq!(render_whoami(&ada, false).text(), "agent ada (Ada)\n");
        let n = pb::Note {
            id: 4,
            ..Default::default()
        };
        assert_eq!(render_note(&n, false).text(), "note 4 added\n");
        let r = pb::ListAuditResponse {
            entries: vec![
                pb::AuditEntry {
                    id: 2,
                    at: at(1_793_491_200, 0),
                    actor: "agent".into(),
                    agent_name: "ada".into(),
                    action: "claimed".into(),
                    ..Default::default()
                },
                pb::AuditEntry {
                    id: 1,
                    at: at(1_793_491_140, 0),
                    actor: "operator".into(),
                    action: "priority".into(),
                    detail: "urgent".into(),
                    ..Default::default()
                },
            ],
            next_before: 0,
        };
        assert_eq!(
            render_audit(&r, false).text(),
            "2026-11-01 00:00:00 ada          claimed        \n\
             2026-10-31 23:59:00 operator     priority       urgent\n"
        );
        let j = match render_audit(&r, true) {
            Output::Json(j) => j,
            other => panic!("{other:?}"),
        };
        assert_eq!(j["entries"][1]["at"], "2026-10-31T23:59:00Z");
        assert_eq!(j["next_before"], 0);
    }
}
