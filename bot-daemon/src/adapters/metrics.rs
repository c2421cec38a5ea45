//! Process metrics in the Prometheus text format: webhook outcomes by HTTP status, webhook
//! processing latency, messages in and out, plus gauges read from the store at scrape time.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

const BUCKETS_MS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
];

/// A latency histogram with fixed buckets (milliseconds).
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; 11],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                if let Some(c) = self.counts.get(i) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

/// Connection counts and the closes the limits caused, for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// HTTP connections open now.
    pub http_open: AtomicU64,
    /// gRPC connections open now.
    pub grpc_open: AtomicU64,
    /// Connections closed for a header that did not arrive in time.
    pub header_timeouts: AtomicU64,
    /// Requests whose body did not arrive in time.
    pub body_timeouts: AtomicU64,
    /// Keep-alive connections closed after the idle timeout.
    pub idle_closed: AtomicU64,
    /// gRPC connections closed for sending nothing within the header timeout.
    pub grpc_silent_closed: AtomicU64,
}

/// All metrics of one daemon.
#[derive(Debug, Default)]
pub struct Metrics {
    /// The listeners' connections.
    pub conns: ConnStats,
    /// Webhook POSTs by answered HTTP status.
    pub webhook_responses: Mutex<BTreeMap<u16, u64>>,
    /// Time from request to answer for webhook POSTs.
    pub webhook_latency: Histogram,
    /// Inbound messages applied.
    pub messages_in: Counter,
    /// Redelivered messages skipped.
    pub messages_duplicate: Counter,
    /// Outbound messages accepted by the Cloud API (or the sandbox).
    pub messages_out: Counter,
    /// Outbound messages failed for good.
    pub messages_failed: Counter,
    /// Send attempts that will be retried.
    pub messages_retried: Counter,
    /// Status webhooks applied.
    pub statuses: Counter,
    /// Inbox deliveries processed (their effects committed).
    pub inbox_processed: Counter,
    /// Inbox deliveries parked.
    pub inbox_parked: Counter,
}

impl Metrics {
    /// Counts one webhook answer.
    pub fn webhook(&self, status: u16, took: Duration) {
        if let Ok(mut m) = self.webhook_responses.lock() {
            *m.entry(status).or_insert(0) += 1;
        }
        self.webhook_latency.observe(took);
    }

    /// Renders the text exposition, with gauges supplied by the caller.
    pub fn render(&self, g: &crate::storage::Gauges, slots_busy: usize, slots: usize) -> String {
        let mut s = String::new();
        let c = &self.conns;
        for (name, help, v) in [
            (
                "chat_support_http_connections",
                "HTTP connections open.",
                c.http_open.load(Ordering::Relaxed),
            ),
            (
                "chat_support_grpc_connections",
                "gRPC connections open.",
                c.grpc_open.load(Ordering::Relaxed),
            ),
            (
                "chat_support_webhook_slots_busy",
                "Verified webhook deliveries being processed (of chat_support_webhook_slots).",
                slots_busy as u64,
            ),
            (
                "chat_support_webhook_slots",
                "Processing slots for verified webhook deliveries.",
                slots as u64,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            s,
            "# HELP chat_support_connections_closed_total Connections or requests cut off by a listener limit.\n# TYPE chat_support_connections_closed_total counter"
        );
        for (reason, v) in [
            ("header_timeout", &c.header_timeouts),
            ("body_timeout", &c.body_timeouts),
            ("idle_timeout", &c.idle_closed),
            ("grpc_silent", &c.grpc_silent_closed),
        ] {
            let _ = writeln!(
                s,
                "chat_support_connections_closed_total{{reason=\"{reason}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP chat_support_webhook_requests_total Webhook POSTs by HTTP status answered."
        );
        let _ = writeln!(s, "# TYPE chat_support_webhook_requests_total counter");
        if let Ok(m) = self.webhook_responses.lock() {
            for (status, n) in m.iter() {
                let _ = writeln!(
                    s,
                    "chat_support_webhook_requests_total{{status=\"{status}\"}} {n}"
                );
            }
        }
        let h = &self.webhook_latency;
        let _ = writeln!(s, "# HELP chat_support_webhook_duration_seconds Webhook processing time, request to answer.");
        let _ = writeln!(s, "# TYPE chat_support_webhook_duration_seconds histogram");
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            let n = h.counts.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(
                s,
                "chat_support_webhook_duration_seconds_bucket{{le=\"{}\"}} {n}",
                b / 1000.0
            );
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "chat_support_webhook_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "chat_support_webhook_duration_seconds_sum {}",
            h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "chat_support_webhook_duration_seconds_count {count}");
        for (name, help, v) in [
            (
                "chat_support_messages_in_total",
                "Inbound messages applied.",
                self.messages_in.get(),
            ),
            (
                "chat_support_messages_duplicate_total",
                "Redelivered inbound messages skipped.",
                self.messages_duplicate.get(),
            ),
            (
                "chat_support_messages_out_total",
                "Outbound messages accepted by the Cloud API or the sandbox.",
                self.messages_out.get(),
            ),
            (
                "chat_support_messages_failed_total",
                "Outbound messages failed for good.",
                self.messages_failed.get(),
            ),
            (
                "chat_support_outbox_retries_total",
                "Send attempts that failed and will be retried.",
                self.messages_retried.get(),
            ),
            (
                "chat_support_statuses_total",
                "Delivery status updates applied.",
                self.statuses.get(),
            ),
            (
                "chat_support_inbox_processed_total",
                "Inbox deliveries processed (their effects committed).",
                self.inbox_processed.get(),
            ),
            (
                "chat_support_inbox_parked_total",
                "Inbox deliveries parked after failing again and again.",
                self.inbox_parked.get(),
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        for (name, help, v) in [
            (
                "chat_support_active_chats",
                "Contacts in an active chat.",
                g.active_chats,
            ),
            (
                "chat_support_outbox_queued",
                "Outbound messages waiting for an attempt.",
                g.outbox_queued,
            ),
            (
                "chat_support_outbox_in_flight",
                "Outbound messages being sent.",
                g.outbox_in_flight,
            ),
            (
                "chat_support_outbox_failed",
                "Outbound messages given up (stored with Meta's error).",
                g.outbox_failed,
            ),
            (
                "chat_support_queue_length",
                "Open chats waiting for their first agent reply (GetStats.waiting_now).",
                g.waiting,
            ),
            (
                "chat_support_agents_available",
                "Enabled agents marked available.",
                g.agents_available,
            ),
            (
                "chat_support_agents_connected",
                "Agents with an open WatchChats stream (a console or admin watch).",
                g.agents_connected,
            ),
            (
                "chat_support_inbox_pending",
                "Webhook deliveries acknowledged and waiting in the inbox for processing.",
                g.inbox_pending,
            ),
            (
                "chat_support_inbox_parked",
                "Deliveries set aside after failing again and again (admin inbox).",
                g.inbox_parked,
            ),
            (
                "chat_support_leader",
                "1 when this daemon leads the desk (inbox, sends, timers): always on SQLite; one daemon of several on PostgreSQL.",
                g.leader,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            s,
            "# HELP chat_support_outbox_oldest_age_seconds Age of the oldest unsent outbound message.\n# TYPE chat_support_outbox_oldest_age_seconds gauge\nchat_support_outbox_oldest_age_seconds {}",
            g.outbox_oldest_age_ms as f64 / 1000.0
        );
        let _ = writeln!(
            s,
            "# HELP chat_support_inbox_oldest_age_seconds How long the oldest unprocessed inbox delivery has waited.\n# TYPE chat_support_inbox_oldest_age_seconds gauge\nchat_support_inbox_oldest_age_seconds {}",
            g.inbox_oldest_age_ms as f64 / 1000.0
        );
        let _ = writeln!(
            s,
            "# HELP chat_support_oldest_wait_seconds How long the longest-waiting open chat has waited for its first agent reply.\n# TYPE chat_support_oldest_wait_seconds gauge\nchat_support_oldest_wait_seconds {}",
            g.oldest_wait_ms as f64 / 1000.0
        );
        s
    }
}
