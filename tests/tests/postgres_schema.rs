//! The PostgreSQL backend's schema on a real PostgreSQL server (a throwaway cluster, see
//! `tests::pg`): migrations applied once, also when two daemons start together, and a database
//! migrated by a newer build refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bot_daemon::storage::{postgres, StoreError};

const ADA: &str = "2348012345678";

/// The tables of a migrated database.
async fn tables(url: &str) -> Vec<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
    rows.iter().map(|r| r.get(0)).collect()
}

async fn execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = driver.await;
}

#[tokio::test]
async fn a_fresh_database_is_migrated_once_and_a_newer_one_is_refused() {
    let Some(url) = tests::pg::database("a_fresh_database_is_migrated_once").await else {
        return;
    };
    let first = postgres::migrate(&url).await.unwrap();
    assert_eq!((first.from, first.to), (0, postgres::LATEST));
    let names = tables(&url).await;
    for want in [
        "contacts",
        "chat_sessions",
        "messages",
        "outbox",
        "events",
        "agents",
        "inbox",
        "inbox_state",
        "inbox_parked",
        "schema_migrations",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    // Starting again changes nothing.
    let again = postgres::migrate(&url).await.unwrap();
    assert_eq!((again.from, again.to), (postgres::LATEST, postgres::LATEST));

    // A newer build migrated it: refused, saying so.
    execute(
        &url,
        &format!(
            "INSERT INTO schema_migrations (version) VALUES ({})",
            postgres::LATEST + 1
        ),
    )
    .await;
    let refused = postgres::migrate(&url).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::TooNew { found, .. } if found == postgres::LATEST + 1),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("newer than this program"));
}

#[tokio::test]
async fn two_daemons_starting_together_migrate_once() {
    let Some(url) = tests::pg::database("two_daemons_starting_together_migrate_once").await else {
        return;
    };
    let (a, b) = tokio::join!(postgres::migrate(&url), postgres::migrate(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    // One of them applied every step, the other found them applied.
    let mut froms = [a.from, b.from];
    froms.sort();
    assert_eq!(froms, [0, postgres::LATEST]);
    assert_eq!((a.to, b.to), (postgres::LATEST, postgres::LATEST));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // A port nothing listens on: the store says the database is unavailable (what readiness and
    // the start-up error report), without needing a server.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = postgres::migrate(&format!("postgres://postgres@127.0.0.1:{port}/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_live_sqlite_desk_is_copied_whole_into_an_empty_postgresql_database() {
    let Some(url) = tests::pg::database("a_live_sqlite_desk_is_copied_whole").await else {
        return;
    };
    use tests::*;
    let td = TestDaemon::start().await;
    let base = now_secs() - 600;
    td.deliver(&text_from(ADA, None, "Ada", "wamid.M1", base, "support"))
        .await;
    td.deliver(&text_from(
        ADA,
        None,
        "Ada",
        "wamid.M2",
        base + 1,
        "my fees ✓ 🙏",
    ))
    .await;
    td.deliver(&text_from(
        "2348011112222",
        None,
        "Ben",
        "wamid.M3",
        base + 2,
        "hello",
    ))
    .await;
    td.fake().wait_for_sent(3, WAIT).await;

    // A desk that cannot be read leaves the target as it was (empty: the copy below works).
    let missing = bot_daemon::storage::copy_sqlite_to_postgres(
        std::path::Path::new("/nonexistent/chat-support.db"),
        &url,
    )
    .await
    .unwrap_err();
    assert!(
        missing.to_string().contains("no SQLite database at"),
        "{missing:?}"
    );

    // While the daemon keeps serving.
    let report = bot_daemon::storage::copy_sqlite_to_postgres(td.db_path(), &url)
        .await
        .unwrap();
    let count = |t: &str| {
        report
            .tables
            .iter()
            .find(|(name, _, _)| name == t)
            .map(|(_, read, in_pg)| (*read, *in_pg))
    };
    let (contacts, _) = count("contacts").unwrap();
    assert_eq!(contacts, 2);
    let (messages, in_pg) = count("messages").unwrap();
    assert!(messages >= 5, "3 inbound and their replies: {messages}");
    assert_eq!(messages, in_pg);
    for (table, read, in_pg) in &report.tables {
        assert_eq!(read, in_pg, "{table}");
    }
    let events = count("events").unwrap().0;
    assert!(events > 0);

    // What PostgreSQL holds is what SQLite held: the contact in chat, the texts byte for byte.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT chat_support_active, state, profile_name FROM contacts WHERE phone = $1",
            &[&ADA],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "chat_support_active");
    assert_eq!(row.get::<_, String>(1), "CHAT_SUPPORT_ACTIVE");
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("Ada"));
    let texts: Vec<String> = client
        .query(
            "SELECT m.text FROM messages m JOIN contacts c ON c.id = m.contact_id
             WHERE c.phone = $1 AND m.sender = 'user' ORDER BY m.id",
            &[&ADA],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(texts, ["support", "my fees ✓ 🙏"]);
    // New rows continue after the copied ids.
    let next: i64 = client
        .query_one(
            "INSERT INTO agents (name, display_name, token_hash, created_at, updated_at)
             VALUES ('x', 'X', '\\x00', 0, 0) RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 1, "no agent was copied: the first new one is 1");
    let max_event: i64 = client
        .query_one("SELECT MAX(seq) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    // Events are numbered by the one-row sequencer: the next number continues after the copy.
    let seq_next: i64 = client
        .query_one(
            "UPDATE event_seq SET last = last + 1 WHERE id = 1 RETURNING last",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(seq_next > max_event, "{seq_next} after {max_event}");
    drop(client);
    let _ = driver.await;

    // A second copy into the same (now non-empty) database is refused.
    let again = bot_daemon::storage::copy_sqlite_to_postgres(td.db_path(), &url)
        .await
        .unwrap_err();
    assert!(
        matches!(again, StoreError::Conflict(ref m) if m.contains("not empty")),
        "{again:?}"
    );
}

#[tokio::test]
async fn backup_dumps_with_pg_dump_and_the_dump_restores_into_an_empty_database() {
    let Some(url) = tests::pg::database("pg_backup").await else {
        return;
    };
    let Some(empty) = tests::pg::database("pg_backup_restored").await else {
        return;
    };
    postgres::migrate(&url).await.unwrap();
    execute(
        &url,
        &format!("INSERT INTO contacts (phone, profile_name, created_at, updated_at) VALUES ('{ADA}', 'Ada', 1, 1)"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("desk.dump");
    let (u, d) = (url.clone(), dest.clone());
    let done = tokio::task::spawn_blocking(move || postgres::backup(&u, &d))
        .await
        .unwrap()
        .unwrap();
    assert!(done.bytes > 0 && dest.is_file(), "{done:?}");
    assert!(done.pg_dump_version.contains("pg_dump"), "{done:?}");
    // The dump restores with pg_restore into an empty database, contact and all.
    let pg_restore = done.pg_dump.with_file_name("pg_restore");
    let out = std::process::Command::new(&pg_restore)
        .args(["--no-owner", "--dbname", &empty])
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (client, connection) = tokio_postgres::connect(&empty, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let name: String = client
        .query_one(
            "SELECT profile_name FROM contacts WHERE phone = $1",
            &[&ADA],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "Ada");
    drop(client);
    let _ = driver.await;
    // A second backup never overwrites the first.
    let (u, d) = (url.clone(), dest.clone());
    let again = tokio::task::spawn_blocking(move || postgres::backup(&u, &d))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
}
