//! Hostile and revoked clients of `WatchChats` over real gRPC (issue 13, items 6 and 7): a
//! stream's slot is freed when its client disconnects, even on a quiet desk where nothing is
//! sent; and disabling an agent or rotating its token ends that agent's open streams with
//! `UNAUTHENTICATED`, while the operator's and other agents' streams carry on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proto::v1 as pb;
use tests::*;
use tonic::{Code, Streaming};

const ADA: &str = "2348012345678";
const CHIDI: &str = "2348023456789";

/// The user at `phone` taps Chat Support.
async fn start_chat(td: &TestDaemon, phone: &str, name: &str, wamid: &str) {
    td.deliver(&chat_support_tap(phone, name, wamid, now_secs() - 60))
        .await;
}

/// The operator adds an agent; returns its token.
async fn add_agent(op: &mut Client, name: &str) -> String {
    op.add_agent(pb::AddAgentRequest {
        name: name.into(),
        display_name: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
    .token
}

async fn agent(td: &TestDaemon, token: &str) -> Client {
    client_with(td, Some(&format!("Bearer {token}"))).await
}

/// A stream from the start, its snapshot already read (so it is established on the server).
async fn watch(c: &mut Client) -> Streaming<pb::ChatEvent> {
    let mut s = c
        .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(WAIT, s.message())
        .await
        .expect("no snapshot within the wait")
        .unwrap()
        .unwrap();
    assert!(matches!(
        first.event,
        Some(pb::chat_event::Event::Snapshot(_))
    ));
    s
}

/// Reads `s` until an event mentions `phone`.
async fn until_mentioned(s: &mut Streaming<pb::ChatEvent>, phone: &str) {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = s.message().await.unwrap().expect("the stream ended");
            if format!("{e:?}").contains(phone) {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event about {phone} within the wait"));
}

/// The status `s` ends with. Events committed before the revocation (`before`, the newest
/// sequence then) may still be in flight; anything newer, or the stream staying open past the
/// wait, fails the test.
async fn ends_with(s: &mut Streaming<pb::ChatEvent>, before: i64) -> tonic::Status {
    loop {
        match tokio::time::timeout(WAIT, s.message()).await {
            Err(_) => panic!("the stream was still open after {WAIT:?}"),
            Ok(Ok(Some(e))) if e.sequence as i64 <= before => continue,
            Ok(Ok(Some(e))) => panic!("the stream delivered more after the revocation: {e:?}"),
            Ok(Ok(None)) => panic!("the stream ended without a status"),
            Ok(Err(status)) => return status,
        }
    }
}

#[tokio::test]
async fn watch_slots_are_freed_when_clients_disconnect_on_a_quiet_desk() {
    let td = TestDaemon::start().await;
    // More cycles than there are slots; nothing happens on the desk meanwhile, so no event is
    // ever sent that could reveal a departed client.
    let cycles = bot_daemon::grpc::MAX_SUBSCRIBERS + 44;
    for _ in 0..cycles {
        let mut c = client(&td).await;
        // The snapshot is read, so the server has nothing left to send to this client.
        let s = watch(&mut c).await;
        drop(s);
        drop(c);
    }
    // One client that keeps its connection and only drops streams (RST_STREAM, no FIN).
    let mut c = client(&td).await;
    for _ in 0..40 {
        drop(watch(&mut c).await);
    }
    let mut op = client(&td).await;
    let mut s = watch(&mut op).await;
    // And it is live: a new chat reaches it.
    start_chat(&td, ADA, "Ada", "wamid.Q1").await;
    until_mentioned(&mut s, ADA).await;
    td.shutdown().await;
}

#[tokio::test]
async fn disabling_an_agent_ends_its_open_streams_and_no_one_elses() {
    let td = TestDaemon::start().await;
    let mut op = client(&td).await;
    let ada_token = add_agent(&mut op, "ada").await;
    let bola_token = add_agent(&mut op, "bola").await;
    let mut ops_stream = watch(&mut op).await;
    let mut ada = agent(&td, &ada_token).await;
    let mut ada_stream = watch(&mut ada).await;
    let mut bola = agent(&td, &bola_token).await;
    let mut bola_stream = watch(&mut bola).await;
    let mut bola_second = watch(&mut agent(&td, &bola_token).await).await;
    // The command line's `admin watch` with bola's token, too.
    let url = td.grpc_url();
    let cfg = td.config().clone();
    let token = bola_token.clone();
    let cli_watch = tokio::spawn(async move { cli(&cfg, &url, &token, &["watch"]).await });
    // Everyone sees the first chat (so the CLI's stream is open too).
    start_chat(&td, ADA, "Ada", "wamid.D1").await;
    until_mentioned(&mut bola_stream, ADA).await;
    until_mentioned(&mut bola_second, ADA).await;
    until_mentioned(&mut ada_stream, ADA).await;
    until_mentioned(&mut ops_stream, ADA).await;

    // Nothing more in flight on the desk: every event from here on is after the revocation.
    td.wait_outbox_settled(WAIT).await;
    let (_, before) = td.store().event_bounds().await.unwrap();
    op.set_agent_enabled(pb::SetAgentEnabledRequest {
        name: "bola".into(),
        enabled: false,
    })
    .await
    .unwrap();
    for s in [&mut bola_stream, &mut bola_second] {
        let status = ends_with(s, before).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert!(
            status.message().contains("revoked") && status.message().contains("disabled"),
            "{}",
            status.message()
        );
    }
    let cli_end = tokio::time::timeout(WAIT, cli_watch)
        .await
        .expect("`admin watch` still running after the revocation")
        .unwrap()
        .expect_err("`admin watch` must fail (exit non-zero)");
    let text = cli_end.to_string();
    assert!(
        text.contains("Unauthenticated") && text.contains("revoked"),
        "{text}"
    );
    // The operator's and ada's streams carry on: the next chat reaches them.
    start_chat(&td, CHIDI, "Chidi", "wamid.D2").await;
    until_mentioned(&mut ada_stream, CHIDI).await;
    until_mentioned(&mut ops_stream, CHIDI).await;
    td.shutdown().await;
}

#[tokio::test]
async fn rotating_a_token_ends_the_streams_opened_with_the_old_one() {
    let td = TestDaemon::start().await;
    let mut op = client(&td).await;
    let ada_token = add_agent(&mut op, "ada").await;
    let bola_token = add_agent(&mut op, "bola").await;
    let mut ops_stream = watch(&mut op).await;
    let mut ada_stream = watch(&mut agent(&td, &ada_token).await).await;
    let mut old_stream = watch(&mut agent(&td, &bola_token).await).await;
    // Nothing more in flight on the desk: every event from here on is after the revocation.
    td.wait_outbox_settled(WAIT).await;
    let (_, before) = td.store().event_bounds().await.unwrap();
    let new_token = op
        .rotate_agent_token(pb::RotateAgentTokenRequest {
            name: "bola".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .token;
    let status = ends_with(&mut old_stream, before).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("revoked") && status.message().contains("replaced"),
        "{}",
        status.message()
    );
    // The new token streams; the others were never interrupted.
    let mut new_stream = watch(&mut agent(&td, &new_token).await).await;
    start_chat(&td, ADA, "Ada", "wamid.R1").await;
    until_mentioned(&mut new_stream, ADA).await;
    until_mentioned(&mut ada_stream, ADA).await;
    until_mentioned(&mut ops_stream, ADA).await;
    td.shutdown().await;
}

/// `bot-daemon admin …` as parsed from a command line.
async fn cli(
    cfg: &bot_daemon::config::Config,
    url: &str,
    token: &str,
    words: &[&str],
) -> anyhow::Result<()> {
    admin_command(cfg, url, token, words).await
}
