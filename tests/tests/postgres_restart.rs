//! PostgreSQL restarting under a running daemon (issue 16), in a test binary of its own (it
//! stops this binary's cluster): while the server is down, readiness is red and webhooks are
//! answered 503 so Meta retries; once it is back, the daemon reconnects by itself, readiness is
//! green again, the retried webhooks are taken, and nothing acknowledged before is lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bot_daemon::domain::Sender;
use bot_daemon::storage::Location;
use tests::{
    chat_support_tap, eventually, phone, test_config, text_from, FakeCloudApi, TestDaemon,
};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgresql_restarts_webhooks_get_503_and_nothing_acknowledged_is_lost() {
    let Some(url) = tests::pg::database("restart").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeCloudApi::start().await;
    let mut config = test_config(&dir.path().join("unused.db"), &fake);
    config.db = Location::Postgres {
        url,
        secrets: dir.path().join("secrets"),
    };
    let td = TestDaemon::start_config(fake.clone(), config, None).await;
    let user = "2348050000001";
    let tap = chat_support_tap(user, "Ada", "wamid.R.TAP", 1_000);
    assert_eq!(td.post_acknowledged(&tap).await.status(), 200);
    let before = text_from(user, None, "Ada", "wamid.R.1", 1_001, "before the restart");
    assert_eq!(td.post_acknowledged(&before).await.status(), 200);

    tests::pg::stop_server();
    // Readiness turns red, and a webhook is refused with 503 (Meta retries it later).
    let why = eventually("readiness red", WAIT, || async {
        let r = td.get("/readyz").await;
        (r.status() == 503).then_some(())?;
        Some(r.text().await.unwrap_or_default())
    })
    .await;
    assert!(why.contains("database"), "says why: {why}");
    let during = text_from(user, None, "Ada", "wamid.R.2", 1_002, "during the restart");
    let refused = eventually("the webhook refused", WAIT, || async {
        let r = td.post_acknowledged(&during).await;
        let status = r.status().as_u16();
        (status != 200).then_some((status, r.text().await.unwrap_or_default()))
    })
    .await;
    assert_eq!(refused.0, 503, "503 so Meta retries: {}", refused.1);

    tests::pg::start_server();
    eventually("readiness green again", WAIT, || async {
        (td.get("/readyz").await.status() == 200).then_some(())
    })
    .await;
    // Meta's retry is taken now.
    eventually("the retried webhook taken", WAIT, || async {
        (td.post_acknowledged(&during).await.status() == 200).then_some(())
    })
    .await;
    let after = text_from(user, None, "Ada", "wamid.R.3", 1_003, "after the restart");
    assert_eq!(td.post_acknowledged(&after).await.status(), 200);
    let texts = eventually("every message stored", WAIT, || async {
        let (_, thread, _) = td
            .store()
            .get_conversation(phone(user), 100, 0)
            .await
            .ok()?;
        let texts: Vec<String> = thread
            .iter()
            .filter(|m| m.sender == Sender::User)
            .map(|m| m.text.clone())
            .collect();
        (texts.len() >= 4).then_some(texts)
    })
    .await;
    assert_eq!(
        texts,
        [
            "💬 Chat Support",
            "before the restart",
            "during the restart",
            "after the restart"
        ],
        "once each, in order"
    );
    // The replies owed went out once the server was back.
    td.wait_outbox_settled(WAIT).await;
    assert!(!fake.sent().is_empty(), "the chat's replies were sent");
    td.shutdown().await;
}
