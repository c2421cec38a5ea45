//! A listener that cannot start stops the daemon (issue 13, item 5): the real binary, given a
//! missing or garbage TLS certificate or an address in use, exits non-zero with an error naming
//! the file or the address, before it says it is listening, instead of staying up half-served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

/// Runs the daemon with `args` on a fresh database in `dir` and waits (at most 60 s) for it to
/// exit by itself.
fn run_daemon(dir: &Path, args: &[&str]) -> Output {
    let db = dir.join("chat-support.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bot-daemon"))
        .env_clear()
        .env("RUST_LOG", "info")
        .arg("--db")
        .arg(&db)
        .args(["--http-addr", "127.0.0.1:0"])
        .args(if args.contains(&"--grpc-addr") {
            &[][..]
        } else {
            &["--grpc-addr", "127.0.0.1:0"][..]
        })
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting bot-daemon");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("polling bot-daemon").is_some() {
            return child.wait_with_output().expect("reading its output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reading its output");
            panic!(
                "the daemon kept running with a listener that cannot start:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_refused(out: &Output, names: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit status {:?}: {stderr}",
        out.status
    );
    assert!(
        stderr.contains(names),
        "the error names {names:?}:\n{stderr}"
    );
    assert!(
        !stderr.contains("listening"),
        "it must refuse before it says it is listening:\n{stderr}"
    );
}

#[test]
fn a_missing_tls_certificate_stops_the_daemon_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("no-such-cert.pem");
    let key = dir.path().join("no-such-key.pem");
    let out = run_daemon(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert_refused(&out, "no-such-cert.pem");
}

#[test]
fn a_garbage_tls_certificate_or_key_stops_the_daemon_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("garbage-cert.pem");
    let key = dir.path().join("garbage-key.pem");
    std::fs::write(&cert, "this is not a certificate\n").unwrap();
    std::fs::write(&key, "nor a key\n").unwrap();
    let args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    assert_refused(&run_daemon(dir.path(), &args), "garbage-cert.pem");

    // A real certificate with a key that is PEM but not a key.
    let real = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&cert, real.cert.pem()).unwrap();
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    assert_refused(&run_daemon(dir.path(), &args), "garbage-key.pem");
}

#[test]
fn an_address_in_use_stops_the_daemon_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_daemon(dir.path(), &["--grpc-addr", &addr]);
    assert_refused(&out, &addr);
}
