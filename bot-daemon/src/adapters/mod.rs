//! The adapters: everything that speaks a protocol. Each parses what comes in, calls the
//! engine (or reads the store), and maps the answer and the errors to its own wire format.
//! They import the engine, the store and the core; nothing below imports them.
//!
//! - [`http`]: the webhook, health, readiness and metrics endpoints; [`rest`]: the seed's REST.
//! - [`webhook`]: parsing and verifying Cloud API webhook deliveries; [`inbox`]: processing
//!   the acknowledged ones from the durable inbox.
//! - [`grpc`]: the agents' API (`chatsupport.v1.SupportAdmin`), reflection and health.
//! - [`outbound`]: the Cloud API client, the sandbox and the outbox sender.
//! - [`server`]: the listeners' connections (caps, timeouts, shutdown); [`health`]: a listener
//!   that stops turns readiness red; [`metrics`]: the Prometheus text; [`throttle`]: repeated
//!   errors logged once per interval.

pub mod grpc;
pub mod health;
pub mod http;
pub mod inbox;
pub mod metrics;
pub mod outbound;
pub mod rest;
pub mod server;
pub mod throttle;
pub mod webhook;
