//! SQLite on this disk: the raw batched insert baseline (same pragmas as the daemon: WAL,
//! synchronous=FULL), and fast seeding of databases in the daemon's own schema (created by
//! `Store::open`, then filled with direct SQL, summary columns kept consistent).

use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;
use bot_daemon::{
    conversation::{texts, Outgoing},
    domain::{Address, DeliveryStatus, Sender},
    outbound::payload,
    storage::{EventKind, MessageRecord, Store},
};
use rusqlite::{params, Connection};
use serde_json::json;

/// Creates the daemon's schema at `db` (then lets the store go).
pub(crate) fn create_schema(db: &Path) -> Result<()> {
    let store = Store::open(db)?;
    drop(store);
    Ok(())
}

/// Rows per second inserting into `messages` (with its indexes) in transactions of `batch`
/// rows, WAL + synchronous=FULL as the daemon, for about `secs`. Returns (rows/s, commits/s).
pub(crate) fn raw_insert_rate(dir: &Path, batch: usize, secs: f64) -> Result<(f64, f64)> {
    let db = dir.join(format!("raw-{batch}.db"));
    create_schema(&db)?;
    let conn = Connection::open(&db)?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute(
        "INSERT INTO contacts (phone, created_at, updated_at) VALUES ('2340000000000', 0, 0)",
        [],
    )?;
    let started = Instant::now();
    let (mut rows, mut commits) = (0usize, 0usize);
    let text = "My exam results are not showing on the portal, can someone check please?";
    while started.elapsed().as_secs_f64() < secs {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO messages (contact_id, direction, sender, kind, text, wamid, timestamp, status, created_at)
                 VALUES (1, 'in', 'user', 'text', ?1, ?2, ?3, 'received', ?3)",
            )?;
            for _ in 0..batch {
                rows += 1;
                stmt.execute(params![text, format!("wamid.RAW.{rows}"), rows as i64])?;
            }
        }
        conn.execute_batch("COMMIT")?;
        commits += 1;
    }
    let s = started.elapsed().as_secs_f64();
    drop(conn);
    let _ = std::fs::remove_file(&db);
    Ok((rows as f64 / s, commits as f64 / s))
}

/// What a seeded database holds.
#[derive(Debug, Clone)]
pub(crate) struct Seeded {
    pub(crate) conversations: usize,
    pub(crate) messages: usize,
    pub(crate) active: usize,
    pub(crate) events: usize,
    pub(crate) phones: Vec<String>,
    pub(crate) took: Duration,
    pub(crate) file_bytes: u64,
}

fn seed_phone(c: usize) -> String {
    format!("23491{c:08}")
}

const USER_TEXTS: &[&str] = &[
    "Hello",
    "When are school fees due?",
    "support",
    "My exam results are not showing on the portal, can someone check please?",
    "Thank you!",
    "I uploaded my homework but it says missing",
];

/// Seeds `conversations` contacts and about `messages` messages over the last 90 days: 10% of
/// contacts hold long threads, 2% are in an open chat waiting for an agent. Messages are
/// inserted in time order (ids interleave across conversations as in a real database), with
/// their `processed_updates` rows, `outbox` rows (done) for outbound ones, and `events` for the
/// last 30 days. Each contact's denormalised summary columns match its messages.
pub(crate) fn seed_at_size(db: &Path, conversations: usize, messages: usize) -> Result<Seeded> {
    let started = Instant::now();
    create_schema(db)?;
    let mut conn = Connection::open(db)?;
    conn.execute_batch(
        "PRAGMA foreign_keys=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY;",
    )?;
    let now = tests::now_ms();
    const DAY: i64 = 24 * 60 * 60 * 1000;
    // Per-contact message counts: 90% get `short`, 10% get `long`, averaging messages/conversations.
    let avg = (messages as f64 / conversations as f64).max(2.0);
    let short = ((avg * 0.5).round() as usize).max(2);
    let long = (((avg - 0.9 * short as f64) / 0.1).round() as usize).max(short);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // (timestamp, contact, index within contact)
    let mut plan: Vec<(i64, u32, u32)> = Vec::with_capacity(messages + conversations);
    let mut counts = vec![0u32; conversations];
    let mut total = 0usize;
    for (c, count) in counts.iter_mut().enumerate() {
        let n = if c % 10 == 0 { long } else { short };
        let n = n.min(messages.saturating_sub(total).max(1));
        *count = n as u32;
        total += n;
        let active = c % 50 == 7;
        let last = if active {
            now - (next() % (2 * 60 * 60 * 1000)) as i64
        } else {
            now - (next() % (90 * DAY as u64)) as i64
        };
        for j in 0..n {
            // One minute apart, the newest last.
            plan.push((last - (n - 1 - j) as i64 * 60_000, c as u32, j as u32));
        }
    }
    plan.sort_unstable();
    let tx = conn.transaction()?;
    let active_of = |c: usize| c % 50 == 7;
    // Per contact: (first ts, last id, last text, last sender, last ts, last inbound ts, count, session id)
    struct Sum {
        first: i64,
        last_id: i64,
        last_text: String,
        last_sender: &'static str,
        last_at: i64,
        last_in: Option<i64>,
        session_start: Option<i64>,
        unread: u32,
        waiting_since: Option<i64>,
    }
    let mut sums: HashMap<u32, Sum> = HashMap::with_capacity(conversations);
    let mut events = 0usize;
    {
        let mut msg = tx.prepare(
            "INSERT INTO messages (id, contact_id, session_id, direction, sender, kind, text, wamid, timestamp, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'text', ?6, ?7, ?8, ?9, ?8)",
        )?;
        let mut processed =
            tx.prepare("INSERT INTO processed_updates (wamid, processed_at) VALUES (?1, ?2)")?;
        let mut outbox = tx.prepare(
            "INSERT INTO outbox (message_id, contact_id, payload, state, attempts, next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'done', 1, ?4, ?4, ?4)",
        )?;
        let mut event =
            tx.prepare("INSERT INTO events (at, contact_id, payload) VALUES (?1, ?2, ?3)")?;
        for (k, &(ts, c, j)) in plan.iter().enumerate() {
            let id = k as i64 + 1;
            let cu = c as usize;
            let n = counts[cu];
            let active = active_of(cu);
            // Users write on even steps, the bot answers on odd ones; a waiting chat ends on the user.
            let user = if active && j == n - 1 {
                true
            } else {
                j % 2 == 0
            };
            // The open session holds an active contact's last three messages.
            let in_session = active && j + 3 >= n;
            let session = if in_session {
                Some(cu as i64 + 1)
            } else {
                None
            };
            let (sender, text, direction, status, wamid) = if user {
                (
                    "user",
                    USER_TEXTS[(next() % USER_TEXTS.len() as u64) as usize].to_string(),
                    "in",
                    "received",
                    format!("wamid.SEED.in.{id}"),
                )
            } else {
                (
                    "bot",
                    if in_session {
                        texts::CHAT_ACK.to_string()
                    } else {
                        "📚 Main menu: pick an option below.".to_string()
                    },
                    "out",
                    "read",
                    format!("wamid.SEED.out.{id}"),
                )
            };
            msg.execute(params![
                id,
                cu as i64 + 1,
                session,
                direction,
                sender,
                text,
                wamid,
                ts,
                status
            ])?;
            if user {
                processed.execute(params![wamid, ts])?;
            } else {
                let body = payload::cloud_body(
                    &Address::Phone(seed_phone(cu)),
                    &Outgoing::Text { body: text.clone() },
                )
                .to_string();
                outbox.execute(params![id, cu as i64 + 1, body, ts])?;
            }
            if ts > now - 30 * DAY {
                let record = MessageRecord {
                    id,
                    contact_id: cu as i64 + 1,
                    session_id: session,
                    sender: if user { Sender::User } else { Sender::Bot },
                    kind: "text".into(),
                    text: text.clone(),
                    media_id: None,
                    wamid: Some(wamid.clone()),
                    timestamp: ts,
                    status: if user {
                        DeliveryStatus::Received
                    } else {
                        DeliveryStatus::Read
                    },
                    error_code: None,
                    error_message: None,
                    agent_id: None,
                    agent_name: None,
                };
                let payload =
                    json!({ "summary": null, "kind": EventKind::MessageAdded { message: record } });
                event.execute(params![ts, cu as i64 + 1, payload.to_string()])?;
                events += 1;
            }
            let s = sums.entry(c).or_insert(Sum {
                first: ts,
                last_id: 0,
                last_text: String::new(),
                last_sender: "user",
                last_at: 0,
                last_in: None,
                session_start: None,
                unread: 0,
                waiting_since: None,
            });
            s.last_id = id;
            s.last_text = text;
            s.last_sender = sender;
            s.last_at = ts;
            if user {
                s.last_in = Some(ts);
            }
            if in_session && s.session_start.is_none() {
                s.session_start = Some(ts);
            }
            if in_session && user {
                s.unread += 1;
                s.waiting_since = s.waiting_since.or(Some(ts));
            }
        }
    }
    let mut phones = Vec::with_capacity(conversations);
    let mut active_count = 0;
    {
        let mut contact = tx.prepare(
            "INSERT INTO contacts (id, user_id, phone, profile_name, registered_name, kind, state, chat_support_active,
                 chat_last_message_time, current_session_id, chat_started_at, last_inbound_at, last_message_id,
                 last_message_text, last_message_sender, last_message_at, message_count, unread_count, waiting_since,
                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?16)",
        )?;
        let mut session = tx.prepare(
            "INSERT INTO chat_sessions (id, contact_id, started_at) VALUES (?1, ?2, ?3)",
        )?;
        for (c, &count) in counts.iter().enumerate() {
            let Some(s) = sums.get(&(c as u32)) else {
                continue;
            };
            let phone = seed_phone(c);
            let active = active_of(c);
            let student = c % 3 == 0;
            let started = s.session_start;
            if active {
                active_count += 1;
                session.execute(params![c as i64 + 1, c as i64 + 1, started])?;
            }
            contact.execute(params![
                c as i64 + 1,
                format!("NG.91{c:013}"),
                phone,
                format!("Student {c}"),
                if student {
                    Some(format!("Registered Student {c}"))
                } else {
                    None
                },
                if student { "student" } else { "lead" },
                if active {
                    "CHAT_SUPPORT_ACTIVE"
                } else if student {
                    "REGISTERED"
                } else {
                    "IDLE"
                },
                active,
                if active { Some(s.last_at) } else { None },
                if active { Some(c as i64 + 1) } else { None },
                if active { started } else { None },
                s.last_in,
                s.last_id,
                s.last_text,
                s.last_sender,
                s.last_at,
                count,
                if active { s.unread } else { 0 },
                if active { s.waiting_since } else { None },
                s.first,
            ])?;
            phones.push(phone);
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    drop(conn);
    let file_bytes = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    Ok(Seeded {
        conversations: phones.len(),
        messages: plan.len(),
        active: active_count,
        events,
        phones,
        took: started.elapsed(),
        file_bytes,
    })
}

/// Seeds `n` contacts each with one queued (pending) bot text, as `queue_reply` would leave
/// them: the outbound sender's backlog.
pub(crate) fn seed_outbox(db: &Path, n: usize) -> Result<()> {
    create_schema(db)?;
    let mut conn = Connection::open(db)?;
    conn.execute_batch("PRAGMA foreign_keys=OFF; PRAGMA synchronous=OFF;")?;
    let now = tests::now_ms();
    let tx = conn.transaction()?;
    {
        let mut contact = tx.prepare(
            "INSERT INTO contacts (id, phone, profile_name, state, last_inbound_at, last_message_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'IDLE', ?4, ?4, ?4, ?4)",
        )?;
        let mut msg = tx.prepare(
            "INSERT INTO messages (id, contact_id, direction, sender, kind, text, timestamp, status, created_at)
             VALUES (?1, ?1, 'out', 'bot', 'text', ?2, ?3, 'pending', ?3)",
        )?;
        let mut outbox = tx.prepare(
            "INSERT INTO outbox (message_id, contact_id, payload, state, next_attempt_at, created_at, updated_at)
             VALUES (?1, ?1, ?2, 'pending', ?3, ?3, ?3)",
        )?;
        for i in 0..n {
            let id = i as i64 + 1;
            let phone = format!("23492{i:08}");
            contact.execute(params![id, phone, format!("Student {i}"), now])?;
            let text = texts::CHAT_ACK;
            msg.execute(params![id, text, now])?;
            let body = payload::cloud_body(
                &Address::Phone(phone),
                &Outgoing::Text {
                    body: text.to_string(),
                },
            )
            .to_string();
            outbox.execute(params![id, body, now])?;
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

/// Opens `db` read-only for checks.
pub(crate) fn open_ro(db: &Path) -> Result<Connection> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    c.busy_timeout(Duration::from_secs(10))?;
    Ok(c)
}
