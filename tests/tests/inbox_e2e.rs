//! The durable inbox (issue 15) over the real listeners: a poison delivery is parked after its
//! attempts and never holds up the others; the operator sees it (`GetInbox`, `admin inbox`,
//! metrics) and retries or drops it; each user's order is kept under concurrent load. (Across
//! `kill -9`: `bot-daemon/tests/inbox_crash.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bot_daemon::inbox::InboxStatus;
use proto::v1 as pb;
use tests::*;

const ADA: &str = "2348012345678";
const BEN: &str = "2348087654321";

/// `bot-daemon admin …` as parsed from a command line, run against `td`.
async fn cli(td: &TestDaemon, words: &[&str]) -> anyhow::Result<()> {
    admin_command(td.config(), &td.grpc_url(), ADMIN_TOKEN, words).await
}

/// Posts `payload` and returns its inbox id, without waiting for processing.
async fn acknowledged(td: &TestDaemon, payload: &serde_json::Value) -> i64 {
    let r = td.post_acknowledged(payload).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    v["inbox_id"].as_i64().expect("an inbox id")
}

async fn parked(td: &TestDaemon, id: i64) -> String {
    eventually("the delivery is parked", WAIT, || async {
        match td.daemon().inbox().status(id) {
            InboxStatus::Parked { error } => Some(error),
            _ => None,
        }
    })
    .await
}

#[tokio::test]
async fn a_poison_delivery_is_parked_without_holding_up_the_others_and_can_be_retried() {
    let td = TestDaemon::start().await;
    let base = now_secs() - 600;
    // Processing Ada's delivery fails every time (a defect only it triggers).
    td.engine().fail_deliveries_with(Some("wamid.POISON"));
    let poison = acknowledged(
        &td,
        &text_from(ADA, None, "Ada", "wamid.POISON", base, "support"),
    )
    .await;
    // Ben's delivery, acknowledged after it, is processed once the poison is set aside.
    let ben = td
        .deliver(&text_from(
            BEN,
            None,
            "Ben",
            "wamid.BEN1",
            base + 1,
            "support",
        ))
        .await;
    assert_eq!(ben["applied"], 1, "{ben}");
    let error = parked(&td, poison).await;
    assert!(error.contains("failpoint"), "{error}");
    let sent = td.fake().wait_for_exactly(1, WAIT).await;
    assert_eq!(sent[0]["to"], format!("+{BEN}"), "only Ben was answered");
    assert!(
        td.find(phone(ADA)).await.is_none(),
        "nothing of Ada's delivery is stored"
    );

    // The operator sees it: metrics, GetInbox, and `admin inbox`.
    assert_eq!(td.metric("chat_support_inbox_parked_total").await, 1.0);
    assert_eq!(td.metric("chat_support_inbox_parked").await, 1.0);
    assert_eq!(td.metric("chat_support_inbox_pending").await, 0.0);
    let mut c = client(&td).await;
    let inbox = c
        .get_inbox(pb::GetInboxRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inbox.parked_total, 1);
    assert_eq!(inbox.parked[0].inbox_id, poison);
    assert_eq!(inbox.parked[0].attempts, bot_daemon::engine::PARK_AFTER);
    assert!(inbox.parked[0].error.contains("failpoint"));
    assert!(inbox.parked[0].size_bytes > 100);
    assert!(inbox.processed_through >= poison);
    cli(&td, &["inbox"]).await.unwrap();
    let state = c
        .get_inbox_delivery(pb::GetInboxDeliveryRequest {
            inbox_id: poison,
            wait_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state(), pb::InboxState::Parked);

    // While the defect is there, a retry fails and the delivery stays parked.
    let err = cli(&td, &["inbox", "retry", &poison.to_string()])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("stays parked"), "{err:#}");
    // Fixed: the retry goes through, once.
    td.engine().fail_deliveries_with(None);
    cli(&td, &["inbox", "retry", &poison.to_string()])
        .await
        .unwrap();
    let (_, thread) = td.conversation(phone(ADA)).await;
    assert_eq!(
        thread.iter().filter(|m| m.text == "support").count(),
        1,
        "{thread:?}"
    );
    let sent = td.fake().wait_for_exactly(2, WAIT).await;
    assert_eq!(sent[1]["to"], format!("+{ADA}"));
    let inbox = c
        .get_inbox(pb::GetInboxRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inbox.parked_total, 0);
    let again = c
        .retry_parked_delivery(pb::RetryParkedDeliveryRequest { inbox_id: poison })
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::NotFound, "{again:?}");

    // A delivery that is dropped instead is never processed.
    td.engine().fail_deliveries_with(Some("wamid.POISON2"));
    let second = acknowledged(
        &td,
        &text_from(
            "2348011111111",
            None,
            "Cy",
            "wamid.POISON2",
            base + 2,
            "support",
        ),
    )
    .await;
    parked(&td, second).await;
    td.engine().fail_deliveries_with(None);
    cli(&td, &["inbox", "drop", &second.to_string()])
        .await
        .unwrap();
    assert!(td.find(phone("2348011111111")).await.is_none());
    assert_eq!(td.metric("chat_support_inbox_parked").await, 0.0);
    let gone = cli(&td, &["inbox", "drop", &second.to_string()])
        .await
        .unwrap_err();
    assert!(
        format!("{gone:#}").contains("no parked delivery"),
        "{gone:#}"
    );
    td.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_users_order_is_kept_under_concurrent_load() {
    const USERS: usize = 16;
    const MESSAGES: usize = 12;
    let td = std::sync::Arc::new(TestDaemon::start().await);
    let base = now_secs() - 3600;
    let runs: Vec<_> = (0..USERS)
        .map(|u| {
            let td = td.clone();
            tokio::spawn(async move {
                let phone_digits = format!("23480200{u:05}");
                let mut last = 0;
                for k in 0..MESSAGES {
                    let text = if k == 0 {
                        "support".to_string()
                    } else {
                        format!("message {k} of user {u}")
                    };
                    let payload = text_from(
                        &phone_digits,
                        None,
                        "User",
                        &format!("wamid.ORDER.{u}.{k}"),
                        base + k as i64,
                        &text,
                    );
                    last = acknowledged(&td, &payload).await;
                }
                last
            })
        })
        .collect();
    let mut last = 0;
    for r in runs {
        last = last.max(tokio::time::timeout(WAIT * 3, r).await.unwrap().unwrap());
    }
    // Everything acknowledged is processed.
    let status = td.daemon().inbox().wait(last, WAIT * 3).await;
    assert!(
        matches!(status, InboxStatus::Applied { .. }),
        "the last delivery: {status:?}"
    );
    eventually("the inbox is empty", WAIT, || async {
        (td.metric("chat_support_inbox_pending").await == 0.0).then_some(())
    })
    .await;
    for u in 0..USERS {
        let (_, thread) = td.conversation(phone(&format!("23480200{u:05}"))).await;
        let inbound: Vec<String> = thread
            .iter()
            .filter(|m| m.sender == bot_daemon::domain::Sender::User)
            .map(|m| m.text.clone())
            .collect();
        let expected: Vec<String> = (0..MESSAGES)
            .map(|k| {
                if k == 0 {
                    "support".to_string()
                } else {
                    format!("message {k} of user {u}")
                }
            })
            .collect();
        assert_eq!(inbound, expected, "user {u}'s messages in the order sent");
    }
    assert_eq!(
        td.metric("chat_support_inbox_processed_total").await,
        (USERS * MESSAGES) as f64
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
