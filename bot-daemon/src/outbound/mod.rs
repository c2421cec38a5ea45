//! Outbound delivery: the transport (the Cloud API over reqwest + rustls, or the sandbox that
//! records instead of sending) and the sender task that drains the durable outbox — the oldest
//! open message of each recipient first, recipients in parallel, retries with backoff.

pub mod payload;

use std::{sync::Arc, time::Duration};

use rand::Rng;
use serde_json::Value;
use tokio::{sync::watch, task::JoinSet};

use crate::{
    domain::Millis,
    engine::Clock,
    metrics::Metrics,
    storage::{OutboxItem, Store},
};

/// The result of one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted; Meta's message id.
    Accepted {
        /// `messages[0].id`.
        wamid: String,
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

impl CloudApi {
    /// A client for `{api_base}/{phone_number_id}/messages` with a bearer token.
    ///
    /// # Errors
    /// The HTTP client could not be built (TLS roots).
    pub fn new(
        api_base: &str,
        phone_number_id: &str,
        token: &str,
    ) -> Result<CloudApi, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
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

    /// Posts one message body.
    pub async fn send(&self, body: &str) -> SendOutcome {
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
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                return SendOutcome::Retry {
                    after: retry_after,
                    reason: format!("reading the response: {e}"),
                }
            }
        };
        if (200..300).contains(&status) {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return match v["messages"][0]["id"].as_str() {
                Some(id) => SendOutcome::Accepted {
                    wamid: id.to_string(),
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
            Transport::Cloud(api) => api.send(&item.payload).await,
            Transport::Sandbox => {
                let to: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
                let to = to["to"]
                    .as_str()
                    .or(to["recipient"].as_str())
                    .unwrap_or("?")
                    .to_string();
                tracing::info!(message_id = item.message_id, to = %to, "sandbox: outbound message recorded, not sent");
                SendOutcome::Accepted {
                    wamid: format!("sandbox.{}", item.message_id),
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
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            max_in_flight: 16,
            max_attempts: 30,
        }
    }
}

/// Exponential backoff from 1 s doubling to 5 min, with up to 25% jitter; `Retry-After` wins
/// when longer.
pub fn backoff(attempts: i64, retry_after: Option<Duration>) -> Duration {
    let exp = 1u64 << attempts.clamp(0, 9) as u32;
    let base = Duration::from_secs(exp.min(300));
    let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 4);
    let d = base + Duration::from_millis(jitter);
    match retry_after {
        Some(r) if r > d => r,
        _ => d,
    }
}

async fn record(
    store: &Store,
    item: &OutboxItem,
    outcome: SendOutcome,
    cfg: &SenderConfig,
    now: Millis,
    metrics: &Metrics,
) {
    let id = item.id;
    let attempts = item.attempts + 1;
    let result = match outcome {
        SendOutcome::Accepted { wamid } => {
            metrics.messages_out.inc();
            store.write(move |tx| tx.outbox_sent(id, &wamid, now)).await
        }
        SendOutcome::Failed { code, message } => {
            tracing::warn!(message_id = item.message_id, code = ?code, error = %message, "outbound message failed permanently");
            metrics.messages_failed.inc();
            store
                .write(move |tx| tx.outbox_failed(id, code, &message, now))
                .await
        }
        SendOutcome::Retry { after, reason } => {
            if attempts >= cfg.max_attempts {
                tracing::error!(message_id = item.message_id, attempts, error = %reason, "giving up on outbound message");
                metrics.messages_failed.inc();
                let msg = format!("gave up after {attempts} attempts: {reason}");
                store
                    .write(move |tx| tx.outbox_failed(id, None, &msg, now))
                    .await
            } else {
                let delay = backoff(attempts, after);
                tracing::warn!(message_id = item.message_id, attempts, retry_in_ms = delay.as_millis() as u64, error = %reason, "outbound send will be retried");
                let next = now + delay.as_millis() as i64;
                store
                    .write(move |tx| tx.outbox_retry(id, next, &reason, now))
                    .await
            }
        }
        SendOutcome::AuthExpired { message } => {
            tracing::error!(error = %message, "WhatsApp access token rejected (code 190): sending paused, retrying in 60 s; set a new WHATSAPP_ACCESS_TOKEN");
            let next = now + 60_000;
            store
                .write(move |tx| tx.outbox_retry(id, next, &message, now))
                .await
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, outbox_id = id, "could not record a send outcome; it will be retried");
    }
}

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
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = clock();
        let due = match store.due_outbox(now, 256).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "reading the outbox failed");
                Vec::new()
            }
        };
        if due.is_empty() {
            let wait = match store.next_outbox_due().await {
                Ok(Some(at)) => Duration::from_millis((at - clock()).clamp(1, 5_000) as u64),
                _ => Duration::from_secs(5),
            };
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let ids: Vec<i64> = due.iter().map(|i| i.id).collect();
        if let Err(e) = store
            .write(move |tx| {
                for id in &ids {
                    tx.outbox_inflight(*id, now)?;
                }
                Ok(())
            })
            .await
        {
            tracing::error!(error = %e, "could not mark outbox rows in flight");
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let mut set = JoinSet::new();
        let mut queue = due.into_iter();
        loop {
            while set.len() < cfg.max_in_flight.max(1) {
                let Some(item) = queue.next() else { break };
                let (store, transport, clock, cfg, metrics) = (
                    store.clone(),
                    transport.clone(),
                    clock.clone(),
                    cfg.clone(),
                    metrics.clone(),
                );
                set.spawn(async move {
                    let outcome = transport.send(&item).await;
                    record(&store, &item, outcome, &cfg, clock(), &metrics).await;
                });
            }
            if set.join_next().await.is_none() {
                break;
            }
        }
    }
    tracing::debug!("outbound sender stopped");
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
    fn backoff_grows_caps_and_honours_retry_after() {
        assert!(backoff(0, None) >= Duration::from_secs(1));
        assert!(backoff(3, None) >= Duration::from_secs(8));
        assert!(backoff(50, None) <= Duration::from_secs(375));
        assert_eq!(
            backoff(0, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
    }
}
