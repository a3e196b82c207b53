//! The ledger of children, reconciled as they end. A whole day of the shipped profile
//! is more than 2 million obsctl processes: keeping every child's facts and final
//! series until the end of the run cost about 10 KB a child. So a child's record lives
//! only while it runs and, once it has exited, until its export has arrived or its
//! export deadline (exit + `telemetry.wait`) has passed; then it is folded into sums
//! (fleet-wide, per user, per command kind, per simulated hour window) and dropped.
//! Memory grows with children in flight and with users × families × windows, never
//! with the number of operations.
//!
//! Children are numbered (`RUN-N`): the numbers of closed records are kept as ranges,
//! which stay few because children end in roughly the order they start, so an export
//! that arrives after its child was closed is recognised as late, not as a stranger's.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::exports::ChildExports;
use crate::model::clock::Clock;
use crate::model::contract::{self, ChildFact, Expect};
use crate::model::events::Cmd;

/// The exports of children not folded yet, by instance id (`store::Store::children`).
pub type Children = HashMap<String, ChildExports>;

/// Distinct out-of-contract series remembered (more are counted as dropped series).
const MAX_STRAYS: usize = 1024;
/// Children kept per build and family for `ab`'s comparison (a uniform sample beyond):
/// 30 families × 2 builds × this × 16 bytes stays under 10 MB however long `ab` runs.
pub const MAX_BUILD_SAMPLES: usize = 10_000;

/// A uniform sample of at most `MAX_BUILD_SAMPLES` children's (stratum, expected,
/// reported) movement of one family (Vitter's algorithm R, with a fixed hash for the
/// draws, so a run is repeatable).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reservoir {
    pub seen: u64,
    pub kept: Vec<(u16, f64, f64)>,
}

/// A child's stratum for `ab`'s comparison: its command, the expected failure it was
/// (if any) and whether it succeeded. obsctl's deviations depend on the command (sync
/// counts each file twice, ls adds what it lists), so the builds are compared kind by
/// kind, whatever mix each was dealt.
fn stratum(fact: &ChildFact) -> u16 {
    let expected = fact.expected.map_or(0, |o| o.index() as u16 + 1);
    (fact.cmd as u16) << 8 | expected << 1 | u16::from(fact.ok)
}

impl Reservoir {
    fn push(&mut self, x: (u16, f64, f64)) {
        self.seen += 1;
        if self.kept.len() < MAX_BUILD_SAMPLES {
            self.kept.push(x);
            return;
        }
        // SplitMix64's finalizer of the count: uniform enough for a draw in 0..seen.
        let mut z = self.seen.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let j = ((z ^ (z >> 31)) % self.seen) as usize;
        if j < MAX_BUILD_SAMPLES {
            self.kept[j] = x;
        }
    }
}

/// Expected and reported movement of each contract family for a set of children.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sums {
    pub expected: BTreeMap<&'static str, Expect>,
    pub reported: BTreeMap<&'static str, Expect>,
    /// Children that exited by themselves (had their chance to export).
    pub ended: u64,
    /// …of which exported.
    pub reported_children: u64,
    /// Some failure's cause is unknown: error classes cannot be judged.
    pub unknown_failures: bool,
}

impl Sums {
    fn add(
        &mut self,
        fact: &ChildFact,
        expected: &[(&'static str, Expect)],
        exports: Option<&[(&'static str, Expect)]>,
    ) {
        self.ended += 1;
        self.unknown_failures |= !(fact.ok || fact.expected.is_some());
        for (name, e) in expected {
            let s = self.expected.entry(name).or_default();
            s.value += e.value;
            s.count += e.count;
        }
        if let Some(r) = exports {
            self.reported_children += 1;
            for (name, e) in r {
                let s = self.reported.entry(name).or_default();
                s.value += e.value;
                s.count += e.count;
            }
        }
    }
}

/// Everything folded so far.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub all: Sums,
    /// By user index.
    pub users: BTreeMap<usize, Sums>,
    /// By simulated hour (UNIX seconds / 3600) the child started in.
    pub windows: BTreeMap<i64, Sums>,
    pub commands: BTreeMap<Cmd, Sums>,
    /// Under `ab`: by client build, so a family one build gets wrong shows apart.
    pub builds: BTreeMap<crate::model::events::Build, Sums>,
    /// Under `ab`: per build and family, each child's (expected, reported) movement, for
    /// the children that should have moved it or did: `ab` compares the builds on them.
    pub build_samples: BTreeMap<crate::model::events::Build, BTreeMap<&'static str, Reservoir>>,
    /// Children killed (timeout, shutdown) before they could export.
    pub killed: u64,
    /// Exports that arrived after their child's record was closed (deadline passed, or
    /// killed): not reconciled.
    pub late_exports: u64,
    /// Export requests with a genuine token from a child that has no record (one the
    /// ledger does not follow, such as `--version`).
    pub unattributed: u64,
    /// (metric, attributes) → total of series outside the contract.
    pub strays: BTreeMap<(String, String), f64>,
    pub dropped_strays: u64,
}

/// One child the ledger follows.
#[derive(Debug)]
struct Record {
    window: i64,
    /// Set when it has ended.
    fact: Option<ChildFact>,
}

/// The ledger: records of children in flight or awaiting their export, and the tally.
#[derive(Debug, Default)]
pub struct Ledger {
    records: HashMap<String, Record>,
    /// (deadline, id) of exited children awaiting their export, in order of exit.
    deadlines: VecDeque<(Instant, String)>,
    /// Closed child numbers, as inclusive ranges start → end.
    closed: BTreeMap<u64, u64>,
    /// How long after its exit a child's export may still arrive.
    pub wait: Duration,
    clock: Option<Clock>,
    /// Simulated UNIX seconds before the clock starts (pre-flight children).
    sim_start: f64,
    pub tally: Tally,
    pub peak_live: u64,
}

/// The number `N` of an instance id `RUN-N`.
fn number(id: &str) -> Option<u64> {
    id.rsplit_once('-').and_then(|(_, n)| n.parse().ok())
}

/// What one child's exports say, per contract family (counters by value, histograms
/// by sample count and sum), plus the series outside the contract.
fn exported(c: &ChildExports, tally: &mut Tally) -> Vec<(&'static str, Expect)> {
    let mut out: Vec<(&'static str, Expect)> = Vec::new();
    for ((metric, attrs), p) in &c.series {
        match contract::FAMILIES.iter().find(|(n, _)| n == metric) {
            Some((name, _)) => match out.iter_mut().find(|(n, _)| n == name) {
                Some((_, e)) => {
                    e.value += p.value;
                    e.count += p.count;
                }
                None => out.push((name, Expect { value: p.value, count: p.count })),
            },
            None => stray(tally, c, metric, attrs, p.value, p.count),
        }
    }
    out
}

fn stray(tally: &mut Tally, c: &ChildExports, metric: &str, attrs: &str, value: f64, count: u64) {
    let v = if c.histograms.get(metric).copied().unwrap_or(false) { count as f64 } else { value };
    let key = (metric.to_string(), attrs.to_string());
    if tally.strays.len() < MAX_STRAYS || tally.strays.contains_key(&key) {
        *tally.strays.entry(key).or_default() += v;
    } else {
        tally.dropped_strays += 1;
    }
}

/// The series of `c` outside the contract, into the tally (unattributed exports).
pub fn strays_of(c: &ChildExports, tally: &mut Tally) {
    let _ = exported(c, tally);
}

impl Ledger {
    pub fn new(wait: Duration, sim_start: f64) -> Ledger {
        Ledger { wait, sim_start, ..Default::default() }
    }

    /// From now on children are put in the window of the simulated hour they start in.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = Some(clock);
    }

    fn window_now(&self) -> i64 {
        let sim = self.clock.map_or(self.sim_start, |c| c.sim_now());
        sim.div_euclid(3600.0) as i64
    }

    /// Records alive now: children in flight plus those awaiting their export.
    pub fn live(&self) -> usize {
        self.records.len()
    }

    /// Exited children whose export has not arrived yet.
    pub fn awaiting(&self) -> usize {
        self.records.values().filter(|r| r.fact.is_some()).count()
    }

    fn is_closed(&self, n: u64) -> bool {
        self.closed.range(..=n).next_back().is_some_and(|(_, end)| *end >= n)
    }

    fn close(&mut self, id: &str) {
        let Some(n) = number(id) else { return };
        let mut start = n;
        let mut end = n;
        if let Some((&s, &e)) = self.closed.range(..=n).next_back() {
            if e >= n {
                return;
            }
            if e + 1 == n {
                start = s;
                self.closed.remove(&s);
            }
        }
        if let Some(e) = n.checked_add(1).and_then(|next| self.closed.remove(&next)) {
            end = e;
        }
        self.closed.insert(start, end);
    }

    fn fold(&mut self, fact: &ChildFact, window: i64, exports: Option<&ChildExports>) {
        let reported = exports.map(|c| exported(c, &mut self.tally));
        if !fact.exited {
            self.tally.killed += 1;
            return;
        }
        let expected = contract::expected(fact);
        let r = reported.as_deref();
        self.tally.all.add(fact, &expected, r);
        if let Some(u) = fact.user {
            self.tally.users.entry(u).or_default().add(fact, &expected, r);
        }
        self.tally.windows.entry(window).or_default().add(fact, &expected, r);
        self.tally.commands.entry(fact.cmd).or_default().add(fact, &expected, r);
        if let Some(b) = fact.build {
            self.tally.builds.entry(b).or_default().add(fact, &expected, r);
            // A child whose export never came is a lost export, judged apart (on a busy
            // host it may be the host's doing): the families compare what arrived.
            let Some(r) = r else { return };
            let samples = self.tally.build_samples.entry(b).or_default();
            for (name, hist) in contract::FAMILIES {
                // A child may expect a family more than once (sync: once per file).
                let sum = |v: &[(&'static str, Expect)]| {
                    v.iter().filter(|(n, _)| n == name).map(|(_, e)| if *hist { e.count as f64 } else { e.value }).sum()
                };
                let (e, rep): (f64, f64) = (sum(&expected), sum(r));
                if e != 0.0 || rep != 0.0 {
                    samples.entry(name).or_default().push((stratum(fact), e, rep));
                }
            }
        }
    }
}

impl Ledger {
    /// A child the ledger follows is about to start (before it can export).
    pub fn child_started(&mut self, id: &str) {
        let window = self.window_now();
        self.records.insert(id.to_string(), Record { window, fact: None });
        self.peak_live = self.peak_live.max(self.records.len() as u64);
    }

    /// A child ended, with the ground truth of how: folded at once when its export is
    /// here (or it was killed), else kept until its export or its deadline.
    pub fn child_ended(&mut self, children: &mut Children, fact: ChildFact, now: Instant) {
        self.sweep(now);
        let id = fact.id.clone();
        let window = match self.records.remove(&id) {
            Some(r) => r.window,
            None => self.window_now(),
        };
        let exports = children.remove(&id);
        if exports.is_some() || !fact.exited {
            self.fold(&fact, window, exports.as_ref());
            self.close(&id);
            return;
        }
        self.deadlines.push_back((now + self.wait, id.clone()));
        self.records.insert(id, Record { window, fact: Some(fact) });
        self.peak_live = self.peak_live.max(self.records.len() as u64);
    }

    /// An export of the child `id` has been absorbed: fold it if the child has ended,
    /// keep it while the child runs, and count it when no record awaits it.
    pub fn export_arrived(&mut self, children: &mut Children, id: &str, now: Instant) {
        self.sweep(now);
        match self.records.get(id).map(|r| r.fact.is_some()) {
            Some(false) => {}
            Some(true) => {
                let exports = children.remove(id);
                if let Some(Record { window, fact: Some(fact) }) = self.records.remove(id) {
                    self.fold(&fact, window, exports.as_ref());
                }
                self.close(id);
            }
            None => {
                let Some(c) = children.remove(id) else { return };
                if number(id).is_some_and(|n| self.is_closed(n)) {
                    self.tally.late_exports += c.requests;
                } else {
                    self.tally.unattributed += c.requests;
                    strays_of(&c, &mut self.tally);
                }
            }
        }
    }

    /// Folds, as lost, the exited children whose export deadline has passed.
    pub fn sweep(&mut self, now: Instant) {
        while let Some((deadline, _)) = self.deadlines.front() {
            if *deadline > now {
                break;
            }
            let Some((_, id)) = self.deadlines.pop_front() else { break };
            // Already folded when its export came.
            let Some(r) = self.records.remove(&id) else { continue };
            if let Some(fact) = r.fact {
                self.fold(&fact, r.window, None);
            }
            self.close(&id);
        }
    }

    /// At the end: every record still open is settled (an exited child's export is lost;
    /// a child that never ended, which a finished run cannot have, is dropped).
    pub fn settle_all(&mut self, children: &mut Children) {
        let ids: Vec<String> = self.records.keys().cloned().collect();
        for id in ids {
            if let Some(Record { window, fact: Some(fact) }) = self.records.remove(&id) {
                let exports = children.remove(&id);
                self.fold(&fact, window, exports.as_ref());
            }
        }
        self.deadlines.clear();
        // Exports of children the ledger never followed.
        let rest: Vec<String> = children.keys().cloned().collect();
        for id in rest {
            if let Some(c) = children.remove(&id) {
                self.tally.unattributed += c.requests;
                strays_of(&c, &mut self.tally);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::Store;
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn fact(id: &str, exited: bool) -> ChildFact {
        ChildFact {
            id: id.into(),
            user: Some(0),
            cmd: Cmd::Upload,
            expected: None,
            exited,
            ok: true,
            bytes: 1024,
            files: vec![],
            build: None,
        }
    }

    fn exports() -> ChildExports {
        let mut c = ChildExports { requests: 1, ..Default::default() };
        for (name, v) in [("operations_total", 1.0), ("uploads_total", 1.0), ("bytes_uploaded_total", 1024.0)] {
            c.series.insert((name.to_string(), String::new()), super::super::exports::point(v, 0));
        }
        c
    }

    #[test]
    fn closed_numbers_collapse_into_ranges() {
        let mut l = Ledger::default();
        for n in [3, 1, 2, 5, 4, 9] {
            l.close(&format!("r-{n}"));
        }
        assert_eq!(l.closed.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>(), [(1, 5), (9, 9)]);
        assert!(l.is_closed(4) && !l.is_closed(6) && l.is_closed(9));
    }

    /// 100,000 synthetic children with up to 64 in flight, exports arriving before or
    /// after exit or never: live records never exceed those in flight plus those
    /// awaiting their deadline, the closed ranges stay few, and the sums come out exact.
    #[test]
    fn a_hundred_thousand_children_keep_a_bounded_ledger() {
        const N: u64 = 100_000;
        const IN_FLIGHT: usize = 64;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(18);
        let mut s = Store { ledger: Ledger::new(Duration::from_millis(50), 0.0), ..Default::default() };
        let t0 = Instant::now();
        let mut running: VecDeque<(u64, bool)> = VecDeque::new();
        let (mut lost, mut late_sent) = (0u64, 0u64);
        let mut max_awaiting = 0usize;
        let mut max_ranges = 0usize;
        for n in 1..=N {
            // Synthetic time: one child a millisecond.
            let now = t0 + Duration::from_millis(n);
            let id = format!("r-{n}");
            s.child_started(&id);
            let before = rng.random_bool(0.9);
            if before {
                s.absorb_exports(&id, exports());
                s.export_arrived(&id, now);
            }
            running.push_back((n, before));
            if running.len() >= IN_FLIGHT {
                let k = rng.random_range(0..running.len().min(8));
                let Some((m, had)) = running.remove(k) else { break };
                let mid = format!("r-{m}");
                s.child_ended(fact(&mid, true), now);
                if !had {
                    // Half of the rest export within their deadline, half never.
                    if rng.random_bool(0.5) {
                        s.absorb_exports(&mid, exports());
                        s.export_arrived(&mid, now + Duration::from_millis(10));
                    } else {
                        lost += 1;
                    }
                }
            }
            // A late export of an early child, long after its deadline: never a stranger.
            if n % 10_000 == 0 {
                let late = format!("r-{}", n - 5_000);
                s.absorb_exports(&late, exports());
                s.export_arrived(&late, now);
                late_sent += 1;
            }
            max_awaiting = max_awaiting.max(s.ledger.awaiting());
            max_ranges = max_ranges.max(s.ledger.closed.len());
            assert!(s.ledger.live() <= IN_FLIGHT + s.ledger.awaiting(), "at child {n}");
        }
        let end = t0 + Duration::from_millis(N + 1);
        for (m, had) in running.drain(..) {
            s.child_ended(fact(&format!("r-{m}"), true), end);
            if !had {
                lost += 1;
            }
        }
        s.sweep(end + Duration::from_secs(1));
        s.settle_all();
        assert_eq!(s.ledger.live(), 0);
        // In flight plus 50 ms of exits (a child a millisecond) awaiting, at most.
        assert!(s.ledger.peak_live <= (IN_FLIGHT + 60) as u64, "peak {}", s.ledger.peak_live);
        assert!(max_awaiting <= 60, "{max_awaiting}");
        assert!(max_ranges <= 2 * IN_FLIGHT, "{max_ranges} closed ranges");
        let t = &s.ledger.tally;
        assert_eq!(t.all.ended, N);
        assert_eq!(t.all.ended - t.all.reported_children, lost);
        assert_eq!(t.late_exports, late_sent);
        assert_eq!(t.unattributed, 0);
        assert_eq!(t.all.expected["uploads_total"].value, N as f64);
        assert_eq!(t.all.reported["uploads_total"].value, (N - lost) as f64);
        assert_eq!(t.windows.values().map(|w| w.ended).sum::<u64>(), N);
    }
}
