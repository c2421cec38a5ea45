//! The durable inbox across `kill -9` (issue 15): the real `bot-daemon` binary acknowledges
//! webhooks while processing cannot run (another program holds the database's write lock), is
//! killed with SIGKILL with those deliveries acknowledged and unprocessed, and restarted: each
//! is then processed exactly once, in each user's order, with its bot reply sent once; Meta's
//! redelivery of one of them changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use bot_daemon::storage::inspect::{Count, Inspector, WriteLock};
use serde_json::{json, Value};
use support::{start_fake, Proc, Secrets};

const APP_SECRET: &str = "inbox-secret";
const PHONE_NUMBER_ID: &str = "1234567890";

const SECRETS: Secrets = Secrets {
    app_secret: APP_SECRET,
    access_token: "inbox-token",
    phone_number_id: PHONE_NUMBER_ID,
    admin_token: "inbox-admin",
};

async fn spawn_daemon(db: &Path, log: &Path, api: &str, http: &reqwest::Client) -> Proc {
    support::spawn_daemon(db, log, api, http, &SECRETS).await
}

fn text(phone: &str, wamid: &str, ts: i64, body: &str) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Ada"}, "wa_id": phone}],
            "messages": [{"from": phone, "id": wamid, "timestamp": ts.to_string(),
                          "type": "text", "text": {"body": body}}]
        }}]}]
    })
}

async fn post_webhook(http: &reqwest::Client, base: &str, payload: &Value) -> (u16, Value) {
    let body = payload.to_string().into_bytes();
    let signature = bot_daemon::webhook::sign(APP_SECRET.as_bytes(), &body);
    let r = http
        .post(format!("{base}/webhook"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_acknowledged_but_unprocessed_at_a_kill_9_are_processed_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inbox.db");
    let log = dir.path().join("daemon.log");
    let (fake, api) = start_fake().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 60;
    let ada = "2348012345678";
    let ben = "2348087654321";

    let proc = spawn_daemon(&db, &log, &api, &http).await;
    // Ada starts a chat: processed as usual (welcome sent).
    let (status, _) = post_webhook(&http, &proc.base, &text(ada, "wamid.K0", ts, "support")).await;
    assert_eq!(status, 200);
    eventually("Ada's welcome is sent", || {
        fake.sent.lock().unwrap().len() == 1
    })
    .await;

    // Another program takes the database's write lock: processing cannot run, and the
    // webhooks are still acknowledged, each with its inbox id, in order.
    let lock = WriteLock::take(&db).unwrap();
    let deliveries = [
        text(ada, "wamid.K1", ts + 1, "first"),
        text(ben, "wamid.K2", ts + 2, "support"),
        text(ada, "wamid.K3", ts + 3, "second"),
    ];
    let mut ids = Vec::new();
    for d in &deliveries {
        let (status, answer) = post_webhook(&http, &proc.base, d).await;
        assert_eq!(
            status, 200,
            "acknowledged while processing is held: {answer}"
        );
        ids.push(
            answer["inbox_id"]
                .as_i64()
                .expect("the answer names the inbox row"),
        );
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "arrival order: {ids:?}"
    );
    assert_eq!(
        Inspector::open(&db).unwrap().inbox_pending().unwrap(),
        3,
        "the three deliveries wait in the inbox"
    );
    assert_eq!(
        Inspector::open(&db)
            .unwrap()
            .count(Count::InboundMessages)
            .unwrap(),
        1,
        "none of them is processed yet"
    );

    // kill -9 with the three unprocessed; the lock goes away.
    drop(proc);
    drop(lock);
    let proc = spawn_daemon(&db, &log, &api, &http).await;
    eventually("the inbox drains after the restart", || {
        Inspector::open(&db).unwrap().inbox_pending().unwrap() == 0
    })
    .await;
    let inspector = Inspector::open(&db).unwrap();
    assert_eq!(inspector.count(Count::InboundMessages).unwrap(), 4);
    let ada_contact = inspector.contact_by_phone(ada).unwrap().unwrap();
    let texts: Vec<String> = inspector
        .messages(Some(ada_contact.id))
        .unwrap()
        .into_iter()
        .filter(|m| m.inbound)
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["support", "first", "second"], "Ada's order is kept");
    // Ben's welcome went out once; Ada got one acknowledgement for her two chat messages.
    eventually("Ben's welcome is sent", || {
        fake.sent
            .lock()
            .unwrap()
            .iter()
            .any(|(_, b)| b["to"] == format!("+{ben}"))
    })
    .await;

    // Meta redelivers one of them (its 200 was in doubt): processed, and nothing changes.
    let (status, _) = post_webhook(&http, &proc.base, &deliveries[1]).await;
    assert_eq!(status, 200);
    eventually("the redelivery is processed", || {
        Inspector::open(&db).unwrap().inbox_pending().unwrap() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let inspector = Inspector::open(&db).unwrap();
    assert_eq!(inspector.count(Count::InboundMessages).unwrap(), 4);
    assert_eq!(inspector.count(Count::ProcessedUpdates).unwrap(), 4);
    let sent = fake.sent.lock().unwrap().clone();
    assert_eq!(
        sent.iter()
            .filter(|(_, b)| b["to"] == format!("+{ben}"))
            .count(),
        1,
        "Ben's welcome went out once: {sent:#?}"
    );
    assert!(inspector.integrity_ok().unwrap());
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log_text.contains("panicked"), "{log_text}");
}
