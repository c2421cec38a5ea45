//! Latency samples and percentiles.

use std::time::Duration;

use serde_json::{json, Value};

/// Latency samples in microseconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples(Vec<u64>);

impl Samples {
    pub(crate) fn new() -> Samples {
        Samples(Vec::new())
    }

    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(d.as_micros().min(u128::from(u64::MAX)) as u64);
    }

    pub(crate) fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile in milliseconds (NaN when empty).
    pub(crate) fn pct_ms(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.0.len()) - 1;
        self.0[i] as f64 / 1000.0
    }

    pub(crate) fn max_ms(&mut self) -> f64 {
        self.0
            .iter()
            .copied()
            .max()
            .map_or(f64::NAN, |m| m as f64 / 1000.0)
    }

    pub(crate) fn mean_ms(&self) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.iter().sum::<u64>() as f64 / self.0.len() as f64 / 1000.0
    }

    /// `{n, p50, p99, p999, max, mean}` in ms.
    pub(crate) fn summary(&mut self) -> Value {
        json!({
            "n": self.len(),
            "p50_ms": round3(self.pct_ms(50.0)),
            "p99_ms": round3(self.pct_ms(99.0)),
            "p999_ms": round3(self.pct_ms(99.9)),
            "max_ms": round3(self.max_ms()),
            "mean_ms": round3(self.mean_ms()),
        })
    }
}

pub(crate) fn round3(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        x
    }
}

pub(crate) fn round1(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10.0).round() / 10.0
    } else {
        x
    }
}
