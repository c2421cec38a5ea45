//! The command line's subcommands, all over the daemon's own APIs: `admin …` through the gRPC
//! client, `simulate` through the signed webhook, the students' CSV import through the engine.
//!
//! - [`admin_cli`]: `bot-daemon admin …`, one small function per command, pure renderers.
//! - [`simulate`]: a user's messages as Meta would send them, and the bot's replies.
//! - [`students`]: the students' CSV.
//! - [`entry`]: the `bot-daemon` binary's command line (flags, logging, signals, exit codes).
//! - [`cli_output`]: exit codes and `--json` output shared by the commands.

pub mod admin_cli;
pub mod cli_output;
pub mod entry;
pub mod simulate;
pub mod students;
