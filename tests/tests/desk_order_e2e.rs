//! End-to-end tests of issue 14 items 2 and 3 (and the command line's part of 4 and 7): one
//! order of waiting chats (priority, then waiting since, then the session id) for the user's
//! queue line, `ListConversations` / `admin list` and `GetStats`; "unassigned" means active
//! chats with no agent; `admin show` prints the thread, its notes and its activity in time
//! order.

// Tests stop at the first failed expectation; unwrap/expect/panic are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use proto::v1 as pb;
use serde_json::Value;
use tests::{
    chat_support_tap, client, phone, queue_line, queued_ack, text_from, Client, FakeCloudApi,
    TestClock, TestDaemon, WAIT,
};

// Contact ids follow first contact: ADA writes first, so ADA's contact id is lower than
// BOLA's, but BOLA opens a chat first (a lower session id), in the same second.
const ADA: &str = "2348031110001";
const BOLA: &str = "2348031110002";
const CHIDI: &str = "2348031110003";
const DAYO: &str = "2348031110004";

fn wamid() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("wamid.O{}", N.fetch_add(1, Ordering::SeqCst))
}

async fn say(td: &TestDaemon, clock: &TestClock, digits: &str, body: &str) {
    td.deliver(&text_from(
        digits,
        None,
        "User",
        &wamid(),
        clock.now_secs(),
        body,
    ))
    .await;
}

async fn start_chat(td: &TestDaemon, clock: &TestClock, digits: &str) {
    td.deliver(&chat_support_tap(
        digits,
        "User",
        &wamid(),
        clock.now_secs(),
    ))
    .await;
}

fn body(sent: &Value) -> String {
    sent["interactive"]["body"]["text"]
        .as_str()
        .or(sent["text"]["body"].as_str())
        .unwrap_or_else(|| panic!("no body in {sent}"))
        .to_string()
}

/// The messages sent to `+digits`, once there are at least `n`.
async fn to(td: &TestDaemon, digits: &str, n: usize) -> Vec<Value> {
    let want = format!("+{digits}");
    tests::eventually(&format!("{n} message(s) to {want}"), WAIT, || {
        let sent: Vec<Value> = td
            .fake()
            .sent()
            .into_iter()
            .filter(|m| m["to"] == want.as_str())
            .collect();
        async move { (sent.len() >= n).then_some(sent) }
    })
    .await
}

/// The `n`-th (1-based) message to `+digits`, once sent.
async fn nth_to(td: &TestDaemon, digits: &str, n: usize) -> String {
    body(&to(td, digits, n).await[n - 1])
}

async fn list(g: &mut Client, active_only: bool, filter: pb::AssignmentFilter) -> Vec<String> {
    g.list_conversations(pb::ListConversationsRequest {
        active_only,
        assignment: filter as i32,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .conversations
    .into_iter()
    .map(|s| s.phone_number)
    .collect()
}

async fn waiting_now(g: &mut Client) -> u32 {
    g.get_stats(pb::GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .waiting_now
}

#[tokio::test]
async fn the_queue_line_the_list_and_the_stats_tell_one_order() {
    let clock = TestClock::now_ish();
    let td = TestDaemon::start_with_clock(FakeCloudApi::start().await, |_| {}, &clock).await;
    let mut g = client(&td).await;
    // ADA is known first (menu), then BOLA and ADA start chats in the same second.
    say(&td, &clock, ADA, "hi").await;
    to(&td, ADA, 1).await;
    start_chat(&td, &clock, BOLA).await;
    assert!(nth_to(&td, BOLA, 1).await.ends_with(&queue_line(1)));
    start_chat(&td, &clock, ADA).await;
    assert!(nth_to(&td, ADA, 2).await.ends_with(&queue_line(2)));
    clock.advance(Duration::from_secs(10));
    start_chat(&td, &clock, CHIDI).await;
    assert!(nth_to(&td, CHIDI, 1).await.ends_with(&queue_line(3)));

    // Equal waits go by who started first (the session), and stay so when one writes.
    assert_eq!(
        list(&mut g, true, pb::AssignmentFilter::All).await,
        [BOLA, ADA, CHIDI]
    );
    clock.advance(Duration::from_secs(5));
    say(&td, &clock, ADA, "hello?").await;
    assert_eq!(nth_to(&td, ADA, 3).await, queued_ack(2));
    assert_eq!(
        list(&mut g, true, pb::AssignmentFilter::All).await,
        [BOLA, ADA, CHIDI],
        "writing does not move a waiting chat"
    );

    // A raised priority moves the chat up in the list and in the user's queue line alike.
    g.set_priority(pb::SetPriorityRequest {
        phone_number: CHIDI.into(),
        priority: pb::Priority::High as i32,
    })
    .await
    .unwrap();
    assert_eq!(
        list(&mut g, true, pb::AssignmentFilter::All).await,
        [CHIDI, BOLA, ADA]
    );
    say(&td, &clock, CHIDI, "queue").await;
    assert_eq!(nth_to(&td, CHIDI, 2).await, queue_line(1));
    say(&td, &clock, ADA, "queue").await;
    assert_eq!(nth_to(&td, ADA, 4).await, queue_line(3));
    assert_eq!(waiting_now(&mut g).await, 3);

    // An answered chat leaves the queue: the others move up, and it is no longer waiting.
    td.engine()
        .agent_send(phone(BOLA), "Hello Bola".into(), None)
        .await
        .unwrap();
    to(&td, BOLA, 2).await;
    say(&td, &clock, ADA, "queue").await;
    assert_eq!(nth_to(&td, ADA, 5).await, queue_line(2));
    assert_eq!(waiting_now(&mut g).await, 2);
    assert_eq!(
        list(&mut g, true, pb::AssignmentFilter::All).await,
        [CHIDI, ADA, BOLA]
    );
    td.shutdown().await;
}

#[tokio::test]
async fn unassigned_means_active_chats_with_no_agent() {
    let clock = TestClock::now_ish();
    let td = TestDaemon::start_with_clock(FakeCloudApi::start().await, |_| {}, &clock).await;
    let mut g = client(&td).await;
    // DAYO only got the menu: a contact, not a chat.
    say(&td, &clock, DAYO, "hi").await;
    to(&td, DAYO, 1).await;
    start_chat(&td, &clock, ADA).await;
    to(&td, ADA, 1).await;
    // `admin list --unassigned` asks for all conversations with the Unassigned filter.
    assert_eq!(
        list(&mut g, false, pb::AssignmentFilter::Unassigned).await,
        [ADA]
    );
    assert_eq!(
        list(&mut g, true, pb::AssignmentFilter::Unassigned).await,
        [ADA]
    );
    // Everyone is still in the unfiltered list.
    let all = list(&mut g, false, pb::AssignmentFilter::All).await;
    assert_eq!(all.len(), 2, "{all:?}");
    td.shutdown().await;
}
