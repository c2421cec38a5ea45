//! The one client of `chatsupport.v1.SupportAdmin` for the front ends (`bot-daemon admin` and
//! `admin-tui`): where the daemon is ([`ClientConfig::url`]), TLS, the bearer token on every
//! call ([`Bearer`]) and where that token comes from ([`TokenSource::discover`]), and the
//! errors of getting there ([`ClientError`]). What a front end does with the answers is its own.
//!
//! The token, first found wins: the `--token` flag or `CHAT_SUPPORT_ADMIN_TOKEN` (one value to
//! the front ends' argument parsers), then a configured one, then the file the daemon writes
//! beside its database, `<db>.admin-token`. Whitespace around it is ignored and a blank value
//! counts as none. TLS: an `https://` address, `tls`, or a CA file; a CA file is the only root
//! trusted (a self-signed daemon), otherwise the system's roots are.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use tonic::{
    metadata::{Ascii, MetadataValue},
    service::{interceptor::InterceptedService, Interceptor},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
    Request, Status,
};

use crate::v1::support_admin_client::SupportAdminClient;

/// The environment variable holding the token (the admin token or an agent's own).
pub const TOKEN_ENV: &str = "CHAT_SUPPORT_ADMIN_TOKEN";

/// The suffix of the token file beside the database: `<db>.admin-token`.
pub const TOKEN_FILE_SUFFIX: &str = "admin-token";

/// The typed gRPC client, with the bearer token attached to every call.
pub type Client = SupportAdminClient<InterceptedService<Channel, Bearer>>;

/// `<db>.admin-token`: where the daemon keeps the admin token it generated.
pub fn token_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".");
    name.push(TOKEN_FILE_SUFFIX);
    PathBuf::from(name)
}

/// Where the token comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Given: a flag, the environment or a configuration file.
    Given(String),
    /// The file the daemon writes beside its database (read at every [`TokenSource::read`], so
    /// a daemon started after a long-lived client is picked up).
    File(PathBuf),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Given(_) => f.write_str("Given(<redacted>)"),
            TokenSource::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

impl TokenSource {
    /// The rule, once: `given` (a flag or [`TOKEN_ENV`]), else `configured`, else
    /// [`token_file`]`(db)`; blank values count as none.
    pub fn discover(given: Option<&str>, configured: Option<&str>, db: &Path) -> TokenSource {
        [given, configured]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|t| !t.is_empty())
            .map_or_else(
                || TokenSource::File(token_file(db)),
                |t| TokenSource::Given(t.to_string()),
            )
    }

    /// The token, trimmed.
    ///
    /// # Errors
    /// The file cannot be read or is empty.
    pub fn read(&self) -> Result<String, TokenError> {
        match self {
            TokenSource::Given(t) => Ok(t.trim().to_string()),
            TokenSource::File(path) => match std::fs::read_to_string(path) {
                Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
                Ok(_) => Err(TokenError::Empty { path: path.clone() }),
                Err(error) => Err(TokenError::Unreadable {
                    path: path.clone(),
                    error,
                }),
            },
        }
    }
}

/// Why there is no token to present.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file cannot be read (no daemon has run with this database yet, or another
    /// directory).
    #[error(
        "cannot read {} ({error}); set {TOKEN_ENV}, or run where the daemon's database is, or point --db (CHAT_SUPPORT_DB) at it",
        path.display()
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The token file holds only whitespace.
    #[error("{} is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The token cannot be sent in an HTTP/2 header.
    #[error("the token has characters a header cannot carry")]
    NotAHeader,
}

/// Why a client could not be set up or could not reach the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address is not a URL tonic can dial (a usage error).
    #[error("{url:?} is not a gRPC address: {reason}")]
    Address {
        /// The URL as built from the address.
        url: String,
        /// tonic's words.
        reason: String,
    },
    /// The CA file cannot be read (a usage error).
    #[error("reading the TLS CA certificate {}: {error}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The TLS settings are unusable (a usage error).
    #[error("TLS setup: {0}")]
    Tls(String),
    /// No token to present (an authentication error).
    #[error("no admin token: {0}")]
    NoToken(TokenError),
    /// Nobody answered at the address.
    #[error("cannot reach the daemon's gRPC API at {url}: {cause}")]
    Unreachable {
        /// The URL dialled.
        url: String,
        /// The innermost cause ("Connection refused (os error 111)").
        cause: String,
    },
}

impl From<TokenError> for ClientError {
    fn from(e: TokenError) -> Self {
        ClientError::NoToken(e)
    }
}

/// How long to wait, for a client that needs to notice a dead daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest a connection attempt may take (none: the system's).
    pub connect: Option<Duration>,
    /// HTTP/2 pings, also while idle: every `.0`, each answered within `.1` (none: no pings).
    pub keep_alive: Option<(Duration, Duration)>,
}

impl Timeouts {
    /// For a long-lived client (the console): 5 s to connect, a ping every 15 s answered
    /// within 10 s.
    pub const LONG_LIVED: Timeouts = Timeouts {
        connect: Some(Duration::from_secs(5)),
        keep_alive: Some((Duration::from_secs(15), Duration::from_secs(10))),
    };
}

/// How to reach the daemon and who to say we are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// `host:port`, or a URL (`http://…`, `https://…`).
    pub addr: String,
    /// Where the token comes from.
    pub token: TokenSource,
    /// Use TLS even for a `host:port` or `http://` address.
    pub tls: bool,
    /// A PEM CA certificate to trust instead of the system's roots (implies TLS).
    pub tls_ca: Option<PathBuf>,
    /// The name the daemon's certificate must carry (default: the address's host).
    pub tls_domain: Option<String>,
    /// Connection timeouts.
    pub timeouts: Timeouts,
}

impl ClientConfig {
    /// Plain connection settings: no TLS unless the address is `https://`, no timeouts.
    pub fn new(addr: impl Into<String>, token: TokenSource) -> ClientConfig {
        ClientConfig {
            addr: addr.into(),
            token,
            tls: false,
            tls_ca: None,
            tls_domain: None,
            timeouts: Timeouts::default(),
        }
    }

    /// The URL dialled: the address with its scheme, `https` when TLS is asked for.
    pub fn url(&self) -> String {
        let addr = self.addr.trim();
        let tls = self.tls || self.tls_ca.is_some();
        match addr.strip_prefix("http://") {
            Some(rest) if tls => format!("https://{rest}"),
            Some(_) => addr.to_string(),
            None if addr.starts_with("https://") => addr.to_string(),
            None if tls => format!("https://{addr}"),
            None => format!("http://{addr}"),
        }
    }

    /// The endpoint to dial, with its timeouts and TLS.
    ///
    /// # Errors
    /// A malformed address, an unreadable CA file or unusable TLS settings.
    pub fn endpoint(&self) -> Result<Endpoint, ClientError> {
        let url = self.url();
        let mut endpoint =
            Endpoint::from_shared(url.clone()).map_err(|e| ClientError::Address {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if let Some(t) = self.timeouts.connect {
            endpoint = endpoint.connect_timeout(t);
        }
        if let Some((interval, timeout)) = self.timeouts.keep_alive {
            endpoint = endpoint
                .http2_keep_alive_interval(interval)
                .keep_alive_timeout(timeout)
                .keep_alive_while_idle(true);
        }
        if url.starts_with("https://") {
            let tls = match &self.tls_ca {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|error| ClientError::CaFile {
                        path: path.clone(),
                        error,
                    })?;
                    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
                }
                None => ClientTlsConfig::new().with_native_roots(),
            };
            let tls = match &self.tls_domain {
                Some(d) => tls.domain_name(d.clone()),
                None => tls,
            };
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| ClientError::Tls(e.to_string()))?;
        }
        Ok(endpoint)
    }

    /// A channel that dials on its first call (and again after a failure), for a client that
    /// outlives daemon restarts.
    ///
    /// # Errors
    /// See [`ClientConfig::endpoint`].
    pub fn channel_lazy(&self) -> Result<Channel, ClientError> {
        Ok(self.endpoint()?.connect_lazy())
    }

    /// A client over `channel` with the token as it is now.
    ///
    /// # Errors
    /// No token ([`ClientError::NoToken`]).
    pub fn client(&self, channel: Channel) -> Result<Client, ClientError> {
        let bearer = Bearer::new(&self.token.read()?)?;
        Ok(SupportAdminClient::with_interceptor(channel, bearer))
    }

    /// Reads the token and connects now.
    ///
    /// # Errors
    /// No token, bad settings, or nobody answering ([`ClientError::Unreachable`]).
    pub async fn connect(&self) -> Result<Client, ClientError> {
        let bearer = Bearer::new(&self.token.read()?)?;
        let channel = self
            .endpoint()?
            .connect()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.url(),
                cause: root_cause(&e).unwrap_or_else(|| e.to_string()),
            })?;
        Ok(SupportAdminClient::with_interceptor(channel, bearer))
    }
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

impl Bearer {
    /// The header for `token`.
    ///
    /// # Errors
    /// [`TokenError::NotAHeader`].
    pub fn new(token: &str) -> Result<Bearer, TokenError> {
        let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| TokenError::NotAHeader)?;
        value.set_sensitive(true);
        Ok(Bearer(value))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// The innermost error under `e` ("Connection refused (os error 111)" under a transport
/// error); `None` when `e` has no source.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = e.source();
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_given_then_configured_then_beside_the_database() {
        let db = Path::new("/srv/cs/chat-support.db");
        assert_eq!(
            TokenSource::discover(Some(" flag\n"), Some("cfg"), db),
            TokenSource::Given("flag".into())
        );
        assert_eq!(
            TokenSource::discover(Some("  "), Some("cfg"), db),
            TokenSource::Given("cfg".into())
        );
        assert_eq!(
            TokenSource::discover(None, None, db),
            TokenSource::File(PathBuf::from("/srv/cs/chat-support.db.admin-token"))
        );
        assert_eq!(
            TokenSource::Given(" t \n".into()).read().ok().as_deref(),
            Some("t")
        );
        assert_eq!(
            format!("{:?}", TokenSource::Given("secret".into())),
            "Given(<redacted>)"
        );
    }

    #[test]
    fn token_file_errors_say_where_and_what_to_do() {
        let missing = TokenSource::File(PathBuf::from("/nonexistent/chat-support.db.admin-token"));
        let e = ClientError::from(missing.read().unwrap_err()).to_string();
        assert!(
            e.starts_with("no admin token: cannot read /nonexistent/chat-support.db.admin-token"),
            "{e}"
        );
        assert!(e.contains("CHAT_SUPPORT_ADMIN_TOKEN"), "{e}");
        let dir = std::env::temp_dir().join(format!("proto-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("x.db.admin-token");
        std::fs::write(&file, " \n").unwrap();
        let e = TokenSource::File(file.clone()).read().unwrap_err();
        assert_eq!(e.to_string(), format!("{} is empty", file.display()));
        std::fs::write(&file, " tok\n").unwrap();
        assert_eq!(TokenSource::File(file).read().unwrap(), "tok");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(Bearer::new("a\nb"), Err(TokenError::NotAHeader)));
    }

    #[test]
    fn addresses_get_their_scheme_and_tls_upgrades_them() {
        let url = |addr: &str, tls: bool, ca: Option<&str>| {
            let mut c = ClientConfig::new(addr, TokenSource::Given("t".into()));
            c.tls = tls;
            c.tls_ca = ca.map(PathBuf::from);
            c.url()
        };
        assert_eq!(url("10.0.0.2:50051", false, None), "http://10.0.0.2:50051");
        assert_eq!(
            url(" 10.0.0.2:50051 ", true, None),
            "https://10.0.0.2:50051"
        );
        assert_eq!(url("h:1", false, Some("ca.pem")), "https://h:1");
        assert_eq!(url("http://h:1", true, None), "https://h:1");
        assert_eq!(url("http://h:1", false, None), "http://h:1");
        assert_eq!(url("https://h:1", false, None), "https://h:1");
    }

    #[test]
    fn bad_settings_are_refused_before_anything_is_dialled() {
        let c = ClientConfig::new("http://exa mple:1", TokenSource::Given("t".into()));
        assert!(matches!(c.channel_lazy(), Err(ClientError::Address { .. })));
        let mut c = ClientConfig::new("h:1", TokenSource::Given("t".into()));
        c.tls_ca = Some(PathBuf::from("/nonexistent/ca.pem"));
        let e = c.endpoint().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("reading the TLS CA certificate /nonexistent/ca.pem: "),
            "{e}"
        );
    }

    #[tokio::test]
    async fn nobody_listening_is_unreachable_with_the_innermost_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = ClientConfig::new(format!("127.0.0.1:{port}"), TokenSource::Given("t".into()));
        match c.connect().await {
            Err(ClientError::Unreachable { url, cause }) => {
                assert_eq!(url, format!("http://127.0.0.1:{port}"));
                assert!(cause.contains("refused"), "{cause}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
