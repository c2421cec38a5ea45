//! Two daemons on one PostgreSQL desk (issue 16), in one process on loopback: webhooks split
//! between them, with every delivery sent again to the *other* daemon as Meta may redeliver;
//! each message stored once and in its user's order, whichever daemon leads; the leader's
//! replies sent once; and a leader that stops hands the desk over to the other daemon.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bot_daemon::domain::Sender;
use bot_daemon::storage::Location;
use tests::{
    chat_support_tap, eventually, phone, test_config, text_from, FakeCloudApi, TestDaemon,
};

const WAIT: Duration = Duration::from_secs(30);

async fn two_daemons(
    test: &str,
) -> Option<(FakeCloudApi, TestDaemon, TestDaemon, tempfile::TempDir)> {
    let url = tests::pg::database(test).await?;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeCloudApi::start().await;
    let mut daemons = Vec::new();
    for name in ["a", "b"] {
        let mut config = test_config(&dir.path().join(format!("{name}.db")), &fake);
        config.db = Location::Postgres {
            url: url.clone(),
            secrets: dir.path().join(name),
        };
        daemons.push(TestDaemon::start_config(fake.clone(), config, None).await);
    }
    let b = daemons.pop().unwrap();
    let a = daemons.pop().unwrap();
    Some((fake, a, b, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_split_across_two_daemons_with_redeliveries_are_stored_once_in_order() {
    let Some((fake, a, b, _dir)) = two_daemons("two_daemons_split").await else {
        return;
    };
    const USERS: usize = 12;
    const MESSAGES: usize = 5;
    let number = |u: usize| format!("23480300{u:05}");
    // Each user opens a chat, then writes; every body goes to one daemon and again to the other.
    for u in 0..USERS {
        let tap = chat_support_tap(&number(u), "User", &format!("wamid.TAP.{u}"), 1_000);
        let (first, again) = if u % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(first.post_acknowledged(&tap).await.status(), 200);
        assert_eq!(again.post_acknowledged(&tap).await.status(), 200);
    }
    for k in 0..MESSAGES {
        for u in 0..USERS {
            let body = text_from(
                &number(u),
                None,
                "User",
                &format!("wamid.M.{u}.{k}"),
                1_001 + k as i64,
                &format!("message {k}"),
            );
            let (first, again) = if (u + k) % 2 == 0 { (&a, &b) } else { (&b, &a) };
            assert_eq!(first.post_acknowledged(&body).await.status(), 200);
            assert_eq!(again.post_acknowledged(&body).await.status(), 200);
        }
    }
    // Both daemons read the same desk: every user's messages once, in order, on either.
    for u in 0..USERS {
        for td in [&a, &b] {
            let from_user = eventually("every message of the user stored", WAIT, || async {
                let (_, thread, _) = td
                    .store()
                    .get_conversation(phone(&number(u)), 100, 0)
                    .await
                    .ok()?;
                let texts: Vec<String> = thread
                    .iter()
                    .filter(|m| m.sender == Sender::User)
                    .map(|m| m.text.clone())
                    .collect();
                (texts.len() > MESSAGES).then_some(texts)
            })
            .await;
            let want: Vec<String> = std::iter::once("💬 Chat Support".to_string())
                .chain((0..MESSAGES).map(|k| format!("message {k}")))
                .collect();
            assert_eq!(from_user, want, "user {u}: once each, in order");
        }
    }
    // Replies go out once, whichever daemon received the webhook: no body sent twice.
    let sent = fake.wait_for_sent(USERS, WAIT).await;
    let mut seen = std::collections::HashSet::new();
    for m in &sent {
        let mut body = m.clone();
        body.as_object_mut()
            .map(|o| o.remove("biz_opaque_callback_data"));
        assert!(seen.insert(body.to_string()), "sent twice: {m}");
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_stops_the_other_daemon_takes_the_desk_over() {
    let Some((_fake, a, b, _dir)) = two_daemons("two_daemons_failover").await else {
        return;
    };
    let leader_is = |td: &TestDaemon| td.store().is_leader();
    eventually("one daemon leads", WAIT, || async {
        (leader_is(&a) != leader_is(&b)).then_some(())
    })
    .await;
    let (leader, other) = if leader_is(&a) { (a, b) } else { (b, a) };
    leader.shutdown().await;
    eventually("the other daemon leads", WAIT, || async {
        leader_is(&other).then_some(())
    })
    .await;
    // It processes what it is given (nobody else would).
    let tap = chat_support_tap("2348030099999", "Late", "wamid.LATE", 2_000);
    assert_eq!(other.post_acknowledged(&tap).await.status(), 200);
    eventually(
        "the late chat processed by the new leader",
        WAIT,
        || async {
            other
                .conversations()
                .await
                .iter()
                .any(|s| s.chat_active)
                .then_some(())
        },
    )
    .await;
    other.shutdown().await;
}
