//! Plain data at the bottom of the house: what every layer above shares. Nothing here
//! imports anything of the crate outside `model` (tests/layering.rs), so a type that two
//! layers need moves down here rather than one layer importing upward.

pub mod ab;
pub mod clock;
pub mod compare;
pub mod contract;
pub mod counts;
pub mod error;
pub mod events;
pub mod exit;
pub mod host;
pub mod keytag;
pub mod metrics;
pub mod roster;
pub mod secrets;
pub mod server;
pub mod summary;
pub mod telemetry;
pub mod terminal;
pub mod units;
pub mod url;
pub mod verdict;
