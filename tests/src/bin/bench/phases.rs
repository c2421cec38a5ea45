//! The measured phases. Each starts its own server process on a fresh database (so one phase's
//! backlog never slows the next) and returns a JSON section for the report.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use proto::v1 as pb;
use serde_json::{json, Value};
use tests::FakeCloudApi;

use crate::{
    cpu, grpc,
    load::{self, RunResult},
    procs::{write_config, DaemonCmd, Proc},
    sqlite,
    stats::{round1, round3, Samples},
};

/// What every phase needs.
pub(crate) struct Ctx {
    pub(crate) dir: PathBuf,
    pub(crate) out: PathBuf,
    pub(crate) daemon: DaemonCmd,
    pub(crate) perf: bool,
}

fn cpu_section(
    before: &std::collections::BTreeMap<String, f64>,
    pid: u32,
    msgs: usize,
    secs: f64,
) -> Value {
    let after = cpu::snapshot(pid);
    let io =
        |k: &str, m: &std::collections::BTreeMap<String, f64>| m.get(k).copied().unwrap_or(0.0);
    let d = cpu::delta(before, &after);
    let total = d.get("total").copied().unwrap_or(0.0);
    json!({
        "cpu_seconds": round3(total),
        "cores_busy": round3(total / secs),
        "cpu_us_per_message": round1(total * 1e6 / msgs.max(1) as f64),
        "disk_write_kib_per_message": round3((io("io:write_bytes", &after) - io("io:write_bytes", before)) / 1024.0 / msgs.max(1) as f64),
        "write_syscalls_per_message": round3((io("io:syscw", &after) - io("io:syscw", before)) / msgs.max(1) as f64),
        "by_thread": d.iter().filter(|(k, _)| k.as_str() != "total" && !k.starts_with("io:"))
            .map(|(k, v)| (k.clone(), json!({"cpu_seconds": round3(*v), "cores_busy": round3(v / secs)})))
            .collect::<serde_json::Map<String, Value>>(),
    })
}

/// Starts `perf record` on `pid` (software clock; this VM has no hardware counters).
fn perf_start(pid: u32, data: &Path) -> Option<std::process::Child> {
    Command::new("perf")
        .args([
            "record",
            "-e",
            "cpu-clock",
            "-F",
            "99",
            "--call-graph",
            "dwarf,8192",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn perf_finish(mut child: std::process::Child, data: &Path, report: &Path) -> Option<String> {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let out = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "-g",
            "none",
            "--percent-limit",
            "0.7",
            "--sort",
            "comm,dso,symbol",
            "-i",
        ])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    std::fs::write(report, &text).ok()?;
    // Inclusive time of the daemon's own functions, per thread: where the writer's time goes.
    if let Ok(children) = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--children",
            "-g",
            "none",
            "--percent-limit",
            "1",
            "--sort",
            "comm,symbol",
            "-i",
        ])
        .arg(data)
        .stderr(Stdio::null())
        .output()
    {
        let text = String::from_utf8_lossy(&children.stdout);
        let wanted: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with('#')
                    || l.contains("bot_daemon")
                    || l.contains("sqlite3_step")
                    || l.contains("fsync")
                    || l.contains("pwrite")
                    || l.contains("hyper")
                    || l.contains("tonic")
            })
            .collect();
        let _ = std::fs::write(report.with_extension("children.txt"), wanted.join("\n"));
    }
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .take(25)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Counts fsync/fdatasync calls of `pid` until stopped (perf's syscall tracepoints).
fn fsyncs_start(pid: u32, file: &Path) -> Option<std::process::Child> {
    Command::new("perf")
        .args([
            "stat",
            "-x,",
            "-e",
            "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn fsyncs_finish(child: Option<std::process::Child>, file: &Path) -> Option<u64> {
    let mut child = child?;
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(file).ok()?;
    let counts: Vec<u64> = text
        .lines()
        .filter(|l| l.contains("syscalls:"))
        .filter_map(|l| l.split(',').next()?.trim().parse().ok())
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

/// Counts the run's inbound messages in the database.
fn stored_inbound(db: &Path, prefix: &str) -> Result<i64> {
    let c = sqlite::open_ro(db)?;
    Ok(c.query_row(
        "SELECT COUNT(*) FROM messages WHERE direction = 'in' AND wamid LIKE ?1",
        [format!("wamid.BENCH.{prefix}.%")],
        |r| r.get(0),
    )?)
}

/// Inbound webhooks against the daemon: `rate` > 0 is open loop, else closed loop (saturation).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn inbound(
    ctx: &Ctx,
    fake: &FakeCloudApi,
    name: &str,
    run: u32,
    users: usize,
    total: usize,
    conns: usize,
    rate: f64,
    profile: bool,
) -> Result<(RunResult, Value)> {
    let db = ctx.dir.join(format!("{name}.db"));
    let cfg = write_config(&ctx.dir, name, &db, &fake.url(), 80)?;
    let work = load::build(name, run, users, total, conns, rate);
    let daemon = Proc::daemon(&ctx.daemon, &cfg, &ctx.dir.join(format!("{name}.log")))?;
    daemon.wait_ready().await?;
    let before = cpu::snapshot(daemon.pid);
    let perf_data = ctx.out.join(format!("perf-{name}.data"));
    let perf = if profile {
        perf_start(daemon.pid, &perf_data)
    } else {
        None
    };
    let fsync_file = ctx.dir.join(format!("fsyncs-{name}.csv"));
    let fsync_counter = fsyncs_start(daemon.pid, &fsync_file);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut r = load::run(daemon.http, work, true, false).await?;
    // Every 200 says the delivery is durably in the inbox; processing may still be behind.
    // The run ends when every acknowledged message is stored (its replies and events with it).
    let backlog_at_last_ack = (r.ok as i64 - stored_inbound(&db, name)?).max(0);
    let draining = std::time::Instant::now();
    let mut stored = stored_inbound(&db, name)?;
    while stored < r.ok as i64 && draining.elapsed() < Duration::from_secs(900) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        stored = stored_inbound(&db, name)?;
    }
    let drain = draining.elapsed();
    let processed_elapsed = r.elapsed + drain;
    let fsyncs = fsyncs_finish(fsync_counter, &fsync_file);
    let cpu = cpu_section(&before, daemon.pid, r.ok, processed_elapsed.as_secs_f64());
    let profile_top = match perf {
        Some(p) => perf_finish(p, &perf_data, &ctx.out.join(format!("perf-{name}.txt"))),
        None => None,
    };
    let (rss, hwm) = daemon.rss_kib();
    daemon.stop();
    ensure!(
        r.errors == 0,
        "{name}: {} of {total} webhooks failed; first: {}",
        r.errors,
        r.first_error.clone().unwrap_or_default()
    );
    ensure!(
        stored == r.ok as i64 && r.ok == total,
        "{name}: sent {total}, acknowledged {}, stored {stored}",
        r.ok
    );
    let section = json!({
        "offered_rate_per_s": if rate > 0.0 { json!(rate) } else { json!("saturation (closed loop)") },
        "connections": conns,
        "distinct_users": users.min(total),
        "sent": total,
        "acknowledged_200": r.ok,
        "stored": stored,
        "errors": r.errors,
        "elapsed_s": round3(r.elapsed.as_secs_f64()),
        "acknowledged_per_s": round1(r.rate()),
        "backlog_at_last_ack": backlog_at_last_ack,
        "drain_after_last_ack_s": round3(drain.as_secs_f64()),
        "processed_elapsed_s": round3(processed_elapsed.as_secs_f64()),
        "processed_per_s": round1(r.ok as f64 / processed_elapsed.as_secs_f64().max(1e-9)),
        "latency_ms": r.latency.summary(),
        "latency_on_the_wire_ms": r.wire.summary(),
        "daemon_rss_kib_after": rss,
        "daemon_peak_rss_kib": hwm,
        "daemon_cpu": cpu,
        "fsyncs": fsyncs,
        "messages_per_fsync": fsyncs.map(|n| round1(r.ok as f64 / n.max(1) as f64)),
        "profile_top": profile_top,
    });
    let _ = std::fs::remove_file(&db);
    Ok((r, section))
}

/// The same load against the bare axum server.
pub(crate) async fn bare(
    ctx: &Ctx,
    name: &str,
    run: u32,
    users: usize,
    total: usize,
    conns: usize,
    rate: f64,
) -> Result<(RunResult, Value)> {
    let work = load::build(name, run, users, total, conns, rate);
    let server = Proc::bare(&ctx.dir.join(format!("{name}.log")))?;
    let before = cpu::snapshot(server.pid);
    let mut r = load::run(server.http, work, false, false).await?;
    let cpu = cpu_section(&before, server.pid, r.ok, r.elapsed.as_secs_f64());
    server.stop();
    ensure!(
        r.errors == 0 && r.ok == total,
        "{name}: {} errors",
        r.errors
    );
    let section = json!({
        "offered_rate_per_s": if rate > 0.0 { json!(rate) } else { json!("saturation (closed loop)") },
        "connections": conns,
        "sent": total,
        "acknowledged_200": r.ok,
        "elapsed_s": round3(r.elapsed.as_secs_f64()),
        "answered_per_s": round1(r.rate()),
        "latency_ms": r.latency.summary(),
        "server_cpu": cpu,
    });
    Ok((r, section))
}

/// SQLite's raw insert rate on this disk for each batch size.
pub(crate) fn sqlite_raw(ctx: &Ctx, batches: &[usize], secs: f64) -> Result<Value> {
    let mut rows = Vec::new();
    for &b in batches {
        let (rate, commits) = sqlite::raw_insert_rate(&ctx.dir, b, secs)?;
        rows.push(json!({
            "rows_per_commit": b,
            "rows_per_s": round1(rate),
            "commits_per_s": round1(commits),
        }));
    }
    Ok(json!(rows))
}

/// Live fan-out to `subs` WatchChats subscribers.
pub(crate) async fn fanout(
    ctx: &Ctx,
    fake: &FakeCloudApi,
    run: u32,
    subs: usize,
    webhooks: usize,
    interval: Duration,
) -> Result<Value> {
    let name = format!("fanout{subs}");
    let db = ctx.dir.join(format!("{name}.db"));
    let cfg = write_config(&ctx.dir, &name, &db, &fake.url(), 80)?;
    let daemon = Proc::daemon(&ctx.daemon, &cfg, &ctx.dir.join(format!("{name}.log")))?;
    daemon.wait_ready().await?;
    let grpc_addr = daemon.grpc.context("no gRPC address")?;
    let prefix = format!("wamid.BENCH.{name}.");
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(subs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..subs {
        let mut client = grpc::client(grpc_addr).await?;
        let ready = ready_tx.clone();
        let prefix = prefix.clone();
        tasks.spawn(async move {
            let mut arrivals: HashMap<usize, Instant> = HashMap::new();
            let Ok(resp) = client
                .watch_chats(pb::WatchChatsRequest { after_sequence: 0 })
                .await
            else {
                return arrivals;
            };
            let mut stream = resp.into_inner();
            let mut snapshot_seen = false;
            while let Ok(Some(ev)) = stream.message().await {
                let at = Instant::now();
                match ev.event {
                    Some(pb::chat_event::Event::Snapshot(_)) if !snapshot_seen => {
                        snapshot_seen = true;
                        let _ = ready.send(()).await;
                    }
                    Some(pb::chat_event::Event::MessageAdded(m)) => {
                        if let Some(i) = m
                            .message
                            .as_ref()
                            .and_then(|m| m.wa_message_id.strip_prefix(&prefix))
                            .and_then(|s| s.parse::<usize>().ok())
                        {
                            arrivals.insert(i, at);
                            if arrivals.len() == webhooks {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            arrivals
        });
    }
    drop(ready_tx);
    for _ in 0..subs {
        tokio::time::timeout(Duration::from_secs(60), ready_rx.recv())
            .await
            .context("subscribers did not all get their snapshot within 60 s")?;
    }
    // One webhook at a time from a new user, `interval` apart.
    let mut sender = load::connect(daemon.http).await?;
    let ts = tests::now_secs();
    let mut acks = Vec::with_capacity(webhooks);
    let start = Instant::now();
    for i in 0..webhooks {
        let slot = start + interval * i as u32;
        if slot > Instant::now() {
            tokio::time::sleep_until(slot.into()).await;
        }
        let body = load::body(&name, run, webhooks, i, ts);
        let d = load::Delivery {
            signature: tests::sign(&body).parse()?,
            body: body.into(),
            due: Duration::ZERO,
            index: i,
        };
        let sent = Instant::now();
        load::post(&mut sender, &d, true).await?;
        acks.push((sent, Instant::now()));
    }
    let mut per_sub = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(r)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        per_sub.push(r?);
    }
    tasks.abort_all();
    let (rss, hwm) = daemon.rss_kib();
    daemon.stop();
    let _ = std::fs::remove_file(&db);
    let mut from_ack = Samples::new();
    let mut from_send = Samples::new();
    let mut slowest_sub = Samples::new();
    let (mut early, mut missing) = (0usize, 0usize);
    for (i, (sent, acked)) in acks.iter().enumerate() {
        let mut worst = Duration::ZERO;
        for arrivals in &per_sub {
            match arrivals.get(&i) {
                Some(at) => {
                    if at < acked {
                        early += 1;
                    }
                    let d = at.saturating_duration_since(*acked);
                    from_ack.push(d);
                    from_send.push(at.saturating_duration_since(*sent));
                    worst = worst.max(d);
                }
                None => missing += 1,
            }
        }
        slowest_sub.push(worst);
    }
    for _ in per_sub.len()..subs {
        missing += webhooks;
    }
    if missing > 0 {
        bail!("fan-out to {subs}: {missing} (webhook, subscriber) events never arrived");
    }
    Ok(json!({
        "subscribers": subs,
        "webhooks": webhooks,
        "interval_ms": interval.as_millis() as u64,
        "events_checked": from_ack.len(),
        "from_200_ms": from_ack.summary(),
        "from_200_slowest_subscriber_ms": slowest_sub.summary(),
        "from_send_ms": from_send.summary(),
        "arrived_before_the_200": early,
        "daemon_rss_kib_after": rss,
        "daemon_peak_rss_kib": hwm,
    }))
}

/// The agents' API at size: seed, start, time start-up, list and get; RSS.
pub(crate) async fn at_size(
    ctx: &Ctx,
    fake: &FakeCloudApi,
    conversations: usize,
    messages: usize,
    calls: usize,
) -> Result<Value> {
    let db = ctx.dir.join("at-size.db");
    eprintln!("bench: seeding {conversations} conversations / {messages} messages ...");
    let seeded = sqlite::seed_at_size(&db, conversations, messages)?;
    eprintln!(
        "bench: seeded in {:.1} s ({} MiB)",
        seeded.took.as_secs_f64(),
        seeded.file_bytes / (1024 * 1024)
    );
    let cfg = write_config(&ctx.dir, "at-size", &db, &fake.url(), 80)?;
    // Start-up twice: the first after seeding (file in the page cache either way).
    let mut startups = Vec::new();
    for attempt in 0..2 {
        let daemon = Proc::daemon(&ctx.daemon, &cfg, &ctx.dir.join("at-size.log"))?;
        let ready = daemon.wait_ready().await?;
        startups.push(json!({
            "listening_ms": round3(daemon.listening_after.as_secs_f64() * 1000.0),
            "ready_ms": round3(ready.as_secs_f64() * 1000.0),
        }));
        if attempt == 1 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let idle_rss = daemon.rss_kib().0;
            let result = api_calls(daemon.grpc.context("no gRPC address")?, &seeded, calls).await;
            let (rss, hwm) = daemon.rss_kib();
            daemon.stop();
            let mut section = result?;
            // The store alone, in this process: the query cost without any network.
            section["store_only"] = store_calls(&db, &seeded, calls).await?;
            section["seed"] = json!({
                "conversations": seeded.conversations,
                "messages": seeded.messages,
                "active_chats": seeded.active,
                "events_last_30_days": seeded.events,
                "file_mib": round1(seeded.file_bytes as f64 / 1048576.0),
                "seeding_s": round1(seeded.took.as_secs_f64()),
            });
            section["startup"] = json!(startups);
            section["daemon_rss_kib_idle"] = json!(idle_rss);
            section["daemon_rss_kib_after_calls"] = json!(rss);
            section["daemon_peak_rss_kib"] = json!(hwm);
            let _ = std::fs::remove_file(&db);
            return Ok(section);
        }
        daemon.stop();
    }
    unreachable!()
}

/// The same reads straight on a `Store` over the file (what the gRPC handlers call).
async fn store_calls(db: &Path, seeded: &sqlite::Seeded, calls: usize) -> Result<Value> {
    use bot_daemon::{
        domain::Address,
        storage::{ListQuery, Store},
    };
    let store = Store::open(db)?;
    let mut out = serde_json::Map::new();
    for (label, active_only) in [
        ("list_first_page_active_only", true),
        ("list_first_page_all", false),
    ] {
        let mut s = Samples::new();
        for i in 0..calls + 5 {
            let t = Instant::now();
            let page = store
                .list_conversations(ListQuery {
                    active_only,
                    page_size: 50,
                    ..Default::default()
                })
                .await?;
            if i >= 5 {
                s.push(t.elapsed());
            }
            ensure!(!page.items.is_empty(), "{label}: empty page");
        }
        out.insert(label.into(), s.summary());
    }
    let mut s = Samples::new();
    for i in 0..calls + 5 {
        let phone = &seeded.phones[(i * 7919) % seeded.phones.len()];
        let t = Instant::now();
        store
            .get_conversation(Address::Phone(phone.clone()), 100, 0)
            .await?;
        if i >= 5 {
            s.push(t.elapsed());
        }
    }
    out.insert("get_conversation".into(), s.summary());
    Ok(Value::Object(out))
}

async fn api_calls(
    grpc_addr: std::net::SocketAddr,
    seeded: &sqlite::Seeded,
    calls: usize,
) -> Result<Value> {
    let mut client = grpc::client(grpc_addr).await?;
    let first = Instant::now();
    let page = client
        .list_conversations(pb::ListConversationsRequest::default())
        .await?
        .into_inner();
    let first_call = first.elapsed();
    ensure!(
        page.conversations.len() == 50,
        "first page holds {}",
        page.conversations.len()
    );
    let mut out = serde_json::Map::new();
    out.insert(
        "first_call_after_start_ms".into(),
        json!(round3(first_call.as_secs_f64() * 1000.0)),
    );
    for (label, active_only) in [
        ("list_first_page_active_only", true),
        ("list_first_page_all", false),
    ] {
        let mut s = Samples::new();
        let mut rows = 0;
        for i in 0..calls + 5 {
            let t = Instant::now();
            let page = client
                .list_conversations(pb::ListConversationsRequest {
                    active_only,
                    ..Default::default()
                })
                .await?
                .into_inner();
            if i >= 5 {
                s.push(t.elapsed());
            }
            rows = page.conversations.len();
        }
        ensure!(rows > 0, "{label}: empty page");
        let mut v = s.summary();
        v["rows"] = json!(rows);
        out.insert(label.into(), v);
    }
    let mut s = Samples::new();
    let mut msgs = 0usize;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..calls + 5 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let phone = &seeded.phones[(rng % seeded.phones.len() as u64) as usize];
        let t = Instant::now();
        let conv = client
            .get_conversation(pb::GetConversationRequest {
                phone_number: phone.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        if i >= 5 {
            s.push(t.elapsed());
            msgs += conv.messages.len();
        }
    }
    let mut v = s.summary();
    v["mean_messages_returned"] = json!(round1(msgs as f64 / calls.max(1) as f64));
    out.insert("get_conversation".into(), v);
    Ok(Value::Object(out))
}

/// The outbound sender draining a backlog of `n` queued messages to a fresh fake, with the
/// per-number ceiling `max_per_second` (0 = off).
pub(crate) async fn outbound(ctx: &Ctx, n: usize, max_per_second: u32) -> Result<Value> {
    let name = format!("outbound-{max_per_second}");
    let db = ctx.dir.join(format!("{name}.db"));
    sqlite::seed_outbox(&db, n)?;
    let fake = FakeCloudApi::start().await;
    let cfg = write_config(&ctx.dir, &name, &db, &fake.url(), max_per_second)?;
    let daemon = Proc::daemon(&ctx.daemon, &cfg, &ctx.dir.join(format!("{name}.log")))?;
    let before = cpu::snapshot(daemon.pid);
    let limit = Duration::from_secs(30 + (n as u64 / max_per_second.max(1) as u64) * 2);
    // Poll a cheap count (wait_for_sent clones every recorded body each time it looks).
    let waited = Instant::now();
    while fake.accepted_ids().len() < n {
        ensure!(
            waited.elapsed() < limit,
            "{name}: only {} of {n} messages reached the fake within {limit:?}",
            fake.accepted_ids().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reqs = fake.message_requests();
    let times: Vec<Instant> = reqs
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.at)
        .collect();
    let (first, last) = (times[0], times[times.len() - 1]);
    let span = (last - first).as_secs_f64();
    let cpu = cpu_section(
        &before,
        daemon.pid,
        n,
        (Instant::now() - first).as_secs_f64(),
    );
    // The most requests in any one-second window.
    let mut max_window = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while times[i] - times[j] >= Duration::from_secs(1) {
            j += 1;
        }
        max_window = max_window.max(i - j + 1);
    }
    // Every row recorded as sent.
    let mut done = 0i64;
    for _ in 0..200 {
        done = sqlite::open_ro(&db)?.query_row(
            "SELECT COUNT(*) FROM outbox WHERE state = 'done'",
            [],
            |r| r.get(0),
        )?;
        if done == n as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.stop();
    let _ = std::fs::remove_file(&db);
    ensure!(
        done == n as i64,
        "{name}: {done} of {n} outbox rows recorded as sent"
    );
    ensure!(
        reqs.len() == n,
        "{name}: {} requests for {n} messages",
        reqs.len()
    );
    let rate = (times.len() - 1) as f64 / span;
    Ok(json!({
        "ceiling_per_s": max_per_second,
        "messages": n,
        "requests": reqs.len(),
        "span_s": round3(span),
        "sent_per_s": round1(rate),
        "max_in_any_1s_window": max_window,
        "ceiling_held": max_per_second == 0 || (max_window as u32 <= max_per_second + 1 && rate <= max_per_second as f64 * 1.02),
        "daemon_cpu": cpu,
    }))
}

/// The agents' console: whole frames drawn into ratatui's `TestBackend` with `chats` chats in
/// the list and a `messages`-message thread open, at 80×24 and 160×48 (the event loop draws a
/// frame after every change; this is its cost). Also `cargo bench -p admin-tui --bench render`.
pub(crate) fn tui(chats: usize, messages: usize, frames: usize) -> Result<Value> {
    let mut sizes = Vec::new();
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut scene = admin_tui::bench::Scene::new(chats, messages, w, h);
        ensure!(
            scene.chats() == chats,
            "the scene holds {} chats",
            scene.chats()
        );
        scene.draw();
        let screen = scene.screen();
        ensure!(
            screen.contains("Student 0"),
            "the top chat is not on screen:\n{screen}"
        );
        let mut samples = Samples::new();
        for _ in 0..frames {
            let t = Instant::now();
            scene.draw();
            samples.push(t.elapsed());
        }
        let mut v = samples.summary();
        v["size"] = json!(format!("{w}x{h}"));
        sizes.push(v);
    }
    Ok(json!({ "chats": chats, "messages": messages, "frames": sizes }))
}
