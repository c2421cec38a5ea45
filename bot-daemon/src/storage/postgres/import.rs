//! Writes a desk read from another backend ([`TableRows`], see `bot-daemon migrate`) into an
//! empty PostgreSQL database, in one transaction: each value converted to its column's type,
//! ids kept as they were, and each identity's sequence moved past the largest id copied.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::migrate;
use crate::storage::{Cell, CopyItem, StoreError, DESK_TABLES};

/// Migrates the database at `url`, refuses it unless it holds no desk yet, then writes every
/// chunk from `rows` in one transaction, committed only once [`CopyItem::Done`] arrives. Returns each table's row count as the database holds
/// it after the commit.
///
/// # Errors
/// The server, a value its column cannot take, or a target that is not empty
/// ([`StoreError::Conflict`]).
pub async fn import(
    url: &str,
    mut rows: mpsc::Receiver<CopyItem>,
) -> Result<Vec<(String, u64)>, StoreError> {
    migrate(url).await?;
    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let driver = tokio::spawn(connection);
    let result = async {
        // Every table of a desk (the migration's own watermark row aside) must be empty.
        for table in DESK_TABLES.iter().filter(|t| **t != "inbox_state").chain(&["inbox"]) {
            let n: i64 = client
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .await?
                .get(0);
            if n > 0 {
                return Err(StoreError::Conflict(format!(
                    "the target database is not empty ({table} holds {n} rows); copy into a new, empty database"
                )));
            }
        }
        let types = column_types(&client).await?;
        let tx = client.transaction().await?;
        let mut seen: Vec<String> = Vec::new();
        let mut done = false;
        while let Some(item) = rows.recv().await {
            let chunk = match item {
                CopyItem::Rows(chunk) => chunk,
                CopyItem::Done => {
                    done = true;
                    break;
                }
            };
            if chunk.rows.is_empty() {
                continue;
            }
            if !seen.contains(&chunk.table) {
                seen.push(chunk.table.clone());
                if chunk.table == "inbox_state" {
                    // The migration's own row gives way to the copied watermark.
                    tx.execute("DELETE FROM inbox_state", &[]).await?;
                }
            }
            let table_types = types.get(&chunk.table).ok_or_else(|| {
                StoreError::Internal(format!("no table {} in the PostgreSQL schema", chunk.table))
            })?;
            let mut col_types = Vec::with_capacity(chunk.columns.len());
            for c in &chunk.columns {
                col_types.push(table_types.get(c).cloned().ok_or_else(|| {
                    StoreError::Internal(format!(
                        "no column {}.{c} in the PostgreSQL schema",
                        chunk.table
                    ))
                })?);
            }
            let placeholders: Vec<String> =
                (1..=chunk.columns.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                chunk.table,
                chunk.columns.join(", "),
                placeholders.join(", ")
            );
            let stmt = tx.prepare_typed(&sql, &col_types).await?;
            for row in &chunk.rows {
                let values: Vec<Box<dyn ToSql + Sync + Send>> = row
                    .iter()
                    .zip(&col_types)
                    .map(|(cell, ty)| convert(cell, ty, &chunk.table))
                    .collect::<Result<_, _>>()?;
                let params: Vec<&(dyn ToSql + Sync)> = values
                    .iter()
                    .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                tx.execute(&stmt, &params).await?;
            }
        }
        if !done {
            // The reading side stopped early: nothing of the copy is kept (the transaction
            // rolls back when dropped).
            return Err(StoreError::Internal(
                "reading the SQLite desk stopped before the end; nothing was copied".into(),
            ));
        }
        // Identities continue after the largest id copied.
        for (table, column) in [
            ("agents", "id"),
            ("contacts", "id"),
            ("chat_sessions", "id"),
            ("messages", "id"),
            ("outbox", "id"),
            ("notes", "id"),
            ("audit", "id"),
            ("csat_surveys", "id"),
        ] {
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), GREATEST(m, 1), m > 0)
                     FROM (SELECT COALESCE(MAX({column}), 0) AS m FROM {table}) t"
                ),
                &[],
            )
            .await?;
        }
        // The sequencers continue after the last event and the last delivery copied (the
        // inbox's also above the watermark: rows at or below it count as processed).
        tx.execute(
            "UPDATE event_seq SET last = (SELECT COALESCE(MAX(seq), 0) FROM events)",
            &[],
        )
        .await?;
        tx.execute(
            "UPDATE inbox_seq SET last = GREATEST(
                 (SELECT COALESCE(MAX(id), 0) FROM inbox),
                 (SELECT processed_through FROM inbox_state WHERE id = 1))",
            &[],
        )
        .await?;
        tx.commit().await?;
        let mut counts = Vec::new();
        for table in DESK_TABLES.iter().chain(&["inbox"]) {
            let n: i64 = client
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .await?
                .get(0);
            counts.push((table.to_string(), n as u64));
        }
        Ok(counts)
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}

/// Every column's type, per table, from the catalogue.
async fn column_types(
    client: &Client,
) -> Result<HashMap<String, HashMap<String, Type>>, StoreError> {
    let rows = client
        .query(
            "SELECT c.relname::text, a.attname::text, a.atttypid
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
            &[],
        )
        .await?;
    let mut out: HashMap<String, HashMap<String, Type>> = HashMap::new();
    for r in rows {
        let table: String = r.get(0);
        let column: String = r.get(1);
        let oid: u32 = r.get(2);
        let ty = Type::from_oid(oid).unwrap_or(Type::TEXT);
        out.entry(table).or_default().insert(column, ty);
    }
    Ok(out)
}

/// A neutral value as its PostgreSQL column's type.
fn convert(
    cell: &Cell,
    ty: &Type,
    table: &str,
) -> Result<Box<dyn ToSql + Sync + Send>, StoreError> {
    let wrong = || {
        StoreError::Corrupt(format!(
            "{table}: the value {cell:?} does not fit a column of type {ty}"
        ))
    };
    Ok(match (cell, ty) {
        (Cell::Null, t) if *t == Type::BOOL => Box::new(None::<bool>),
        (Cell::Null, t) if *t == Type::INT2 => Box::new(None::<i16>),
        (Cell::Null, t) if *t == Type::INT4 => Box::new(None::<i32>),
        (Cell::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
        (Cell::Null, t) if *t == Type::BYTEA => Box::new(None::<Vec<u8>>),
        (Cell::Null, _) => Box::new(None::<String>),
        (Cell::Int(v), t) if *t == Type::BOOL => Box::new(*v != 0),
        (Cell::Int(v), t) if *t == Type::INT2 => Box::new(i16::try_from(*v).map_err(|_| wrong())?),
        (Cell::Int(v), t) if *t == Type::INT4 => Box::new(i32::try_from(*v).map_err(|_| wrong())?),
        (Cell::Int(v), t) if *t == Type::INT8 => Box::new(*v),
        (Cell::Int(v), t) if *t == Type::TEXT => Box::new(v.to_string()),
        (Cell::Real(v), t) if *t == Type::FLOAT8 => Box::new(*v),
        (Cell::Text(s), t) if *t == Type::TEXT => Box::new(s.clone()),
        (Cell::Text(s), t) if *t == Type::BYTEA => Box::new(s.clone().into_bytes()),
        (Cell::Bytes(b), t) if *t == Type::BYTEA => Box::new(b.clone()),
        (Cell::Bytes(b), t) if *t == Type::TEXT => {
            Box::new(String::from_utf8(b.clone()).map_err(|_| wrong())?)
        }
        _ => return Err(wrong()),
    })
}
