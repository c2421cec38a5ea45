//! Command-line options, and where the daemon and its admin token are (as the shared
//! [`proto::client`] settings).

use std::path::PathBuf;

use clap::Parser;
use proto::client::{ClientConfig, Timeouts, TokenSource};

/// The support agents' live terminal console for chat-support.
///
/// Connects to the daemon's gRPC API (default 127.0.0.1:50051) with the admin token from
/// --token, CHAT_SUPPORT_ADMIN_TOKEN, or the file the daemon writes beside its database
/// (<db>.admin-token; default ./chat-support.db.admin-token). Press ? inside for every key.
#[derive(Debug, Clone, Parser)]
#[command(name = "admin-tui", version)]
pub struct Args {
    /// The daemon's gRPC address: host:port, or a URL (https:// for TLS).
    #[arg(
        long,
        env = "CHAT_SUPPORT_GRPC_ADDR",
        default_value = "127.0.0.1:50051"
    )]
    pub addr: String,
    /// The admin token, or an agent's own token from `bot-daemon admin agents add` (default:
    /// the admin token in the file beside the database).
    #[arg(long, env = "CHAT_SUPPORT_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The daemon's database; its token is read from `<db>.admin-token`.
    #[arg(long, env = "CHAT_SUPPORT_DB", default_value = "./chat-support.db")]
    pub db: PathBuf,
    /// Use TLS (implied by an https:// address or --tls-ca).
    #[arg(long)]
    pub tls: bool,
    /// A PEM CA certificate to trust for the daemon's TLS certificate (e.g. a self-signed one).
    #[arg(long, env = "CHAT_SUPPORT_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// The name the daemon's certificate must carry (default: the address's host).
    #[arg(long)]
    pub tls_domain: Option<String>,
    /// Ring the terminal bell for notifications: a new chat, a chat assigned or transferred to
    /// you, a new message in one of your chats, a rating of 1 or 2 on a chat you handled.
    #[arg(long, env = "CHAT_SUPPORT_BELL")]
    pub bell: bool,
    /// Minutes a chat may wait for its first agent reply before it shows amber.
    #[arg(
        long,
        env = "CHAT_SUPPORT_WAIT_AMBER",
        default_value_t = 2,
        value_name = "MINUTES"
    )]
    pub wait_amber: u32,
    /// Minutes a chat may wait for its first agent reply before it shows red.
    #[arg(
        long,
        env = "CHAT_SUPPORT_WAIT_RED",
        default_value_t = 5,
        value_name = "MINUTES"
    )]
    pub wait_red: u32,
    /// Write a log to this file (nothing is ever logged to the terminal).
    #[arg(long)]
    pub log: Option<PathBuf>,
}

impl Args {
    /// The waiting alarms' thresholds (red never before amber).
    pub(crate) fn alarms(&self) -> crate::app::Alarms {
        let amber = chrono::Duration::minutes(i64::from(self.wait_amber));
        let red = chrono::Duration::minutes(i64::from(self.wait_red)).max(amber);
        crate::app::Alarms { amber, red }
    }

    /// The connection settings these options describe: the token from `--token` /
    /// `CHAT_SUPPORT_ADMIN_TOKEN`, else `<db>.admin-token`; the console's timeouts.
    pub(crate) fn net_config(&self) -> ClientConfig {
        let token = TokenSource::discover(self.token.as_deref(), None, &self.db);
        ClientConfig {
            tls: self.tls,
            tls_ca: self.tls_ca.clone(),
            tls_domain: self.tls_domain.clone(),
            timeouts: Timeouts::LONG_LIVED,
            ..ClientConfig::new(self.addr.clone(), token)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("admin-tui").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_token_file_sits_beside_the_database() {
        let a = parse(&[
            "--db",
            "/srv/cs/chat-support.db",
            "--addr",
            "10.0.0.2:50051",
        ]);
        let cfg = a.net_config();
        assert_eq!(cfg.url(), "http://10.0.0.2:50051");
        if std::env::var_os("CHAT_SUPPORT_ADMIN_TOKEN").is_none() {
            assert_eq!(
                cfg.token,
                TokenSource::File(PathBuf::from("/srv/cs/chat-support.db.admin-token"))
            );
        }
        let a = parse(&["--token", "abc", "--tls-ca", "ca.pem"]);
        let cfg = a.net_config();
        assert_eq!(cfg.token, TokenSource::Given("abc".into()));
        assert!(cfg.url().starts_with("https://"));
    }
}
