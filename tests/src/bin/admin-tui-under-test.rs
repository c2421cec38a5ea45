//! The real `admin-tui`, built as a binary of this crate so that `tests/tui_e2e.rs` can run it
//! (`CARGO_BIN_EXE_admin-tui-under-test`): Cargo builds a package's own binaries for its
//! integration tests, never its dependencies' binaries.

fn main() -> std::process::ExitCode {
    admin_tui::main_entry()
}
