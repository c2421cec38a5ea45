//! SQLite's storage of the shared desk (issue 8): agents and their token hashes, a chat's
//! assignment and priority, private notes, canned responses and the audit trail. Writes
//! ([`DeskTx`]) run inside the writer's transaction and write their audit row and event in that
//! same transaction; reads run on the read pool.

use super::{Reads, SqliteTx};
use crate::storage::{
    AgentCredential, AgentRecord, AuditRecord, CannedResponse, Claim, ConversationTx, DeskTx,
    EventKind, NoteRecord, StoreError,
};
use crate::{
    desk::{AgentRef, Caller, Priority},
    domain::{Address, Millis},
};
use rusqlite::{params, Connection, OptionalExtension, Row};

const AGENT_COLS: &str = "id, name, display_name, enabled, available, created_at, last_assigned_at";

fn agent_from_row(r: &Row<'_>) -> rusqlite::Result<AgentRecord> {
    Ok(AgentRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        display_name: r.get(2)?,
        enabled: r.get(3)?,
        available: r.get(4)?,
        created_at: r.get(5)?,
        last_assigned_at: r.get(6)?,
    })
}

const NOTE_COLS: &str = "id, contact_id, session_id, agent_id, \
    (SELECT a.name FROM agents a WHERE a.id = notes.agent_id), text, created_at";

fn note_from_row(r: &Row<'_>) -> rusqlite::Result<NoteRecord> {
    Ok(NoteRecord {
        id: r.get(0)?,
        contact_id: r.get(1)?,
        session_id: r.get(2)?,
        agent_id: r.get(3)?,
        agent_name: r.get(4)?,
        text: r.get(5)?,
        created_at: r.get(6)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn agent_by_name(conn: &Connection, name: &str) -> Result<Option<AgentRecord>, StoreError> {
    let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE name = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([name], agent_from_row)
        .optional()?)
}

fn agent_by_id(conn: &Connection, id: i64) -> Result<AgentRecord, StoreError> {
    let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([id], agent_from_row)?)
}

impl DeskTx for SqliteTx<'_> {
    fn add_agent(
        &self,
        name: &str,
        display_name: &str,
        token_hash: &[u8; 32],
        now: Millis,
    ) -> Result<AgentRecord, StoreError> {
        let r = self
            .conn()
            .prepare_cached(
                "INSERT INTO agents (name, display_name, token_hash, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            )?
            .execute(params![name, display_name, &token_hash[..], now]);
        match r {
            Ok(_) => agent_by_id(self.conn(), self.conn().last_insert_rowid()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "the agent name {name:?} is taken"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    fn agent_by_name(&self, name: &str) -> Result<Option<AgentRecord>, StoreError> {
        agent_by_name(self.conn(), name)
    }

    fn set_agent_enabled(
        &self,
        name: &str,
        enabled: bool,
        now: Millis,
    ) -> Result<Option<AgentRecord>, StoreError> {
        let n = self
            .conn()
            .prepare_cached(
                "UPDATE agents SET enabled = ?2, available = CASE WHEN ?2 THEN available ELSE 0 END, updated_at = ?3
                 WHERE name = ?1",
            )?
            .execute(params![name, enabled, now])?;
        if n == 0 {
            return Ok(None);
        }
        self.agent_by_name(name)
    }

    fn set_agent_token(
        &self,
        name: &str,
        token_hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<AgentRecord>, StoreError> {
        let n = self
            .conn()
            .prepare_cached("UPDATE agents SET token_hash = ?2, updated_at = ?3 WHERE name = ?1")?
            .execute(params![name, &token_hash[..], now])?;
        if n == 0 {
            return Ok(None);
        }
        self.agent_by_name(name)
    }

    fn set_availability(
        &self,
        agent_id: i64,
        available: bool,
        now: Millis,
    ) -> Result<AgentRecord, StoreError> {
        self.conn()
            .prepare_cached("UPDATE agents SET available = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![agent_id, available, now])?;
        agent_by_id(self.conn(), agent_id)
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
        let id: Option<i64> = self
            .conn()
            .prepare_cached("SELECT assigned_agent_id FROM contacts WHERE id = ?1")?
            .query_row([contact_id], |r| r.get(0))?;
        id.map(|id| agent_by_id(self.conn(), id)).transpose()
    }

    fn claim(&self, contact_id: i64, agent: &AgentRef, now: Millis) -> Result<Claim, StoreError> {
        let n = self
            .conn()
            .prepare_cached(
                "UPDATE contacts SET assigned_agent_id = ?2 WHERE id = ?1 AND assigned_agent_id IS NULL",
            )?
            .execute(params![contact_id, agent.id])?;
        if n == 1 {
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
            return Ok(Claim::Claimed);
        }
        Ok(match self.assignee(contact_id)? {
            Some(holder) if holder.id == agent.id => Claim::AlreadyTheirs,
            Some(holder) => Claim::HeldBy(holder),
            None => Claim::Failed,
        })
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
        let previous = self.assignee(contact_id)?;
        self.conn()
            .prepare_cached("UPDATE contacts SET assigned_agent_id = ?2 WHERE id = ?1")?
            .execute(params![contact_id, to.map(|a| a.id)])?;
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
        let sql = format!(
            "SELECT {AGENT_COLS} FROM agents WHERE enabled = 1 AND available = 1
             ORDER BY last_assigned_at IS NOT NULL, last_assigned_at, id LIMIT 1"
        );
        let Some(agent) = self
            .conn()
            .prepare_cached(&sql)?
            .query_row([], agent_from_row)
            .optional()?
        else {
            return Ok(None);
        };
        let a = agent.to_ref();
        self.conn()
            .prepare_cached("UPDATE contacts SET assigned_agent_id = ?2 WHERE id = ?1")?
            .execute(params![contact_id, a.id])?;
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
        let p: i64 = self
            .conn()
            .prepare_cached("SELECT priority FROM contacts WHERE id = ?1")?
            .query_row([contact_id], |r| r.get(0))?;
        Ok(Priority::from_i64(p))
    }

    fn set_priority(
        &self,
        contact_id: i64,
        priority: Priority,
        by: Option<&Caller>,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached("UPDATE contacts SET priority = ?2 WHERE id = ?1")?
            .execute(params![contact_id, priority.as_i64()])?;
        // The open session carries it too: the queue position is a range of one index.
        self.conn()
            .prepare_cached(
                "UPDATE chat_sessions SET priority = ?2 WHERE contact_id = ?1 AND ended_at IS NULL",
            )?
            .execute(params![contact_id, priority.as_i64()])?;
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
        self.conn()
            .prepare_cached(
                "INSERT INTO notes (contact_id, session_id, agent_id, text, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![contact_id, session_id, by.agent_id(), text, now])?;
        let id = self.conn().last_insert_rowid();
        let sql = format!("SELECT {NOTE_COLS} FROM notes WHERE id = ?1");
        let note = self
            .conn()
            .prepare_cached(&sql)?
            .query_row([id], note_from_row)?;
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
        self.conn()
            .prepare_cached(
                "INSERT INTO canned_responses (shortcut, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (shortcut) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            )?
            .execute(params![shortcut, body, now])?;
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
        let deleted = self
            .conn()
            .prepare_cached("DELETE FROM canned_responses WHERE shortcut = ?1")?
            .execute([shortcut])?
            > 0;
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

impl SqliteTx<'_> {
    fn audit_raw(
        &self,
        contact_id: i64,
        agent_id: Option<i64>,
        actor: &str,
        action: &str,
        detail: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO audit (at, contact_id, agent_id, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![now, contact_id, agent_id, actor, action, detail])?;
        Ok(())
    }

    fn touch_assigned(&self, agent_id: i64, now: Millis) -> Result<(), StoreError> {
        self.conn()
            // Strictly increasing, so round-robin order never depends on two assignments
            // falling in the same millisecond.
            .prepare_cached(
                "UPDATE agents SET last_assigned_at =
                     MAX(?2, (SELECT COALESCE(MAX(last_assigned_at), 0) + 1 FROM agents))
                 WHERE id = ?1",
            )?
            .execute(params![agent_id, now])?;
        Ok(())
    }

    /// Moves notes and audit rows to another contact (when two records of one person merge).
    pub(super) fn move_desk_rows(&self, from: i64, to: i64) -> Result<(), StoreError> {
        for table in ["notes", "audit"] {
            self.conn()
                .prepare_cached(&format!(
                    "UPDATE {table} SET contact_id = ?2 WHERE contact_id = ?1"
                ))?
                .execute(params![from, to])?;
        }
        Ok(())
    }
}

fn canned(conn: &Connection, shortcut: Option<&str>) -> Result<Vec<CannedResponse>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT shortcut, body, updated_at FROM canned_responses
         WHERE ?1 IS NULL OR shortcut = ?1 ORDER BY shortcut COLLATE NOCASE",
    )?;
    let rows = stmt.query_map([shortcut], |r| {
        Ok(CannedResponse {
            shortcut: r.get(0)?,
            body: r.get(1)?,
            updated_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn contact_id_of(conn: &Connection, address: &Address) -> Result<i64, StoreError> {
    let col = match address {
        Address::Phone(_) => "phone",
        Address::UserId(_) => "user_id",
    };
    conn.prepare_cached(&format!("SELECT id FROM contacts WHERE {col} = ?1"))?
        .query_row([address.as_str()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(address.as_str().to_string()))
}

/// The newest 500 notes of a contact, oldest first.
pub(super) fn notes(conn: &Connection, contact_id: i64) -> Result<Vec<NoteRecord>, StoreError> {
    let sql =
        format!("SELECT {NOTE_COLS} FROM notes WHERE contact_id = ?1 ORDER BY id DESC LIMIT 500");
    let mut out = conn
        .prepare_cached(&sql)?
        .query_map([contact_id], note_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    out.reverse();
    Ok(out)
}

const AUDIT_SELECT: &str = "SELECT id, at, actor, agent_id,
        (SELECT a.name FROM agents a WHERE a.id = audit.agent_id), action, detail FROM audit";

fn audit_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        agent_id: r.get(3)?,
        agent_name: r.get(4)?,
        action: r.get(5)?,
        detail: r.get(6)?,
    })
}

/// The audit actions a thread shows as activity lines: the messages and notes they record
/// are in the thread already.
const NOT_ACTIVITY: &str = "('message_sent', 'note_added')";

impl Reads {
    /// A conversation's newest 500 activity entries (its audit trail without the messages
    /// and notes, which the thread shows itself), oldest first.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn activity(&self, contact_id: i64) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(move |c| {
            let sql = format!(
                "{AUDIT_SELECT} WHERE contact_id = ?1 AND action NOT IN {NOT_ACTIVITY}
                 ORDER BY id DESC LIMIT 500"
            );
            let mut rows = c
                .prepare_cached(&sql)?
                .query_map([contact_id], audit_from_row)?
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
            let sql = format!("SELECT {AGENT_COLS} FROM agents ORDER BY name COLLATE NOCASE");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([], agent_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Every agent's token hash, for the auth check.
    ///
    /// # Errors
    /// The database, or a stored hash of the wrong size.
    pub(crate) async fn agent_credentials(&self) -> Result<Vec<AgentCredential>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, name, display_name, enabled, token_hash FROM agents")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    AgentRef {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        display_name: r.get(2)?,
                    },
                    r.get::<_, bool>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (agent, enabled, hash) = row?;
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
            let sql = format!(
                "{AUDIT_SELECT} WHERE contact_id = ?1 AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3"
            );
            let mut rows = c
                .prepare_cached(&sql)?
                .query_map(
                    params![contact_id, before, i64::from(page_size) + 1],
                    audit_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let more = rows.len() > page_size as usize;
            rows.truncate(page_size as usize);
            let next = if more { rows.last().map_or(0, |r| r.id) } else { 0 };
            Ok((rows, next))
        })
        .await
    }
}
