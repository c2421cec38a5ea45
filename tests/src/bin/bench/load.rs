//! The webhook load: realistic signed Cloud API bodies from many distinct users, sent over
//! several HTTP/1.1 keep-alive connections with a lean hyper client, closed-loop (saturation)
//! or open-loop (a fixed offered rate, latency measured from each request's scheduled time).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::stats::Samples;

/// One prepared webhook delivery.
#[derive(Clone)]
pub(crate) struct Delivery {
    pub(crate) body: Bytes,
    pub(crate) signature: hyper::header::HeaderValue,
    /// Offset from the run's start at which it is due (open loop only).
    pub(crate) due: Duration,
    /// Index in the global sequence.
    pub(crate) index: usize,
}

/// The steps of one user's cycle: menu, chat start, three in-chat messages, end.
pub(crate) const CYCLE: usize = 6;

/// The wamid of message `i` of a run.
pub(crate) fn wamid(prefix: &str, i: usize) -> String {
    format!("wamid.BENCH.{prefix}.{i}")
}

/// The phone (13 digits) of user `u` in a run numbered `run`.
pub(crate) fn phone_of(run: u32, u: usize) -> String {
    format!("234{:02}{:08}", run % 100, u)
}

/// Message `i` of a run with `users` users: user `i % users`, step `(i / users) % CYCLE`.
pub(crate) fn body(prefix: &str, run: u32, users: usize, i: usize, ts: i64) -> Vec<u8> {
    let u = i % users;
    let step = (i / users) % CYCLE;
    let phone = phone_of(run, u);
    let bsuid = format!("NG.{:02}{:013}", run % 100, u);
    let name = format!("Student {u}");
    let id = wamid(prefix, i);
    let payload = match step {
        0 => tests::text_from(&phone, Some(&bsuid), &name, &id, ts, "Hello"),
        1 => tests::button_from(
            &phone,
            Some(&bsuid),
            &name,
            &id,
            ts,
            "chat_support",
            "💬 Chat Support",
        ),
        2 => tests::text_from(
            &phone,
            Some(&bsuid),
            &name,
            &id,
            ts,
            "My exam results are not showing on the portal, can someone check please?",
        ),
        3 => tests::text_from(
            &phone,
            Some(&bsuid),
            &name,
            &id,
            ts,
            "I tried again this morning and it still fails.",
        ),
        4 => tests::text_from(
            &phone,
            Some(&bsuid),
            &name,
            &id,
            ts,
            "My student number is 2023/1234, thank you 🙏",
        ),
        _ => tests::text_from(&phone, Some(&bsuid), &name, &id, ts, "done"),
    };
    payload.to_string().into_bytes()
}

/// `total` deliveries split over `conns` connections, user-affine (all of a user's messages go
/// down one connection, in order), due at `rate` per second when `rate > 0`.
pub(crate) fn build(
    prefix: &str,
    run: u32,
    users: usize,
    total: usize,
    conns: usize,
    rate: f64,
) -> Vec<Vec<Delivery>> {
    let ts = tests::now_secs();
    let mut per: Vec<Vec<Delivery>> = (0..conns).map(|_| Vec::new()).collect();
    for i in 0..total {
        let b = body(prefix, run, users, i, ts);
        let sig = tests::sign(&b);
        let due = if rate > 0.0 {
            Duration::from_secs_f64(i as f64 / rate)
        } else {
            Duration::ZERO
        };
        per[(i % users) % conns].push(Delivery {
            body: Bytes::from(b),
            signature: sig.parse().expect("a signature is a header value"),
            due,
            index: i,
        });
    }
    per
}

/// What one run measured.
#[derive(Debug, Default)]
pub(crate) struct RunResult {
    /// From the scheduled time (open loop) or the send (closed loop) to the full response.
    pub(crate) latency: Samples,
    /// From the actual send to the full response.
    pub(crate) wire: Samples,
    /// 200 answers with `applied` == 1 (or any 200 from the bare server).
    pub(crate) ok: usize,
    pub(crate) errors: usize,
    pub(crate) first_error: Option<String>,
    pub(crate) elapsed: Duration,
    /// (index, send instant, ack instant) per delivery, when asked for.
    pub(crate) acks: Vec<(usize, Instant, Instant)>,
}

impl RunResult {
    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

pub(crate) async fn connect(addr: SocketAddr) -> Result<Sender> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one delivery and waits for the whole answer; Ok(true) when it was applied.
pub(crate) async fn post(sender: &mut Sender, d: &Delivery, check_applied: bool) -> Result<bool> {
    let req = Request::post("/webhook")
        .header(header::HOST, "127.0.0.1")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-hub-signature-256", d.signature.clone())
        .body(Full::new(d.body.clone()))?;
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if status != 200 {
        return Err(anyhow!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    if check_applied {
        let v: Value = serde_json::from_slice(&body)?;
        // The 200 names the delivery's row in the durable inbox; the run checks afterwards
        // that every acknowledged message was stored.
        if v["inbox_id"].as_i64().is_none_or(|id| id <= 0) {
            return Err(anyhow!("not acknowledged into the inbox: {v}"));
        }
    }
    Ok(true)
}

/// Runs every connection's list; open loop when the deliveries have due times.
pub(crate) async fn run(
    addr: SocketAddr,
    per_conn: Vec<Vec<Delivery>>,
    check_applied: bool,
    keep_acks: bool,
) -> Result<RunResult> {
    // Connect everything first so handshakes are not timed.
    let mut senders = Vec::new();
    for _ in 0..per_conn.len() {
        senders.push(connect(addr).await?);
    }
    let open_loop = per_conn.iter().flatten().any(|d| d.due > Duration::ZERO);
    let start = Instant::now() + Duration::from_millis(20);
    let mut set = tokio::task::JoinSet::new();
    for (mut sender, list) in senders.into_iter().zip(per_conn) {
        set.spawn(async move {
            let mut r = RunResult::default();
            for d in &list {
                let scheduled = start + d.due;
                if scheduled > Instant::now() {
                    tokio::time::sleep_until(scheduled.into()).await;
                }
                let sent = Instant::now();
                let outcome = post(&mut sender, d, check_applied).await;
                let done = Instant::now();
                match outcome {
                    Ok(_) => {
                        r.ok += 1;
                        let from = if open_loop { scheduled } else { sent };
                        r.latency.push(done - from);
                        r.wire.push(done - sent);
                        if keep_acks {
                            r.acks.push((d.index, sent, done));
                        }
                    }
                    Err(e) => {
                        r.errors += 1;
                        if r.first_error.is_none() {
                            r.first_error = Some(format!("{e:#}"));
                        }
                        // A broken connection: reconnect and go on.
                        if sender.is_closed() {
                            if let Ok(s) = connect(addr).await {
                                sender = s;
                            }
                        }
                    }
                }
            }
            r
        });
    }
    let mut total = RunResult::default();
    while let Some(r) = set.join_next().await {
        let r = r?;
        total.ok += r.ok;
        total.errors += r.errors;
        total.latency.extend(r.latency);
        total.wire.extend(r.wire);
        total.acks.extend(r.acks);
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
    }
    total.elapsed = start.elapsed();
    Ok(total)
}
