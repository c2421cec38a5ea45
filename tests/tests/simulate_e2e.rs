//! The simulator as a new user runs it: the seed's whole user journey against a running daemon,
//! with the replies it prints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bot_daemon::simulate::{exchange, SimulateArgs};
use tests::*;

fn args(td: &TestDaemon) -> SimulateArgs {
    SimulateArgs {
        from: Some("+234 801 234 5678".into()),
        user_id: None,
        name: "Ada".into(),
        username: None,
        button: None,
        list: None,
        media: Default::default(),
        url: Some(td.webhook_url()),
        text: None,
    }
}

#[tokio::test]
async fn simulate_walks_the_seed_journey_and_prints_every_reply() {
    let td = TestDaemon::start().await;
    let cfg = td.config().clone();

    let hello = exchange(
        &cfg,
        &SimulateArgs {
            text: Some("hello".into()),
            ..args(&td)
        },
    )
    .await
    .unwrap();
    assert_eq!(hello[0], "👤 Ada: hello");
    assert!(hello[1].starts_with("🤖 bot: Hi Ada! 👋"), "{hello:?}");
    assert!(
        hello[1].contains("[💬 Chat Support] (chat_support)"),
        "{hello:?}"
    );

    let start = exchange(
        &cfg,
        &SimulateArgs {
            button: Some("chat_support".into()),
            ..args(&td)
        },
    )
    .await
    .unwrap();
    assert_eq!(start[0], "👤 Ada: [tap] 💬 Chat Support");
    assert!(
        start[1].contains("You are now connected to our support team! 🎯"),
        "{start:?}"
    );
    assert!(start[1].ends_with("[❌ End Chat] (end_chat)"), "{start:?}");

    let msg = exchange(
        &cfg,
        &SimulateArgs {
            text: Some("I can't upload my homework".into()),
            ..args(&td)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        msg[1],
        format!(
            "🤖 bot: ✓ Your message has been sent to support...\n\n{}\n   [❌ End Chat] (end_chat)",
            tests::queue_line(1)
        )
    );

    let end = exchange(
        &cfg,
        &SimulateArgs {
            button: Some("end_chat".into()),
            ..args(&td)
        },
    )
    .await
    .unwrap();
    assert!(
        end[1].starts_with("🤖 bot: Thanks for chatting! Chat support session ended..."),
        "{end:?}"
    );
    assert!(end[1].contains("[📝 Register] (register)"), "{end:?}");

    // The fake Cloud API got the same four replies.
    let sent = td.fake().wait_for_sent(4, WAIT).await;
    assert_eq!(sent.len(), 4);

    // A username-only user, by BSUID alone.
    let uche = SimulateArgs {
        from: None,
        user_id: Some("NG.7730012245517790".into()),
        name: "Uche".into(),
        text: Some("support".into()),
        ..args(&td)
    };
    let out = exchange(&cfg, &uche).await.unwrap();
    assert!(out[1].contains("Hi Uche! 💬"), "{out:?}");

    // A wrong secret is refused with the daemon's reason.
    let mut bad = cfg.clone();
    bad.app_secret = Some("not-the-secret".into());
    let err = exchange(
        &bad,
        &SimulateArgs {
            text: Some("hi".into()),
            ..args(&td)
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
}
