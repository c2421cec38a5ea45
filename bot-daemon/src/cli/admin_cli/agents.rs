//! `bot-daemon admin agents add|list|disable|enable|rotate-token` (the operator's token, except
//! `list`) and `available on|off` (an agent's own): each a call and a pure `render_*` of its
//! answer. A new or rotated token is printed once; only its hash is stored.

use clap::Subcommand;
use proto::{client::Client, v1 as pb};
use serde_json::{json, Value};

use super::output::{ts, ts_json, Output};
use crate::cli_output::CliError;

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

/// Runs one `admin agents` command.
pub(crate) async fn run(
    c: &mut Client,
    cmd: &AgentsCommand,
    json: bool,
) -> Result<Output, CliError> {
    let fail = CliError::from_status;
    Ok(match cmd {
        AgentsCommand::Add { name, display_name } => {
            let r = c
                .add_agent(pb::AddAgentRequest {
                    name: name.clone(),
                    display_name: display_name.clone().unwrap_or_default(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            render_token(&r, json)
        }
        AgentsCommand::List => {
            let r = c
                .list_agents(pb::ListAgentsRequest {})
                .await
                .map_err(fail)?
                .into_inner();
            render_agents(&r.agents, json)
        }
        AgentsCommand::Disable { name } | AgentsCommand::Enable { name } => {
            let enabled = matches!(cmd, AgentsCommand::Enable { .. });
            let a = c
                .set_agent_enabled(pb::SetAgentEnabledRequest {
                    name: name.clone(),
                    enabled,
                })
                .await
                .map_err(fail)?
                .into_inner();
            render_agents(&[a], json)
        }
        AgentsCommand::RotateToken { name } => {
            let r = c
                .rotate_agent_token(pb::RotateAgentTokenRequest { name: name.clone() })
                .await
                .map_err(fail)?
                .into_inner();
            render_token(&r, json)
        }
    })
}

/// `admin available on|off`.
pub(crate) async fn available(c: &mut Client, state: &str, json: bool) -> Result<Output, CliError> {
    let available = match state {
        "on" | "yes" | "true" => true,
        "off" | "no" | "false" => false,
        _ => return Err(CliError::Usage(format!("say on or off (got {state:?})"))),
    };
    let a = c
        .set_availability(pb::SetAvailabilityRequest { available })
        .await
        .map_err(CliError::from_status)?
        .into_inner();
    Ok(render_agents(&[a], json))
}

/// An agent as JSON (the `Agent` fields).
pub(crate) fn agent_json(a: &pb::Agent) -> Value {
    json!({"id": a.id, "name": a.name, "display_name": a.display_name, "enabled": a.enabled,
           "available": a.available, "created_at": ts_json(&a.created_at), "last_assigned_at": ts_json(&a.last_assigned_at)})
}

/// Agents as a table (a header and a row each), or `{agents}`.
pub(crate) fn render_agents(agents: &[pb::Agent], json: bool) -> Output {
    if json {
        return Output::Json(json!({"agents": agents.iter().map(agent_json).collect::<Vec<_>>()}));
    }
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
    Output::Lines(out)
}

/// A new or rotated token, shown once.
pub(crate) fn render_token(r: &pb::AgentTokenResponse, json: bool) -> Output {
    if json {
        return Output::Json(json!({"agent": r.agent.as_ref().map(agent_json), "token": r.token}));
    }
    let name = r.agent.as_ref().map(|a| a.name.as_str()).unwrap_or("");
    Output::line(format!(
        "agent {name}: token (shown once, store it now):\n{}",
        r.token
    ))
}

#[cfg(test)]
mod tests {
    use super::super::output::at;
    use super::*;

    fn ada() -> pb::Agent {
        pb::Agent {
            id: 1,
            name: "ada".into(),
            display_name: "Ada".into(),
            enabled: true,
            available: false,
            last_assigned_at: at(1_793_491_200, 0),
            ..Default::default()
        }
    }

    #[test]
    fn agents_are_a_table() {
        assert_eq!(
            render_agents(&[ada()], false).text(),
            "NAME                 DISPLAY NAME         ENABLED  AVAILABLE LAST ASSIGNED\n\
             ada                  Ada                  yes      no        2026-11-01 00:00:00\n"
        );
        let j = match render_agents(&[ada()], true) {
            Output::Json(j) => j,
            other => panic!("{other:?}"),
        };
        assert_eq!(j["agents"][0]["name"], "ada");
        assert_eq!(j["agents"][0]["created_at"], Value::Null);
        assert_eq!(j["agents"][0]["last_assigned_at"], "2026-11-01T00:00:00Z");
    }

    #[test]
    fn a_token_is_shown_once_with_its_agent() {
        let r = pb::AgentTokenResponse {
            agent: Some(ada()),
            token: "tok".into(),
        };
        assert_eq!(
            render_token(&r, false).text(),
            "agent ada: token (shown once, store it now):\ntok\n"
        );
        let j = match render_token(&r, true) {
            Output::Json(j) => j,
            other => panic!("{other:?}"),
        };
        assert_eq!((&j["token"], &j["agent"]["id"]), (&json!("tok"), &json!(1)));
    }
}
