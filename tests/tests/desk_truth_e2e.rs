//! End-to-end tests of issue 14's desk items on the real listeners against the fake Cloud API:
//! the bot stops acknowledging a user's messages once an agent has replied in the chat (and a
//! setting brings the acknowledgements back); an agent's message to a contact outside a chat
//! opens one, so the user's answer reaches the desk instead of the bot's menu.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::LazyLock;

use bot_daemon::conversation::texts;
use proto::v1::{self as pb, chat_event::Event};
use serde_json::Value;
use tests::*;

const ADA: &str = "2348012345678";

/// An hour ago: user messages are recent, so the 24-hour window is open.
static BASE: LazyLock<i64> = LazyLock::new(|| now_secs() - 3600);

fn body(sent: &Value) -> String {
    sent["text"]["body"]
        .as_str()
        .or(sent["interactive"]["body"]["text"].as_str())
        .unwrap_or("")
        .to_string()
}

async fn say(td: &TestDaemon, wamid: &str, offset: i64, text: &str) {
    td.deliver(&text_from(ADA, None, "Ada", wamid, *BASE + offset, text))
        .await;
}

/// Ada opens a chat and writes; the bot welcomes and acknowledges; an agent replies.
/// Returns after the three messages reached WhatsApp.
async fn chat_with_an_agent_reply(td: &TestDaemon) {
    td.deliver(&button_from(
        ADA,
        None,
        "Ada",
        "wamid.D1",
        *BASE,
        "chat_support",
        "💬 Chat Support",
    ))
    .await;
    say(td, "wamid.D2", 10, "my fees are wrong").await;
    let sent = td.fake().wait_for_sent(2, WAIT).await;
    assert!(
        body(&sent[1]).starts_with(texts::CHAT_ACK),
        "before an agent replies the bot acknowledges: {sent:#?}"
    );
    client(td)
        .await
        .send_message(pb::SendMessageRequest {
            phone_number: ADA.into(),
            message: "Let me check your account.".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let sent = td.fake().wait_for_sent(3, WAIT).await;
    assert_eq!(
        body(&sent[2]),
        "🎧 Support Team: Let me check your account."
    );
}

#[tokio::test]
async fn no_acknowledgement_once_an_agent_has_replied() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.desk.ack_after_agent_reply = false;
    })
    .await;
    chat_with_an_agent_reply(&td).await;
    say(&td, "wamid.D3", 20, "ok thanks").await;
    // The message reaches the agent's thread…
    let (summary, thread) = td.wait_for_thread(phone(ADA), 6, WAIT).await;
    assert!(summary.chat_active);
    assert_eq!(thread.last().unwrap().text, "ok thanks");
    // …and nothing more goes to WhatsApp.
    td.fake().wait_for_exactly(3, WAIT).await;
    // Asking for the queue is still answered.
    say(&td, "wamid.D4", 30, "queue").await;
    td.fake().wait_for_sent(4, WAIT).await;
    td.shutdown().await;
}

#[tokio::test]
async fn acknowledgements_after_an_agent_reply_when_configured() {
    let fake = FakeCloudApi::start().await;
    let td = TestDaemon::start_with(fake, |c| c.desk.ack_after_agent_reply = true).await;
    chat_with_an_agent_reply(&td).await;
    say(&td, "wamid.D3", 20, "ok thanks").await;
    let sent = td.fake().wait_for_sent(4, WAIT).await;
    assert!(
        body(&sent[3]).starts_with(texts::CHAT_ACK),
        "the setting keeps the acknowledgements: {sent:#?}"
    );
    td.shutdown().await;
}

#[tokio::test]
async fn an_agent_message_to_an_ended_chat_reopens_it_assigned_to_that_agent() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.desk.ack_after_agent_reply = false;
    })
    .await;
    let mut op = client(&td).await;
    let token = op
        .add_agent(pb::AddAgentRequest {
            name: "bola".into(),
            display_name: "Bola".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .token;
    let mut bola = client_with(&td, Some(&format!("Bearer {token}"))).await;
    chat_with_an_agent_reply(&td).await;
    let first = op
        .end_chat(pb::EndChatRequest {
            phone_number: ADA.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(first.session_ended.is_some());
    td.fake().wait_for_sent(4, WAIT).await;
    let ended = td
        .store()
        .find_conversation(phone(ADA))
        .await
        .unwrap()
        .unwrap();
    assert!(!ended.chat_active);
    let old_session = ended.chat_session_id.unwrap();

    let mut stream = bola
        .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    next_event(&mut stream).await; // the snapshot
                                   // Bola remembers something and writes to the ended chat.
    let sent = bola
        .send_message(pb::SendMessageRequest {
            phone_number: ADA.into(),
            message: "One more thing: your receipt is ready.".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(sent.chat_started, "the reply says it opened a chat");
    assert!(sent.chat_session_id > old_session);
    let sent_out = td.fake().wait_for_sent(5, WAIT).await;
    assert_eq!(
        body(&sent_out[4]),
        "🎧 Support Team: One more thing: your receipt is ready."
    );
    // The event stream says so: a new chat, assigned to Bola.
    let started = loop {
        if let Some(Event::ChatStarted(e)) = next_event(&mut stream).await.event {
            break e;
        }
    };
    assert_eq!(started.chat_session_id, sent.chat_session_id);
    let conv = started.conversation.unwrap();
    assert!(conv.chat_active);
    let summary = loop {
        match next_event(&mut stream).await.event {
            Some(Event::AssignmentChanged(a)) => {
                assert_eq!(a.agent, "bola");
                assert_eq!(a.action, "claimed");
                break a.conversation.unwrap();
            }
            Some(Event::MessageAdded(_)) => panic!("the chat is Bola's before her message"),
            _ => {}
        }
    };
    assert_eq!(summary.assigned_agent, "bola");

    // Ada's answer lands in that chat; the bot stays quiet (no menu).
    say(&td, "wamid.D9", 3000, "ok thanks, what was that about?").await;
    let (summary, thread) = td.wait_for_thread(phone(ADA), 8, WAIT).await;
    assert!(summary.chat_active);
    let answer = thread.last().unwrap();
    assert_eq!(answer.text, "ok thanks, what was that about?");
    assert_eq!(answer.session_id, Some(sent.chat_session_id));
    td.fake().wait_for_exactly(5, WAIT).await;
    let view = bola
        .get_conversation(pb::GetConversationRequest {
            phone_number: ADA.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let s = view.summary.unwrap();
    assert_eq!(s.assigned_agent, "bola");
    assert_eq!(s.chat_session_id, sent.chat_session_id);
    assert!(s.waiting_since.is_some(), "Ada's answer waits for Bola");
    assert!(
        s.first_response_at.is_some(),
        "not in the queue: an agent spoke first"
    );
    // Bola's "Mine" list has it.
    let mine = bola
        .list_conversations(pb::ListConversationsRequest {
            active_only: true,
            assignment: pb::AssignmentFilter::Mine as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.conversations.len(), 1);
    // The activity trail records who opened it.
    let audit = op
        .list_audit(pb::ListAuditRequest {
            phone_number: ADA.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<&str> = audit
        .entries
        .iter()
        .rev()
        .map(|e| e.action.as_str())
        .collect();
    assert!(
        actions.ends_with(&["chat_opened", "claimed", "message_sent"]),
        "{actions:?}"
    );
    td.shutdown().await;
}

#[tokio::test]
async fn the_operator_reaching_out_opens_an_unassigned_chat_that_is_not_in_the_queue() {
    let td = TestDaemon::start().await;
    // Ada wrote once (the menu) and never asked for a person.
    say(&td, "wamid.R1", 0, "hi").await;
    td.fake().wait_for_sent(1, WAIT).await;
    let mut op = client(&td).await;
    let sent = op
        .send_message(pb::SendMessageRequest {
            phone_number: ADA.into(),
            message: "Your admission letter is ready.".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(sent.chat_started);
    td.fake().wait_for_sent(2, WAIT).await;
    let s = td
        .store()
        .find_conversation(phone(ADA))
        .await
        .unwrap()
        .unwrap();
    assert!(s.chat_active);
    assert_eq!(s.assigned_agent, None);
    // The answer lands in the chat (acknowledged, as the harness keeps the seed's acks on),
    // and the chat never entered the queue.
    say(&td, "wamid.R2", 100, "thank you, when can I pick it up?").await;
    let (summary, thread) = td.wait_for_thread(phone(ADA), 4, WAIT).await;
    assert!(summary.chat_active);
    assert_eq!(thread[3].text, "thank you, when can I pick it up?");
    assert_eq!(thread[3].session_id, Some(sent.chat_session_id));
    let sent = td.fake().wait_for_sent(3, WAIT).await;
    assert!(
        body(&sent[2]).starts_with(texts::CHAT_ACK),
        "an acknowledgement, not the menu: {sent:#?}"
    );
    let stats = op
        .get_stats(pb::GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stats.waiting_now, 0,
        "an agent spoke first: not in the queue"
    );
    td.shutdown().await;
}

#[tokio::test]
async fn every_call_that_takes_a_number_takes_the_username_the_console_shows() {
    let td = TestDaemon::start().await;
    const UCHE: &str = "NG.1502576394655843";
    td.deliver(&username_only_text(
        UCHE, "uche.k", "Uche", "wamid.U1", *BASE, "support",
    ))
    .await;
    td.fake().wait_for_sent(1, WAIT).await;
    let mut op = client(&td).await;
    // Any case, with the @ the console shows.
    let conv = op
        .get_conversation(pb::GetConversationRequest {
            phone_number: "@Uche.K".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let s = conv.summary.unwrap();
    assert_eq!(s.user_id, UCHE);
    assert_eq!(s.username, "uche.k");
    op.set_priority(pb::SetPriorityRequest {
        phone_number: "@uche.k".into(),
        priority: pb::Priority::High as i32,
    })
    .await
    .unwrap();
    op.add_note(pb::AddNoteRequest {
        phone_number: "@uche.k".into(),
        text: "asked twice".into(),
    })
    .await
    .unwrap();
    let sent = op
        .send_message(pb::SendMessageRequest {
            phone_number: "@uche.k".into(),
            message: "Hello Uche".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sent.phone_number, UCHE, "answered with the address");
    let out = td.fake().wait_for_sent(2, WAIT).await;
    assert_eq!(
        out[1]["recipient"], UCHE,
        "delivered to the BSUID: {out:#?}"
    );
    assert_eq!(body(&out[1]), "🎧 Support Team: Hello Uche");
    // The seed's REST path takes it too.
    let resp = td
        .client()
        .get(format!("{}/api/admin/conversations/@uche.k", td.base_url()))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The list's search finds "@uche" as well as "uche".
    let found = op
        .list_conversations(pb::ListConversationsRequest {
            query: "@uche".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.conversations.len(), 1);

    // Nobody has it: NOT_FOUND naming it; not a username: INVALID_ARGUMENT.
    let e = op
        .get_conversation(pb::GetConversationRequest {
            phone_number: "@nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.message().contains("@nobody"), "{}", e.message());
    let e = op
        .end_chat(pb::EndChatRequest {
            phone_number: "@two words".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("username"), "{}", e.message());
    let resp = td
        .client()
        .get(format!("{}/api/admin/conversations/@nobody", td.base_url()))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Uche gave the name up and another user took it: ambiguous, so the call is refused.
    td.deliver(&username_only_text(
        "NG.99887766554433",
        "uche.k",
        "Another Uche",
        "wamid.U2",
        *BASE + 5,
        "hi",
    ))
    .await;
    td.fake().wait_for_sent(3, WAIT).await;
    let e = op
        .get_conversation(pb::GetConversationRequest {
            phone_number: "@uche.k".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("phone number"), "{}", e.message());
    td.shutdown().await;
}
