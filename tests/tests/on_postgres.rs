//! The end-to-end suites again, on PostgreSQL: the same test files as the SQLite runs,
//! included here as modules, with every daemon started on a fresh database of this binary's
//! throwaway PostgreSQL cluster (`tests::pg`). One suite, both backends, through the same
//! interface (issue 16). Left out: the files about SQLite's own file (backups, a full disk,
//! file modes) and those that drive the sandbox's SQLite file or a terminal.
//!
//! Without a PostgreSQL server this binary prints one line saying its tests were skipped and
//! how to enable them; with `CHAT_SUPPORT_PG_TESTS=required` (CI) a missing server fails.

// Before `main`: every daemon of this binary runs on PostgreSQL.
#[used]
#[link_section = ".init_array"]
static SELECT_POSTGRES: extern "C" fn() = select_postgres;

extern "C" fn select_postgres() {
    tests::select_postgres();
}

#[path = "agents_e2e.rs"]
mod agents_e2e;
#[path = "desk_live_e2e.rs"]
mod desk_live_e2e;
#[path = "desk_order_e2e.rs"]
mod desk_order_e2e;
#[path = "desk_truth_e2e.rs"]
mod desk_truth_e2e;
#[path = "grpc_e2e.rs"]
mod grpc_e2e;
#[path = "hardening_http_e2e.rs"]
mod hardening_http_e2e;
#[path = "hardening_streams_e2e.rs"]
mod hardening_streams_e2e;
#[path = "inbox_e2e.rs"]
mod inbox_e2e;
#[path = "outbound_e2e.rs"]
mod outbound_e2e;
#[path = "queue_e2e.rs"]
mod queue_e2e;
#[path = "reliability_e2e.rs"]
mod reliability_e2e;
#[path = "webhook_e2e.rs"]
mod webhook_e2e;
