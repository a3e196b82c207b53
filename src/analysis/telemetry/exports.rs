//! What children exported, as plain data: the receiver (`receiver.rs`) fills it, the
//! ledger (`ledger.rs`) folds it. Below both, so neither imports the other.

use std::collections::BTreeMap;

/// One series' latest state for one child.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    /// Sum or gauge value; for histograms, the sum of the samples.
    pub value: f64,
    /// Histograms: the number of samples.
    pub count: u64,
    /// Cumulative points replace an older point; delta points add up.
    pub(super) time_unix_nano: u64,
}

/// What one child (one `service.instance.id`) reported.
#[derive(Debug, Clone, Default)]
pub struct ChildExports {
    /// Resource attributes (service.name, trafficgen.user, …).
    pub resource: BTreeMap<String, String>,
    /// (metric name, attributes as `k=v,…` sorted) → point.
    pub series: BTreeMap<(String, String), Point>,
    /// Whether each metric is a histogram (count/sum) or a number.
    pub histograms: BTreeMap<String, bool>,
    pub requests: u64,
}

/// A point as a test writes it.
#[cfg(test)]
pub fn point(value: f64, count: u64) -> Point {
    Point { value, count, time_unix_nano: 1 }
}
