//! The PostgreSQL phase (issue 16): a cluster of its own with PostgreSQL's durable defaults
//! (`fsync`, `synchronous_commit` and `full_page_writes` on) on this machine's disk, and in one
//! run:
//!
//! - the raw baseline: 16 clients inserting webhook-sized rows, one row per commit and 128
//!   rows per commit (the harness's own, the shape of `pgbench` with a custom insert script);
//! - one daemon on it: the same open-loop (ack latency) and saturation runs as on SQLite;
//! - two daemons on one database, the load split between them as a balancer would (each user
//!   on one connection, the connections alternating between the daemons).
//!
//! Every run checks that every acknowledged message was stored; speed is reported only.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use tests::{pg::DurableCluster, FakeCloudApi};

use crate::{
    cpu,
    load::{self, RunResult},
    phases::Ctx,
    procs::{write_config, Proc},
    stats::{round1, round3},
};

async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn create_db(cluster: &DurableCluster, name: &str) -> Result<String> {
    let admin = connect(&cluster.admin_url()).await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    Ok(format!(
        "postgres://postgres@127.0.0.1:{}/{name}",
        cluster.port
    ))
}

/// Rows per second of `clients` connections each inserting ~1 KB rows, `per_commit` a commit.
async fn raw_insert(url: &str, clients: usize, per_commit: usize, secs: f64) -> Result<Value> {
    let setup = connect(url).await?;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS raw_inbox;
             CREATE TABLE raw_inbox (id BIGSERIAL PRIMARY KEY, received_at BIGINT NOT NULL, body TEXT NOT NULL)",
        )
        .await?;
    let body = "x".repeat(1_000);
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (url, body) = (url.to_string(), body.clone());
        tasks.spawn(async move {
            let mut c = connect(&url).await?;
            let stmt = c
                .prepare("INSERT INTO raw_inbox (received_at, body) VALUES ($1, $2)")
                .await?;
            let mut rows = 0usize;
            while Instant::now() < until {
                let tx = c.transaction().await?;
                for i in 0..per_commit {
                    tx.execute(&stmt, &[&(i as i64), &body]).await?;
                }
                tx.commit().await?;
                rows += per_commit;
            }
            anyhow::Ok(rows)
        });
    }
    let start = Instant::now();
    let mut rows = 0;
    while let Some(r) = tasks.join_next().await {
        rows += r??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(json!({
        "clients": clients,
        "rows_per_commit": per_commit,
        "rows_per_s": round1(rows as f64 / elapsed),
        "commits_per_s": round1(rows as f64 / per_commit as f64 / elapsed),
    }))
}

async fn stored(db: &tokio_postgres::Client, prefix: &str) -> Result<i64> {
    let row = db
        .query_one(
            "SELECT count(*) FROM messages WHERE direction = 'in' AND wamid LIKE $1",
            &[&format!("wamid.BENCH.{prefix}.%")],
        )
        .await?;
    Ok(row.get(0))
}

/// Inbound webhooks against `daemons` daemons on a fresh database: open loop at `rate` > 0,
/// else saturation.
#[allow(clippy::too_many_arguments)]
async fn inbound(
    ctx: &Ctx,
    fake: &FakeCloudApi,
    cluster: &DurableCluster,
    name: &str,
    run: u32,
    daemons: usize,
    (users, total, conns, rate): (usize, usize, usize, f64),
) -> Result<Value> {
    let url = create_db(cluster, name).await?;
    let mut procs = Vec::new();
    for d in 0..daemons {
        let cfg = write_config(
            &ctx.dir,
            &format!("{name}-{d}"),
            std::path::Path::new(&url),
            &fake.url(),
            80,
        )?;
        let p = Proc::daemon(&ctx.daemon, &cfg, &ctx.dir.join(format!("{name}-{d}.log")))?;
        p.wait_ready().await?;
        procs.push(p);
    }
    let db = connect(&url).await?;
    // The connections alternate between the daemons (each user stays on one connection).
    let mut split: Vec<Vec<Vec<load::Delivery>>> = (0..daemons).map(|_| Vec::new()).collect();
    for (i, list) in load::build(name, run, users, total, conns, rate)
        .into_iter()
        .enumerate()
    {
        split[i % daemons].push(list);
    }
    let befores: Vec<_> = procs.iter().map(|p| cpu::snapshot(p.pid)).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut runs = tokio::task::JoinSet::new();
    for (p, work) in procs.iter().zip(split) {
        let addr = p.http;
        runs.spawn(async move { load::run(addr, work, true, false).await });
    }
    let mut r = RunResult::default();
    while let Some(one) = runs.join_next().await {
        let one = one??;
        r.ok += one.ok;
        r.errors += one.errors;
        r.latency.extend(one.latency);
        r.wire.extend(one.wire);
        r.elapsed = r.elapsed.max(one.elapsed);
        if r.first_error.is_none() {
            r.first_error = one.first_error;
        }
    }
    let backlog = (r.ok as i64 - stored(&db, name).await?).max(0);
    let draining = Instant::now();
    let mut n = stored(&db, name).await?;
    while n < r.ok as i64 && draining.elapsed() < Duration::from_secs(900) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        n = stored(&db, name).await?;
    }
    let drain = draining.elapsed();
    let processed_elapsed = r.elapsed + drain;
    let cpu: Vec<Value> = procs
        .iter()
        .zip(&befores)
        .map(|(p, before)| {
            let after = cpu::snapshot(p.pid);
            let d = cpu::delta(before, &after);
            let total = d.get("total").copied().unwrap_or(0.0);
            json!({
                "cpu_seconds": round3(total),
                "cores_busy": round3(total / processed_elapsed.as_secs_f64()),
            })
        })
        .collect();
    for p in procs {
        p.stop();
    }
    ensure!(
        r.errors == 0,
        "{name}: {} of {total} webhooks failed; first: {}",
        r.errors,
        r.first_error.clone().unwrap_or_default()
    );
    ensure!(
        n == r.ok as i64 && r.ok == total,
        "{name}: sent {total}, acknowledged {}, stored {n}",
        r.ok
    );
    Ok(json!({
        "daemons": daemons,
        "offered_rate_per_s": if rate > 0.0 { json!(rate) } else { json!("saturation (closed loop)") },
        "connections": conns,
        "sent": total,
        "acknowledged_200": r.ok,
        "stored": n,
        "elapsed_s": round3(r.elapsed.as_secs_f64()),
        "acknowledged_per_s": round1(r.rate()),
        "backlog_at_last_ack": backlog,
        "drain_after_last_ack_s": round3(drain.as_secs_f64()),
        "processed_per_s": round1(r.ok as f64 / processed_elapsed.as_secs_f64().max(1e-9)),
        "latency_ms": r.latency.summary(),
        "daemon_cpu": cpu,
    }))
}

/// The whole phase.
pub(crate) async fn phase(
    ctx: &Ctx,
    fake: &FakeCloudApi,
    mut next_run: impl FnMut() -> u32,
    (users, sat, conns, rate, rate_secs, raw_secs): (usize, usize, usize, f64, f64, f64),
) -> Result<Value> {
    let cluster = DurableCluster::start().map_err(anyhow::Error::msg)?;
    eprintln!("bench: PostgreSQL: {}", cluster.describe());
    let raw_url = create_db(&cluster, "raw").await?;
    let mut raw = Vec::new();
    for per_commit in [1, 128] {
        eprintln!("bench: PostgreSQL raw insert, 16 clients, {per_commit} rows per commit ...");
        raw.push(raw_insert(&raw_url, 16, per_commit, raw_secs).await?);
    }
    let open_total = (rate * rate_secs).round() as usize;
    let mut runs = serde_json::Map::new();
    for daemons in [1, 2] {
        eprintln!("bench: PostgreSQL, {daemons} daemon(s), {rate}/s for {rate_secs} s ...");
        let open = inbound(
            ctx,
            fake,
            &cluster,
            &format!("pg{daemons}open"),
            next_run(),
            daemons,
            (users, open_total, conns.min(16), rate),
        )
        .await?;
        eprintln!("bench: PostgreSQL, {daemons} daemon(s), saturation, {sat} webhooks ...");
        let saturated = inbound(
            ctx,
            fake,
            &cluster,
            &format!("pg{daemons}sat"),
            next_run(),
            daemons,
            (users, sat, conns, 0.0),
        )
        .await?;
        runs.insert(
            format!("daemons_{daemons}"),
            json!({"fixed_rate": open, "saturation": saturated}),
        );
    }
    Ok(json!({
        "server": cluster.describe(),
        "raw_insert": raw,
        "runs": runs,
    }))
}
