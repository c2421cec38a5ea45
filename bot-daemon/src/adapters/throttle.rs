//! One repeated error in the logs, said once per interval with a count of the repeats held
//! back (a full disk retried five times a second must not flood the journal). Used by the
//! outbound sender and the listeners' accept loops.

use std::time::Duration;

/// Rate-limits one repeated error in the logs: the first occurrence is logged, then at most one
/// line per interval carrying how many were suppressed in between. A different message is
/// logged at once; [`ErrorThrottle::clear`] (on success) starts over.
#[derive(Debug)]
pub struct ErrorThrottle {
    every: Duration,
    last: Option<(String, std::time::Instant)>,
    suppressed: u64,
}

impl ErrorThrottle {
    /// Logs a repeated message at most once per `every`.
    pub fn new(every: Duration) -> ErrorThrottle {
        ErrorThrottle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether `message`, occurring at `now`, is to be logged: `Some(n)` with the number of
    /// identical ones suppressed since the last line, `None` to suppress it.
    pub fn check(&mut self, message: &str, now: std::time::Instant) -> Option<u64> {
        match &self.last {
            Some((last, at)) if last == message && now.duration_since(*at) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some((message.to_string(), now));
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// The error stopped; returns how many were suppressed since the last line.
    pub fn clear(&mut self) -> u64 {
        self.last = None;
        std::mem::take(&mut self.suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_error_is_logged_first_then_once_per_interval_with_the_suppressed_count() {
        let start = std::time::Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut t = ErrorThrottle::new(Duration::from_secs(30));
        let full = "database full: database or disk is full";
        assert_eq!(t.check(full, at(0)), Some(0), "the first is logged");
        // A retry every 200 ms for 30 s: 149 more, all suppressed.
        let logged = (1..150)
            .filter(|i| t.check(full, at(i * 200)).is_some())
            .count();
        assert_eq!(logged, 0);
        assert_eq!(
            t.check(full, at(30_000)),
            Some(149),
            "then one line with the count"
        );
        assert_eq!(t.check(full, at(30_200)), None);
        // Another error is news at once.
        assert_eq!(t.check("disk I/O error", at(30_400)), Some(1));
        assert_eq!(t.clear(), 0);
        assert_eq!(
            t.check(full, at(30_600)),
            Some(0),
            "after recovery, logged again"
        );
        assert_eq!(t.check(full, at(30_800)), None);
        assert_eq!(t.clear(), 1);
    }
}
