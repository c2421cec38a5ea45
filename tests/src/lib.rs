//! End-to-end test support: the daemon in-process on loopback against a fake Cloud API.
//!
//! - [`FakeCloudApi`]: an HTTP server on `127.0.0.1:0` speaking the WhatsApp Cloud API's wire
//!   format for `POST /{phone_number_id}/messages` (sends and mark-as-read), with bearer-token
//!   checks and a programmable failure queue. It records everything it was sent.
//! - [`TestDaemon`]: a [`bot_daemon::Daemon`] with a temporary SQLite database, pointed at a
//!   [`FakeCloudApi`], with helpers to post signed (or deliberately badly signed) webhooks, read
//!   the store, and restart on the same database file.
//! - Payload builders ([`text_from`], [`button_from`], [`username_only_text`], [`status_item`],
//!   [`batch`], ...) producing webhook bodies in the shapes Meta sends since April 2026
//!   (`contacts[].user_id`, `messages[].from_user_id`), and access to the shared fixtures
//!   ([`fixture_json`], [`fixture_names`]).
//!
//! Every wait takes a timeout ([`WAIT`] is the usual one) and panics with what it saw instead of
//! hanging.

// This crate is test support: a failed expectation must stop the test at once with a clear
// message, which is exactly what `expect`/`panic!` do; there is no caller to hand errors back to.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::{
    collections::VecDeque,
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use bot_daemon::{
    config::Config,
    domain::{Address, DeliveryStatus},
    engine::Engine,
    storage::{ListQuery, MessageRecord, Store, Summary},
    Daemon, Listeners,
};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpListener;

/// The access token the daemon is configured with and the fake accepts.
pub const ACCESS_TOKEN: &str = "test-token";
/// The business phone number id the daemon sends from (`POST /{this}/messages`).
pub const PHONE_NUMBER_ID: &str = "1234567890";
/// The app secret that signs webhook deliveries.
pub const APP_SECRET: &str = "test-secret";
/// The verification handshake token.
pub const VERIFY_TOKEN: &str = "verify-me";
/// The agents' API token (gRPC and REST) the daemon is configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// The business's display phone number, as webhook metadata and `context.from` carry it.
pub const DISPLAY_PHONE: &str = "15550001111";
/// The WhatsApp Business Account id in `entry[].id`.
pub const WABA_ID: &str = "102290129340398";

/// The usual timeout of every wait.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long to keep watching after an expected count was reached, to catch extras.
pub const SETTLE: Duration = Duration::from_millis(300);

/// How often waits poll.
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some`, at most `timeout`; panics naming `what` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if started.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The fake Cloud API.

/// A canned error answer for the fake's failure queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The HTTP status, e.g. 500 or 429.
    pub status: u16,
    /// The JSON body, e.g. a Cloud API `{"error":{...}}`.
    pub body: Value,
    /// A `Retry-After` header in seconds, when set.
    pub retry_after: Option<u64>,
}

/// One request the fake received, whatever it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The request path, e.g. `/1234567890/messages`.
    pub path: String,
    /// The `Authorization` header, when present.
    pub authorization: Option<String>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
    /// The HTTP status the fake answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct FakeState {
    requests: Vec<RecordedRequest>,
    sent: Vec<Value>,
    reads: Vec<Value>,
    accepted_ids: Vec<String>,
    failures: VecDeque<Failure>,
    read_failures: VecDeque<Failure>,
}

struct FakeInner {
    state: Mutex<FakeState>,
    next_id: AtomicU64,
}

impl FakeInner {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A panic while holding the lock poisons it; the data is still fine to read.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fake WhatsApp Cloud API on `127.0.0.1:0`; cheap to clone (clones share the recordings).
///
/// `POST /{phone_number_id}/messages` (optionally under a version prefix such as `/v25.0`) with
/// `Authorization: Bearer test-token`:
/// - a message body (`"to"` or `"recipient"`) is recorded in [`sent`](Self::sent) and answered
///   `{"messaging_product":"whatsapp","contacts":[{"input":..,"wa_id":..}],"messages":[{"id":"wamid.FAKE<n>"}]}`;
/// - a mark-as-read body (`"status":"read"`) is recorded in [`reads`](Self::reads) and answered
///   `{"success":true}`;
/// - a wrong or missing bearer token is answered 401 with Meta's code 190 error;
/// - queued failures answer the next authorised message sends ([`fail_next`](Self::fail_next))
///   or mark-as-read calls ([`fail_next_reads`](Self::fail_next_reads)), each queue on its own,
///   so a test's count of failed sends does not depend on how reads interleave.
///
/// Every request, whatever its answer, is in [`requests`](Self::requests).
#[derive(Clone)]
pub struct FakeCloudApi {
    inner: Arc<FakeInner>,
    addr: SocketAddr,
}

impl std::fmt::Debug for FakeCloudApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCloudApi")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn cloud_error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        Json(json!({
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "AFakeTraceId"
            }
        })),
    )
        .into_response()
}

async fn fake_messages(
    State(inner): State<Arc<FakeInner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut state = inner.lock();
    let record = |state: &mut FakeState, status: u16| {
        state.requests.push(RecordedRequest {
            path: uri.path().to_string(),
            authorization: authorization.clone(),
            body: parsed.clone().unwrap_or(Value::Null),
            status,
            at: Instant::now(),
        });
    };
    if authorization.as_deref() != Some(format!("Bearer {ACCESS_TOKEN}").as_str()) {
        record(&mut state, 401);
        return cloud_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    let Some(body) = parsed.clone() else {
        record(&mut state, 400);
        return cloud_error(
            StatusCode::BAD_REQUEST,
            100,
            "(#100) The request body is not valid JSON",
        );
    };
    let is_read = body["status"] == "read";
    let failure = if is_read {
        state.read_failures.pop_front()
    } else {
        state.failures.pop_front()
    };
    if let Some(f) = failure {
        record(&mut state, f.status);
        let status = StatusCode::from_u16(f.status).expect("a valid HTTP status in fail_next");
        let mut response = (status, Json(f.body)).into_response();
        if let Some(secs) = f.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                secs.to_string().parse().expect("digits are a header value"),
            );
        }
        return response;
    }
    if body["messaging_product"] != "whatsapp" {
        record(&mut state, 400);
        return cloud_error(
            StatusCode::BAD_REQUEST,
            100,
            "(#100) The parameter messaging_product is required.",
        );
    }
    if is_read {
        if body["message_id"].as_str().is_none() {
            record(&mut state, 400);
            return cloud_error(
                StatusCode::BAD_REQUEST,
                100,
                "(#100) The parameter message_id is required.",
            );
        }
        record(&mut state, 200);
        state.reads.push(body);
        return Json(json!({ "success": true })).into_response();
    }
    let contact = match (body["to"].as_str(), body["recipient"].as_str()) {
        (Some(to), None) => json!({
            "input": to,
            "wa_id": to.chars().filter(char::is_ascii_digit).collect::<String>()
        }),
        (None, Some(recipient)) => json!({ "input": recipient, "user_id": recipient }),
        _ => {
            record(&mut state, 400);
            return cloud_error(
                StatusCode::BAD_REQUEST,
                100,
                "(#100) Exactly one of the parameters to and recipient is required.",
            );
        }
    };
    let n = inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let wamid = format!("wamid.FAKE{n}");
    record(&mut state, 200);
    state.sent.push(body);
    state.accepted_ids.push(wamid.clone());
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{ "id": wamid }]
    }))
    .into_response()
}

fn pretty(values: &[Value]) -> String {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("  #{i}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl FakeCloudApi {
    /// Starts the fake on `127.0.0.1:0`; it serves until the test's runtime ends.
    pub async fn start() -> FakeCloudApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake Cloud API on 127.0.0.1:0");
        let addr = listener.local_addr().expect("the fake's local address");
        let inner = Arc::new(FakeInner {
            state: Mutex::new(FakeState::default()),
            next_id: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/{phone_number_id}/messages", post(fake_messages))
            .route("/{version}/{phone_number_id}/messages", post(fake_messages))
            .with_state(inner.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("fake Cloud API stopped: {e}");
            }
        });
        FakeCloudApi { inner, addr }
    }

    /// The base URL to configure as `api_base` (no version segment).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Message bodies answered with success, in arrival order (mark-as-read excluded).
    pub fn sent(&self) -> Vec<Value> {
        self.inner.lock().sent.clone()
    }

    /// The `wamid.FAKE<n>` ids handed out, parallel to [`sent`](Self::sent).
    pub fn accepted_ids(&self) -> Vec<String> {
        self.inner.lock().accepted_ids.clone()
    }

    /// Mark-as-read bodies answered with success, in arrival order.
    pub fn reads(&self) -> Vec<Value> {
        self.inner.lock().reads.clone()
    }

    /// Every request received, in arrival order, with the status answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().requests.clone()
    }

    /// The requests that were message sends (not mark-as-read calls), whatever their answer.
    pub fn message_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.body["status"] != "read")
            .collect()
    }

    /// Answers the next `n` authorised message sends (not mark-as-read calls) with `status` and
    /// `body` instead of accepting them.
    pub fn fail_next(&self, n: usize, status: u16, body: Value) {
        self.fail_next_with(
            n,
            Failure {
                status,
                body,
                retry_after: None,
            },
        );
    }

    /// Like [`fail_next`](Self::fail_next) with a full [`Failure`] (e.g. with `Retry-After`).
    pub fn fail_next_with(&self, n: usize, failure: Failure) {
        let mut state = self.inner.lock();
        state.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Answers the next `n` authorised mark-as-read calls with `failure`.
    pub fn fail_next_reads(&self, n: usize, failure: Failure) {
        let mut state = self.inner.lock();
        state.read_failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Queued failures not yet used (message sends and mark-as-read calls).
    pub fn pending_failures(&self) -> usize {
        let state = self.inner.lock();
        state.failures.len() + state.read_failures.len()
    }

    /// Waits until at least `n` messages were accepted and returns all of them; panics listing
    /// what arrived when `timeout` passes first.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let sent = self.sent();
            if sent.len() >= n {
                return sent;
            }
            if started.elapsed() > timeout {
                let requests = self.requests();
                let attempts: Vec<String> = requests
                    .iter()
                    .map(|r| format!("  {} {} -> {}", r.path, r.body, r.status))
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {n} sent message(s); {} arrived:\n{}\nall requests:\n{}",
                    sent.len(),
                    pretty(&sent),
                    attempts.join("\n")
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for `n` accepted messages, then watches [`SETTLE`] longer and asserts that no
    /// more arrived; returns exactly those `n`.
    pub async fn wait_for_exactly(&self, n: usize, timeout: Duration) -> Vec<Value> {
        self.wait_for_sent(n, timeout).await;
        tokio::time::sleep(SETTLE).await;
        let sent = self.sent();
        assert_eq!(
            sent.len(),
            n,
            "expected exactly {n} sent message(s), got {}:\n{}",
            sent.len(),
            pretty(&sent)
        );
        sent
    }

    /// Asserts that nothing reached the fake at all during [`SETTLE`] from now.
    pub async fn assert_nothing_sent(&self) {
        tokio::time::sleep(SETTLE).await;
        let requests = self.requests();
        assert!(
            requests.is_empty(),
            "expected no request to the Cloud API, got {requests:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon under test.

/// A daemon running in-process against a [`FakeCloudApi`], with its own database.
pub struct TestDaemon {
    daemon: Daemon,
    fake: FakeCloudApi,
    config: Config,
    client: reqwest::Client,
    /// Owns the temporary directory when the daemon made it (dropped last).
    dir: Option<TempDir>,
}

impl std::fmt::Debug for TestDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDaemon")
            .field("daemon", &self.daemon)
            .field("db", &self.config.db)
            .finish_non_exhaustive()
    }
}

/// The configuration the tests run with: the fake's URL, test credentials ([`ACCESS_TOKEN`],
/// [`PHONE_NUMBER_ID`], [`APP_SECRET`], [`VERIFY_TOKEN`], [`ADMIN_TOKEN`]), port 0.
pub fn test_config(db: &Path, fake: &FakeCloudApi) -> Config {
    let mut cfg = Config::for_tests(db);
    cfg.access_token = Some(ACCESS_TOKEN.into());
    cfg.phone_number_id = PHONE_NUMBER_ID.into();
    cfg.app_secret = Some(APP_SECRET.into());
    cfg.verify_token = Some(VERIFY_TOKEN.into());
    cfg.api_base = fake.url();
    cfg.admin_token = Some(ADMIN_TOKEN.into());
    cfg
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("building the test's HTTP client")
}

async fn boot(config: &Config) -> Daemon {
    let http = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the daemon's HTTP listener on 127.0.0.1:0");
    let grpc = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the daemon's gRPC listener on 127.0.0.1:0");
    Daemon::start(config.clone(), Listeners { http, grpc })
        .await
        .unwrap_or_else(|e| panic!("starting the daemon on {}: {e}", config.db.display()))
}

impl TestDaemon {
    /// A fresh fake Cloud API and a daemon on a new temporary database.
    pub async fn start() -> TestDaemon {
        TestDaemon::start_with(FakeCloudApi::start().await, |_| {}).await
    }

    /// A fresh fake Cloud API and a daemon whose database is `dir/chat-support.db` (the caller
    /// owns `dir`).
    pub async fn start_in(dir: &Path) -> TestDaemon {
        let fake = FakeCloudApi::start().await;
        let config = test_config(&dir.join("chat-support.db"), &fake);
        TestDaemon::start_config(fake, config, None).await
    }

    /// A daemon against `fake` on a new temporary database, with `tweak` applied to the test
    /// configuration (e.g. sender settings or FAQ).
    pub async fn start_with(fake: FakeCloudApi, tweak: impl FnOnce(&mut Config)) -> TestDaemon {
        let dir = tempfile::tempdir().expect("creating a temporary directory for the database");
        let mut config = test_config(&dir.path().join("chat-support.db"), &fake);
        tweak(&mut config);
        TestDaemon::start_config(fake, config, Some(dir)).await
    }

    /// A daemon against `fake` with exactly `config` (its `api_base` should be `fake.url()`);
    /// `dir`, when given, is kept alive as long as the daemon.
    pub async fn start_config(
        fake: FakeCloudApi,
        config: Config,
        dir: Option<TempDir>,
    ) -> TestDaemon {
        let daemon = boot(&config).await;
        TestDaemon {
            daemon,
            fake,
            config,
            client: http_client(),
            dir,
        }
    }

    /// Shuts the daemon down gracefully and starts it again on the same database file and fake
    /// (on a new port: use [`webhook_url`](Self::webhook_url) afresh).
    pub async fn restart(self) -> TestDaemon {
        let TestDaemon {
            daemon,
            fake,
            config,
            client,
            dir,
        } = self;
        // Idle keep-alive connections must not hold up the graceful shutdown.
        drop(client);
        daemon.shutdown().await;
        let daemon = boot(&config).await;
        TestDaemon {
            daemon,
            fake,
            config,
            client: http_client(),
            dir,
        }
    }

    /// Shuts the daemon down gracefully; the database directory is removed if it was ours.
    pub async fn shutdown(self) {
        drop(self.client);
        self.daemon.shutdown().await;
        drop(self.dir);
    }

    /// The fake Cloud API this daemon sends to.
    pub fn fake(&self) -> &FakeCloudApi {
        &self.fake
    }

    /// The running daemon.
    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// The daemon's store.
    pub fn store(&self) -> &Store {
        self.daemon.store()
    }

    /// The daemon's engine (e.g. `import_students`, agent actions).
    pub fn engine(&self) -> &Engine {
        self.daemon.engine()
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.config.db
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.daemon.http_addr())
    }

    /// `http://127.0.0.1:<port>` of the agents' gRPC API.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.daemon.grpc_addr())
    }

    /// `http://127.0.0.1:<port>/webhook`.
    pub fn webhook_url(&self) -> String {
        format!("{}/webhook", self.base_url())
    }

    /// The HTTP client the helpers use.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `GET {base_url}{path_and_query}`.
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        let url = format!("{}{path_and_query}", self.base_url());
        self.client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// POSTs `body` to the webhook with the given `Content-Type` and `X-Hub-Signature-256`
    /// (each left out when `None`).
    pub async fn post_webhook(
        &self,
        body: impl Into<Vec<u8>>,
        content_type: Option<&str>,
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.webhook_url()).body(body.into());
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE.as_str(), ct);
        }
        if let Some(sig) = signature {
            request = request.header("X-Hub-Signature-256", sig);
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {}: {e}", self.webhook_url()))
    }

    /// POSTs `body` as JSON, signed with the app secret over exactly these bytes.
    pub async fn post_signed(&self, body: impl Into<Vec<u8>>) -> reqwest::Response {
        let body = body.into();
        let signature = sign(&body);
        self.post_webhook(body, Some("application/json"), Some(&signature))
            .await
    }

    /// Serialises `payload` and POSTs it signed.
    pub async fn post_json(&self, payload: &Value) -> reqwest::Response {
        self.post_signed(payload.to_string()).await
    }

    /// Like [`post_json`](Self::post_json), asserting a 200 answer; returns its JSON body.
    pub async fn deliver(&self, payload: &Value) -> Value {
        let response = self.post_json(payload).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "webhook answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// POSTs the shared fixture `<name>.json`, byte for byte, signed.
    pub async fn post_fixture(&self, name: &str) -> reqwest::Response {
        self.post_signed(fixture_bytes(name)).await
    }

    /// POSTs `body` as JSON without any signature header.
    pub async fn post_unsigned(&self, body: impl Into<Vec<u8>>) -> reqwest::Response {
        self.post_webhook(body, Some("application/json"), None)
            .await
    }

    /// POSTs `body` as JSON with `header` as the `X-Hub-Signature-256` value.
    pub async fn post_with_signature(
        &self,
        body: impl Into<Vec<u8>>,
        header: &str,
    ) -> reqwest::Response {
        self.post_webhook(body, Some("application/json"), Some(header))
            .await
    }

    /// The conversation of `address`, if stored.
    pub async fn find(&self, address: Address) -> Option<Summary> {
        self.store()
            .find_conversation(address)
            .await
            .expect("reading a conversation from the store")
    }

    /// The conversation of `address` and its whole thread (oldest first); panics when unknown.
    pub async fn conversation(&self, address: Address) -> (Summary, Vec<MessageRecord>) {
        let (summary, messages, _) = self
            .store()
            .get_conversation(address.clone(), 10_000, 0)
            .await
            .unwrap_or_else(|e| panic!("reading the conversation of {address:?}: {e}"));
        (summary, messages)
    }

    /// Every stored conversation (first 1000).
    pub async fn conversations(&self) -> Vec<Summary> {
        self.store()
            .list_conversations(ListQuery {
                page_size: 1000,
                ..ListQuery::default()
            })
            .await
            .expect("listing conversations")
            .items
    }

    /// Waits until the thread of `address` holds at least `n` messages; returns it.
    pub async fn wait_for_thread(
        &self,
        address: Address,
        n: usize,
        timeout: Duration,
    ) -> (Summary, Vec<MessageRecord>) {
        let what = format!("{n} message(s) in the thread of {address:?}");
        eventually(&what, timeout, || {
            let address = address.clone();
            async move {
                let found = self
                    .store()
                    .get_conversation(address, 10_000, 0)
                    .await
                    .ok()?;
                (found.1.len() >= n).then_some((found.0, found.1))
            }
        })
        .await
    }

    /// Waits until no outbound message is pending or in flight.
    pub async fn wait_outbox_settled(&self, timeout: Duration) {
        eventually("the outbox to be empty", timeout, || async {
            let g = self.store().gauges(now_ms()).await.ok()?;
            (g.outbox_queued + g.outbox_in_flight == 0).then_some(())
        })
        .await
    }

    /// Waits until the stored message with `wamid` (in `address`'s thread) has `status`.
    pub async fn wait_for_status(
        &self,
        address: Address,
        wamid: &str,
        status: DeliveryStatus,
        timeout: Duration,
    ) -> MessageRecord {
        let what = format!("message {wamid} of {address:?} to be {status:?}");
        eventually(&what, timeout, || {
            let address = address.clone();
            async move {
                let (_, messages, _) = self
                    .store()
                    .get_conversation(address, 10_000, 0)
                    .await
                    .ok()?;
                messages
                    .into_iter()
                    .find(|m| m.wamid.as_deref() == Some(wamid) && m.status == status)
            }
        })
        .await
    }
}

/// Now in unix milliseconds.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64")
}

/// Now in unix seconds, for webhook `timestamp`s: the daemon only lets agents write freely
/// within 24 hours of the user's last message by Meta's clock, so payloads that lead to agent
/// messages need recent times (the shared fixtures carry January 2026).
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// `sha256=<hex>` of `body` under the test app secret.
pub fn sign(body: &[u8]) -> String {
    bot_daemon::webhook::sign(APP_SECRET.as_bytes(), body)
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

/// The shared webhook fixtures directory (`shared/fixtures/webhooks` beside the repository).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/webhooks")
}

/// The exact bytes of fixture `<name>.json`.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

/// Fixture `<name>.json` parsed.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name))
        .unwrap_or_else(|e| panic!("fixture {name}.json is not JSON: {e}"))
}

/// The names (without `.json`) of every fixture, sorted.
pub fn fixture_names() -> Vec<String> {
    let dir = fixtures_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing fixtures in {}: {e}", dir.display()))
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no fixtures in {}", dir.display());
    names
}

/// Sets the `id` of every `statuses[]` item in `payload` to `wamid` (status fixtures refer to
/// messages the test itself sent).
pub fn with_status_ids(mut payload: Value, wamid: &str) -> Value {
    for entry in payload["entry"].as_array_mut().into_iter().flatten() {
        for change in entry["changes"].as_array_mut().into_iter().flatten() {
            for status in change["value"]["statuses"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                status["id"] = json!(wamid);
            }
        }
    }
    payload
}

// ---------------------------------------------------------------------------------------------
// Payload builders.

/// A webhook body with one entry and one `messages` change holding `contacts` and `messages`.
pub fn webhook(contacts: Vec<Value>, messages: Vec<Value>) -> Value {
    change_body(json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": DISPLAY_PHONE, "phone_number_id": PHONE_NUMBER_ID },
        "contacts": contacts,
        "messages": messages,
    }))
}

/// A webhook body with one change carrying `statuses` items (and `contacts`, omitted when empty,
/// as failed statuses may come).
pub fn statuses_webhook(contacts: Vec<Value>, statuses: Vec<Value>) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": DISPLAY_PHONE, "phone_number_id": PHONE_NUMBER_ID },
        "statuses": statuses,
    });
    if !contacts.is_empty() {
        value["contacts"] = json!(contacts);
    }
    change_body(value)
}

fn change_body(value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{ "field": "messages", "value": value }]
        }]
    })
}

/// One body holding every entry of `payloads`, in order (a batched delivery).
pub fn batch(payloads: &[Value]) -> Value {
    let entries: Vec<Value> = payloads
        .iter()
        .flat_map(|p| p["entry"].as_array().cloned().unwrap_or_default())
        .collect();
    json!({ "object": "whatsapp_business_account", "entry": entries })
}

/// A `contacts[]` entry: profile name, `wa_id` when the phone is known, `user_id` when given.
pub fn contact(phone: Option<&str>, user_id: Option<&str>, name: &str) -> Value {
    let mut c = json!({ "profile": { "name": name } });
    if let Some(p) = phone {
        c["wa_id"] = json!(p);
    }
    if let Some(u) = user_id {
        c["user_id"] = json!(u);
    }
    c
}

/// A `messages[]` item of `type` with its payload; `from`/`from_user_id` when known.
pub fn message(
    phone: Option<&str>,
    user_id: Option<&str>,
    wamid: &str,
    ts: i64,
    kind: &str,
    content: Value,
) -> Value {
    let mut m = json!({ "id": wamid, "timestamp": ts.to_string(), "type": kind });
    if let Some(p) = phone {
        m["from"] = json!(p);
    }
    if let Some(u) = user_id {
        m["from_user_id"] = json!(u);
    }
    m[kind] = content;
    m
}

/// A text message from a user with a phone number (and, as Meta sends since April 2026, their
/// BSUID; `None` gives the older phone-only shape). `ts` is unix seconds.
pub fn text_from(
    phone: &str,
    user_id: Option<&str>,
    name: &str,
    wamid: &str,
    ts: i64,
    body: &str,
) -> Value {
    webhook(
        vec![contact(Some(phone), user_id, name)],
        vec![message(
            Some(phone),
            user_id,
            wamid,
            ts,
            "text",
            json!({ "body": body }),
        )],
    )
}

/// A reply-button tap (`interactive.button_reply {id, title}`) answering one of the bot's
/// messages (`context`), from a user with a phone number and optionally a BSUID.
pub fn button_from(
    phone: &str,
    user_id: Option<&str>,
    name: &str,
    wamid: &str,
    ts: i64,
    id: &str,
    title: &str,
) -> Value {
    let mut m = message(
        Some(phone),
        user_id,
        wamid,
        ts,
        "interactive",
        json!({ "type": "button_reply", "button_reply": { "id": id, "title": title } }),
    );
    m["context"] = json!({ "from": DISPLAY_PHONE, "id": "wamid.HBgNQk9UUFJPTVBUMDAxFQIAERgS" });
    webhook(vec![contact(Some(phone), user_id, name)], vec![m])
}

/// A text message from a username-only user: no `wa_id`, no `from`, only the BSUID
/// (`contacts[].user_id`, `messages[].from_user_id`) and `profile.username`.
pub fn username_only_text(
    user_id: &str,
    username: &str,
    name: &str,
    wamid: &str,
    ts: i64,
    body: &str,
) -> Value {
    webhook(
        vec![json!({ "profile": { "name": name, "username": username }, "user_id": user_id })],
        vec![message(
            None,
            Some(user_id),
            wamid,
            ts,
            "text",
            json!({ "body": body }),
        )],
    )
}

/// A `statuses[]` item for an outbound `wamid` (`sent`, `delivered`, `read` or `failed`).
pub fn status_item(
    wamid: &str,
    status: &str,
    ts: i64,
    recipient_phone: Option<&str>,
    recipient_user_id: Option<&str>,
) -> Value {
    let mut s = json!({ "id": wamid, "status": status, "timestamp": ts.to_string() });
    if let Some(p) = recipient_phone {
        s["recipient_id"] = json!(p);
    }
    if let Some(u) = recipient_user_id {
        s["recipient_user_id"] = json!(u);
    }
    s
}

/// The address of a phone number (digits).
pub fn phone(digits: &str) -> Address {
    Address::Phone(digits.to_string())
}

/// The address of a BSUID.
pub fn user(bsuid: &str) -> Address {
    Address::UserId(bsuid.to_string())
}
