//! Issue 13, storage and webhook side, end to end against the real listener: statuses for
//! unknown messages (kept once, bounded, another number's ignored), idempotency keys that
//! report the first call's result (gRPC, REST and `admin send`), webhook timestamps outside a
//! sane window, the database file's mode and directory, and error chains said once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use futures_util::future::join_all;
use proto::v1 as pb;
use serde_json::{json, Value};
use tests::*;
use tonic::Code;

const ADA: &str = "2348012345678";
const BOB: &str = "2348087654321";
/// Another business number of the same app.
const OTHER_NUMBER: &str = "999999999999999";

/// A few minutes ago: the 24-hour window is open.
fn t(n: i64) -> i64 {
    now_secs() - 600 + n
}

async fn start_chat(td: &TestDaemon, phone_digits: &str, name: &str, wamid: &str) {
    td.deliver(&chat_support_tap(phone_digits, name, wamid, t(500)))
        .await;
}

/// Statuses kept for unknown messages, read from the database file as an operator would.
fn early_statuses(db: &Path) -> i64 {
    use bot_daemon::storage::inspect::{Count, Inspector};
    Inspector::open(db)
        .expect("opening the database read-only")
        .count(Count::EarlyStatuses)
        .expect("counting early statuses")
}

fn for_number(mut payload: Value, number: &str) -> Value {
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!(number);
    payload
}

fn statuses(wamid: impl Fn(usize) -> String, n: usize) -> Value {
    let items = (0..n)
        .map(|i| status_item(&wamid(i), "delivered", t(i as i64 % 500), Some(ADA), None))
        .collect();
    statuses_webhook(Vec::new(), items)
}

// ---------------------------------------------------------------------------------------------
// 3. Statuses for unknown messages.

#[tokio::test]
async fn five_thousand_copies_of_one_unknown_status_are_stored_once() {
    let td = TestDaemon::start().await;
    let body = statuses(|_| "wamid.NEVER.SENT".to_string(), 5_000);
    let answer = td.deliver(&body).await;
    assert_eq!(answer["status"], "ok", "{answer}");
    // Redelivered, as Meta does: still one row.
    td.deliver(&body).await;
    assert_eq!(early_statuses(td.db_path()), 1);
    td.shutdown().await;
}

#[tokio::test]
async fn a_normal_webhook_is_served_beside_large_unknown_status_bodies() {
    let td = TestDaemon::start().await;
    let bodies: Vec<Value> = (0..8)
        .map(|b| statuses(move |i| format!("wamid.UNKNOWN.{b}.{i}"), 4_000))
        .collect();
    let floods = join_all(bodies.iter().map(|b| td.post_json(b)));
    let normal = async {
        let r = td
            .post_json(&text_from(ADA, None, "Ada", "wamid.NORMAL", t(1), "hi"))
            .await;
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    let (flood, (status, text)) = tokio::join!(floods, normal);
    for r in flood {
        assert_eq!(r.status(), 200);
    }
    assert_eq!(status, 200, "{text}");
    let (summary, _) = td.conversation(phone(ADA)).await;
    assert!(summary.message_count >= 1, "{summary:?}");
    // Every distinct status is kept (32,000 < the cap), each once.
    assert_eq!(early_statuses(td.db_path()), 8 * 4_000);
    const { assert!(8 * 4_000 <= bot_daemon::storage::EARLY_STATUSES_CAP) };
    td.shutdown().await;
}

#[tokio::test]
async fn statuses_for_another_business_number_are_ignored() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.S1").await;
    td.fake().wait_for_exactly(1, WAIT).await;
    let mut c = client(&td).await;
    c.send_message(pb::SendMessageRequest {
        phone_number: ADA.into(),
        message: "hello".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    td.fake().wait_for_exactly(2, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    let wamid = td.fake().accepted_ids()[1].clone();

    // Another number's "read" for the same id, and for ids never sent: ignored.
    let read = statuses_webhook(
        Vec::new(),
        vec![status_item(&wamid, "read", t(550), Some(ADA), None)],
    );
    let answer = td.deliver(&for_number(read.clone(), OTHER_NUMBER)).await;
    assert_eq!(answer["statuses"], 0, "{answer}");
    td.deliver(&for_number(
        statuses(|i| format!("wamid.OTHER.{i}"), 100),
        OTHER_NUMBER,
    ))
    .await;
    assert_eq!(early_statuses(td.db_path()), 0);
    let (_, thread) = td.conversation(phone(ADA)).await;
    let mine = thread.iter().find(|m| m.text == "hello").unwrap();
    assert_eq!(mine.status, bot_daemon::domain::DeliveryStatus::Sent);

    // Our own number's is applied.
    let answer = td.deliver(&read).await;
    assert_eq!(answer["statuses"], 1, "{answer}");
    let (_, thread) = td.conversation(phone(ADA)).await;
    let mine = thread.iter().find(|m| m.text == "hello").unwrap();
    assert_eq!(mine.status, bot_daemon::domain::DeliveryStatus::Read);
    td.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Idempotency keys.

fn keyed(message: &str, key: &str) -> pb::SendMessageRequest {
    pb::SendMessageRequest {
        phone_number: ADA.into(),
        message: message.into(),
        idempotency_key: key.into(),
        ..Default::default()
    }
}

fn agent_texts(td: &TestDaemon) -> Vec<String> {
    td.fake()
        .sent()
        .iter()
        .filter_map(|b| b["text"]["body"].as_str().map(str::to_string))
        .filter(|t| t.starts_with("🎧 Support Team: "))
        .collect()
}

#[tokio::test]
async fn a_reused_idempotency_key_returns_the_first_result_over_grpc() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.I1").await;
    td.fake().wait_for_exactly(1, WAIT).await;
    let mut c = client(&td).await;
    let first = c
        .send_message(keyed("first", "k1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.message_sent, "first");

    let err = c.send_message(keyed("SECOND", "k1")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("\"k1\""), "{}", err.message());

    let again = c
        .send_message(keyed("first", "k1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            again.message_sent.as_str(),
            again.message_id,
            again.timestamp
        ),
        ("first", first.message_id, first.timestamp)
    );
    td.fake().wait_for_exactly(2, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    assert_eq!(agent_texts(&td), vec!["🎧 Support Team: first"]);

    // Ten callers at once on one key, each with its own text: one message, and every caller
    // that is answered OK is told the text that actually went out.
    let results = join_all((0..10).map(|i| {
        let mut c = c.clone();
        async move { c.send_message(keyed(&format!("text {i}"), "k2")).await }
    }))
    .await;
    let ok: Vec<pb::SendMessageResponse> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.get_ref().clone()))
        .collect();
    assert_eq!(ok.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        }
    }
    // Ten at once with the same text: all get the one result.
    let same = join_all((0..10).map(|_| {
        let mut c = c.clone();
        async move { c.send_message(keyed("same text", "k3")).await }
    }))
    .await;
    let same: Vec<pb::SendMessageResponse> =
        same.into_iter().map(|r| r.unwrap().into_inner()).collect();
    assert!(same.iter().all(|r| r == &same[0]), "{same:?}");
    assert_eq!(same[0].message_sent, "same text");

    td.fake().wait_for_exactly(4, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    let sent = agent_texts(&td);
    assert_eq!(
        sent,
        vec![
            "🎧 Support Team: first".to_string(),
            format!("🎧 Support Team: {}", ok[0].message_sent),
            "🎧 Support Team: same text".to_string(),
        ]
    );
    let (_, thread) = td.conversation(phone(ADA)).await;
    let stored: Vec<&str> = thread
        .iter()
        .filter(|m| m.sender == bot_daemon::domain::Sender::Admin)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        stored,
        vec!["first", ok[0].message_sent.as_str(), "same text"]
    );
    td.shutdown().await;
}

async fn rest_send(td: &TestDaemon, text: &str, key: &str) -> (u16, Value) {
    let resp = td
        .client()
        .post(format!(
            "{}/api/admin/conversations/{ADA}/chat-support/send",
            td.base_url()
        ))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("idempotency-key", key)
        .json(&json!({ "message": text }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_reused_idempotency_key_returns_the_first_result_over_rest() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.I2").await;
    td.fake().wait_for_exactly(1, WAIT).await;
    let (st, first) = rest_send(&td, "first", "k1").await;
    assert_eq!(st, 200, "{first}");
    let (st, conflict) = rest_send(&td, "SECOND", "k1").await;
    assert_eq!(st, 409, "{conflict}");
    assert!(
        conflict["message"]
            .as_str()
            .unwrap_or("")
            .contains("\"k1\""),
        "{conflict}"
    );
    let (st, again) = rest_send(&td, "first", "k1").await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["data"], first["data"]);
    assert_eq!(again["data"]["message_sent"], "first");

    let results = join_all((0..10).map(|i| {
        let td = &td;
        async move { rest_send(td, &format!("text {i}"), "k2").await }
    }))
    .await;
    let ok: Vec<&Value> = results
        .iter()
        .filter(|(st, _)| *st == 200)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(ok.len(), 1, "{results:?}");
    assert!(
        results.iter().all(|(st, _)| *st == 200 || *st == 409),
        "{results:?}"
    );
    td.fake().wait_for_exactly(3, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    assert_eq!(
        agent_texts(&td),
        vec![
            "🎧 Support Team: first".to_string(),
            format!(
                "🎧 Support Team: {}",
                ok[0]["data"]["message_sent"].as_str().unwrap()
            ),
        ]
    );
    td.shutdown().await;
}

/// `bot-daemon admin …` as parsed from a command line, run against `td`.
async fn cli(td: &TestDaemon, words: &[&str]) -> anyhow::Result<()> {
    admin_command(td.config(), &td.grpc_url(), ADMIN_TOKEN, words).await
}

#[tokio::test]
async fn admin_send_with_a_reused_idempotency_key_and_another_text_is_refused() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.I3").await;
    td.fake().wait_for_exactly(1, WAIT).await;
    cli(&td, &["send", ADA, "first", "--idempotency-key", "k1"])
        .await
        .unwrap();
    let err = cli(&td, &["send", ADA, "SECOND", "--idempotency-key", "k1"])
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("\"k1\""), "{text}");
    // The same call again is the first call's result, sent once.
    cli(&td, &["send", ADA, "first", "--idempotency-key", "k1"])
        .await
        .unwrap();
    td.fake().wait_for_exactly(2, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    assert_eq!(agent_texts(&td), vec!["🎧 Support Team: first"]);
    td.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 8. Timestamps outside a sane window.

/// protobuf's latest `Timestamp`: 9999-12-31T23:59:59Z.
const MAX_PB_SECONDS: i64 = 253_402_300_799;

fn valid(ts: &Option<prost_types::Timestamp>) -> bool {
    ts.as_ref().is_none_or(|t| {
        (-62_135_596_800..=MAX_PB_SECONDS).contains(&t.seconds)
            && (0..1_000_000_000).contains(&t.nanos)
    })
}

#[tokio::test]
async fn a_far_future_webhook_timestamp_becomes_the_receive_time() {
    let td = TestDaemon::start().await;
    let before = now_ms();
    let answer = td
        .deliver(&text_from(
            ADA,
            None,
            "Ada",
            "wamid.FUTURE",
            10_000_000_000_000,
            "hi",
        ))
        .await;
    assert_eq!(answer["applied"], 1, "{answer}");
    let after = now_ms();
    // Bob writes afterwards (a second ahead, within the allowed skew).
    td.deliver(&text_from(
        BOB,
        None,
        "Bob",
        "wamid.BOB",
        now_secs() + 2,
        "hello",
    ))
    .await;

    let mut c = client(&td).await;
    let list = c
        .list_conversations(pb::ListConversationsRequest::default())
        .await
        .expect("the page decodes")
        .into_inner();
    let order: Vec<&str> = list
        .conversations
        .iter()
        .map(|s| s.phone_number.as_str())
        .collect();
    assert_eq!(order, vec![BOB, ADA], "the newest writer first");
    for s in &list.conversations {
        let last = s.last_message.as_ref().and_then(|m| m.timestamp);
        for ts in [
            &last,
            &s.chat_started_at,
            &s.waiting_since,
            &s.last_inbound_at,
        ] {
            assert!(valid(ts), "{s:?}");
        }
    }
    let conv = c
        .get_conversation(pb::GetConversationRequest {
            phone_number: ADA.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let hi = conv.messages.iter().find(|m| m.text == "hi").unwrap();
    let ms = hi.timestamp.as_ref().map(|t| t.seconds * 1000).unwrap();
    assert!(
        (before / 1000 * 1000..=after).contains(&ms),
        "stored at the receive time: {ms} not in {before}..={after}"
    );
    td.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 9. The database file and its directory; error chains.

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_wal_and_shm_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let td = TestDaemon::start_in(dir.path()).await;
    td.deliver(&text_from(ADA, None, "Ada", "wamid.P1", t(1), "hi"))
        .await;
    let db = td.db_path().to_path_buf();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let wal = db.with_extension("db-wal");
    let shm = db.with_extension("db-shm");
    assert_eq!(mode(&db), 0o600, "{}", db.display());
    assert_eq!(mode(&wal), 0o600, "{}", wal.display());
    assert_eq!(mode(&shm), 0o600, "{}", shm.display());
    td.shutdown().await;
}

#[tokio::test]
async fn a_database_in_a_missing_directory_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let fake = FakeCloudApi::start().await;
    let config = test_config(&missing.join("x.db"), &fake);
    let listeners = bot_daemon::Listeners {
        http: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let err = bot_daemon::Daemon::start(config, listeners)
        .await
        .expect_err("a missing directory is an error");
    let text = format!("{:#}", anyhow::Error::from(err));
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert!(text.contains("does not exist"), "{text}");
    assert!(!missing.exists(), "the directory was not created");
}

#[tokio::test]
async fn a_failure_to_open_the_database_is_said_once() {
    // A directory where the database file should be: SQLite cannot open it.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat-support.db");
    std::fs::create_dir(&db).unwrap();
    let fake = FakeCloudApi::start().await;
    let config = test_config(&db, &fake);
    let listeners = bot_daemon::Listeners {
        http: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let err = bot_daemon::Daemon::start(config, listeners)
        .await
        .expect_err("a directory is not a database");
    // What `bot-daemon` prints: `error: {:#}`.
    let text = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(text.matches("opening the database").count(), 1, "{text}");
    let parts: Vec<&str> = text.split(": ").collect();
    let mut seen = std::collections::HashSet::new();
    for p in &parts {
        assert!(seen.insert(*p), "{p:?} is said twice in {text:?}");
    }
}
