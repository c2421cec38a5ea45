//! The durable inbox across `kill -9` (issue 15): the real `bot-daemon` binary acknowledges
//! webhooks while processing cannot run (another program holds the database's write lock), is
//! killed with SIGKILL with those deliveries acknowledged and unprocessed, and restarted: each
//! is then processed exactly once, in each user's order, with its bot reply sent once; Meta's
//! redelivery of one of them changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::TcpListener as StdListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State as AxState, routing::post, Json, Router};
use bot_daemon::storage::inspect::{Count, Inspector, WriteLock};
use serde_json::{json, Value};

const APP_SECRET: &str = "inbox-secret";
const PHONE_NUMBER_ID: &str = "1234567890";

#[derive(Default)]
struct Fake {
    sent: Mutex<Vec<Value>>,
}

async fn fake_messages(AxState(fake): AxState<Arc<Fake>>, body: Bytes) -> Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if body["status"] == "read" {
        return Json(json!({"success": true}));
    }
    let mut sent = fake.sent.lock().unwrap();
    sent.push(body);
    let wamid = format!("wamid.OUT{}", sent.len());
    Json(json!({"messaging_product": "whatsapp", "contacts": [], "messages": [{"id": wamid}]}))
}

async fn start_fake() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/{pnid}/messages", post(fake_messages))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (fake, url)
}

struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_daemon(db: &Path, log: &Path, api: &str, http: &reqwest::Client) -> Proc {
    for _attempt in 0..5 {
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bot-daemon"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("CHAT_SUPPORT_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("CHAT_SUPPORT_GRPC_ADDR", "127.0.0.1:0")
            .env("CHAT_SUPPORT_DB", db)
            .env("CHAT_SUPPORT_ADMIN_TOKEN", "inbox-admin")
            .env("WHATSAPP_ACCESS_TOKEN", "inbox-token")
            .env("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID)
            .env("WHATSAPP_APP_SECRET", APP_SECRET)
            .env("WHATSAPP_API_BASE", api)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("starting bot-daemon");
        let mut proc = Proc {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if proc.child.try_wait().unwrap().is_some() {
                break;
            }
            if let Ok(r) = http.get(format!("{}/readyz", proc.base)).send().await {
                if r.status() == 200 {
                    return proc;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = proc.child.kill();
    }
    panic!(
        "the daemon did not become ready; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
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
            .any(|b| b["to"] == format!("+{ben}"))
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
        sent.iter().filter(|b| b["to"] == format!("+{ben}")).count(),
        1,
        "Ben's welcome went out once: {sent:#?}"
    );
    assert!(inspector.integrity_ok().unwrap());
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log_text.contains("panicked"), "{log_text}");
}
