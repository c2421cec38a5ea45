//! `bot-daemon simulate` as a shell runs it: the real binary against a sandbox daemon booted
//! in-process on loopback. A closed stdout (`simulate … | head -1`) ends it quietly, and run
//! from another directory it signs with the secret beside the configured database or says
//! where it looked — it never leaves a `*.sandbox-secret` file of its own behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{path::Path, process::Stdio, time::Duration};

use bot_daemon::{config::Config, Daemon, Listeners};
use tokio::process::Command;

const ADA: &str = "2348012345678";
/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

async fn start(db: &Path) -> Daemon {
    let cfg = Config::for_tests(db);
    let listeners = Listeners::bind(&cfg).await.unwrap();
    Daemon::start(cfg, listeners).await.unwrap()
}

/// `bot-daemon simulate ARGS` run in `cwd`, with only the webhook address (and `db`, if given)
/// in its environment.
fn simulate(daemon: &Daemon, cwd: &Path, db: Option<&Path>, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bot-daemon"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CHAT_SUPPORT_HTTP_ADDR", daemon.http_addr().to_string())
        .current_dir(cwd)
        .arg("simulate")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(db) = db {
        c.env("CHAT_SUPPORT_DB", db);
    }
    c
}

async fn output(mut c: Command) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(WAIT, c.output())
        .await
        .expect("simulate finished")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_stops_quietly_when_the_reader_of_stdout_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sim.db");
    let daemon = start(&db).await;
    let mut child = simulate(&daemon, dir.path(), Some(&db), &["--from", ADA, "hello"])
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("simulate finished")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "simulate wrote to stderr: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_from_another_directory_leaves_no_secret_file_there() {
    let desk = tempfile::tempdir().unwrap();
    let db = desk.path().join("desk.db");
    let daemon = start(&db).await;
    let elsewhere = tempfile::tempdir().unwrap();

    // Without --db it looks for ./chat-support.db, says so, and creates nothing.
    let (code, _, stderr) = output(simulate(
        &daemon,
        elsewhere.path(),
        None,
        &["--from", ADA, "hello"],
    ))
    .await;
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("chat-support.db"), "{stderr}");
    assert!(stderr.contains("--db"), "{stderr}");
    assert_eq!(entries(elsewhere.path()), Vec::<String>::new());

    // With the daemon's database it signs with the secret beside it, and still creates nothing.
    let (code, stdout, stderr) = output(simulate(
        &daemon,
        elsewhere.path(),
        Some(&db),
        &["--from", ADA, "hello"],
    ))
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("🤖 bot: Hi Ada!"), "{stdout}");
    assert_eq!(entries(elsewhere.path()), Vec::<String>::new());
}
