//! The real `bot-daemon`, built as a binary of this crate so that the multi-daemon drills
//! (`tests/postgres_drills.rs`) can run it as separate processes and `kill -9` them
//! (`CARGO_BIN_EXE_daemon-under-test`): Cargo builds a package's own binaries for its
//! integration tests, never its dependencies' binaries.

fn main() -> std::process::ExitCode {
    bot_daemon::cli::entry::main_entry()
}
