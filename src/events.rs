//! Plain records that workers send to the stats thread. Workers never format output;
//! whoever consumes these decides what to show.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpType {
    Upload,
    Download,
    Delete,
    /// A deliberate error: the download of a key that does not exist, so the client's
    /// error path (and its error metrics) see traffic too. Success = the client fails.
    Probe,
}

impl OpType {
    pub const ALL: [OpType; 4] = [OpType::Upload, OpType::Download, OpType::Delete, OpType::Probe];
    pub fn name(self) -> &'static str {
        match self {
            OpType::Upload => "upload",
            OpType::Download => "download",
            OpType::Delete => "delete",
            OpType::Probe => "error_probe",
        }
    }
}

/// Failure classes, as reported in stats and the JSON summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailClass {
    /// The client exited non-zero.
    Failed,
    /// Killed after the command timeout.
    TimedOut,
    /// Ended by a signal it was not sent.
    Crashed,
    /// Could not be started (missing binary, no permission, …).
    SpawnError,
    /// A download's bytes differ from what was uploaded (size or content).
    Mismatch,
    /// The local file could not be written.
    LocalIo,
    /// Killed at shutdown after the grace period.
    Cancelled,
}

impl FailClass {
    pub const ALL: [FailClass; 7] = [
        FailClass::Failed,
        FailClass::TimedOut,
        FailClass::Crashed,
        FailClass::SpawnError,
        FailClass::Mismatch,
        FailClass::LocalIo,
        FailClass::Cancelled,
    ];
    pub fn name(self) -> &'static str {
        match self {
            FailClass::Failed => "failed",
            FailClass::TimedOut => "timed_out",
            FailClass::Crashed => "crashed",
            FailClass::SpawnError => "spawn_error",
            FailClass::Mismatch => "mismatch",
            FailClass::LocalIo => "local_io",
            FailClass::Cancelled => "cancelled",
        }
    }
}

/// Why a scheduled operation did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    UserCap,
    GlobalCap,
    Memory,
    Disk,
}

impl Shortfall {
    pub const ALL: [Shortfall; 4] = [Shortfall::UserCap, Shortfall::GlobalCap, Shortfall::Memory, Shortfall::Disk];
    pub fn name(self) -> &'static str {
        match self {
            Shortfall::UserCap => "user_cap",
            Shortfall::GlobalCap => "global_cap",
            Shortfall::Memory => "memory",
            Shortfall::Disk => "disk",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    Ttl,
    Cleanup,
}

/// One finished operation.
#[derive(Debug, Clone)]
pub struct OpRecord {
    pub user: usize,
    pub op: OpType,
    pub result: Result<(), FailClass>,
    pub exit_code: Option<i32>,
    pub key: String,
    pub bytes: u64,
    pub large: bool,
    /// A local file was written for this upload.
    pub file_created: bool,
    /// Time the client ran (synthesis excluded).
    pub duration: Duration,
    /// First stderr line, secrets removed.
    pub error: Option<String>,
    pub delete_reason: Option<DeleteReason>,
    /// For deletes: the object was a certain (counted-live) one.
    pub was_live: bool,
}

#[derive(Debug, Clone)]
pub enum Event {
    /// An operation was dispatched; `lag` is how late it started against its slot.
    Started {
        user: usize,
        op: OpType,
        lag: Duration,
    },
    Finished(Box<OpRecord>),
    /// `count` scheduled operations did not start, for `reason`.
    Shortfall {
        user: usize,
        reason: Shortfall,
        count: u64,
    },
    /// A user re-created its bucket after repeated failures.
    BucketEnsured {
        user: usize,
        ok: bool,
        error: Option<String>,
    },
}
