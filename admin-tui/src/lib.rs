//! `admin-tui`: the support agents' live terminal console for chat-support, over the daemon's
//! gRPC API (`chatsupport.v1.SupportAdmin`).
//!
//! - [`app`]: the state and `update(Msg) -> Vec<Cmd>` — plain data, no terminal, no network.
//! - [`input`]: every key binding, as data; terminal events to `Msg`s.
//! - [`ui`]: `render(&App, &mut Frame)`, a function of the state that writes back only the
//!   geometry it measured ([`scroll`]); [`layout`] places panes on a `Rect`.
//! - [`net`]: the task owning the gRPC client (`proto::client`); `Cmd`s in, `Msg`s out, over
//!   channels. [`cli`]: the options, as the client's settings.
//! - [`model`]: the console's types, converted from protobuf at the network edge.
//! - [`editor`]: the multi-line text field; [`strings`]: every user-facing string.
//! - [`terminal`]: raw mode in and out (panics included); [`runtime`]: the event loop.

mod app;
#[doc(hidden)]
pub mod bench;
pub mod cli;
mod editor;
mod input;
mod layout;
mod model;
mod net;
mod runtime;
mod scroll;
mod strings;
mod terminal;
mod ui;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Args;

/// Parses the command line and runs the console until the agent quits.
pub fn main_entry() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("admin-tui: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("admin-tui: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the console with `args` until the agent quits.
///
/// # Errors
/// Bad options (address, TLS files, log file) before the terminal is touched, or a terminal
/// that cannot be driven. Network trouble is never an error: the console shows it and retries.
pub async fn run(args: Args) -> anyhow::Result<()> {
    runtime::run(args).await
}
