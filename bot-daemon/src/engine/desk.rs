//! The shared desk's rules (issue 8) on the store: who may claim, assign, transfer or take over
//! a chat, set its priority, write notes, manage canned responses and agents, and what each of
//! those checks and records. Every change runs in one writer transaction with its audit row and
//! event, and answers with the conversation as that transaction left it.
//!
//! The front ends (gRPC, and through it the command line and the console) only parse a request,
//! call one of these methods and map the error: `PermissionDenied` for an agent calling an
//! operator-only action, `FailedPrecondition` for another agent's chat, a chat that is not
//! active, or an action that needs an agent's identity, `Invalid` for malformed fields.

use super::{Engine, EngineError};
use crate::{
    desk::{self, AgentRef, Caller, DeskSettings, Priority},
    domain::{Address, ContactRef, Millis, State},
    storage::{
        AgentRecord, CannedResponse, Claim, ContactRecord, NoteRecord, StoreError, Summary, Tx,
    },
};

/// The most characters in a note, a canned response or a transfer note.
pub const MAX_NOTE: usize = 4096;

/// The most characters in an agent's display name.
pub const MAX_DISPLAY_NAME: usize = 60;

/// An agent with a token just issued: the only time the token is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedToken {
    /// The agent afterwards.
    pub agent: AgentRecord,
    /// The new token (only its hash is stored).
    pub token: String,
}

pub(super) fn operator_only(caller: &Caller, what: &str) -> Result<(), EngineError> {
    match caller {
        Caller::Operator => Ok(()),
        Caller::Agent(a) => Err(EngineError::PermissionDenied(format!(
            "only the operator (the admin token) may {what}; agent {:?} may not",
            a.name
        ))),
    }
}

fn agent_only<'a>(caller: &'a Caller, what: &str) -> Result<&'a AgentRef, EngineError> {
    caller.agent().ok_or_else(|| {
        EngineError::FailedPrecondition(format!(
            "the admin token has no agent identity, so it cannot {what}; use an agent's token"
        ))
    })
}

/// An agent's login name as given in `field`, trimmed and checked.
fn agent_name(field: &str, name: &str) -> Result<String, EngineError> {
    let name = name.trim();
    desk::validate_agent_name(name)
        .map_err(|e| EngineError::Invalid(e.replacen("agent name", field, 1)))?;
    Ok(name.to_string())
}

/// A canned response's shortcut as typed (`/greet` or `greet`), checked.
fn shortcut_of(typed: &str) -> Result<String, EngineError> {
    let shortcut = typed.trim().trim_start_matches('/').to_string();
    desk::validate_shortcut(&shortcut).map_err(EngineError::Invalid)?;
    Ok(shortcut)
}

/// A note or a canned response's body: not blank, at most [`MAX_NOTE`] characters.
fn text_field(field: &str, text: &str) -> Result<(), EngineError> {
    if text.trim().is_empty() {
        return Err(EngineError::Invalid(format!("{field} is empty")));
    }
    if text.chars().count() > MAX_NOTE {
        return Err(EngineError::Invalid(format!(
            "{field} must be at most {MAX_NOTE} characters"
        )));
    }
    Ok(())
}

/// The contact, which must be in an active chat.
fn active_contact(tx: &dyn Tx, address: &Address) -> Result<ContactRecord, EngineError> {
    let c = tx
        .contact_by_address(address)?
        .ok_or_else(|| EngineError::NotFound(address.as_str().to_string()))?;
    if c.state != State::ChatSupportActive {
        return Err(EngineError::FailedPrecondition(format!(
            "{} has no active chat session",
            address.as_str()
        )));
    }
    Ok(c)
}

/// An agent may change the assignment of an unassigned chat or of its own; another agent's
/// chat needs a takeover first. The operator may change any.
fn may_reassign(tx: &dyn Tx, contact_id: i64, caller: &Caller) -> Result<(), EngineError> {
    if let (Some(me), Some(holder)) = (caller.agent(), tx.assignee(contact_id)?) {
        if holder.id != me.id {
            return Err(EngineError::FailedPrecondition(format!(
                "this chat is assigned to {}; only they or the operator can reassign it (or take it over by replying with takeover)",
                holder.name
            )));
        }
    }
    Ok(())
}

/// No agent of that name.
fn no_agent(name: &str) -> EngineError {
    EngineError::Missing(format!("no agent named {name:?}"))
}

/// The enabled agent `name`.
fn target_agent(tx: &dyn Tx, name: &str) -> Result<AgentRef, EngineError> {
    let a = tx.agent_by_name(name)?.ok_or_else(|| no_agent(name))?;
    if !a.enabled {
        return Err(EngineError::FailedPrecondition(format!(
            "agent {:?} is disabled",
            a.name
        )));
    }
    Ok(a.to_ref())
}

/// An agent acting on a chat assigned to another agent needs `takeover` (which reassigns the
/// chat to them, audited). With `claim_unassigned`, acting on an unassigned active chat claims
/// it (an agent's first reply takes the chat, as support desks do). The operator passes.
pub(super) fn guard_assignment(
    tx: &dyn Tx,
    contact: &ContactRecord,
    caller: &Caller,
    takeover: bool,
    claim_unassigned: bool,
    now: Millis,
) -> Result<(), EngineError> {
    let Some(me) = caller.agent() else {
        return Ok(());
    };
    match tx.assignee(contact.id)? {
        Some(holder) if holder.id != me.id => {
            if !takeover {
                return Err(EngineError::FailedPrecondition(format!(
                    "this chat is assigned to {}; set takeover to act on it anyway (it becomes yours)",
                    holder.name
                )));
            }
            tx.reassign(
                contact.id,
                Some(me),
                caller,
                "takeover",
                &format!("from {}", holder.name),
                now,
            )?;
        }
        None if claim_unassigned && contact.state == State::ChatSupportActive => {
            claim(tx, contact.id, me, now)?;
        }
        _ => {}
    }
    Ok(())
}

/// `agent` claims the chat; `false` when it was theirs already.
pub(super) fn claim(
    tx: &dyn Tx,
    contact_id: i64,
    agent: &AgentRef,
    now: Millis,
) -> Result<bool, EngineError> {
    match tx.claim(contact_id, agent, now)? {
        Claim::Claimed => Ok(true),
        Claim::AlreadyTheirs => Ok(false),
        Claim::HeldBy(holder) => Err(EngineError::FailedPrecondition(format!(
            "this chat is already assigned to {}",
            holder.name
        ))),
        Claim::Failed => Err(EngineError::FailedPrecondition(
            "the chat could not be claimed; try again".into(),
        )),
    }
}

/// The prefix an agent's messages carry on WhatsApp: "🎧 Support Team: ", or "🎧 {first name}: "
/// with `show_agent_name`.
pub(super) fn agent_prefix(desk: &DeskSettings, caller: &Caller) -> String {
    match caller.agent() {
        Some(a) if desk.show_agent_name => {
            format!("🎧 {}: ", desk::first_name(&a.display_name))
        }
        _ => crate::conversation::texts::AGENT_PREFIX.to_string(),
    }
}

impl Engine {
    /// Runs a desk change on one conversation (`change` returns its contact id) and answers with
    /// the conversation as that same transaction left it (no second read).
    async fn summary_after(
        &self,
        change: impl FnOnce(&dyn Tx) -> Result<i64, EngineError> + Send + 'static,
    ) -> Result<Summary, EngineError> {
        self.store
            .write(move |tx| {
                let id = change(tx)?;
                Ok(tx.summary(id)?)
            })
            .await
    }

    /// The caller's agent record; `None` for the operator.
    ///
    /// # Errors
    /// Storage.
    pub async fn who_am_i(&self, caller: &Caller) -> Result<Option<AgentRecord>, EngineError> {
        match caller.agent_id() {
            Some(id) => Ok(Some(self.store.agent(id).await?)),
            None => Ok(None),
        }
    }

    /// The agents the caller may see: all of them for the operator, the enabled ones for agents.
    ///
    /// # Errors
    /// Storage.
    pub async fn list_agents(&self, caller: &Caller) -> Result<Vec<AgentRecord>, EngineError> {
        let mut agents = self.store.list_agents().await?;
        agents.retain(|a| a.enabled || *caller == Caller::Operator);
        Ok(agents)
    }

    /// The operator adds agent `name` (its display name defaults to the name) with a new token.
    ///
    /// # Errors
    /// `PermissionDenied` for an agent, `Invalid` name or display name, `AlreadyExists`, storage.
    pub async fn add_agent(
        &self,
        caller: &Caller,
        name: &str,
        display_name: &str,
    ) -> Result<IssuedToken, EngineError> {
        operator_only(caller, "add agents")?;
        let name = agent_name("name", name)?;
        let display = match display_name.trim() {
            "" => name.clone(),
            d if d.chars().count() > MAX_DISPLAY_NAME => {
                return Err(EngineError::Invalid(format!(
                    "display_name must be at most {MAX_DISPLAY_NAME} characters"
                )))
            }
            d => d.to_string(),
        };
        self.issue_token(move |tx, hash, now| {
            tx.add_agent(&name, &display, hash, now)
                .map_err(|e| match e {
                    StoreError::Conflict(_) => EngineError::AlreadyExists(format!(
                        "an agent named {name:?} already exists"
                    )),
                    e => e.into(),
                })
        })
        .await
    }

    /// The operator replaces agent `name`'s token: the old one stops opening the desk.
    ///
    /// # Errors
    /// `PermissionDenied` for an agent, `Invalid` name, `Missing` agent, storage.
    pub async fn rotate_agent_token(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<IssuedToken, EngineError> {
        operator_only(caller, "rotate agents' tokens")?;
        let name = agent_name("name", name)?;
        self.issue_token(move |tx, hash, now| {
            tx.set_agent_token(&name, hash, now)?
                .ok_or_else(|| no_agent(&name))
        })
        .await
    }

    /// A new token, its hash stored by `store` in the writer.
    async fn issue_token(
        &self,
        store: impl FnOnce(&dyn Tx, &[u8; 32], Millis) -> Result<AgentRecord, EngineError>
            + Send
            + 'static,
    ) -> Result<IssuedToken, EngineError> {
        let token = desk::new_token();
        let hash = desk::hash_token(&token);
        let now = self.now();
        let agent = self.store.write(move |tx| store(tx, &hash, now)).await?;
        Ok(IssuedToken { agent, token })
    }

    /// The operator enables or disables agent `name`.
    ///
    /// # Errors
    /// `PermissionDenied` for an agent, `Invalid` name, `Missing` agent, storage.
    pub async fn set_agent_enabled(
        &self,
        caller: &Caller,
        name: &str,
        enabled: bool,
    ) -> Result<AgentRecord, EngineError> {
        operator_only(caller, "enable or disable agents")?;
        let name = agent_name("name", name)?;
        let now = self.now();
        self.store
            .write(move |tx| {
                tx.set_agent_enabled(&name, enabled, now)?
                    .ok_or_else(|| no_agent(&name))
            })
            .await
    }

    /// The calling agent becomes available (for round-robin) or not.
    ///
    /// # Errors
    /// `FailedPrecondition` for the operator (no agent identity), storage.
    pub async fn set_availability(
        &self,
        caller: &Caller,
        available: bool,
    ) -> Result<AgentRecord, EngineError> {
        let me = agent_only(caller, "be available")?.id;
        let now = self.now();
        Ok(self
            .store
            .write(move |tx| tx.set_availability(me, available, now))
            .await?)
    }

    /// The calling agent claims the active chat at `address`.
    ///
    /// # Errors
    /// `FailedPrecondition` for the operator, a chat that is not active or already someone
    /// else's; `NotFound` contact; storage.
    pub async fn claim(&self, caller: &Caller, address: Address) -> Result<Summary, EngineError> {
        let me = agent_only(caller, "claim chats (assign them instead)")?.clone();
        let now = self.now();
        self.summary_after(move |tx| {
            let c = active_contact(tx, &address)?;
            claim(tx, c.id, &me, now)?;
            Ok(c.id)
        })
        .await
    }

    /// Assigns the active chat at `address` to agent `agent`, or unassigns it (`agent` blank),
    /// with an optional `note` in the audit trail. Assigning to the current holder changes
    /// nothing.
    ///
    /// # Errors
    /// `Invalid` agent name or note; `NotFound` contact; `Missing` agent; `FailedPrecondition`
    /// for a chat that is not active, another agent's chat, or a disabled agent; storage.
    pub async fn assign(
        &self,
        caller: &Caller,
        address: Address,
        agent: &str,
        note: &str,
    ) -> Result<Summary, EngineError> {
        let to = match agent.trim() {
            "" => None,
            n => Some(agent_name("agent", n)?),
        };
        if note.chars().count() > MAX_NOTE {
            return Err(EngineError::Invalid(format!(
                "note must be at most {MAX_NOTE} characters"
            )));
        }
        let note = note.trim().to_string();
        let caller = caller.clone();
        let now = self.now();
        self.summary_after(move |tx| {
            let c = active_contact(tx, &address)?;
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
            if !note.is_empty() {
                detail = format!("{detail}: {note}");
            }
            tx.reassign(c.id, target.as_ref(), &caller, action, detail.trim(), now)?;
            Ok(c.id)
        })
        .await
    }

    /// Transfers the active chat at `address` to agent `agent` with a required `note`, which is
    /// also left as a private note on the chat.
    ///
    /// # Errors
    /// As [`Engine::assign`], `Invalid` for a blank note, and `FailedPrecondition` when the
    /// chat is already that agent's.
    pub async fn transfer(
        &self,
        caller: &Caller,
        address: Address,
        agent: &str,
        note: &str,
    ) -> Result<Summary, EngineError> {
        let to = agent_name("agent", agent)?;
        text_field("note", note)?;
        let note = note.trim().to_string();
        let caller = caller.clone();
        let now = self.now();
        self.summary_after(move |tx| {
            let c = active_contact(tx, &address)?;
            may_reassign(tx, c.id, &caller)?;
            let target = target_agent(tx, &to)?;
            if tx.assignee(c.id)?.map(|a| a.id) == Some(target.id) {
                return Err(EngineError::FailedPrecondition(format!(
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

    /// Sets the priority of the active chat at `address` (any agent may); the same priority
    /// again changes nothing.
    ///
    /// # Errors
    /// `NotFound` contact, `FailedPrecondition` for a chat that is not active, storage.
    pub async fn set_priority(
        &self,
        caller: &Caller,
        address: Address,
        priority: Priority,
    ) -> Result<Summary, EngineError> {
        let caller = caller.clone();
        let now = self.now();
        self.summary_after(move |tx| {
            let c = active_contact(tx, &address)?;
            if tx.priority(c.id)? != priority {
                tx.set_priority(c.id, priority, Some(&caller), now)?;
            }
            Ok(c.id)
        })
        .await
    }

    /// A private note on the contact at `address` (any agent may write one, in a chat or not;
    /// inside a chat it belongs to the chat's session).
    ///
    /// # Errors
    /// `Invalid` text, `NotFound` contact, storage.
    pub async fn add_note(
        &self,
        caller: &Caller,
        address: Address,
        text: String,
    ) -> Result<NoteRecord, EngineError> {
        text_field("text", &text)?;
        let caller = caller.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let c = tx
                    .contact_by_address(&address)?
                    .ok_or_else(|| EngineError::NotFound(address.as_str().to_string()))?;
                let session = (c.state == State::ChatSupportActive)
                    .then_some(c.current_session_id)
                    .flatten();
                Ok(tx.add_note(c.id, session, &caller, &text, now)?)
            })
            .await
    }

    /// Every canned response, by shortcut.
    ///
    /// # Errors
    /// Storage.
    pub async fn canned_responses(&self) -> Result<Vec<CannedResponse>, EngineError> {
        Ok(self.store.canned_responses(None).await?)
    }

    /// Saves the canned response `shortcut` (`/greet` or `greet`), replacing one of that name.
    ///
    /// # Errors
    /// `Invalid` shortcut or body, storage.
    pub async fn put_canned(
        &self,
        caller: &Caller,
        shortcut: &str,
        body: String,
    ) -> Result<CannedResponse, EngineError> {
        let shortcut = shortcut_of(shortcut)?;
        text_field("body", &body)?;
        let now = self.now();
        let saved = self
            .store
            .write(move |tx| tx.put_canned(&shortcut, &body, now))
            .await?;
        tracing::info!(shortcut = %saved.shortcut, by = %caller.label(), "canned response saved");
        Ok(saved)
    }

    /// Deletes the canned response `shortcut`; whether there was one.
    ///
    /// # Errors
    /// `Invalid` shortcut, storage.
    pub async fn delete_canned(&self, shortcut: &str) -> Result<bool, EngineError> {
        let shortcut = shortcut_of(shortcut)?;
        let now = self.now();
        Ok(self
            .store
            .write(move |tx| tx.delete_canned(&shortcut, now))
            .await?)
    }

    /// The canned response `shortcut` with `{name}` (the contact `contact` names, resolved only
    /// once the response is found; `{name}` kept when none is given) and `{agent}` (the caller's first name, or "Support Team" for the
    /// operator) filled in.
    ///
    /// # Errors
    /// `Invalid` shortcut, `Missing` canned response, `NotFound` contact, storage.
    pub async fn expand_canned(
        &self,
        caller: &Caller,
        shortcut: &str,
        contact: Option<ContactRef>,
    ) -> Result<String, EngineError> {
        let shortcut = shortcut_of(shortcut)?;
        let found = self.store.canned_responses(Some(shortcut.clone())).await?;
        let Some(c) = found.first() else {
            return Err(EngineError::Missing(format!(
                "no canned response /{shortcut}"
            )));
        };
        let name = match contact {
            None => "{name}".to_string(),
            Some(who) => {
                let address = self.resolve_contact(who).await?;
                self.store
                    .find_conversation(address.clone())
                    .await?
                    .ok_or_else(|| EngineError::NotFound(address.as_str().to_string()))?
                    .display_name
            }
        };
        let agent = caller
            .agent()
            .map_or("Support Team", |a| desk::first_name(&a.display_name));
        Ok(desk::expand(&c.body, &name, agent))
    }
}
