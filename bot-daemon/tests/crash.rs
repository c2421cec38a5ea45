//! Crash safety: the real `bot-daemon` binary, killed with SIGKILL at random moments while many
//! users write to it concurrently, restarted on the same database, N times; then a clean run
//! drains the outbox and the database and the fake Cloud API's records are checked:
//!
//! - every webhook that got a 200 is in `messages` exactly once (and in `processed_updates`),
//!   and every webhook sent is eventually answered 200 (refused ones are retried, as Meta does);
//! - each user's messages are stored in the order they were sent;
//! - each contact's state is what the state machine gives for its stored messages, with at most
//!   one open chat session, `chat_support_active` set exactly when one is open, and every
//!   message of a session belonging to that contact;
//! - every outbound message row was sent (done, with the wamid the fake handed out for exactly
//!   its body), and the fake got a row's body at most once per attempt; an extra copy is only
//!   accepted for a row that was attempted more than once (it was in flight at a kill: the
//!   documented unknown-outcome case of at-least-once delivery).
//!
//! `CRASH_CYCLES` sets the number of kills (default 3, the quick setting of the normal test
//! run; `docs/reliability.md` gives the long command), `CRASH_USERS` the concurrent users
//! (default 12), `CRASH_SEED` replays a run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, RwLock,
    },
    time::{Duration, Instant},
};

use bot_daemon::storage::inspect::{Count, Inspector};
use bot_daemon::{
    conversation::{self, BotSettings, Contact, Event},
    domain::{ContactKind, Content, State},
};
use serde_json::{json, Value};
use support::{start_fake, Fake, Proc, Secrets};

const APP_SECRET: &str = "crash-secret";
const ACCESS_TOKEN: &str = "crash-token";
const PHONE_NUMBER_ID: &str = "1234567890";
const ADMIN_TOKEN: &str = "crash-admin";

const SECRETS: Secrets = Secrets {
    app_secret: APP_SECRET,
    access_token: ACCESS_TOKEN,
    phone_number_id: PHONE_NUMBER_ID,
    admin_token: ADMIN_TOKEN,
};

async fn spawn_daemon(db: &Path, log: &Path, api: &str, http: &reqwest::Client) -> Proc {
    support::spawn_daemon(db, log, api, http, &SECRETS).await
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*, seeded from a printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------------
// The users: each sends an endless scripted conversation, one message at a time, retrying a
// message until it is answered 200 (as Meta does).

fn phone_of(u: usize) -> String {
    format!("2349{u:09}")
}

/// The `k`-th message of a user: its content (for replaying the state machine) and its body.
fn user_message(u: usize, k: usize, base_ts: i64) -> (String, Content, Value) {
    let wamid = format!("wamid.CRASH.{u}.{k}");
    let button = |id: &str, title: &str| Content::Button {
        id: id.into(),
        title: title.into(),
    };
    let content = match k % 9 {
        0 => button("chat_support", "💬 Chat Support"),
        1 => Content::Text(format!("problem {k}: my upload fails")),
        2 => Content::Text(format!("more details {k} 🧾")),
        3 => button("end_chat", "❌ End Chat"),
        4 => Content::Text("hello".into()),
        5 => Content::Text("I need support".into()),
        6 => Content::Text(format!("thanks {k}")),
        7 => Content::Text(format!("one more {k}")),
        _ => Content::Text("done".into()),
    };
    let phone = phone_of(u);
    let mut m = json!({"from": phone, "id": wamid, "timestamp": (base_ts + k as i64).to_string()});
    match &content {
        Content::Button { id, title } => {
            m["type"] = json!("interactive");
            m["interactive"] =
                json!({"type": "button_reply", "button_reply": {"id": id, "title": title}});
        }
        Content::Text(t) => {
            m["type"] = json!("text");
            m["text"] = json!({"body": t});
        }
        _ => unreachable!(),
    }
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"wa_id": phone, "profile": {"name": format!("User {u}")}}],
            "messages": [m],
        }}]}]
    });
    (wamid, content, body)
}

#[derive(Default)]
struct Tally {
    /// Wamids answered 200, with how many 200s each got.
    acked: HashMap<String, u32>,
    /// Every wamid posted at least once.
    posted: HashSet<String>,
    /// Posts that got no 200 (connection refused/reset, 5xx) and were retried.
    refused: u64,
    /// Wamids posted more than once (an earlier post was cut or refused).
    posted_twice: HashSet<String>,
    /// 200 answers to a retried post (the earlier one may have been stored before the kill,
    /// its answer lost: processing then finds a redelivery).
    duplicates: u64,
    posts: u64,
}

struct Shared {
    base: RwLock<Option<String>>,
    stop: AtomicBool,
    tally: Mutex<Tally>,
    http: reqwest::Client,
}

/// One user's loop; returns how many messages it sent (all acknowledged).
async fn run_user(shared: Arc<Shared>, u: usize, base_ts: i64, max: usize) -> usize {
    let mut k = 0;
    while k < max && !shared.stop.load(Ordering::Relaxed) {
        let (wamid, _, body) = user_message(u, k, base_ts);
        let bytes = body.to_string().into_bytes();
        let signature = bot_daemon::webhook::sign(APP_SECRET.as_bytes(), &bytes);
        // Until answered 200, whatever happens to the daemon (including after `stop`).
        loop {
            let base = shared.base.read().unwrap().clone();
            let Some(base) = base else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            {
                let mut tally = shared.tally.lock().unwrap();
                if !tally.posted.insert(wamid.clone()) {
                    tally.posted_twice.insert(wamid.clone());
                }
            }
            let r = shared
                .http
                .post(format!("{base}/webhook"))
                .header("content-type", "application/json")
                .header("x-hub-signature-256", &signature)
                .body(bytes.clone())
                .send()
                .await;
            // The answer's JSON for a 200, None for anything else (the lock is not held
            // across an await).
            let answer: Option<Value> = match r {
                Ok(r) if r.status() == 200 => Some(r.json().await.unwrap_or(Value::Null)),
                Ok(r) => {
                    let status = r.status();
                    assert!(status.is_server_error(), "{wamid}: refused with {status}");
                    None
                }
                Err(_) => None,
            };
            {
                let mut tally = shared.tally.lock().unwrap();
                tally.posts += 1;
                if let Some(v) = answer {
                    *tally.acked.entry(wamid.clone()).or_default() += 1;
                    if v.is_object() {
                        // Acknowledged once in the durable inbox (Null: the kill cut the body
                        // after the 200 status line).
                        assert!(
                            v["inbox_id"].as_i64().is_some_and(|id| id > 0),
                            "{wamid}: {v}"
                        );
                    }
                    if tally.posted_twice.contains(&wamid) {
                        tally.duplicates += 1;
                    }
                    break;
                }
                tally.refused += 1;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        k += 1;
        // A user types between messages.
        tokio::time::sleep(Duration::from_millis((u as u64 * 31 + k as u64 * 17) % 25)).await;
    }
    k
}

// ---------------------------------------------------------------------------------------------
// The checks.

fn open_ro(db: &Path) -> Inspector {
    Inspector::open(db).unwrap()
}

fn open_outbox(db: &Path) -> i64 {
    open_ro(db).count(Count::UnsentOutbox).unwrap()
}

struct Figures {
    outbound_rows: usize,
    fake_sends: usize,
    duplicate_sends: usize,
    rows_retried: usize,
}

fn check_database(db: &Path, sent_counts: &[usize], base_ts: i64, fake: &Fake) -> Figures {
    let c = open_ro(db);
    assert!(c.integrity_ok().unwrap(), "integrity check");
    let settings = BotSettings::default();
    let mut inbound_total = 0usize;
    for (u, &n) in sent_counts.iter().enumerate() {
        let phone = phone_of(u);
        let contact = c.contact_by_phone(&phone).unwrap();
        if n == 0 {
            continue;
        }
        let contact = contact.unwrap_or_else(|| panic!("user {u} missing"));
        let (id, state, active, current) = (
            contact.id,
            contact.state.clone(),
            contact.chat_active,
            contact.current_session_id,
        );
        let messages = c.messages(Some(id)).unwrap();
        // Inbound messages: exactly the ones sent, each once, in sending order.
        let inbound: Vec<(String, Option<i64>)> = messages
            .iter()
            .filter(|m| m.inbound)
            .map(|m| (m.wamid.clone().unwrap_or_default(), m.session_id))
            .collect();
        let expected: Vec<String> = (0..n).map(|k| user_message(u, k, base_ts).0).collect();
        let got: Vec<String> = inbound.iter().map(|(w, _)| w.clone()).collect();
        assert_eq!(
            got, expected,
            "user {u}: stored inbound messages differ from those sent"
        );
        inbound_total += n;
        // Replaying the state machine over them gives the stored state and sessions.
        let mut machine = Contact {
            state: State::Idle,
            kind: ContactKind::Lead,
            registered_name: None,
            profile_name: Some(format!("User {u}")),
            recently_acknowledged: false,
            queue: None,
            closed_until: None,
            survey: None,
            agent_replied: false,
        };
        let mut sessions_started = 0;
        for k in 0..n {
            let t = conversation::step(
                &machine,
                &Event::User(user_message(u, k, base_ts).1),
                &settings,
            );
            sessions_started += t
                .actions
                .iter()
                .filter(|a| matches!(a, conversation::Action::StartSession))
                .count();
            machine.state = t.state;
        }
        assert_eq!(
            state,
            machine.state.as_str(),
            "user {u}: state differs from its messages"
        );
        assert_eq!(
            active,
            machine.state == State::ChatSupportActive,
            "user {u}: chat_support_active"
        );
        let sessions: Vec<(i64, Option<i64>, i64)> = c
            .sessions(id)
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s.ended_at, s.contact_id))
            .collect();
        assert_eq!(sessions.len(), sessions_started, "user {u}: chat sessions");
        let open: Vec<i64> = sessions
            .iter()
            .filter(|s| s.1.is_none())
            .map(|s| s.0)
            .collect();
        assert!(open.len() <= 1, "user {u}: overlapping sessions {open:?}");
        assert_eq!(
            !open.is_empty(),
            active,
            "user {u}: open session vs chat_support_active"
        );
        if active {
            assert_eq!(
                current,
                open.first().copied(),
                "user {u}: current_session_id"
            );
        }
        let own: HashSet<i64> = sessions.iter().map(|s| s.0).collect();
        for (w, s) in &inbound {
            if let Some(s) = s {
                assert!(
                    own.contains(s),
                    "user {u}: {w} in another contact's session {s}"
                );
            }
        }
        let count = messages.len() as i64;
        let stored_count = contact.message_count;
        assert_eq!(count, stored_count, "user {u}: message_count");
    }
    let all_in = c.count(Count::InboundMessages).unwrap();
    assert_eq!(all_in as usize, inbound_total, "stray inbound messages");
    let processed = c.count(Count::ProcessedUpdates).unwrap();
    assert_eq!(processed as usize, inbound_total, "processed_updates");

    // Outbound: every row done with the wamid the fake gave for exactly its body; extra copies
    // at the fake only for rows attempted more than once, at most one extra per extra attempt.
    let rows: Vec<(i64, String, String, i64, Option<String>)> = c
        .outbox_messages()
        .unwrap()
        .into_iter()
        .map(|o| (o.id, o.state, o.payload, o.attempts, o.wamid))
        .collect();
    let sent = fake.sent.lock().unwrap().clone();
    let by_wamid: HashMap<&str, &Value> = sent.iter().map(|(w, b)| (w.as_str(), b)).collect();
    let mut claimed: HashSet<String> = HashSet::new();
    let mut retried: Vec<(i64, Value)> = Vec::new();
    for (id, state, payload, attempts, wamid) in &rows {
        assert_eq!(state, "done", "outbox row {id} not sent: {payload}");
        let wamid = wamid
            .as_deref()
            .unwrap_or_else(|| panic!("outbox row {id} has no wamid"));
        let payload: Value = serde_json::from_str(payload).unwrap();
        let at_fake = by_wamid
            .get(wamid)
            .unwrap_or_else(|| panic!("row {id}: {wamid} never reached the fake"));
        assert_eq!(
            **at_fake, payload,
            "row {id}: the fake got another body under {wamid}"
        );
        claimed.insert(wamid.to_string());
        if *attempts > 1 {
            retried.push((*attempts, payload));
        }
    }
    let mut duplicates = 0;
    // A row attempted n times may have reached the fake up to n times: each attempt cut by a
    // kill after the fake accepted it is an unknown outcome, sent again on the next start.
    let mut spare: Vec<Option<Value>> = retried
        .iter()
        .flat_map(|(attempts, p)| {
            std::iter::repeat_n(Some(p.clone()), (*attempts - 1).max(0) as usize)
        })
        .collect();
    for (wamid, body) in &sent {
        if claimed.contains(wamid) {
            continue;
        }
        // An unclaimed copy: the first attempt of a row whose outcome the kill made unknown.
        let slot = spare
            .iter_mut()
            .find(|s| s.as_ref() == Some(body))
            .unwrap_or_else(|| panic!("{wamid} at the fake matches no retried outbox row: {body}"));
        *slot = None;
        duplicates += 1;
    }
    Figures {
        outbound_rows: rows.len(),
        fake_sends: sent.len(),
        duplicate_sends: duplicates,
        rows_retried: retried.len(),
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing_and_duplicates_only_unknown_outcomes() {
    let cycles = env_or("CRASH_CYCLES", 3);
    let users = env_or("CRASH_USERS", 12) as usize;
    let seed = env_or("CRASH_SEED", now_secs() as u64 ^ 0x9E37_79B9);
    eprintln!("crash harness: {cycles} kill cycles, {users} users, seed {seed} (CRASH_SEED={seed} replays the kill times)");
    let mut rng = Rng(seed.max(1));
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("crash.db");
    let log = dir.path().join("daemon.log");
    let (fake, api) = start_fake().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let shared = Arc::new(Shared {
        base: RwLock::new(None),
        stop: AtomicBool::new(false),
        tally: Mutex::new(Tally::default()),
        http: http.clone(),
    });
    let base_ts = now_secs() - 3600;
    let max_per_user = 100_000;
    let started = Instant::now();
    let runs: Vec<_> = (0..users)
        .map(|u| tokio::spawn(run_user(shared.clone(), u, base_ts, max_per_user)))
        .collect();

    let mut kills = 0;
    let mut outbox_open_at_kill = 0;
    let mut inbox_open_at_kill = 0;
    for cycle in 0..cycles {
        let proc = spawn_daemon(&db, &log, &api, &http).await;
        *shared.base.write().unwrap() = Some(proc.base.clone());
        let up_for = Duration::from_millis(rng.between(150, 1200));
        tokio::time::sleep(up_for).await;
        *shared.base.write().unwrap() = None;
        drop(proc); // SIGKILL (std's Child::kill), then reap.
        kills += 1;
        outbox_open_at_kill += open_outbox(&db);
        inbox_open_at_kill += open_ro(&db).inbox_pending().unwrap();
        eprintln!("cycle {}: killed after {up_for:?}", cycle + 1);
    }

    // A final clean run: users finish the message they are on, the outbox drains.
    let proc = spawn_daemon(&db, &log, &api, &http).await;
    *shared.base.write().unwrap() = Some(proc.base.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut sent_counts = Vec::new();
    for r in runs {
        sent_counts.push(
            tokio::time::timeout(Duration::from_secs(60), r)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let drained = Instant::now();
    // Everything acknowledged is processed, then everything queued is sent.
    while open_ro(&db).inbox_pending().unwrap() > 0 || open_outbox(&db) > 0 {
        assert!(
            drained.elapsed() < Duration::from_secs(60),
            "the inbox and the outbox did not drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Graceful stop (SIGTERM) must work after all that.
    let pid = proc.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut proc = proc;
    let stopping = Instant::now();
    loop {
        if let Some(status) = proc.child.try_wait().unwrap() {
            assert!(status.success(), "daemon exit after SIGTERM: {status}");
            break;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "no graceful stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let tally = std::mem::take(&mut *shared.tally.lock().unwrap());
    let total: usize = sent_counts.iter().sum();
    assert_eq!(
        tally.acked.len(),
        total,
        "every webhook sent was answered 200"
    );
    assert_eq!(tally.posted.len(), total);
    let figures = check_database(&db, &sent_counts, base_ts, &fake);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !log_text.contains("panicked"),
        "the daemon panicked:\n{log_text}"
    );
    assert!(
        !log_text.contains(APP_SECRET) && !log_text.contains(ACCESS_TOKEN),
        "a secret is in the log"
    );
    eprintln!(
        "crash harness: {kills} kills in {:?}; {total} webhooks stored exactly once ({} posts, {} refused/cut by kills and retried, \
         {} retried posts acknowledged, processed once whether or not an earlier post was stored); {} outbound rows all sent; \
         fake got {} sends = {} + {} duplicates ({} rows attempted more than once; {outbox_open_at_kill} rows open at the kills); {} mark-as-read; \
         {inbox_open_at_kill} acknowledged deliveries unprocessed at the kills",
        started.elapsed(),
        tally.posts,
        tally.refused,
        tally.duplicates,
        figures.outbound_rows,
        figures.fake_sends,
        figures.outbound_rows,
        figures.duplicate_sends,
        figures.rows_retried,
        fake.reads.load(Ordering::Relaxed),
    );
    assert_eq!(
        figures.fake_sends,
        figures.outbound_rows + figures.duplicate_sends
    );
}
