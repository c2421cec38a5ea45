//! End-to-end tests of what the desk shows live (issue 14 items 6 and 9): canned responses
//! saved or deleted reach every open `WatchChats` stream at once, and `/metrics` carries the
//! waiting alarms' numbers — queue length, oldest wait, agents available and connected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use proto::v1::{self as pb, chat_event::Event};
use tests::*;

const ADA: &str = "2348012345678";
const CHIDI: &str = "2348023456789";

/// The next canned-response change on the stream (other events are skipped).
async fn next_canned(stream: &mut tonic::Streaming<pb::ChatEvent>) -> pb::CannedResponseChanged {
    loop {
        if let Some(Event::CannedResponseChanged(c)) = next_event(stream).await.event {
            return c;
        }
    }
}

async fn add_agent(op: &mut Client, name: &str) -> String {
    op.add_agent(pb::AddAgentRequest {
        name: name.into(),
        display_name: name.into(),
    })
    .await
    .unwrap()
    .into_inner()
    .token
}

async fn start_chat(td: &TestDaemon, phone: &str, name: &str, at: i64) {
    td.deliver(&chat_support_tap(
        phone,
        name,
        &format!("wamid.{phone}.{at}"),
        at,
    ))
    .await;
}

#[tokio::test]
async fn canned_responses_saved_and_deleted_reach_open_streams_at_once() {
    let td = TestDaemon::start().await;
    let mut op = client(&td).await;
    let token = add_agent(&mut op, "ada").await;
    let mut ada = client_with(&td, Some(&format!("Bearer {token}"))).await;
    // Ada's console is open (snapshot first).
    let mut stream = ada
        .watch_chats(pb::WatchChatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        next_event(&mut stream).await.event,
        Some(Event::Snapshot(_))
    ));

    // `admin canned add refund "…"` (the operator's token).
    op.put_canned_response(pb::PutCannedResponseRequest {
        shortcut: "refund".into(),
        body: "Refunds take 3 days, {name}.".into(),
    })
    .await
    .unwrap();
    let saved = next_canned(&mut stream).await;
    assert_eq!(saved.shortcut, "refund");
    assert!(!saved.deleted);
    assert_eq!(
        saved.response.map(|r| r.body),
        Some("Refunds take 3 days, {name}.".to_string())
    );

    op.delete_canned_response(pb::DeleteCannedResponseRequest {
        shortcut: "refund".into(),
    })
    .await
    .unwrap();
    let gone = next_canned(&mut stream).await;
    assert_eq!((gone.shortcut.as_str(), gone.deleted), ("refund", true));
    assert!(gone.response.is_none());

    // A stream resumed from before the change replays it from the log.
    let mut resumed = ada
        .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    next_event(&mut resumed).await; // the snapshot
    op.put_canned_response(pb::PutCannedResponseRequest {
        shortcut: "hours".into(),
        body: "8 to 4".into(),
    })
    .await
    .unwrap();
    assert_eq!(next_canned(&mut resumed).await.shortcut, "hours");
    td.shutdown().await;
}

#[tokio::test]
async fn metrics_show_the_queue_its_oldest_wait_and_the_agents_available_and_connected() {
    let clock = TestClock::now_ish();
    let td = TestDaemon::start_with_clock(FakeCloudApi::start().await, |_| {}, &clock).await;
    let mut op = client(&td).await;
    let token = add_agent(&mut op, "ada").await;
    add_agent(&mut op, "bola").await;
    let mut ada = client_with(&td, Some(&format!("Bearer {token}"))).await;
    assert_eq!(td.metric("chat_support_queue_length").await, 0.0);
    assert_eq!(td.metric("chat_support_oldest_wait_seconds").await, 0.0);
    assert_eq!(td.metric("chat_support_agents_available").await, 0.0);
    assert_eq!(td.metric("chat_support_agents_connected").await, 0.0);

    // Two users wait; six minutes pass.
    start_chat(&td, ADA, "Ada", clock.now_secs()).await;
    clock.advance(Duration::from_secs(60));
    start_chat(&td, CHIDI, "Chidi", clock.now_secs()).await;
    clock.advance(Duration::from_secs(300));
    assert_eq!(td.metric("chat_support_queue_length").await, 2.0);
    assert_eq!(td.metric("chat_support_oldest_wait_seconds").await, 360.0);

    // The first agent reply takes Ada's chat out of the queue: Chidi's wait is the oldest.
    ada.send_message(pb::SendMessageRequest {
        phone_number: ADA.into(),
        message: "Hello, I am here".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(td.metric("chat_support_queue_length").await, 1.0);
    assert_eq!(td.metric("chat_support_oldest_wait_seconds").await, 300.0);

    // Available: ada only. Connected: ada while her console's stream is open (twice counts once).
    ada.set_availability(pb::SetAvailabilityRequest { available: true })
        .await
        .unwrap();
    assert_eq!(td.metric("chat_support_agents_available").await, 1.0);
    let first = ada
        .watch_chats(pb::WatchChatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let second = ada
        .watch_chats(pb::WatchChatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // The operator's stream is not an agent's.
    let _op_stream = op
        .watch_chats(pb::WatchChatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(td.metric("chat_support_agents_connected").await, 1.0);
    drop(first);
    drop(second);
    eventually("ada's streams to close", WAIT, || async {
        (td.metric("chat_support_agents_connected").await == 0.0).then_some(())
    })
    .await;
    td.shutdown().await;
}
