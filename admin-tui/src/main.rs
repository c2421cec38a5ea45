//! `admin-tui`: the support agents' terminal console. Everything lives in the library.

fn main() -> std::process::ExitCode {
    admin_tui::main_entry()
}
