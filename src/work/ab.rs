//! The run side of `trafficgen ab`: which of two client builds runs each operation,
//! and what each build's commands did.
//!
//! Both builds run in one run, interleaved per operation, so load, server state, time
//! of day and machine noise fall on both alike (two separate runs carry drift that no
//! statistics can take out). Each user assigns its operations of each kind in blocks of
//! two, one to A and one to B, so the builds stay balanced per user and kind whatever
//! the mix; a block starts with the build that has had fewer of that kind across all
//! users (a seeded coin on a tie), so the rare kinds (`mb`, `du`, each expected
//! failure), which a user may run once or twice in a smoke run, still reach both
//! builds alike: the fleet's counts per kind differ by at most the users' open blocks. The operation's build reaches the client through a
//! task-local (one spawner, no new parameters through every operation), and its
//! objects carry the build in their keys (`a/…`, `b/…`).
//!
//! With `--server-metrics` the server's counters are a witness too, but the server
//! cannot tell the builds apart. Then whole blocks of wall time go to one build in turn
//! (`Blocks`), and `ab` reads the server at each block's end: each reading is then
//! (nearly) one build's requests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::model::events::{OpRecord, OpType, SizeClass};

// Which build an operation runs is plain data (events.rs): the telemetry ledger keys on
// it without importing this worker module.
pub use crate::model::events::Build;

// Each command's sample is plain data, so `analysis::ab` reads what this module records.
use crate::model::ab::Sample;

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

/// What a run under `ab` shares with `ab`: the second binary, the seed of the
/// assignment, every command's sample, and the run's own summary at the end.
#[derive(Default)]
pub struct Split {
    pub binary_b: PathBuf,
    pub seed: u64,
    /// Deal whole blocks of this much wall time to one build (`--server-metrics`);
    /// None: per operation.
    pub block: Option<Duration>,
    /// When the first operation was dealt: block 0 starts here.
    start: OnceLock<Instant>,
    pub samples: Mutex<Vec<Sample>>,
    pub summary: Mutex<Option<crate::model::summary::Summary>>,
    /// Operations dealt so far per kind, [A, B], across all users.
    dealt: Mutex<HashMap<OpType, [u64; 2]>>,
}

impl Split {
    pub fn new(binary_b: PathBuf, seed: u64, block: Option<Duration>) -> Split {
        Split { binary_b, seed, block, ..Default::default() }
    }

    /// The build of a user's next operation of kind `op`.
    pub fn deal(&self, assigner: &mut Assigner, user: usize, op: OpType) -> Build {
        match self.block {
            Some(every) => {
                let start = *self.start.get_or_init(Instant::now);
                block_build(self.seed, block_index(start, every, Instant::now()))
            }
            None => {
                let mut dealt = self.dealt.lock().unwrap_or_else(|e| e.into_inner());
                let counts = dealt.entry(op).or_default();
                let build = assigner.next(self.seed, user, op, *counts);
                counts[(build == Build::B) as usize] += 1;
                build
            }
        }
    }

    /// When block 0 began (None before the first operation).
    pub fn started(&self) -> Option<Instant> {
        self.start.get().copied()
    }

    pub fn record(&self, build: Build, recs: &[OpRecord]) {
        // Each command's end on this clock: the operation's last command ended now, and
        // the others (an upload before its confirmation) when their own times say.
        let now = self.started().map_or(0.0, |t| t.elapsed().as_secs_f64());
        let end = |r: &OpRecord| r.at + r.duration.as_secs_f64();
        let last = recs.iter().map(end).fold(f64::NEG_INFINITY, f64::max);
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        for r in recs {
            s.push(Sample {
                build,
                op: r.op,
                class: SizeClass::of(r.bytes),
                seconds: r.duration.as_secs_f64(),
                end_s: now - (last - end(r)),
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
    /// The build the open block of each kind started with.
    first: HashMap<OpType, Build>,
}

impl Assigner {
    /// The build of this user's next operation of kind `op`: blocks of two, A then B or
    /// B then A. A block starts with the build the whole fleet has dealt fewer of this
    /// kind to (`fleet`: [A, B] so far), by a seeded coin when they are even.
    pub fn next(&mut self, seed: u64, user: usize, op: OpType, fleet: [u64; 2]) -> Build {
        let n = self.counts.entry(op).or_insert(0);
        let (block, second) = (*n / 2, *n % 2 == 1);
        *n += 1;
        let first = self.first.entry(op).or_insert(Build::A);
        if !second {
            let coin = mix(seed ^ mix(user as u64 ^ (op.index() as u64) << 32) ^ mix(block.wrapping_add(0x9e37)));
            *first = match fleet[0].cmp(&fleet[1]) {
                std::cmp::Ordering::Less => Build::A,
                std::cmp::Ordering::Greater => Build::B,
                std::cmp::Ordering::Equal if coin & 1 == 0 => Build::A,
                std::cmp::Ordering::Equal => Build::B,
            };
            return *first;
        }
        match *first {
            Build::A => Build::B,
            Build::B => Build::A,
        }
    }
}

/// The block `now` falls in, counted from `start` in steps of `every`.
pub fn block_index(start: Instant, every: Duration, now: Instant) -> u64 {
    (now.saturating_duration_since(start).as_secs_f64() / every.as_secs_f64().max(1e-3)) as u64
}

/// Block k's build: blocks go in pairs, A then B or B then A by a seeded coin per pair,
/// so a slow drift over the run (a warming server, a filling disk) falls on both alike.
pub fn block_build(seed: u64, k: u64) -> Build {
    let coin = mix(seed ^ mix((k / 2).wrapping_add(0x5bd1_e995)));
    if (coin & 1 == 0) == k.is_multiple_of(2) { Build::A } else { Build::B }
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
        let even = [0, 0];
        let mut a = Assigner::default();
        let seq: Vec<Build> = (0..100).map(|_| a.next(7, 3, OpType::Upload, even)).collect();
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
            b.next(7, 3, OpType::Delete, even);
            again.push(b.next(7, 3, OpType::Upload, even));
        }
        assert_eq!(seq, again);
        // Another seed, another order.
        let mut c = Assigner::default();
        let other: Vec<Build> = (0..100).map(|_| c.next(8, 3, OpType::Upload, even)).collect();
        assert_ne!(seq, other);
        // A block starts with the build the fleet has had fewer of.
        let mut d = Assigner::default();
        assert_eq!(d.next(7, 3, OpType::Du, [2, 1]), Build::B);
        assert_eq!(d.next(7, 3, OpType::Du, [2, 2]), Build::A);
        assert_eq!(d.next(7, 3, OpType::Du, [0, 5]), Build::A);
    }

    #[test]
    fn rare_kinds_reach_both_builds_across_users() {
        // Ten users who each run a rare kind once (an expected failure in a smoke run):
        // per user a coin would leave a build with none of them in 1 of 512 seeds and
        // split them 2/8 or worse often; dealt against the fleet's counts they split 5/5.
        for seed in 0..200 {
            let split = Split::new(PathBuf::new(), seed, None);
            let mut users: Vec<Assigner> = (0..10).map(|_| Assigner::default()).collect();
            let builds: Vec<Build> =
                users.iter_mut().enumerate().map(|(u, a)| split.deal(a, u, OpType::WrongCredentials)).collect();
            let b = builds.iter().filter(|b| **b == Build::B).count();
            assert_eq!(b, 5, "seed {seed}: {builds:?}");
        }
        // Three users with three each: 9 commands split 5/4 or 4/5, every seed.
        for seed in 0..200 {
            let split = Split::new(PathBuf::new(), seed, None);
            let mut users: Vec<Assigner> = (0..3).map(|_| Assigner::default()).collect();
            let mut b = 0;
            for _ in 0..3 {
                for (u, a) in users.iter_mut().enumerate() {
                    b += (split.deal(a, u, OpType::MakeBucket) == Build::B) as usize;
                }
            }
            assert!((4..=5).contains(&b), "seed {seed}: {b} of 9 to B");
        }
    }

    #[test]
    fn blocks_alternate_in_seeded_pairs() {
        let seq: Vec<Build> = (0..40).map(|k| block_build(5, k)).collect();
        for pair in seq.chunks(2) {
            assert_ne!(pair[0], pair[1]);
        }
        assert!(seq.chunks(2).any(|p| p[0] == Build::A) && seq.chunks(2).any(|p| p[0] == Build::B));
        assert_ne!(seq, (0..40).map(|k| block_build(6, k)).collect::<Vec<_>>());
        let t0 = Instant::now();
        let every = Duration::from_secs(15);
        assert_eq!(block_index(t0, every, t0 + Duration::from_millis(14_999)), 0);
        assert_eq!(block_index(t0, every, t0 + Duration::from_secs(15)), 1);
        assert_eq!(block_index(t0 + Duration::from_secs(1), every, t0), 0);
        // Blocks: every operation in a block is the block's build, whatever the kind.
        let split = Split::new(PathBuf::new(), 5, Some(Duration::from_secs(3600)));
        let mut a = Assigner::default();
        let first = split.deal(&mut a, 0, OpType::Upload);
        assert!((0..10).all(|i| split.deal(&mut a, i, OpType::Delete) == first));
        assert_eq!(first, block_build(5, 0));
    }

    #[tokio::test]
    async fn the_build_follows_the_task() {
        assert_eq!(current(), Build::A);
        assert_eq!(scope(Build::B, async { current() }).await, Build::B);
    }
}
