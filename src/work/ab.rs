//! The run side of `trafficgen ab`: which of two client builds runs each operation,
//! and what each build's commands did.
//!
//! Both builds run in one run, interleaved per operation, so load, server state, time
//! of day and machine noise fall on both alike (two separate runs carry drift that no
//! statistics can take out). Each user assigns its operations of each kind in blocks of
//! two, one to A and one to B in a seeded order, so the builds stay balanced per user
//! and kind whatever the mix. The operation's build reaches the client through a
//! task-local (one spawner, no new parameters through every operation), and its
//! objects carry the build in their keys (`a/…`, `b/…`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::model::events::{FailClass, OpRecord, OpType, SizeClass};

// Which build an operation runs is plain data (events.rs): the telemetry ledger keys on
// it without importing this worker module.
pub use crate::model::events::Build;

tokio::task_local! {
    /// The build of the operation this task runs (A outside `ab`).
    static BUILD: Build;
}

/// The build of the operation now running on this task.
pub fn current() -> Build {
    BUILD.try_with(|b| *b).unwrap_or_default()
}

/// Runs an operation's future as `build`'s.
pub async fn scope<F: Future>(build: Build, f: F) -> F::Output {
    BUILD.scope(build, f).await
}

/// One command as `ab` needs it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub build: Build,
    pub op: OpType,
    pub class: SizeClass,
    pub seconds: f64,
    pub result: Result<(), FailClass>,
}

/// What a run under `ab` shares with `ab`: the second binary, the seed of the
/// assignment, every command's sample, and the run's own summary at the end.
#[derive(Default)]
pub struct Split {
    pub binary_b: PathBuf,
    pub seed: u64,
    pub samples: Mutex<Vec<Sample>>,
    pub summary: Mutex<Option<crate::model::summary::Summary>>,
}

impl Split {
    pub fn new(binary_b: PathBuf, seed: u64) -> Split {
        Split { binary_b, seed, ..Default::default() }
    }

    pub fn record(&self, build: Build, recs: &[OpRecord]) {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        for r in recs {
            s.push(Sample {
                build,
                op: r.op,
                class: SizeClass::of(r.bytes),
                seconds: r.duration.as_secs_f64(),
                result: r.result,
            });
        }
    }

    pub fn take_samples(&self) -> Vec<Sample> {
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One user's assignment: per operation kind, the n-th operation's build.
#[derive(Default)]
pub struct Assigner {
    counts: HashMap<OpType, u64>,
}

impl Assigner {
    /// The build of this user's next operation of kind `op`: blocks of two, A then B or
    /// B then A by a seeded coin per block.
    pub fn next(&mut self, seed: u64, user: usize, op: OpType) -> Build {
        let n = self.counts.entry(op).or_insert(0);
        let (block, second) = (*n / 2, *n % 2 == 1);
        *n += 1;
        let coin = mix(seed ^ mix(user as u64 ^ (op.index() as u64) << 32) ^ mix(block.wrapping_add(0x9e37)));
        let a_first = coin & 1 == 0;
        if a_first != second { Build::A } else { Build::B }
    }
}

/// SplitMix64's finalizer: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_is_balanced_per_user_and_kind_and_seeded() {
        let mut a = Assigner::default();
        let seq: Vec<Build> = (0..100).map(|_| a.next(7, 3, OpType::Upload)).collect();
        // Every block of two holds one of each.
        for pair in seq.chunks(2) {
            assert_ne!(pair[0], pair[1]);
        }
        // The order within blocks is not fixed: both orders occur.
        assert!(seq.chunks(2).any(|p| p[0] == Build::A) && seq.chunks(2).any(|p| p[0] == Build::B));
        // Kinds count apart: a run of deletes does not shift the uploads' blocks.
        let mut b = Assigner::default();
        let mut again = Vec::new();
        for _ in 0..100 {
            b.next(7, 3, OpType::Delete);
            again.push(b.next(7, 3, OpType::Upload));
        }
        assert_eq!(seq, again);
        // Another seed, another order.
        let mut c = Assigner::default();
        let other: Vec<Build> = (0..100).map(|_| c.next(8, 3, OpType::Upload)).collect();
        assert_ne!(seq, other);
    }

    #[tokio::test]
    async fn the_build_follows_the_task() {
        assert_eq!(current(), Build::A);
        assert_eq!(scope(Build::B, async { current() }).await, Build::B);
    }
}
