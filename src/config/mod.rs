//! What a run is asked to do: the profile's schema and validation, the resolved plan,
//! shards, the rate model and threshold expressions. Imports only `model`; nothing here
//! starts a process or reads the clock.

pub mod plan;
pub mod profile;
pub mod schedule;
pub mod shard;
pub mod threshold;
pub mod token;
pub mod versions;
