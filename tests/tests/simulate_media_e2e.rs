//! The simulator sends what a phone sends: images, documents, voice notes and locations in the
//! Cloud API's webhook shapes (stored as the daemon stores the real ones), and list picks with
//! the row title the bot sent, so a CSAT pick reads as the stars in the thread, not `csat_4`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bot_daemon::{
    config::Config,
    simulate::{exchange, MediaArgs, SimulateArgs},
};
use tests::*;

const ADA: &str = "2348012345678";
const WAIT: Duration = Duration::from_secs(30);

fn ada(td: &TestDaemon) -> SimulateArgs {
    SimulateArgs {
        from: Some(ADA.into()),
        name: "Ada".into(),
        url: Some(td.webhook_url()),
        ..SimulateArgs::default()
    }
}

#[tokio::test]
async fn simulated_media_lands_in_the_chat_as_real_media_does() {
    let td = TestDaemon::start().await;
    let cfg = td.config().clone();
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("error.png");
    std::fs::write(&photo, b"\x89PNG fake bytes").unwrap();
    let pdf = dir.path().join("assignment-3.pdf");
    std::fs::write(&pdf, b"%PDF-1.4 homework").unwrap();
    let voice = dir.path().join("question.ogg");
    std::fs::write(&voice, b"OggS voice").unwrap();

    let start = SimulateArgs {
        button: Some("chat_support".into()),
        ..ada(&td)
    };
    exchange(&cfg, &start).await.unwrap();

    let image = exchange(
        &cfg,
        &SimulateArgs {
            media: MediaArgs {
                image: Some(photo),
                ..MediaArgs::default()
            },
            text: Some("this is the error I get".into()),
            ..ada(&td)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        image[0],
        "👤 Ada: [image] error.png (image/png, 15 B): this is the error I get"
    );
    assert!(image[1].starts_with("🤖 bot: ✓ Your message"), "{image:?}");
    for (media, line) in [
        (
            MediaArgs {
                document: Some(pdf),
                ..MediaArgs::default()
            },
            "👤 Ada: [document] assignment-3.pdf (application/pdf, 17 B)",
        ),
        (
            MediaArgs {
                voice: Some(voice),
                ..MediaArgs::default()
            },
            "👤 Ada: [voice note] question.ogg (audio/ogg; codecs=opus, 10 B)",
        ),
        (
            MediaArgs {
                location: Some("6.5244,3.3792,Main campus, gate 2".into()),
                ..MediaArgs::default()
            },
            "👤 Ada: [location] 6.5244, 3.3792 Main campus, gate 2",
        ),
    ] {
        let out = exchange(&cfg, &SimulateArgs { media, ..ada(&td) })
            .await
            .unwrap();
        assert_eq!(out[0], line);
    }

    let (_, thread) = td.wait_for_thread(phone(ADA), 5, WAIT).await;
    let user: Vec<(&str, &str)> = thread
        .iter()
        .filter(|m| m.sender == bot_daemon::domain::Sender::User)
        .map(|m| (m.kind.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        user,
        [
            ("interactive", "💬 Chat Support"),
            ("image", "[image] this is the error I get"),
            ("document", "[document] assignment-3.pdf"),
            ("audio", "[voice note]"),
            (
                "location",
                "[location] Main campus, gate 2 (6.5244, 3.3792)"
            ),
        ]
    );
    // Each medium arrived with a media id, as the Cloud API sends one.
    for m in &thread[..] {
        if matches!(m.kind.as_str(), "image" | "document" | "audio") {
            assert!(
                m.media_id.as_deref().is_some_and(|id| !id.is_empty()),
                "{m:?}"
            );
        }
    }
}

fn with_csat(cfg: &mut Config) {
    cfg.bot.csat = true;
}

#[tokio::test]
async fn a_csat_pick_carries_the_title_the_bot_sent() {
    let td = TestDaemon::start_with(FakeCloudApi::start().await, with_csat).await;
    let cfg = td.config().clone();
    exchange(
        &cfg,
        &SimulateArgs {
            button: Some("chat_support".into()),
            ..ada(&td)
        },
    )
    .await
    .unwrap();
    let end = exchange(
        &cfg,
        &SimulateArgs {
            button: Some("end_chat".into()),
            ..ada(&td)
        },
    )
    .await
    .unwrap();
    assert!(end.join("\n").contains("(csat_4)"), "{end:?}");

    let rated = exchange(
        &cfg,
        &SimulateArgs {
            list: Some("csat_4".into()),
            ..ada(&td)
        },
    )
    .await
    .unwrap();
    assert_eq!(rated[0], "👤 Ada: [pick] ⭐⭐⭐⭐ 4");
    let (_, thread) = td.wait_for_thread(phone(ADA), 1, WAIT).await;
    let texts: Vec<&str> = thread.iter().map(|m| m.text.as_str()).collect();
    assert!(texts.contains(&"⭐⭐⭐⭐ 4"), "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains("csat_4")), "{texts:?}");

    // A row the bot never offered is refused before anything is sent.
    let err = exchange(
        &cfg,
        &SimulateArgs {
            list: Some("faq_99".into()),
            ..ada(&td)
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("faq_99"), "{err:#}");
}
