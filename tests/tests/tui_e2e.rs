//! End to end through the agents' console: the real `admin-tui` binary runs in a tmux pane
//! against a real daemon (in-process, on loopback, sending to the fake Cloud API). A simulated
//! user starts a chat; the test watches it appear on screen, types a reply, ends the chat
//! through the confirm dialog, and checks what WhatsApp (the fake) received and what the
//! screen shows. tmux is required: without it the test fails and says so.

// Tests stop at the first failed expectation; unwrap/expect/panic are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tests::{button_from, now_secs, phone, text_from, TestDaemon, ADMIN_TOKEN};

/// Every wait on the screen or the fake gives up after this.
const TIMEOUT: Duration = Duration::from_secs(15);
const ADA: &str = "2348012345678";

/// A tmux server of our own (its own socket), killed when dropped — also when the test fails.
struct Tmux {
    socket: String,
    /// The socket file, removed with the server.
    socket_path: Option<String>,
}

impl Tmux {
    /// Starts `command` in a detached `cols`×`rows` session named `tui`.
    fn start(command: &str, cols: u16, rows: u16) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        match version {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "tmux -V failed ({}); this test drives admin-tui in tmux: install tmux",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!(
                "tmux is not installed ({e}); this test drives admin-tui in tmux: install it (apt-get install tmux)"
            ),
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut tmux = Tmux {
            socket: format!("tui-e2e-{}-{nanos}", std::process::id()),
            socket_path: None,
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            command,
        ]);
        let path = tmux.run(&["display-message", "-p", "#{socket_path}"]);
        tmux.socket_path = Some(path.trim().to_string()).filter(|p| !p.is_empty());
        tmux
    }

    fn output(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running tmux {args:?}: {e}"))
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane's text now.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "tui"])
    }

    /// Presses keys by tmux name (`Enter`, `Escape`, `q`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "tui", "-l", text]);
    }

    /// Polls the screen until `ok` holds; panics with the last screen after [`TIMEOUT`].
    async fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if started.elapsed() > TIMEOUT {
                panic!("timed out after {TIMEOUT:?} waiting for {what}; the screen:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the screen shows every one of `needles`.
    async fn wait_for_all(&self, what: &str, needles: &[&str]) -> String {
        self.wait_for(what, |s| needles.iter().all(|n| s.contains(n)))
            .await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `s` quoted for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The text of a Cloud API message body (text or interactive).
fn body_text(sent: &Value) -> &str {
    sent["text"]["body"]
        .as_str()
        .or(sent["interactive"]["body"]["text"].as_str())
        .unwrap_or("")
}

/// Waits until the fake has accepted a message whose text is `text`; returns it.
async fn wait_for_sent_text(td: &TestDaemon, text: &str) -> Value {
    let started = Instant::now();
    loop {
        if let Some(v) = td.fake().sent().into_iter().find(|v| body_text(v) == text) {
            return v;
        }
        if started.elapsed() > TIMEOUT {
            let texts: Vec<String> = td
                .fake()
                .sent()
                .iter()
                .map(|v| body_text(v).to_string())
                .collect();
            panic!("timed out after {TIMEOUT:?} waiting for {text:?} at the Cloud API; it got {texts:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_answers_and_ends_a_chat_from_the_console() {
    let td = TestDaemon::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("admin-tui.log");
    let bin = env!("CARGO_BIN_EXE_admin-tui-under-test");
    assert!(Path::new(bin).exists(), "{bin} was not built");
    let command = format!(
        "{} --addr {} --token {} --db {} --log {}; echo \"admin-tui exited with status $?\"; sleep 600",
        quote(bin),
        quote(&td.grpc_url()),
        quote(ADMIN_TOKEN),
        quote(&dir.path().join("none.db").display().to_string()),
        quote(&log.display().to_string()),
    );
    let tmux = Tmux::start(&command, 120, 40);

    tmux.wait_for_all(
        "the console to connect",
        &["● connected", "No active chats", "0 waiting · 0 active"],
    )
    .await;

    // Ada opens the menu, taps 💬 Chat Support and asks her question.
    let t0 = now_secs() - 60;
    td.deliver(&text_from(ADA, None, "Ada", "wamid.TUI.1", t0, "hello"))
        .await;
    td.deliver(&button_from(
        ADA,
        None,
        "Ada",
        "wamid.TUI.2",
        t0 + 1,
        "chat_support",
        "💬 Chat Support",
    ))
    .await;
    td.deliver(&text_from(
        ADA,
        None,
        "Ada",
        "wamid.TUI.3",
        t0 + 2,
        "I can't upload my homework",
    ))
    .await;
    let screen = tmux
        .wait_for_all(
            "the new chat in the list",
            &[
                "NEW",
                "Ada",
                "+2348012345678",
                "1 waiting · 1 active",
                "Active chats (1)",
            ],
        )
        .await;
    assert!(screen.contains("waiting"), "{screen}");

    // Open it: the thread shows her message.
    tmux.keys(&["Enter"]);
    tmux.wait_for_all(
        "the thread",
        &[
            "user  I can't upload my homework",
            "chat session",
            "chat active",
        ],
    )
    .await;

    // Opening it marks her messages read on WhatsApp (blue ticks).
    let started = Instant::now();
    while !td
        .fake()
        .reads()
        .iter()
        .any(|r| r["message_id"] == "wamid.TUI.3")
    {
        assert!(
            started.elapsed() < TIMEOUT,
            "no mark-as-read for wamid.TUI.3: {:#?}",
            td.fake().reads()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Reply.
    tmux.keys(&["i"]);
    tmux.wait_for_all(
        "the compose box",
        &["Enter send · Ctrl-J newline · Esc back"],
    )
    .await;
    tmux.type_text("Let me help you with that");
    tmux.keys(&["Enter"]);
    let reply = wait_for_sent_text(&td, "🎧 Support Team: Let me help you with that").await;
    assert_eq!(
        reply,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+2348012345678",
               "type": "text", "text": {"preview_url": false, "body": "🎧 Support Team: Let me help you with that"}})
    );
    tmux.wait_for("the reply confirmed (✓) in the thread", |s| {
        s.contains("agent Let me help you with that ✓") && s.contains("0 waiting · 1 active")
    })
    .await;

    // End the chat through the dialog, with the default closing message.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the compose box to let go of the keyboard", |s| {
        !s.contains("Enter send · Ctrl-J newline · Esc back")
    })
    .await;
    tmux.keys(&["e"]);
    tmux.wait_for_all(
        "the end-chat dialog",
        &[
            "End chat",
            "End the chat with Ada (+2348012345678)?",
            "Thank you for contacting support. Chat session ended.",
        ],
    )
    .await;
    tmux.keys(&["Enter"]);
    let closing =
        wait_for_sent_text(&td, "Thank you for contacting support. Chat session ended.").await;
    assert_eq!(
        closing,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+2348012345678",
               "type": "interactive", "interactive": {"type": "button",
               "body": {"text": "Thank you for contacting support. Chat session ended."},
               "action": {"buttons": [{"type": "reply", "reply": {"id": "main_menu", "title": "🏠 Main Menu"}}]}}})
    );
    let screen = tmux
        .wait_for_all(
            "the chat to leave the active list and the closing message in the thread",
            &[
                "Active chats (0)",
                "0 waiting · 0 active",
                "no active chat",
                "agent Thank you for contacting support. Chat session ended.",
                "Chat with Ada ended.",
            ],
        )
        .await;
    assert!(
        !screen.contains("Ending the chat"),
        "the dialog closed:\n{screen}"
    );

    // WhatsApp got the reply, then the closing message, and nothing twice.
    let sent: Vec<String> = td
        .fake()
        .sent()
        .iter()
        .map(|v| body_text(v).to_string())
        .collect();
    let at = |text: &str| {
        let hits: Vec<usize> = (0..sent.len()).filter(|&i| sent[i] == text).collect();
        assert_eq!(hits.len(), 1, "{text:?} sent once: {sent:#?}");
        hits[0]
    };
    assert!(
        at("🎧 Support Team: Let me help you with that")
            < at("Thank you for contacting support. Chat session ended.")
    );
    let summary = td.find(phone(ADA)).await.expect("Ada is stored");
    assert!(!summary.chat_active);

    // Quitting restores the terminal: the shell's echo shows in a plain pane.
    tmux.keys(&["q"]);
    let screen = tmux
        .wait_for_all("admin-tui to exit", &["admin-tui exited with status 0"])
        .await;
    assert!(
        !screen.contains("Active chats"),
        "alternate screen left:\n{screen}"
    );
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log.contains(ADMIN_TOKEN), "the token must never be logged");
    drop(tmux);
    td.shutdown().await;
}

/// Starts the real console in its own tmux server with `token`.
fn console(td: &TestDaemon, dir: &Path, who: &str, token: &str) -> Tmux {
    let bin = env!("CARGO_BIN_EXE_admin-tui-under-test");
    let command = format!(
        "{} --addr {} --token {} --db {} --log {}; echo \"admin-tui exited with status $?\"; sleep 600",
        quote(bin),
        quote(&td.grpc_url()),
        quote(token),
        quote(&dir.join("none.db").display().to_string()),
        quote(&dir.join(format!("{who}.log")).display().to_string()),
    );
    Tmux::start(&command, 120, 40)
}

async fn add_agent(td: &TestDaemon, name: &str) -> String {
    let mut op = tests::client(td).await;
    op.add_agent(proto::v1::AddAgentRequest {
        name: name.into(),
        display_name: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
    .token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_in_two_consoles_share_a_desk_without_stepping_on_each_other() {
    let td = TestDaemon::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (ada_token, bola_token) = (add_agent(&td, "ada").await, add_agent(&td, "bola").await);
    let ada = console(&td, dir.path(), "ada", &ada_token);
    let bola = console(&td, dir.path(), "bola", &bola_token);
    for (who, c) in [("ada", &ada), ("bola", &bola)] {
        c.wait_for_all(
            &format!("{who}'s console to connect"),
            &["● connected", "3 Mine"],
        )
        .await;
    }
    let t0 = now_secs() - 60;
    td.deliver(&button_from(
        ADA,
        None,
        "Ada",
        "wamid.DESK.1",
        t0,
        "chat_support",
        "💬 Chat Support",
    ))
    .await;
    td.deliver(&text_from(
        ADA,
        None,
        "Ada",
        "wamid.DESK.2",
        t0 + 1,
        "My fees were charged twice",
    ))
    .await;
    for c in [&ada, &bola] {
        c.wait_for_all(
            "the chat on both desks",
            &["Active chats (1)", "+2348012345678"],
        )
        .await;
    }

    // Ada claims it; both consoles see whose it is.
    ada.keys(&["c"]);
    ada.wait_for_all("ada's claim", &["Ada @ada", "chat is yours"])
        .await;
    bola.wait_for_all("the claim on bola's desk", &["Ada @ada"])
        .await;
    bola.keys(&["4"]);
    bola.wait_for_all("bola's unassigned tab", &["Unassigned (0)"])
        .await;
    bola.keys(&["1"]);

    // Bola leaves a private note; it never reaches WhatsApp, and Ada sees it.
    bola.keys(&["Enter"]);
    bola.wait_for_all("bola's thread", &["user  My fees were charged twice"])
        .await;
    bola.keys(&["n"]);
    bola.wait_for_all("the note dialog", &["Private note"])
        .await;
    bola.type_text("Bursary confirms the double payment");
    bola.keys(&["Enter"]);
    bola.wait_for_all("the note in bola's thread", &["📝 note by bola"])
        .await;
    ada.keys(&["Enter"]);
    ada.wait_for_all(
        "the note in ada's thread",
        &["📝 note by bola", "Bursary confirms the double payment"],
    )
    .await;

    // Bola's reply is refused: the chat is Ada's.
    bola.keys(&["i"]);
    bola.type_text("Hello, Bola here");
    bola.keys(&["Enter"]);
    bola.wait_for_all("the refusal", &["assigned to ada", "Ctrl-T"])
        .await;

    // Ada answers.
    ada.keys(&["i"]);
    ada.type_text("Refund on its way");
    ada.keys(&["Enter"]);
    wait_for_sent_text(&td, "🎧 Support Team: Refund on its way").await;

    // Bola takes it over explicitly with Ctrl-T: the text goes out and the chat is Bola's.
    bola.keys(&["C-t"]);
    wait_for_sent_text(&td, "🎧 Support Team: Hello, Bola here").await;
    ada.wait_for_all("the takeover on ada's desk", &["@bola"])
        .await;
    let sent: Vec<String> = td
        .fake()
        .sent()
        .iter()
        .map(|v| body_text(v).to_string())
        .collect();
    assert!(
        sent.iter().all(|t| !t.contains("Bursary")),
        "a note reached WhatsApp: {sent:#?}"
    );
    assert_eq!(
        sent.iter().filter(|t| t.contains("Bola here")).count(),
        1,
        "{sent:#?}"
    );
    for c in [&ada, &bola] {
        c.keys(&["Escape", "Escape", "q"]);
    }
    for (who, c) in [("ada", &ada), ("bola", &bola)] {
        c.wait_for_all(
            &format!("{who}'s console to exit"),
            &["admin-tui exited with status 0"],
        )
        .await;
    }
    for who in ["ada", "bola"] {
        let log =
            std::fs::read_to_string(dir.path().join(format!("{who}.log"))).unwrap_or_default();
        assert!(!log.contains(&ada_token) && !log.contains(&bola_token));
    }
    drop((ada, bola));
    td.shutdown().await;
}
