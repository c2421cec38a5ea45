//! chat-support's daemon as a library, so tests can boot it in-process.
//!
//! - [`domain`]: plain types shared by everything.
//! - [`conversation`]: the pure state machine and its texts and keywords.
#![warn(missing_docs)]

pub mod conversation;
pub mod domain;
