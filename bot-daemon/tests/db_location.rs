//! The backend comes from `--db` (issues 15, 16): the real binary, given the URL of a PostgreSQL
//! server it cannot reach, exits non-zero at start-up saying so (before it listens, and without
//! repeating the URL's password); given `sqlite://PATH`, it serves on that SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

fn daemon(dir: &std::path::Path, db: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bot-daemon"));
    cmd.env_clear()
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .args(["--db", db])
        .args(["--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn an_unreachable_postgres_database_is_refused_at_start_up_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = daemon(dir.path(), "postgres://cs:s3cret@db.internal/cs")
        .spawn()
        .expect("starting bot-daemon");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("polling bot-daemon").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon kept running with an unreachable PostgreSQL --db");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("reading its output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit status {:?}: {stderr}",
        out.status
    );
    assert!(
        stderr.contains("opening the database: database unavailable: error connecting"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cret"),
        "the password is not echoed: {stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}

#[test]
fn a_sqlite_url_serves_on_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let mut child = daemon(dir.path(), &format!("sqlite://{}", db.display()))
        .spawn()
        .expect("starting bot-daemon");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let listening = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("gRPC API listening") => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "the daemon did not start:\n{}", seen.join("\n"));
    assert!(db.is_file(), "the database is the URL's file");
}
