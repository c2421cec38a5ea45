//! [`EngineError`]: why the engine refused or failed a call. The business refusals (an unknown
//! conversation, a state the action does not apply in, a malformed request, a missing agent or
//! canned response, a taken name, an operator-only action) are the engine's own words; a
//! storage failure is the store's [`StoreError`], kept whole. Each adapter maps these to its
//! codes (gRPC statuses, REST HTTP statuses).

use crate::storage::StoreError;

/// Why an engine call did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No conversation for this phone number, BSUID or `@username`.
    #[error("no conversation for {0}")]
    NotFound(String),
    /// The action does not apply in the conversation's current state (no active chat, another
    /// agent's chat, outside WhatsApp's window, a reused idempotency key, …).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request is malformed (the message names the field).
    #[error("{0}")]
    Invalid(String),
    /// Something other than a conversation does not exist (the message says what).
    #[error("{0}")]
    Missing(String),
    /// A name or key is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// A valid caller asked for something only the operator may do.
    #[error("{0}")]
    PermissionDenied(String),
    /// The store failed (unavailable, full, corrupt, shut down, …). Its message is this one:
    /// `transparent`, so a printed chain does not repeat it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::storage::WriteError for EngineError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            EngineError::Store(e) => Some(e),
            _ => None,
        }
    }
}
