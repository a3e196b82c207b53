//! The work: the fleet's shared caps, each user's thread, the operations and their
//! independent checks, synthetic files, host admission and the crash-safe state dir.
//! Never imports `analysis`, `output` or `commands`: workers send plain events down.

pub mod ab;
pub mod fleet;
pub mod host;
pub mod inventory;
pub mod ops;
pub mod state;
pub mod synth;
pub mod user;
pub mod workload;
