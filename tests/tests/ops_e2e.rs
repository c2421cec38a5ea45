//! Operations: an online backup taken while the daemon serves, and a full disk (a size cap on
//! the database, which fails writes exactly as a full disk does): webhooks get 503 so Meta
//! retries, readiness goes red, nothing is half-written, and service resumes by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tests::*;

const ADA: &str = "2348012345678";

#[tokio::test]
async fn a_backup_taken_while_serving_holds_every_committed_message() {
    let td = TestDaemon::start().await;
    let base = now_secs() - 600;
    td.deliver(&text_from(ADA, None, "Ada", "wamid.B1", base, "support"))
        .await;
    // Keep webhooks flowing while the backup runs.
    let writer = {
        let url = td.webhook_url();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..40 {
                let p = text_from(
                    &format!("23480100{i:05}"),
                    None,
                    "Crowd",
                    &format!("wamid.BW{i}"),
                    base + i,
                    "hello",
                );
                let body = serde_json::to_vec(&p).unwrap();
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sign(&body))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("backup.db");
    let (db, d) = (td.db_path().to_path_buf(), dest.clone());
    let pages = tokio::task::spawn_blocking(move || bot_daemon::storage::backup(&db, &d))
        .await
        .unwrap()
        .unwrap();
    assert!(pages > 0);
    writer.await.unwrap();
    // Refuses to overwrite.
    let (db, d) = (td.db_path().to_path_buf(), dest.clone());
    assert!(
        tokio::task::spawn_blocking(move || bot_daemon::storage::backup(&db, &d))
            .await
            .unwrap()
            .is_err()
    );

    // Restore: open the copy as a daemon's database. Every message committed before the backup
    // began is there, and what the copy holds is a consistent prefix of the live database.
    let restored = bot_daemon::storage::Store::open(&dest).unwrap();
    let (_, thread, _) = restored.get_conversation(phone(ADA), 100, 0).await.unwrap();
    assert_eq!(thread.first().map(|m| m.text.as_str()), Some("support"));
    let copy = restored
        .list_conversations(bot_daemon::storage::ListQuery {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    let live = td.conversations().await;
    assert!(copy.items.len() <= live.len() && !copy.items.is_empty());
    for s in &copy.items {
        let l = live
            .iter()
            .find(|x| x.contact_id == s.contact_id)
            .expect("a contact in the copy is live");
        assert!(s.message_count <= l.message_count);
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_turns_readiness_red_and_recovers_by_itself() {
    let td = TestDaemon::start().await;
    let base = now_secs() - 600;
    td.deliver(&text_from(ADA, None, "Ada", "wamid.F1", base, "support"))
        .await;
    td.fake().wait_for_sent(1, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    assert_eq!(td.get("/readyz").await.status(), 200);
    let (_, before) = td.conversation(phone(ADA)).await;

    // The disk fills up: no room beyond what the file holds now.
    td.store().set_size_limit(Some(0)).await.unwrap();
    // A new user's long message needs new pages (a short one can fit in the pages the files
    // already have free): the inbox cannot take it, so it is refused with 503 and Meta
    // retries; nothing is stored, and readiness says why. 4,000 characters (WhatsApp's limit
    // is 4,096), 12 KB.
    let long = format!("I need a human {}", "🙏".repeat(3985));
    let payload = text_from("2348099999999", None, "Ben", "wamid.F2", base + 1, &long);
    let mut refused = 0;
    for _ in 0..3 {
        let r = td.post_json(&payload).await;
        if r.status() == 503 {
            refused += 1;
        } else {
            assert_eq!(
                r.status(),
                200,
                "a full disk must never lose a delivery silently"
            );
        }
    }
    assert!(refused > 0, "a full database must refuse deliveries");
    assert!(
        td.find(phone("2348099999999")).await.is_none(),
        "nothing half-written"
    );
    let ready = td.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("cannot be written"));
    let (_, after) = td.conversation(phone(ADA)).await;
    assert_eq!(after.len(), before.len());

    // Space comes back: Meta's next retry of the same delivery goes through, once.
    td.store().set_size_limit(None).await.unwrap();
    let r = td.post_json(&payload).await;
    assert_eq!(r.status(), 200);
    assert_eq!(td.get("/readyz").await.status(), 200);
    let (_, ben) = td.conversation(phone("2348099999999")).await;
    assert_eq!(ben.iter().filter(|m| m.text == long).count(), 1);
    let sent = td.fake().wait_for_sent(2, WAIT).await;
    assert!(sent[1]["interactive"]["body"]["text"]
        .as_str()
        .unwrap()
        .starts_with("Hi Ben! 💬"));
}

#[tokio::test]
async fn a_full_database_behind_the_inbox_keeps_the_delivery_until_space_returns() {
    // The inbox still has room but the database does not: the delivery is acknowledged (it is
    // on disk in the inbox), its processing fails and waits, readiness turns red, further
    // webhooks are refused with 503, and once space is back the delivery is processed, once.
    let td = TestDaemon::start().await;
    let base = now_secs() - 600;
    td.deliver(&text_from(ADA, None, "Ada", "wamid.G1", base, "support"))
        .await;
    td.fake().wait_for_sent(1, WAIT).await;
    td.wait_outbox_settled(WAIT).await;
    td.store()
        .write(|tx| tx.set_size_limit(Some(0)))
        .await
        .unwrap();
    let long = format!("I need a human {}", "🙏".repeat(3985));
    let payload = text_from("2348099999998", None, "Cy", "wamid.G2", base + 1, &long);
    let r = td.post_acknowledged(&payload).await;
    assert_eq!(r.status(), 200, "the inbox has room: the delivery is kept");
    let ready = eventually("readiness to turn red", WAIT, || async {
        let r = td.get("/readyz").await;
        (r.status() == 503).then_some(r)
    })
    .await;
    let why = ready.text().await.unwrap();
    assert!(why.contains("cannot be written"), "{why}");
    let refused = td.post_acknowledged(&payload).await;
    assert_eq!(
        refused.status(),
        503,
        "nothing more is taken while the database is full"
    );
    assert!(td.find(phone("2348099999998")).await.is_none());

    td.store()
        .write(|tx| tx.set_size_limit(None))
        .await
        .unwrap();
    let (_, thread) = td.wait_for_thread(phone("2348099999998"), 1, WAIT).await;
    assert_eq!(thread.iter().filter(|m| m.text == long).count(), 1);
    let sent = td.fake().wait_for_sent(2, WAIT).await;
    assert!(sent[1]["interactive"]["body"]["text"]
        .as_str()
        .unwrap()
        .starts_with("Hi Cy! 💬"));
    // Meta's retry of the delivery the 503 refused changes nothing.
    td.deliver(&payload).await;
    let (_, again) = td.conversation(phone("2348099999998")).await;
    assert_eq!(again.iter().filter(|m| m.text == long).count(), 1);
    eventually("readiness to turn green", WAIT, || async {
        (td.get("/readyz").await.status() == 200).then_some(())
    })
    .await;
}
