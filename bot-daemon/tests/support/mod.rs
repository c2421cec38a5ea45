//! What the binary-level tests share: a minimal fake Cloud API and the real `bot-daemon`
//! binary as a child process (killed with SIGKILL when dropped).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::TcpListener as StdListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State as AxState, routing::post, Json, Router};
use serde_json::{json, Value};

/// What the daemon is started with.
pub(crate) struct Secrets {
    pub(crate) app_secret: &'static str,
    pub(crate) access_token: &'static str,
    pub(crate) phone_number_id: &'static str,
    pub(crate) admin_token: &'static str,
}

// ---------------------------------------------------------------------------------------------
// A minimal fake Cloud API: records every message send at arrival (Meta has accepted it), hands
// out `wamid.FAKE<n>`, and answers a little late, so kills land while sends are in flight.

#[derive(Default)]
pub(crate) struct Fake {
    /// (wamid, body) of every accepted send, in arrival order.
    pub(crate) sent: Mutex<Vec<(String, Value)>>,
    pub(crate) reads: AtomicU64,
    pub(crate) next: AtomicU64,
}

async fn fake_messages(AxState(fake): AxState<Arc<Fake>>, body: Bytes) -> Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if body["status"] == "read" {
        fake.reads.fetch_add(1, Ordering::Relaxed);
        return Json(json!({"success": true}));
    }
    let n = fake.next.fetch_add(1, Ordering::Relaxed) + 1;
    let wamid = format!("wamid.FAKE{n}");
    fake.sent.lock().unwrap().push((wamid.clone(), body));
    // Answer 0–40 ms late: the window in which the outcome is unknown to the daemon.
    tokio::time::sleep(Duration::from_millis(n * 7919 % 41)).await;
    Json(json!({"messaging_product": "whatsapp", "contacts": [], "messages": [{"id": wamid}]}))
}

pub(crate) async fn start_fake() -> (Arc<Fake>, String) {
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

// ---------------------------------------------------------------------------------------------
// The daemon as a child process.

pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn spawn_daemon(
    db: &Path,
    log: &Path,
    api: &str,
    http: &reqwest::Client,
    secrets: &Secrets,
) -> Proc {
    for _attempt in 0..5 {
        let port = free_port();
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
            .env("CHAT_SUPPORT_ADMIN_TOKEN", secrets.admin_token)
            .env("WHATSAPP_ACCESS_TOKEN", secrets.access_token)
            .env("WHATSAPP_PHONE_NUMBER_ID", secrets.phone_number_id)
            .env("WHATSAPP_APP_SECRET", secrets.app_secret)
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
            if let Some(status) = proc.child.try_wait().unwrap() {
                eprintln!("daemon exited at start ({status}); retrying on another port");
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
