//! Outbound delivery: the transport (the Cloud API over reqwest + rustls, or the sandbox that
//! records instead of sending) and the sender task that drains the durable outbox — the oldest
//! open message of each recipient first, recipients in parallel, retries with backoff.

/// The bodies are built in the core (the engine stores them in the outbox with each message).
pub use crate::core::payload;

use std::{collections::HashSet, sync::Arc, time::Duration};

use rand::Rng;
use serde_json::Value;
use tokio::{sync::watch, task::JoinSet};

use crate::throttle::ErrorThrottle;
use crate::{
    domain::{Clock, Millis},
    metrics::Metrics,
    storage::{OutboxItem, Store, StoreError},
};

/// The result of one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted; Meta's message id (none for a mark-as-read call).
    Accepted {
        /// `messages[0].id`.
        wamid: Option<String>,
    },
    /// Worth retrying (network error, 5xx, throttling), optionally not before `after`.
    Retry {
        /// `Retry-After`, when given.
        after: Option<Duration>,
        /// What went wrong.
        reason: String,
    },
    /// Permanent failure with Meta's code.
    Failed {
        /// Meta's error code.
        code: Option<i64>,
        /// Meta's message and details.
        message: String,
    },
    /// The access token is expired or invalid (code 190): sending pauses.
    AuthExpired {
        /// Meta's message.
        message: String,
    },
}

/// Where outbound messages go.
#[derive(Debug, Clone)]
pub enum Transport {
    /// The real Cloud API (or a fake speaking its wire format).
    Cloud(CloudApi),
    /// No credentials: record and log, send nothing.
    Sandbox,
}

/// A Cloud API client for one business phone number.
#[derive(Debug, Clone)]
pub struct CloudApi {
    client: reqwest::Client,
    messages_url: String,
    token: String,
}

/// Throttling and transient codes that are retried (reference: error codes table).
const RETRY_CODES: &[i64] = &[1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057];

/// Reads a Cloud API error body into a retry decision.
pub fn classify_error(http_status: u16, body: &str, retry_after: Option<Duration>) -> SendOutcome {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let err = &v["error"];
    let code = err["code"].as_i64();
    let mut message = err["message"].as_str().unwrap_or("").to_string();
    if let Some(d) = err["error_data"]["details"].as_str() {
        message = if message.is_empty() {
            d.to_string()
        } else {
            format!("{message}: {d}")
        };
    }
    if message.is_empty() {
        message = format!("HTTP {http_status}");
    }
    match code {
        Some(190) => SendOutcome::AuthExpired { message },
        Some(c) if RETRY_CODES.contains(&c) => SendOutcome::Retry {
            after: retry_after,
            reason: format!("({c}) {message}"),
        },
        _ if http_status == 429 || http_status >= 500 => SendOutcome::Retry {
            after: retry_after,
            reason: message,
        },
        _ => SendOutcome::Failed { code, message },
    }
}

/// `Retry-After` in either form HTTP allows: delay-seconds (`120`) or an HTTP-date
/// (`Wed, 25 Nov 2026 08:00:00 GMT`, as from `now`; a date already past means "now").
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

impl CloudApi {
    /// A client for `{api_base}/{phone_number_id}/messages` with a bearer token.
    ///
    /// # Errors
    /// The HTTP client could not be built (TLS roots).
    pub fn new(
        api_base: &str,
        phone_number_id: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<CloudApi, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(CloudApi {
            client,
            messages_url: format!(
                "{}/{}/messages",
                api_base.trim_end_matches('/'),
                phone_number_id
            ),
            token: token.to_string(),
        })
    }

    /// Posts one body: a message (success carries `messages[0].id`) or, with `is_read`, a
    /// mark-as-read call (success is any 2xx).
    pub async fn send(&self, body: &str, is_read: bool) -> SendOutcome {
        let resp = self
            .client
            .post(&self.messages_url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            // The request may or may not have reached Meta: retrying can duplicate (docs/operations.md).
            Err(e) => {
                return SendOutcome::Retry {
                    after: None,
                    reason: format!("network error: {e}"),
                }
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                return SendOutcome::Retry {
                    after: retry_after,
                    reason: format!("reading the response: {e}"),
                }
            }
        };
        if (200..300).contains(&status) && is_read {
            return SendOutcome::Accepted { wamid: None };
        }
        if (200..300).contains(&status) {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return match v["messages"][0]["id"].as_str() {
                Some(id) => SendOutcome::Accepted {
                    wamid: Some(id.to_string()),
                },
                None => SendOutcome::Failed {
                    code: None,
                    message: format!(
                        "unexpected success body without a message id: {}",
                        truncate(&text, 200)
                    ),
                },
            };
        }
        classify_error(status, &text, retry_after)
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl Transport {
    /// Sends (or, in the sandbox, records) one outbox item.
    pub async fn send(&self, item: &OutboxItem) -> SendOutcome {
        match self {
            Transport::Cloud(api) => api.send(&item.payload, item.message_id.is_none()).await,
            Transport::Sandbox => {
                let to: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
                let to = to["to"]
                    .as_str()
                    .or(to["recipient"].as_str())
                    .unwrap_or("?")
                    .to_string();
                match item.message_id {
                    Some(id) => {
                        tracing::info!(message_id = id, to = %to, "sandbox: outbound message recorded, not sent");
                        SendOutcome::Accepted {
                            wamid: Some(format!("sandbox.{id}")),
                        }
                    }
                    None => {
                        tracing::info!(
                            outbox_id = item.id,
                            "sandbox: mark-as-read recorded, not sent"
                        );
                        SendOutcome::Accepted { wamid: None }
                    }
                }
            }
        }
    }

    /// True in sandbox mode.
    pub fn is_sandbox(&self) -> bool {
        matches!(self, Transport::Sandbox)
    }
}

/// Sender settings.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Requests in flight at once (different recipients).
    pub max_in_flight: usize,
    /// Attempts before a message is given up as failed.
    pub max_attempts: i64,
    /// Ceiling on requests per second to the business number (Meta's standard tier is 80);
    /// 0 turns it off.
    pub max_per_second: u32,
    /// First retry delay; doubles each attempt.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// One request's time limit (its outcome is unknown past it, and it is retried).
    pub request_timeout: Duration,
    /// How long sending pauses after Meta refuses the access token (code 190).
    pub auth_pause: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            max_in_flight: 16,
            max_attempts: 30,
            max_per_second: 80,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            request_timeout: Duration::from_secs(20),
            auth_pause: Duration::from_secs(60),
        }
    }
}

/// The longest `Retry-After` obeyed: a broken or hostile header must not park a message for
/// days.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// Exponential backoff from `base` doubling to `max`, with up to 25% jitter; `Retry-After`
/// wins when longer (up to [`RETRY_AFTER_CAP`]).
pub fn backoff(
    attempts: i64,
    retry_after: Option<Duration>,
    base: Duration,
    max: Duration,
) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).clamp(0, 20) as u32;
    let d = base.saturating_mul(factor).min(max);
    let jitter = rand::rng().random_range(0..=d.as_millis() as u64 / 4);
    let d = d + Duration::from_millis(jitter);
    match retry_after {
        Some(r) if r > d => r.min(RETRY_AFTER_CAP.max(d)),
        _ => d,
    }
}

/// Paces requests to at most `per_second`, evenly (no bursts past the ceiling).
#[derive(Debug)]
pub struct RateLimiter {
    interval: Option<Duration>,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl RateLimiter {
    /// A limiter for `per_second` requests; 0 means unlimited.
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            interval: (per_second > 0).then(|| Duration::from_secs(1) / per_second),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Waits for the next free slot.
    pub async fn acquire(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

async fn record(
    store: &Store,
    item: &OutboxItem,
    outcome: SendOutcome,
    cfg: &SenderConfig,
    now: Millis,
    metrics: &Metrics,
    auth_failed: &std::sync::atomic::AtomicBool,
) {
    let id = item.id;
    let attempts = item.attempts + 1;
    let result = match outcome {
        SendOutcome::Accepted { wamid } => {
            if item.message_id.is_some() {
                metrics.messages_out.inc();
            }
            store
                .write(move |tx| tx.outbox_sent(id, wamid.as_deref(), now))
                .await
        }
        SendOutcome::Failed { code, message } => {
            tracing::warn!(outbox_id = item.id, code = ?code, error = %message, "outbound message failed permanently");
            metrics.messages_failed.inc();
            store
                .write(move |tx| tx.outbox_failed(id, code, &message, now))
                .await
        }
        SendOutcome::Retry { after, reason } => {
            if attempts >= cfg.max_attempts {
                tracing::error!(outbox_id = item.id, attempts, error = %reason, "giving up on outbound message");
                metrics.messages_failed.inc();
                let msg = format!("gave up after {attempts} attempts: {reason}");
                store
                    .write(move |tx| tx.outbox_failed(id, None, &msg, now))
                    .await
            } else {
                metrics.messages_retried.inc();
                let delay = backoff(attempts, after, cfg.retry_base, cfg.retry_max);
                tracing::warn!(outbox_id = item.id, attempts, retry_in_ms = delay.as_millis() as u64, error = %reason, "outbound send will be retried");
                let next = now + delay.as_millis() as i64;
                store
                    .write(move |tx| tx.outbox_retry(id, next, &reason, now))
                    .await
            }
        }
        SendOutcome::AuthExpired { message } => {
            tracing::error!(error = %message, pause_s = cfg.auth_pause.as_secs(), "WhatsApp access token rejected (code 190): ALL SENDING PAUSED; set a new WHATSAPP_ACCESS_TOKEN and restart");
            auth_failed.store(true, std::sync::atomic::Ordering::Relaxed);
            let next = now + cfg.auth_pause.as_millis() as i64;
            store
                .write(move |tx| tx.outbox_retry(id, next, &message, now))
                .await
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, outbox_id = id, "could not record a send outcome; it will be retried");
    }
}

/// How often one repeated error of the sender's loop is logged again (a full disk would
/// otherwise log ~5 lines a second).
pub const REPEATED_ERROR_LOG_EVERY: Duration = Duration::from_secs(30);

/// Drains the outbox until `shutdown` turns true. Messages whose attempt was in flight when the
/// daemon died are attempted again at start (at-least-once; see docs/operations.md).
pub async fn run_sender(
    store: Store,
    transport: Arc<Transport>,
    clock: Clock,
    cfg: SenderConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let notify = store.outbox_notify();
    let limiter = Arc::new(RateLimiter::new(cfg.max_per_second));
    let auth_failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let max_in_flight = cfg.max_in_flight.max(1);
    // Recipients with a request in flight: their next message waits (order per user).
    let mut busy: HashSet<i64> = HashSet::new();
    let mut set: JoinSet<i64> = JoinSet::new();
    let mut read_errors = ErrorThrottle::new(REPEATED_ERROR_LOG_EVERY);
    let mut mark_errors = ErrorThrottle::new(REPEATED_ERROR_LOG_EVERY);
    // Whether this daemon was sending (it took over what a previous sender left in flight).
    let mut leading = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Several daemons on one PostgreSQL desk: the leader sends (the per-number ceiling
        // and each user's order then hold for the whole desk); the others wait to take over.
        if !store.is_leader() && set.is_empty() {
            leading = false;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        if !leading {
            let now = clock();
            match store.write(move |tx| tx.outbox_take_over(now)).await {
                Ok(n) => {
                    leading = true;
                    if n > 0 {
                        tracing::warn!(rows = n, "taking over the outbox: messages another sender left in flight are sent again (at least once)");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "taking over the outbox failed; trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            }
        }
        if auth_failed.swap(false, std::sync::atomic::Ordering::Relaxed) {
            // The token was refused: stop hammering Meta with every queued message.
            tokio::select! {
                _ = tokio::time::sleep(cfg.auth_pause) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let now = clock();
        let mut wait = Duration::from_secs(5);
        if set.len() < max_in_flight {
            let room = max_in_flight - set.len();
            let due = match store.due_outbox(now, (room + busy.len()) as u32).await {
                Ok(d) => {
                    recovered(&mut read_errors, "reading the outbox");
                    d
                }
                Err(e) => {
                    let e = e.to_string();
                    if let Some(suppressed) = read_errors.check(&e, std::time::Instant::now()) {
                        tracing::error!(error = %e, suppressed, "reading the outbox failed");
                    }
                    Vec::new()
                }
            };
            let picked: Vec<OutboxItem> = due
                .into_iter()
                .filter(|i| !busy.contains(&i.contact_id))
                .take(room)
                .collect();
            if !picked.is_empty() {
                let ids: Vec<i64> = picked.iter().map(|i| i.id).collect();
                if let Err(e) = store
                    .write(move |tx| {
                        for id in &ids {
                            tx.outbox_inflight(*id, now)?;
                        }
                        Ok::<(), StoreError>(())
                    })
                    .await
                {
                    let e = e.to_string();
                    if let Some(suppressed) = mark_errors.check(&e, std::time::Instant::now()) {
                        tracing::error!(error = %e, suppressed, "could not mark outbox rows in flight");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                recovered(&mut mark_errors, "marking outbox rows in flight");
                for item in picked {
                    busy.insert(item.contact_id);
                    let (store, transport, clock, cfg, metrics, limiter, auth_failed) = (
                        store.clone(),
                        transport.clone(),
                        clock.clone(),
                        cfg.clone(),
                        metrics.clone(),
                        limiter.clone(),
                        auth_failed.clone(),
                    );
                    set.spawn(async move {
                        limiter.acquire().await;
                        let outcome = transport.send(&item).await;
                        record(
                            &store,
                            &item,
                            outcome,
                            &cfg,
                            clock(),
                            &metrics,
                            &auth_failed,
                        )
                        .await;
                        item.contact_id
                    });
                }
                continue;
            }
            if let Ok(Some(at)) = store.next_outbox_due().await {
                wait = Duration::from_millis((at - clock()).clamp(1, 5_000) as u64);
            }
        }
        tokio::select! {
            Some(done) = set.join_next(), if !set.is_empty() => {
                match done {
                    Ok(contact) => { busy.remove(&contact); }
                    Err(e) => {
                        tracing::error!(error = %e, "a send task failed");
                        busy.clear();
                    }
                }
            }
            _ = notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Let requests already on the wire finish and be recorded.
    while set.join_next().await.is_some() {}
    tracing::debug!("outbound sender stopped");
}

/// Ends a run of throttled errors, saying so when lines were suppressed.
fn recovered(throttle: &mut ErrorThrottle, what: &str) {
    let suppressed = throttle.clear();
    if suppressed > 0 {
        tracing::info!(suppressed, "{what} works again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_retry_permanent_errors_do_not() {
        let throttled = r#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429}}"#;
        assert!(matches!(
            classify_error(400, throttled, None),
            SendOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify_error(503, "", None),
            SendOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify_error(429, "{}", Some(Duration::from_secs(3))),
            SendOutcome::Retry { after: Some(_), .. }
        ));
        let undeliverable = r#"{"error":{"message":"Message undeliverable","code":131026,"error_data":{"details":"not a WhatsApp user"}}}"#;
        assert_eq!(
            classify_error(400, undeliverable, None),
            SendOutcome::Failed {
                code: Some(131026),
                message: "Message undeliverable: not a WhatsApp user".into()
            }
        );
        let expired = r#"{"error":{"message":"Error validating access token","code":190}}"#;
        assert!(matches!(
            classify_error(401, expired, None),
            SendOutcome::AuthExpired { .. }
        ));
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 25 Nov 2026 08:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        // A date already past: retry now, not never.
        assert_eq!(
            parse_retry_after("Wed, 25 Nov 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(300));
        let b1 = backoff(1, None, base, max);
        assert!(b1 >= base && b1 <= base * 5 / 4, "{b1:?}");
        let b4 = backoff(4, None, base, max);
        assert!(
            b4 >= Duration::from_secs(8) && b4 <= Duration::from_secs(10),
            "{b4:?}"
        );
        assert!(backoff(50, None, base, max) <= Duration::from_secs(375));
        assert_eq!(
            backoff(1, Some(Duration::from_secs(30)), base, max),
            Duration::from_secs(30)
        );
        // A Retry-After of a week is obeyed for an hour at most.
        assert_eq!(
            backoff(1, Some(Duration::from_secs(7 * 86_400)), base, max),
            RETRY_AFTER_CAP
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limiter_spaces_requests_evenly() {
        let limiter = RateLimiter::new(10);
        let start = tokio::time::Instant::now();
        for _ in 0..21 {
            limiter.acquire().await;
        }
        // 21 requests at 10/s: the last one starts 2 s after the first.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        let off = RateLimiter::new(0);
        let start = tokio::time::Instant::now();
        for _ in 0..1000 {
            off.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
