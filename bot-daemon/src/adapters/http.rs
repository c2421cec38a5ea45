//! The HTTP listener: Meta's webhook (verification handshake and signed deliveries), health,
//! readiness and metrics. Handlers stay thin: check, parse, hand to the engine, map the result.
//! A delivery is answered 200 only once its effects are committed.
//!
//! A delivery takes one of the [`WebhookSlots`] only once its whole body has arrived and its
//! signature is good, so clients that send slowly or not at all hold nothing but their own
//! connection (whose phases are bounded in [`crate::server`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use http_body_util::BodyExt as _;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    engine::Engine,
    health::Health,
    metrics::Metrics,
    server::{caused_by, BodyTimedOut},
    webhook,
};

/// The largest webhook body accepted (Meta's batches are a few hundred KiB at most).
pub const MAX_BODY: usize = 1024 * 1024;

/// How long a verified delivery waits for a processing slot before it is answered 503 (Meta
/// retries).
const SLOT_WAIT: Duration = Duration::from_secs(10);

/// How long every slot must stay taken before readiness says the webhook path is stuck.
const STUCK_AFTER: Duration = Duration::from_secs(5);

/// Verified webhook deliveries processed at once, across all connections; more wait their
/// turn. Bounds memory and the writer's queue under a flood of *signed* deliveries; nothing
/// unverified ever holds one.
#[derive(Debug)]
pub struct WebhookSlots {
    sem: Arc<Semaphore>,
    cap: usize,
    /// Since when every slot has been taken, if they all are.
    full_since: Mutex<Option<tokio::time::Instant>>,
}

/// One processing slot; freeing it clears the "full" mark.
#[derive(Debug)]
pub struct Slot<'a> {
    slots: &'a WebhookSlots,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.slots.full_since.lock() {
            *f = None;
        }
    }
}

impl WebhookSlots {
    /// `cap` slots.
    pub fn new(cap: usize) -> WebhookSlots {
        WebhookSlots {
            sem: Arc::new(Semaphore::new(cap)),
            cap,
            full_since: Mutex::new(None),
        }
    }

    /// Waits up to `wait` for a slot.
    pub async fn acquire(&self, wait: Duration) -> Option<Slot<'_>> {
        let permit = tokio::time::timeout(wait, self.sem.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        if self.sem.available_permits() == 0 {
            if let Ok(mut f) = self.full_since.lock() {
                f.get_or_insert_with(tokio::time::Instant::now);
            }
        }
        Some(Slot {
            slots: self,
            _permit: permit,
        })
    }

    /// Slots in use now.
    pub fn busy(&self) -> usize {
        self.cap - self.sem.available_permits().min(self.cap)
    }

    /// The number of slots.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How long every slot has been taken, when that is longer than `after`.
    pub fn stuck_for(&self, after: Duration) -> Option<Duration> {
        let since = (*self.full_since.lock().ok()?)?;
        let d = since.elapsed();
        (self.sem.available_permits() == 0 && d >= after).then_some(d)
    }
}

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The engine.
    pub engine: Engine,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// What became of recent inbox deliveries.
    pub inbox: Arc<crate::adapters::inbox::Tracker>,
    /// The app secret that signs deliveries.
    pub app_secret: Arc<Vec<u8>>,
    /// The handshake token, if configured.
    pub verify_token: Option<Arc<String>>,
    /// The processing slots of verified deliveries.
    pub slots: Arc<WebhookSlots>,
    /// Whether the listeners are up.
    pub health: Arc<Health>,
}

/// The HTTP routes; `extra` is merged in (the REST admin API).
pub fn router(state: HttpState, extra: Router) -> Router {
    Router::new()
        .route("/webhook", get(verify).post(deliver))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(extra)
}

fn error(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(json!({ "error": reason.into() }))).into_response()
}

async fn verify(State(s): State<HttpState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mode = q.get("hub.mode").map(String::as_str);
    let token = q.get("hub.verify_token").map(String::as_str).unwrap_or("");
    let challenge = q.get("hub.challenge").cloned().unwrap_or_default();
    let Some(expected) = &s.verify_token else {
        tracing::warn!("webhook verification refused: no WHATSAPP_VERIFY_TOKEN configured");
        return (
            StatusCode::FORBIDDEN,
            "verification refused: no verify token configured\n",
        )
            .into_response();
    };
    let token_ok: bool = token.as_bytes().ct_eq(expected.as_bytes()).into();
    if mode == Some("subscribe") && token_ok && !challenge.is_empty() {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge,
        )
            .into_response()
    } else {
        tracing::warn!(mode = ?mode, "webhook verification refused");
        (StatusCode::FORBIDDEN, "verification refused\n").into_response()
    }
}

async fn deliver(State(s): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let response = handle_delivery(&s, &headers, body).await;
    s.metrics
        .webhook(response.status().as_u16(), started.elapsed());
    response
}

/// The whole body, at most [`MAX_BODY`] bytes: a declared length over it is refused before
/// a byte is read; a body that stalls fails at the listener's body timeout.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || {
        tracing::warn!("webhook refused: body over {MAX_BODY} bytes");
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {MAX_BODY} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if caused_by::<http_body_util::LengthLimitError>(e.as_ref()) => Err(too_large()),
        Err(e) if caused_by::<BodyTimedOut>(e.as_ref()) => {
            tracing::warn!("webhook refused: the body did not arrive in time");
            Err(error(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            ))
        }
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("reading the request body: {e}"),
        )),
    }
}

async fn handle_delivery(s: &HttpState, headers: &HeaderMap, body: Body) -> Response {
    let body = match read_body(headers, body).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = webhook::signature::verify_signature(&s.app_secret, &body, signature) {
        tracing::warn!(error = %e, "webhook refused: bad signature");
        return error(
            StatusCode::UNAUTHORIZED,
            format!("X-Hub-Signature-256: {e}"),
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json, got {content_type:?}"),
        );
    }
    // Parsed now so a malformed body is refused (400) before it is stored; the parsed
    // delivery is handed to the processor in memory (it parses the stored bytes only when it
    // does not have it: after a restart, a retry, or a full hand-over).
    let delivery = match webhook::parse(&body) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "webhook refused: malformed payload");
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    // While the database cannot be written, processing cannot keep up with anything: Meta
    // keeps the delivery and retries, rather than a backlog growing on a full disk.
    if !s.engine.store().is_writable() {
        tracing::warn!("webhook not accepted: the database cannot be written");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database cannot be written; retry later",
        );
    }
    // Only now, verified and parsed, does the delivery take a slot.
    let Some(_slot) = s.slots.acquire(SLOT_WAIT).await else {
        tracing::warn!(
            slots = s.slots.cap(),
            "webhook not accepted: every slot stayed busy"
        );
        return error(StatusCode::SERVICE_UNAVAILABLE, "busy, retry later");
    };
    match s.engine.store().inbox().append(body, s.engine.now()).await {
        Ok(id) => {
            s.inbox.appended(id, delivery);
            Json(json!({ "status": "ok", "inbox_id": id })).into_response()
        }
        Err(e) => {
            // Nothing was stored; Meta retries a non-200.
            tracing::error!(error = %e, "webhook not stored");
            error(StatusCode::SERVICE_UNAVAILABLE, "not stored, retry later")
        }
    }
}

async fn ready(State(s): State<HttpState>) -> Response {
    if let Some(why) = s.health.failure() {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response();
    }
    if let Some(d) = s.slots.stuck_for(STUCK_AFTER) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "webhook path stuck: all {} processing slots busy for {} s\n",
                s.slots.cap(),
                d.as_secs()
            ),
        )
            .into_response();
    }
    match s.engine.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {e}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(s): State<HttpState>) -> Response {
    let gauges = match s.engine.store().gauges(s.engine.now()).await {
        Ok(g) => g,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("database unavailable: {e}\n"),
            )
                .into_response();
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(&gauges, s.slots.busy(), s.slots.cap()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_all_taken_for_long_enough_make_the_webhook_path_stuck() {
        let slots = WebhookSlots::new(2);
        let a = slots.acquire(SLOT_WAIT).await.unwrap();
        let b = slots.acquire(SLOT_WAIT).await.unwrap();
        assert_eq!(slots.busy(), 2);
        assert!(
            slots.stuck_for(STUCK_AFTER).is_none(),
            "full, but only just"
        );
        tokio::time::advance(STUCK_AFTER + Duration::from_secs(1)).await;
        assert!(
            slots.stuck_for(STUCK_AFTER).is_some(),
            "full for 6 s: stuck"
        );
        // A third delivery waits its turn and gives up after SLOT_WAIT.
        assert!(slots.acquire(SLOT_WAIT).await.is_none());
        drop(a);
        assert!(
            slots.stuck_for(STUCK_AFTER).is_none(),
            "a slot freed: not stuck"
        );
        assert_eq!(slots.busy(), 1);
        drop(b);
        assert_eq!(slots.busy(), 0);
    }
}
