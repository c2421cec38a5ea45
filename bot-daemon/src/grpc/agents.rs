//! The shared desk over gRPC (issue 8): who is calling ([`Auth`]: the operator's admin token or
//! an agent's token, checked in constant time against SHA-256 hashes), and the handlers for
//! agents, assignment, priority, private notes, canned responses and the audit trail.
//!
//! Codes: a wrong token or a disabled agent's token is `UNAUTHENTICATED` (the credential no
//! longer opens the desk); a valid agent calling an operator-only RPC is `PERMISSION_DENIED`;
//! acting on another agent's chat, or on a chat that is not active, is `FAILED_PRECONDITION`.
//!
//! Revocation (issue 13): every reload of the token cache is announced ([`Auth::until_revoked`]),
//! so a long-lived call (`WatchChats`) whose token was disabled or rotated away ends at once with
//! `UNAUTHENTICATED` instead of streaming on with a credential that no longer opens the desk.

use std::sync::{Arc, RwLock};

use proto::v1 as pb;
use subtle::ConstantTimeEq;
use tonic::{metadata::MetadataMap, Request, Response, Status};

use super::{convert, page_size, AdminService};
use crate::{
    desk::{self, AgentRef, Caller},
    domain::{Address, State},
    storage::{AgentCredential, ContactRecord, Store, StoreError, Tx},
};

/// The most characters in a note, a canned response or a transfer note.
const MAX_NOTE: usize = 4096;

/// Resolves a call's bearer token to its [`Caller`]. Agents' token hashes are cached in memory
/// and reloaded after every change made through this API.
#[derive(Clone)]
pub struct Auth {
    admin: Arc<String>,
    agents: Arc<RwLock<Vec<AgentCredential>>>,
    /// Reloads run one at a time, so a slow reload that read before a later change can never
    /// overwrite the cache after it (a disabled agent must stay refused).
    reloading: Arc<tokio::sync::Mutex<()>>,
    /// Bumped after every reload, so open streams re-check their caller's token.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

fn bearer(metadata: &MetadataMap) -> Result<&str, Status> {
    let header = metadata
        .get("authorization")
        .ok_or_else(|| Status::unauthenticated("missing 'authorization: Bearer <token>' metadata"))?
        .to_str()
        .map_err(|_| Status::unauthenticated("malformed authorization metadata"))?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| Status::unauthenticated("authorization must be 'Bearer <token>'"))
}

impl Auth {
    /// The operator's token and the agents in `store`.
    ///
    /// # Errors
    /// The database.
    pub async fn load(admin: String, store: &Store) -> Result<Auth, StoreError> {
        let auth = Auth {
            admin: Arc::new(admin),
            agents: Arc::default(),
            reloading: Arc::default(),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        auth.reload(store).await?;
        Ok(auth)
    }

    /// Re-reads the agents' token hashes.
    ///
    /// # Errors
    /// The database.
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let _one_at_a_time = self.reloading.lock().await;
        let fresh = store.agent_credentials().await?;
        if let Ok(mut agents) = self.agents.write() {
            *agents = fresh;
        }
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }

    /// Resolves once the token in `metadata` no longer opens the desk as the same caller (its
    /// agent was disabled, or its token rotated away), with the `UNAUTHENTICATED` status to end
    /// the call with. Never resolves for the operator's token (it changes only on restart).
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when the token is already refused.
    pub fn until_revoked(
        &self,
        metadata: &MetadataMap,
    ) -> Result<impl std::future::Future<Output = Status> + Send + 'static, Status> {
        let token = bearer(metadata)?.to_string();
        // Subscribe before checking, so a revocation between the check and the wait is seen.
        let mut changes = self.changes.subscribe();
        let me = self.caller_for(&token)?.agent().cloned();
        let auth = self.clone();
        Ok(async move {
            let Some(me) = me else {
                return std::future::pending().await;
            };
            loop {
                if changes.changed().await.is_err() {
                    // The cache is gone (the server is shutting down): nothing more to revoke.
                    return std::future::pending().await;
                }
                match auth.caller_for(&token) {
                    Ok(Caller::Agent(a)) if a.id == me.id => continue,
                    _ => {}
                }
                let (why, fix) = if auth.is_disabled(me.id) {
                    (
                        format!("agent {:?} was disabled", me.name),
                        "to enable it again",
                    )
                } else {
                    (
                        "this token was replaced by a new one".to_string(),
                        "for the new token",
                    )
                };
                tracing::info!(agent = %me.name, %why, "ending a revoked agent's stream");
                return Status::unauthenticated(format!(
                    "your access was revoked: {why}; ask your lead (the operator) {fix}"
                ));
            }
        })
    }

    /// Whether agent `id` is known and disabled.
    fn is_disabled(&self, id: i64) -> bool {
        self.agents
            .read()
            .is_ok_and(|all| all.iter().any(|a| a.agent.id == id && !a.enabled))
    }

    /// Who is calling.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` for a missing or unknown token, or a disabled agent's.
    pub fn caller(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        self.caller_for(bearer(metadata)?)
    }

    fn caller_for(&self, given: &str) -> Result<Caller, Status> {
        if bool::from(given.as_bytes().ct_eq(self.admin.as_bytes())) {
            return Ok(Caller::Operator);
        }
        let hash = desk::hash_token(given);
        let agents = self
            .agents
            .read()
            .map_err(|_| Status::internal("the agents' table is unavailable"))?;
        // Every hash is compared, so the time taken says nothing about which one matched.
        let mut found: Option<&AgentCredential> = None;
        for a in agents.iter() {
            if bool::from(a.token_hash.ct_eq(&hash)) {
                found = Some(a);
            }
        }
        match found {
            Some(a) if a.enabled => Ok(Caller::Agent(a.agent.clone())),
            Some(a) => Err(Status::unauthenticated(format!(
                "agent {:?} is disabled; ask the operator to enable it",
                a.agent.name
            ))),
            None => Err(Status::unauthenticated("invalid token")),
        }
    }
}

/// The caller the auth interceptor attached to the request.
pub(super) fn caller_of<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing credentials"))
}

fn operator_only(caller: &Caller, what: &str) -> Result<(), Status> {
    match caller {
        Caller::Operator => Ok(()),
        Caller::Agent(a) => Err(Status::permission_denied(format!(
            "only the operator (the admin token) may {what}; agent {:?} may not",
            a.name
        ))),
    }
}

fn agent_only<'a>(caller: &'a Caller, what: &str) -> Result<&'a AgentRef, Status> {
    caller.agent().ok_or_else(|| {
        Status::failed_precondition(format!(
            "the admin token has no agent identity, so it cannot {what}; use an agent's token"
        ))
    })
}

fn agent_name(field: &str, name: &str) -> Result<String, Status> {
    let name = name.trim();
    desk::validate_agent_name(name)
        .map_err(|e| Status::invalid_argument(e.replacen("agent name", field, 1)))?;
    Ok(name.to_string())
}

/// A canned response's shortcut as typed (`/greet` or `greet`), checked.
fn shortcut_of(typed: &str) -> Result<String, Status> {
    let shortcut = typed.trim().trim_start_matches('/').to_string();
    desk::validate_shortcut(&shortcut).map_err(Status::invalid_argument)?;
    Ok(shortcut)
}

fn text_field(field: &str, text: &str) -> Result<(), Status> {
    if text.trim().is_empty() {
        return Err(Status::invalid_argument(format!("{field} is empty")));
    }
    if text.chars().count() > MAX_NOTE {
        return Err(Status::invalid_argument(format!(
            "{field} must be at most {MAX_NOTE} characters"
        )));
    }
    Ok(())
}

/// The contact, which must be in an active chat.
fn active_contact(tx: &Tx<'_>, address: &Address) -> Result<ContactRecord, StoreError> {
    let c = tx
        .contact_by_address(address)?
        .ok_or_else(|| StoreError::NotFound(address.as_str().to_string()))?;
    if c.state != State::ChatSupportActive {
        return Err(StoreError::FailedPrecondition(format!(
            "{} has no active chat session",
            address.as_str()
        )));
    }
    Ok(c)
}

/// An agent may change the assignment of an unassigned chat or of its own; another agent's
/// chat needs a takeover first. The operator may change any.
fn may_reassign(tx: &Tx<'_>, contact_id: i64, caller: &Caller) -> Result<(), StoreError> {
    if let (Some(me), Some(holder)) = (caller.agent(), tx.assignee(contact_id)?) {
        if holder.id != me.id {
            return Err(StoreError::FailedPrecondition(format!(
                "this chat is assigned to {}; only they or the operator can reassign it (or take it over by replying with takeover)",
                holder.name
            )));
        }
    }
    Ok(())
}

/// The enabled agent `name`.
fn target_agent(tx: &Tx<'_>, name: &str) -> Result<AgentRef, StoreError> {
    let a = tx
        .agent_by_name(name)?
        .ok_or_else(|| StoreError::Missing(format!("no agent named {name:?}")))?;
    if !a.enabled {
        return Err(StoreError::FailedPrecondition(format!(
            "agent {:?} is disabled",
            a.name
        )));
    }
    Ok(a.to_ref())
}

type Rpc<T> = Result<Response<T>, Status>;

impl AdminService {
    /// Runs a desk change on one conversation (`change` returns its contact id) and answers with
    /// the conversation as that same transaction left it (no second read).
    async fn summary_after(
        &self,
        change: impl FnOnce(&Tx<'_>) -> Result<i64, StoreError> + Send + 'static,
    ) -> Rpc<pb::ConversationSummary> {
        let s = self
            .engine
            .store()
            .write(move |tx| {
                let id = change(tx)?;
                tx.summary(id)
            })
            .await?;
        Ok(Response::new(convert::summary(&s)))
    }

    pub(super) async fn who_am_i_impl(
        &self,
        r: Request<pb::WhoAmIRequest>,
    ) -> Rpc<pb::WhoAmIResponse> {
        let caller = caller_of(&r)?;
        let agent = match caller.agent_id() {
            Some(id) => Some(convert::agent(&self.engine.store().agent(id).await?)),
            None => None,
        };
        Ok(Response::new(pb::WhoAmIResponse {
            operator: agent.is_none(),
            agent,
        }))
    }

    pub(super) async fn add_agent_impl(
        &self,
        r: Request<pb::AddAgentRequest>,
    ) -> Rpc<pb::AgentTokenResponse> {
        operator_only(&caller_of(&r)?, "add agents")?;
        let r = r.into_inner();
        let name = agent_name("name", &r.name)?;
        let display = match r.display_name.trim() {
            "" => name.clone(),
            d if d.chars().count() > 60 => {
                return Err(Status::invalid_argument(
                    "display_name must be at most 60 characters",
                ))
            }
            d => d.to_string(),
        };
        self.issue_token(move |tx, hash, now| tx.add_agent(&name, &display, hash, now))
            .await
    }

    /// A new token: its hash stored by `store` (in the writer), the caches reloaded so it works
    /// (and any old one stops) at once, and the token returned — the only time it is shown.
    async fn issue_token(
        &self,
        store: impl FnOnce(
                &Tx<'_>,
                &[u8; 32],
                crate::domain::Millis,
            ) -> Result<crate::storage::AgentRecord, StoreError>
            + Send
            + 'static,
    ) -> Rpc<pb::AgentTokenResponse> {
        let token = desk::new_token();
        let hash = desk::hash_token(&token);
        let now = self.engine.now();
        let agent = self
            .engine
            .store()
            .write(move |tx| store(tx, &hash, now))
            .await?;
        self.auth.reload(self.engine.store()).await?;
        Ok(Response::new(pb::AgentTokenResponse {
            agent: Some(convert::agent(&agent)),
            token,
        }))
    }

    pub(super) async fn list_agents_impl(
        &self,
        r: Request<pb::ListAgentsRequest>,
    ) -> Rpc<pb::ListAgentsResponse> {
        let caller = caller_of(&r)?;
        let agents = self.engine.store().list_agents().await?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: agents
                .iter()
                .filter(|a| a.enabled || caller == Caller::Operator)
                .map(convert::agent)
                .collect(),
        }))
    }

    pub(super) async fn set_agent_enabled_impl(
        &self,
        r: Request<pb::SetAgentEnabledRequest>,
    ) -> Rpc<pb::Agent> {
        operator_only(&caller_of(&r)?, "enable or disable agents")?;
        let r = r.into_inner();
        let name = agent_name("name", &r.name)?;
        let now = self.engine.now();
        let agent = self
            .engine
            .store()
            .write(move |tx| tx.set_agent_enabled(&name, r.enabled, now))
            .await?;
        self.auth.reload(self.engine.store()).await?;
        Ok(Response::new(convert::agent(&agent)))
    }

    pub(super) async fn rotate_agent_token_impl(
        &self,
        r: Request<pb::RotateAgentTokenRequest>,
    ) -> Rpc<pb::AgentTokenResponse> {
        operator_only(&caller_of(&r)?, "rotate agents' tokens")?;
        let name = agent_name("name", &r.into_inner().name)?;
        self.issue_token(move |tx, hash, now| tx.set_agent_token(&name, hash, now))
            .await
    }

    pub(super) async fn set_availability_impl(
        &self,
        r: Request<pb::SetAvailabilityRequest>,
    ) -> Rpc<pb::Agent> {
        let caller = caller_of(&r)?;
        let me = agent_only(&caller, "be available")?.id;
        let available = r.into_inner().available;
        let now = self.engine.now();
        let agent = self
            .engine
            .store()
            .write(move |tx| tx.set_availability(me, available, now))
            .await?;
        Ok(Response::new(convert::agent(&agent)))
    }

    pub(super) async fn claim_impl(
        &self,
        r: Request<pb::ClaimConversationRequest>,
    ) -> Rpc<pb::ConversationSummary> {
        let caller = caller_of(&r)?;
        let me = agent_only(&caller, "claim chats (assign them instead)")?.clone();
        let addr = self
            .contact("phone_number", &r.into_inner().phone_number)
            .await?;
        let now = self.engine.now();
        self.summary_after(move |tx| {
            let c = active_contact(tx, &addr)?;
            tx.claim(c.id, &me, now)?;
            Ok(c.id)
        })
        .await
    }

    pub(super) async fn assign_impl(
        &self,
        r: Request<pb::AssignConversationRequest>,
    ) -> Rpc<pb::ConversationSummary> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        let to = match r.agent.trim() {
            "" => None,
            n => Some(agent_name("agent", n)?),
        };
        if r.note.chars().count() > MAX_NOTE {
            return Err(Status::invalid_argument(format!(
                "note must be at most {MAX_NOTE} characters"
            )));
        }
        let now = self.engine.now();
        self.summary_after(move |tx| {
            let c = active_contact(tx, &addr)?;
            may_reassign(tx, c.id, &caller)?;
            let target = to.as_deref().map(|n| target_agent(tx, n)).transpose()?;
            let current = tx.assignee(c.id)?.map(|a| a.id);
            if current == target.as_ref().map(|a| a.id) {
                return Ok(c.id);
            }
            let (action, mut detail) = match &target {
                Some(a) => ("assigned", format!("to {}", a.name)),
                None => ("unassigned", String::new()),
            };
            if !r.note.trim().is_empty() {
                detail = format!("{detail}: {}", r.note.trim());
            }
            tx.reassign(c.id, target.as_ref(), &caller, action, detail.trim(), now)?;
            Ok(c.id)
        })
        .await
    }

    pub(super) async fn transfer_impl(
        &self,
        r: Request<pb::TransferConversationRequest>,
    ) -> Rpc<pb::ConversationSummary> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        let to = agent_name("agent", &r.agent)?;
        text_field("note", &r.note)?;
        let note = r.note.trim().to_string();
        let now = self.engine.now();
        self.summary_after(move |tx| {
            let c = active_contact(tx, &addr)?;
            may_reassign(tx, c.id, &caller)?;
            let target = target_agent(tx, &to)?;
            if tx.assignee(c.id)?.map(|a| a.id) == Some(target.id) {
                return Err(StoreError::FailedPrecondition(format!(
                    "this chat is already assigned to {}",
                    target.name
                )));
            }
            tx.reassign(
                c.id,
                Some(&target),
                &caller,
                "transferred",
                &format!("to {}: {note}", target.name),
                now,
            )?;
            tx.add_note(
                c.id,
                c.current_session_id,
                &caller,
                &format!("Transferred to {}: {note}", target.name),
                now,
            )?;
            Ok(c.id)
        })
        .await
    }

    pub(super) async fn set_priority_impl(
        &self,
        r: Request<pb::SetPriorityRequest>,
    ) -> Rpc<pb::ConversationSummary> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        let priority = convert::priority_from(r.priority).ok_or_else(|| {
            Status::invalid_argument("priority must be PRIORITY_LOW, _NORMAL, _HIGH or _URGENT")
        })?;
        let now = self.engine.now();
        self.summary_after(move |tx| {
            let c = active_contact(tx, &addr)?;
            if tx.priority(c.id)? != priority {
                tx.set_priority(c.id, priority, Some(&caller), now)?;
            }
            Ok(c.id)
        })
        .await
    }

    pub(super) async fn add_note_impl(&self, r: Request<pb::AddNoteRequest>) -> Rpc<pb::Note> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        text_field("text", &r.text)?;
        let now = self.engine.now();
        let note = self
            .engine
            .store()
            .write(move |tx| {
                let c = tx
                    .contact_by_address(&addr)?
                    .ok_or_else(|| StoreError::NotFound(addr.as_str().to_string()))?;
                let session = (c.state == State::ChatSupportActive)
                    .then_some(c.current_session_id)
                    .flatten();
                tx.add_note(c.id, session, &caller, &r.text, now)
            })
            .await?;
        Ok(Response::new(convert::note(&note)))
    }

    pub(super) async fn list_canned_impl(
        &self,
        r: Request<pb::ListCannedResponsesRequest>,
    ) -> Rpc<pb::ListCannedResponsesResponse> {
        caller_of(&r)?;
        let all = self.engine.store().canned_responses(None).await?;
        Ok(Response::new(pb::ListCannedResponsesResponse {
            responses: all.iter().map(convert::canned).collect(),
        }))
    }

    pub(super) async fn put_canned_impl(
        &self,
        r: Request<pb::PutCannedResponseRequest>,
    ) -> Rpc<pb::CannedResponse> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let shortcut = shortcut_of(&r.shortcut)?;
        text_field("body", &r.body)?;
        let now = self.engine.now();
        let saved = self
            .engine
            .store()
            .write(move |tx| tx.put_canned(&shortcut, &r.body, now))
            .await?;
        tracing::info!(shortcut = %saved.shortcut, by = %caller.label(), "canned response saved");
        Ok(Response::new(convert::canned(&saved)))
    }

    pub(super) async fn delete_canned_impl(
        &self,
        r: Request<pb::DeleteCannedResponseRequest>,
    ) -> Rpc<pb::DeleteCannedResponseResponse> {
        caller_of(&r)?;
        let shortcut = shortcut_of(&r.into_inner().shortcut)?;
        let now = self.engine.now();
        let deleted = self
            .engine
            .store()
            .write(move |tx| tx.delete_canned(&shortcut, now))
            .await?;
        Ok(Response::new(pb::DeleteCannedResponseResponse { deleted }))
    }

    pub(super) async fn expand_canned_impl(
        &self,
        r: Request<pb::ExpandCannedResponseRequest>,
    ) -> Rpc<pb::ExpandCannedResponseResponse> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let shortcut = shortcut_of(&r.shortcut)?;
        let found = self
            .engine
            .store()
            .canned_responses(Some(shortcut.clone()))
            .await?;
        let Some(c) = found.first() else {
            return Err(Status::not_found(format!("no canned response /{shortcut}")));
        };
        let name = if r.phone_number.trim().is_empty() {
            "{name}".to_string()
        } else {
            let addr = self.contact("phone_number", &r.phone_number).await?;
            self.engine
                .store()
                .find_conversation(addr.clone())
                .await?
                .ok_or_else(|| Status::not_found(format!("no conversation for {}", addr.as_str())))?
                .display_name
        };
        let agent = caller
            .agent()
            .map_or("Support Team", |a| desk::first_name(&a.display_name));
        Ok(Response::new(pb::ExpandCannedResponseResponse {
            text: desk::expand(&c.body, &name, agent),
        }))
    }

    pub(super) async fn list_audit_impl(
        &self,
        r: Request<pb::ListAuditRequest>,
    ) -> Rpc<pb::ListAuditResponse> {
        caller_of(&r)?;
        let r = r.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        if r.before < 0 {
            return Err(Status::invalid_argument(
                "before must be an entry id (>= 0)",
            ));
        }
        let size = page_size(r.page_size, super::DEFAULT_THREAD_PAGE)?;
        let (entries, next_before) = self
            .engine
            .store()
            .audit_trail(addr, size, r.before)
            .await?;
        Ok(Response::new(pb::ListAuditResponse {
            entries: entries.iter().map(convert::audit).collect(),
            next_before,
        }))
    }
}
