//! The pure core: plain types and rules with no I/O, no clock reads and no state of their own.
//! Everything else may import it; it imports nothing but itself.
//!
//! - [`domain`]: states, senders, delivery statuses, addresses, message content, the clock's type.
//! - [`conversation`]: the state machine (`step`), its texts, keywords and the survey.
//! - [`desk`]: the shared desk's plain rules: callers, priorities, tokens, canned placeholders.
//! - [`hours`]: business hours and holidays in a time zone.
//! - [`stats`]: the support lead's figures from a range's session facts.
//! - [`inbound`]: what a webhook delivery carried (messages, statuses, identity changes).
//! - [`payload`]: the exact Cloud API JSON of an outbound message (the outbox stores it).

pub mod conversation;
pub mod desk;
pub mod domain;
pub mod hours;
pub mod inbound;
pub mod payload;
pub mod stats;
