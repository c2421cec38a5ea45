//! The seed's REST admin API on the HTTP listener, behind the same bearer token as gRPC:
//! list and read conversations, send to and end chats. Responses keep the seed's JSON shapes:
//! `{"status": "success", "message": ..., "data": {...}}`, errors `{"status": "error", "message": ...}`.

// Handlers return ready-made error responses from small helpers; boxing them buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::{
    domain::{parse_contact, Address, Millis},
    engine::{Engine, EngineError},
    grpc::{DEFAULT_LIST_PAGE, DEFAULT_THREAD_PAGE, MAX_PAGE},
    storage::{ListQuery, MessageRecord, StoreError, Summary},
};

#[derive(Clone)]
struct RestState {
    engine: Engine,
    token: Arc<String>,
}

/// The `/api/admin/...` routes.
pub fn router(engine: Engine, token: String) -> Router {
    let state = RestState {
        engine,
        token: Arc::new(token),
    };
    Router::new()
        .route("/api/admin/conversations", get(list))
        .route("/api/admin/conversations/{phone_number}", get(show))
        .route(
            "/api/admin/conversations/{phone_number}/chat-support/send",
            post(send),
        )
        .route(
            "/api/admin/conversations/{phone_number}/chat-support/end",
            post(end),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "status": "error", "message": message.into() })),
    )
        .into_response()
}

fn success(message: &str, data: Value) -> Response {
    Json(json!({ "status": "success", "message": message, "data": data })).into_response()
}

/// An engine refusal or a store failure as the REST answer (the statuses the seed's clients
/// know).
fn store_error(e: impl Into<EngineError>) -> Response {
    match e.into() {
        EngineError::NotFound(what) | EngineError::Store(StoreError::NotFound(what)) => {
            fail(StatusCode::NOT_FOUND, format!("no conversation for {what}"))
        }
        EngineError::FailedPrecondition(m) => fail(StatusCode::CONFLICT, m),
        EngineError::Invalid(m) | EngineError::Store(StoreError::BadToken(m)) => {
            fail(StatusCode::BAD_REQUEST, m)
        }
        EngineError::PermissionDenied(m) => fail(StatusCode::FORBIDDEN, m),
        EngineError::Store(StoreError::Closed) => fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down",
        ),
        EngineError::Store(StoreError::Full(m) | StoreError::Unavailable(m)) => {
            tracing::error!(error = %m, "a REST call could not use the database");
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database cannot be written right now; retry later",
            )
        }
        other => {
            tracing::error!(error = %other, "internal error in a REST call");
            fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the daemon's log",
            )
        }
    }
}

async fn auth(
    State(s): State<RestState>,
    headers: HeaderMap,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or("");
    if given.is_empty() {
        return fail(
            StatusCode::UNAUTHORIZED,
            "missing 'Authorization: Bearer <token>' header",
        );
    }
    if !bool::from(given.trim().as_bytes().ct_eq(s.token.as_bytes())) {
        return fail(StatusCode::UNAUTHORIZED, "invalid token");
    }
    next.run(request).await
}

/// The seed's timestamp format: ISO 8601 in UTC with microseconds, e.g. `2026-01-09T12:30:45.123456`.
pub fn iso(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .unwrap_or_default()
}

fn shown_address(s: &Summary) -> String {
    match &s.phone {
        Some(p) => format!("+{p}"),
        None => s.user_id.clone().unwrap_or_default(),
    }
}

fn summary_json(s: &Summary) -> Value {
    json!({
        "phone_number": shown_address(s),
        "user_id": s.user_id,
        "username": s.username,
        "display_name": s.display_name,
        "type": s.kind.as_str(),
        "state": s.state.as_str(),
        "chat_support_active": s.chat_active,
        "chat_started_at": s.chat_started_at.map(iso),
        "waiting_since": s.waiting_since.map(iso),
        "unread_count": s.unread_count,
        "message_count": s.message_count,
        "last_message": s.last_message.as_ref().map(|m| json!({
            "text": m.text, "sender": m.sender.as_str(), "timestamp": iso(m.timestamp)
        })),
    })
}

fn message_json(m: &MessageRecord) -> Value {
    json!({
        "id": m.id,
        "text": m.text,
        "timestamp": iso(m.timestamp),
        "sender": m.sender.as_str(),
        "status": m.status.as_str(),
        "chat_session_id": m.session_id,
        "error_code": m.error_code,
        "error_message": m.error_message,
    })
}

/// The contact a path names: phone, BSUID or `@username` (resolved by the engine).
async fn address(s: &RestState, raw: &str) -> Result<Address, Response> {
    let who = parse_contact(raw).map_err(|e| fail(StatusCode::BAD_REQUEST, e))?;
    s.engine.resolve_contact(who).await.map_err(store_error)
}

fn page(value: Option<u32>, default: u32) -> Result<u32, Response> {
    match value.unwrap_or(0) {
        0 => Ok(default),
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(fail(
            StatusCode::BAD_REQUEST,
            format!("page_size must be between 1 and {MAX_PAGE}"),
        )),
    }
}

#[derive(Deserialize)]
struct ListParams {
    active_only: Option<bool>,
    page_size: Option<u32>,
    page_token: Option<String>,
    query: Option<String>,
}

async fn list(
    State(s): State<RestState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(p)) = params else {
        return fail(StatusCode::BAD_REQUEST, "invalid query parameters (active_only=true|false, page_size=1..500, page_token, query)");
    };
    let size = match page(p.page_size, DEFAULT_LIST_PAGE) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let q = ListQuery {
        active_only: p.active_only.unwrap_or(false),
        page_size: size,
        page_token: p.page_token.unwrap_or_default(),
        query: p.query.unwrap_or_default(),
        ..ListQuery::default()
    };
    match s.engine.store().list_conversations(q).await {
        Ok(page) => success(
            "Conversations retrieved",
            json!({
                "conversations": page.items.iter().map(summary_json).collect::<Vec<_>>(),
                "next_page_token": page.next_token,
            }),
        ),
        Err(e) => store_error(e),
    }
}

#[derive(Deserialize)]
struct ShowParams {
    page_size: Option<u32>,
    before: Option<i64>,
}

async fn show(
    State(s): State<RestState>,
    Path(phone): Path<String>,
    params: Result<Query<ShowParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(p)) = params else {
        return fail(
            StatusCode::BAD_REQUEST,
            "invalid query parameters (page_size=1..500, before=<message id>)",
        );
    };
    let addr = match address(&s, &phone).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let size = match page(p.page_size, DEFAULT_THREAD_PAGE) {
        Ok(n) => n,
        Err(r) => return r,
    };
    match s
        .engine
        .store()
        .get_conversation(addr, size, p.before.unwrap_or(0).max(0))
        .await
    {
        Ok((summary, messages, next_before)) => {
            let mut data = summary_json(&summary);
            data["chat_last_message_time"] =
                json!(summary.last_message.as_ref().map(|m| iso(m.timestamp)));
            data["chat_messages"] = json!(messages.iter().map(message_json).collect::<Vec<_>>());
            data["next_before"] = json!(next_before);
            success("Conversation retrieved", data)
        }
        Err(e) => store_error(e),
    }
}

/// Reads an optional JSON object body with an optional string `message`.
fn message_field(body: &Bytes, required: bool) -> Result<Option<String>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(fail(
                StatusCode::BAD_REQUEST,
                "body must be JSON: {\"message\": \"...\"}",
            ))
        } else {
            Ok(None)
        };
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| fail(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    match v.get("message") {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(fail(StatusCode::BAD_REQUEST, "message is required")),
        Some(Value::String(m)) => Ok(Some(m.clone())),
        Some(_) => Err(fail(StatusCode::BAD_REQUEST, "message must be a string")),
    }
}

async fn send(
    State(s): State<RestState>,
    Path(phone): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let addr = match address(&s, &phone).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let message = match message_field(&body, true) {
        Ok(m) => m.unwrap_or_default(),
        Err(r) => return r,
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|k| !k.is_empty() && k.len() <= 200);
    match s.engine.agent_send(addr, message, key).await {
        Ok(sent) => {
            let mut data = json!({
                "phone_number": shown_address(&sent.summary),
                "message_sent": sent.text,
                "timestamp": iso(sent.message.timestamp),
                "message_id": sent.message.id,
            });
            if let Some(t) = sent.template_used {
                data["template_used"] = json!(t);
            }
            if let Some(session) = sent.chat_started {
                data["chat_started"] = json!(true);
                data["chat_session_id"] = json!(session);
            }
            success("Message sent to user", data)
        }
        Err(e) => store_error(e),
    }
}

async fn end(State(s): State<RestState>, Path(phone): Path<String>, body: Bytes) -> Response {
    let addr = match address(&s, &phone).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let message = match message_field(&body, false) {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.agent_end(addr, message, false).await {
        Ok(ended) => {
            let mut data = json!({
                "phone_number": shown_address(&ended.summary),
                "session_ended": iso(ended.ended_at),
            });
            if let Some(t) = ended.template_used {
                data["template_used"] = json!(t);
            }
            success("Chat support session ended", data)
        }
        Err(e) => store_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_use_the_seed_format() {
        assert_eq!(iso(1_767_960_645_123), "2026-01-09T12:10:45.123000");
    }
}
