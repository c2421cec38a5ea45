//! The command line as a script sees it: the real `bot-daemon` binary, run as a child process
//! against a daemon booted in-process on loopback (sandbox mode), checked by its exit code,
//! stdout and stderr — a closed pipe ends quietly, `--json` speaks the gRPC field names and
//! RFC 3339 times and reports errors as one JSON object, each failure has its own exit code,
//! each command's `--help` shows its own options, and the daemon's log has no colour codes off
//! a terminal and is JSON on request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{path::Path, process::Stdio, time::Duration};

use bot_daemon::{config::Config, Daemon, Listeners};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

const ADMIN_TOKEN: &str = "cli-admin-token";
const ADA: &str = "2348012345678";
/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

struct Desk {
    daemon: Daemon,
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
}

async fn start() -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let mut cfg = Config::for_tests(&db);
    cfg.admin_token = Some(ADMIN_TOKEN.into());
    let listeners = Listeners::bind(&cfg).await.unwrap();
    let daemon = Daemon::start(cfg, listeners).await.unwrap();
    Desk {
        daemon,
        _dir: dir,
        db,
    }
}

impl Desk {
    /// `bot-daemon ARGS` pointed at this daemon, with the operator's token in the environment.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bot-daemon"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CHAT_SUPPORT_DB", &self.db)
            .env(
                "CHAT_SUPPORT_GRPC_ADDR",
                self.daemon.grpc_addr().to_string(),
            )
            .env(
                "CHAT_SUPPORT_HTTP_ADDR",
                self.daemon.http_addr().to_string(),
            )
            .env("CHAT_SUPPORT_ADMIN_TOKEN", ADMIN_TOKEN)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str]) -> Out {
        output(self.cmd(args)).await
    }

    async fn run_as(&self, token: &str, args: &[&str]) -> Out {
        let mut c = self.cmd(args);
        c.env("CHAT_SUPPORT_ADMIN_TOKEN", token);
        output(c).await
    }

    /// A user opens a support chat and writes `n` messages.
    async fn chat(&self, n: usize) {
        let ok = self
            .run(&[
                "simulate",
                "--from",
                ADA,
                "--name",
                "Ada",
                "--button",
                "chat_support",
            ])
            .await;
        assert_eq!(ok.code, Some(0), "{ok:?}");
        for i in 0..n {
            let text = format!("message {i}: I can't upload my homework");
            let ok = self
                .run(&["simulate", "--from", ADA, "--name", "Ada", &text])
                .await;
            assert_eq!(ok.code, Some(0), "{ok:?}");
        }
    }
}

#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
    /// stderr as the one JSON error object it must be.
    fn error(&self) -> Value {
        let v: Value = serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON object ({e}): {self:?}"));
        assert!(v["error"]["message"].is_string(), "{v}");
        v
    }
}

async fn output(mut c: Command) -> Out {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = tokio::time::timeout(WAIT, c.output())
        .await
        .expect("the command finished")
        .unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `c` with its stdout's reading end closed at once (a reader that quit, as `| head -0`
/// or a `head -1` that has had its line), and returns its exit status and stderr.
async fn with_closed_stdout(mut c: Command) -> (Option<i32>, String) {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the command finished")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn is_utc_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_stop_quietly_when_the_reader_of_stdout_goes_away() {
    let desk = start().await;
    desk.chat(3).await;
    for args in [
        &["admin", "show", ADA][..],
        &["admin", "--json", "show", ADA],
        &["admin", "list"],
        &["admin", "stats"],
        &["admin", "audit", ADA],
        &["admin", "agents", "list"],
    ] {
        let (code, stderr) = with_closed_stdout(desk.cmd(args)).await;
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    }

    // `admin watch | head -3`: three lines read, the reader goes; the next event ends watch.
    let mut watch = desk
        .cmd(&["admin", "watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.contains("snapshot"), "{first}");
    let mut read = 1;
    let mut k = 0;
    while read < 3 {
        let note = format!("note {k}");
        k += 1;
        assert_eq!(desk.run(&["admin", "note", ADA, &note]).await.code, Some(0));
        tokio::time::timeout(WAIT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        read += 1;
    }
    drop(lines);
    // Events until watch notices that nobody reads; every wait is bounded.
    let status = tokio::time::timeout(WAIT, async {
        loop {
            assert_eq!(
                desk.run(&["admin", "note", ADA, "more"]).await.code,
                Some(0)
            );
            if let Some(s) = watch.try_wait().unwrap() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("watch ended once its reader went away");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut watch.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    desk.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_uses_the_grpc_field_names_and_rfc3339_utc_times() {
    let desk = start().await;
    desk.chat(1).await;
    assert_eq!(
        desk.run(&["admin", "note", ADA, "private"]).await.code,
        Some(0)
    );
    let show = desk.run(&["admin", "--json", "show", ADA]).await;
    assert_eq!(show.code, Some(0), "{show:?}");
    let v = show.json();
    let s = &v["summary"];
    for field in ["chat_started_at", "waiting_since", "last_inbound_at"] {
        assert!(is_utc_rfc3339(&s[field]), "{field}: {s}");
    }
    assert!(s["first_response_at"].is_null(), "unset is null: {s}");
    for field in ["chat_session_id", "assigned_agent_id", "address", "user_id"] {
        assert!(s.get(field).is_some(), "summary lacks {field}: {s}");
    }
    let m = &v["messages"][0];
    assert!(is_utc_rfc3339(&m["timestamp"]), "{m}");
    for field in ["agent_name", "agent_id", "wa_message_id", "media_id"] {
        assert!(m.get(field).is_some(), "message lacks {field}: {m}");
    }
    assert_eq!(v["notes"][0]["text"], "private", "{v}");
    assert!(v["notes"][0].get("agent_name").is_some(), "{v}");

    let stats = desk.run(&["admin", "--json", "stats"]).await;
    let st = stats.json();
    assert!(
        is_utc_rfc3339(&st["from"]) && is_utc_rfc3339(&st["to"]),
        "{st}"
    );
    for field in [
        "ended_by_user",
        "ended_by_agent",
        "ended_by_system",
        "csat_count",
        "csat_average",
        "csat_distribution",
    ] {
        assert!(st.get(field).is_some(), "stats lack {field}: {st}");
    }

    // An event line names its oneof member, as the gRPC message does.
    let mut watch = desk
        .cmd(&["admin", "--json", "watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let e: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(e["type"], "snapshot", "{e}");
    assert!(is_utc_rfc3339(&e["timestamp"]), "{e}");
    assert!(
        e["snapshot"]["active_chats"][0]["address"].is_string(),
        "{e}"
    );
    let _ = watch.kill().await;
    desk.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_have_distinct_exit_codes_and_json_errors() {
    let desk = start().await;
    desk.chat(1).await;

    // 5: not found.
    let missing = desk
        .run(&["admin", "--json", "show", "2340000000001"])
        .await;
    assert_eq!(missing.code, Some(5), "{missing:?}");
    assert_eq!(missing.error()["error"]["code"], "NOT_FOUND");
    assert!(missing.stdout.is_empty(), "{missing:?}");

    // 2: usage, from clap and from our own checks.
    let usage = desk.run(&["admin", "--json", "show"]).await;
    assert_eq!(usage.code, Some(2), "{usage:?}");
    assert_eq!(usage.error()["error"]["code"], "INVALID_ARGUMENT");
    let bad = desk.run(&["admin", "priority", ADA, "asap"]).await;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr.contains("low, normal, high or urgent"),
        "{bad:?}"
    );

    // 4: a refused token.
    let refused = desk.run_as("nope", &["admin", "--json", "list"]).await;
    assert_eq!(refused.code, Some(4), "{refused:?}");
    assert_eq!(refused.error()["error"]["code"], "UNAUTHENTICATED");

    // 3: nobody listening; the message says what to do.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let down = desk.run(&["admin", "--addr", &addr, "list"]).await;
    assert_eq!(down.code, Some(3), "{down:?}");
    assert!(
        down.stderr.contains("is the daemon running?")
            && down
                .stderr
                .contains("start it with: cargo run --release -p bot-daemon"),
        "{down:?}"
    );
    let down = desk
        .run(&["admin", "--json", "--addr", &addr, "list"])
        .await;
    assert_eq!(down.code, Some(3), "{down:?}");
    assert_eq!(down.error()["error"]["code"], "UNAVAILABLE");

    // 6: another agent's chat; the refusal names the flag that overrides it.
    let mut tokens = Vec::new();
    for name in ["ada", "bola"] {
        let r = desk.run(&["admin", "--json", "agents", "add", name]).await;
        assert_eq!(r.code, Some(0), "{r:?}");
        tokens.push(r.json()["token"].as_str().unwrap().to_string());
    }
    let claim = desk.run_as(&tokens[0], &["admin", "claim", ADA]).await;
    assert_eq!(claim.code, Some(0), "{claim:?}");
    let taken = desk
        .run_as(&tokens[1], &["admin", "send", ADA, "hello"])
        .await;
    assert_eq!(taken.code, Some(6), "{taken:?}");
    assert!(taken.stderr.contains("--takeover"), "{taken:?}");
    let taken = desk
        .run_as(&tokens[1], &["admin", "--json", "end", ADA])
        .await;
    assert_eq!(taken.code, Some(6), "{taken:?}");
    assert_eq!(taken.error()["error"]["code"], "FAILED_PRECONDITION");
    let ok = desk
        .run_as(&tokens[1], &["admin", "send", ADA, "hello", "--takeover"])
        .await;
    assert_eq!(ok.code, Some(0), "{ok:?}");
    desk.daemon.shutdown().await;
}

#[tokio::test]
async fn each_command_help_shows_the_options_it_uses() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &'static [&'static str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bot-daemon"));
        c.args(args).current_dir(dir.path());
        output(c)
    };
    let daemon_only = [
        "--access-token",
        "--verify-token",
        "--app-secret",
        "--api-base",
        "--tls-cert",
        "--tls-key",
        "--http-addr",
        "--log-format",
    ];
    for args in [
        &["admin", "list", "--help"][..],
        &["admin", "send", "--help"],
        &["admin", "--help"],
        &["admin", "agents", "add", "--help"],
    ] {
        let out = help(args).await;
        assert_eq!(out.code, Some(0), "{out:?}");
        for flag in daemon_only {
            let listed = format!("{flag} <");
            assert!(
                !out.stdout.contains(&listed),
                "{args:?} shows {flag}:\n{}",
                out.stdout
            );
        }
        for flag in ["--db", "--grpc-addr"] {
            assert!(
                out.stdout.contains(flag),
                "{args:?} lacks {flag}:\n{}",
                out.stdout
            );
        }
    }
    let list = help(&["admin", "list", "--help"]).await;
    assert!(list.stdout.contains("--active") && list.stdout.contains("--unassigned"));
    let send = help(&["admin", "send", "--help"]).await;
    assert!(send.stdout.contains("--takeover"), "{}", send.stdout);
    let simulate = help(&["simulate", "--help"]).await;
    assert!(
        simulate.stdout.contains("--http-addr <") && !simulate.stdout.contains("--tls-cert <"),
        "{}",
        simulate.stdout
    );
    // The daemon itself still documents all of them.
    let top = help(&["--help"]).await;
    for flag in daemon_only {
        assert!(
            top.stdout.contains(flag),
            "--help lacks {flag}:\n{}",
            top.stdout
        );
    }
}

/// Runs the real daemon until it has said where the gRPC API listens; returns its log lines.
async fn daemon_log(dir: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bot-daemon"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("CHAT_SUPPORT_DB", dir.join("log.db"))
        .env("CHAT_SUPPORT_HTTP_ADDR", "127.0.0.1:0")
        .env("CHAT_SUPPORT_GRPC_ADDR", "127.0.0.1:0")
        .envs(extra_env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while let Some(l) = lines.next_line().await.unwrap() {
            let done = l.contains("gRPC API listening");
            seen.push(l);
            if done {
                return;
            }
        }
        panic!("the daemon exited: {seen:#?}");
    })
    .await
    .expect("the daemon logged its gRPC address");
    let _ = child.kill().await;
    seen
}

#[tokio::test]
async fn logs_have_no_colour_codes_off_a_terminal_and_are_json_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let text = daemon_log(dir.path(), &[], &[]).await;
    assert!(
        text.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a piped log: {text:#?}"
    );
    assert!(text.iter().any(|l| l.contains(" INFO ")), "{text:#?}");
    for (env, args) in [
        (&[][..], &["--log-format", "json"][..]),
        (&[("CHAT_SUPPORT_LOG_FORMAT", "json")][..], &[][..]),
    ] {
        let json = daemon_log(dir.path(), env, args).await;
        for l in &json {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v["level"].is_string() && v["fields"].is_object(), "{v}");
        }
        assert!(
            json.iter().any(|l| l.contains("\"level\":\"INFO\"")),
            "{json:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_show_prints_messages_notes_and_activity_in_time_order() {
    let desk = start().await;
    desk.chat(1).await;
    for args in [
        &["admin", "agents", "add", "bola"][..],
        &["admin", "priority", ADA, "urgent"],
        &["admin", "assign", ADA, "bola", "--note", "fees desk"],
        &["admin", "note", ADA, "paid twice, see receipt"],
        &["admin", "send", ADA, "Let me check"],
    ] {
        let out = desk.run(args).await;
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
    }
    let ok = desk
        .run(&["simulate", "--from", ADA, "--name", "Ada", "thanks"])
        .await;
    assert_eq!(ok.code, Some(0), "{ok:?}");
    let ended = desk.run(&["admin", "end", ADA]).await;
    assert_eq!(ended.code, Some(0), "{ended:?}");

    let show = desk.run(&["admin", "show", ADA]).await;
    assert_eq!(show.code, Some(0), "{show:?}");
    let lines: Vec<&str> = show.stdout.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in\n{}", show.stdout))
    };
    let order = [
        "message 0: I can't upload my homework",
        "· operator set the priority to urgent",
        "· operator assigned the chat to bola",
        "📝 note by operator: paid twice, see receipt",
        "Let me check",
        "thanks",
        "Thank you for contacting support",
        "· operator ended the chat",
    ];
    let found: Vec<usize> = order.iter().map(|n| at(n)).collect();
    assert!(
        found.windows(2).all(|w| w[0] < w[1]),
        "out of time order:\n{}",
        show.stdout
    );
    // The operator's send into bola's chat is a message, not a second activity line.
    assert!(!show.stdout.contains("sent a message"), "{}", show.stdout);
    let json = desk.run(&["admin", "--json", "show", ADA]).await.json();
    let actions: Vec<&str> = json["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["priority", "assigned", "chat_ended"], "{json}");
    desk.daemon.shutdown().await;
}
