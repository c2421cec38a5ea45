//! The admin commands' connection: the shared [`proto::client`] with this daemon's
//! configuration for defaults (its `--grpc-addr`, its configured `admin_token`, the token file
//! beside its `--db`), and the client's failures as [`CliError`]s: bad settings exit 2, an
//! unreachable daemon 3 (with how to start one), no token 4.

use std::path::Path;

use proto::client::{Client, ClientConfig, ClientError, TokenSource};

use crate::{
    cli_output::{CliError, START_HINT},
    config::Config,
};

/// The connection `--addr`, `--token` (or `CHAT_SUPPORT_ADMIN_TOKEN`) and `--tls-ca` describe,
/// the daemon's configuration filling in what they leave out.
pub(crate) fn client_config(
    cfg: &Config,
    addr: Option<&str>,
    token: Option<&str>,
    tls_ca: Option<&Path>,
) -> ClientConfig {
    let token = TokenSource::discover(token, cfg.admin_token.as_deref(), cfg.db.path());
    let mut c = ClientConfig::new(addr.unwrap_or(&cfg.grpc_addr), token);
    c.tls_ca = tls_ca.map(Path::to_path_buf);
    c
}

/// A client failure as the command line reports it.
pub(crate) fn cli_error(e: ClientError) -> CliError {
    match e {
        ClientError::Address { .. } | ClientError::CaFile { .. } | ClientError::Tls(_) => {
            CliError::Usage(e.to_string())
        }
        ClientError::NoToken(_) => CliError::NoToken(e.to_string()),
        ClientError::Unreachable { .. } => CliError::Unreachable(format!(
            "{e}; is the daemon running? (start it with: {START_HINT})"
        )),
    }
}

/// Connects now, with the token attached to every call.
///
/// # Errors
/// See [`cli_error`].
pub(crate) async fn connect(
    cfg: &Config,
    addr: Option<&str>,
    token: Option<&str>,
    tls_ca: Option<&Path>,
) -> Result<Client, CliError> {
    client_config(cfg, addr, token, tls_ca)
        .connect()
        .await
        .map_err(cli_error)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_flags_win_and_the_configuration_fills_in() {
        let mut cfg = Config::for_tests(Path::new("/srv/cs/chat-support.db"));
        cfg.admin_token = None;
        let c = client_config(&cfg, None, None, None);
        assert_eq!(c.url(), format!("http://{}", cfg.grpc_addr));
        assert_eq!(
            c.token,
            TokenSource::File(PathBuf::from("/srv/cs/chat-support.db.admin-token"))
        );
        cfg.admin_token = Some("configured".into());
        let c = client_config(
            &cfg,
            Some("10.0.0.2:50051"),
            None,
            Some(Path::new("ca.pem")),
        );
        assert_eq!(c.url(), "https://10.0.0.2:50051");
        assert_eq!(c.token, TokenSource::Given("configured".into()));
        let c = client_config(&cfg, None, Some("flag"), None);
        assert_eq!(c.token, TokenSource::Given("flag".into()));
    }

    #[test]
    fn client_failures_keep_their_exit_codes_and_hints() {
        let down = cli_error(ClientError::Unreachable {
            url: "http://127.0.0.1:1".into(),
            cause: "Connection refused (os error 111)".into(),
        });
        assert_eq!(down.exit_code(), 3);
        assert_eq!(
            down.to_string(),
            "cannot reach the daemon's gRPC API at http://127.0.0.1:1: Connection refused (os error 111); is the daemon running? (start it with: cargo run --release -p bot-daemon)"
        );
        let none = cli_error(ClientError::NoToken(proto::client::TokenError::NotAHeader));
        assert_eq!(none.exit_code(), 4);
        let bad = cli_error(ClientError::Tls("x".into()));
        assert_eq!(bad.exit_code(), 2);
    }
}
