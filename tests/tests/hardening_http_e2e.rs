//! Hostile and careless HTTP clients against the real listener (issue 13, items 1, 2 and 9):
//! stalled bodies, half-sent headers, idle keep-alives, too many connections, an oversized
//! declared body, and a shutdown with connections left open. Every test drives raw TCP against
//! the daemon's own port, as an attacker would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use tests::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const ADA: &str = "2348012345678";

/// A connection that sent a webhook header promising 1,000 bytes, then one byte, then nothing.
async fn stalled_body(td: &TestDaemon) -> TcpStream {
    let mut s = TcpStream::connect(td.daemon().http_addr())
        .await
        .expect("connecting to the daemon");
    s.write_all(
        b"POST /webhook HTTP/1.1\r\nHost: daemon\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 1000\r\n\r\n{",
    )
    .await
    .expect("sending a partial request");
    s
}

/// Reads until the peer closes (or `within` passes, which panics): what it sent before closing.
async fn read_until_closed(s: &mut TcpStream, within: Duration, what: &str) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, s.read_to_end(&mut got)).await;
    match read {
        Ok(_) => String::from_utf8_lossy(&got).into_owned(),
        Err(_) => panic!(
            "{what}: the daemon still held the connection open after {within:?} (got {:?})",
            String::from_utf8_lossy(&got)
        ),
    }
}

/// Polls `metric` until `ok` holds for its value.
async fn wait_metric(td: &TestDaemon, metric: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = td.metric(metric).await;
        if ok(v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{metric} stayed at {v} for {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stalled_bodies_hold_no_webhook_slot_and_signed_deliveries_go_through() {
    let td = TestDaemon::start().await;
    let mut stalled = Vec::new();
    for _ in 0..1000 {
        stalled.push(stalled_body(&td).await);
    }
    // Every one of them is accepted and being read: they hold connections, nothing else.
    wait_metric(&td, "chat_support_http_connections", |v| v >= 1000.0).await;
    assert_eq!(td.metric("chat_support_webhook_slots_busy").await, 0.0);

    let now = now_secs();
    let answered = tokio::time::timeout(
        Duration::from_secs(10),
        td.post_json(&text_from(ADA, None, "Ada", "wamid.DOS1", now, "hello")),
    )
    .await
    .expect("a signed webhook must be answered while stalled clients hold connections");
    assert_eq!(answered.status(), 200);
    assert!(
        td.find(phone(ADA)).await.is_some(),
        "the signed delivery was stored"
    );
    // The verification handshake too.
    let handshake = tokio::time::timeout(
        Duration::from_secs(10),
        td.get(&format!(
            "/webhook?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=c42"
        )),
    )
    .await
    .expect("the handshake must be answered while stalled clients hold connections");
    assert_eq!(handshake.status(), 200);
    assert_eq!(handshake.text().await.unwrap(), "c42");
    assert_eq!(td.get("/readyz").await.status(), 200);
    drop(stalled);
    td.shutdown().await;
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_closed_after_the_body_timeout() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.limits.body_timeout = Duration::from_millis(500);
    })
    .await;
    let mut s = stalled_body(&td).await;
    let answer = read_until_closed(&mut s, Duration::from_secs(10), "a stalled body").await;
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a stalled body gets 408 Request Timeout, got {answer:?}"
    );
    assert!(td
        .metrics_text()
        .await
        .contains("chat_support_connections_closed_total{reason=\"body_timeout\"} 1"));
    td.shutdown().await;
}

#[tokio::test]
async fn a_half_sent_header_or_a_silent_connection_is_closed_after_the_header_timeout() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.limits.header_timeout = Duration::from_millis(500);
    })
    .await;
    let mut half = TcpStream::connect(td.daemon().http_addr()).await.unwrap();
    half.write_all(b"POST /webhook HTTP/1.1\r\nHost: daemon\r\n")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(td.daemon().http_addr()).await.unwrap();
    read_until_closed(&mut half, Duration::from_secs(10), "a half-sent header").await;
    read_until_closed(&mut silent, Duration::from_secs(10), "a silent connection").await;
    assert!(td
        .metrics_text()
        .await
        .contains("chat_support_connections_closed_total{reason=\"header_timeout\"} 2"));
    td.shutdown().await;
}

/// One keep-alive request on `s`; returns the response head and body.
async fn keep_alive_get(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: daemon\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(WAIT, s.read(&mut buf))
        .await
        .expect("an answer on the keep-alive connection")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_kept_for_the_idle_timeout_then_closed() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.limits.header_timeout = Duration::from_millis(300);
        c.limits.idle_timeout = Duration::from_millis(1500);
    })
    .await;
    let mut s = TcpStream::connect(td.daemon().http_addr()).await.unwrap();
    assert!(keep_alive_get(&mut s, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    // Idle for longer than the header timeout but not the idle timeout: still usable.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        keep_alive_get(&mut s, "/healthz")
            .await
            .starts_with("HTTP/1.1 200"),
        "an idle keep-alive is not cut by the (shorter) header timeout"
    );
    let closed = read_until_closed(&mut s, Duration::from_secs(10), "an idle keep-alive").await;
    assert_eq!(closed, "", "closed quietly between requests");
    assert!(td
        .metrics_text()
        .await
        .contains("chat_support_connections_closed_total{reason=\"idle_timeout\"} 1"));
    td.shutdown().await;
}

#[tokio::test]
async fn the_connection_cap_holds_and_waiting_clients_are_served_when_a_slot_frees() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.limits.max_http_connections = 20;
    })
    .await;
    // The test's own HTTP client keeps one connection for the metrics it reads.
    let mut held = Vec::new();
    for _ in 0..19 {
        held.push(TcpStream::connect(td.daemon().http_addr()).await.unwrap());
    }
    wait_metric(&td, "chat_support_http_connections", |v| v == 20.0).await;
    // Over the cap: the kernel queues them, the daemon does not take them.
    let mut waiting = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(td.daemon().http_addr()).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: daemon\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        waiting.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        td.metric("chat_support_http_connections").await,
        20.0,
        "never more than the cap open"
    );
    drop(held);
    for mut s in waiting {
        let answer = read_until_closed(&mut s, WAIT, "a client waiting for a slot").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    }
    td.shutdown().await;
}

#[tokio::test]
async fn a_declared_body_over_the_cap_is_refused_413_before_it_is_sent() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        // Long enough that only an answer that does not wait for the body can pass.
        c.limits.body_timeout = Duration::from_secs(60);
    })
    .await;
    let mut s = TcpStream::connect(td.daemon().http_addr()).await.unwrap();
    s.write_all(b"POST /webhook HTTP/1.1\r\nHost: daemon\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 5000000\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("an oversized declared body is answered without waiting for it")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    td.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_at_once_and_keeps_one_deadline() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.limits.shutdown_timeout = Duration::from_secs(2);
        c.limits.body_timeout = Duration::from_secs(60);
    })
    .await;
    // An idle keep-alive connection, an idle gRPC connection and a stalled body.
    let mut idle = TcpStream::connect(td.daemon().http_addr()).await.unwrap();
    assert!(keep_alive_get(&mut idle, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    let grpc = client(&td).await;
    let _stalled = stalled_body(&td).await;
    drop(grpc);
    let grpc_idle = tonic::transport::Channel::from_shared(td.grpc_url())
        .unwrap()
        .connect()
        .await
        .expect("an idle gRPC connection");
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(8), td.shutdown())
        .await
        .expect("shutdown finishes within its deadline, not one deadline per task");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "shutdown with idle and stalled connections took {took:?} (deadline 2 s)"
    );
    let closed = read_until_closed(&mut idle, WAIT, "an idle connection at shutdown").await;
    assert_eq!(closed, "");
    drop(grpc_idle);
}
