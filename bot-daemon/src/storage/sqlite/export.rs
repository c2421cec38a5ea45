//! Reads a whole SQLite desk out in neutral rows ([`TableRows`]) for `bot-daemon migrate`: every
//! table, parents before children, in one read transaction (a consistent snapshot of a live
//! database), plus the deliveries still waiting in the inbox file.

use std::path::Path;

use rusqlite::{types::ValueRef, Connection, OpenFlags};

use super::inbox::inbox_path;
use crate::storage::{Cell, StoreError, TableRows, DESK_TABLES};

/// Rows per chunk handed to `send`.
const CHUNK: usize = 1000;

/// Reads every table of the database at `db` (see [`DESK_TABLES`]), then the inbox's rows above the
/// watermark (as table `inbox`), handing them to `send` in chunks. Returns each table's row
/// count.
///
/// # Errors
/// The database cannot be opened or read, or `send` failed.
pub(crate) fn export(
    db: &Path,
    mut send: impl FnMut(TableRows) -> Result<(), StoreError>,
) -> Result<Vec<(String, u64)>, StoreError> {
    if !db.exists() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no SQLite database at {}", db.display()),
        )));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // One read transaction: every table as of one moment, while the daemon keeps writing.
    conn.execute_batch("BEGIN")?;
    let mut counts = Vec::new();
    for table in DESK_TABLES {
        let n = dump(&conn, table, &format!("SELECT * FROM {table}"), &mut send)?;
        counts.push((table.to_string(), n));
    }
    let through: i64 = conn.query_row(
        "SELECT processed_through FROM inbox_state WHERE id = 1",
        [],
        |r| r.get(0),
    )?;
    conn.execute_batch("COMMIT")?;
    let inbox = inbox_path(db);
    let n = if inbox.exists() {
        let c = Connection::open_with_flags(&inbox, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        dump(
            &c,
            "inbox",
            &format!("SELECT id, received_at, body FROM inbox WHERE id > {through} ORDER BY id"),
            &mut send,
        )?
    } else {
        0
    };
    counts.push(("inbox".to_string(), n));
    Ok(counts)
}

fn dump(
    conn: &Connection,
    table: &str,
    sql: &str,
    send: &mut impl FnMut(TableRows) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let width = columns.len();
    let mut rows = stmt.query([])?;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut n = 0u64;
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Real(v),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
            });
        }
        chunk.push(cells);
        n += 1;
        if chunk.len() == CHUNK {
            send(TableRows {
                table: table.to_string(),
                columns: columns.clone(),
                rows: std::mem::take(&mut chunk),
            })?;
        }
    }
    if !chunk.is_empty() || n == 0 {
        send(TableRows {
            table: table.to_string(),
            columns,
            rows: chunk,
        })?;
    }
    Ok(n)
}
