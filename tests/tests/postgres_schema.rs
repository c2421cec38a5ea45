//! The PostgreSQL backend's schema on a real PostgreSQL server (a throwaway cluster, see
//! `tests::pg`): migrations applied once, also when two daemons start together, and a database
//! migrated by a newer build refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bot_daemon::storage::{postgres, StoreError};

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
