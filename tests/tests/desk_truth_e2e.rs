//! End-to-end tests of issue 14's desk items on the real listeners against the fake Cloud API:
//! the bot stops acknowledging a user's messages once an agent has replied in the chat (and a
//! setting brings the acknowledgements back).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::LazyLock;

use bot_daemon::conversation::texts;
use proto::v1 as pb;
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
