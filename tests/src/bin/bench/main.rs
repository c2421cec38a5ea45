//! `bench`: chat-support's benchmark harness (issue 7).
//!
//! ```text
//! cargo run --release -p tests --bin bench -- [--quick] [options]
//! ```
//!
//! Starts the real daemon (`target/release/bot-daemon`, built first; this binary re-executed
//! as the daemon when that is not available) on a real SQLite file in a temporary directory,
//! against the fake Cloud API on loopback, and measures, each phase on a fresh database:
//!
//! 1. inbound webhooks at a fixed offered rate (open loop) and at saturation (closed loop):
//!    throughput of durably committed messages, ack latency p50/p99/p99.9, daemon CPU by thread;
//! 2. the baselines with the same client: a bare axum server answering 200, and SQLite's raw
//!    batched insert rate on the same disk with the same pragmas;
//! 3. live fan-out to 1, 10 and 100 `WatchChats` subscribers;
//! 4. the agents' API on a database seeded to 100k conversations / 1M messages: list and get
//!    latency, start-up time and RSS of the daemon process;
//! 5. the outbound sender's rate with the per-number ceiling off, and the ceiling holding.
//!
//! It prints a table, and writes `report.json` and `report.md` to `--out`. Every run checks
//! correctness (every webhook answered 200 and stored, every event delivered, every queued
//! message sent once) and exits non-zero when that fails; speed is reported, never asserted.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod cpu;
mod grpc;
mod load;
mod phases;
mod postgres;
mod procs;
mod sqlite;
mod stats;

use std::{path::PathBuf, time::Duration};

use anyhow::Result;
use clap::Parser;
use serde_json::{json, Value};

use crate::{
    phases::Ctx,
    stats::{round1, round3},
};

/// chat-support's benchmark harness.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Opts {
    /// A few-second run with tiny loads (the smoke test); sizes below default to small values.
    #[arg(long)]
    quick: bool,
    /// Phases to run, comma-separated: inbound,bare,sqlite,fanout,size,outbound,tui, and
    /// postgres (needs Debian's postgresql server binaries; not in the default list).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "inbound,bare,sqlite,fanout,size,outbound,tui"
    )]
    only: Vec<String>,
    /// Where report.json and report.md go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Directory for the databases (default: a new temporary directory).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// The daemon binary (default: bot-daemon beside this binary, rebuilt first).
    #[arg(long)]
    daemon_bin: Option<PathBuf>,
    /// Concurrent keep-alive connections of the load client.
    #[arg(long)]
    connections: Option<usize>,
    /// Distinct WhatsApp users in the inbound load.
    #[arg(long)]
    users: Option<usize>,
    /// Webhooks sent at saturation.
    #[arg(long)]
    sat_messages: Option<usize>,
    /// Offered rate of the open-loop run, per second.
    #[arg(long)]
    rate: Option<f64>,
    /// Duration of the open-loop run, seconds.
    #[arg(long)]
    rate_secs: Option<f64>,
    /// Subscriber counts for fan-out, comma-separated.
    #[arg(long, value_delimiter = ',')]
    subscribers: Option<Vec<usize>>,
    /// Webhooks per fan-out run.
    #[arg(long)]
    fanout_webhooks: Option<usize>,
    /// Conversations in the seeded database.
    #[arg(long)]
    conversations: Option<usize>,
    /// Messages in the seeded database.
    #[arg(long)]
    messages: Option<usize>,
    /// Calls of each kind in the agents' API measurement.
    #[arg(long)]
    calls: Option<usize>,
    /// Backlog drained with the ceiling off.
    #[arg(long)]
    outbound_messages: Option<usize>,
    /// The per-number ceiling to confirm.
    #[arg(long, default_value_t = 80)]
    ceiling: u32,
    /// Record a CPU profile of the daemon (perf) during the saturation run.
    #[arg(long)]
    perf: bool,
}

struct Sizes {
    conns: usize,
    users: usize,
    sat: usize,
    rate: f64,
    rate_secs: f64,
    subs: Vec<usize>,
    fan_webhooks: usize,
    convs: usize,
    msgs: usize,
    calls: usize,
    out_msgs: usize,
    ceiling_msgs: usize,
    sqlite_secs: f64,
}

impl Sizes {
    fn from(o: &Opts) -> Sizes {
        let q = o.quick;
        let rate = o.rate.unwrap_or(if q { 200.0 } else { 1000.0 });
        Sizes {
            conns: o.connections.unwrap_or(if q { 8 } else { 64 }),
            users: o.users.unwrap_or(if q { 60 } else { 5000 }),
            sat: o.sat_messages.unwrap_or(if q { 600 } else { 100_000 }),
            rate,
            rate_secs: o.rate_secs.unwrap_or(if q { 1.0 } else { 10.0 }),
            subs: o
                .subscribers
                .clone()
                .unwrap_or(if q { vec![1, 3] } else { vec![1, 10, 100] }),
            fan_webhooks: o.fanout_webhooks.unwrap_or(if q { 10 } else { 200 }),
            convs: o.conversations.unwrap_or(if q { 1_000 } else { 100_000 }),
            msgs: o.messages.unwrap_or(if q { 10_000 } else { 1_000_000 }),
            calls: o.calls.unwrap_or(if q { 20 } else { 500 }),
            out_msgs: o.outbound_messages.unwrap_or(if q { 100 } else { 5_000 }),
            ceiling_msgs: if q {
                o.ceiling as usize / 2
            } else {
                o.ceiling as usize * 10
            },
            sqlite_secs: if q { 0.3 } else { 3.0 },
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Internal modes: the server processes this harness starts.
    let internal = match args.get(1).map(String::as_str) {
        Some("__serve-daemon") => Some(procs::serve_daemon(&PathBuf::from(&args[2]))),
        Some("__serve-bare") => Some(procs::serve_bare()),
        _ => None,
    };
    if let Some(r) = internal {
        return match r {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let opts = Opts::parse();
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match rt.block_on(run(opts)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench FAILED: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": model,
        "memory_gib": round1(mem_kib as f64 / 1048576.0),
        "load_average_at_start": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

async fn run(opts: Opts) -> Result<()> {
    let sizes = Sizes::from(&opts);
    let phase = |p: &str| opts.only.iter().any(|o| o == p);
    let tmp = tempfile::Builder::new()
        .prefix("chat-support-bench")
        .tempdir_in(opts.workdir.clone().unwrap_or_else(std::env::temp_dir))?;
    std::fs::create_dir_all(&opts.out)?;
    let ctx = Ctx {
        dir: tmp.path().to_path_buf(),
        out: opts.out.clone(),
        daemon: procs::locate_daemon(opts.daemon_bin.clone()),
        perf: opts.perf,
    };
    eprintln!("bench: daemon = {}", ctx.daemon.describe());
    eprintln!("bench: databases in {}", ctx.dir.display());
    let fake = tests::FakeCloudApi::start().await;
    let mut report = serde_json::Map::new();
    report.insert("machine".into(), machine());
    report.insert("daemon".into(), json!(ctx.daemon.describe()));
    report.insert("quick".into(), json!(opts.quick));
    let total_open = (sizes.rate * sizes.rate_secs).round() as usize;
    let mut run_no = 10;
    let mut next_run = || {
        run_no += 1;
        run_no
    };

    if phase("inbound") {
        eprintln!(
            "bench: inbound at {}/s for {} s ...",
            sizes.rate, sizes.rate_secs
        );
        let conns = sizes.conns.min(16);
        let (_, open) = phases::inbound(
            &ctx,
            &fake,
            "inbound-open",
            next_run(),
            sizes.users,
            total_open,
            conns,
            sizes.rate,
            false,
        )
        .await?;
        report.insert("inbound_fixed_rate".into(), open);
        eprintln!(
            "bench: inbound at saturation, {} webhooks over {} connections ...",
            sizes.sat, sizes.conns
        );
        let (_, sat) = phases::inbound(
            &ctx,
            &fake,
            "inbound-sat",
            next_run(),
            sizes.users,
            sizes.sat,
            sizes.conns,
            0.0,
            ctx.perf,
        )
        .await?;
        report.insert("inbound_saturation".into(), sat);
    }
    if phase("bare") {
        eprintln!("bench: bare server baseline ...");
        let conns = sizes.conns.min(16);
        let (_, open) = phases::bare(
            &ctx,
            "bare-open",
            next_run(),
            sizes.users,
            total_open,
            conns,
            sizes.rate,
        )
        .await?;
        report.insert("bare_fixed_rate".into(), open);
        let (_, sat) = phases::bare(
            &ctx,
            "bare-sat",
            next_run(),
            sizes.users,
            sizes.sat,
            sizes.conns,
            0.0,
        )
        .await?;
        report.insert("bare_saturation".into(), sat);
    }
    if phase("sqlite") {
        eprintln!("bench: SQLite raw insert baseline ...");
        let v = phases::sqlite_raw(&ctx, &[1, 16, 128, 512], sizes.sqlite_secs)?;
        report.insert("sqlite_raw_insert".into(), v);
    }
    if phase("fanout") {
        let mut runs = Vec::new();
        for &s in &sizes.subs {
            eprintln!("bench: fan-out to {s} subscribers ...");
            runs.push(
                phases::fanout(
                    &ctx,
                    &fake,
                    next_run(),
                    s,
                    sizes.fan_webhooks,
                    Duration::from_millis(50),
                )
                .await?,
            );
        }
        report.insert("fanout".into(), json!(runs));
    }
    if phase("size") {
        let v = phases::at_size(&ctx, &fake, sizes.convs, sizes.msgs, sizes.calls).await?;
        report.insert("agent_api_at_size".into(), v);
    }
    if phase("outbound") {
        eprintln!(
            "bench: outbound, ceiling off, {} queued ...",
            sizes.out_msgs
        );
        let off = phases::outbound(&ctx, sizes.out_msgs, 0).await?;
        eprintln!(
            "bench: outbound, ceiling {}/s, {} queued ...",
            opts.ceiling, sizes.ceiling_msgs
        );
        let on = phases::outbound(&ctx, sizes.ceiling_msgs, opts.ceiling).await?;
        if on["ceiling_held"] != true {
            anyhow::bail!("the ceiling of {}/s did not hold: {on}", opts.ceiling);
        }
        report.insert("outbound_ceiling_off".into(), off);
        report.insert("outbound_ceiling_on".into(), on);
    }
    if phase("tui") {
        let (chats, msgs, frames) = if opts.quick {
            (1_000, 500, 20)
        } else {
            (10_000, 5_000, 300)
        };
        eprintln!("bench: TUI frames, {chats} chats, {msgs}-message thread ...");
        report.insert("tui_frame".into(), phases::tui(chats, msgs, frames)?);
    }
    if phase("postgres") {
        let v = postgres::phase(
            &ctx,
            &fake,
            &mut next_run,
            (
                sizes.users,
                sizes.sat.min(50_000),
                sizes.conns,
                sizes.rate,
                sizes.rate_secs,
                sizes.sqlite_secs,
            ),
        )
        .await?;
        report.insert("postgres".into(), v);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report["machine"]["load_average_at_end"] = json!(load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" "));
    let report = Value::Object(report);
    let table = table(&report);
    println!("{table}");
    std::fs::write(
        opts.out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(opts.out.join("report.md"), &table)?;
    eprintln!(
        "bench: wrote {} and report.md",
        opts.out.join("report.json").display()
    );
    Ok(())
}

fn f(v: &Value) -> String {
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{}", x as i64)
            } else {
                format!("{x}")
            }
        }
        Value::Null => "–".into(),
        other => other.to_string(),
    }
}

fn pcts(v: &Value) -> String {
    format!(
        "p50 {} / p99 {} / p99.9 {} ms",
        f(&v["p50_ms"]),
        f(&v["p99_ms"]),
        f(&v["p999_ms"])
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "meets"
    } else {
        "MISSES"
    }
}

/// The readable report: one row per figure with its target.
fn table(r: &Value) -> String {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let m = &r["machine"];
    let mut out = format!(
        "# chat-support benchmark\n\nMachine: {} cores ({}), {} GiB; {} build; load average {} at start, {} at end.\nDaemon: {}\n\n",
        f(&m["cores"]), m["cpu"].as_str().unwrap_or(""), f(&m["memory_gib"]), m["build"].as_str().unwrap_or(""),
        m["load_average_at_start"].as_str().unwrap_or(""), m["load_average_at_end"].as_str().unwrap_or(""),
        r["daemon"].as_str().unwrap_or("")
    );
    let sat = &r["inbound_saturation"];
    let bare = &r["bare_saturation"];
    if !sat.is_null() {
        let rate = sat["acknowledged_per_s"].as_f64().unwrap_or(0.0);
        let processed = sat["processed_per_s"].as_f64().unwrap_or(0.0);
        rows.push((
            format!("Inbound, saturation ({} conns, {} webhooks): acknowledged", f(&sat["connections"]), f(&sat["sent"])),
            format!(
                "{} webhooks/s answered 200 after the inbox's durable commit; ack {}; {} unprocessed at the last ack",
                round1(rate), pcts(&sat["latency_ms"]), f(&sat["backlog_at_last_ack"])
            ),
            format!("≥ 20,000/s: {}", verdict(rate >= 20_000.0)),
        ));
        rows.push((
            "Inbound, saturation: processed".into(),
            format!(
                "{} msgs/s stored with replies and events (all done {} s after the first request, {} s after the last ack); daemon {} cores busy (writer thread {}, inbox writer {}), {} µs CPU/msg, {} msgs/fsync, {} KiB written/msg",
                round1(processed), f(&sat["processed_elapsed_s"]), f(&sat["drain_after_last_ack_s"]),
                f(&sat["daemon_cpu"]["cores_busy"]),
                f(&sat["daemon_cpu"]["by_thread"]["sqlite-writer"]["cores_busy"]),
                f(&sat["daemon_cpu"]["by_thread"]["inbox-writer"]["cores_busy"]),
                f(&sat["daemon_cpu"]["cpu_us_per_message"]), f(&sat["messages_per_fsync"]),
                f(&sat["daemon_cpu"]["disk_write_kib_per_message"])
            ),
            format!("≥ 10,000/s: {}", verdict(processed >= 10_000.0)),
        ));
        if let Some(b) = bare["answered_per_s"].as_f64() {
            let ratio = rate / b;
            rows.push((
                "Bare axum server, same client, saturation".into(),
                format!("{} req/s; daemon/bare = {}×", round1(b), round3(ratio)),
                format!("≥ 0.3×: {}", verdict(ratio >= 0.3)),
            ));
        }
    }
    let open = &r["inbound_fixed_rate"];
    if !open.is_null() {
        let p99 = open["latency_ms"]["p99_ms"].as_f64().unwrap_or(f64::NAN);
        rows.push((
            format!(
                "Inbound ack latency at {}/s offered (open loop)",
                f(&open["offered_rate_per_s"])
            ),
            format!(
                "{}; acknowledged {}/s, processed {}/s; daemon {} cores busy (writer {}), {} msgs/fsync",
                pcts(&open["latency_ms"]),
                f(&open["acknowledged_per_s"]),
                f(&open["processed_per_s"]),
                f(&open["daemon_cpu"]["cores_busy"]),
                f(&open["daemon_cpu"]["by_thread"]["sqlite-writer"]["cores_busy"]),
                f(&open["messages_per_fsync"])
            ),
            format!("p99 < 5 ms: {}", verdict(p99 < 5.0)),
        ));
    }
    let bare_open = &r["bare_fixed_rate"];
    if !bare_open.is_null() {
        rows.push((
            format!(
                "Bare server latency at {}/s",
                f(&bare_open["offered_rate_per_s"])
            ),
            pcts(&bare_open["latency_ms"]),
            "baseline".into(),
        ));
    }
    if let Some(raw) = r["sqlite_raw_insert"].as_array() {
        let best = raw
            .iter()
            .filter_map(|x| x["rows_per_s"].as_f64())
            .fold(0.0, f64::max);
        let line = raw
            .iter()
            .map(|x| {
                format!(
                    "{}/commit: {} rows/s ({} commits/s)",
                    f(&x["rows_per_commit"]),
                    f(&x["rows_per_s"]),
                    f(&x["commits_per_s"])
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let ratio = sat["acknowledged_per_s"]
            .as_f64()
            .map(|d| format!("; daemon/raw(best) = {}×", round3(d / best)))
            .unwrap_or_default();
        rows.push((
            "SQLite raw insert, WAL + synchronous=FULL".into(),
            format!("{line}{ratio}"),
            "baseline".into(),
        ));
    }
    if let Some(fans) = r["fanout"].as_array() {
        for fo in fans {
            let p99 = fo["from_200_ms"]["p99_ms"].as_f64().unwrap_or(f64::NAN);
            let target = if fo["subscribers"] == 100 {
                format!("p99 < 10 ms: {}", verdict(p99 < 10.0))
            } else {
                "–".into()
            };
            rows.push((
                format!("Fan-out to {} WatchChats subscribers", f(&fo["subscribers"])),
                format!(
                    "200→event p50 {} / p99 {} ms (slowest subscriber p50 {} / p99 {} ms; {} of {} arrived before the 200)",
                    f(&fo["from_200_ms"]["p50_ms"]), f(&fo["from_200_ms"]["p99_ms"]),
                    f(&fo["from_200_slowest_subscriber_ms"]["p50_ms"]), f(&fo["from_200_slowest_subscriber_ms"]["p99_ms"]),
                    f(&fo["arrived_before_the_200"]), f(&fo["events_checked"])
                ),
                target,
            ));
        }
    }
    let size = &r["agent_api_at_size"];
    if !size.is_null() {
        let seed = &size["seed"];
        let label = format!(
            "{} convs / {} msgs",
            f(&seed["conversations"]),
            f(&seed["messages"])
        );
        for (key, name) in [
            (
                "list_first_page_active_only",
                "ListConversations first page, active only",
            ),
            ("list_first_page_all", "ListConversations first page, all"),
        ] {
            let p99 = size[key]["p99_ms"].as_f64().unwrap_or(f64::NAN);
            let st = &size["store_only"][key];
            rows.push((
                format!("{name} ({label})"),
                format!(
                    "gRPC p50 {} / p99 {} ms ({} rows); store alone p50 {} / p99 {} ms",
                    f(&size[key]["p50_ms"]),
                    f(&size[key]["p99_ms"]),
                    f(&size[key]["rows"]),
                    f(&st["p50_ms"]),
                    f(&st["p99_ms"])
                ),
                format!("< 5 ms: {}", verdict(p99 < 5.0)),
            ));
        }
        let g = &size["get_conversation"];
        let st = &size["store_only"]["get_conversation"];
        rows.push((
            format!("GetConversation ({label})"),
            format!(
                "gRPC p50 {} / p99 {} ms ({} msgs/reply avg); store alone p50 {} / p99 {} ms",
                f(&g["p50_ms"]),
                f(&g["p99_ms"]),
                f(&g["mean_messages_returned"]),
                f(&st["p50_ms"]),
                f(&st["p99_ms"])
            ),
            "–".into(),
        ));
        let starts = size["startup"].as_array().cloned().unwrap_or_default();
        rows.push((
            format!(
                "Daemon start-up ({label}, {} MiB file)",
                f(&seed["file_mib"])
            ),
            starts
                .iter()
                .map(|s| format!("{} ms to ready", f(&s["ready_ms"])))
                .collect::<Vec<_>>()
                .join(", "),
            "–".into(),
        ));
        let peak = size["daemon_peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0;
        rows.push((
            format!("Daemon RSS ({label})"),
            format!(
                "idle {} MiB, after calls {} MiB, peak {} MiB",
                round1(size["daemon_rss_kib_idle"].as_f64().unwrap_or(0.0) / 1024.0),
                round1(size["daemon_rss_kib_after_calls"].as_f64().unwrap_or(0.0) / 1024.0),
                round1(peak)
            ),
            format!("< 64 MiB: {}", verdict(peak < 64.0)),
        ));
    }
    if !sat.is_null() {
        let peak = sat["daemon_peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0;
        rows.push((
            "Daemon peak RSS during inbound saturation".into(),
            format!("{} MiB", round1(peak)),
            format!("< 64 MiB: {}", verdict(peak < 64.0)),
        ));
    }
    let off = &r["outbound_ceiling_off"];
    if !off.is_null() {
        rows.push((
            format!("Outbound, ceiling off ({} queued)", f(&off["messages"])),
            format!(
                "{} sends/s to the fake; daemon {} µs CPU/send",
                f(&off["sent_per_s"]),
                f(&off["daemon_cpu"]["cpu_us_per_message"])
            ),
            "–".into(),
        ));
        let on = &r["outbound_ceiling_on"];
        rows.push((
            format!(
                "Outbound, ceiling {}/s ({} queued)",
                f(&on["ceiling_per_s"]),
                f(&on["messages"])
            ),
            format!(
                "{} sends/s; at most {} in any 1 s window",
                f(&on["sent_per_s"]),
                f(&on["max_in_any_1s_window"])
            ),
            format!(
                "holds: {}",
                if on["ceiling_held"] == true {
                    "yes"
                } else {
                    "NO"
                }
            ),
        ));
    }
    let tui = &r["tui_frame"];
    if let Some(frames) = tui["frames"].as_array() {
        for fr in frames {
            let p99 = fr["p99_ms"].as_f64().unwrap_or(f64::NAN);
            rows.push((
                format!(
                    "TUI frame, {} chats + {}-message thread, {}",
                    f(&tui["chats"]),
                    f(&tui["messages"]),
                    fr["size"].as_str().unwrap_or("")
                ),
                format!(
                    "p50 {} / p99 {} ms ({} frames)",
                    f(&fr["p50_ms"]),
                    f(&fr["p99_ms"]),
                    f(&fr["n"])
                ),
                format!("< 5 ms: {}", verdict(p99 < 5.0)),
            ));
        }
    }
    let pg = &r["postgres"];
    if !pg.is_null() {
        for raw in pg["raw_insert"].as_array().into_iter().flatten() {
            rows.push((
                format!(
                    "PostgreSQL raw insert ({} clients, {} rows per commit; {})",
                    f(&raw["clients"]),
                    f(&raw["rows_per_commit"]),
                    pg["server"].as_str().unwrap_or("")
                ),
                format!("{} rows/s", f(&raw["rows_per_s"])),
                "baseline".into(),
            ));
        }
        for d in [1, 2] {
            let run = &pg["runs"][format!("daemons_{d}")];
            let sat = &run["saturation"];
            let open = &run["fixed_rate"];
            if sat.is_null() {
                continue;
            }
            let (acks, processed) = (
                sat["acknowledged_per_s"].as_f64().unwrap_or(0.0),
                sat["processed_per_s"].as_f64().unwrap_or(0.0),
            );
            rows.push((
                format!(
                    "PostgreSQL, {d} daemon(s), saturation ({} conns, {} webhooks)",
                    f(&sat["connections"]),
                    f(&sat["sent"])
                ),
                format!(
                    "acknowledged {} /s, processed {} /s ({} unprocessed at the last ack); ack {}",
                    f(&sat["acknowledged_per_s"]),
                    f(&sat["processed_per_s"]),
                    f(&sat["backlog_at_last_ack"]),
                    pcts(&sat["latency_ms"])
                ),
                if d == 2 {
                    format!(
                        "≥ 5,000 acks/s: {}; ≥ 3,000 processed/s: {}",
                        verdict(acks >= 5000.0),
                        verdict(processed >= 3000.0)
                    )
                } else {
                    "–".into()
                },
            ));
            rows.push((
                format!(
                    "PostgreSQL, {d} daemon(s), {} /s offered",
                    f(&open["offered_rate_per_s"])
                ),
                format!("ack {}", pcts(&open["latency_ms"])),
                "–".into(),
            ));
        }
        let one = pg["runs"]["daemons_1"]["saturation"]["acknowledged_per_s"].as_f64();
        let two = pg["runs"]["daemons_2"]["saturation"]["acknowledged_per_s"].as_f64();
        if let (Some(one), Some(two)) = (one, two) {
            rows.push((
                "PostgreSQL, second daemon: acknowledged throughput".into(),
                format!("{:.2}× one daemon's", two / one.max(1e-9)),
                format!("grows: {}", verdict(two > one)),
            ));
        }
    }
    out.push_str("| Figure | Measured | Target |\n|---|---|---|\n");
    for (a, b, c) in rows {
        out.push_str(&format!("| {a} | {b} | {c} |\n"));
    }
    out
}
