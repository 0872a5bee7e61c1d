//! Latency percentiles as the reports print them.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Percentiles of a histogram of microseconds.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub samples: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    Percentiles {
        samples: h.len(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        max: h.max(),
    }
}
