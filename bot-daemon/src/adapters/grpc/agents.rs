//! The shared desk over gRPC (issue 8): who is calling ([`Auth`]: the operator's admin token or
//! an agent's token, checked in constant time against SHA-256 hashes), and the thin handlers for
//! agents, assignment, priority, private notes, canned responses and the audit trail: each
//! parses the request, calls one engine method (the rules live in `engine/desk.rs`), converts.
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
    desk::{self, Caller},
    domain::parse_contact,
    engine::IssuedToken,
    storage::{AgentCredential, Store, StoreError},
};

/// How often a daemon on a shared desk re-reads the agents' tokens (see
/// [`Auth::follow_other_daemons`]): a change made through another daemon applies here within
/// this, plus one read.
pub const SHARED_RELOAD: std::time::Duration = std::time::Duration::from_millis(250);

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
        let changed = match self.agents.write() {
            Ok(mut agents) if *agents != fresh => {
                *agents = fresh;
                true
            }
            _ => false,
        };
        // Open streams re-check their caller only when something changed.
        if changed {
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    /// On a desk shared by several daemons (PostgreSQL), another daemon may disable an agent or
    /// rotate a token: re-reads the agents every [`SHARED_RELOAD`] until `shutdown`, so such a
    /// change is refused here (and ends the agent's streams here) within a second. A small
    /// table read on a pooled connection; a failed read keeps the last cache and is logged.
    pub fn follow_other_daemons(
        &self,
        store: Store,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let auth = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SHARED_RELOAD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                match auth.reload(&store).await {
                    Ok(()) => failing = false,
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "cannot re-read the agents' tokens; keeping the last ones read");
                    }
                    Err(_) => {}
                }
            }
        });
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

type Rpc<T> = Result<Response<T>, Status>;

fn token_response(issued: &IssuedToken) -> pb::AgentTokenResponse {
    pb::AgentTokenResponse {
        agent: Some(convert::agent(&issued.agent)),
        token: issued.token.clone(),
    }
}

impl AdminService {
    pub(super) async fn who_am_i_impl(
        &self,
        r: Request<pb::WhoAmIRequest>,
    ) -> Rpc<pb::WhoAmIResponse> {
        let agent = self.engine.who_am_i(&caller_of(&r)?).await?;
        Ok(Response::new(pb::WhoAmIResponse {
            operator: agent.is_none(),
            agent: agent.as_ref().map(convert::agent),
        }))
    }

    /// The token cache is reloaded after every change to the agents, so a new token works (and
    /// an old one stops) at once.
    pub(super) async fn add_agent_impl(
        &self,
        r: Request<pb::AddAgentRequest>,
    ) -> Rpc<pb::AgentTokenResponse> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let issued = self
            .engine
            .add_agent(&caller, &r.name, &r.display_name)
            .await?;
        self.auth.reload(self.engine.store()).await?;
        Ok(Response::new(token_response(&issued)))
    }

    pub(super) async fn list_agents_impl(
        &self,
        r: Request<pb::ListAgentsRequest>,
    ) -> Rpc<pb::ListAgentsResponse> {
        let agents = self.engine.list_agents(&caller_of(&r)?).await?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: agents.iter().map(convert::agent).collect(),
        }))
    }

    pub(super) async fn set_agent_enabled_impl(
        &self,
        r: Request<pb::SetAgentEnabledRequest>,
    ) -> Rpc<pb::Agent> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let agent = self
            .engine
            .set_agent_enabled(&caller, &r.name, r.enabled)
            .await?;
        self.auth.reload(self.engine.store()).await?;
        Ok(Response::new(convert::agent(&agent)))
    }

    pub(super) async fn rotate_agent_token_impl(
        &self,
        r: Request<pb::RotateAgentTokenRequest>,
    ) -> Rpc<pb::AgentTokenResponse> {
        let caller = caller_of(&r)?;
        let issued = self
            .engine
            .rotate_agent_token(&caller, &r.into_inner().name)
            .await?;
        self.auth.reload(self.engine.store()).await?;
        Ok(Response::new(token_response(&issued)))
    }

    pub(super) async fn set_availability_impl(
        &self,
        r: Request<pb::SetAvailabilityRequest>,
    ) -> Rpc<pb::Agent> {
        let caller = caller_of(&r)?;
        let agent = self
            .engine
            .set_availability(&caller, r.into_inner().available)
            .await?;
        Ok(Response::new(convert::agent(&agent)))
    }

    pub(super) async fn claim_impl(
        &self,
        r: Request<pb::ClaimConversationRequest>,
    ) -> Rpc<pb::ConversationSummary> {
        let caller = caller_of(&r)?;
        let addr = self
            .contact("phone_number", &r.into_inner().phone_number)
            .await?;
        let s = self.engine.claim(&caller, addr).await?;
        Ok(Response::new(convert::summary(&s)))
    }

    pub(super) async fn assign_impl(
        &self,
        r: Request<pb::AssignConversationRequest>,
    ) -> Rpc<pb::ConversationSummary> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        let s = self.engine.assign(&caller, addr, &r.agent, &r.note).await?;
        Ok(Response::new(convert::summary(&s)))
    }

    pub(super) async fn transfer_impl(
        &self,
        r: Request<pb::TransferConversationRequest>,
    ) -> Rpc<pb::ConversationSummary> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        let s = self
            .engine
            .transfer(&caller, addr, &r.agent, &r.note)
            .await?;
        Ok(Response::new(convert::summary(&s)))
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
        let s = self.engine.set_priority(&caller, addr, priority).await?;
        Ok(Response::new(convert::summary(&s)))
    }

    pub(super) async fn add_note_impl(&self, r: Request<pb::AddNoteRequest>) -> Rpc<pb::Note> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        let note = self.engine.add_note(&caller, addr, r.text).await?;
        Ok(Response::new(convert::note(&note)))
    }

    pub(super) async fn list_canned_impl(
        &self,
        r: Request<pb::ListCannedResponsesRequest>,
    ) -> Rpc<pb::ListCannedResponsesResponse> {
        caller_of(&r)?;
        let all = self.engine.canned_responses().await?;
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
        let saved = self.engine.put_canned(&caller, &r.shortcut, r.body).await?;
        Ok(Response::new(convert::canned(&saved)))
    }

    pub(super) async fn delete_canned_impl(
        &self,
        r: Request<pb::DeleteCannedResponseRequest>,
    ) -> Rpc<pb::DeleteCannedResponseResponse> {
        caller_of(&r)?;
        let deleted = self.engine.delete_canned(&r.into_inner().shortcut).await?;
        Ok(Response::new(pb::DeleteCannedResponseResponse { deleted }))
    }

    /// The contact is parsed here but resolved by the engine, only once the response is found.
    pub(super) async fn expand_canned_impl(
        &self,
        r: Request<pb::ExpandCannedResponseRequest>,
    ) -> Rpc<pb::ExpandCannedResponseResponse> {
        let caller = caller_of(&r)?;
        let r = r.into_inner();
        let who = match r.phone_number.trim() {
            "" => None,
            _ => Some(parse_contact(&r.phone_number).map_err(Status::invalid_argument)?),
        };
        let text = self.engine.expand_canned(&caller, &r.shortcut, who).await?;
        Ok(Response::new(pb::ExpandCannedResponseResponse { text }))
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
