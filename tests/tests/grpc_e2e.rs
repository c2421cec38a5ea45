//! End-to-end tests of the agents' API over real gRPC (and the seed's REST endpoints) on
//! loopback, against the fake Cloud API: the seed's test cases 3 and 5, ordering and paging,
//! the live stream and its resume, auth, argument errors, races and idempotency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::LazyLock, time::Duration};

use proto::v1::{self as pb, chat_event::Event};
use serde_json::{json, Value};
use tests::*;
use tonic::{transport::Channel, Code};

const ADA: &str = "2348012345678";

/// An hour ago: user messages are recent, so the 24-hour window is open.
static BASE: LazyLock<i64> = LazyLock::new(|| now_secs() - 3600);

/// `BASE + offset` seconds.
fn t(offset: i64) -> i64 {
    *BASE + offset
}

/// Ada taps Chat Support; waits for the welcome to reach the fake.
async fn start_chat(td: &TestDaemon, phone_digits: &str, name: &str, wamid: &str) {
    td.deliver(&button_from(
        phone_digits,
        None,
        name,
        wamid,
        t(500),
        "chat_support",
        "💬 Chat Support",
    ))
    .await;
}

fn texts(sent: &[Value]) -> Vec<String> {
    sent.iter()
        .map(|b| {
            b["text"]["body"]
                .as_str()
                .or(b["interactive"]["body"]["text"].as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn seed_case_3_agent_reply_reaches_whatsapp_and_history() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.C3.1").await;
    td.fake().wait_for_sent(1, WAIT).await;
    let mut c = client(&td).await;
    let r = c
        .send_message(pb::SendMessageRequest {
            phone_number: "+234 801 234 5678".into(),
            message: "How can I help?".into(),
            idempotency_key: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.phone_number, ADA);
    assert_eq!(r.message_sent, "How can I help?");
    assert!(r.timestamp.is_some());
    let sent = td.fake().wait_for_sent(2, WAIT).await;
    assert_eq!(
        sent[1],
        json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"+2348012345678",
               "type":"text","text":{"preview_url":false,"body":"🎧 Support Team: How can I help?"}})
    );
    let conv = c
        .get_conversation(pb::GetConversationRequest {
            phone_number: ADA.into(),
            page_size: 0,
            before: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let last = conv.messages.last().unwrap();
    assert_eq!(last.id, r.message_id);
    assert_eq!(last.sender, pb::Sender::Admin as i32);
    assert_eq!(last.text, "How can I help?");
    let summary = conv.summary.unwrap();
    assert!(summary.chat_active);
    assert_eq!(
        summary.unread_count, 0,
        "an agent's reply answers the waiting messages"
    );
    assert!(summary.waiting_since.is_none());
}

#[tokio::test]
async fn seed_case_5_agent_ends_chat_with_closing_message_and_main_menu() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.C5.1").await;
    td.fake().wait_for_sent(1, WAIT).await;
    let mut c = client(&td).await;
    let r = c
        .end_chat(pb::EndChatRequest {
            phone_number: ADA.into(),
            message: "Thank you for contacting us".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.phone_number, ADA);
    assert!(r.session_ended.is_some());
    let sent = td.fake().wait_for_sent(2, WAIT).await;
    assert_eq!(
        sent[1],
        json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"+2348012345678","type":"interactive",
               "interactive":{"type":"button","body":{"text":"Thank you for contacting us"},
               "action":{"buttons":[{"type":"reply","reply":{"id":"main_menu","title":"🏠 Main Menu"}}]}}})
    );
    let s = td.find(phone(ADA)).await.unwrap();
    assert_eq!(s.state.as_str(), "IDLE");
    assert!(!s.chat_active);
    let (_, thread) = td.conversation(phone(ADA)).await;
    assert_eq!(thread.len(), 3, "history is kept: tap, welcome, closing");

    // The default closing message, for a chat started again.
    start_chat(&td, ADA, "Ada", "wamid.C5.2").await;
    td.fake().wait_for_sent(3, WAIT).await;
    c.end_chat(pb::EndChatRequest {
        phone_number: ADA.into(),
        message: String::new(),
        ..Default::default()
    })
    .await
    .unwrap();
    let sent = td.fake().wait_for_sent(4, WAIT).await;
    assert_eq!(
        texts(&sent)[3],
        "Thank you for contacting support. Chat session ended."
    );
}

#[tokio::test]
async fn list_puts_longest_waiting_active_chats_first_and_pages_stably() {
    let td = TestDaemon::start().await;
    // Two leads who only saw the menu, three who asked for a person at different times.
    td.deliver(&text_from(
        "2348000000001",
        None,
        "Idle One",
        "wamid.L1",
        t(0),
        "hello",
    ))
    .await;
    td.deliver(&text_from(
        "2348000000002",
        None,
        "Idle Two",
        "wamid.L2",
        t(1),
        "hello",
    ))
    .await;
    td.deliver(&text_from(
        "2348000000003",
        None,
        "Newest Wait",
        "wamid.L3",
        t(300),
        "support",
    ))
    .await;
    td.deliver(&text_from(
        "2348000000004",
        None,
        "Oldest Wait",
        "wamid.L4",
        t(100),
        "support",
    ))
    .await;
    td.deliver(&text_from(
        "2348000000005",
        None,
        "Middle Wait",
        "wamid.L5",
        t(200),
        "support",
    ))
    .await;
    let mut c = client(&td).await;
    let mut names = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let r = c
            .list_conversations(pb::ListConversationsRequest {
                active_only: false,
                page_size: 2,
                page_token: token.clone(),
                query: String::new(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        names.extend(r.conversations.iter().map(|s| s.display_name.clone()));
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(&names[..3], ["Oldest Wait", "Middle Wait", "Newest Wait"]);
    let mut rest = names[3..].to_vec();
    rest.sort();
    assert_eq!(rest, ["Idle One", "Idle Two"]);

    let active = c
        .list_conversations(pb::ListConversationsRequest {
            active_only: true,
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(active.conversations.len(), 3);
    let first = &active.conversations[0];
    assert!(first.chat_active);
    assert_eq!(first.kind, pb::ContactKind::Lead as i32);
    assert_eq!(first.state, "CHAT_SUPPORT_ACTIVE");
    assert_eq!(first.message_count, 2);
    assert_eq!(first.unread_count, 1);
    assert_eq!(
        first.waiting_since.as_ref().map(|t| t.seconds),
        Some(t(100))
    );
    assert_eq!(
        first.chat_started_at.as_ref().map(|t| t.seconds),
        Some(t(100))
    );
    // The list previews what people said, not the bot's automatic replies.
    assert_eq!(
        first
            .last_message
            .as_ref()
            .map(|m| (m.sender, m.text.as_str())),
        Some((pb::Sender::User as i32, "support"))
    );

    for (query, expect) in [
        ("middle", vec!["Middle Wait"]),
        ("+234 800 000 0002", vec!["Idle Two"]),
        ("nobody", vec![]),
    ] {
        let r = c
            .list_conversations(pb::ListConversationsRequest {
                page_size: 10,
                query: query.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let got: Vec<String> = r
            .conversations
            .iter()
            .map(|s| s.display_name.clone())
            .collect();
        assert_eq!(got, expect, "query {query:?}");
    }
}

#[tokio::test]
async fn watch_streams_live_events_and_resumes_exactly_after_the_last_sequence() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.W1").await;
    td.fake().wait_for_sent(1, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    let mut c = client(&td).await;
    let mut stream = c
        .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let snap = next_event(&mut stream).await;
    let Some(Event::Snapshot(s)) = &snap.event else {
        panic!("first event must be the snapshot, got {snap:?}")
    };
    assert_eq!(s.active_chats.len(), 1);
    assert_eq!(s.active_chats[0].phone_number, ADA);
    assert!(snap.sequence > 0);

    td.deliver(&text_from(
        ADA,
        None,
        "Ada",
        "wamid.W2",
        t(600),
        "I can't upload my homework",
    ))
    .await;
    // The user's message arrives (then the bot's ack), in commit order.
    let e = next_event(&mut stream).await;
    assert_eq!(e.sequence, snap.sequence + 1);
    match &e.event {
        Some(Event::MessageAdded(m)) => {
            let msg = m.message.as_ref().unwrap();
            assert_eq!(msg.text, "I can't upload my homework");
            assert_eq!(msg.sender, pb::Sender::User as i32);
            // The tap that opened the chat waits too.
            assert_eq!(m.conversation.as_ref().unwrap().unread_count, 2);
        }
        other => panic!("expected the user's message, got {other:?}"),
    }
    let mut last = e.sequence;
    // Drain what follows the user's message (ack, its status) without waiting long.
    while let Ok(Some(Ok(e))) = tokio::time::timeout(Duration::from_millis(500), stream.message())
        .await
        .map(|r| r.transpose())
    {
        assert_eq!(
            e.sequence,
            last + 1,
            "events arrive in sequence order without gaps"
        );
        last = e.sequence;
    }
    drop(stream);

    // While disconnected: an agent reply and the chat's end.
    c.send_message(pb::SendMessageRequest {
        phone_number: ADA.into(),
        message: "Let me help you with that".into(),
        idempotency_key: String::new(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.end_chat(pb::EndChatRequest {
        phone_number: ADA.into(),
        message: String::new(),
        ..Default::default()
    })
    .await
    .unwrap();
    td.wait_outbox_settled(WAIT).await;
    let missed = td.store().events_after(last as i64, 1000).await.unwrap();
    assert!(
        missed.len() >= 4,
        "message, chat end, closing message and statuses: {missed:?}"
    );

    let mut resumed = c
        .watch_chats(pb::WatchChatsRequest {
            after_sequence: last,
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    for _ in 0..missed.len() {
        got.push(next_event(&mut resumed).await);
    }
    let seqs: Vec<u64> = got.iter().map(|e| e.sequence).collect();
    let want: Vec<u64> = missed.iter().map(|e| e.seq as u64).collect();
    assert_eq!(seqs, want, "exactly the missed events, in order");
    assert!(got
        .iter()
        .any(|e| matches!(&e.event, Some(Event::ChatEnded(c)) if c.ended_by == "admin")));
    assert!(got.iter().any(|e| matches!(&e.event,
        Some(Event::MessageAdded(m)) if m.message.as_ref().map(|x| x.text.as_str()) == Some("Let me help you with that"))));
    // Nothing more until something happens.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), resumed.message())
            .await
            .is_err()
    );

    // A sequence the log never had gets a fresh snapshot.
    let mut fresh = c
        .watch_chats(pb::WatchChatsRequest {
            after_sequence: 1_000_000,
        })
        .await
        .unwrap()
        .into_inner();
    let e = next_event(&mut fresh).await;
    assert!(
        matches!(e.event, Some(Event::Snapshot(ref s)) if s.active_chats.is_empty()),
        "{e:?}"
    );
}

#[tokio::test]
async fn missing_or_wrong_tokens_are_refused_and_change_nothing() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.A1").await;
    td.fake().wait_for_sent(1, WAIT).await;
    for header in [
        None,
        Some("Bearer wrong-token"),
        Some(&*format!("Basic {ADMIN_TOKEN}")),
        Some("Bearer "),
    ] {
        let mut c = client_with(&td, header).await;
        let e = c
            .send_message(pb::SendMessageRequest {
                phone_number: ADA.into(),
                message: "sneaky".into(),
                idempotency_key: String::new(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{header:?}");
        let e = c
            .end_chat(pb::EndChatRequest {
                phone_number: ADA.into(),
                message: String::new(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        let e = c
            .list_conversations(pb::ListConversationsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        let e = c
            .watch_chats(pb::WatchChatsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
    }
    tokio::time::sleep(SETTLE).await;
    assert_eq!(td.fake().sent().len(), 1, "only the welcome was ever sent");
    let s = td.find(phone(ADA)).await.unwrap();
    assert!(s.chat_active);
    assert_eq!(s.message_count, 2);
}

#[tokio::test]
async fn invalid_arguments_and_unknown_numbers_get_precise_codes() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.I1").await;
    td.fake().wait_for_sent(1, WAIT).await;
    let mut c = client(&td).await;
    let send = |phone_number: &str, message: &str| pb::SendMessageRequest {
        phone_number: phone_number.into(),
        message: message.into(),
        idempotency_key: String::new(),
        ..Default::default()
    };
    let cases: Vec<(pb::SendMessageRequest, Code, &str)> = vec![
        (
            send("234abc5678", "hi"),
            Code::InvalidArgument,
            "phone_number",
        ),
        (
            send("123456789012345678901234567890", "hi"),
            Code::InvalidArgument,
            "phone_number",
        ),
        (send("", "hi"), Code::InvalidArgument, "phone_number"),
        (send(ADA, ""), Code::InvalidArgument, "message"),
        (send(ADA, " \n\t "), Code::InvalidArgument, "message"),
        (
            send(ADA, &"x".repeat(4097)),
            Code::InvalidArgument,
            "message",
        ),
        (
            send(ADA, &"x".repeat(4080)),
            Code::InvalidArgument,
            "message",
        ),
        (
            send(ADA, &"😀".repeat(2040)),
            Code::InvalidArgument,
            "message",
        ),
        (send("2348099999999", "hi"), Code::NotFound, "2348099999999"),
        (send("NG.404", "hi"), Code::NotFound, "NG.404"),
    ];
    for (req, code, mentions) in cases {
        let what = format!("{}/{}", req.phone_number, req.message.len());
        let e = c.send_message(req).await.unwrap_err();
        assert_eq!(e.code(), code, "{what}: {}", e.message());
        assert!(
            e.message().contains(mentions),
            "{what}: {:?} should name {mentions}",
            e.message()
        );
    }
    // A request over the 1 MiB message cap is refused before it is decoded.
    let huge = c
        .send_message(send(ADA, &"z".repeat(2 * 1024 * 1024)))
        .await
        .unwrap_err();
    assert!(
        matches!(huge.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{huge:?}"
    );
    // The longest allowed message goes through.
    c.send_message(send(ADA, &"y".repeat(4079))).await.unwrap();

    let e = c
        .list_conversations(pb::ListConversationsRequest {
            page_size: 501,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("page_size"));
    let e = c
        .list_conversations(pb::ListConversationsRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("page_token"));
    let e = c
        .get_conversation(pb::GetConversationRequest {
            phone_number: ADA.into(),
            page_size: 0,
            before: -1,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .get_conversation(pb::GetConversationRequest {
            phone_number: "2348099999999".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .end_chat(pb::EndChatRequest {
            phone_number: ADA.into(),
            message: "x".repeat(1025),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // Nothing above sent anything but the welcome and the one valid message.
    td.fake().wait_for_exactly(2, WAIT).await;
}

#[tokio::test]
async fn two_agents_ending_one_chat_send_one_closing_message() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.E1").await;
    td.fake().wait_for_sent(1, WAIT).await;
    let (mut a, mut b) = (client(&td).await, client(&td).await);
    let req = || pb::EndChatRequest {
        phone_number: ADA.into(),
        message: String::new(),
        ..Default::default()
    };
    let (ra, rb) = tokio::join!(a.end_chat(req()), b.end_chat(req()));
    let results = [ra.map(|_| ()), rb.map(|_| ())];
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(loser.code(), Code::FailedPrecondition);
    let sent = td.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(
        texts(&sent)[1],
        "Thank you for contacting support. Chat session ended."
    );
}

#[tokio::test]
async fn a_retried_send_with_the_same_idempotency_key_sends_once() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.K1").await;
    td.fake().wait_for_sent(1, WAIT).await;
    let (mut a, mut b) = (client(&td).await, client(&td).await);
    let req = || pb::SendMessageRequest {
        phone_number: ADA.into(),
        message: "Checking your account now".into(),
        idempotency_key: "agent-7-msg-1".into(),
        ..Default::default()
    };
    let (ra, rb) = tokio::join!(a.send_message(req()), b.send_message(req()));
    let (ra, rb) = (ra.unwrap().into_inner(), rb.unwrap().into_inner());
    assert_eq!(ra.message_id, rb.message_id);
    let again = a.send_message(req()).await.unwrap().into_inner();
    assert_eq!(again.message_id, ra.message_id);
    let sent = td.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(
        texts(&sent)[1],
        "🎧 Support Team: Checking your account now"
    );
    let (_, thread) = td.conversation(phone(ADA)).await;
    assert_eq!(
        thread
            .iter()
            .filter(|m| m.text.contains("Checking your account"))
            .count(),
        1
    );
}

#[tokio::test]
async fn username_only_users_are_addressed_by_their_bsuid() {
    let td = TestDaemon::start().await;
    td.deliver(&username_only_text(
        "NG.7730012245517790",
        "uche.k",
        "Uche",
        "wamid.U1",
        t(600),
        "I need support",
    ))
    .await;
    td.fake().wait_for_sent(1, WAIT).await;
    let mut c = client(&td).await;
    let conv = c
        .get_conversation(pb::GetConversationRequest {
            phone_number: "NG.7730012245517790".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let s = conv.summary.unwrap();
    assert_eq!(s.phone_number, "");
    assert_eq!(s.user_id, "NG.7730012245517790");
    assert_eq!(s.username, "uche.k");
    assert_eq!(s.address, "NG.7730012245517790");
    let r = c
        .send_message(pb::SendMessageRequest {
            phone_number: s.address.clone(),
            message: "Hi Uche".into(),
            idempotency_key: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.phone_number, "NG.7730012245517790");
    let sent = td.fake().wait_for_sent(2, WAIT).await;
    assert_eq!(sent[1]["recipient"], "NG.7730012245517790");
    assert!(sent[1].get("to").is_none());
}

#[tokio::test]
async fn reflection_and_health_need_no_token() {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let td = TestDaemon::start().await;
    let channel = Channel::from_shared(td.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let r = health
        .check(HealthCheckRequest {
            service: "chatsupport.v1.SupportAdmin".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status, ServingStatus::Serving as i32);

    let mut reflection = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer {resp:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"chatsupport.v1.SupportAdmin".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
}

async fn rest(
    td: &TestDaemon,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", td.base_url());
    let mut req = match method {
        "GET" => td.client().get(url),
        _ => td.client().post(url),
    };
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn seed_rest_endpoints_keep_the_seed_json_shapes() {
    let td = TestDaemon::start().await;
    start_chat(&td, ADA, "Ada", "wamid.R1").await;
    td.deliver(&text_from(
        ADA,
        None,
        "Ada",
        "wamid.R2",
        t(600),
        "I need help with homework submission",
    ))
    .await;
    td.fake().wait_for_sent(2, WAIT).await;
    let t = Some(ADMIN_TOKEN);

    let (st, v) = rest(
        &td,
        "POST",
        "/api/admin/conversations/+2348012345678/chat-support/send",
        t,
        Some(json!({"message": "How can I help you today?"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["message"], "Message sent to user");
    assert_eq!(v["data"]["phone_number"], "+2348012345678");
    assert_eq!(v["data"]["message_sent"], "How can I help you today?");
    let ts = v["data"]["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), "2026-01-09T12:30:45.123456".len(), "{ts}");
    let sent = td.fake().wait_for_sent(3, WAIT).await;
    assert_eq!(
        texts(&sent)[2],
        "🎧 Support Team: How can I help you today?"
    );

    let (st, v) = rest(
        &td,
        "GET",
        "/api/admin/conversations?active_only=true",
        t,
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        v["data"]["conversations"][0]["phone_number"],
        "+2348012345678"
    );
    assert_eq!(v["data"]["conversations"][0]["type"], "lead");

    let (st, v) = rest(
        &td,
        "GET",
        "/api/admin/conversations/2348012345678",
        t,
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["data"]["chat_support_active"], true);
    let msgs = v["data"]["chat_messages"].as_array().unwrap();
    let senders: Vec<&str> = msgs.iter().map(|m| m["sender"].as_str().unwrap()).collect();
    assert_eq!(senders, ["user", "bot", "user", "bot", "admin"]);
    assert_eq!(msgs[2]["text"], "I need help with homework submission");

    let (st, v) = rest(
        &td,
        "POST",
        "/api/admin/conversations/+2348012345678/chat-support/end",
        t,
        Some(json!({"message": "Thank you for contacting support. We're here to help!"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"status": "success", "message": "Chat support session ended",
        "data": {"phone_number": "+2348012345678", "session_ended": v["data"]["session_ended"]}})
    );
    let sent = td.fake().wait_for_sent(4, WAIT).await;
    assert_eq!(
        sent[3]["interactive"]["action"]["buttons"][0]["reply"]["id"],
        "main_menu"
    );

    for (method, path, token, body, status) in [
        ("GET", "/api/admin/conversations", None, None, 401),
        ("GET", "/api/admin/conversations", Some("nope"), None, 401),
        (
            "POST",
            "/api/admin/conversations/2348012345678/chat-support/end",
            t,
            None,
            409,
        ),
        (
            "POST",
            "/api/admin/conversations/2348099999999/chat-support/send",
            t,
            Some(json!({"message": "hi"})),
            404,
        ),
        (
            "POST",
            "/api/admin/conversations/2348012345678/chat-support/send",
            t,
            Some(json!({"message": ""})),
            400,
        ),
        (
            "POST",
            "/api/admin/conversations/2348012345678/chat-support/send",
            t,
            Some(json!({"text": "hi"})),
            400,
        ),
        ("GET", "/api/admin/conversations/12ab", t, None, 400),
    ] {
        let (st, v) = rest(&td, method, path, token, body).await;
        assert_eq!(st, status, "{method} {path}: {v}");
        assert_eq!(v["status"], "error", "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    td.fake().wait_for_exactly(4, WAIT).await;
}

/// `n` users saying hello in one delivery.
fn crowd(offset: usize, n: usize) -> Value {
    let phones: Vec<String> = (0..n).map(|i| format!("23490{:08}", offset + i)).collect();
    let contacts = phones
        .iter()
        .map(|p| contact(Some(p), None, "Crowd"))
        .collect();
    let messages = phones
        .iter()
        .map(|p| {
            message(
                Some(p),
                None,
                &format!("wamid.CROWD.{p}"),
                t(0),
                "text",
                json!({ "body": "hello" }),
            )
        })
        .collect();
    webhook(contacts, messages)
}

#[tokio::test]
async fn a_stalled_subscriber_slows_nobody_and_still_gets_every_event_in_order() {
    // No send-rate ceiling: 1600 replies at 80/s would only make the test slow.
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |cfg| {
        cfg.sender.max_per_second = 0
    })
    .await;
    let mut c = client(&td).await;
    let mut stalled = c
        .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let mut live = c
        .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let first_live = next_event(&mut live).await;
    // Enough traffic to overflow the live buffer (4096 events) of the subscriber that reads
    // nothing: 1600 users, each a message and the bot's menu (plus its sent status).
    let reader = tokio::spawn(async move {
        let mut seqs = vec![first_live.sequence];
        while let Ok(Some(Ok(e))) = tokio::time::timeout(Duration::from_secs(3), live.message())
            .await
            .map(|r| r.transpose())
        {
            seqs.push(e.sequence);
        }
        seqs
    });
    for round in 0..16 {
        let r = tokio::time::timeout(WAIT, td.post_json(&crowd(round * 100, 100)))
            .await
            .expect("a webhook was held up");
        assert_eq!(r.status(), 200);
    }
    td.wait_outbox_settled(Duration::from_secs(60)).await;
    let (_, newest) = td.store().event_bounds().await.unwrap();
    let seqs = reader.await.unwrap();
    assert_eq!(
        *seqs.last().unwrap() as i64,
        newest,
        "the reading subscriber saw everything"
    );
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, no gaps"
    );
    assert!(
        newest - seqs[0] as i64 > 4096,
        "the test must overflow the live buffer"
    );

    // The stalled subscriber now reads: every event, in order, no gaps, up to the newest.
    let mut last = next_event(&mut stalled).await.sequence;
    while (last as i64) < newest {
        let e = next_event(&mut stalled).await;
        assert_eq!(e.sequence, last + 1, "gap after {last}");
        last = e.sequence;
    }
}
