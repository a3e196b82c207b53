//! What the events mean: counters and histograms, fidelity, telemetry reconciliation,
//! the server's counters, the verdict, `ab`'s statistics, the summary's assembly, two
//! runs compared and shards merged.
//! Never imports `exec` or `work`: it judges what happened, it does not make it happen.

pub mod ab;
pub mod ab_server;
pub mod abstats;
pub mod abtelemetry;
pub mod compare;
pub mod fidelity;
pub mod merge;
pub mod server_metrics;
pub mod stats;
pub mod summary;
pub mod telemetry;
pub mod verdict;
