//! Every exit code trafficgen uses besides 0, in one place (docs/thresholds.md, "Exit codes",
//! states the same).

/// The run could not do its work: a client or server that does not answer, an output
/// that cannot be written, deletes that failed.
pub const RUN_FAILED: i32 = 1;
/// Bad input: a malformed profile or option, an output that would destroy an input.
pub const USAGE: i32 = 2;
/// A run whose verdict failed.
pub const VERDICT_FAILED: i32 = 3;
/// A run whose verdict is inconclusive: nothing failed, but something the verdict needs
/// was not measured or cannot be judged.
pub const INCONCLUSIVE: i32 = 4;
/// Interrupted twice (or once before traffic started): 128 + SIGINT, as shells report it.
pub const INTERRUPTED: i32 = 130;
