//! End-to-end tests of the foundation: signed webhooks in over real HTTP, the conversation state
//! machine and the store, and the Cloud API JSON out to a fake server — the seed's test cases
//! 1, 2 and 4, identities (BSUID/phone/username-only), batches, duplicates, refusals, restarts,
//! delivery statuses and retries.

// Tests stop at the first failed expectation; unwrap/expect/panic are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::OnceLock, time::Duration};

use bot_daemon::domain::{DeliveryStatus, Sender, State};
use serde_json::{json, Value};
use tests::{
    batch, button_from, fixture_bytes, fixture_json, fixture_names, phone, sign, status_item,
    statuses_webhook, text_from, user, username_only_text, with_status_ids, TestDaemon, WAIT,
};

// Ada: a lead with a phone number and a BSUID (the fixtures' Ada).
const ADA_PHONE: &str = "2348011111111";
const ADA_BSUID: &str = "NG.1046844022273087";

/// Unix seconds `n` seconds after a base ten minutes before the tests started: recent, so the
/// user is inside WhatsApp's 24-hour window (the fixtures' own January 2026 times are not).
fn t(n: i64) -> i64 {
    static BASE: OnceLock<i64> = OnceLock::new();
    *BASE.get_or_init(|| tests::now_secs() - 600) + n
}

const WELCOME_LINES: &[&str] = &[
    "📞 Live Chat Support",
    "You are now connected to our support team! 🎯",
    "Please describe your issue and an admin will respond to you shortly.",
    "You can continue chatting until you select 'End Chat' to return to the main menu.",
];
/// The seed's acknowledgement, then (issue 9) the queue line while no agent has answered: Ada
/// alone in the queue.
const ACK: &str = concat!(
    "✓ Your message has been sent to support...",
    "\n\n⏳ You are number 1 in the queue. Estimated wait: a few minutes."
);
/// The seed's acknowledgement alone: once an agent has answered there is no queue line.
const SEED_ACK: &str = "✓ Your message has been sent to support...";
const ENDED: &str = "Thanks for chatting! Chat support session ended...";

fn end_chat_button() -> Value {
    json!({"type": "reply", "reply": {"id": "end_chat", "title": "❌ End Chat"}})
}

fn lead_menu_buttons() -> Value {
    json!([
        {"type": "reply", "reply": {"id": "chat_support", "title": "💬 Chat Support"}},
        {"type": "reply", "reply": {"id": "faq", "title": "📚 FAQ"}},
        {"type": "reply", "reply": {"id": "register", "title": "📝 Register"}},
    ])
}

fn student_menu_buttons() -> Value {
    json!([
        {"type": "reply", "reply": {"id": "chat_support", "title": "💬 Chat Support"}},
        {"type": "reply", "reply": {"id": "faq", "title": "📚 FAQ"}},
    ])
}

/// The exact Cloud API body of reply buttons to a phone number.
fn buttons_to(phone_digits: &str, body: &str, buttons: Value) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": format!("+{phone_digits}"),
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {"buttons": buttons}
        }
    })
}

/// The seed's welcome, then (issue 9) the queue line: first in the queue.
fn welcome_text(name: &str) -> String {
    format!(
        "Hi {name}! 💬\n\n{}\n\n{}",
        WELCOME_LINES.join("\n\n"),
        tests::queue_line(1)
    )
}

fn body_text(sent: &Value) -> &str {
    sent["interactive"]["body"]["text"]
        .as_str()
        .or(sent["text"]["body"].as_str())
        .unwrap_or_else(|| panic!("no body text in {sent}"))
}

fn is_welcome(sent: &Value) -> bool {
    body_text(sent).contains("You are now connected to our support team!")
}

/// Ada taps "💬 Chat Support" (wamid suffix `n`, time `t(n)`).
fn ada_taps(n: i64, id: &str, title: &str) -> Value {
    button_from(
        ADA_PHONE,
        Some(ADA_BSUID),
        "Ada",
        &format!("wamid.ADA{n}"),
        t(n),
        id,
        title,
    )
}

/// Ada sends a text (wamid suffix `n`, time `t(n)`).
fn ada_says(n: i64, body: &str) -> Value {
    text_from(
        ADA_PHONE,
        Some(ADA_BSUID),
        "Ada",
        &format!("wamid.ADA{n}"),
        t(n),
        body,
    )
}

/// Starts a chat for Ada with the Chat Support button and waits for the welcome.
async fn start_chat(d: &TestDaemon) {
    d.deliver(&ada_taps(1, "chat_support", "💬 Chat Support"))
        .await;
    let sent = d.fake().wait_for_sent(1, WAIT).await;
    assert!(
        is_welcome(&sent[0]),
        "expected the welcome, got {}",
        sent[0]
    );
}

// ---------------------------------------------------------------------------------------------
// The seed's test cases.

#[tokio::test]
async fn seed_case_1_chat_support_button_sends_exactly_the_welcome() {
    let d = TestDaemon::start().await;
    let answer = d
        .deliver(&ada_taps(1, "chat_support", "💬 Chat Support"))
        .await;
    assert_eq!(answer["applied"], 1, "{answer}");

    let sent = d.fake().wait_for_exactly(1, WAIT).await;
    let welcome = &sent[0];
    assert_eq!(
        *welcome,
        buttons_to(ADA_PHONE, &welcome_text("Ada"), json!([end_chat_button()]))
    );
    let text = body_text(welcome);
    assert!(text.starts_with("Hi Ada! 💬"), "{text}");
    for line in WELCOME_LINES {
        assert!(text.contains(line), "welcome lacks {line:?}: {text}");
    }
    let buttons = welcome["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap();
    assert_eq!(buttons, &vec![end_chat_button()]);

    // The request itself: the right path and bearer token.
    let requests = d.fake().message_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].path,
        format!("/{}/messages", tests::PHONE_NUMBER_ID)
    );
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer test-token")
    );

    let summary = d.find(phone(ADA_PHONE)).await.expect("Ada is stored");
    assert_eq!(summary.state, State::ChatSupportActive);
    assert!(summary.chat_active);
    assert!(summary.chat_session_id.is_some());
    assert_eq!(summary.user_id.as_deref(), Some(ADA_BSUID));
    let (by_bsuid, messages) = d.conversation(user(ADA_BSUID)).await;
    assert_eq!(by_bsuid.contact_id, summary.contact_id);
    assert_eq!(by_bsuid.state, State::ChatSupportActive);
    // The tap and the welcome, both in the chat session.
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert_eq!(messages[0].sender, Sender::User);
    assert_eq!(messages[0].wamid.as_deref(), Some("wamid.ADA1"));
    assert_eq!(messages[1].sender, Sender::Bot);
    assert_eq!(messages[1].text, welcome_text("Ada"));
    for m in &messages {
        assert_eq!(m.session_id, summary.chat_session_id);
    }
}

#[tokio::test]
async fn seed_case_2_message_in_chat_is_stored_and_acknowledged() {
    let d = TestDaemon::start().await;
    start_chat(&d).await;
    d.deliver(&ada_says(2, "I need help")).await;

    let sent = d.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(
        sent[1],
        buttons_to(ADA_PHONE, ACK, json!([end_chat_button()]))
    );

    let (summary, messages) = d.wait_for_thread(phone(ADA_PHONE), 4, WAIT).await;
    assert_eq!(summary.state, State::ChatSupportActive);
    assert!(summary.chat_active);
    let session = summary.chat_session_id.expect("an open chat session");
    let help = messages
        .iter()
        .find(|m| m.text == "I need help")
        .expect("the user's message is stored");
    assert_eq!(help.sender, Sender::User);
    assert_eq!(help.session_id, Some(session));
    assert_eq!(help.kind, "text");
    assert_eq!(help.status, DeliveryStatus::Received);
    assert_eq!(help.timestamp, t(2) * 1000);
    let ack = messages.last().unwrap();
    assert_eq!((ack.sender, ack.text.as_str()), (Sender::Bot, ACK));
    assert_eq!(ack.session_id, Some(session));
}

#[tokio::test]
async fn seed_case_4_end_chat_button_returns_a_lead_to_idle_with_the_menu() {
    let d = TestDaemon::start().await;
    start_chat(&d).await;
    d.deliver(&ada_says(2, "I need help")).await;
    d.fake().wait_for_sent(2, WAIT).await;
    d.deliver(&ada_taps(3, "end_chat", "❌ End Chat")).await;

    let sent = d.fake().wait_for_exactly(3, WAIT).await;
    assert_eq!(sent[2], buttons_to(ADA_PHONE, ENDED, lead_menu_buttons()));

    let (summary, messages) = d.wait_for_thread(phone(ADA_PHONE), 6, WAIT).await;
    assert_eq!(summary.state, State::Idle);
    assert!(!summary.chat_active);
    // History is preserved: the whole chat is still there, in order.
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "💬 Chat Support",
            welcome_text("Ada").as_str(),
            "I need help",
            ACK,
            "❌ End Chat",
            ENDED
        ]
    );
}

#[tokio::test]
async fn seed_case_4_a_student_registered_through_the_bot_returns_to_registered() {
    let d = TestDaemon::start().await;
    d.deliver(&ada_taps(1, "register", "📝 Register")).await;
    d.fake().wait_for_sent(1, WAIT).await;
    d.deliver(&ada_says(2, "Ada Lovelace")).await;
    let sent = d.fake().wait_for_sent(2, WAIT).await;
    assert!(
        body_text(&sent[1]).contains("You are now registered as a student"),
        "{}",
        sent[1]
    );
    d.deliver(&ada_taps(3, "chat_support", "💬 Chat Support"))
        .await;
    let sent = d.fake().wait_for_sent(3, WAIT).await;
    assert_eq!(
        sent[2],
        buttons_to(
            ADA_PHONE,
            &welcome_text("Ada Lovelace"),
            json!([end_chat_button()])
        )
    );
    d.deliver(&ada_taps(4, "end_chat", "❌ End Chat")).await;

    let sent = d.fake().wait_for_exactly(4, WAIT).await;
    assert_eq!(
        sent[3],
        buttons_to(ADA_PHONE, ENDED, student_menu_buttons())
    );
    let (summary, _) = d.wait_for_thread(phone(ADA_PHONE), 8, WAIT).await;
    assert_eq!(summary.state, State::Registered);
    assert!(!summary.chat_active);
}

#[tokio::test]
async fn seed_case_4_an_imported_student_returns_to_registered() {
    let d = TestDaemon::start().await;
    let (created, updated) = d
        .engine()
        .import_students(vec![(ADA_PHONE.to_string(), "Ada Obi".to_string())])
        .await
        .unwrap();
    assert_eq!((created, updated), (1, 0));
    assert_eq!(
        d.find(phone(ADA_PHONE)).await.unwrap().state,
        State::Registered
    );

    d.deliver(&ada_taps(1, "chat_support", "💬 Chat Support"))
        .await;
    let sent = d.fake().wait_for_sent(1, WAIT).await;
    assert_eq!(body_text(&sent[0]), welcome_text("Ada Obi"));
    d.deliver(&ada_taps(2, "end_chat", "❌ End Chat")).await;
    let sent = d.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(
        sent[1],
        buttons_to(ADA_PHONE, ENDED, student_menu_buttons())
    );

    // The imported contact (phone only) got the BSUID linked from the webhook: one contact.
    let summary = d.find(user(ADA_BSUID)).await.expect("found by BSUID");
    assert_eq!(summary.state, State::Registered);
    assert_eq!(summary.phone.as_deref(), Some(ADA_PHONE));
    assert_eq!(d.conversations().await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Keywords.

#[tokio::test]
async fn support_keyword_starts_a_chat_and_a_sentence_with_done_does_not_end_it() {
    let d = TestDaemon::start().await;
    d.deliver(&ada_says(1, "I need to talk to someone")).await;
    let sent = d.fake().wait_for_sent(1, WAIT).await;
    assert_eq!(
        sent[0],
        buttons_to(ADA_PHONE, &welcome_text("Ada"), json!([end_chat_button()]))
    );

    d.deliver(&ada_says(2, "I'm done uploading but it failed"))
        .await;
    let sent = d.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(body_text(&sent[1]), ACK);
    assert!(sent.iter().all(|s| body_text(s) != ENDED));
    let summary = d.find(phone(ADA_PHONE)).await.unwrap();
    assert_eq!(summary.state, State::ChatSupportActive);
    assert!(summary.chat_active);

    // The whole-message keyword does end it.
    d.deliver(&ada_says(3, "Done!")).await;
    let sent = d.fake().wait_for_exactly(3, WAIT).await;
    assert_eq!(sent[2], buttons_to(ADA_PHONE, ENDED, lead_menu_buttons()));
    let (summary, _) = d.wait_for_thread(phone(ADA_PHONE), 6, WAIT).await;
    assert_eq!(summary.state, State::Idle);
}

// ---------------------------------------------------------------------------------------------
// Identities.

#[tokio::test]
async fn username_only_user_is_answered_by_bsuid_and_found_again_by_it() {
    const UCHE: &str = "NG.7730012245517790";
    let d = TestDaemon::start().await;
    let response = d.post_fixture("username_only_user").await;
    assert_eq!(response.status(), 200);

    let sent = d.fake().wait_for_sent(1, WAIT).await;
    let welcome = &sent[0];
    assert_eq!(welcome["recipient"], UCHE, "{welcome}");
    assert!(welcome.get("to").is_none(), "{welcome}");
    assert_eq!(body_text(welcome), welcome_text("Uche"));
    assert_eq!(
        welcome["interactive"]["action"]["buttons"],
        json!([end_chat_button()])
    );

    // Later message carrying only the BSUID finds the same contact, still in the chat.
    d.deliver(&username_only_text(
        UCHE,
        "uche.k",
        "Uche",
        "wamid.UCHE2",
        t(200),
        "my portal is locked",
    ))
    .await;
    let sent = d.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(sent[1]["recipient"], UCHE);
    assert_eq!(body_text(&sent[1]), ACK);

    let conversations = d.conversations().await;
    assert_eq!(conversations.len(), 1, "{conversations:#?}");
    let (summary, messages) = d.wait_for_thread(user(UCHE), 4, WAIT).await;
    assert_eq!(summary.state, State::ChatSupportActive);
    assert_eq!(summary.phone, None);
    assert_eq!(summary.username.as_deref(), Some("uche.k"));
    let user_texts: Vec<&str> = messages
        .iter()
        .filter(|m| m.sender == Sender::User)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(user_texts, vec!["I need support", "my portal is locked"]);
}

#[tokio::test]
async fn phone_only_then_phone_and_bsuid_is_one_contact_found_by_either() {
    const PHONE: &str = "2348044444444";
    const BSUID: &str = "NG.4040404040404040";
    let d = TestDaemon::start().await;
    d.deliver(&text_from(PHONE, None, "Chidi", "wamid.C1", t(0), "hello"))
        .await;
    let sent = d.fake().wait_for_sent(1, WAIT).await;
    assert_eq!(sent[0]["to"], format!("+{PHONE}"));
    let before = d.find(phone(PHONE)).await.expect("stored by phone");
    assert_eq!(before.user_id, None);

    d.deliver(&text_from(
        PHONE,
        Some(BSUID),
        "Chidi",
        "wamid.C2",
        t(1),
        "support",
    ))
    .await;
    let sent = d.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(sent[1]["to"], format!("+{PHONE}"));
    assert!(is_welcome(&sent[1]));

    let by_phone = d.find(phone(PHONE)).await.unwrap();
    let by_bsuid = d.find(user(BSUID)).await.expect("found by the BSUID too");
    assert_eq!(by_phone.contact_id, before.contact_id);
    assert_eq!(by_bsuid.contact_id, before.contact_id);
    assert_eq!(by_bsuid.user_id.as_deref(), Some(BSUID));
    assert_eq!(d.conversations().await.len(), 1);
    let (_, messages) = d.wait_for_thread(user(BSUID), 4, WAIT).await;
    assert_eq!(messages.len(), 4);
}

// ---------------------------------------------------------------------------------------------
// Batches.

#[tokio::test]
async fn batch_of_two_users_is_handled_whole() {
    const BEN_PHONE: &str = "2348022222222";
    let d = TestDaemon::start().await;
    let answer: Value = d
        .post_fixture("batch_two_users")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["applied"], 3, "{answer}");

    let sent = d.fake().wait_for_exactly(3, WAIT).await;
    let to_ada: Vec<&Value> = sent
        .iter()
        .filter(|s| s["to"] == format!("+{ADA_PHONE}"))
        .collect();
    let to_ben: Vec<&Value> = sent
        .iter()
        .filter(|s| s["to"] == format!("+{BEN_PHONE}"))
        .collect();
    assert_eq!(to_ada.len(), 2, "{sent:#?}");
    assert_eq!(body_text(to_ada[0]), welcome_text("Ada Obi"));
    assert_eq!(body_text(to_ada[1]), ACK);
    assert_eq!(to_ben.len(), 1);
    assert!(
        body_text(to_ben[0]).starts_with("Hi Ben Eze! 👋"),
        "{}",
        to_ben[0]
    );

    let (ada, messages) = d.wait_for_thread(phone(ADA_PHONE), 4, WAIT).await;
    assert_eq!(ada.state, State::ChatSupportActive);
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "support",
            welcome_text("Ada Obi").as_str(),
            "are you there?",
            ACK
        ]
    );
    let ben = d.find(phone(BEN_PHONE)).await.expect("Ben is stored");
    assert_eq!(ben.user_id.as_deref(), Some("NG.5512098765432101"));
    assert_eq!(ben.state, State::Idle);
    assert_eq!(d.conversations().await.len(), 2);
}

#[tokio::test]
async fn batch_applies_a_users_messages_in_timestamp_order_whatever_the_document_order() {
    let d = TestDaemon::start().await;
    // The later message comes first in the body.
    d.deliver(&batch(&[
        ada_says(5, "are you there?"),
        ada_says(1, "support"),
    ]))
    .await;
    let sent = d.fake().wait_for_exactly(2, WAIT).await;
    assert!(is_welcome(&sent[0]), "{}", sent[0]);
    assert_eq!(body_text(&sent[1]), ACK);
    let (_, messages) = d.wait_for_thread(phone(ADA_PHONE), 4, WAIT).await;
    let user_texts: Vec<&str> = messages
        .iter()
        .filter(|m| m.sender == Sender::User)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(user_texts, vec!["support", "are you there?"]);
}

// ---------------------------------------------------------------------------------------------
// Every fixture.

#[tokio::test]
async fn every_fixture_is_accepted_and_media_is_stored_as_placeholders() {
    let d = TestDaemon::start().await;
    d.deliver(&ada_says(1, "support")).await;
    d.fake().wait_for_sent(1, WAIT).await;

    // An image in the chat: stored as a placeholder with its media id, acknowledged.
    let response = d.post_fixture("image").await;
    assert_eq!(response.status(), 200);
    let sent = d.fake().wait_for_sent(2, WAIT).await;
    assert_eq!(
        sent[1],
        buttons_to(ADA_PHONE, ACK, json!([end_chat_button()]))
    );
    let (summary, messages) = d.wait_for_thread(user(ADA_BSUID), 4, WAIT).await;
    let image = messages
        .iter()
        .find(|m| m.kind == "image")
        .expect("the image is stored");
    assert_eq!(image.text, "[image] this is the error I get");
    assert_eq!(image.media_id.as_deref(), Some("1479537139650973"));
    assert_eq!(image.sender, Sender::User);
    assert_eq!(image.session_id, summary.chat_session_id);
    assert!(summary.chat_session_id.is_some());

    // Every other fixture, byte for byte; the number change last (it moves Ada's phone).
    let mut names = fixture_names();
    names.retain(|n| n != "image");
    names.sort_by_key(|n| n.starts_with("system_"));
    for name in &names {
        let response = d.post_fixture(name).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "fixture {name}: {status} {text}");
    }

    let expected = [
        (
            "document",
            "[document] assignment-3.pdf: my submission",
            Some("1021876543210987"),
        ),
        ("audio", "[voice note]", Some("1215481412617286")),
        ("sticker", "[sticker]", Some("1623402911234567")),
        (
            "location",
            "[location] Main campus, 12 School Road, Lagos (6.5244, 3.3792)",
            None,
        ),
        ("reaction", "[reaction] 👍", None),
        ("unsupported", "[unsupported message]", None),
    ];
    let (summary, messages) = d
        .wait_for_thread(user(ADA_BSUID), 4 + expected.len(), WAIT)
        .await;
    for (kind, text, media_id) in expected {
        let m = messages
            .iter()
            .find(|m| m.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} message stored: {messages:#?}"));
        assert_eq!(m.text, text, "{kind}");
        assert_eq!(m.media_id.as_deref(), media_id, "{kind}");
    }
    // The number change moved Ada to her new phone; the BSUID still finds her.
    assert_eq!(summary.phone.as_deref(), Some("2348033333333"));
    assert_eq!(d.find(phone(ADA_PHONE)).await, None);
    // Ben (from the batch) and Uche (username only) are contacts of their own.
    let ben = d.find(phone("2348022222222")).await.expect("Ben is stored");
    let uche = d
        .find(user("NG.7730012245517790"))
        .await
        .expect("Uche is stored");
    let ids = [summary.contact_id, ben.contact_id, uche.contact_id];
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals.

#[tokio::test]
async fn tampered_or_missing_signature_is_refused_and_nothing_is_stored() {
    let d = TestDaemon::start().await;
    let body = ada_says(1, "support").to_string();
    let signature = sign(body.as_bytes());
    let tampered = body.replace("support", "suppport");

    let response = d.post_with_signature(tampered.clone(), &signature).await;
    assert_eq!(response.status(), 401);
    let response = d.post_unsigned(body.clone()).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap_or("").contains("missing"),
        "{error}"
    );
    let wrong_secret = bot_daemon::webhook::sign(b"another-secret", body.as_bytes());
    let response = d.post_with_signature(body.clone(), &wrong_secret).await;
    assert_eq!(response.status(), 401);
    let response = d.post_with_signature(body, "sha256=nothex").await;
    assert_eq!(response.status(), 401);

    assert_eq!(d.find(phone(ADA_PHONE)).await, None);
    assert_eq!(d.find(user(ADA_BSUID)).await, None);
    assert!(d.conversations().await.is_empty());
    d.fake().assert_nothing_sent().await;
}

#[tokio::test]
async fn wrong_content_type_is_415_and_malformed_json_is_400_with_a_reason() {
    let d = TestDaemon::start().await;
    let body = ada_says(1, "support").to_string();
    let signature = sign(body.as_bytes());
    let response = d
        .post_webhook(body.clone(), Some("text/plain"), Some(&signature))
        .await;
    assert_eq!(response.status(), 415);
    let response = d.post_webhook(body.clone(), None, Some(&signature)).await;
    assert_eq!(response.status(), 415);

    // Not JSON at all.
    let response = d.post_signed(&body.as_bytes()[..body.len() - 5]).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let reason = error["error"].as_str().unwrap_or_default();
    assert!(reason.contains("invalid JSON"), "{error}");

    // JSON, but a message without an id: the reason names where.
    let mut no_id = ada_says(2, "support");
    no_id["entry"][0]["changes"][0]["value"]["messages"][0]
        .as_object_mut()
        .unwrap()
        .remove("id");
    let response = d.post_json(&no_id).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let reason = error["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("messages[0]") && reason.contains("\"id\""),
        "{error}"
    );

    // Wrong top-level object.
    let response = d
        .post_signed(r#"{"object":"page","entry":[]}"#.as_bytes().to_vec())
        .await;
    assert_eq!(response.status(), 400);

    assert!(d.conversations().await.is_empty());
    d.fake().assert_nothing_sent().await;
}

#[tokio::test]
async fn body_over_one_mebibyte_is_413() {
    let d = TestDaemon::start().await;
    let big = "x".repeat(1024 * 1024 + 1);
    let body = ada_says(1, &big).to_string();
    let response = d.post_signed(body).await;
    assert_eq!(response.status(), 413);
    assert!(d.conversations().await.is_empty());

    // The daemon is still fine afterwards.
    d.deliver(&ada_says(2, "support")).await;
    d.fake().wait_for_exactly(1, WAIT).await;
}

// ---------------------------------------------------------------------------------------------
// Duplicates.

#[tokio::test]
async fn duplicate_deliveries_change_nothing() {
    let d = TestDaemon::start().await;
    let first = ada_says(1, "support");
    let answer = d.deliver(&first).await;
    assert_eq!(
        (answer["applied"].as_i64(), answer["duplicates"].as_i64()),
        (Some(1), Some(0))
    );
    d.fake().wait_for_sent(1, WAIT).await;

    // The same body again.
    let answer = d.deliver(&first).await;
    assert_eq!(
        (answer["applied"].as_i64(), answer["duplicates"].as_i64()),
        (Some(0), Some(1))
    );

    // The same wamid inside a different batch, beside a new message.
    let answer = d
        .deliver(&batch(&[ada_says(2, "hello?"), first.clone()]))
        .await;
    assert_eq!(
        (answer["applied"].as_i64(), answer["duplicates"].as_i64()),
        (Some(1), Some(1))
    );

    let sent = d.fake().wait_for_exactly(2, WAIT).await;
    assert!(is_welcome(&sent[0]));
    assert_eq!(body_text(&sent[1]), ACK);
    d.wait_outbox_settled(WAIT).await;
    tokio::time::sleep(tests::SETTLE).await;
    let (summary, messages) = d.conversation(phone(ADA_PHONE)).await;
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        vec!["support", welcome_text("Ada").as_str(), "hello?", ACK]
    );
    assert_eq!(summary.message_count, 4);
    assert_eq!(d.fake().sent().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Restart.

#[tokio::test]
async fn restart_mid_chat_keeps_the_chat_and_its_history() {
    let d = TestDaemon::start().await;
    start_chat(&d).await;
    d.deliver(&ada_says(2, "first question")).await;
    d.fake().wait_for_sent(2, WAIT).await;
    d.wait_outbox_settled(WAIT).await;
    let (before, _) = d.wait_for_thread(phone(ADA_PHONE), 4, WAIT).await;
    let session = before.chat_session_id.expect("a chat session");

    let d = d.restart().await;
    // Still in the chat: no welcome (and, the ack being seconds old, no second ack either).
    d.deliver(&ada_says(3, "still there?")).await;
    d.wait_outbox_settled(WAIT).await;
    d.fake().wait_for_exactly(2, WAIT).await;
    let (after, _) = d.wait_for_thread(phone(ADA_PHONE), 5, WAIT).await;
    assert_eq!(after.state, State::ChatSupportActive);
    assert!(after.chat_active);
    assert_eq!(after.chat_session_id, Some(session));
    assert_eq!(after.contact_id, before.contact_id);

    // The restarted daemon sends: an agent's answer, then the user's next message is
    // acknowledged as a chat message.
    d.engine()
        .agent_send(phone(ADA_PHONE), "Let me check".to_string(), None)
        .await
        .expect("the agent's message is accepted");
    d.fake().wait_for_sent(3, WAIT).await;
    d.deliver(&ada_says(4, "thanks")).await;
    let sent = d.fake().wait_for_exactly(4, WAIT).await;
    assert_eq!(body_text(&sent[2]), "🎧 Support Team: Let me check");
    assert_eq!(
        sent[3],
        buttons_to(ADA_PHONE, SEED_ACK, json!([end_chat_button()])),
        "after the restart the chat goes on: an acknowledgement, not a welcome"
    );

    let (after, messages) = d.wait_for_thread(phone(ADA_PHONE), 8, WAIT).await;
    assert_eq!(after.state, State::ChatSupportActive);
    assert_eq!(after.chat_session_id, Some(session));
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "💬 Chat Support",
            welcome_text("Ada").as_str(),
            "first question",
            ACK,
            "still there?",
            "Let me check",
            "thanks",
            SEED_ACK
        ]
    );
    assert!(messages.windows(2).all(|w| w[0].id < w[1].id));
    assert!(messages.iter().all(|m| m.session_id == Some(session)));
    d.shutdown().await;
}

#[tokio::test]
async fn consecutive_chat_messages_get_one_acknowledgement_until_something_is_sent() {
    let d = TestDaemon::start().await;
    start_chat(&d).await;
    d.deliver(&ada_says(2, "my homework upload fails")).await;
    d.deliver(&ada_says(3, "it says error 413")).await;
    d.deliver(&ada_says(4, "on the portal")).await;
    let sent = d.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(body_text(&sent[1]), ACK);
    let (summary, messages) = d.wait_for_thread(phone(ADA_PHONE), 5, WAIT).await;
    let user_texts: Vec<&str> = messages
        .iter()
        .filter(|m| m.sender == Sender::User && m.session_id == summary.chat_session_id)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        user_texts,
        vec![
            "💬 Chat Support",
            "my homework upload fails",
            "it says error 413",
            "on the portal"
        ]
    );
    // Every user message of the session so far, the tap included, waits for an agent.
    assert_eq!(summary.unread_count, 4, "{summary:?}");

    // An agent answers; the user's next message is acknowledged again.
    d.engine()
        .agent_send(phone(ADA_PHONE), "How can I help?".to_string(), None)
        .await
        .expect("the agent's message is accepted");
    let sent = d.fake().wait_for_sent(3, WAIT).await;
    assert_eq!(
        sent[2],
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": format!("+{ADA_PHONE}"),
            "type": "text",
            "text": {"preview_url": false, "body": "🎧 Support Team: How can I help?"}
        })
    );
    d.deliver(&ada_says(5, "the upload button")).await;
    let sent = d.fake().wait_for_exactly(4, WAIT).await;
    assert_eq!(body_text(&sent[3]), SEED_ACK);
}

// ---------------------------------------------------------------------------------------------
// Handshake, health, readiness, metrics.

#[tokio::test]
async fn verification_handshake_answers_the_challenge_only_for_the_right_token() {
    let d = TestDaemon::start().await;
    let response = d
        .get("/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-me")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "1158201444");

    let response = d
        .get("/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong")
        .await;
    assert_eq!(response.status(), 403);
    let response = d
        .get("/webhook?hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=verify-me")
        .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let d = TestDaemon::start().await;
    assert_eq!(d.get("/healthz").await.status(), 200);
    assert_eq!(d.get("/readyz").await.status(), 200);

    start_chat(&d).await;
    let response = d.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("chat_support_webhook_requests_total{status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "chat_support_active_chats 1"),
        "{text}"
    );

    d.deliver(&ada_taps(2, "end_chat", "❌ End Chat")).await;
    d.fake().wait_for_sent(2, WAIT).await;
    let text = d.get("/metrics").await.text().await.unwrap();
    assert!(
        text.lines().any(|l| l == "chat_support_active_chats 0"),
        "{text}"
    );
    assert!(
        text.contains("chat_support_webhook_requests_total{status=\"200\"} 2"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Delivery statuses.

#[tokio::test]
async fn delivery_statuses_move_forward_only() {
    let d = TestDaemon::start().await;
    start_chat(&d).await;
    let wamid = d.fake().accepted_ids()[0].clone();
    d.wait_for_status(phone(ADA_PHONE), &wamid, DeliveryStatus::Sent, WAIT)
        .await;

    // The fixture's "delivered" alone, then its "read" alone, then a stale "delivered".
    let fixture = with_status_ids(fixture_json("statuses_delivered_read"), &wamid);
    let statuses = fixture["entry"][0]["changes"][0]["value"]["statuses"]
        .as_array()
        .unwrap()
        .clone();
    let contacts = fixture["entry"][0]["changes"][0]["value"]["contacts"]
        .as_array()
        .unwrap()
        .clone();
    let delivered = statuses_webhook(contacts.clone(), vec![statuses[0].clone()]);
    let read = statuses_webhook(contacts.clone(), vec![statuses[1].clone()]);

    let answer = d.deliver(&delivered).await;
    assert_eq!(answer["statuses"], 1, "{answer}");
    d.wait_for_status(phone(ADA_PHONE), &wamid, DeliveryStatus::Delivered, WAIT)
        .await;
    d.deliver(&read).await;
    d.wait_for_status(phone(ADA_PHONE), &wamid, DeliveryStatus::Read, WAIT)
        .await;
    // A stale "delivered" after "read" is accepted but moves nothing back.
    d.deliver(&delivered).await;
    let (_, messages) = d.conversation(phone(ADA_PHONE)).await;
    let welcome = messages
        .iter()
        .find(|m| m.wamid.as_deref() == Some(wamid.as_str()))
        .unwrap();
    assert_eq!(welcome.status, DeliveryStatus::Read);

    // The whole fixture (delivered then read in one body) for a second message.
    d.deliver(&ada_says(2, "hello")).await;
    d.fake().wait_for_sent(2, WAIT).await;
    let ack_wamid = d.fake().accepted_ids()[1].clone();
    d.wait_for_status(phone(ADA_PHONE), &ack_wamid, DeliveryStatus::Sent, WAIT)
        .await;
    let answer = d
        .deliver(&with_status_ids(
            fixture_json("statuses_delivered_read"),
            &ack_wamid,
        ))
        .await;
    assert_eq!(answer["statuses"], 2, "{answer}");
    d.wait_for_status(phone(ADA_PHONE), &ack_wamid, DeliveryStatus::Read, WAIT)
        .await;

    // A failed status without contacts records Meta's error (on the closing message: a third
    // chat message seconds after an ack would not be acknowledged again).
    d.deliver(&ada_taps(3, "end_chat", "❌ End Chat")).await;
    d.fake().wait_for_sent(3, WAIT).await;
    let third = d.fake().accepted_ids()[2].clone();
    d.wait_for_status(phone(ADA_PHONE), &third, DeliveryStatus::Sent, WAIT)
        .await;
    d.deliver(&with_status_ids(
        fixture_json("status_failed_outside_window"),
        &third,
    ))
    .await;
    let failed = d
        .wait_for_status(phone(ADA_PHONE), &third, DeliveryStatus::Failed, WAIT)
        .await;
    assert_eq!(failed.error_code, Some(131047));
    assert!(
        failed
            .error_message
            .as_deref()
            .unwrap_or("")
            .contains("More than 24 hours"),
        "{failed:?}"
    );

    // Statuses for messages nobody sent are accepted and ignored.
    let unknown = statuses_webhook(
        vec![],
        vec![status_item(
            "wamid.UNKNOWN",
            "read",
            t(0),
            Some(ADA_PHONE),
            None,
        )],
    );
    let answer = d.deliver(&unknown).await;
    assert_eq!(answer["statuses"], 0, "{answer}");
}

// ---------------------------------------------------------------------------------------------
// Retries.

#[tokio::test]
async fn a_dead_cloud_api_is_retried_until_the_message_goes_out_once() {
    let d = TestDaemon::start().await;
    let error = json!({"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2}});
    d.fake().fail_next(2, 500, error);
    d.deliver(&ada_taps(1, "chat_support", "💬 Chat Support"))
        .await;

    let sent = d.fake().wait_for_exactly(1, WAIT).await;
    assert!(is_welcome(&sent[0]), "{}", sent[0]);
    let requests = d.fake().message_requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 500, 200], "{requests:#?}");
    assert!(requests.iter().all(|r| r.body == sent[0]));
    // Backoff: the first retry after about 1 s, the second after about 2 s (each with up to
    // 25% jitter; the upper bounds leave room for a busy machine).
    let gap1 = requests[1].at - requests[0].at;
    let gap2 = requests[2].at - requests[1].at;
    assert!(
        gap1 >= Duration::from_millis(900) && gap1 <= Duration::from_millis(2_000),
        "first retry after {gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(1_800) && gap2 <= Duration::from_millis(4_000),
        "second retry after {gap2:?}"
    );

    let wamid = d.fake().accepted_ids()[0].clone();
    let welcome = d
        .wait_for_status(phone(ADA_PHONE), &wamid, DeliveryStatus::Sent, WAIT)
        .await;
    assert_eq!(welcome.sender, Sender::Bot);
    d.wait_outbox_settled(WAIT).await;
}

#[tokio::test]
async fn fixtures_are_signed_over_their_exact_bytes() {
    // The support library signs what it sends; a re-serialised body would differ from the
    // fixture's bytes (pretty-printed, non-ASCII), so check the daemon accepts the raw bytes.
    let d = TestDaemon::start().await;
    let raw = fixture_bytes("text");
    assert_ne!(raw, fixture_json("text").to_string().into_bytes());
    let response = d.post_signed(raw).await;
    assert_eq!(response.status(), 200);
    let sent = d.fake().wait_for_exactly(1, WAIT).await;
    assert!(
        body_text(&sent[0]).starts_with("Hi Ada Obi! 👋"),
        "{}",
        sent[0]
    );
}

// ---------------------------------------------------------------------------------------------
// Known daemon bugs: these state the expected behaviour and are ignored until the daemon is
// fixed (run them with `cargo test -p tests -- --ignored`).

#[tokio::test]
async fn number_change_onto_a_phone_only_contacts_number_is_not_a_poison_delivery() {
    let d = TestDaemon::start().await;
    // An imported student already holds the number Ada moves to (phone only, no BSUID).
    d.engine()
        .import_students(vec![(
            "2348033333333".to_string(),
            "Someone Else".to_string(),
        )])
        .await
        .unwrap();
    d.deliver(&ada_says(1, "hello")).await;
    let response = d.post_fixture("system_user_changed_number").await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(
        status, 200,
        "Meta would redeliver this body for 7 days: {text}"
    );
}

#[tokio::test]
async fn a_message_to_another_business_number_is_acknowledged_but_neither_stored_nor_answered() {
    let d = TestDaemon::start().await;
    // The same app can be subscribed for several numbers; this daemon serves only its own.
    let mut other = ada_says(1, "hello");
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] =
        json!("999999999999999");
    let answer = d.deliver(&other).await;
    assert_eq!(answer["applied"], 0, "{answer}");
    assert_eq!(answer["other_number"], 1, "{answer}");
    // Our own number in the same batch shape is served as usual.
    let answer = d.deliver(&ada_says(2, "hello")).await;
    assert_eq!(answer["applied"], 1, "{answer}");
    let sent = d.fake().wait_for_exactly(1, WAIT).await;
    assert_eq!(sent[0]["to"], json!(format!("+{ADA_PHONE}")), "{sent:?}");
    let summary = d.find(phone(ADA_PHONE)).await.expect("Ada is stored");
    assert_eq!(
        summary.message_count, 2,
        "hello and the menu only: {summary:?}"
    );
}
