//! End-to-end tests of outbound durability (issue 4): the durable outbox and its sender against
//! a fake Cloud API that refuses connections, answers 500 and 429, hangs past the client
//! timeout and returns Meta's error JSON; a daemon killed mid-request and started again; the
//! per-number rate ceiling; delivery statuses arriving early, late and twice; the 24-hour window
//! with a clock the test controls; mark-as-read; acknowledgement flood control; long texts; and
//! the outbox metrics.
//!
//! Timings come from the configuration (retries start at 50 ms, outages last a few seconds), so
//! no test sleeps for real minutes; every wait has a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use bot_daemon::{
    config::Config,
    conversation::{texts, Template},
    domain::{DeliveryStatus, Sender},
    storage::Store,
};
use proto::v1::{self as pb, chat_event::Event};
use serde_json::{json, Value};
use tests::*;
use tonic::Code;

// ---------------------------------------------------------------------------------------------
// gRPC client (as in grpc_e2e.rs).

async fn send(c: &mut Client, to: &str, text: &str) -> pb::SendMessageResponse {
    c.send_message(pb::SendMessageRequest {
        phone_number: to.into(),
        message: text.into(),
        idempotency_key: String::new(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("SendMessage to {to} ({text:?}): {e}"))
    .into_inner()
}

async fn get_conversation(c: &mut Client, address: &str) -> pb::Conversation {
    c.get_conversation(pb::GetConversationRequest {
        phone_number: address.into(),
        page_size: 500,
        before: 0,
    })
    .await
    .unwrap_or_else(|e| panic!("GetConversation {address}: {e}"))
    .into_inner()
}

/// Opens `WatchChats` and consumes its snapshot.
async fn watch(c: &mut Client) -> tonic::Streaming<pb::ChatEvent> {
    let mut stream = c
        .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let first = next_event(&mut stream, WAIT).await.expect("the snapshot");
    assert!(matches!(first.event, Some(Event::Snapshot(_))), "{first:?}");
    stream
}

/// The next event within `timeout`, `None` when none came.
async fn next_event(
    stream: &mut tonic::Streaming<pb::ChatEvent>,
    timeout: Duration,
) -> Option<pb::ChatEvent> {
    match tokio::time::timeout(timeout, stream.message()).await {
        Err(_) => None,
        Ok(r) => Some(
            r.expect("WatchChats stream error")
                .expect("WatchChats stream ended"),
        ),
    }
}

/// Every event that arrives until the stream is quiet for [`SETTLE`] (at most [`WAIT`]).
async fn drain(stream: &mut tonic::Streaming<pb::ChatEvent>, into: &mut Vec<pb::ChatEvent>) {
    let started = Instant::now();
    while started.elapsed() < WAIT {
        match next_event(stream, SETTLE).await {
            Some(e) => into.push(e),
            None => return,
        }
    }
}

/// Reads events (keeping them in `seen`) until one matches `pred`; panics after [`WAIT`].
async fn wait_event(
    stream: &mut tonic::Streaming<pb::ChatEvent>,
    seen: &mut Vec<pb::ChatEvent>,
    what: &str,
    pred: impl Fn(&pb::ChatEvent) -> bool,
) -> pb::ChatEvent {
    if let Some(e) = seen.iter().find(|e| pred(e)) {
        return e.clone();
    }
    let started = Instant::now();
    loop {
        let left = WAIT.saturating_sub(started.elapsed());
        match next_event(stream, left).await {
            Some(e) => {
                seen.push(e.clone());
                if pred(&e) {
                    return e;
                }
            }
            None => panic!("no {what} event within {WAIT:?}; saw {seen:#?}"),
        }
    }
}

/// The delivery statuses `WatchChats` reported for message `id`, in order.
fn status_events(events: &[pb::ChatEvent], id: i64) -> Vec<pb::DeliveryStatus> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::DeliveryStatusChanged(d)) if d.message_id == id => Some(d.status()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Users and what they receive.

/// The user taps "💬 Chat Support" now.
async fn tap_chat(td: &TestDaemon, digits: &str, name: &str, wamid: &str) {
    td.deliver(&button_from(
        digits,
        None,
        name,
        wamid,
        now_secs(),
        "chat_support",
        "💬 Chat Support",
    ))
    .await;
}

/// The user writes `body` now.
async fn says(td: &TestDaemon, digits: &str, name: &str, wamid: &str, body: &str) {
    td.deliver(&text_from(digits, None, name, wamid, now_secs(), body))
        .await;
}

/// What the user sees of a sent body: its text, the interactive body, or `[template name]`.
fn shown(body: &Value) -> String {
    if let Some(t) = body["text"]["body"].as_str() {
        return t.to_string();
    }
    if let Some(t) = body["interactive"]["body"]["text"].as_str() {
        return t.to_string();
    }
    if let Some(name) = body["template"]["name"].as_str() {
        return format!("[template {name}]");
    }
    panic!("no text in {body}")
}

/// The `to` of a phone-addressed body: `+<digits>`.
fn to(digits: &str) -> String {
    format!("+{digits}")
}

/// What each recipient (`to`) was sent, in arrival order.
fn per_recipient(sent: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for body in sent {
        let recipient = body["to"]
            .as_str()
            .or(body["recipient"].as_str())
            .unwrap_or_else(|| panic!("no recipient in {body}"))
            .to_string();
        map.entry(recipient).or_default().push(shown(body));
    }
    map
}

fn is_welcome(text: &str) -> bool {
    text.contains("You are now connected to our support team!")
}

fn agent(text: &str) -> String {
    format!("{}{text}", texts::AGENT_PREFIX)
}

/// Short retry timings: 50 ms doubling to 500 ms.
fn fast(cfg: &mut Config) {
    cfg.sender.retry_base = Duration::from_millis(50);
    cfg.sender.retry_max = Duration::from_millis(500);
}

/// The requests the fake received for recipient `+digits` (message sends only).
fn requests_to(fake: &FakeCloudApi, digits: &str) -> Vec<RecordedRequest> {
    fake.message_requests()
        .into_iter()
        .filter(|r| r.body["to"] == to(digits))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Outages.

/// Meta is unreachable for 1.5 s (connections refused), then answers 500 for 1.5 s, while three
/// users chat and agents answer (and end one chat): afterwards every queued message arrives
/// exactly once, in order per user, with the read calls, and the store shows each one sent
/// with the wamid the fake handed out.
#[tokio::test]
async fn an_outage_delivers_every_queued_message_once_and_in_order_per_user() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), fast).await;
    let users = [
        ("2348020000001", "Ada"),
        ("2348020000002", "Bola"),
        ("2348020000003", "Chidi"),
    ];
    for (i, (digits, name)) in users.iter().enumerate() {
        tap_chat(&td, digits, name, &format!("wamid.OUT{i}.0")).await;
    }
    fake.wait_for_exactly(3, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    let mut c = client(&td).await;

    let outage = Instant::now();
    fake.stop().await;
    for round in 1..=2 {
        for (i, (digits, name)) in users.iter().enumerate() {
            says(
                &td,
                digits,
                name,
                &format!("wamid.OUT{i}.{round}"),
                &format!("{name}'s question {round}"),
            )
            .await;
            send(&mut c, digits, &format!("answer {round} for {name}")).await;
        }
        if round == 1 {
            // Halfway through, Meta answers again, but only with 500s.
            tokio::time::sleep_until((outage + Duration::from_millis(1500)).into()).await;
            fake.fail_all(Failure::server_error());
            fake.restart().await;
        }
    }
    let ended = c
        .end_chat(pb::EndChatRequest {
            phone_number: users[2].0.into(),
            message: "Bye Chidi".into(),
            skip_closing_message: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ended.session_ended.is_some());
    tokio::time::sleep_until((outage + Duration::from_secs(3)).into()).await;

    assert_eq!(
        fake.sent().len(),
        3,
        "nothing is accepted during the outage"
    );
    let failed = fake.requests().iter().filter(|r| r.status == 500).count();
    assert!(failed > 0, "the sender kept retrying during the 500s");
    let g = td.store().gauges(now_ms()).await.unwrap();
    // Per user two acks, two answers and two read calls, and the closing message.
    assert_eq!(
        g.outbox_queued + g.outbox_in_flight,
        19,
        "everything waits in the outbox: {g:?}"
    );

    fake.stop_failing();
    let recovered = Instant::now();
    // 3 welcomes + per user 2 acks and 2 answers + one closing message.
    let sent = fake.wait_for_exactly(3 + 3 * 4 + 1, WAIT).await;
    eprintln!(
        "drained {} messages in {:?} after recovery",
        sent.len() - 3,
        recovered.elapsed()
    );
    let got = per_recipient(&sent);
    for (digits, name) in users {
        let mut want = vec![
            // Each user's first question comes right after the previous user was answered:
            // first in the queue (issue 9); after the answer, the seed's ack alone.
            tests::queued_ack(1),
            agent(&format!("answer 1 for {name}")),
            texts::CHAT_ACK.to_string(),
            agent(&format!("answer 2 for {name}")),
        ];
        if name == "Chidi" {
            want.push("Bye Chidi".to_string());
        }
        let seen = &got[&to(digits)];
        assert!(is_welcome(&seen[0]), "{name}: {seen:?}");
        assert_eq!(
            seen[1..],
            want[..],
            "{name} receives everything once, in order"
        );
    }
    // Each answer marked the user's newest message read, once, after the outage too.
    td.wait_outbox_settled(WAIT).await;
    let mut reads: Vec<String> = fake
        .reads()
        .iter()
        .map(|r| r["message_id"].as_str().unwrap().to_string())
        .collect();
    reads.sort();
    let mut want_reads: Vec<String> = (0..3)
        .flat_map(|i| (1..=2).map(move |round| format!("wamid.OUT{i}.{round}")))
        .collect();
    want_reads.sort();
    assert_eq!(reads, want_reads);

    // The store agrees: every outbound message is sent, with the wamid the fake gave it.
    let accepted = fake.accepted_ids();
    for (digits, name) in users {
        let (_, thread) = td.conversation(phone(digits)).await;
        let outbound: Vec<_> = thread.iter().filter(|m| m.sender != Sender::User).collect();
        assert_eq!(outbound.len(), if name == "Chidi" { 6 } else { 5 });
        for m in outbound {
            assert_eq!(m.status, DeliveryStatus::Sent, "{name}: {m:?}");
            let wamid = m.wamid.as_deref().unwrap();
            assert!(accepted.iter().any(|a| a == wamid), "{m:?}");
        }
    }
    td.shutdown().await;
}

/// While Meta answers 500, `/metrics` shows the queue, its oldest age and the retries growing;
/// once it recovers the queue drains to zero.
#[tokio::test]
async fn metrics_show_the_outbox_backlog_during_an_outage() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), fast).await;
    fake.fail_all(Failure::server_error());
    tap_chat(&td, "2348020000011", "Ada", "wamid.MET1").await;
    tap_chat(&td, "2348020000012", "Bola", "wamid.MET2").await;

    let first = eventually("retries to show in /metrics", WAIT, || async {
        let text = td.metrics_text().await;
        let queued = metric_value(&text, "chat_support_outbox_queued")?;
        let age = metric_value(&text, "chat_support_outbox_oldest_age_seconds")?;
        let retries = metric_value(&text, "chat_support_outbox_retries_total")?;
        (queued > 0.0 && age > 0.0 && retries > 0.0).then_some((age, retries))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let text = td.metrics_text().await;
    let age = metric_value(&text, "chat_support_outbox_oldest_age_seconds").unwrap();
    let retries = metric_value(&text, "chat_support_outbox_retries_total").unwrap();
    assert!(
        age >= first.0 + 0.5,
        "the oldest age grows: {} then {age}",
        first.0
    );
    assert!(
        retries > first.1,
        "retries grow: {} then {retries}",
        first.1
    );
    assert_eq!(
        metric_value(&text, "chat_support_messages_out_total"),
        Some(0.0)
    );
    assert!(
        metric_value(&text, "chat_support_outbox_queued").unwrap()
            + metric_value(&text, "chat_support_outbox_in_flight").unwrap()
            == 2.0,
        "{text}"
    );

    fake.stop_failing();
    fake.wait_for_exactly(2, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    let text = td.metrics_text().await;
    for (name, want) in [
        ("chat_support_outbox_queued", 0.0),
        ("chat_support_outbox_in_flight", 0.0),
        ("chat_support_outbox_oldest_age_seconds", 0.0),
        ("chat_support_outbox_failed", 0.0),
        ("chat_support_messages_out_total", 2.0),
    ] {
        assert_eq!(metric_value(&text, name), Some(want), "{name} in\n{text}");
    }
    let failed_attempts = fake.requests().iter().filter(|r| r.status == 500).count();
    assert_eq!(
        metric_value(&text, "chat_support_outbox_retries_total"),
        Some(failed_attempts as f64),
        "every failed attempt is one retry"
    );
}

// ---------------------------------------------------------------------------------------------
// Retries and Meta's errors.

/// A 500 is retried after the configured base delay; a 429 with `Retry-After: 1` is retried
/// no sooner than a second later, even though the backoff alone would be 100 ms.
#[tokio::test]
async fn throttling_with_retry_after_waits_at_least_that_long() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), fast).await;
    fake.fail_next_with(1, Failure::server_error());
    fake.fail_next_with(1, Failure::too_many_requests(1));
    tap_chat(&td, "2348020000021", "Ada", "wamid.RA1").await;

    let sent = fake.wait_for_exactly(1, WAIT).await;
    assert!(is_welcome(&shown(&sent[0])));
    let requests = fake.message_requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 429, 200]);
    assert!(requests.iter().all(|r| r.body == sent[0]));
    let after_500 = requests[1].at - requests[0].at;
    let after_429 = requests[2].at - requests[1].at;
    assert!(
        after_500 >= Duration::from_millis(50) && after_500 < Duration::from_millis(900),
        "a 500 is retried after the backoff (50 ms + jitter): {after_500:?}"
    );
    assert!(
        after_429 >= Duration::from_secs(1) && after_429 < Duration::from_secs(3),
        "Retry-After: 1 is honoured: {after_429:?}"
    );
}

/// Throttling codes 4, 80007, 130429 and 131056 (HTTP 400, told apart by the code only) are
/// retried and the message then goes out once; permanent codes 131026, 100 and 131047 are not
/// retried: one request, the message FAILED with Meta's code and message in `GetConversation`
/// and a `delivery_status_changed` event. The user's next message still goes out.
#[tokio::test]
async fn retryable_codes_are_retried_and_permanent_codes_are_stored_with_metas_error() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), fast).await;
    let mut c = client(&td).await;
    let mut stream = watch(&mut c).await;
    let mut events = Vec::new();

    let retryable = [4, 80007, 130429, 131056];
    for code in retryable {
        fake.fail_next_with(1, Failure::meta(code));
    }
    tap_chat(&td, "2348020000031", "Ada", "wamid.CODE0").await;
    let sent = fake.wait_for_exactly(1, WAIT).await;
    // The fake answers its queued failures in order: 4, 80007, 130429, 131056, then accepts.
    let requests = fake.message_requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![400, 400, 400, 400, 200]
    );
    assert_eq!(fake.pending_failures(), 0);
    assert!(requests.iter().all(|r| r.body == sent[0]));
    let wamid = fake.accepted_ids()[0].clone();
    td.wait_for_status(phone("2348020000031"), &wamid, DeliveryStatus::Sent, WAIT)
        .await;

    for (i, code) in [131026_i64, 100, 131047].into_iter().enumerate() {
        let digits = format!("23480200000{}", 40 + i);
        let before = fake.message_requests().len();
        fake.fail_next_with(1, Failure::meta(code));
        tap_chat(&td, &digits, "Bola", &format!("wamid.CODE{}", i + 1)).await;
        let (_, status_text, details) = meta_error_text(code);

        let event = wait_event(&mut stream, &mut events, "FAILED status", |e| {
            matches!(&e.event, Some(Event::DeliveryStatusChanged(d))
                if d.address == digits && d.status() == pb::DeliveryStatus::Failed)
        })
        .await;
        let Some(Event::DeliveryStatusChanged(d)) = event.event else {
            unreachable!()
        };
        assert_eq!(d.error_code, code as i32);
        assert_eq!(d.error_message, format!("{status_text}: {details}"));

        let conv = get_conversation(&mut c, &digits).await;
        let welcome = conv
            .messages
            .iter()
            .find(|m| m.sender() == pb::Sender::Bot)
            .unwrap();
        assert_eq!(welcome.id, d.message_id);
        assert_eq!(welcome.status(), pb::DeliveryStatus::Failed);
        assert_eq!(welcome.error_code, code as i32);
        assert_eq!(welcome.error_message, format!("{status_text}: {details}"));
        assert!(welcome.wa_message_id.is_empty());

        tokio::time::sleep(SETTLE).await;
        assert_eq!(
            requests_to(&fake, &digits).len(),
            1,
            "code {code} is not retried"
        );
        assert_eq!(fake.message_requests().len(), before + 1);

        // The failure does not block the user's queue: the next message goes out.
        says(
            &td,
            &digits,
            "Bola",
            &format!("wamid.CODE{}b", i + 1),
            "hello?",
        )
        .await;
        let sent = fake.wait_for_exactly(2 + i, WAIT).await;
        // Behind Ada (never answered) and the earlier users (issue 9's queue line).
        assert_eq!(shown(sent.last().unwrap()), tests::queued_ack(i as u32 + 2));
    }
    let g = td.store().gauges(now_ms()).await.unwrap();
    assert_eq!(g.outbox_failed, 3, "{g:?}");
    drain(&mut stream, &mut events).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(&e.event, Some(Event::DeliveryStatusChanged(d))
                if d.status() == pb::DeliveryStatus::Failed))
            .count(),
        3,
        "one FAILED event per permanent error"
    );
}

/// A message that keeps failing with retryable errors is given up after `max_attempts`:
/// FAILED with the reason, and the user's next message goes out.
#[tokio::test]
async fn a_message_failing_max_attempts_times_is_given_up_and_the_queue_moves_on() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), |cfg| {
        fast(cfg);
        cfg.sender.max_attempts = 3;
    })
    .await;
    let ada = "2348020000151";
    fake.fail_next_with(3, Failure::server_error());
    tap_chat(&td, ada, "Ada", "wamid.GIVE1").await;
    let c = client(&td).await;
    let welcome = eventually("the welcome to be given up", WAIT, || {
        let mut c = c.clone();
        async move {
            let conv = get_conversation(&mut c, ada).await;
            conv.messages
                .into_iter()
                .find(|m| m.sender() == pb::Sender::Bot && m.status() == pb::DeliveryStatus::Failed)
        }
    })
    .await;
    assert!(
        welcome
            .error_message
            .starts_with("gave up after 3 attempts"),
        "{welcome:?}"
    );
    assert_eq!(requests_to(&fake, ada).len(), 3);
    says(&td, ada, "Ada", "wamid.GIVE2", "hello?").await;
    let sent = fake.wait_for_exactly(1, WAIT).await;
    assert_eq!(shown(&sent[0]), tests::queued_ack(1));
    assert_eq!(
        requests_to(&fake, ada).len(),
        4,
        "the welcome is not tried again"
    );
}

/// Code 190 (expired token) pauses all sending for `auth_pause`: messages queued for other
/// users meanwhile wait too; then everything goes out once.
#[tokio::test]
async fn an_expired_token_pauses_all_sending_then_resumes() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), |cfg| {
        fast(cfg);
        cfg.sender.auth_pause = Duration::from_secs(1);
    })
    .await;
    fake.fail_next_with(1, Failure::meta(190));
    tap_chat(&td, "2348020000051", "Ada", "wamid.AUTH1").await;
    // The 190 answer is recorded (the welcome waits again) before the others write.
    eventually("the 190 answer to be recorded", WAIT, || async {
        let g = td.store().gauges(now_ms()).await.ok()?;
        let answered = fake.requests().iter().any(|r| r.status == 401);
        (answered && g.outbox_in_flight == 0 && g.outbox_queued == 1).then_some(())
    })
    .await;
    tap_chat(&td, "2348020000052", "Bola", "wamid.AUTH2").await;
    tap_chat(&td, "2348020000053", "Chidi", "wamid.AUTH3").await;

    let sent = fake.wait_for_exactly(3, WAIT).await;
    let requests = fake.message_requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![401, 200, 200, 200],
        "{requests:#?}"
    );
    let refused_at = requests[0].at;
    for r in &requests[1..] {
        let after = r.at - refused_at;
        assert!(
            after >= Duration::from_millis(1000),
            "no request during the 1 s pause, got one {after:?} after the 190"
        );
    }
    let got = per_recipient(&sent);
    for digits in ["2348020000051", "2348020000052", "2348020000053"] {
        assert_eq!(got[&to(digits)].len(), 1, "{got:?}");
        assert!(is_welcome(&got[&to(digits)][0]));
    }
    td.wait_outbox_settled(WAIT).await;
}

/// A request that hangs past `request_timeout` has an unknown outcome and is sent again. The
/// fake, like Meta, had accepted the first one: the user sees that message twice. That is the
/// at-least-once price (docs/operations.md); the store keeps the second request's wamid.
#[tokio::test]
async fn a_request_hanging_past_the_timeout_is_retried_and_may_reach_the_user_twice() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), |cfg| {
        fast(cfg);
        cfg.sender.request_timeout = Duration::from_millis(500);
    })
    .await;
    fake.delay_next(1, Duration::from_millis(1500));
    tap_chat(&td, "2348020000061", "Ada", "wamid.HANG1").await;

    let sent = fake.wait_for_exactly(2, WAIT).await;
    assert_eq!(sent[0], sent[1], "the same message, twice");
    let requests = fake.message_requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(500) && gap < Duration::from_millis(1500),
        "retried after the 500 ms timeout, not after the late answer: {gap:?}"
    );
    let second = fake.accepted_ids()[1].clone();
    td.wait_for_status(phone("2348020000061"), &second, DeliveryStatus::Sent, WAIT)
        .await;
    // The first request's late answer goes nowhere; nothing changes once it has passed.
    tokio::time::sleep_until((requests[0].at + Duration::from_millis(1700)).into()).await;
    assert_eq!(fake.message_requests().len(), 2);
    let (_, thread) = td.conversation(phone("2348020000061")).await;
    let welcome = thread.iter().find(|m| m.sender == Sender::Bot).unwrap();
    assert_eq!(welcome.wamid.as_deref(), Some(second.as_str()));
    assert_eq!(welcome.status, DeliveryStatus::Sent);
    td.wait_outbox_settled(WAIT).await;
}

/// The daemon is killed while a send is on the wire (its answer held back by the fake): the row
/// stays in flight in the database, and on start it is sent again, before the user's next
/// message. Nothing is lost; the message in flight at the cut may reach the user twice.
#[tokio::test]
async fn a_daemon_killed_mid_request_resends_on_start_and_loses_nothing() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_isolated_with(fake.clone(), fast).await;
    let (ada, bola) = ("2348020000071", "2348020000072");
    let hold = fake.hold_next();
    tap_chat(&td, ada, "Ada", "wamid.KILL1").await;
    fake.wait_for_sent(1, WAIT).await;
    // Ada's next message waits behind the one on the wire; Bola is not held up.
    says(&td, ada, "Ada", "wamid.KILL2", "are you there?").await;
    tap_chat(&td, bola, "Bola", "wamid.KILL3").await;
    let sent = fake.wait_for_exactly(2, WAIT).await;
    assert_eq!(sent[1]["to"], to(bola));
    let bola_wamid = fake.accepted_ids()[1].clone();
    td.wait_for_status(phone(bola), &bola_wamid, DeliveryStatus::Sent, WAIT)
        .await;

    let killed = td.kill().await;
    {
        let location = killed.location().clone();
        let store = tokio::task::spawn_blocking(move || Store::connect(&location))
            .await
            .unwrap()
            .unwrap();
        let g = store.gauges(now_ms()).await.unwrap();
        assert_eq!(
            (g.outbox_in_flight, g.outbox_queued),
            (1, 1),
            "the welcome was on the wire, the ack queued: {g:?}"
        );
        let (_, thread, _) = store.get_conversation(phone(ada), 100, 0).await.unwrap();
        let welcome = thread.iter().find(|m| m.sender == Sender::Bot).unwrap();
        assert_eq!(welcome.status, DeliveryStatus::Pending);
        assert_eq!(welcome.wamid, None, "its answer never came back");
    }

    let td = killed.restart().await;
    let sent = fake.wait_for_exactly(4, WAIT).await;
    let got = per_recipient(&sent);
    let to_ada = &got[&to(ada)];
    assert_eq!(to_ada.len(), 3, "{to_ada:?}");
    assert!(
        is_welcome(&to_ada[0]) && to_ada[0] == to_ada[1],
        "{to_ada:?}"
    );
    assert_eq!(to_ada[2], tests::queued_ack(1), "Ada started first");
    assert_eq!(got[&to(bola)].len(), 1, "Bola's welcome is not sent again");
    let ids = fake.accepted_ids();
    td.wait_for_status(phone(ada), &ids[2], DeliveryStatus::Sent, WAIT)
        .await;
    td.wait_for_status(phone(ada), &ids[3], DeliveryStatus::Sent, WAIT)
        .await;
    td.wait_outbox_settled(WAIT).await;
    drop(hold);
    td.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Rate.

/// 20 users write at once (one webhook): the 20 menus go out, and when they reached the fake.
async fn burst_of_twenty(max_per_second: u32) -> Vec<Instant> {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), |cfg| {
        cfg.sender.max_per_second = max_per_second;
    })
    .await;
    let ts = now_secs();
    let payloads: Vec<Value> = (0..20)
        .map(|i| {
            text_from(
                &format!("2348030000{i:03}"),
                None,
                &format!("User {i}"),
                &format!("wamid.RATE{max_per_second}.{i}"),
                ts,
                "hello",
            )
        })
        .collect();
    td.deliver(&batch(&payloads)).await;
    let sent = fake.wait_for_exactly(20, WAIT).await;
    assert_eq!(per_recipient(&sent).len(), 20, "one menu per user");
    let requests = fake.message_requests();
    assert!(requests.iter().all(|r| r.status == 200));
    td.shutdown().await;
    requests.iter().map(|r| r.at).collect()
}

/// With `max_per_second = 5` a burst of 20 is paced: the requests span about 3.8 s and no
/// second holds more than 5 (within scheduling jitter); with the ceiling off it goes at once.
#[tokio::test]
async fn the_rate_ceiling_paces_a_burst() {
    let at = burst_of_twenty(5).await;
    let span = at[19] - at[0];
    assert!(
        span >= Duration::from_millis(3600),
        "20 at 5/s span about 3.8 s: {span:?}"
    );
    for i in 0..at.len() - 5 {
        let six = at[i + 5] - at[i];
        assert!(
            six >= Duration::from_millis(800),
            "requests {i}..={} (six of them) within {six:?}: {:?}",
            i + 5,
            at.iter().map(|t| *t - at[0]).collect::<Vec<_>>()
        );
    }
    let at = burst_of_twenty(0).await;
    let unpaced = at[19] - at[0];
    assert!(
        unpaced < Duration::from_millis(1500) && unpaced * 3 < span,
        "without a ceiling the burst is much faster: {unpaced:?} vs {span:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Delivery statuses.

/// A status that arrives before the send's answer is stored (the fake holds its answer) is kept
/// and applied when it is; statuses out of order (read, then delivered) end at read; the same
/// status twice gives one event; failed is terminal. Checked through `GetConversation` and the
/// `WatchChats` events.
#[tokio::test]
async fn statuses_early_late_twice_and_failed_end_in_the_right_state() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), fast).await;
    let ada = "2348020000081";
    let mut c = client(&td).await;
    let mut stream = watch(&mut c).await;
    let mut events = Vec::new();
    let status = |wamid: &str, s: &str| {
        statuses_webhook(
            vec![],
            vec![status_item(wamid, s, now_secs(), Some(ada), None)],
        )
    };

    // Early: "delivered" for the welcome while its send is still waiting for Meta's answer.
    let hold = fake.hold_next();
    tap_chat(&td, ada, "Ada", "wamid.ST1").await;
    fake.wait_for_sent(1, WAIT).await;
    let welcome_wamid = fake.accepted_ids()[0].clone();
    let answer = td.deliver(&status(&welcome_wamid, "delivered")).await;
    assert_eq!(answer["statuses"], 0, "not applicable yet: {answer}");
    let (_, thread) = td.conversation(phone(ada)).await;
    let welcome = thread.iter().find(|m| m.sender == Sender::Bot).unwrap();
    assert_eq!(welcome.status, DeliveryStatus::Pending);
    let welcome_id = welcome.id;
    hold.release();
    td.wait_for_status(phone(ada), &welcome_wamid, DeliveryStatus::Delivered, WAIT)
        .await;

    // Late and out of order: read, then delivered; stays read.
    td.deliver(&status(&welcome_wamid, "read")).await;
    let answer = td.deliver(&status(&welcome_wamid, "delivered")).await;
    assert_eq!(
        answer["statuses"], 0,
        "a stale status moves nothing: {answer}"
    );

    // Twice: the ack delivered, twice over.
    says(&td, ada, "Ada", "wamid.ST2", "my upload fails").await;
    fake.wait_for_sent(2, WAIT).await;
    let ack_wamid = fake.accepted_ids()[1].clone();
    td.wait_for_status(phone(ada), &ack_wamid, DeliveryStatus::Sent, WAIT)
        .await;
    td.deliver(&status(&ack_wamid, "delivered")).await;
    td.deliver(&status(&ack_wamid, "delivered")).await;

    // Failed is terminal: an agent's message fails on the phone, later statuses change nothing.
    let reply = send(&mut c, ada, "Try again now").await;
    fake.wait_for_sent(3, WAIT).await;
    let reply_wamid = fake.accepted_ids()[2].clone();
    td.wait_for_status(phone(ada), &reply_wamid, DeliveryStatus::Sent, WAIT)
        .await;
    let mut failed = status_item(&reply_wamid, "failed", now_secs(), Some(ada), None);
    failed["errors"] = json!([{
        "code": 131026,
        "title": "Message undeliverable",
        "message": "Message undeliverable",
        "error_data": {"details": "The recipient's phone is not on a supported WhatsApp version."}
    }]);
    td.deliver(&statuses_webhook(vec![], vec![failed])).await;
    td.deliver(&status(&reply_wamid, "delivered")).await;
    td.deliver(&status(&reply_wamid, "read")).await;

    drain(&mut stream, &mut events).await;
    let ack_id = {
        let (_, thread) = td.conversation(phone(ada)).await;
        thread
            .iter()
            .find(|m| m.wamid.as_deref() == Some(ack_wamid.as_str()))
            .unwrap()
            .id
    };
    use pb::DeliveryStatus as S;
    assert_eq!(
        status_events(&events, welcome_id),
        vec![S::Sent, S::Delivered, S::Read],
        "welcome"
    );
    assert_eq!(
        status_events(&events, ack_id),
        vec![S::Sent, S::Delivered],
        "ack"
    );
    assert_eq!(
        status_events(&events, reply.message_id),
        vec![S::Sent, S::Failed],
        "agent reply"
    );

    let conv = get_conversation(&mut c, ada).await;
    let by_id = |id: i64| conv.messages.iter().find(|m| m.id == id).unwrap();
    assert_eq!(by_id(welcome_id).status(), S::Read);
    assert_eq!(by_id(welcome_id).wa_message_id, welcome_wamid);
    assert_eq!(by_id(ack_id).status(), S::Delivered);
    let r = by_id(reply.message_id);
    assert_eq!(r.status(), S::Failed);
    assert_eq!(r.error_code, 131026);
    assert_eq!(
        r.error_message,
        "Message undeliverable: The recipient's phone is not on a supported WhatsApp version."
    );
}

// ---------------------------------------------------------------------------------------------
// The 24-hour window, with the test's clock.

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The user wrote at T: at T+23h59m an agent may still write; at T+24h01m `SendMessage` and
/// `EndChat` are refused with FAILED_PRECONDITION naming the window and nothing is sent, and
/// `EndChat` with `skip_closing_message` ends the chat silently.
#[tokio::test]
async fn outside_the_24_hour_window_agents_are_refused_and_nothing_is_sent() {
    let clock = TestClock::now_ish();
    let t0 = clock.now();
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with_clock(fake.clone(), fast, &clock).await;
    let ada = "2348020000091";
    td.deliver(&button_from(
        ada,
        None,
        "Ada",
        "wamid.WIN1",
        clock.now_secs(),
        "chat_support",
        "💬 Chat Support",
    ))
    .await;
    fake.wait_for_exactly(1, WAIT).await;
    let mut c = client(&td).await;

    clock.set(t0 + (24 * HOUR - MINUTE).as_millis() as i64);
    let r = send(&mut c, ada, "Still there?").await;
    assert!(r.template_used.is_empty());
    let sent = fake.wait_for_exactly(2, WAIT).await;
    assert_eq!(shown(&sent[1]), agent("Still there?"));
    td.wait_outbox_settled(WAIT).await;
    let requests = fake.requests().len();

    clock.set(t0 + (24 * HOUR + MINUTE).as_millis() as i64);
    let e = c
        .send_message(pb::SendMessageRequest {
            phone_number: ada.into(),
            message: "Hello again".into(),
            idempotency_key: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("24-hour"), "{}", e.message());
    assert!(e.message().contains("24 hours ago"), "{}", e.message());
    let e = c
        .end_chat(pb::EndChatRequest {
            phone_number: ada.into(),
            message: String::new(),
            skip_closing_message: false,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("24-hour"), "{}", e.message());
    let s = td.find(phone(ada)).await.unwrap();
    assert!(s.chat_active, "a refused end leaves the chat open");

    let ended = c
        .end_chat(pb::EndChatRequest {
            phone_number: ada.into(),
            message: String::new(),
            skip_closing_message: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ended.session_ended.is_some());
    assert!(ended.template_used.is_empty());
    let s = td.find(phone(ada)).await.unwrap();
    assert_eq!(s.state.as_str(), "IDLE");
    assert!(!s.chat_active);
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        fake.requests().len(),
        requests,
        "nothing was sent, not even a read call"
    );
    let (_, thread) = td.conversation(phone(ada)).await;
    assert_eq!(
        thread.len(),
        3,
        "tap, welcome, the in-window reply: {thread:#?}"
    );
}

/// With a re-engagement template configured, an agent's message outside the window becomes
/// that template, the agent's text its body parameter, and the response names it; `EndChat`
/// likewise sends the template with the closing message.
#[tokio::test]
async fn outside_the_window_the_reengagement_template_is_sent_instead() {
    let clock = TestClock::now_ish();
    let t0 = clock.now();
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with_clock(
        fake.clone(),
        |cfg| {
            fast(cfg);
            cfg.bot.reengagement_template = Some(Template {
                name: "support_follow_up".into(),
                language: "en_US".into(),
                with_message_param: true,
            });
        },
        &clock,
    )
    .await;
    let ada = "2348020000092";
    td.deliver(&button_from(
        ada,
        None,
        "Ada",
        "wamid.TPL1",
        clock.now_secs(),
        "chat_support",
        "💬 Chat Support",
    ))
    .await;
    fake.wait_for_exactly(1, WAIT).await;
    let mut c = client(&td).await;

    clock.set(t0 + (25 * HOUR).as_millis() as i64);
    let r = send(&mut c, ada, "We found your payment").await;
    assert_eq!(r.template_used, "support_follow_up");
    let ended = c
        .end_chat(pb::EndChatRequest {
            phone_number: ada.into(),
            message: "Closing this chat".into(),
            skip_closing_message: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.template_used, "support_follow_up");

    let template = |text: &str| {
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to(ada),
            "type": "template",
            "template": {
                "name": "support_follow_up",
                "language": {"code": "en_US"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": text}]}]
            }
        })
    };
    let sent = fake.wait_for_exactly(3, WAIT).await;
    assert_eq!(sent[1], template("We found your payment"));
    assert_eq!(sent[2], template("Closing this chat"));
    let (_, thread) = td.conversation(phone(ada)).await;
    let kinds: Vec<&str> = thread.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["interactive", "interactive", "template", "template"]
    );
    assert_eq!(td.find(phone(ada)).await.unwrap().state.as_str(), "IDLE");
}

// ---------------------------------------------------------------------------------------------
// Mark as read, flood control, long texts.

/// `MarkRead` after three user messages sends one read call for the newest; again, nothing
/// (marked = false); `SendMessage` after a new user message sends one more read call.
#[tokio::test]
async fn mark_read_sends_one_read_call_for_the_newest_message_once() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), fast).await;
    let ada = "2348020000101";
    tap_chat(&td, ada, "Ada", "wamid.READ1").await;
    says(&td, ada, "Ada", "wamid.READ2", "my upload fails").await;
    says(&td, ada, "Ada", "wamid.READ3", "error 413").await;
    fake.wait_for_exactly(2, WAIT).await;
    let mut c = client(&td).await;
    assert_eq!(
        get_conversation(&mut c, ada)
            .await
            .summary
            .unwrap()
            .unread_count,
        3
    );

    let r = c
        .mark_read(pb::MarkReadRequest {
            phone_number: ada.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.marked);
    td.wait_outbox_settled(WAIT).await;
    assert_eq!(
        fake.reads(),
        vec![
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.READ3"})
        ]
    );
    assert_eq!(
        get_conversation(&mut c, ada)
            .await
            .summary
            .unwrap()
            .unread_count,
        0
    );

    let r = c
        .mark_read(pb::MarkReadRequest {
            phone_number: ada.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.marked, "already read");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(fake.reads().len(), 1);

    says(&td, ada, "Ada", "wamid.READ4", "hello?").await;
    send(&mut c, ada, "Looking into it").await;
    td.wait_outbox_settled(WAIT).await;
    tokio::time::sleep(SETTLE).await;
    let ids: Vec<Value> = fake
        .reads()
        .iter()
        .map(|r| r["message_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("wamid.READ3"), json!("wamid.READ4")]);
    let conv = get_conversation(&mut c, ada).await;
    assert_eq!(conv.summary.unwrap().unread_count, 0);
    // The read call follows the agent's message on the wire.
    let requests = fake.requests();
    let last_two: Vec<bool> = requests[requests.len() - 2..]
        .iter()
        .map(|r| r.body["status"] == "read")
        .collect();
    assert_eq!(last_two, vec![false, true]);
}

/// A user who sends ten chat messages in a burst, while Meta is down so the acknowledgement is
/// still waiting in the outbox, gets one acknowledgement, not ten.
#[tokio::test]
async fn a_burst_of_ten_messages_gets_one_acknowledgement() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), fast).await;
    let ada = "2348020000111";
    tap_chat(&td, ada, "Ada", "wamid.FLOOD0").await;
    fake.wait_for_exactly(1, WAIT).await;
    fake.fail_all(Failure::server_error());
    let posts = (1..=10).map(|i| {
        let td = &td;
        async move {
            says(
                td,
                ada,
                "Ada",
                &format!("wamid.FLOOD{i}"),
                &format!("part {i}"),
            )
            .await;
        }
    });
    futures_util::future::join_all(posts).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.stop_failing();

    let sent = fake.wait_for_exactly(2, WAIT).await;
    assert_eq!(shown(&sent[1]), tests::queued_ack(1));
    td.wait_outbox_settled(WAIT).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(fake.sent().len(), 2, "one acknowledgement for the burst");
    let (_, thread) = td.conversation(phone(ada)).await;
    assert_eq!(
        thread.iter().filter(|m| m.sender == Sender::User).count(),
        11,
        "every message is stored"
    );
    assert_eq!(
        thread
            .iter()
            .filter(|m| m.text == tests::queued_ack(1))
            .count(),
        1
    );
}

/// 4080 ASCII characters (4096 with the "🎧 Support Team: " prefix, one too many) are refused
/// with INVALID_ARGUMENT and nothing is stored or sent; 4079 go out whole, in one message.
#[tokio::test]
async fn agent_text_over_the_limit_is_refused_and_the_limit_goes_out_whole() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), fast).await;
    let ada = "2348020000121";
    tap_chat(&td, ada, "Ada", "wamid.LONG1").await;
    fake.wait_for_exactly(1, WAIT).await;
    let mut c = client(&td).await;
    let before = td.find(phone(ada)).await.unwrap().message_count;

    let e = c
        .send_message(pb::SendMessageRequest {
            phone_number: ada.into(),
            message: "x".repeat(4080),
            idempotency_key: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("4079"), "{}", e.message());
    tokio::time::sleep(SETTLE).await;
    assert_eq!(fake.requests().len(), 1, "nothing sent, no read call");
    assert_eq!(td.find(phone(ada)).await.unwrap().message_count, before);

    send(&mut c, ada, &"y".repeat(4079)).await;
    let sent = fake.wait_for_exactly(2, WAIT).await;
    let body = sent[1]["text"]["body"].as_str().unwrap();
    assert_eq!(body.encode_utf16().count(), 4096);
    assert_eq!(body, agent(&"y".repeat(4079)));
}

/// The sender sleeps until something can be sent: a recipient whose message is on the wire, or
/// whose oldest message waits for its retry, does not make the queue look due (that made the
/// sender poll the database every millisecond: a third of a core while one request hung).
#[tokio::test]
async fn the_sender_does_not_poll_while_requests_are_in_flight_or_backing_off() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake.clone(), |cfg| {
        cfg.sender.retry_base = Duration::from_secs(10);
        cfg.sender.retry_max = Duration::from_secs(10);
    })
    .await;
    let hold = fake.hold_next();
    tap_chat(&td, "2348020000131", "Ada", "wamid.POLL1").await;
    says(&td, "2348020000131", "Ada", "wamid.POLL2", "hello?").await;
    fake.wait_for_sent(1, WAIT).await;
    assert_eq!(
        td.store().next_outbox_due().await.unwrap(),
        None,
        "the welcome is on the wire and the ack queued behind it: nothing is due"
    );
    hold.release();
    fake.wait_for_exactly(2, WAIT).await;
    td.wait_outbox_settled(WAIT).await;

    fake.fail_all(Failure::server_error());
    tap_chat(&td, "2348020000132", "Bola", "wamid.POLL3").await;
    says(&td, "2348020000132", "Bola", "wamid.POLL4", "hello?").await;
    eventually("the welcome's first attempt to fail", WAIT, || async {
        let g = td.store().gauges(now_ms()).await.ok()?;
        let failed = fake.requests().iter().any(|r| r.status == 500);
        (failed && g.outbox_in_flight == 0).then_some(())
    })
    .await;
    let due = td.store().next_outbox_due().await.unwrap().unwrap();
    assert!(
        due >= now_ms() + 5_000,
        "the next thing due is the welcome's retry in about 10 s, not the ack behind it: {}",
        due - now_ms()
    );
    assert_eq!(
        fake.requests().len(),
        3,
        "one failed attempt, no busy retries"
    );
}

/// An acknowledgement still waiting in the outbox (Meta down for over a minute) is not queued a
/// second time when the user writes again: after recovery the user gets one, not one per minute.
#[tokio::test]
async fn an_acknowledgement_waiting_in_the_outbox_is_not_queued_again() {
    let clock = TestClock::now_ish();
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with_clock(fake.clone(), fast, &clock).await;
    let ada = "2348020000141";
    let at = |clock: &TestClock, wamid: &str, body: &str| {
        text_from(ada, None, "Ada", wamid, clock.now_secs(), body)
    };
    td.deliver(&button_from(
        ada,
        None,
        "Ada",
        "wamid.WAIT0",
        clock.now_secs(),
        "chat_support",
        "💬 Chat Support",
    ))
    .await;
    fake.wait_for_exactly(1, WAIT).await;
    td.wait_outbox_settled(WAIT).await;

    fake.fail_all(Failure::server_error());
    td.deliver(&at(&clock, "wamid.WAIT1", "my upload fails"))
        .await;
    eventually("the ack's first attempt to fail", WAIT, || async {
        fake.requests()
            .iter()
            .any(|r| r.status == 500)
            .then_some(())
    })
    .await;
    // Meta stays down; a minute and more later the user writes again, twice.
    for (i, minutes) in [(2, 2), (3, 4)] {
        clock.advance(Duration::from_secs(minutes * 60));
        td.deliver(&at(&clock, &format!("wamid.WAIT{i}"), "still failing"))
            .await;
    }
    fake.stop_failing();
    clock.advance(Duration::from_secs(60));
    fake.wait_for_sent(2, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    let sent = fake.wait_for_exactly(2, WAIT).await;
    assert_eq!(shown(&sent[1]), tests::queued_ack(1));
}
