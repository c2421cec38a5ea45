//! `bot-daemon admin …`: the agents' API from a shell, over gRPC. Human tables by default,
//! `--json` (one JSON document, or one per line for `watch`) for scripts: the gRPC field names,
//! RFC 3339 UTC timestamps (`null` when unset), enums as lowercase words. Failures are
//! [`CliError`]s with distinct exit codes.
//!
//! This file is the command line (clap) and the dispatch; nothing below imports it. Each
//! command group has its file — [`conversations`] (`list`, `show`, `send`, `end`, `read`),
//! [`watch`], [`stats`], [`desk`] (assignment, priority, notes, audit), [`agents`], [`canned`] —
//! where a command is one small function calling the client and a pure `render_*` of the
//! answer into an [`output::Output`]. [`connect`] builds the shared `proto::client` from the
//! flags and the daemon's configuration; [`output`] holds the formatting they share.

mod agents;
mod canned;
mod connect;
mod conversations;
mod desk;
mod inbox;
mod output;
mod stats;
mod watch;

use clap::{Args, Subcommand};

pub use agents::AgentsCommand;
pub use canned::CannedCommand;
pub use desk::DeskCommand;
pub use inbox::InboxCommand;

use crate::{cli_output::CliError, config::Config};

/// `bot-daemon admin`.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// The daemon's gRPC address (default: the configured --grpc-addr).
    #[arg(long)]
    pub addr: Option<String>,
    /// The admin token, or an agent's token. Prefer the environment variable or the file beside
    /// the database (`<db>.admin-token`): a flag's value shows in `ps`.
    #[arg(long, env = "CHAT_SUPPORT_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to verify a TLS-enabled daemon (`--tls-cert` on its side); the
    /// connection then uses https.
    #[arg(long)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// List conversations (active chats first, longest-waiting first).
    List {
        /// Only active chats.
        #[arg(long)]
        active: bool,
        /// Filter by name or number.
        #[arg(long)]
        query: Option<String>,
        /// Rows per page.
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        /// Continue from a previous page's token.
        #[arg(long)]
        page_token: Option<String>,
        /// Only chats assigned to this token's agent.
        #[arg(long, conflicts_with = "unassigned")]
        mine: bool,
        /// Only unassigned chats.
        #[arg(long)]
        unassigned: bool,
    },
    /// Show a conversation's thread.
    Show {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// Messages per page.
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        /// Older than this message id.
        #[arg(long, default_value_t = 0)]
        before: i64,
    },
    /// Send "🎧 Support Team: MESSAGE" to the user.
    Send {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// The text.
        message: String,
        /// Makes retries safe: the same key sends once.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Send into a chat assigned to another agent (it becomes yours).
        #[arg(long)]
        takeover: bool,
    },
    /// End the user's chat with a closing message and the Main Menu button.
    End {
        /// Phone number or WhatsApp user id.
        phone_number: String,
        /// The closing message (default: the standard one).
        #[arg(long)]
        message: Option<String>,
        /// End without messaging the user (e.g. outside WhatsApp's 24-hour window).
        #[arg(long, conflicts_with = "message")]
        silent: bool,
        /// End a chat assigned to another agent.
        #[arg(long)]
        takeover: bool,
    },
    /// Mark the user's messages read on WhatsApp.
    Read {
        /// Phone number or WhatsApp user id.
        phone_number: String,
    },
    /// The support lead's figures (queue, response times, CSAT, busiest hours) as a table.
    Stats {
        /// Range start: YYYY-MM-DD (midnight UTC) or an RFC 3339 time (default: --days before --to).
        #[arg(long)]
        from: Option<String>,
        /// Range end, exclusive (default: now).
        #[arg(long)]
        to: Option<String>,
        /// The range's length in days when --from is not given (default 7).
        #[arg(long, conflicts_with = "from")]
        days: Option<u32>,
        /// Only the chats this agent wrote in or ended.
        #[arg(long)]
        agent: Option<String>,
    },
    /// The durable inbox: deliveries waiting to be processed, and the parked ones (operator).
    Inbox {
        /// Parked deliveries to list.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Retry or drop a parked delivery.
        #[command(subcommand)]
        action: Option<InboxCommand>,
    },
    /// Follow chat events live.
    Watch {
        /// Resume after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// The shared desk: agents, assignment, priority, notes, canned responses, audit.
    #[command(flatten)]
    Desk(DeskCommand),
}

/// Runs one admin command.
///
/// # Errors
/// The daemon is unreachable, refuses the token, or refuses the request (its message is
/// shown), or stdout was closed ([`CliError::BrokenPipe`]); [`CliError::exit_code`] tells them
/// apart.
pub async fn run(cfg: &Config, args: &AdminArgs) -> Result<(), CliError> {
    let mut client = connect::connect(
        cfg,
        args.addr.as_deref(),
        args.token.as_deref(),
        args.tls_ca.as_deref(),
    )
    .await?;
    let c = &mut client;
    let json = args.json;
    let out = match &args.command {
        AdminCommand::List {
            active,
            query,
            page_size,
            page_token,
            mine,
            unassigned,
        } => {
            let flags = conversations::ListFlags {
                active: *active,
                query: query.clone(),
                page_size: *page_size,
                page_token: page_token.clone(),
                mine: *mine,
                unassigned: *unassigned,
            };
            conversations::list(c, &flags, json).await?
        }
        AdminCommand::Show {
            phone_number,
            page_size,
            before,
        } => conversations::show(c, phone_number, *page_size, *before, json).await?,
        AdminCommand::Send {
            phone_number,
            message,
            idempotency_key,
            takeover,
        } => {
            let key = idempotency_key.as_deref();
            conversations::send(c, phone_number, message, key, *takeover, json).await?
        }
        AdminCommand::End {
            phone_number,
            message,
            silent,
            takeover,
        } => {
            let message = message.as_deref();
            conversations::end(c, phone_number, message, *silent, *takeover, json).await?
        }
        AdminCommand::Read { phone_number } => conversations::read(c, phone_number, json).await?,
        AdminCommand::Stats {
            from,
            to,
            days,
            agent,
        } => {
            let (from, to, agent) = (from.as_deref(), to.as_deref(), agent.as_deref());
            stats::stats(c, from, to, *days, agent, json).await?
        }
        AdminCommand::Inbox { limit, action } => {
            inbox::run(c, action.as_ref(), *limit, json).await?
        }
        AdminCommand::Watch { after } => return watch::watch(c, *after, json).await,
        AdminCommand::Desk(cmd) => desk::run(c, cmd, json).await?,
    };
    out.emit()
}
