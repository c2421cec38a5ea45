//! The HTTP listener: Meta's webhook (verification handshake and signed deliveries), health,
//! readiness and metrics. Handlers stay thin: check, parse, hand to the engine, map the result.
//! A delivery is answered 200 only once its effects are committed.

use std::{collections::HashMap, sync::Arc, time::Instant};

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::{engine::Engine, metrics::Metrics, webhook};

/// The largest webhook body accepted (Meta's batches are a few hundred KiB at most).
pub const MAX_BODY: usize = 1024 * 1024;

/// Webhook deliveries processed at once, across all connections; more wait their turn (each
/// HTTP/1.1 connection carries one request at a time). Bounds memory under a flood.
pub const MAX_CONCURRENT_DELIVERIES: usize = 256;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The engine.
    pub engine: Engine,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The app secret that signs deliveries.
    pub app_secret: Arc<Vec<u8>>,
    /// The handshake token, if configured.
    pub verify_token: Option<Arc<String>>,
    /// The business number this daemon answers for (`None` in sandbox mode: every number).
    /// Messages addressed to another number of the same app are acknowledged and ignored, so
    /// a user who wrote to number B never gets an answer from number A.
    pub own_number: Option<Arc<String>>,
}

/// The HTTP routes; `extra` is merged in (the REST admin API).
pub fn router(state: HttpState, extra: Router) -> Router {
    Router::new()
        .route(
            "/webhook",
            get(verify)
                .post(deliver)
                .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(MAX_BODY))
                .layer::<_, std::convert::Infallible>(
                    tower::limit::GlobalConcurrencyLimitLayer::new(MAX_CONCURRENT_DELIVERIES),
                ),
        )
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

async fn deliver(
    State(s): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let response = handle_delivery(&s, &headers, body).await;
    s.metrics
        .webhook(response.status().as_u16(), started.elapsed());
    response
}

async fn handle_delivery(
    s: &HttpState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::warn!("webhook refused: body over {MAX_BODY} bytes");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {MAX_BODY} bytes"),
            );
        }
        Err(e) => return error(e.status(), e.body_text()),
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
    let mut delivery = match webhook::parse(&body) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "webhook refused: malformed payload");
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let mut other_number = 0;
    if let Some(own) = &s.own_number {
        let before = delivery.messages.len();
        delivery.messages.retain(|m| {
            m.phone_number_id
                .as_deref()
                .is_none_or(|id| id == own.as_str())
        });
        other_number = before - delivery.messages.len();
        if other_number > 0 {
            tracing::warn!(
                count = other_number,
                own = %own,
                "messages addressed to another business number ignored"
            );
        }
        // Statuses of another number's messages are not ours either (and would only pile up
        // as statuses for unknown messages).
        let before = delivery.statuses.len();
        delivery.statuses.retain(|s| {
            s.phone_number_id
                .as_deref()
                .is_none_or(|id| id == own.as_str())
        });
        let other_statuses = before - delivery.statuses.len();
        if other_statuses > 0 {
            tracing::debug!(
                count = other_statuses,
                own = %own,
                "statuses of another business number ignored"
            );
        }
    }
    match s.engine.apply_delivery(delivery).await {
        Ok(out) => {
            s.metrics.messages_in.add(out.applied as u64);
            s.metrics.messages_duplicate.add(out.duplicates as u64);
            s.metrics.statuses.add(out.statuses as u64);
            if out.unknown_statuses > 0 {
                tracing::debug!(
                    count = out.unknown_statuses,
                    "statuses for unknown messages ignored"
                );
            }
            Json(json!({
                "status": "ok",
                "applied": out.applied,
                "duplicates": out.duplicates,
                "statuses": out.statuses,
                "other_number": other_number,
            }))
            .into_response()
        }
        Err(e) => {
            // Nothing was committed; Meta retries a non-200.
            tracing::error!(error = %e, "webhook not stored");
            error(StatusCode::SERVICE_UNAVAILABLE, "not stored, retry later")
        }
    }
}

async fn ready(State(s): State<HttpState>) -> Response {
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
        s.metrics.render(&gauges),
    )
        .into_response()
}
