//! `bot-daemon admin agents|claim|assign|transfer|priority|note|canned|audit|available|whoami`:
//! the shared desk (issue 8) from a shell, over the same gRPC connection as the other admin
//! commands. Managing agents needs the operator's admin token.

use clap::Subcommand;
use proto::v1 as pb;
use serde_json::{json, Value};

use crate::{
    admin_cli::{summary_json, ts, ts_json, AdminClient},
    cli_output::{emit, CliError},
};

/// `bot-daemon admin agents …` (operator only, except `list`).
#[derive(Debug, Clone, Subcommand)]
pub enum AgentsCommand {
    /// Create an agent; prints its token once (only a hash is stored).
    Add {
        /// Login name (letters, digits, '.', '-', '_').
        name: String,
        /// First name users see with `[support] show_agent_name` (default: the name).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List agents.
    List,
    /// Disable an agent: its token is refused at once.
    Disable {
        /// The agent.
        name: String,
    },
    /// Enable a disabled agent again.
    Enable {
        /// The agent.
        name: String,
    },
    /// Issue a new token for an agent; the old one stops working. Prints it once.
    RotateToken {
        /// The agent.
        name: String,
    },
}

/// `bot-daemon admin canned …`.
#[derive(Debug, Clone, Subcommand)]
pub enum CannedCommand {
    /// List canned responses.
    List,
    /// Create or replace one. The body may use {name} (the contact) and {agent}.
    Add {
        /// Typed after '/' in the console's compose box.
        shortcut: String,
        /// The text.
        body: String,
    },
    /// Delete one.
    Delete {
        /// Its shortcut.
        shortcut: String,
    },
    /// Show one expanded for a conversation.
    Expand {
        /// Its shortcut.
        shortcut: String,
        /// The conversation whose contact fills {name}.
        phone_number: Option<String>,
    },
}

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

fn agent_json(a: &pb::Agent) -> Value {
    json!({"id": a.id, "name": a.name, "display_name": a.display_name, "enabled": a.enabled,
           "available": a.available, "created_at": ts_json(&a.created_at), "last_assigned_at": ts_json(&a.last_assigned_at)})
}

/// `admin agents list`: the table, one string per line.
pub fn agent_lines(agents: &[pb::Agent]) -> Vec<String> {
    let mut out = vec![format!(
        "{:<20} {:<20} {:<8} {:<9} LAST ASSIGNED",
        "NAME", "DISPLAY NAME", "ENABLED", "AVAILABLE"
    )];
    for a in agents {
        out.push(format!(
            "{:<20} {:<20} {:<8} {:<9} {}",
            a.name,
            a.display_name,
            if a.enabled { "yes" } else { "no" },
            if a.available { "yes" } else { "no" },
            ts(&a.last_assigned_at)
        ));
    }
    out
}

fn canned_json(c: &pb::CannedResponse) -> Value {
    json!({"shortcut": c.shortcut, "body": c.body, "updated_at": ts_json(&c.updated_at)})
}

fn print_agents(agents: &[pb::Agent], as_json: bool) -> Result<(), CliError> {
    if as_json {
        return emit(json!({"agents": agents.iter().map(agent_json).collect::<Vec<_>>()}));
    }
    crate::admin_cli::emit_lines(agent_lines(agents))
}

fn print_token(r: &pb::AgentTokenResponse, as_json: bool) -> Result<(), CliError> {
    let name = r.agent.as_ref().map(|a| a.name.as_str()).unwrap_or("");
    if as_json {
        emit(json!({"agent": r.agent.as_ref().map(agent_json), "token": r.token}))
    } else {
        emit(format!(
            "agent {name}: token (shown once, store it now):\n{}",
            r.token
        ))
    }
}

fn print_summary(s: &pb::ConversationSummary, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return emit(summary_json(s));
    }
    let who = if s.assigned_agent.is_empty() {
        "unassigned".to_string()
    } else {
        format!("assigned to {}", s.assigned_agent)
    };
    let priority = pb::Priority::try_from(s.priority)
        .map(|p| {
            p.as_str_name()
                .trim_start_matches("PRIORITY_")
                .to_lowercase()
        })
        .unwrap_or_default();
    emit(format!(
        "{} ({}) · {who} · priority {priority}",
        s.display_name, s.address
    ))
}

/// Runs one desk command.
///
/// # Errors
/// The daemon refuses the request (its code and message are shown), a bad argument, or a
/// closed stdout.
pub async fn run(
    client: &mut AdminClient,
    cmd: &DeskCommand,
    as_json: bool,
) -> Result<(), CliError> {
    let fail = CliError::from_status;
    match cmd {
        DeskCommand::Agents { command } => match command {
            AgentsCommand::Add { name, display_name } => {
                let r = client
                    .add_agent(pb::AddAgentRequest {
                        name: name.clone(),
                        display_name: display_name.clone().unwrap_or_default(),
                    })
                    .await
                    .map_err(fail)?
                    .into_inner();
                print_token(&r, as_json)?;
            }
            AgentsCommand::List => {
                let r = client
                    .list_agents(pb::ListAgentsRequest {})
                    .await
                    .map_err(fail)?
                    .into_inner();
                print_agents(&r.agents, as_json)?;
            }
            AgentsCommand::Disable { name } | AgentsCommand::Enable { name } => {
                let enabled = matches!(command, AgentsCommand::Enable { .. });
                let a = client
                    .set_agent_enabled(pb::SetAgentEnabledRequest {
                        name: name.clone(),
                        enabled,
                    })
                    .await
                    .map_err(fail)?
                    .into_inner();
                print_agents(&[a], as_json)?;
            }
            AgentsCommand::RotateToken { name } => {
                let r = client
                    .rotate_agent_token(pb::RotateAgentTokenRequest { name: name.clone() })
                    .await
                    .map_err(fail)?
                    .into_inner();
                print_token(&r, as_json)?;
            }
        },
        DeskCommand::Whoami => {
            let r = client
                .who_am_i(pb::WhoAmIRequest {})
                .await
                .map_err(fail)?
                .into_inner();
            match (&r.agent, as_json) {
                (a, true) => {
                    emit(json!({"operator": r.operator, "agent": a.as_ref().map(agent_json)}))?
                }
                (Some(a), false) => emit(format!("agent {} ({})", a.name, a.display_name))?,
                (None, false) => emit("operator (admin token)")?,
            }
        }
        DeskCommand::Claim { phone_number } => {
            let s = client
                .claim_conversation(pb::ClaimConversationRequest {
                    phone_number: phone_number.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            print_summary(&s, as_json)?;
        }
        DeskCommand::Assign {
            phone_number,
            agent,
            none: _,
            note,
        } => {
            let s = client
                .assign_conversation(pb::AssignConversationRequest {
                    phone_number: phone_number.clone(),
                    agent: agent.clone().unwrap_or_default(),
                    note: note.clone().unwrap_or_default(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            print_summary(&s, as_json)?;
        }
        DeskCommand::Transfer {
            phone_number,
            agent,
            note,
        } => {
            let s = client
                .transfer_conversation(pb::TransferConversationRequest {
                    phone_number: phone_number.clone(),
                    agent: agent.clone(),
                    note: note.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            print_summary(&s, as_json)?;
        }
        DeskCommand::Priority {
            phone_number,
            level,
        } => {
            let p = crate::desk::Priority::parse(level).ok_or_else(|| {
                CliError::Usage(format!(
                    "priority must be low, normal, high or urgent (got {level:?})"
                ))
            })?;
            let s = client
                .set_priority(pb::SetPriorityRequest {
                    phone_number: phone_number.clone(),
                    priority: crate::grpc::convert::priority(p) as i32,
                })
                .await
                .map_err(fail)?
                .into_inner();
            print_summary(&s, as_json)?;
        }
        DeskCommand::Note { phone_number, text } => {
            let n = client
                .add_note(pb::AddNoteRequest {
                    phone_number: phone_number.clone(),
                    text: text.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            if as_json {
                emit(crate::admin_cli::note_json(&n))?;
            } else {
                emit(format!("note {} added", n.id))?;
            }
        }
        DeskCommand::Canned { command } => run_canned(client, command, as_json).await?,
        DeskCommand::Audit {
            phone_number,
            page_size,
        } => {
            let r = client
                .list_audit(pb::ListAuditRequest {
                    phone_number: phone_number.clone(),
                    page_size: *page_size,
                    before: 0,
                })
                .await
                .map_err(fail)?
                .into_inner();
            if as_json {
                let entries: Vec<Value> = r
                    .entries
                    .iter()
                    .map(|e| json!({"id": e.id, "at": ts_json(&e.at), "actor": e.actor, "agent_name": e.agent_name, "agent_id": e.agent_id, "action": e.action, "detail": e.detail}))
                    .collect();
                emit(json!({"entries": entries, "next_before": r.next_before}))?;
            } else {
                for e in &r.entries {
                    let who = if e.agent_name.is_empty() {
                        e.actor.clone()
                    } else {
                        e.agent_name.clone()
                    };
                    emit(format!(
                        "{} {:<12} {:<14} {}",
                        ts(&e.at),
                        who,
                        e.action,
                        e.detail
                    ))?;
                }
            }
        }
        DeskCommand::Available { state } => {
            let available = match state.as_str() {
                "on" | "yes" | "true" => true,
                "off" | "no" | "false" => false,
                _ => return Err(CliError::Usage(format!("say on or off (got {state:?})"))),
            };
            let a = client
                .set_availability(pb::SetAvailabilityRequest { available })
                .await
                .map_err(fail)?
                .into_inner();
            print_agents(&[a], as_json)?;
        }
    }
    Ok(())
}

async fn run_canned(
    client: &mut AdminClient,
    cmd: &CannedCommand,
    as_json: bool,
) -> Result<(), CliError> {
    let fail = CliError::from_status;
    match cmd {
        CannedCommand::List => {
            let r = client
                .list_canned_responses(pb::ListCannedResponsesRequest {})
                .await
                .map_err(fail)?
                .into_inner();
            if as_json {
                let all: Vec<Value> = r.responses.iter().map(canned_json).collect();
                emit(json!({"responses": all}))?;
            } else {
                for c in &r.responses {
                    emit(format!("/{:<16} {}", c.shortcut, c.body))?;
                }
            }
        }
        CannedCommand::Add { shortcut, body } => {
            let c = client
                .put_canned_response(pb::PutCannedResponseRequest {
                    shortcut: shortcut.clone(),
                    body: body.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            if as_json {
                emit(canned_json(&c))?;
            } else {
                emit(format!("saved /{}", c.shortcut))?;
            }
        }
        CannedCommand::Delete { shortcut } => {
            let r = client
                .delete_canned_response(pb::DeleteCannedResponseRequest {
                    shortcut: shortcut.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            if as_json {
                emit(json!({"deleted": r.deleted}))?;
            } else if r.deleted {
                emit(format!("deleted /{shortcut}"))?;
            } else {
                emit(format!("no canned response /{shortcut}"))?;
            }
        }
        CannedCommand::Expand {
            shortcut,
            phone_number,
        } => {
            let r = client
                .expand_canned_response(pb::ExpandCannedResponseRequest {
                    shortcut: shortcut.clone(),
                    phone_number: phone_number.clone().unwrap_or_default(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            if as_json {
                emit(json!({"text": r.text}))?;
            } else {
                emit(r.text)?;
            }
        }
    }
    Ok(())
}
