//! `bot-daemon`: runs the daemon (the default), or one of its operator commands. Everything
//! lives in the library (`cli/entry.rs`).

fn main() -> std::process::ExitCode {
    bot_daemon::cli::entry::main_entry()
}
