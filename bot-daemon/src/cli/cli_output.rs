//! What the operator commands (`bot-daemon admin …`) hand back to a shell: lines on stdout
//! through [`emit`], which turns a closed pipe (`… | head -1`) into a quiet stop instead of a
//! panic, and [`CliError`], each kind with its own exit code and, under `--json`, one JSON
//! object on stderr (`{"error": {"code": "NOT_FOUND", "message": "…"}}`).
//!
//! Exit codes: 0 success (also when the reader of stdout went away), 1 other, 2 usage or invalid
//! input, 3 the daemon is unreachable, 4 no token or a refused token, 5 not found, 6 a failed
//! precondition (e.g. another agent's chat without `--takeover`).

use std::io::Write;

use serde_json::{json, Value};
use tonic::Code;

/// How the daemon is started, for "is the daemon running?".
pub const START_HINT: &str = "cargo run --release -p bot-daemon";

/// Why an operator command failed, as its exit code and JSON error code say.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad argument found before asking the daemon (exit 2, `INVALID_ARGUMENT`).
    #[error("{0}")]
    Usage(String),
    /// The daemon did not answer at all (exit 3, `UNAVAILABLE`).
    #[error("{0}")]
    Unreachable(String),
    /// No token to present (exit 4, `UNAUTHENTICATED`).
    #[error("{0}")]
    NoToken(String),
    /// The daemon refused the call; its code decides the exit code.
    #[error("{:?}: {}", .0.code(), .0.message())]
    Status(tonic::Status),
    /// Anything else (exit 1, `UNKNOWN`).
    #[error("{0}")]
    Other(String),
    /// Whoever read stdout has gone (`| head`): stop quietly, exit 0.
    #[error("stdout was closed")]
    BrokenPipe,
}

/// The gRPC name of a status code, as in `{"error": {"code": …}}`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl CliError {
    /// A refusal from the daemon, its message put in command-line words: the engine's "set
    /// takeover" names the `--takeover` flag.
    pub fn from_status(s: tonic::Status) -> CliError {
        let message = s
            .message()
            .replace("set takeover", "pass --takeover")
            .replace(
                "replying with takeover",
                "replying with `admin send … --takeover`",
            );
        CliError::Status(tonic::Status::new(s.code(), message))
    }

    /// The gRPC code this error is reported under.
    pub fn code(&self) -> Code {
        match self {
            CliError::Usage(_) => Code::InvalidArgument,
            CliError::Unreachable(_) => Code::Unavailable,
            CliError::NoToken(_) => Code::Unauthenticated,
            CliError::Status(s) => s.code(),
            CliError::Other(_) => Code::Unknown,
            CliError::BrokenPipe => Code::Ok,
        }
    }

    /// The process exit code (documented in docs/api.md).
    pub fn exit_code(&self) -> u8 {
        if matches!(self, CliError::BrokenPipe) {
            return 0;
        }
        match self.code() {
            Code::InvalidArgument | Code::OutOfRange => 2,
            Code::Unavailable => 3,
            Code::Unauthenticated | Code::PermissionDenied => 4,
            Code::NotFound => 5,
            Code::FailedPrecondition | Code::AlreadyExists => 6,
            _ => 1,
        }
    }

    /// The message alone (without the code).
    pub fn message(&self) -> String {
        match self {
            CliError::Status(s) => s.message().to_string(),
            other => other.to_string(),
        }
    }

    /// `{"error": {"code": "NOT_FOUND", "message": "…"}}`.
    pub fn to_json(&self) -> Value {
        json!({"error": {"code": code_name(self.code()), "message": self.message()}})
    }
}

/// Writes one line (plus `\n`) to stdout and flushes it, so a follower (`admin watch`) sees it
/// at once and a closed pipe is noticed at the next line.
///
/// # Errors
/// [`CliError::BrokenPipe`] when the reader has gone; [`CliError::Other`] for other write
/// failures.
pub fn emit(line: impl std::fmt::Display) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => CliError::BrokenPipe,
            _ => CliError::Other(format!("writing to stdout: {e}")),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_json_errors() {
        let cases = [
            (CliError::Usage("x".into()), 2, "INVALID_ARGUMENT"),
            (CliError::Unreachable("x".into()), 3, "UNAVAILABLE"),
            (CliError::NoToken("x".into()), 4, "UNAUTHENTICATED"),
            (
                CliError::from_status(tonic::Status::permission_denied("x")),
                4,
                "PERMISSION_DENIED",
            ),
            (
                CliError::from_status(tonic::Status::not_found("x")),
                5,
                "NOT_FOUND",
            ),
            (
                CliError::from_status(tonic::Status::failed_precondition("x")),
                6,
                "FAILED_PRECONDITION",
            ),
            (
                CliError::from_status(tonic::Status::internal("x")),
                1,
                "INTERNAL",
            ),
            (CliError::Other("x".into()), 1, "UNKNOWN"),
            (CliError::BrokenPipe, 0, "OK"),
        ];
        for (e, exit, code) in cases {
            assert_eq!(e.exit_code(), exit, "{e:?}");
            assert_eq!(e.to_json()["error"]["code"], code, "{e:?}");
        }
        let e = CliError::from_status(tonic::Status::not_found("no such contact"));
        assert_eq!(
            e.to_json(),
            json!({"error": {"code": "NOT_FOUND", "message": "no such contact"}})
        );
        // People read the code in words, as before.
        assert_eq!(e.to_string(), "NotFound: no such contact");
    }

    #[test]
    fn the_takeover_refusal_names_the_flag() {
        let e = CliError::from_status(tonic::Status::failed_precondition(
            "this chat is assigned to ada; set takeover to act on it anyway (it becomes yours)",
        ));
        assert!(e.message().contains("pass --takeover"), "{e}");
    }
}
