//! One PostgreSQL connection as the backend uses it: the synchronous `postgres` client (the
//! writer, the reads and the inbox run on threads of their own or in `spawn_blocking`, as the
//! SQLite backend's do), TLS by rustls when the URL's `sslmode` asks for it, and a cache of
//! prepared statements so that each distinct statement is parsed and planned once per
//! connection instead of once per use (one round trip saved per statement).

use std::{collections::HashMap, sync::Arc, time::Duration};

use postgres::{types::ToSql, Client, Row, Statement};

use crate::storage::StoreError;

/// Parameters of a statement.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A connection with its prepared statements.
pub(crate) struct Conn {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

/// How long a connection attempt may take before the daemon says the server is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// TLS for connections whose URL asks for it (`sslmode=require` or `prefer`): rustls with the
/// web's root certificates (no OpenSSL anywhere).
fn tls() -> tokio_postgres_rustls::MakeRustlsConnect {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(c) => tokio_postgres_rustls::MakeRustlsConnect::new(c),
        // The default protocol versions are always supported by the ring provider.
        Err(e) => unreachable!("rustls refused its own defaults: {e}"),
    }
}

impl Conn {
    /// Connects to `url` (`postgres://USER[:PASS]@HOST:PORT/DB[?sslmode=…]`). Blocking.
    ///
    /// # Errors
    /// The URL cannot be read, or the server cannot be reached or refuses the login.
    pub(crate) fn connect(url: &str) -> Result<Conn, StoreError> {
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            StoreError::Unavailable(format!("the PostgreSQL URL cannot be read: {e}"))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("chat-support");
        }
        let client = config.connect(tls())?;
        Ok(Conn {
            client,
            prepared: HashMap::new(),
        })
    }

    /// Whether the server closed the connection (it must be opened again).
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.prepared.insert(sql, s.clone());
        Ok(s)
    }

    /// The rows of a (cached) statement.
    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        p: Params<'_>,
    ) -> Result<Vec<Row>, StoreError> {
        let s = self.statement(sql)?;
        Ok(self.client.query(&s, p)?)
    }

    /// The one row of a statement, if any (more than one is a defect: `Internal`).
    pub(crate) fn query_opt(
        &mut self,
        sql: &'static str,
        p: Params<'_>,
    ) -> Result<Option<Row>, StoreError> {
        let s = self.statement(sql)?;
        Ok(self.client.query_opt(&s, p)?)
    }

    /// The one row of a statement (none, or more than one, is a defect: `Internal`).
    pub(crate) fn query_one(
        &mut self,
        sql: &'static str,
        p: Params<'_>,
    ) -> Result<Row, StoreError> {
        self.query_opt(sql, p)?
            .ok_or_else(|| StoreError::Internal(format!("no row for: {sql}")))
    }

    /// Runs a statement; the number of rows it changed.
    pub(crate) fn execute(&mut self, sql: &'static str, p: Params<'_>) -> Result<u64, StoreError> {
        let s = self.statement(sql)?;
        Ok(self.client.execute(&s, p)?)
    }

    /// The rows of a statement built at run time (a list's filters): not cached.
    pub(crate) fn query_dynamic(
        &mut self,
        sql: &str,
        p: Params<'_>,
    ) -> Result<Vec<Row>, StoreError> {
        Ok(self.client.query(sql, p)?)
    }

    /// Runs statements without parameters (BEGIN, SAVEPOINT, …).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client.batch_execute(sql)?)
    }

    /// The driver's client, for what the cache does not cover (COPY, notifications).
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// A pool of connections for reads, opened as needed (at most [`READ_POOL`] kept idle).
pub(crate) struct Pool {
    url: String,
    idle: std::sync::Mutex<Vec<Conn>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The driver closes a connection by blocking on it, which it may not do on an async
        // runtime's thread (where the last handle on the store may be dropped).
        let idle = self.idle.get_mut().map(std::mem::take).unwrap_or_default();
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("pg-close".into())
                .spawn(move || drop(idle));
        }
    }
}

/// Idle read connections kept.
pub(crate) const READ_POOL: usize = 8;

impl Pool {
    pub(crate) fn new(url: &str) -> Pool {
        Pool {
            url: url.to_string(),
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a pooled connection (blocking). A connection the server closed is dropped,
    /// and the next call opens a new one.
    ///
    /// # Errors
    /// What `f` returned, or no connection could be opened.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut conn = match pooled {
            Some(c) if !c.is_closed() => c,
            _ => Conn::connect(&self.url)?,
        };
        let out = f(&mut conn);
        if !conn.is_closed() {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < READ_POOL {
                    idle.push(conn);
                }
            }
        }
        out
    }
}
