//! PostgreSQL's storage of the shared desk (issue 8): agents and their token hashes, a chat's
//! assignment and priority, private notes, canned responses and the audit trail. Writes
//! ([`DeskTx`]) run inside the writer's transaction and write their audit row and event in that
//! same transaction; reads run on the read pool.
//!
//! Several daemons write one desk: what a write reads to decide (a chat's assignee, the agent
//! round-robin picks) is locked (`FOR UPDATE`, `FOR NO KEY UPDATE`) until the commit, so two
//! daemons cannot both take one chat. Names and shortcuts match in any case (`lower(…)`, as SQLite's `NOCASE`).

use postgres::Row;

use super::conn::Conn;
use super::{PgTx, Reads};
use crate::storage::{
    AgentCredential, AgentRecord, AuditRecord, CannedResponse, Claim, ConversationTx, DeskTx,
    EventKind, NoteRecord, StoreError,
};
use crate::{
    desk::{AgentRef, Caller, Priority},
    domain::{Address, Millis},
};

/// An agent's columns, for [`agent_from_row`].
macro_rules! agent_cols {
    () => {
        "id, name, display_name, enabled, available, created_at, last_assigned_at"
    };
}

fn agent_from_row(r: &Row) -> Result<AgentRecord, StoreError> {
    Ok(AgentRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        display_name: r.try_get(2)?,
        enabled: r.try_get(3)?,
        available: r.try_get(4)?,
        created_at: r.try_get(5)?,
        last_assigned_at: r.try_get(6)?,
    })
}

/// A note's columns, for [`note_from_row`].
macro_rules! note_cols {
    () => {
        "id, contact_id, session_id, agent_id, \
         (SELECT a.name FROM agents a WHERE a.id = notes.agent_id), text, created_at"
    };
}

fn note_from_row(r: &Row) -> Result<NoteRecord, StoreError> {
    Ok(NoteRecord {
        id: r.try_get(0)?,
        contact_id: r.try_get(1)?,
        session_id: r.try_get(2)?,
        agent_id: r.try_get(3)?,
        agent_name: r.try_get(4)?,
        text: super::rows::from_pg(r.try_get(5)?),
        created_at: r.try_get(6)?,
    })
}

/// A row a statement must find (a contact or an agent known to exist): its absence is a
/// defect, `Internal` (as SQLite's "no rows" is).
fn required(row: Option<Row>, what: &str) -> Result<Row, StoreError> {
    row.ok_or_else(|| StoreError::Internal(format!("query returned no rows: {what}")))
}

fn agent_by_name(conn: &mut Conn, name: &str) -> Result<Option<AgentRecord>, StoreError> {
    conn.query_opt(
        concat!(
            "SELECT ",
            agent_cols!(),
            " FROM agents WHERE lower(name) = lower($1)"
        ),
        &[&name],
    )?
    .map(|r| agent_from_row(&r))
    .transpose()
}

fn agent_by_id(conn: &mut Conn, id: i64) -> Result<AgentRecord, StoreError> {
    let row = conn.query_opt(
        concat!("SELECT ", agent_cols!(), " FROM agents WHERE id = $1"),
        &[&id],
    )?;
    agent_from_row(&required(row, &format!("agent {id}"))?)
}

impl DeskTx for PgTx<'_> {
    fn add_agent(
        &self,
        name: &str,
        display_name: &str,
        token_hash: &[u8; 32],
        now: Millis,
    ) -> Result<AgentRecord, StoreError> {
        // A taken name (or hash) inserts nothing instead of failing the transaction.
        let hash: &[u8] = &token_hash[..];
        let row = self.query_opt(
            concat!(
                "INSERT INTO agents (name, display_name, token_hash, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING RETURNING ",
                agent_cols!()
            ),
            &[&name, &display_name, &hash, &now],
        )?;
        match row {
            Some(r) => agent_from_row(&r),
            None => Err(StoreError::Conflict(format!(
                "the agent name {name:?} is taken"
            ))),
        }
    }

    fn agent_by_name(&self, name: &str) -> Result<Option<AgentRecord>, StoreError> {
        self.with(|c| agent_by_name(c, name))
    }

    fn set_agent_enabled(
        &self,
        name: &str,
        enabled: bool,
        now: Millis,
    ) -> Result<Option<AgentRecord>, StoreError> {
        self.query_opt(
            concat!(
                "UPDATE agents SET enabled = $2, available = CASE WHEN $2 THEN available ELSE FALSE END,
                     updated_at = $3
                 WHERE lower(name) = lower($1) RETURNING ",
                agent_cols!()
            ),
            &[&name, &enabled, &now],
        )?
        .map(|r| agent_from_row(&r))
        .transpose()
    }

    fn set_agent_token(
        &self,
        name: &str,
        token_hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<AgentRecord>, StoreError> {
        let hash: &[u8] = &token_hash[..];
        self.query_opt(
            concat!(
                "UPDATE agents SET token_hash = $2, updated_at = $3 WHERE lower(name) = lower($1) RETURNING ",
                agent_cols!()
            ),
            &[&name, &hash, &now],
        )?
        .map(|r| agent_from_row(&r))
        .transpose()
    }

    fn set_availability(
        &self,
        agent_id: i64,
        available: bool,
        now: Millis,
    ) -> Result<AgentRecord, StoreError> {
        let row = self.query_opt(
            concat!(
                "UPDATE agents SET available = $2, updated_at = $3 WHERE id = $1 RETURNING ",
                agent_cols!()
            ),
            &[&agent_id, &available, &now],
        )?;
        agent_from_row(&required(row, &format!("agent {agent_id}"))?)
    }

    fn audit(
        &self,
        contact_id: i64,
        actor: &Caller,
        action: &str,
        detail: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.audit_raw(
            contact_id,
            actor.agent_id(),
            actor.actor(),
            action,
            detail,
            now,
        )
    }

    fn audit_system(
        &self,
        contact_id: i64,
        action: &str,
        detail: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.audit_raw(contact_id, None, "system", action, detail, now)
    }

    fn assignee(&self, contact_id: i64) -> Result<Option<AgentRecord>, StoreError> {
        let row = self.query_opt(
            "SELECT assigned_agent_id FROM contacts WHERE id = $1",
            &[&contact_id],
        )?;
        let id: Option<i64> = required(row, &format!("contact {contact_id}"))?.try_get(0)?;
        id.map(|id| self.with(|c| agent_by_id(c, id))).transpose()
    }

    fn claim(&self, contact_id: i64, agent: &AgentRef, now: Millis) -> Result<Claim, StoreError> {
        // Locks the contact's row until the commit: of two daemons claiming one chat, the
        // second waits and then finds the first's agent.
        let holder = self.assignee_locked(contact_id)?;
        match holder {
            None => {}
            Some(id) if id == agent.id => return Ok(Claim::AlreadyTheirs),
            Some(id) => return Ok(Claim::HeldBy(self.with(|c| agent_by_id(c, id))?)),
        }
        let n = self.execute(
            "UPDATE contacts SET assigned_agent_id = $2 WHERE id = $1 AND assigned_agent_id IS NULL",
            &[&contact_id, &agent.id],
        )?;
        if n != 1 {
            return Ok(Claim::Failed);
        }
        self.touch_assigned(agent.id, now)?;
        self.audit(
            contact_id,
            &Caller::Agent(agent.clone()),
            "claimed",
            "",
            now,
        )?;
        self.emit(
            contact_id,
            EventKind::AssignmentChanged {
                agent: Some(agent.name.clone()),
                previous: None,
                action: "claimed".into(),
                by: agent.name.clone(),
            },
            now,
        )?;
        Ok(Claim::Claimed)
    }

    fn reassign(
        &self,
        contact_id: i64,
        to: Option<&AgentRef>,
        by: &Caller,
        action: &str,
        detail: &str,
        now: Millis,
    ) -> Result<Option<AgentRecord>, StoreError> {
        // Locks the contact's row until the commit: the previous assignee reported (audit,
        // event) is the one this change replaced, whatever another daemon does meanwhile.
        let previous = self
            .assignee_locked(contact_id)?
            .map(|id| self.with(|c| agent_by_id(c, id)))
            .transpose()?;
        let to_id = to.map(|a| a.id);
        self.execute(
            "UPDATE contacts SET assigned_agent_id = $2 WHERE id = $1",
            &[&contact_id, &to_id],
        )?;
        if let Some(a) = to {
            self.touch_assigned(a.id, now)?;
        }
        self.audit(contact_id, by, action, detail, now)?;
        self.emit(
            contact_id,
            EventKind::AssignmentChanged {
                agent: to.map(|a| a.name.clone()),
                previous: previous.as_ref().map(|p| p.name.clone()),
                action: action.into(),
                by: by.label(),
            },
            now,
        )?;
        Ok(previous)
    }

    fn auto_assign(&self, contact_id: i64, now: Millis) -> Result<Option<AgentRef>, StoreError> {
        // Locks the chosen agent until the commit: another daemon's round-robin skips it and
        // takes the next (the same choice as without SKIP LOCKED when nobody else assigns);
        // only when every candidate is locked does it wait for one, rather than find nobody.
        // `NO KEY UPDATE`: rows merely referenced meanwhile (an agent's message) are not skipped.
        let mut row = self.query_opt(
            concat!(
                "SELECT ",
                agent_cols!(),
                " FROM agents WHERE enabled AND available
                 ORDER BY last_assigned_at IS NOT NULL, last_assigned_at, id LIMIT 1
                 FOR NO KEY UPDATE SKIP LOCKED"
            ),
            &[],
        )?;
        if row.is_none() {
            row = self.query_opt(
                concat!(
                    "SELECT ",
                    agent_cols!(),
                    " FROM agents WHERE enabled AND available
                     ORDER BY last_assigned_at IS NOT NULL, last_assigned_at, id LIMIT 1
                     FOR NO KEY UPDATE"
                ),
                &[],
            )?;
        }
        let Some(row) = row else {
            return Ok(None);
        };
        let a = agent_from_row(&row)?.to_ref();
        self.execute(
            "UPDATE contacts SET assigned_agent_id = $2 WHERE id = $1",
            &[&contact_id, &a.id],
        )?;
        self.touch_assigned(a.id, now)?;
        self.audit_system(contact_id, "auto_assigned", &a.name, now)?;
        self.emit(
            contact_id,
            EventKind::AssignmentChanged {
                agent: Some(a.name.clone()),
                previous: None,
                action: "auto_assigned".into(),
                by: "system".into(),
            },
            now,
        )?;
        Ok(Some(a))
    }

    fn priority(&self, contact_id: i64) -> Result<Priority, StoreError> {
        let row = self.query_opt(
            "SELECT priority FROM contacts WHERE id = $1",
            &[&contact_id],
        )?;
        let p: i64 = required(row, &format!("contact {contact_id}"))?.try_get(0)?;
        Ok(Priority::from_i64(p))
    }

    fn set_priority(
        &self,
        contact_id: i64,
        priority: Priority,
        by: Option<&Caller>,
        now: Millis,
    ) -> Result<(), StoreError> {
        let p = priority.as_i64();
        self.execute(
            "UPDATE contacts SET priority = $2 WHERE id = $1",
            &[&contact_id, &p],
        )?;
        // The open session carries it too: the queue position is a range of one index.
        self.execute(
            "UPDATE chat_sessions SET priority = $2 WHERE contact_id = $1 AND ended_at IS NULL",
            &[&contact_id, &p],
        )?;
        match by {
            Some(c) => self.audit(contact_id, c, "priority", priority.as_str(), now)?,
            None => self.audit_system(contact_id, "priority_raised", priority.as_str(), now)?,
        }
        self.emit(
            contact_id,
            EventKind::PriorityChanged {
                priority,
                by: by.map_or_else(|| "system".into(), Caller::label),
            },
            now,
        )
    }

    fn add_note(
        &self,
        contact_id: i64,
        session_id: Option<i64>,
        by: &Caller,
        text: &str,
        now: Millis,
    ) -> Result<NoteRecord, StoreError> {
        let agent_id = by.agent_id();
        let row = self.query_one(
            concat!(
                "INSERT INTO notes (contact_id, session_id, agent_id, text, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING ",
                note_cols!()
            ),
            &[
                &contact_id,
                &session_id,
                &agent_id,
                &super::rows::to_pg(text),
                &now,
            ],
        )?;
        let note = note_from_row(&row)?;
        self.audit(contact_id, by, "note_added", text, now)?;
        self.emit(contact_id, EventKind::NoteAdded { note: note.clone() }, now)?;
        Ok(note)
    }

    fn put_canned(
        &self,
        shortcut: &str,
        body: &str,
        now: Millis,
    ) -> Result<CannedResponse, StoreError> {
        // The shortcut is unique in any case (as SQLite's `NOCASE` key): an existing one in
        // another case is replaced, keeping its spelling.
        self.execute(
            "INSERT INTO canned_responses (shortcut, body, created_at, updated_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT ((lower(shortcut))) DO UPDATE
                 SET body = excluded.body, updated_at = excluded.updated_at",
            &[&shortcut, &body, &now],
        )?;
        self.emit_desk(
            EventKind::CannedChanged {
                shortcut: shortcut.to_string(),
                body: Some(body.to_string()),
                updated_at: now,
            },
            now,
        )?;
        Ok(CannedResponse {
            shortcut: shortcut.to_string(),
            body: body.to_string(),
            updated_at: now,
        })
    }

    fn delete_canned(&self, shortcut: &str, now: Millis) -> Result<bool, StoreError> {
        let deleted = self.execute(
            "DELETE FROM canned_responses WHERE lower(shortcut) = lower($1)",
            &[&shortcut],
        )? > 0;
        if deleted {
            self.emit_desk(
                EventKind::CannedChanged {
                    shortcut: shortcut.to_string(),
                    body: None,
                    updated_at: now,
                },
                now,
            )?;
        }
        Ok(deleted)
    }
}

impl PgTx<'_> {
    fn audit_raw(
        &self,
        contact_id: i64,
        agent_id: Option<i64>,
        actor: &str,
        action: &str,
        detail: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO audit (at, contact_id, agent_id, actor, action, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&now, &contact_id, &agent_id, &actor, &action, &super::rows::to_pg(detail)],
        )?;
        Ok(())
    }

    /// The contact's assignee's id, its row locked until the commit (a missing contact is
    /// `Internal`, as in [`DeskTx::assignee`]).
    fn assignee_locked(&self, contact_id: i64) -> Result<Option<i64>, StoreError> {
        let row = self.query_opt(
            "SELECT assigned_agent_id FROM contacts WHERE id = $1 FOR UPDATE",
            &[&contact_id],
        )?;
        Ok(required(row, &format!("contact {contact_id}"))?.try_get(0)?)
    }

    fn touch_assigned(&self, agent_id: i64, now: Millis) -> Result<(), StoreError> {
        // Strictly increasing, so round-robin order never depends on two assignments
        // falling in the same millisecond.
        self.execute(
            "UPDATE agents SET last_assigned_at =
                 GREATEST($2::bigint, (SELECT COALESCE(MAX(last_assigned_at), 0) + 1 FROM agents))
             WHERE id = $1",
            &[&agent_id, &now],
        )?;
        Ok(())
    }

    /// Moves notes and audit rows to another contact (when two records of one person merge).
    pub(super) fn move_desk_rows(&self, from: i64, to: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE notes SET contact_id = $2 WHERE contact_id = $1",
            &[&from, &to],
        )?;
        self.execute(
            "UPDATE audit SET contact_id = $2 WHERE contact_id = $1",
            &[&from, &to],
        )?;
        Ok(())
    }
}

fn canned(conn: &mut Conn, shortcut: Option<&str>) -> Result<Vec<CannedResponse>, StoreError> {
    // `COLLATE "C"`: folds ASCII only and orders by code point, as SQLite's `NOCASE`.
    conn.query(
        "SELECT shortcut, body, updated_at FROM canned_responses
         WHERE $1::text IS NULL OR lower(shortcut) = lower($1)
         ORDER BY lower(shortcut COLLATE \"C\")",
        &[&shortcut],
    )?
    .iter()
    .map(|r| {
        Ok(CannedResponse {
            shortcut: r.try_get(0)?,
            body: r.try_get(1)?,
            updated_at: r.try_get(2)?,
        })
    })
    .collect()
}

fn contact_id_of(conn: &mut Conn, address: &Address) -> Result<i64, StoreError> {
    let sql = match address {
        Address::Phone(_) => "SELECT id FROM contacts WHERE phone = $1",
        Address::UserId(_) => "SELECT id FROM contacts WHERE user_id = $1",
    };
    conn.query_opt(sql, &[&address.as_str()])?
        .map(|r| r.try_get(0))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(address.as_str().to_string()))
}

/// The newest 500 notes of a contact, oldest first.
pub(super) fn notes(conn: &mut Conn, contact_id: i64) -> Result<Vec<NoteRecord>, StoreError> {
    let mut out = conn
        .query(
            concat!(
                "SELECT ",
                note_cols!(),
                " FROM notes WHERE contact_id = $1 ORDER BY id DESC LIMIT 500"
            ),
            &[&contact_id],
        )?
        .iter()
        .map(note_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    out.reverse();
    Ok(out)
}

/// The audit trail's select, for [`audit_from_row`].
macro_rules! audit_select {
    () => {
        "SELECT id, at, actor, agent_id,
            (SELECT a.name FROM agents a WHERE a.id = audit.agent_id), action, detail FROM audit"
    };
}

fn audit_from_row(r: &Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        actor: r.try_get(2)?,
        agent_id: r.try_get(3)?,
        agent_name: r.try_get(4)?,
        action: r.try_get(5)?,
        detail: super::rows::from_pg(r.try_get(6)?),
    })
}

/// The audit actions a thread shows as activity lines: the messages and notes they record
/// are in the thread already.
macro_rules! not_activity {
    () => {
        "('message_sent', 'note_added')"
    };
}

impl Reads {
    /// A conversation's newest 500 activity entries (its audit trail without the messages
    /// and notes, which the thread shows itself), oldest first.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn activity(&self, contact_id: i64) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(move |c| {
            let mut rows = c
                .query(
                    concat!(
                        audit_select!(),
                        " WHERE contact_id = $1 AND action NOT IN ",
                        not_activity!(),
                        " ORDER BY id DESC LIMIT 500"
                    ),
                    &[&contact_id],
                )?
                .iter()
                .map(audit_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            rows.reverse();
            Ok(rows)
        })
        .await
    }

    /// The agent called `name` (any case), enabled or not.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn agent_named(&self, name: &str) -> Result<Option<AgentRecord>, StoreError> {
        let name = name.to_string();
        self.read(move |c| agent_by_name(c, &name)).await
    }

    /// Every agent, by name.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        self.read(|c| {
            // `COLLATE "C"`: folds ASCII only and orders by code point, as SQLite's `NOCASE`.
            c.query(
                concat!(
                    "SELECT ",
                    agent_cols!(),
                    " FROM agents ORDER BY lower(name COLLATE \"C\")"
                ),
                &[],
            )?
            .iter()
            .map(agent_from_row)
            .collect()
        })
        .await
    }

    /// Every agent's token hash, for the auth check.
    ///
    /// # Errors
    /// The database, or a stored hash of the wrong size.
    pub(crate) async fn agent_credentials(&self) -> Result<Vec<AgentCredential>, StoreError> {
        self.read(|c| {
            let rows = c.query(
                "SELECT id, name, display_name, enabled, token_hash FROM agents ORDER BY id",
                &[],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let agent = AgentRef {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    display_name: r.try_get(2)?,
                };
                let enabled: bool = r.try_get(3)?;
                let hash: Vec<u8> = r.try_get(4)?;
                let token_hash: [u8; 32] = hash.try_into().map_err(|_| {
                    StoreError::Corrupt(format!("token hash of agent {}", agent.id))
                })?;
                out.push(AgentCredential {
                    token_hash,
                    agent,
                    enabled,
                });
            }
            Ok(out)
        })
        .await
    }

    /// An agent by id.
    ///
    /// # Errors
    /// The database (or no such agent).
    pub(crate) async fn agent(&self, id: i64) -> Result<AgentRecord, StoreError> {
        self.read(move |c| agent_by_id(c, id)).await
    }

    /// Canned responses, all of them or the one with `shortcut`.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn canned_responses(
        &self,
        shortcut: Option<String>,
    ) -> Result<Vec<CannedResponse>, StoreError> {
        self.read(move |c| canned(c, shortcut.as_deref())).await
    }

    /// A conversation's private notes (the newest 500, oldest first).
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn notes(&self, contact_id: i64) -> Result<Vec<NoteRecord>, StoreError> {
        self.read(move |c| notes(c, contact_id)).await
    }

    /// A page of a conversation's audit trail, newest first, with the id to pass as `before`
    /// for the next page (0 at the end).
    ///
    /// # Errors
    /// `NotFound` contact, or the database.
    pub(crate) async fn audit_trail(
        &self,
        address: Address,
        page_size: u32,
        before: i64,
    ) -> Result<(Vec<AuditRecord>, i64), StoreError> {
        self.read(move |c| {
            let contact_id = contact_id_of(c, &address)?;
            let limit = i64::from(page_size) + 1;
            let mut rows = c
                .query(
                    concat!(
                        audit_select!(),
                        " WHERE contact_id = $1 AND ($2::bigint = 0 OR id < $2)
                         ORDER BY id DESC LIMIT $3"
                    ),
                    &[&contact_id, &before, &limit],
                )?
                .iter()
                .map(audit_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let more = rows.len() > page_size as usize;
            rows.truncate(page_size as usize);
            let next = if more {
                rows.last().map_or(0, |r| r.id)
            } else {
                0
            };
            Ok((rows, next))
        })
        .await
    }
}
