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

/// A value that cannot be read (a threshold, a version key, a bucket name, a duration
/// beyond the longest run …), in words that say what it may be. Read from a profile it
/// becomes a `ProfileError` at its place; given on the command line it is bad input (exit 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<Invalid> for crate::model::error::Error {
    fn from(e: Invalid) -> Self {
        crate::model::error::Error::Usage(e.0)
    }
}
