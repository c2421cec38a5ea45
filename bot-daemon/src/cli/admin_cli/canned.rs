//! `bot-daemon admin canned list|add|delete|expand`: the desk's canned responses, each a call
//! and a pure `render_*` of its answer.

use clap::Subcommand;
use proto::{client::Client, v1 as pb};
use serde_json::{json, Value};

use super::output::{ts_json, Output};
use crate::cli_output::CliError;

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

/// Runs one `admin canned` command.
pub(crate) async fn run(
    c: &mut Client,
    cmd: &CannedCommand,
    json: bool,
) -> Result<Output, CliError> {
    let fail = CliError::from_status;
    Ok(match cmd {
        CannedCommand::List => {
            let r = c
                .list_canned_responses(pb::ListCannedResponsesRequest {})
                .await
                .map_err(fail)?
                .into_inner();
            render_list(&r.responses, json)
        }
        CannedCommand::Add { shortcut, body } => {
            let r = c
                .put_canned_response(pb::PutCannedResponseRequest {
                    shortcut: shortcut.clone(),
                    body: body.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            render_saved(&r, json)
        }
        CannedCommand::Delete { shortcut } => {
            let r = c
                .delete_canned_response(pb::DeleteCannedResponseRequest {
                    shortcut: shortcut.clone(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            render_deleted(shortcut, &r, json)
        }
        CannedCommand::Expand {
            shortcut,
            phone_number,
        } => {
            let r = c
                .expand_canned_response(pb::ExpandCannedResponseRequest {
                    shortcut: shortcut.clone(),
                    phone_number: phone_number.clone().unwrap_or_default(),
                })
                .await
                .map_err(fail)?
                .into_inner();
            render_expanded(&r, json)
        }
    })
}

fn canned_json(c: &pb::CannedResponse) -> Value {
    json!({"shortcut": c.shortcut, "body": c.body, "updated_at": ts_json(&c.updated_at)})
}

/// `canned list`: `/shortcut body` a line each, or `{responses}`.
pub(crate) fn render_list(responses: &[pb::CannedResponse], json: bool) -> Output {
    if json {
        let all: Vec<Value> = responses.iter().map(canned_json).collect();
        return Output::Json(json!({"responses": all}));
    }
    Output::Lines(
        responses
            .iter()
            .map(|c| format!("/{:<16} {}", c.shortcut, c.body))
            .collect(),
    )
}

/// `canned add`.
pub(crate) fn render_saved(c: &pb::CannedResponse, json: bool) -> Output {
    if json {
        Output::Json(canned_json(c))
    } else {
        Output::line(format!("saved /{}", c.shortcut))
    }
}

/// `canned delete SHORTCUT`.
pub(crate) fn render_deleted(
    shortcut: &str,
    r: &pb::DeleteCannedResponseResponse,
    json: bool,
) -> Output {
    if json {
        Output::Json(json!({"deleted": r.deleted}))
    } else if r.deleted {
        Output::line(format!("deleted /{shortcut}"))
    } else {
        Output::line(format!("no canned response /{shortcut}"))
    }
}

/// `canned expand`: the text as it would be sent.
pub(crate) fn render_expanded(r: &pb::ExpandCannedResponseResponse, json: bool) -> Output {
    if json {
        Output::Json(json!({"text": r.text}))
    } else {
        Output::line(r.text.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::output::at;
    use super::*;

    #[test]
    fn canned_responses_print_as_shortcut_and_body() {
        let hi = pb::CannedResponse {
            shortcut: "hi".into(),
            body: "Hello {name}, I'm {agent}.".into(),
            updated_at: at(1_793_491_200, 0),
        };
        assert_eq!(
            render_list(std::slice::from_ref(&hi), false).text(),
            "/hi               Hello {name}, I'm {agent}.\n"
        );
        assert_eq!(render_list(&[], false).text(), "");
        assert_eq!(
            render_list(std::slice::from_ref(&hi), true).text(),
            "{\"responses\":[{\"body\":\"Hello {name}, I'm {agent}.\",\"shortcut\":\"hi\",\"updated_at\":\"2026-11-01T00:00:00Z\"}]}\n"
        );
        assert_eq!(render_saved(&hi, false).text(), "saved /hi\n");
        let gone = |deleted| pb::DeleteCannedResponseResponse { deleted };
        assert_eq!(
            render_deleted("hi", &gone(true), false).text(),
            "deleted /hi\n"
        );
        assert_eq!(
            render_deleted("hi", &gone(false), false).text(),
            "no canned response /hi\n"
        );
        assert_eq!(
            render_deleted("hi", &gone(false), true).text(),
            "{\"deleted\":false}\n"
        );
        let text = pb::ExpandCannedResponseResponse {
            text: "Hello Ada, I'm Bola.".into(),
        };
        assert_eq!(
            render_expanded(&text, false).text(),
            "Hello Ada, I'm Bola.\n"
        );
    }
}
