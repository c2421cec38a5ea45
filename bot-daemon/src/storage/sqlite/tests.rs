//! Store tests on a real SQLite file: migrations, group commit isolation, dedupe, forward-only
//! statuses, sessions that never overlap, and the event log.

use super::*;
use crate::domain::{DeliveryStatus, EndedBy, Sender, State};
use crate::storage::*;
use std::path::PathBuf;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    (dir, store)
}

fn who(phone: &str) -> Identity {
    Identity {
        phone: Some(phone.into()),
        profile_name: Some("Ada".into()),
        ..Default::default()
    }
}

fn msg(contact_id: i64, session: Option<i64>, sender: Sender, text: &str) -> NewMessage {
    NewMessage {
        contact_id,
        session_id: session,
        sender,
        kind: "text".into(),
        text: text.into(),
        media_id: None,
        wamid: None,
        timestamp: 1_000,
        status: if sender == Sender::User {
            DeliveryStatus::Received
        } else {
            DeliveryStatus::Pending
        },
        idempotency_key: None,
        agent_id: None,
    }
}

#[tokio::test]
async fn fresh_database_is_migrated_and_a_newer_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let store = Store::open(&path).unwrap();
        store
            .write(|tx| tx.upsert_contact(&who("111111111"), 1))
            .await
            .unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, schema::LATEST);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // Reopening keeps the data and does not migrate again.
    let store = Store::open(&path).unwrap();
    let found = store
        .find_conversation(Address::Phone("111111111".into()))
        .await
        .unwrap();
    assert!(found.is_some());
    drop(store);
    conn.pragma_update(None, "user_version", schema::LATEST + 1)
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
}

#[tokio::test]
async fn a_failing_job_rolls_back_alone_in_a_shared_transaction() {
    let (_dir, store) = open();
    let mut handles = Vec::new();
    for i in 0..60 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store
                .write(move |tx| {
                    let c = tx.upsert_contact(&who(&format!("2340000000{i:02}")), 1)?;
                    if i % 2 == 1 {
                        return Err(StoreError::Internal("odd".into()));
                    }
                    Ok(c.id)
                })
                .await
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.await.unwrap();
        assert_eq!(r.is_ok(), i % 2 == 0, "job {i}: {r:?}");
    }
    for i in 0..60 {
        let found = store
            .find_conversation(Address::Phone(format!("2340000000{i:02}")))
            .await
            .unwrap();
        assert_eq!(found.is_some(), i % 2 == 0, "contact {i}");
    }
    // Events of rolled-back jobs are not in the log either.
    let events = store.events_after(0, 1000).await.unwrap();
    assert!(
        events.is_empty(),
        "creating a contact logs nothing; got {events:?}"
    );
}

#[tokio::test]
async fn update_ids_are_processed_once() {
    let (_dir, store) = open();
    assert!(store
        .write(|tx| tx.mark_processed("wamid.A", 1))
        .await
        .unwrap());
    assert!(!store
        .write(|tx| tx.mark_processed("wamid.A", 2))
        .await
        .unwrap());
    assert!(store
        .write(|tx| tx.mark_processed("wamid.B", 2))
        .await
        .unwrap());
}

#[tokio::test]
async fn contacts_are_found_by_bsuid_or_phone_and_linked() {
    let (_dir, store) = open();
    let a = store
        .write(|tx| tx.upsert_contact(&who("2348011111111"), 1))
        .await
        .unwrap();
    let with_bsuid = Identity {
        user_id: Some("NG.1".into()),
        ..who("2348011111111")
    };
    let b = store
        .write(move |tx| tx.upsert_contact(&with_bsuid, 2))
        .await
        .unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(b.user_id.as_deref(), Some("NG.1"));
    let only_bsuid = Identity {
        user_id: Some("NG.1".into()),
        ..Default::default()
    };
    let c = store
        .write(move |tx| tx.upsert_contact(&only_bsuid, 3))
        .await
        .unwrap();
    assert_eq!(c.id, a.id);
    assert_eq!(c.phone.as_deref(), Some("2348011111111"));
}

#[tokio::test]
async fn sessions_never_overlap() {
    let (_dir, store) = open();
    let c = store
        .write(|tx| tx.upsert_contact(&who("2348011111111"), 1))
        .await
        .unwrap();
    let id = c.id;
    store
        .write(move |tx| tx.start_session(id, 10))
        .await
        .unwrap();
    let second = store.write(move |tx| tx.start_session(id, 11)).await;
    assert!(second.is_err(), "a second open session must be refused");
    let ended = store
        .write(move |tx| tx.end_session(id, EndedBy::User, 12))
        .await
        .unwrap();
    assert!(ended.is_some());
    assert!(store
        .write(move |tx| tx.end_session(id, EndedBy::User, 13))
        .await
        .unwrap()
        .is_none());
    store
        .write(move |tx| tx.start_session(id, 14))
        .await
        .unwrap();
}

#[tokio::test]
async fn summary_tracks_waiting_unread_and_last_message() {
    let (_dir, store) = open();
    let c = store
        .write(|tx| tx.upsert_contact(&who("2348011111111"), 1))
        .await
        .unwrap();
    let id = c.id;
    let s = store
        .write(move |tx| {
            let sid = tx.start_session(id, 5)?;
            tx.set_state(id, State::ChatSupportActive, 5)?;
            let mut m = msg(id, Some(sid), Sender::User, "first");
            m.timestamp = 100;
            tx.insert_message(&m, 100)?;
            m.timestamp = 200;
            m.text = "second".into();
            tx.insert_message(&m, 200)?;
            tx.summary(id)
        })
        .await
        .unwrap();
    assert!(s.chat_active);
    assert_eq!(s.waiting_since, Some(5), "a chat waits from its start");
    assert_eq!(s.unread_count, 2);
    assert_eq!(s.message_count, 2);
    assert_eq!(
        s.last_message.as_ref().map(|m| m.text.as_str()),
        Some("second")
    );
    let s = store
        .write(move |tx| {
            tx.insert_message(&msg(id, s.chat_session_id, Sender::Admin, "hello"), 300)?;
            tx.summary(id)
        })
        .await
        .unwrap();
    assert_eq!(s.waiting_since, None);
    assert_eq!(s.unread_count, 0);
}

#[tokio::test]
async fn delivery_status_only_moves_forward() {
    let (_dir, store) = open();
    let c = store
        .write(|tx| tx.upsert_contact(&who("2348011111111"), 1))
        .await
        .unwrap();
    let id = c.id;
    let m = store
        .write(move |tx| {
            let m = tx.insert_message(&msg(id, None, Sender::Bot, "hi"), 1)?;
            tx.enqueue(m.id, id, "{}", 1)?;
            Ok::<_, StoreError>(m)
        })
        .await
        .unwrap();
    let outbox = store.due_outbox(10, 10).await.unwrap();
    assert_eq!(outbox.len(), 1);
    let oid = outbox[0].id;
    store
        .write(move |tx| tx.outbox_sent(oid, Some("wamid.OUT"), 2))
        .await
        .unwrap();
    let status = |store: Store, mid: i64| async move {
        let (_, msgs, _) = store
            .get_conversation(Address::Phone("2348011111111".into()), 10, 0)
            .await
            .unwrap();
        msgs.into_iter().find(|x| x.id == mid).unwrap().status
    };
    assert_eq!(status(store.clone(), m.id).await, DeliveryStatus::Sent);
    store
        .write(|tx| tx.apply_status("wamid.OUT", DeliveryStatus::Read, None, None, 3))
        .await
        .unwrap();
    store
        .write(|tx| tx.apply_status("wamid.OUT", DeliveryStatus::Delivered, None, None, 4))
        .await
        .unwrap();
    assert_eq!(status(store.clone(), m.id).await, DeliveryStatus::Read);
    assert_eq!(
        store
            .write(|tx| tx.apply_status("wamid.NOPE", DeliveryStatus::Read, None, None, 5))
            .await
            .unwrap(),
        None
    );
    assert!(store.due_outbox(10, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_status_that_arrives_before_the_send_response_is_applied_when_it_is_stored() {
    let (_dir, store) = open();
    let c = store
        .write(|tx| tx.upsert_contact(&who("2348011111111"), 1))
        .await
        .unwrap();
    let id = c.id;
    let m = store
        .write(move |tx| {
            let m = tx.insert_message(&msg(id, None, Sender::Bot, "hi"), 1)?;
            tx.enqueue(m.id, id, "{}", 1)?;
            Ok::<_, StoreError>(m)
        })
        .await
        .unwrap();
    // Meta's "delivered" beats our own record of the send.
    let early = store
        .write(|tx| tx.apply_status("wamid.EARLY", DeliveryStatus::Delivered, None, None, 2))
        .await
        .unwrap();
    assert_eq!(early, None);
    let oid = store.due_outbox(10, 10).await.unwrap()[0].id;
    store
        .write(move |tx| tx.outbox_sent(oid, Some("wamid.EARLY"), 3))
        .await
        .unwrap();
    let (_, msgs, _) = store
        .get_conversation(Address::Phone("2348011111111".into()), 10, 0)
        .await
        .unwrap();
    assert_eq!(
        msgs.iter().find(|x| x.id == m.id).unwrap().status,
        DeliveryStatus::Delivered
    );
    // Repeats are reported as stale, not applied.
    let again = store
        .write(|tx| tx.apply_status("wamid.EARLY", DeliveryStatus::Delivered, None, None, 4))
        .await
        .unwrap();
    assert_eq!(again, Some(false));
}

#[tokio::test]
async fn events_are_published_after_commit_in_sequence_order() {
    let (_dir, store) = open();
    let mut rx = store.subscribe();
    let c = store
        .write(|tx| tx.upsert_contact(&who("2348011111111"), 1))
        .await
        .unwrap();
    let id = c.id;
    store
        .write(move |tx| {
            let sid = tx.start_session(id, 5)?;
            tx.insert_message(&msg(id, Some(sid), Sender::User, "a"), 5)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let first = rx.recv().await.unwrap();
    let second = rx.recv().await.unwrap();
    assert!(matches!(first.kind, EventKind::ChatStarted { .. }));
    assert!(matches!(second.kind, EventKind::MessageAdded { .. }));
    assert_eq!(second.seq, first.seq + 1);
    let logged = store.events_after(0, 10).await.unwrap();
    assert_eq!(
        logged.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![first.seq, second.seq]
    );
    assert_eq!(logged[1].summary.as_ref().map(|s| s.unread_count), Some(1));
}

#[tokio::test]
async fn list_pages_are_stable_and_ordered() {
    let (_dir, store) = open();
    for i in 0..7i64 {
        store
            .write(move |tx| {
                let c = tx.upsert_contact(&who(&format!("23480000000{i}")), 1)?;
                if i % 2 == 0 {
                    let sid = tx.start_session(c.id, 1000 - i)?; // later contacts waited longer
                    tx.set_state(c.id, State::ChatSupportActive, 1)?;
                    let mut m = msg(c.id, Some(sid), Sender::User, "help");
                    m.timestamp = 1000 - i;
                    tx.insert_message(&m, 1)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut q = ListQuery {
        page_size: 3,
        ..Default::default()
    };
    loop {
        let page = store.list_conversations(q.clone()).await.unwrap();
        seen.extend(page.items);
        if page.next_token.is_empty() {
            break;
        }
        q.page_token = page.next_token;
    }
    let phones: Vec<String> = seen.iter().map(|s| s.phone.clone().unwrap()).collect();
    assert_eq!(
        &phones[..4],
        [
            "234800000006",
            "234800000004",
            "234800000002",
            "234800000000"
        ]
    );
    assert_eq!(phones.len(), 7);
    let active = store
        .list_conversations(ListQuery {
            active_only: true,
            page_size: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(active.items.len(), 4);
    let bad = store
        .list_conversations(ListQuery {
            page_size: 3,
            page_token: "zz".into(),
            ..Default::default()
        })
        .await;
    assert!(matches!(bad, Err(StoreError::BadToken(_))));
    let by_name = store
        .list_conversations(ListQuery {
            page_size: 50,
            query: "ADA".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 7);
    let by_number = store
        .list_conversations(ListQuery {
            page_size: 50,
            query: "+234 800000003".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_number.items.len(), 1);
}

#[tokio::test]
async fn a_panicking_job_is_rolled_back_and_the_writer_keeps_working() {
    let (_dir, store) = open();
    let r: Result<(), StoreError> = store
        .write(|tx| {
            tx.upsert_contact(&who("2348011111111"), 1)?;
            panic!("bug in a job");
        })
        .await;
    assert!(r.is_err());
    assert!(store
        .find_conversation(Address::Phone("2348011111111".into()))
        .await
        .unwrap()
        .is_none());
    store
        .write(|tx| tx.upsert_contact(&who("2348022222222"), 2))
        .await
        .unwrap();
    assert!(store
        .find_conversation(Address::Phone("2348022222222".into()))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn pruning_drops_only_events_older_than_the_cutoff() {
    let (_dir, store) = open();
    for at in [100i64, 200, 300, 400] {
        store
            .write(move |tx| {
                let c = tx.upsert_contact(&who(&format!("2348000001{at}")), at)?;
                tx.start_session(c.id, at).map(|_| ()) // logs ChatStarted at `at`
            })
            .await
            .unwrap();
    }
    assert_eq!(store.prune_events(300, 100).await.unwrap(), 1);
    let left: Vec<_> = store.events_after(0, 10).await.unwrap();
    assert_eq!(left.len(), 3, "events at 200, 300 and 400 stay");
    // Everything older than the cutoff goes, including when nothing is newer.
    assert_eq!(store.prune_events(10_000, 100).await.unwrap(), 3);
    assert!(store.events_after(0, 10).await.unwrap().is_empty());
    assert_eq!(store.prune_events(10_000, 100).await.unwrap(), 0);
}

#[tokio::test]
async fn a_version_3_database_upgrades_to_the_desk_schema_and_lists_by_priority() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        for (i, sql) in schema::MIGRATIONS.iter().take(3).enumerate() {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .unwrap();
            tx.commit().unwrap();
        }
        conn.execute_batch(
            "INSERT INTO contacts (id, phone, state, chat_support_active, waiting_since, created_at, updated_at)
                 VALUES (1, '111', 'CHAT_SUPPORT_ACTIVE', 1, 5, 0, 0), (2, '222', 'CHAT_SUPPORT_ACTIVE', 1, 9, 0, 0);
             INSERT INTO messages (contact_id, direction, sender, kind, text, timestamp, status, created_at)
                 VALUES (1, 'out', 'admin', 'text', 'hi', 1, 'sent', 1);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let (_, msgs, _) = store
        .get_conversation(Address::Phone("111".into()), 10, 0)
        .await
        .unwrap();
    assert_eq!(msgs[0].agent_id, None, "old messages are the operator's");
    let q = ListQuery {
        active_only: true,
        page_size: 10,
        ..Default::default()
    };
    let page = store.list_conversations(q.clone()).await.unwrap();
    let ids: Vec<i64> = page.items.iter().map(|s| s.contact_id).collect();
    assert_eq!(ids, [1, 2], "equal priority: longest waiting first");
    store
        .write(|tx| tx.set_priority(2, crate::desk::Priority::Urgent, None, 10))
        .await
        .unwrap();
    let page = store.list_conversations(q).await.unwrap();
    let ids: Vec<i64> = page.items.iter().map(|s| s.contact_id).collect();
    assert_eq!(ids, [2, 1], "urgent first");
    // The list is still an index walk, not a sort.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let sql = format!(
        "EXPLAIN QUERY PLAN SELECT id FROM contacts WHERE {} <= 3 ORDER BY {}, {}, {}, id LIMIT 5",
        read::LIST_K1,
        read::LIST_K1,
        read::LIST_K2,
        read::LIST_K3
    );
    let plan: Vec<String> = conn
        .prepare(&sql)
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join("; ");
    assert!(plan.contains("contacts_list_order"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[tokio::test]
async fn the_queue_migration_backfills_first_replies_from_an_older_schema() {
    // A database as the version before the queue/CSAT migration left it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        // Migration 5 is the queue/CSAT one.
        let before = 4;
        for sql in &schema::MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", before as i64)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO contacts (id, phone, created_at, updated_at) VALUES (1, '2348000000001', 0, 0);
             INSERT INTO chat_sessions (id, contact_id, started_at, ended_at, ended_by) VALUES (1, 1, 1000, 9000, 'admin');
             INSERT INTO chat_sessions (id, contact_id, started_at) VALUES (2, 1, 10000);
             INSERT INTO messages (contact_id, session_id, direction, sender, kind, text, timestamp, status, created_at)
               VALUES (1, 1, 'in', 'user', 'text', 'hi', 1000, 'received', 1000),
                      (1, 1, 'out', 'admin', 'text', 'hello', 4000, 'sent', 4000),
                      (1, 1, 'out', 'admin', 'text', 'again', 5000, 'sent', 5000),
                      (1, 2, 'out', 'bot', 'text', 'ack', 10000, 'sent', 10000);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let (first, second) = reads(&store)
        .read(|c| {
            let fr = |id: i64| -> Result<Option<i64>, StoreError> {
                Ok(c.query_row(
                    "SELECT first_response_at FROM chat_sessions WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )?)
            };
            Ok((fr(1)?, fr(2)?))
        })
        .await
        .unwrap();
    assert_eq!(first, Some(4000), "the first agent reply, not the bot's");
    assert_eq!(second, None, "still waiting: bot messages do not count");
    assert_eq!(store.waiting_now().await.unwrap(), 1);
    let facts = store.session_facts(0, 20_000, None).await.unwrap();
    assert_eq!(facts.len(), 2);
    assert_eq!(facts[0].first_response_at, Some(4000));
}

/// The SQLite read side of a store, for queries of the tests' own.
fn reads(store: &Store) -> &Reads {
    match &store.backend {
        crate::storage::Backend::Sqlite(b) => b,
        crate::storage::Backend::Postgres(_) => panic!("these tests open SQLite stores"),
    }
}

async fn early_rows(store: &Store) -> Vec<(String, String)> {
    reads(store)
        .read(|c| {
            let mut st = c.prepare("SELECT wamid, status FROM early_statuses ORDER BY rowid")?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn repeated_early_statuses_are_kept_once_per_wamid_and_status() {
    let (_dir, store) = open();
    store
        .write(|tx| {
            for i in 0..5_000 {
                let status = if i % 2 == 0 {
                    DeliveryStatus::Delivered
                } else {
                    DeliveryStatus::Read
                };
                assert_eq!(
                    tx.apply_status("wamid.SAME", status, None, None, 10 + i)?,
                    None
                );
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    assert_eq!(
        early_rows(&store).await,
        vec![
            ("wamid.SAME".to_string(), "delivered".to_string()),
            ("wamid.SAME".to_string(), "read".to_string())
        ]
    );
}

#[tokio::test]
async fn early_statuses_stay_under_the_cap_keeping_the_newest() {
    let (dir, store) = open();
    let cap = 3 * EARLY_STATUSES_PRUNE_EVERY;
    // On a connection of the test's own: the cap is a parameter of the backend's helper.
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let tx = SqliteTx::new(&conn);
    for i in 0..10 * EARLY_STATUSES_PRUNE_EVERY + 17 {
        tx.keep_early_status(
            &format!("wamid.U{i}"),
            DeliveryStatus::Delivered,
            None,
            None,
            1_000 + i,
            cap,
        )
        .unwrap();
        let n: i64 = tx
            .conn()
            .query_row("SELECT COUNT(*) FROM early_statuses", [], |r| r.get(0))
            .unwrap();
        assert!(n <= cap, "{n} rows after {} statuses, cap {cap}", i + 1);
    }
    drop(tx);
    conn.execute_batch("COMMIT").unwrap();
    let rows = early_rows(&store).await;
    let last = format!("wamid.U{}", 10 * EARLY_STATUSES_PRUNE_EVERY + 16);
    assert!(rows.iter().any(|(w, _)| *w == last), "the newest is kept");
    assert!(
        !rows.iter().any(|(w, _)| w == "wamid.U0"),
        "the oldest went"
    );
}

#[tokio::test]
async fn early_statuses_older_than_a_week_are_pruned() {
    let (_dir, store) = open();
    const WEEK: i64 = 7 * 24 * 60 * 60 * 1000;
    store
        .write(|tx| {
            tx.apply_status("wamid.OLD", DeliveryStatus::Delivered, None, None, 1_000)?;
            for i in 1..2 * EARLY_STATUSES_PRUNE_EVERY {
                let at = 1_000 + WEEK + i;
                tx.apply_status(
                    &format!("wamid.N{i}"),
                    DeliveryStatus::Sent,
                    None,
                    None,
                    at + 1,
                )?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let rows = early_rows(&store).await;
    assert!(!rows.iter().any(|(w, _)| w == "wamid.OLD"));
    assert_eq!(rows.len() as i64, 2 * EARLY_STATUSES_PRUNE_EVERY - 1);
}

#[tokio::test]
async fn the_early_status_migration_keeps_one_copy_of_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &schema::MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute_batch(
            "INSERT INTO early_statuses (wamid, status, at) VALUES
                 ('wamid.A', 'delivered', 1), ('wamid.A', 'delivered', 2),
                 ('wamid.A', 'read', 3), ('wamid.B', 'delivered', 4), ('wamid.A', 'delivered', 5);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        early_rows(&store).await,
        vec![
            ("wamid.A".to_string(), "delivered".to_string()),
            ("wamid.A".to_string(), "read".to_string()),
            ("wamid.B".to_string(), "delivered".to_string()),
        ]
    );
}

#[test]
fn backend_errors_become_the_stores_own_kinds() {
    use rusqlite::ffi;
    let failure = |code: i32| {
        StoreError::from(rusqlite::Error::SqliteFailure(
            ffi::Error::new(code),
            Some("detail".into()),
        ))
    };
    assert!(matches!(failure(ffi::SQLITE_FULL), StoreError::Full(_)));
    for code in [
        ffi::SQLITE_READONLY,
        ffi::SQLITE_IOERR,
        ffi::SQLITE_CANTOPEN,
        ffi::SQLITE_BUSY,
    ] {
        assert!(
            matches!(failure(code), StoreError::Unavailable(_)),
            "{code}"
        );
    }
    for code in [ffi::SQLITE_CORRUPT, ffi::SQLITE_NOTADB] {
        assert!(matches!(failure(code), StoreError::Corrupt(_)), "{code}");
    }
    let e = failure(ffi::SQLITE_CONSTRAINT);
    assert!(matches!(e, StoreError::Internal(_)), "{e:?}");
    assert!(e.to_string().starts_with("database error: detail"), "{e}");
    assert!(matches!(
        StoreError::from(rusqlite::Error::QueryReturnedNoRows),
        StoreError::Internal(_)
    ));
}

#[test]
fn db_values_name_a_backend() {
    use std::ffi::OsStr;
    let sqlite = |p: &str| Ok(Location::Sqlite(PathBuf::from(p)));
    let parse = |v: &str| Location::parse(OsStr::new(v));
    assert_eq!(parse("./chat-support.db"), sqlite("./chat-support.db"));
    assert_eq!(parse("/srv/cs/x.db"), sqlite("/srv/cs/x.db"));
    assert_eq!(parse("sqlite:///srv/cs/x.db"), sqlite("/srv/cs/x.db"));
    assert_eq!(parse("sqlite://x.db"), sqlite("x.db"));
    assert_eq!(parse("SQLite:data/x.db"), sqlite("data/x.db"));
    assert_eq!(parse("sqlite:/srv/x.db"), sqlite("/srv/x.db"));
    // Not a scheme: a path with "://" inside a directory name, or a drive letter.
    assert_eq!(parse("./odd://x.db"), sqlite("./odd://x.db"));
    assert_eq!(parse("C:\\data\\x.db"), sqlite("C:\\data\\x.db"));
    for pg in [
        "postgres://u:hunter2@db/cs",
        "postgresql://db/cs",
        "POSTGRES://db",
    ] {
        let location = parse(pg).unwrap();
        assert_eq!(
            location,
            Location::Postgres {
                url: pg.to_string(),
                secrets: PathBuf::from("chat-support-postgres"),
            }
        );
        assert!(location.is_shared());
        for shown in [location.to_string(), format!("{location:?}")] {
            assert!(
                !shown.contains("hunter2"),
                "the URL's password is never shown: {shown}"
            );
        }
    }
    assert_eq!(
        parse("postgres://u:hunter2@db:5432/cs?sslmode=require")
            .unwrap()
            .to_string(),
        "postgres://u:***@db:5432/cs?sslmode=require"
    );
    let e = parse("mysql://db/cs").unwrap_err();
    assert_eq!(e, LocationError::UnknownScheme("mysql".into()));
    let text = e.to_string();
    for form in ["sqlite://PATH", "sqlite:PATH", "postgres://", "a file path"] {
        assert!(text.contains(form), "{form} in {text}");
    }
    assert_eq!(parse("sqlite:"), Err(LocationError::NoPath));
    assert_eq!(parse("sqlite://"), Err(LocationError::NoPath));
    assert_eq!(parse(""), Err(LocationError::NoPath));
    assert_eq!(
        Location::Sqlite(PathBuf::from("/srv/x.db")).path(),
        Path::new("/srv/x.db")
    );
}

#[tokio::test]
async fn an_inserted_message_is_what_reading_it_back_gives() {
    // insert_message builds its record from the values it wrote instead of re-reading them:
    // the record (and the MessageAdded event carrying it) must be what a read returns.
    let (_dir, store) = open();
    let c = store
        .write(|tx| tx.upsert_contact(&who("2348011111112"), 1))
        .await
        .unwrap();
    let id = c.id;
    let mut events = store.subscribe();
    let mut inbound = msg(id, None, Sender::User, "[image] a caption ✓");
    inbound.kind = "image".into();
    inbound.media_id = Some("MEDIA1".into());
    inbound.wamid = Some("wamid.IN1".into());
    let (a, b) = store
        .write(move |tx| {
            let a = tx.insert_message(&inbound, 5)?;
            let b = tx.insert_message(&msg(id, None, Sender::Bot, "hi"), 6)?;
            Ok::<_, StoreError>((a, b))
        })
        .await
        .unwrap();
    let (_, stored, _) = store
        .get_conversation(Address::Phone("2348011111112".into()), 10, 0)
        .await
        .unwrap();
    assert_eq!(stored, vec![a.clone(), b.clone()]);
    for want in [a, b] {
        let e = events.recv().await.unwrap();
        assert_eq!(e.kind, EventKind::MessageAdded { message: want });
    }
}

#[tokio::test]
async fn events_carry_the_conversation_as_the_transaction_leaves_it() {
    // The event log stores what happened; each event's summary is read once per contact
    // before the commit, and a replay reads the contact's summary as it is now. Rows written
    // before that (with the summary inside the payload) replay with the summary they stored.
    let (dir, store) = open();
    let mut rx = store.subscribe();
    let c = store
        .write(|tx| tx.upsert_contact(&who("2348011111113"), 1))
        .await
        .unwrap();
    let id = c.id;
    store
        .write(move |tx| {
            tx.insert_message(&msg(id, None, Sender::User, "first"), 5)?;
            let sid = tx.start_session(id, 6)?;
            tx.insert_message(&msg(id, Some(sid), Sender::User, "second"), 7)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let mut live = Vec::new();
    while live.len() < 3 {
        live.push(rx.recv().await.unwrap());
    }
    for e in &live {
        let s = e
            .summary
            .as_ref()
            .expect("a conversation event has a summary");
        assert_eq!((s.message_count, s.unread_count), (2, 1), "{:?}", e.kind);
        assert_eq!(
            s.last_message.as_ref().map(|m| m.text.as_str()),
            Some("second")
        );
    }
    let replayed = store.events_after(0, 10).await.unwrap();
    let live_seqs: Vec<i64> = live.iter().map(|e| e.seq).collect();
    let tail: Vec<&StoredEvent> = replayed
        .iter()
        .filter(|e| live_seqs.contains(&e.seq))
        .collect();
    assert_eq!(tail.len(), 3);
    for (r, l) in tail.iter().zip(&live) {
        assert_eq!(r.kind, l.kind);
        assert_eq!(r.summary, l.summary);
    }
    // A row in the older format keeps the summary it carries.
    let path = dir.path().join("t.db");
    let old = {
        let mut s = live[0].summary.clone().unwrap();
        s.unread_count = 42;
        s
    };
    let payload = serde_json::json!({ "summary": old, "kind": EventKind::ContactUpdated });
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO events (at, contact_id, payload) VALUES (9, ?1, ?2)",
        rusqlite::params![id, payload.to_string()],
    )
    .unwrap();
    let last = store.events_after(0, 10).await.unwrap().pop().unwrap();
    assert_eq!(last.summary.map(|s| s.unread_count), Some(42));
}

#[tokio::test]
async fn on_a_full_disk_every_write_reports_what_was_stored() {
    // A full disk can make SQLite roll a whole batch's transaction back by itself. The jobs
    // left in that batch must not then run (and commit) one statement at a time while their
    // callers are told they failed: whatever a write reports must be what is stored.
    let (_dir, store) = open();
    let big = "🙏".repeat(4000);
    store.set_size_limit(Some(0)).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let text = if i % 4 == 0 {
            big.clone()
        } else {
            "hi".to_string()
        };
        handles.push(tokio::spawn(async move {
            store
                .write(move |tx| {
                    let c = tx.upsert_contact(&who(&format!("2340000001{i:02}")), 1)?;
                    tx.insert_message(&msg(c.id, None, Sender::User, &text), 2)?;
                    Ok::<_, StoreError>(())
                })
                .await
        }));
    }
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.push(h.await.unwrap());
    }
    store.set_size_limit(None).await.unwrap();
    assert!(
        outcomes.iter().any(Result::is_err),
        "the large messages cannot fit: {outcomes:?}"
    );
    for (i, r) in outcomes.iter().enumerate() {
        let found = store
            .find_conversation(Address::Phone(format!("2340000001{i:02}")))
            .await
            .unwrap();
        assert_eq!(found.is_some(), r.is_ok(), "write {i} reported {r:?}");
    }
}
