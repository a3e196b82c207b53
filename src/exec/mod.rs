//! Processes: the client (the one place that spawns, times out and reaps children) and
//! the signals that stop them. Imports `model` and `config` only.

pub mod client;
pub mod signal;
