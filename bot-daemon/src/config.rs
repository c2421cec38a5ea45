//! Configuration: command-line flags over environment variables over an optional TOML file,
//! over built-in defaults. With no WhatsApp access token the daemon runs in sandbox mode.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::{
    conversation::{texts, BotSettings, Faq, Inactivity, Template},
    desk::DeskSettings,
    hours::BusinessHours,
    outbound::SenderConfig,
    storage::Location,
};

/// The Graph API base with a pinned version.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com/v25.0";
/// Default webhook/REST listener.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// Default gRPC listener.
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
/// Default database file.
pub const DEFAULT_DB: &str = "./chat-support.db";
/// How often the timers run by default.
pub const DEFAULT_TIMER_TICK: std::time::Duration = std::time::Duration::from_secs(30);

/// Flags shared by the daemon and its subcommands; each also reads its environment variable.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Optional TOML config file.
    #[arg(long, env = "CHAT_SUPPORT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Webhook and REST listener (port 0 picks a free port).
    #[arg(long, env = "CHAT_SUPPORT_HTTP_ADDR", global = true)]
    pub http_addr: Option<String>,
    /// gRPC listener (port 0 picks a free port).
    #[arg(long, env = "CHAT_SUPPORT_GRPC_ADDR", global = true)]
    pub grpc_addr: Option<String>,
    /// The database: a SQLite file (a path, sqlite://PATH or sqlite:PATH), or a PostgreSQL
    /// database (postgres://USER[:PASS]@HOST:PORT/DB[?sslmode=require]) several daemons share.
    #[arg(long, env = "CHAT_SUPPORT_DB", global = true)]
    pub db: Option<PathBuf>,
    /// Cloud API access token; without one the daemon runs in sandbox mode.
    #[arg(
        long,
        env = "WHATSAPP_ACCESS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub access_token: Option<String>,
    /// The business phone number id messages are sent from.
    #[arg(long, env = "WHATSAPP_PHONE_NUMBER_ID", global = true)]
    pub phone_number_id: Option<String>,
    /// The Meta app secret that signs webhooks.
    #[arg(
        long,
        env = "WHATSAPP_APP_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub app_secret: Option<String>,
    /// The token Meta's verification handshake must present.
    #[arg(
        long,
        env = "WHATSAPP_VERIFY_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub verify_token: Option<String>,
    /// Graph API base URL (with version).
    #[arg(long, env = "WHATSAPP_API_BASE", global = true)]
    pub api_base: Option<String>,
    /// The agents' API token; generated on first start when unset.
    #[arg(
        long,
        env = "CHAT_SUPPORT_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
    /// PEM certificate for the gRPC listener (TLS).
    #[arg(long, env = "CHAT_SUPPORT_TLS_CERT", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the gRPC listener (TLS).
    #[arg(long, env = "CHAT_SUPPORT_TLS_KEY", global = true)]
    pub tls_key: Option<PathBuf>,
    /// Log lines as text (the default; coloured only on a terminal) or json (one object per
    /// line, for log shippers).
    #[arg(long, env = "CHAT_SUPPORT_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// How the daemon writes its log lines (stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines; ANSI colours only when stderr is a terminal.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http_addr: Option<String>,
    grpc_addr: Option<String>,
    db: Option<PathBuf>,
    admin_token: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    log_format: Option<LogFormat>,
    #[serde(default)]
    whatsapp: FileWhatsApp,
    faq: Option<Vec<Faq>>,
    #[serde(default)]
    outbound: FileOutbound,
    #[serde(default)]
    support: DeskSettings,
    #[serde(default)]
    queue: FileQueue,
    hours: Option<FileHours>,
    #[serde(default)]
    csat: FileCsat,
    inactivity: Option<FileInactivity>,
    #[serde(default)]
    limits: FileLimits,
}

/// `[limits]`: what a client may hold of the listeners (seconds may be fractional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    header_timeout_secs: Option<f64>,
    body_timeout_secs: Option<f64>,
    idle_timeout_secs: Option<f64>,
    max_http_connections: Option<usize>,
    max_grpc_connections: Option<usize>,
    webhook_concurrency: Option<usize>,
    shutdown_timeout_secs: Option<f64>,
}

/// The listeners' limits are the server's type; the `[limits]` table fills them in.
pub use crate::server::Limits;

fn limit_secs(
    name: &str,
    value: Option<f64>,
    default: std::time::Duration,
) -> Result<std::time::Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => {
            Ok(std::time::Duration::from_secs_f64(v))
        }
        Some(v) => Err(ConfigError::Invalid(format!(
            "[limits] {name} must be between 0 and 86400 seconds (got {v})"
        ))),
    }
}

fn limit_count(name: &str, value: Option<usize>, default: usize) -> Result<usize, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if (1..=1_000_000).contains(&v) => Ok(v),
        Some(v) => Err(ConfigError::Invalid(format!(
            "[limits] {name} must be between 1 and 1000000 (got {v})"
        ))),
    }
}

impl FileLimits {
    fn resolve(self) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        Ok(Limits {
            header_timeout: limit_secs(
                "header_timeout_secs",
                self.header_timeout_secs,
                d.header_timeout,
            )?,
            body_timeout: limit_secs("body_timeout_secs", self.body_timeout_secs, d.body_timeout)?,
            idle_timeout: limit_secs("idle_timeout_secs", self.idle_timeout_secs, d.idle_timeout)?,
            max_http_connections: limit_count(
                "max_http_connections",
                self.max_http_connections,
                d.max_http_connections,
            )?,
            max_grpc_connections: limit_count(
                "max_grpc_connections",
                self.max_grpc_connections,
                d.max_grpc_connections,
            )?,
            webhook_concurrency: limit_count(
                "webhook_concurrency",
                self.webhook_concurrency,
                d.webhook_concurrency,
            )?,
            shutdown_timeout: limit_secs(
                "shutdown_timeout_secs",
                self.shutdown_timeout_secs,
                d.shutdown_timeout,
            )?,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileQueue {
    /// `{position}`, `{eta}`; "" turns the queue line off.
    text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHours {
    timezone: String,
    mon: Option<String>,
    tue: Option<String>,
    wed: Option<String>,
    thu: Option<String>,
    fri: Option<String>,
    sat: Option<String>,
    sun: Option<String>,
    #[serde(default)]
    holidays: Vec<String>,
    /// `{back}`, `{position}`.
    closed_text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCsat {
    enabled: Option<bool>,
    timeout_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInactivity {
    remind_after_minutes: Option<u64>,
    end_after_minutes: u64,
    remind_text: Option<String>,
    end_text: Option<String>,
}

/// The longest configurable text (they go into 1024-character interactive bodies).
const MAX_CONFIG_TEXT: usize = 500;

fn config_text(name: &str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let v = value.unwrap_or_else(|| default.to_string());
    if v.chars().count() > MAX_CONFIG_TEXT {
        return Err(ConfigError::Invalid(format!(
            "{name} is longer than {MAX_CONFIG_TEXT} characters"
        )));
    }
    Ok(v)
}

const MINUTE_MS: i64 = 60 * 1000;

fn minutes_ms(m: u64) -> i64 {
    i64::try_from(m)
        .unwrap_or(i64::MAX / MINUTE_MS)
        .saturating_mul(MINUTE_MS)
}

/// The queue, hours, survey and inactivity settings from the file.
fn waiting_settings(
    bot: &mut BotSettings,
    queue: FileQueue,
    hours: Option<FileHours>,
    csat: FileCsat,
    inactivity: Option<FileInactivity>,
) -> Result<(), ConfigError> {
    bot.queue_text = config_text("[queue] text", queue.text, texts::DEFAULT_QUEUE_TEXT)?;
    if let Some(h) = hours {
        let days = [&h.mon, &h.tue, &h.wed, &h.thu, &h.fri, &h.sat, &h.sun].map(|d| d.as_deref());
        bot.hours = Some(
            BusinessHours::new(&h.timezone, days, &h.holidays)
                .map_err(|e| ConfigError::Invalid(format!("[hours]: {e}")))?,
        );
        bot.closed_text = config_text(
            "[hours] closed_text",
            h.closed_text,
            texts::DEFAULT_CLOSED_TEXT,
        )?;
    }
    if let Some(enabled) = csat.enabled {
        bot.csat = enabled;
    }
    if let Some(m) = csat.timeout_minutes {
        if m == 0 {
            return Err(ConfigError::Invalid(
                "[csat] timeout_minutes must be at least 1".into(),
            ));
        }
        bot.csat_timeout_ms = minutes_ms(m);
    }
    if let Some(i) = inactivity {
        if i.end_after_minutes == 0
            || i.remind_after_minutes
                .is_some_and(|r| r == 0 || r >= i.end_after_minutes)
        {
            return Err(ConfigError::Invalid(
                "[inactivity]: end_after_minutes must be at least 1 and remind_after_minutes between 1 and end_after_minutes".into(),
            ));
        }
        bot.inactivity = Some(Inactivity {
            remind_after_ms: i.remind_after_minutes.map(minutes_ms),
            end_after_ms: minutes_ms(i.end_after_minutes),
            remind_text: config_text(
                "[inactivity] remind_text",
                i.remind_text,
                texts::DEFAULT_INACTIVITY_REMIND,
            )?,
            end_text: config_text(
                "[inactivity] end_text",
                i.end_text,
                texts::DEFAULT_INACTIVITY_END,
            )?,
        });
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWhatsApp {
    access_token: Option<String>,
    phone_number_id: Option<String>,
    app_secret: Option<String>,
    verify_token: Option<String>,
    api_base: Option<String>,
    reengagement_template: Option<Template>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOutbound {
    max_in_flight: Option<usize>,
    max_attempts: Option<i64>,
    max_per_second: Option<u32>,
}

/// The resolved configuration.
#[derive(Clone)]
pub struct Config {
    /// Webhook and REST listener.
    pub http_addr: String,
    /// gRPC listener.
    pub grpc_addr: String,
    /// The database (`--db`), and so the backend: a SQLite file today.
    pub db: Location,
    /// Cloud API token; `None` means sandbox.
    pub access_token: Option<String>,
    /// Business phone number id.
    pub phone_number_id: String,
    /// Webhook signing secret; in sandbox mode generated beside the database when unset.
    pub app_secret: Option<String>,
    /// Verification handshake token; the handshake is refused when unset.
    pub verify_token: Option<String>,
    /// Graph API base.
    pub api_base: String,
    /// Agents' API token; generated beside the database when unset.
    pub admin_token: Option<String>,
    /// TLS certificate and key for gRPC.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Menu settings (FAQ).
    pub bot: BotSettings,
    /// Outbound sender settings.
    pub sender: SenderConfig,
    /// The shared desk (`[support]`): agent names on WhatsApp, urgent keywords, round-robin.
    pub desk: DeskSettings,
    /// How often the timer task runs (survey timeouts, inactivity).
    pub timer_tick: std::time::Duration,
    /// Timeouts and caps on both listeners (`[limits]`).
    pub limits: Limits,
    /// How log lines are written.
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Config {
    // Secrets are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("http_addr", &self.http_addr)
            .field("grpc_addr", &self.grpc_addr)
            .field("db", &self.db)
            .field("sandbox", &self.is_sandbox())
            .field("phone_number_id", &self.phone_number_id)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

/// A configuration problem, said plainly.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("reading config file {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (in the message, not as a source, so the chain says it once).
        cause: std::io::Error,
    },
    /// The TOML file is not valid.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A combination that cannot work.
    #[error("{0}")]
    Invalid(String),
}

fn default_faq() -> Vec<Faq> {
    [
        ("When are school fees due?", "School fees are due in the first two weeks of each term. You can pay by bank transfer or at the bursary."),
        ("How do I submit homework?", "Upload your homework on the student portal under Assignments before the deadline. Photos and PDFs are accepted."),
        ("What are the office hours?", "The school office is open Monday to Friday, 8:00 to 16:00."),
        ("How do I reset my portal password?", "Use 'Forgot password' on the portal login page; a reset link is sent to your registered email."),
    ]
    .into_iter()
    .map(|(q, a)| Faq { question: q.into(), answer: a.into() })
    .collect()
}

impl Config {
    /// Resolves flags/env (`args`) over the TOML file over defaults.
    ///
    /// # Errors
    /// An unreadable or invalid file, or an incomplete production setup.
    pub fn load(args: &ConfigArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let pick =
            |a: &Option<String>, f: Option<String>| a.clone().or(f).filter(|s| !s.is_empty());
        let access_token = pick(&args.access_token, file.whatsapp.access_token);
        let phone_number_id = pick(&args.phone_number_id, file.whatsapp.phone_number_id);
        if access_token.is_some() && phone_number_id.is_none() {
            return Err(ConfigError::Invalid(
                "WHATSAPP_ACCESS_TOKEN is set but WHATSAPP_PHONE_NUMBER_ID is not: both are needed to send through the Cloud API".into(),
            ));
        }
        let app_secret = pick(&args.app_secret, file.whatsapp.app_secret);
        if access_token.is_some() && app_secret.is_none() {
            return Err(ConfigError::Invalid(
                "WHATSAPP_APP_SECRET is required with WHATSAPP_ACCESS_TOKEN: unsigned webhooks are never accepted".into(),
            ));
        }
        let tls = match (
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        };
        let defaults = SenderConfig::default();
        let mut bot = BotSettings {
            faq: file.faq.unwrap_or_else(default_faq),
            reengagement_template: file.whatsapp.reengagement_template,
            ..BotSettings::default()
        };
        waiting_settings(&mut bot, file.queue, file.hours, file.csat, file.inactivity)?;
        let limits = file.limits.resolve()?;
        Ok(Config {
            http_addr: pick(&args.http_addr, file.http_addr)
                .unwrap_or_else(|| DEFAULT_HTTP_ADDR.into()),
            grpc_addr: pick(&args.grpc_addr, file.grpc_addr)
                .unwrap_or_else(|| DEFAULT_GRPC_ADDR.into()),
            db: match args.db.clone().or(file.db) {
                Some(value) => Location::parse(value.as_os_str())
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?,
                None => Location::Sqlite(PathBuf::from(DEFAULT_DB)),
            },
            access_token,
            phone_number_id: phone_number_id.unwrap_or_else(|| "sandbox".into()),
            app_secret,
            verify_token: pick(&args.verify_token, file.whatsapp.verify_token),
            api_base: pick(&args.api_base, file.whatsapp.api_base)
                .unwrap_or_else(|| DEFAULT_API_BASE.into()),
            admin_token: admin_token(pick(&args.admin_token, file.admin_token))?,
            tls,
            limits,
            bot,
            timer_tick: DEFAULT_TIMER_TICK,
            sender: SenderConfig {
                max_in_flight: file
                    .outbound
                    .max_in_flight
                    .unwrap_or(defaults.max_in_flight),
                max_attempts: file.outbound.max_attempts.unwrap_or(defaults.max_attempts),
                max_per_second: file
                    .outbound
                    .max_per_second
                    .unwrap_or(defaults.max_per_second),
                ..defaults
            },
            desk: file.support,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
        })
    }

    /// True without an access token: outbound messages are recorded, not sent.
    pub fn is_sandbox(&self) -> bool {
        self.access_token.is_none()
    }

    /// A configuration for tests: the given database, port 0 everywhere, sandbox.
    pub fn for_tests(db: &Path) -> Config {
        let mut c = Config::defaults();
        c.db = Location::Sqlite(db.to_path_buf());
        c.http_addr = "127.0.0.1:0".into();
        c.grpc_addr = "127.0.0.1:0".into();
        c
    }
}

impl Config {
    /// The built-in defaults: sandbox, default addresses and database, the sample FAQ.
    pub fn defaults() -> Config {
        Config {
            http_addr: DEFAULT_HTTP_ADDR.into(),
            grpc_addr: DEFAULT_GRPC_ADDR.into(),
            db: Location::Sqlite(PathBuf::from(DEFAULT_DB)),
            access_token: None,
            phone_number_id: "sandbox".into(),
            app_secret: None,
            verify_token: None,
            api_base: DEFAULT_API_BASE.into(),
            admin_token: None,
            tls: None,
            bot: BotSettings {
                faq: default_faq(),
                ..BotSettings::default()
            },
            sender: SenderConfig::default(),
            desk: DeskSettings::default(),
            timer_tick: DEFAULT_TIMER_TICK,
            limits: Limits::default(),
            log_format: LogFormat::Text,
        }
    }
}

/// The operator's token as clients will present it: surrounding whitespace (a newline from a
/// file, a stray space) could never match a presented token, so it is trimmed, with a warning;
/// a token of whitespace only is refused.
fn admin_token(given: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(token) = given else { return Ok(None) };
    let trimmed = token.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::Invalid(
            "the admin token (CHAT_SUPPORT_ADMIN_TOKEN / --admin-token / admin_token) is only whitespace".into(),
        ));
    }
    if trimmed.len() != token.len() {
        tracing::warn!("the admin token had surrounding whitespace; it was trimmed (clients present it without)");
    }
    Ok(Some(trimmed.to_string()))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads a secret kept in a file beside the database (`<db>.<suffix>`), creating it with a
/// fresh random value and mode 0600 on first use. Returns the value and the file's path.
///
/// # Errors
/// The file cannot be read or created.
pub fn secret_beside_db(db: &Path, suffix: &str) -> std::io::Result<(String, PathBuf)> {
    let mut name = db.as_os_str().to_owned();
    name.push(format!(".{suffix}"));
    let path = PathBuf::from(name);
    if let Ok(s) = std::fs::read_to_string(&path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "{} is readable by other users (mode {mode:o}); refusing to use it as a secret: run `chmod 600 {}`",
                        path.display(),
                        path.display()
                    ),
                ));
            }
        }
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok((s, path));
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let bytes: [u8; 32] = rand::random();
    let value = hex::encode(bytes);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let mut f = opts.open(&path)?;
    f.write_all(value.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok((value, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_token_with_surrounding_whitespace_is_trimmed_and_blank_is_refused() {
        let args = ConfigArgs {
            admin_token: Some("  s3cret-token\n".into()),
            ..Default::default()
        };
        assert_eq!(
            Config::load(&args).unwrap().admin_token.as_deref(),
            Some("s3cret-token"),
            "the token clients present (trimmed) must be the one the daemon compares"
        );
        let blank = ConfigArgs {
            admin_token: Some(" \t ".into()),
            ..Default::default()
        };
        let e = Config::load(&blank).expect_err("a blank token is refused");
        assert!(e.to_string().contains("only whitespace"), "{e}");
    }

    #[test]
    fn limits_come_from_the_file_and_nonsense_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[limits]\nheader_timeout_secs = 2.5\nidle_timeout_secs = 30\nmax_http_connections = 100\nshutdown_timeout_secs = 3\n",
        )
        .unwrap();
        let args = ConfigArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let l = Config::load(&args).unwrap().limits;
        assert_eq!(l.header_timeout, std::time::Duration::from_millis(2500));
        assert_eq!(l.idle_timeout, std::time::Duration::from_secs(30));
        assert_eq!(l.max_http_connections, 100);
        assert_eq!(l.shutdown_timeout, std::time::Duration::from_secs(3));
        assert_eq!(l.body_timeout, Limits::default().body_timeout);
        for bad in [
            "header_timeout_secs = 0",
            "body_timeout_secs = -1",
            "max_grpc_connections = 0",
        ] {
            std::fs::write(&file, format!("[limits]\n{bad}\n")).unwrap();
            let e = Config::load(&args).expect_err("refused");
            assert!(e.to_string().contains("[limits]"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_db_value_chooses_the_backend() {
        let load = |db: &str| {
            Config::load(&ConfigArgs {
                db: Some(db.into()),
                ..Default::default()
            })
        };
        let c = load("sqlite:///srv/cs/x.db").unwrap();
        assert_eq!(c.db, Location::Sqlite(PathBuf::from("/srv/cs/x.db")));
        let c = load("postgres://cs@db/cs").unwrap();
        assert!(c.db.is_shared(), "{:?}", c.db);
        let e = load("redis://db").err().unwrap().to_string();
        assert!(e.contains("sqlite://PATH"), "{e}");
        assert_eq!(Config::defaults().db.path(), Path::new(DEFAULT_DB));
    }

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "http_addr = \"127.0.0.1:9000\"\ndb = \"/tmp/x.db\"\n[whatsapp]\nverify_token = \"v\"\n[[faq]]\nquestion = \"Q\"\nanswer = \"A\"\n",
        )
        .unwrap();
        let args = ConfigArgs {
            config: Some(file),
            db: Some("/tmp/flag.db".into()),
            ..Default::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.http_addr, "127.0.0.1:9000");
        assert_eq!(c.db, Location::Sqlite(PathBuf::from("/tmp/flag.db")));
        assert_eq!(c.verify_token.as_deref(), Some("v"));
        assert_eq!(c.bot.faq.len(), 1);
        assert_eq!(c.grpc_addr, DEFAULT_GRPC_ADDR);
        assert!(c.is_sandbox());
    }

    #[test]
    fn production_needs_phone_number_id_and_app_secret() {
        let args = ConfigArgs {
            access_token: Some("t".into()),
            ..Default::default()
        };
        assert!(Config::load(&args).is_err());
        let args = ConfigArgs {
            access_token: Some("t".into()),
            phone_number_id: Some("1".into()),
            ..Default::default()
        };
        assert!(Config::load(&args)
            .unwrap_err()
            .to_string()
            .contains("WHATSAPP_APP_SECRET"));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "htp_addr = \"x\"\n").unwrap();
        let args = ConfigArgs {
            config: Some(file),
            ..Default::default()
        };
        assert!(Config::load(&args)
            .unwrap_err()
            .to_string()
            .contains("htp_addr"));
    }

    #[test]
    fn the_support_section_configures_the_desk() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[support]\nshow_agent_name = true\nurgent_keywords = [\"exam\", \"deadline\"]\nround_robin = true\n",
        )
        .unwrap();
        let args = ConfigArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let cfg = Config::load(&args).unwrap();
        assert!(cfg.desk.show_agent_name && cfg.desk.round_robin);
        assert_eq!(cfg.desk.urgent_keywords, ["exam", "deadline"]);
        // Off by default; a misspelt key is refused.
        assert_eq!(
            Config::load(&ConfigArgs::default()).unwrap().desk,
            DeskSettings::default()
        );
        std::fs::write(&file, "[support]\nround_robbin = true\n").unwrap();
        assert!(Config::load(&args)
            .unwrap_err()
            .to_string()
            .contains("round_robbin"));
    }

    #[test]
    fn secrets_beside_the_db_are_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("d.db");
        let (a, path) = secret_beside_db(&db, "admin-token").unwrap();
        let (b, _) = secret_beside_db(&db, "admin-token").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            // A token file others can read is refused, with the fix in the message.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = secret_beside_db(&db, "admin-token").unwrap_err();
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn queue_hours_csat_and_inactivity_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[queue]\ntext = \"#{position}, {eta}\"\n\
             [hours]\ntimezone = \"Africa/Lagos\"\nmon = \"08:00-17:00\"\nholidays = [\"2026-12-25\"]\nclosed_text = \"Back {back}\"\n\
             [csat]\nenabled = false\ntimeout_minutes = 60\n\
             [inactivity]\nremind_after_minutes = 10\nend_after_minutes = 30\n",
        )
        .unwrap();
        let args = ConfigArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.bot.queue_text, "#{position}, {eta}");
        assert_eq!(c.bot.closed_text, "Back {back}");
        assert!(c.bot.hours.is_some());
        assert!(!c.bot.csat);
        assert_eq!(c.bot.csat_timeout_ms, 3_600_000);
        let i = c.bot.inactivity.unwrap();
        assert_eq!(
            (i.remind_after_ms, i.end_after_ms),
            (Some(600_000), 1_800_000)
        );
        assert_eq!(i.end_text, texts::DEFAULT_INACTIVITY_END);
        // Off by default; CSAT on.
        let d = Config::defaults();
        assert!(d.bot.inactivity.is_none() && d.bot.hours.is_none() && d.bot.csat);
        // A reminder after the end, or a bad zone, is refused.
        std::fs::write(
            &file,
            "[inactivity]\nremind_after_minutes = 30\nend_after_minutes = 30\n",
        )
        .unwrap();
        assert!(Config::load(&args).is_err());
        std::fs::write(&file, "[hours]\ntimezone = \"Lagos\"\n").unwrap();
        assert!(Config::load(&args)
            .unwrap_err()
            .to_string()
            .contains("time zone"));
    }

    #[test]
    fn the_log_format_comes_from_the_flag_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "log_format = \"json\"\n").unwrap();
        let mut args = ConfigArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        assert_eq!(Config::load(&args).unwrap().log_format, LogFormat::Json);
        args.log_format = Some(LogFormat::Text);
        assert_eq!(Config::load(&args).unwrap().log_format, LogFormat::Text);
        assert_eq!(
            Config::load(&ConfigArgs::default()).unwrap().log_format,
            LogFormat::Text
        );
        std::fs::write(&file, "log_format = \"xml\"\n").unwrap();
        args.log_format = None;
        assert!(Config::load(&args).is_err());
    }

    #[test]
    fn an_empty_app_secret_is_refused_outside_sandbox() {
        let args = ConfigArgs {
            access_token: Some("t".into()),
            phone_number_id: Some("1".into()),
            app_secret: Some(String::new()),
            ..Default::default()
        };
        assert!(Config::load(&args)
            .unwrap_err()
            .to_string()
            .contains("WHATSAPP_APP_SECRET"));
    }
}
