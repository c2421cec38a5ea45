//! Versioned migrations keyed by `PRAGMA user_version`: an ordered list, each step applied in
//! its own transaction; a database newer than the code is refused.

use rusqlite::Connection;

use super::StoreError;

/// The migrations, in order. Never edit a released step: append a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: contacts, chat sessions, messages, outbox, processed update ids, the event log.
    r#"
CREATE TABLE contacts (
    id                     INTEGER PRIMARY KEY,
    user_id                TEXT UNIQUE,
    phone                  TEXT UNIQUE,
    username               TEXT,
    parent_user_id         TEXT,
    profile_name           TEXT,
    registered_name        TEXT,
    kind                   TEXT NOT NULL DEFAULT 'lead' CHECK (kind IN ('lead', 'student')),
    state                  TEXT NOT NULL DEFAULT 'IDLE',
    chat_support_active    INTEGER NOT NULL DEFAULT 0 CHECK (chat_support_active IN (0, 1)),
    chat_last_message_time INTEGER,
    current_session_id     INTEGER,
    chat_started_at        INTEGER,
    last_inbound_at        INTEGER,
    last_message_id        INTEGER,
    last_message_text      TEXT,
    last_message_sender    TEXT,
    last_message_at        INTEGER,
    message_count          INTEGER NOT NULL DEFAULT 0,
    unread_count           INTEGER NOT NULL DEFAULT 0,
    waiting_since          INTEGER,
    read_upto_message_id   INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    CHECK (user_id IS NOT NULL OR phone IS NOT NULL)
);
CREATE INDEX contacts_active ON contacts (chat_support_active, waiting_since);

CREATE TABLE chat_sessions (
    id              INTEGER PRIMARY KEY,
    contact_id      INTEGER NOT NULL REFERENCES contacts (id),
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    ended_by        TEXT CHECK (ended_by IN ('user', 'admin', 'system')),
    CHECK ((ended_at IS NULL) = (ended_by IS NULL))
);
-- Chat sessions of one contact never overlap: at most one open session each.
CREATE UNIQUE INDEX chat_sessions_one_open ON chat_sessions (contact_id) WHERE ended_at IS NULL;
CREATE INDEX chat_sessions_contact ON chat_sessions (contact_id, id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    contact_id      INTEGER NOT NULL REFERENCES contacts (id),
    session_id      INTEGER REFERENCES chat_sessions (id),
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    sender          TEXT NOT NULL CHECK (sender IN ('user', 'admin', 'bot')),
    kind            TEXT NOT NULL,
    text            TEXT NOT NULL,
    media_id        TEXT,
    wamid           TEXT UNIQUE,
    timestamp       INTEGER NOT NULL,
    status          TEXT NOT NULL,
    error_code      INTEGER,
    error_message   TEXT,
    idempotency_key TEXT UNIQUE,
    created_at      INTEGER NOT NULL
);
CREATE INDEX messages_contact ON messages (contact_id, id);

-- kind 'message' carries a stored message; kind 'read' is a mark-as-read call (no message).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'read')),
    message_id      INTEGER UNIQUE REFERENCES messages (id),
    contact_id      INTEGER NOT NULL REFERENCES contacts (id),
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'inflight', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK ((kind = 'message') = (message_id IS NOT NULL))
);
CREATE INDEX outbox_open ON outbox (contact_id, id) WHERE state IN ('pending', 'inflight');

CREATE TABLE processed_updates (
    wamid        TEXT PRIMARY KEY,
    processed_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Statuses that arrived before the send's own response stored the wamid; applied when it is.
CREATE TABLE early_statuses (
    wamid         TEXT NOT NULL,
    status        TEXT NOT NULL,
    error_code    INTEGER,
    error_message TEXT,
    at            INTEGER NOT NULL
);
CREATE INDEX early_statuses_wamid ON early_statuses (wamid);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    contact_id INTEGER,
    payload    TEXT NOT NULL
);
"#,
    // 2: the conversations list's order as an index, so a page is an index walk, not a sort of
    // every contact (the expressions must stay identical to `LIST_K1`/`LIST_K2` in read.rs).
    r#"
CREATE INDEX contacts_list_order ON contacts (
    (CASE WHEN chat_support_active = 1 THEN 0 ELSE 1 END),
    (CASE WHEN chat_support_active = 1 THEN COALESCE(waiting_since, 4000000000000000 + COALESCE(chat_started_at, 0))
          ELSE -COALESCE(last_message_at, 0) END),
    id
);
"#,
    // 3: the open outbox rows in id order, so the sender's `due_outbox` walks the oldest few
    // instead of grouping the whole backlog on every call.
    r#"
CREATE INDEX outbox_open_id ON outbox (id) WHERE state IN ('pending', 'inflight');
"#,
    // 4 (issue 8): agents with hashed tokens; who sent each message and ended each session
    // (`agent_id`, NULL = the operator's admin token or the system); assignment and priority
    // of a chat; private notes; canned responses; the audit trail. The list order now puts
    // higher priority first among active chats (`LIST_K1` in read.rs changed with it).
    r#"
CREATE TABLE agents (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name     TEXT NOT NULL,
    token_hash       BLOB NOT NULL UNIQUE,
    enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    available        INTEGER NOT NULL DEFAULT 0 CHECK (available IN (0, 1)),
    last_assigned_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
ALTER TABLE messages ADD COLUMN agent_id INTEGER REFERENCES agents (id);
-- The agent who ended the session.
ALTER TABLE chat_sessions ADD COLUMN agent_id INTEGER REFERENCES agents (id);
ALTER TABLE contacts ADD COLUMN assigned_agent_id INTEGER REFERENCES agents (id);
-- 0 low, 1 normal, 2 high, 3 urgent.
ALTER TABLE contacts ADD COLUMN priority INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3);
CREATE INDEX contacts_assigned ON contacts (assigned_agent_id) WHERE assigned_agent_id IS NOT NULL;

CREATE TABLE notes (
    id         INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    session_id INTEGER REFERENCES chat_sessions (id),
    agent_id   INTEGER REFERENCES agents (id),
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX notes_contact ON notes (contact_id, id);

CREATE TABLE canned_responses (
    shortcut   TEXT PRIMARY KEY COLLATE NOCASE,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    agent_id   INTEGER REFERENCES agents (id),
    actor      TEXT NOT NULL CHECK (actor IN ('agent', 'operator', 'system')),
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_contact ON audit (contact_id, id);

DROP INDEX contacts_list_order;
CREATE INDEX contacts_list_order ON contacts (
    (CASE WHEN chat_support_active = 1 THEN 3 - priority ELSE 4 END),
    (CASE WHEN chat_support_active = 1 THEN COALESCE(waiting_since, 4000000000000000 + COALESCE(chat_started_at, 0))
          ELSE -COALESCE(last_message_at, 0) END),
    id
);
"#,
    // 5 (issue 9): the queue (first agent reply per session), inactivity reminders, and the
    // satisfaction surveys; indexes for the stats ranges. New columns and tables only.
    r#"
ALTER TABLE chat_sessions ADD COLUMN first_response_at INTEGER;
ALTER TABLE chat_sessions ADD COLUMN reminded_at INTEGER;
UPDATE chat_sessions SET first_response_at = (
    SELECT MIN(m.timestamp) FROM messages m WHERE m.session_id = chat_sessions.id AND m.sender = 'admin');
CREATE INDEX chat_sessions_waiting ON chat_sessions (started_at, id)
    WHERE ended_at IS NULL AND first_response_at IS NULL;
CREATE INDEX chat_sessions_answered ON chat_sessions (first_response_at)
    WHERE first_response_at IS NOT NULL;
CREATE INDEX chat_sessions_started ON chat_sessions (started_at);
CREATE INDEX chat_sessions_ended ON chat_sessions (ended_at) WHERE ended_at IS NOT NULL;

-- One survey per ended session: asked -> rated (comment awaited) -> closed.
CREATE TABLE csat_surveys (
    id         INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL UNIQUE REFERENCES chat_sessions (id),
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    asked_at   INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('asked', 'rated', 'closed')),
    rating     INTEGER CHECK (rating BETWEEN 1 AND 5),
    rated_at   INTEGER,
    comment    TEXT,
    closed_at  INTEGER
);
CREATE INDEX csat_surveys_contact ON csat_surveys (contact_id, id);
CREATE INDEX csat_surveys_open ON csat_surveys (asked_at) WHERE state IN ('asked', 'rated');
"#,
    // 6 (issue 13): early statuses kept once per (wamid, status), and pruned by age through an
    // index on `at` instead of a scan of the table on every unknown status.
    r#"
DELETE FROM early_statuses WHERE rowid NOT IN (
    SELECT MIN(rowid) FROM early_statuses GROUP BY wamid, status);
DROP INDEX early_statuses_wamid;
CREATE UNIQUE INDEX early_statuses_key ON early_statuses (wamid, status);
CREATE INDEX early_statuses_at ON early_statuses (at);
"#,
    // 7 (issue 14): one order of waiting chats, defined once: priority, then waiting since (the
    // chat's start), then the session id. The session carries its chat's priority so the queue
    // position is a range of one index; the list breaks ties by the session id too
    // (`LIST_K3` in read.rs), and a waiting chat waits from its start.
    r#"
ALTER TABLE chat_sessions ADD COLUMN priority INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3);
UPDATE chat_sessions SET priority = COALESCE(
    (SELECT c.priority FROM contacts c WHERE c.current_session_id = chat_sessions.id), 1)
    WHERE ended_at IS NULL;
UPDATE contacts SET waiting_since = chat_started_at
    WHERE chat_support_active = 1 AND chat_started_at IS NOT NULL AND current_session_id IN (
        SELECT id FROM chat_sessions WHERE ended_at IS NULL AND first_response_at IS NULL);
DROP INDEX chat_sessions_waiting;
CREATE INDEX chat_sessions_queue ON chat_sessions (priority, started_at, id)
    WHERE ended_at IS NULL AND first_response_at IS NULL;
DROP INDEX contacts_list_order;
CREATE INDEX contacts_list_order ON contacts (
    (CASE WHEN chat_support_active = 1 THEN 3 - priority ELSE 4 END),
    (CASE WHEN chat_support_active = 1 THEN COALESCE(waiting_since, 4000000000000000 + COALESCE(chat_started_at, 0))
          ELSE -COALESCE(last_message_at, 0) END),
    (CASE WHEN chat_support_active = 1 THEN COALESCE(current_session_id, 0) ELSE 0 END),
    id
);
"#,
    // 8 (issue 14): agents name contacts by the WhatsApp username the console shows.
    r#"
CREATE INDEX contacts_username ON contacts (username COLLATE NOCASE) WHERE username IS NOT NULL;
"#,
    // 9 (issue 15): the durable inbox's watermark (the last inbox row whose effects are in this
    // database, advanced in the same transaction as them) and the deliveries set aside after
    // failing again and again, with their bodies, for the operator to retry or drop.
    r#"
CREATE TABLE inbox_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    processed_through INTEGER NOT NULL
);
INSERT INTO inbox_state (id, processed_through) VALUES (1, 0);
CREATE TABLE inbox_parked (
    inbox_id    INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    body        BLOB NOT NULL,
    error       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    parked_at   INTEGER NOT NULL
);
"#,
];

/// The schema version this code writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`LATEST`], one transaction per step.
///
/// # Errors
/// A database newer than the code, or a failing step (which is rolled back).
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(StoreError::TooNew {
            found: current,
            supported: LATEST,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(())
}
