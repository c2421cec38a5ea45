//! End-to-end tests of the shared desk (issue 8) over real gRPC with two (or three) agents:
//! agent tokens and attribution, claim and the conflicting claim, transfer, takeover,
//! round-robin, private notes that never reach the fake Cloud API, canned responses, priority
//! and urgent keywords, the audit trail, disabled agents and rotated tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::LazyLock;

use proto::v1::{self as pb, chat_event::Event};
use serde_json::Value;
use tests::*;
use tonic::Code;

const ADA: &str = "2348012345678";
const CHIDI: &str = "2348023456789";
const DAYO: &str = "2348034567890";

/// An hour ago: user messages are recent, so the 24-hour window is open.
static BASE: LazyLock<i64> = LazyLock::new(|| now_secs() - 3600);

fn t(offset: i64) -> i64 {
    *BASE + offset
}

/// The user taps Chat Support at `BASE + offset`.
async fn start_chat(td: &TestDaemon, phone: &str, name: &str, offset: i64) {
    td.deliver(&button_from(
        phone,
        None,
        name,
        &format!("wamid.{phone}.{offset}"),
        t(offset),
        "chat_support",
        "💬 Chat Support",
    ))
    .await;
}

async fn say(td: &TestDaemon, phone: &str, name: &str, offset: i64, text: &str) {
    td.deliver(&text_from(
        phone,
        None,
        name,
        &format!("wamid.{phone}.t{offset}"),
        t(offset),
        text,
    ))
    .await;
}

/// The operator adds an agent; returns its token.
async fn add_agent(op: &mut Client, name: &str, display: &str) -> String {
    let r = op
        .add_agent(pb::AddAgentRequest {
            name: name.into(),
            display_name: display.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.agent.as_ref().unwrap().name, name);
    assert!(r.token.len() >= 64, "a long random token");
    r.token
}

async fn agent(td: &TestDaemon, token: &str) -> Client {
    client_with(td, Some(&format!("Bearer {token}"))).await
}

/// The operator and two agents, ada ("Ada Obi") and bola ("Bola Adeyemi").
async fn desk(td: &TestDaemon) -> (Client, Client, Client) {
    let mut op = client(td).await;
    let a = add_agent(&mut op, "ada", "Ada Obi").await;
    let b = add_agent(&mut op, "bola", "Bola Adeyemi").await;
    (op, agent(td, &a).await, agent(td, &b).await)
}

fn send(phone: &str, text: &str, takeover: bool) -> pb::SendMessageRequest {
    pb::SendMessageRequest {
        phone_number: phone.into(),
        message: text.into(),
        takeover,
        ..Default::default()
    }
}

fn claim(phone: &str) -> pb::ClaimConversationRequest {
    pb::ClaimConversationRequest {
        phone_number: phone.into(),
    }
}

async fn conversation(c: &mut Client, phone: &str) -> pb::Conversation {
    c.get_conversation(pb::GetConversationRequest {
        phone_number: phone.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

async fn list(c: &mut Client, filter: pb::AssignmentFilter) -> Vec<pb::ConversationSummary> {
    c.list_conversations(pb::ListConversationsRequest {
        active_only: true,
        assignment: filter as i32,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .conversations
}

async fn audit_actions(c: &mut Client, phone: &str) -> Vec<(String, String, String)> {
    let r = c
        .list_audit(pb::ListAuditRequest {
            phone_number: phone.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Oldest first, for readable assertions.
    r.entries
        .into_iter()
        .rev()
        .map(|e| {
            let who = if e.agent_name.is_empty() {
                e.actor
            } else {
                e.agent_name
            };
            (who, e.action, e.detail)
        })
        .collect()
}

fn bodies(sent: &[Value]) -> Vec<String> {
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
async fn agents_have_their_own_tokens_and_every_send_and_end_is_attributed() {
    let td = TestDaemon::start().await;
    let (mut op, mut ada, mut bola) = desk(&td).await;
    let me = ada
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!me.operator);
    assert_eq!(me.agent.unwrap().name, "ada");
    assert!(
        op.who_am_i(pb::WhoAmIRequest {})
            .await
            .unwrap()
            .into_inner()
            .operator
    );
    // Only the operator manages agents.
    let denied = ada
        .add_agent(pb::AddAgentRequest {
            name: "eve".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let dup = op
        .add_agent(pb::AddAgentRequest {
            name: "ADA".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let names: Vec<String> = op
        .list_agents(pb::ListAgentsRequest {})
        .await
        .unwrap()
        .into_inner()
        .agents
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["ada", "bola"]);

    start_chat(&td, ADA, "Ada", 100).await;
    td.fake().wait_for_sent(1, WAIT).await;
    ada.send_message(send(ADA, "Hello from Ada", false))
        .await
        .unwrap();
    op.send_message(send(ADA, "Operator here", false))
        .await
        .unwrap();
    let sent = td.fake().wait_for_sent(3, WAIT).await;
    // The user still sees the team, not the agent (show_agent_name is off by default).
    assert_eq!(
        bodies(&sent)[1..],
        [
            "🎧 Support Team: Hello from Ada",
            "🎧 Support Team: Operator here"
        ]
    );
    let conv = conversation(&mut bola, ADA).await;
    let agent_msgs: Vec<(String, String)> = conv
        .messages
        .iter()
        .filter(|m| m.sender == pb::Sender::Admin as i32)
        .map(|m| (m.text.clone(), m.agent_name.clone()))
        .collect();
    assert_eq!(
        agent_msgs,
        [
            ("Hello from Ada".to_string(), "ada".to_string()),
            ("Operator here".to_string(), String::new())
        ]
    );
    // Ada's reply claimed the unassigned chat; bola ends it only with an explicit takeover.
    assert_eq!(conv.summary.unwrap().assigned_agent, "ada");
    let refused = bola
        .end_chat(pb::EndChatRequest {
            phone_number: ADA.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let mut stream = op
        .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    next_event(&mut stream).await;
    bola.end_chat(pb::EndChatRequest {
        phone_number: ADA.into(),
        takeover: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let ended = loop {
        if let Some(Event::ChatEnded(e)) = next_event(&mut stream).await.event {
            break e;
        }
    };
    assert_eq!(
        (ended.ended_by.as_str(), ended.ended_by_agent.as_str()),
        ("admin", "bola")
    );
    let conv = conversation(&mut op, ADA).await;
    let closing = conv.messages.last().unwrap();
    assert_eq!(
        (closing.text.as_str(), closing.agent_name.as_str()),
        (
            "Thank you for contacting support. Chat session ended.",
            "bola"
        ),
        "the closing message is the ending agent's"
    );
    let s = conv.summary.unwrap();
    assert!(!s.chat_active);
    assert_eq!(s.assigned_agent, "", "assignment belongs to the chat");
    // Stored for analytics: agent_id on messages and on the session end (NULL = operator).
    let by = tests::sql_rows(
        &td.config().db,
        "SELECT m.text, a.name FROM messages m LEFT JOIN agents a ON a.id = m.agent_id
         WHERE m.sender = 'admin' ORDER BY m.id",
    )
    .await;
    assert_eq!(by[0], [Some("Hello from Ada".into()), Some("ada".into())]);
    assert_eq!(by[1], [Some("Operator here".into()), None]);
    let ended_by = tests::sql_rows(
        &td.config().db,
        "SELECT a.name FROM chat_sessions s LEFT JOIN agents a ON a.id = s.agent_id ORDER BY s.id",
    )
    .await;
    assert_eq!(ended_by, [[Some("bola".to_string())]]);
    td.shutdown().await;
}

#[tokio::test]
async fn conflicting_claims_one_wins_the_other_gets_failed_precondition() {
    let td = TestDaemon::start().await;
    let (_op, mut ada, mut bola) = desk(&td).await;
    start_chat(&td, ADA, "Ada", 100).await;
    td.fake().wait_for_sent(1, WAIT).await;
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            ada.claim_conversation(claim(ADA)),
            bola.claim_conversation(claim(ADA))
        );
        let (winner, loser) = match (a, b) {
            (Ok(w), Err(l)) => (w.into_inner(), l),
            (Err(l), Ok(w)) => (w.into_inner(), l),
            other => panic!("exactly one claim must win: {other:?}"),
        };
        assert_eq!(loser.code(), Code::FailedPrecondition);
        assert!(
            loser.message().contains(&winner.assigned_agent),
            "the loser is told who holds it: {}",
            loser.message()
        );
        // Reset for the next round (the holder unassigns).
        let holder = if winner.assigned_agent == "ada" {
            &mut ada
        } else {
            &mut bola
        };
        holder
            .assign_conversation(pb::AssignConversationRequest {
                phone_number: ADA.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // Claiming needs an active chat.
    let none = ada
        .claim_conversation(claim(CHIDI))
        .await
        .unwrap_err()
        .code();
    assert_eq!(none, Code::NotFound);
    td.shutdown().await;
}

#[tokio::test]
async fn sending_into_another_agents_chat_needs_a_takeover() {
    let td = TestDaemon::start().await;
    let (mut op, mut ada, mut bola) = desk(&td).await;
    start_chat(&td, ADA, "Ada", 100).await;
    td.fake().wait_for_sent(1, WAIT).await;
    ada.claim_conversation(claim(ADA)).await.unwrap();
    let refused = bola
        .send_message(send(ADA, "Let me help", false))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("ada"), "{}", refused.message());
    let s = bola
        .send_message(send(ADA, "Let me help", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.message_sent, "Let me help");
    let sent = td.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(bodies(&sent)[1], "🎧 Support Team: Let me help");
    assert_eq!(
        conversation(&mut op, ADA)
            .await
            .summary
            .unwrap()
            .assigned_agent,
        "bola"
    );
    // The operator's superuser token may send anywhere without taking the chat.
    op.send_message(send(ADA, "Operator note to user", false))
        .await
        .unwrap();
    let actions = audit_actions(&mut op, ADA).await;
    assert!(actions.contains(&("bola".into(), "takeover".into(), "from ada".into())));
    assert_eq!(
        conversation(&mut op, ADA)
            .await
            .summary
            .unwrap()
            .assigned_agent,
        "bola"
    );
    td.shutdown().await;
}

#[tokio::test]
async fn transfer_hands_over_with_a_private_note_and_lists_filter_by_assignee() {
    let td = TestDaemon::start().await;
    let (mut op, mut ada, mut bola) = desk(&td).await;
    start_chat(&td, ADA, "Ada", 100).await;
    start_chat(&td, CHIDI, "Chidi", 200).await;
    td.fake().wait_for_sent(2, WAIT).await;
    let mut stream = bola
        .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    next_event(&mut stream).await;
    ada.claim_conversation(claim(ADA)).await.unwrap();
    // A transfer needs a note.
    let no_note = ada
        .transfer_conversation(pb::TransferConversationRequest {
            phone_number: ADA.into(),
            agent: "bola".into(),
            note: " ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_note.code(), Code::InvalidArgument);
    let s = ada
        .transfer_conversation(pb::TransferConversationRequest {
            phone_number: ADA.into(),
            agent: "bola".into(),
            note: "Fees question, she paid twice".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.assigned_agent, "bola");
    // Bola's console sees the claim, the transfer and the note live.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match next_event(&mut stream).await.event {
            Some(Event::AssignmentChanged(a)) => {
                seen.push(format!("{} {} by {}", a.action, a.agent, a.by))
            }
            Some(Event::NoteAdded(n)) => seen.push(format!("note {}", n.note.unwrap().text)),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "claimed ada by ada",
            "transferred bola by ada",
            "note Transferred to bola: Fees question, she paid twice"
        ]
    );
    // Ada no longer holds it: she cannot transfer it back without a takeover.
    let not_hers = ada
        .transfer_conversation(pb::TransferConversationRequest {
            phone_number: ADA.into(),
            agent: "ada".into(),
            note: "back".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_hers.code(), Code::FailedPrecondition);
    let addresses = |v: Vec<pb::ConversationSummary>| -> Vec<String> {
        v.into_iter().map(|s| s.address).collect()
    };
    assert_eq!(
        addresses(list(&mut bola, pb::AssignmentFilter::Mine).await),
        [ADA]
    );
    assert!(list(&mut ada, pb::AssignmentFilter::Mine).await.is_empty());
    assert_eq!(
        addresses(list(&mut ada, pb::AssignmentFilter::Unassigned).await),
        [CHIDI]
    );
    assert_eq!(list(&mut op, pb::AssignmentFilter::All).await.len(), 2);
    // The operator assigns and unassigns anyone's chat.
    let s = op
        .assign_conversation(pb::AssignConversationRequest {
            phone_number: CHIDI.into(),
            agent: "ada".into(),
            note: "ada knows Chidi".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.assigned_agent, "ada");
    let unknown = op
        .assign_conversation(pb::AssignConversationRequest {
            phone_number: CHIDI.into(),
            agent: "nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    td.shutdown().await;
}

#[tokio::test]
async fn private_notes_are_shown_to_agents_and_never_reach_whatsapp() {
    let td = TestDaemon::start().await;
    let (mut op, mut ada, mut bola) = desk(&td).await;
    start_chat(&td, ADA, "Ada", 100).await;
    td.fake().wait_for_sent(1, WAIT).await;
    let note = ada
        .add_note(pb::AddNoteRequest {
            phone_number: ADA.into(),
            text: "SECRET: check her fee receipt first".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(note.agent_name, "ada");
    assert!(note.chat_session_id > 0);
    op.add_note(pb::AddNoteRequest {
        phone_number: ADA.into(),
        text: "operator note".into(),
    })
    .await
    .unwrap();
    let empty = ada
        .add_note(pb::AddNoteRequest {
            phone_number: ADA.into(),
            text: "  ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    // A reply after the notes: once it reached the fake, anything queued before it has too.
    ada.send_message(send(ADA, "Checking your receipt", false))
        .await
        .unwrap();
    let sent = td.fake().wait_for_exactly(2, WAIT).await;
    let all = serde_json::to_string(&sent).unwrap();
    assert!(!all.contains("SECRET"), "a note reached WhatsApp: {all}");
    assert!(!all.contains("operator note"));
    let conv = conversation(&mut bola, ADA).await;
    assert!(conv.messages.iter().all(|m| !m.text.contains("SECRET")));
    let notes: Vec<(String, String)> = conv
        .notes
        .iter()
        .map(|n| (n.agent_name.clone(), n.text.clone()))
        .collect();
    assert_eq!(
        notes,
        [
            (
                "ada".to_string(),
                "SECRET: check her fee receipt first".to_string()
            ),
            (String::new(), "operator note".to_string())
        ]
    );
    td.shutdown().await;
}

#[tokio::test]
async fn round_robin_gives_new_chats_to_the_least_recently_assigned_available_agent() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.desk.round_robin = true;
    })
    .await;
    let (mut op, mut ada, mut bola) = desk(&td).await;
    let cara = add_agent(&mut op, "cara", "").await;
    let mut cara = agent(&td, &cara).await;
    // Nobody available: the chat stays unassigned.
    start_chat(&td, ADA, "Ada", 100).await;
    let s = conversation(&mut op, ADA).await.summary.unwrap();
    assert_eq!(s.assigned_agent, "");
    for c in [&mut ada, &mut bola, &mut cara] {
        c.set_availability(pb::SetAvailabilityRequest { available: true })
            .await
            .unwrap();
    }
    // Cara goes away; the others alternate.
    cara.set_availability(pb::SetAvailabilityRequest { available: false })
        .await
        .unwrap();
    let mut got = Vec::new();
    for (i, phone) in [CHIDI, DAYO, "2348045678901", "2348056789012"]
        .iter()
        .enumerate()
    {
        start_chat(&td, phone, "User", 200 + i as i64).await;
        got.push(
            conversation(&mut op, phone)
                .await
                .summary
                .unwrap()
                .assigned_agent,
        );
    }
    assert_eq!(got, ["ada", "bola", "ada", "bola"]);
    // A disabled agent gets nothing; the operator cannot be "available".
    op.set_agent_enabled(pb::SetAgentEnabledRequest {
        name: "ada".into(),
        enabled: false,
    })
    .await
    .unwrap();
    start_chat(&td, "2348067890123", "User", 300).await;
    let s = conversation(&mut op, "2348067890123")
        .await
        .summary
        .unwrap();
    assert_eq!(s.assigned_agent, "bola");
    let code = op
        .set_availability(pb::SetAvailabilityRequest { available: true })
        .await
        .unwrap_err()
        .code();
    assert_eq!(code, Code::FailedPrecondition);
    let actions = audit_actions(&mut op, CHIDI).await;
    assert_eq!(
        actions[0],
        ("system".into(), "auto_assigned".into(), "ada".into())
    );
    td.shutdown().await;
}

#[tokio::test]
async fn canned_responses_expand_placeholders_for_the_contact_and_the_agent() {
    let td = TestDaemon::start().await;
    let (_op, mut ada, mut bola) = desk(&td).await;
    start_chat(&td, ADA, "Ada Okafor", 100).await;
    ada.put_canned_response(pb::PutCannedResponseRequest {
        shortcut: "/greet".into(),
        body: "Hi {name}, this is {agent} from support.".into(),
    })
    .await
    .unwrap();
    ada.put_canned_response(pb::PutCannedResponseRequest {
        shortcut: "bye".into(),
        body: "Goodbye {name}!".into(),
    })
    .await
    .unwrap();
    let bad = ada
        .put_canned_response(pb::PutCannedResponseRequest {
            shortcut: "two words".into(),
            body: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let all: Vec<String> = bola
        .list_canned_responses(pb::ListCannedResponsesRequest {})
        .await
        .unwrap()
        .into_inner()
        .responses
        .into_iter()
        .map(|c| c.shortcut)
        .collect();
    assert_eq!(all, ["bye", "greet"]);
    let expanded = bola
        .expand_canned_response(pb::ExpandCannedResponseRequest {
            shortcut: "greet".into(),
            phone_number: ADA.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .text;
    assert_eq!(expanded, "Hi Ada Okafor, this is Bola from support.");
    // Replacing keeps one entry; deleting removes it.
    bola.put_canned_response(pb::PutCannedResponseRequest {
        shortcut: "GREET".into(),
        body: "Hello {name}".into(),
    })
    .await
    .unwrap();
    let r = bola
        .list_canned_responses(pb::ListCannedResponsesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.responses.len(), 2);
    assert!(
        bola.delete_canned_response(pb::DeleteCannedResponseRequest {
            shortcut: "greet".into()
        })
        .await
        .unwrap()
        .into_inner()
        .deleted
    );
    let gone = bola
        .expand_canned_response(pb::ExpandCannedResponseRequest {
            shortcut: "greet".into(),
            phone_number: ADA.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    td.shutdown().await;
}

#[tokio::test]
async fn agent_first_names_reach_whatsapp_when_configured() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.desk.show_agent_name = true;
    })
    .await;
    let (mut op, mut ada, _bola) = desk(&td).await;
    start_chat(&td, ADA, "Ada", 100).await;
    td.fake().wait_for_sent(1, WAIT).await;
    ada.send_message(send(ADA, "Hi there", false))
        .await
        .unwrap();
    op.send_message(send(ADA, "From the operator", false))
        .await
        .unwrap();
    let sent = td.fake().wait_for_sent(3, WAIT).await;
    assert_eq!(
        bodies(&sent)[1..],
        ["🎧 Ada: Hi there", "🎧 Support Team: From the operator"]
    );
    // The history keeps what the agent wrote.
    let conv = conversation(&mut op, ADA).await;
    assert!(conv.messages.iter().any(|m| m.text == "Hi there"));
    td.shutdown().await;
}

#[tokio::test]
async fn urgent_keywords_raise_priority_and_active_chats_sort_by_priority_then_waiting() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, |c| {
        c.desk.urgent_keywords = vec!["exam".into(), "deadline".into()];
    })
    .await;
    let (mut op, mut ada, _bola) = desk(&td).await;
    start_chat(&td, ADA, "Ada", 100).await;
    start_chat(&td, CHIDI, "Chidi", 200).await;
    start_chat(&td, DAYO, "Dayo", 300).await;
    say(&td, ADA, "Ada", 110, "I can't log in").await;
    say(&td, CHIDI, "Chidi", 210, "I can't log in").await;
    say(&td, DAYO, "Dayo", 310, "My EXAM registration failed!").await;
    let order = |v: Vec<pb::ConversationSummary>| -> Vec<(String, i32)> {
        v.into_iter().map(|s| (s.address, s.priority)).collect()
    };
    let (n, h, u, l) = (
        pb::Priority::Normal as i32,
        pb::Priority::High as i32,
        pb::Priority::Urgent as i32,
        pb::Priority::Low as i32,
    );
    assert_eq!(
        order(list(&mut op, pb::AssignmentFilter::All).await),
        [(DAYO.into(), h), (ADA.into(), n), (CHIDI.into(), n)]
    );
    ada.set_priority(pb::SetPriorityRequest {
        phone_number: CHIDI.into(),
        priority: pb::Priority::Urgent as i32,
    })
    .await
    .unwrap();
    ada.set_priority(pb::SetPriorityRequest {
        phone_number: ADA.into(),
        priority: pb::Priority::Low as i32,
    })
    .await
    .unwrap();
    // A keyword never lowers a manual priority.
    say(&td, CHIDI, "Chidi", 220, "the deadline is today").await;
    assert_eq!(
        order(list(&mut op, pb::AssignmentFilter::All).await),
        [(CHIDI.into(), u), (DAYO.into(), h), (ADA.into(), l)]
    );
    // Paging walks the same order.
    let first = op
        .list_conversations(pb::ListConversationsRequest {
            active_only: true,
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let second = op
        .list_conversations(pb::ListConversationsRequest {
            active_only: true,
            page_size: 2,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.conversations.len(), 1);
    assert_eq!(second.conversations[0].address, ADA);
    let bad = ada
        .set_priority(pb::SetPriorityRequest {
            phone_number: ADA.into(),
            priority: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let actions = audit_actions(&mut op, DAYO).await;
    assert_eq!(
        actions,
        [("system".into(), "priority_raised".into(), "high".into())]
    );
    td.shutdown().await;
}

#[tokio::test]
async fn the_audit_trail_says_who_did_what_and_when() {
    let td = TestDaemon::start().await;
    let (mut op, mut ada, mut bola) = desk(&td).await;
    start_chat(&td, ADA, "Ada", 100).await;
    td.fake().wait_for_sent(1, WAIT).await;
    ada.claim_conversation(claim(ADA)).await.unwrap();
    ada.set_priority(pb::SetPriorityRequest {
        phone_number: ADA.into(),
        priority: pb::Priority::High as i32,
    })
    .await
    .unwrap();
    ada.add_note(pb::AddNoteRequest {
        phone_number: ADA.into(),
        text: "VIP".into(),
    })
    .await
    .unwrap();
    let sent = ada
        .send_message(send(ADA, "On it", false))
        .await
        .unwrap()
        .into_inner();
    ada.transfer_conversation(pb::TransferConversationRequest {
        phone_number: ADA.into(),
        agent: "bola".into(),
        note: "over to you".into(),
    })
    .await
    .unwrap();
    bola.end_chat(pb::EndChatRequest {
        phone_number: ADA.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let actions = audit_actions(&mut op, ADA).await;
    let want: Vec<(String, String, String)> = [
        ("ada", "claimed", String::new()),
        ("ada", "priority", "high".to_string()),
        ("ada", "note_added", "VIP".to_string()),
        (
            "ada",
            "message_sent",
            format!("message {}", sent.message_id),
        ),
        ("ada", "transferred", "to bola: over to you".to_string()),
        (
            "ada",
            "note_added",
            "Transferred to bola: over to you".to_string(),
        ),
        ("bola", "chat_ended", String::new()),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c))
    .collect();
    assert_eq!(actions, want);
    // Newest first, paged, with times.
    let page = op
        .list_audit(pb::ListAuditRequest {
            phone_number: ADA.into(),
            page_size: 2,
            before: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.entries[0].action, "chat_ended");
    assert!(page.entries[0].at.is_some());
    assert!(page.next_before > 0);
    let unknown = op
        .list_audit(pb::ListAuditRequest {
            phone_number: "2340000000000".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    td.shutdown().await;
}

#[tokio::test]
async fn disabled_agents_are_refused_and_rotated_tokens_replace_the_old_ones() {
    let td = TestDaemon::start().await;
    let mut op = client(&td).await;
    let token = add_agent(&mut op, "ada", "Ada").await;
    let mut ada = agent(&td, &token).await;
    start_chat(&td, ADA, "Ada", 100).await;
    ada.list_conversations(pb::ListConversationsRequest::default())
        .await
        .unwrap();
    op.set_agent_enabled(pb::SetAgentEnabledRequest {
        name: "ada".into(),
        enabled: false,
    })
    .await
    .unwrap();
    let refused = ada
        .send_message(send(ADA, "still here?", false))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(
        refused.message().contains("disabled"),
        "{}",
        refused.message()
    );
    let watch = ada
        .watch_chats(pb::WatchChatsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(watch.code(), Code::Unauthenticated);
    td.fake().wait_for_exactly(1, WAIT).await;
    // Enabled again, then a new token: the old one stops working at once.
    op.set_agent_enabled(pb::SetAgentEnabledRequest {
        name: "ada".into(),
        enabled: true,
    })
    .await
    .unwrap();
    ada.list_conversations(pb::ListConversationsRequest::default())
        .await
        .unwrap();
    let rotated = op
        .rotate_agent_token(pb::RotateAgentTokenRequest { name: "ada".into() })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.token, token);
    let old = ada
        .list_conversations(pb::ListConversationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(old.code(), Code::Unauthenticated);
    let mut fresh = agent(&td, &rotated.token).await;
    fresh
        .list_conversations(pb::ListConversationsRequest::default())
        .await
        .unwrap();
    let missing = op
        .rotate_agent_token(pb::RotateAgentTokenRequest {
            name: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // Tokens are stored hashed: the database never holds them.
    let hay = match &td.config().db {
        bot_daemon::storage::Location::Sqlite(db) => {
            let mut bytes = std::fs::read(db).unwrap();
            bytes.extend(std::fs::read(db.with_extension("db-wal")).unwrap_or_default());
            String::from_utf8_lossy(&bytes).into_owned()
        }
        // Every column of every agent, as text (the hash as hex).
        location => format!(
            "{:?}",
            tests::sql_rows(
                location,
                "SELECT a.*, encode(token_hash, 'escape') FROM agents a"
            )
            .await
        ),
    };
    assert!(!hay.contains(&rotated.token));
    assert!(!hay.contains(&token));
    td.shutdown().await;
}

/// `bot-daemon admin …` as parsed from a command line, run against `td`.
async fn cli(td: &TestDaemon, token: &str, words: &[&str]) -> anyhow::Result<()> {
    admin_command(td.config(), &td.grpc_url(), token, words).await
}

#[tokio::test]
async fn the_admin_command_line_manages_agents_and_drives_the_desk() {
    let td = TestDaemon::start().await;
    cli(
        &td,
        ADMIN_TOKEN,
        &["agents", "add", "ada", "--display-name", "Ada Obi"],
    )
    .await
    .unwrap();
    cli(&td, ADMIN_TOKEN, &["agents", "add", "bola"])
        .await
        .unwrap();
    let mut op = client(&td).await;
    let agents = op
        .list_agents(pb::ListAgentsRequest {})
        .await
        .unwrap()
        .into_inner()
        .agents;
    assert_eq!(agents.len(), 2);
    assert_eq!(agents[0].display_name, "Ada Obi");
    // Only the operator's token manages agents.
    let ada = op
        .rotate_agent_token(pb::RotateAgentTokenRequest { name: "ada".into() })
        .await
        .unwrap()
        .into_inner()
        .token;
    let refused = cli(&td, &ada, &["agents", "disable", "bola"])
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("PermissionDenied"),
        "{refused}"
    );
    start_chat(&td, ADA, "Ada", 100).await;
    for words in [
        &["claim", ADA][..],
        &["priority", ADA, "urgent"],
        &["note", ADA, "from the CLI"],
        &["canned", "add", "hi", "Hello {name}"],
        &["canned", "expand", "hi", ADA],
        &["transfer", ADA, "bola", "--note", "yours now"],
        &["audit", ADA],
        &["list", "--unassigned", "--json"],
        &["whoami"],
    ] {
        cli(&td, &ada, words)
            .await
            .unwrap_or_else(|e| panic!("admin {words:?}: {e}"));
    }
    let s = conversation(&mut op, ADA).await.summary.unwrap();
    assert_eq!(s.assigned_agent, "bola");
    assert_eq!(s.priority, pb::Priority::Urgent as i32);
    let bad = cli(&td, &ada, &["priority", ADA, "asap"])
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("low, normal, high or urgent"));
    cli(&td, ADMIN_TOKEN, &["agents", "disable", "ada"])
        .await
        .unwrap();
    let gone = cli(&td, &ada, &["list"]).await.unwrap_err();
    assert!(gone.to_string().contains("Unauthenticated"), "{gone}");
    td.shutdown().await;
}
