//! Counters and latency histograms, fed only by events. The JSON summary is built from
//! here, so the console, the log and the file always agree.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::model::counts::{Buckets, Counters, Histograms, IntervalLatency, Latency, Name, TimelinePoint};
use crate::model::events::{Confirmation, DeleteReason, Event, FailClass, OpRecord, OpType, SizeClass};

/// Points a run's timeline gets at least, so a short run's charts are lines, not a dot.
pub const TIMELINE_POINTS: f64 = 40.0;
/// The timeline never closes intervals faster than this (each point costs a summary entry).
const TIMELINE_FLOOR: Duration = Duration::from_millis(250);

/// How often the timeline closes an interval: the stats interval, or less when the run
/// is too short for `TIMELINE_POINTS` of them (a 20 s run gets one point each 0.5 s,
/// a 3 min run with 30 s stats one each 4.5 s), never below 0.25 s. `wall` is the run's
/// planned wall length. The periodic tables keep the stats interval.
pub fn timeline_interval(wall: Duration, stats_interval: Duration) -> Duration {
    let fine = wall.div_f64(TIMELINE_POINTS).max(TIMELINE_FLOOR);
    stats_interval.min(fine)
}

/// What happened since the last mark.
struct Interval {
    started: u64,
    ok: u64,
    failed: u64,
    shortfall: u64,
    /// Scheduled starts by persona index.
    scheduled: Vec<u64>,
    failures_by_class: BTreeMap<Name, u64>,
    shortfall_by_reason: BTreeMap<Name, u64>,
    /// By operation index; reset at each mark.
    latency: Vec<Hist>,
}

pub struct Stats {
    pub users: Vec<Counters>,
    pub timeline: Vec<TimelinePoint>,
    interval: Interval,
    last_mark: f64,
    /// Persona index of each user, and the personas' names.
    persona_of: Vec<usize>,
    personas: Vec<String>,
    latency: Vec<Hist>,
    /// By operation and obsctl size class, for the commands that move an object.
    by_size: Vec<[Hist; 4]>,
    lag: Hist,
}

/// Microseconds, 1 µs to 1 hour, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

/// A histogram allocated at its first sample: one of `histogram()` takes about 270 KB,
/// and most operation and size-class pairs never see one (91 eager ones were 25 MB).
#[derive(Default, Clone)]
pub struct Hist(Option<Box<Histogram<u64>>>);

impl Hist {
    pub fn record(&mut self, v: u64) {
        let _ = self.0.get_or_insert_with(|| Box::new(histogram())).record(v);
    }

    fn record_n(&mut self, v: u64, n: u64) {
        let _ = self.0.get_or_insert_with(|| Box::new(histogram())).record_n(v, n);
    }

    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|h| h.is_empty())
    }

    /// Empties it, keeping its memory for the next interval.
    pub fn reset(&mut self) {
        if let Some(h) = &mut self.0 {
            h.reset();
        }
    }

    pub fn latency(&self) -> Latency {
        self.0.as_deref().map_or(Latency::NONE, summarize)
    }

    fn buckets(&self) -> Buckets {
        self.0.as_ref().map_or_else(Vec::new, |h| buckets(h))
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 3_600_000_000)
}

/// Commands whose latency is also kept per size class.
fn sized(op: OpType) -> bool {
    matches!(
        op,
        OpType::Upload | OpType::Download | OpType::Delete | OpType::HeadObject | OpType::Presign | OpType::Sync
    )
}

impl Stats {
    /// `bands[k]` is the number of size bands of kind `k`.
    pub fn new(users: usize, bands: &[usize]) -> Stats {
        Stats {
            users: vec![Counters::zeroed(bands); users],
            timeline: Vec::new(),
            interval: Interval {
                started: 0,
                ok: 0,
                failed: 0,
                shortfall: 0,
                scheduled: vec![0; users],
                failures_by_class: BTreeMap::new(),
                shortfall_by_reason: BTreeMap::new(),
                latency: OpType::ALL.iter().map(|_| Hist::default()).collect(),
            },
            last_mark: 0.0,
            persona_of: (0..users).collect(),
            personas: (0..users).map(|i| format!("user{i}")).collect(),
            latency: OpType::ALL.iter().map(|_| Hist::default()).collect(),
            by_size: OpType::ALL.iter().map(|_| Default::default()).collect(),
            lag: Hist::default(),
        }
    }

    /// Names the persona of each user (`personas[i]` for user `i`); the timeline counts
    /// by persona. Without it each user is its own.
    pub fn set_personas(&mut self, personas: &[String]) {
        let mut names: Vec<String> = Vec::new();
        self.persona_of = personas
            .iter()
            .map(|p| match names.iter().position(|n| n == p) {
                Some(i) => i,
                None => {
                    names.push(p.clone());
                    names.len() - 1
                }
            })
            .collect();
        self.interval.scheduled = vec![0; names.len()];
        self.personas = names;
    }

    /// The personas' names, by persona index.
    pub fn persona_names(&self) -> &[String] {
        &self.personas
    }

    /// Each user's persona index.
    pub fn persona_of(&self) -> &[usize] {
        &self.persona_of
    }

    pub fn apply(&mut self, ev: &Event) {
        match ev {
            Event::Started { user, op, lag, upload } => {
                let c = &mut self.users[*user];
                self.interval.started += 1;
                match lag {
                    Some(lag) => {
                        c.started += 1;
                        if let Some(p) = self.persona_of.get(*user).and_then(|p| self.interval.scheduled.get_mut(*p)) {
                            *p += 1;
                        }
                        *c.started_by_op.entry((*op).into()).or_default() += 1;
                        self.lag.record(micros(*lag));
                    }
                    None => c.started_deletes += 1,
                }
                if let Some((k, b)) = upload
                    && let Some(slot) = c.upload_draws.get_mut(*k).and_then(|v| v.get_mut(*b))
                {
                    *slot += 1;
                }
            }
            Event::Shortfall { user, reason, count } => {
                let c = &mut self.users[*user];
                c.shortfall += count;
                *c.shortfall_by_reason.entry((*reason).into()).or_default() += count;
                self.interval.shortfall += count;
                *self.interval.shortfall_by_reason.entry((*reason).into()).or_default() += count;
            }
            Event::NoObject { user, .. } => self.users[*user].no_object += 1,
            Event::BucketEnsured { user, ok, .. } => {
                if *ok {
                    self.users[*user].bucket_reensures += 1;
                }
            }
            Event::Finished(r) => self.finish(r),
        }
    }

    fn finish(&mut self, r: &OpRecord) {
        let c = &mut self.users[r.user];
        // Follow-ups belong to an operation that was started (and finishes) once.
        if !r.follow_up {
            c.finished += 1;
        }
        if r.file_created {
            c.files_created += 1;
            if r.large {
                c.large_files += 1;
            }
        }
        match r.confirmation {
            Some(Confirmation::Confirmed) if r.op == OpType::Upload => c.confirmed_uploads += 1,
            Some(Confirmation::Confirmed) => c.confirmed_deletes += 1,
            Some(Confirmation::Unconfirmed) => c.unconfirmed += 1,
            None => {}
        }
        let count = c.ops.entry(r.op.into()).or_default();
        match r.result {
            Ok(()) => {
                count.ok += 1;
                self.interval.ok += 1;
                self.latency[r.op.index()].record(micros(r.duration));
                self.interval.latency[r.op.index()].record(micros(r.duration));
                if sized(r.op) && r.bytes > 0 {
                    self.by_size[r.op.index()][SizeClass::of(r.bytes).index()].record(micros(r.duration));
                }
                match r.op {
                    OpType::Upload => {
                        c.uploads += 1;
                        c.bytes_up += r.bytes;
                        c.live_objects += 1;
                    }
                    OpType::Sync => {
                        c.bytes_up += r.bytes;
                        c.live_objects += r.stored;
                        if r.stored == 0 {
                            // The listing after it failed: its files may be there.
                            c.maybe_live_objects += crate::model::events::SYNC_FILES as u64;
                        }
                    }
                    OpType::Download => {
                        c.downloads += 1;
                        c.bytes_down += r.bytes;
                    }
                    OpType::Delete => {
                        c.deletes += 1;
                        match r.delete_reason {
                            Some(DeleteReason::Cleanup) => c.cleanup_deletes += 1,
                            _ => c.ttl_deletes += 1,
                        }
                        if r.was_live {
                            c.live_objects = c.live_objects.saturating_sub(1);
                        } else {
                            c.maybe_live_objects = c.maybe_live_objects.saturating_sub(1);
                        }
                    }
                    op if op.is_expected_failure() => {
                        c.error_probes += 1;
                        *c.expected_failures.entry(op.into()).or_default() += 1;
                    }
                    _ => {}
                }
            }
            Err(class) => {
                count.failed += 1;
                self.interval.failed += 1;
                *self.interval.failures_by_class.entry(class.into()).or_default() += 1;
                c.failures += 1;
                // What the worker keeps as uncertain (and deletes in due course).
                match (r.op, class) {
                    (OpType::Upload, FailClass::TimedOut | FailClass::Cancelled | FailClass::PhantomUpload) => {
                        c.maybe_live_objects += 1;
                    }
                    (OpType::Sync, _) => c.maybe_live_objects += crate::model::events::SYNC_FILES as u64,
                    _ => {}
                }
                *c.failures_by_class.entry(class.into()).or_default() += 1;
                *c.failures_by_op.entry(r.op.into()).or_default() += 1;
                if class.is_integrity() {
                    c.integrity_failures += 1;
                    *c.integrity.entry(class.into()).or_default() += 1;
                }
                if class == FailClass::UnexpectedSuccess {
                    *c.unexpected_success.entry(r.op.into()).or_default() += 1;
                }
            }
        }
    }

    pub fn totals(&self) -> Counters {
        let bands: Vec<usize> =
            self.users.first().map(|u| u.upload_draws.iter().map(Vec::len).collect()).unwrap_or_default();
        let mut t = Counters::zeroed(&bands);
        for u in &self.users {
            t.add(u);
        }
        t
    }

    /// Closes a timeline interval at wall offset `t`, when the simulated clock shows
    /// `sim_unix`. Targets are left at 0: they are the plan's, filled in by the summary.
    pub fn mark(&mut self, t: f64, sim_unix: f64) {
        let i = &mut self.interval;
        let mut latency_ms = BTreeMap::new();
        for (op, h) in OpType::ALL.iter().zip(i.latency.iter_mut()) {
            if !h.is_empty() {
                let l = h.latency();
                latency_ms.insert(
                    (*op).into(),
                    IntervalLatency { count: l.count, p50_ms: l.p50_ms, p95_ms: l.p95_ms, p99_ms: l.p99_ms },
                );
                h.reset();
            }
        }
        self.timeline.push(TimelinePoint {
            t_s: (t * 10.0).round() / 10.0,
            interval_s: ((t - self.last_mark) * 1000.0).round() / 1000.0,
            sim_unix: sim_unix.floor(),
            started: i.started,
            ok: i.ok,
            failed: i.failed,
            shortfall: i.shortfall,
            target: 0.0,
            scheduled: i.scheduled.iter().sum(),
            personas: BTreeMap::new(),
            scheduled_by_persona: i.scheduled.clone(),
            failures_by_class: std::mem::take(&mut i.failures_by_class),
            shortfall_by_reason: std::mem::take(&mut i.shortfall_by_reason),
            latency_ms,
            end_s: t,
        });
        (i.started, i.ok, i.failed, i.shortfall) = (0, 0, 0, 0);
        i.scheduled.iter_mut().for_each(|n| *n = 0);
        self.last_mark = t;
    }

    pub fn latency(&self, op: OpType) -> Latency {
        self.latency[op.index()].latency()
    }

    /// Latency of `op` for objects of one obsctl size class.
    pub fn latency_by_size(&self, op: OpType, class: SizeClass) -> Latency {
        self.by_size[op.index()][class.index()].latency()
    }

    /// How late operations started against their scheduled slot.
    pub fn start_lag(&self) -> Latency {
        self.lag.latency()
    }
}

fn buckets(h: &Histogram<u64>) -> Buckets {
    h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
}

fn add_buckets(h: &mut Hist, b: &Buckets) {
    for (v, n) in b {
        // Values out of range cannot come from a summary this program wrote; clamp anyway.
        h.record_n((*v).clamp(1, 3_600_000_000), *n);
    }
}

impl Stats {
    pub fn histograms(&self) -> Histograms {
        let mut out = Histograms { start_lag: self.lag.buckets(), ..Default::default() };
        for op in OpType::ALL {
            let h = &self.latency[op.index()];
            if !h.is_empty() {
                out.latency.insert(op.name().to_string(), h.buckets());
            }
            for class in SizeClass::ALL {
                let h = &self.by_size[op.index()][class.index()];
                if !h.is_empty() {
                    out.by_size.entry(op.name().to_string()).or_default().insert(class.name().to_string(), h.buckets());
                }
            }
        }
        out
    }

    /// Adds another run's distributions to this one's (names it does not know are skipped).
    pub fn add_histograms(&mut self, h: &Histograms) {
        for (op, b) in &h.latency {
            if let Some(op) = OpType::from_name(op) {
                add_buckets(&mut self.latency[op.index()], b);
            }
        }
        for (op, classes) in &h.by_size {
            let Some(op) = OpType::from_name(op) else { continue };
            for (class, b) in classes {
                if let Some(c) = SizeClass::ALL.iter().find(|c| c.name() == class) {
                    add_buckets(&mut self.by_size[op.index()][c.index()], b);
                }
            }
        }
        add_buckets(&mut self.lag, &h.start_lag);
    }
}

fn summarize(h: &Histogram<u64>) -> Latency {
    let ms = |v: u64| (v as f64 / 1000.0 * 100.0).round() / 100.0;
    if h.is_empty() {
        return Latency::NONE;
    }
    Latency {
        count: h.len(),
        min_ms: ms(h.min()),
        mean_ms: (h.mean() / 1000.0 * 100.0).round() / 100.0,
        p50_ms: ms(h.value_at_quantile(0.5)),
        p90_ms: ms(h.value_at_quantile(0.9)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::counts::OpCount;
    use crate::model::events::Shortfall;

    fn rec(user: usize, op: OpType, result: Result<(), FailClass>) -> Event {
        let mut r = OpRecord::new(user, op, "k", 100, 0.0);
        r.result = result;
        r.file_created = op == OpType::Upload;
        r.duration = Duration::from_millis(2500);
        r.delete_reason = (op == OpType::Delete).then_some(DeleteReason::Ttl);
        r.was_live = true;
        Event::Finished(Box::new(r))
    }

    fn started(user: usize, op: OpType) -> Event {
        let lag = (op != OpType::Delete).then_some(Duration::ZERO);
        Event::Started { user, op, lag, upload: (op == OpType::Upload).then_some((0, 1)) }
    }

    #[test]
    fn counters_follow_events() {
        let mut s = Stats::new(2, &[3]);
        for _ in 0..3 {
            s.apply(&started(0, OpType::Upload));
        }
        s.apply(&rec(0, OpType::Upload, Ok(())));
        s.apply(&rec(0, OpType::Upload, Ok(())));
        s.apply(&rec(0, OpType::Upload, Err(FailClass::TimedOut)));
        s.apply(&started(1, OpType::Delete));
        s.apply(&rec(0, OpType::Delete, Ok(())));
        s.apply(&Event::Shortfall { user: 1, reason: Shortfall::GlobalCap, count: 1 });
        let t = s.totals();
        assert_eq!((t.uploads, t.deletes, t.ttl_deletes, t.failures), (2, 1, 1, 1));
        assert_eq!(t.failures_by_class["timed_out"], 1);
        assert_eq!(t.failures_by_op["upload"], 1);
        assert_eq!(t.ops["upload"], OpCount { ok: 2, failed: 1 });
        assert_eq!(t.live_objects, 1);
        assert_eq!(t.bytes_up, 200);
        assert_eq!(t.files_created, 3);
        assert_eq!(t.shortfall_by_reason["global_cap"], 1);
        assert_eq!(t.upload_draws, vec![vec![0, 3, 0]]);
        assert_eq!(s.users[1].shortfall, 1);
        assert_eq!(t.started, 3);
        assert_eq!(t.in_flight(), 0);
        let l = s.latency(OpType::Upload);
        assert_eq!(l.count, 2);
        assert!((l.p50_ms - 2500.0).abs() < 5.0, "{l:?}");
        assert_eq!(s.latency_by_size(OpType::Upload, SizeClass::Small).count, 2);
    }

    #[test]
    fn uploads_that_may_have_stored_their_object_are_maybe_live_until_deleted() {
        let mut s = Stats::new(1, &[1]);
        s.apply(&rec(0, OpType::Upload, Err(FailClass::Cancelled)));
        s.apply(&rec(0, OpType::Upload, Err(FailClass::TimedOut)));
        s.apply(&rec(0, OpType::Upload, Err(FailClass::PhantomUpload)));
        // A plain failure stored nothing, and a failed sync's three files may be there.
        s.apply(&rec(0, OpType::Upload, Err(FailClass::Failed)));
        s.apply(&rec(0, OpType::Sync, Err(FailClass::Cancelled)));
        assert_eq!((s.totals().live_objects, s.totals().maybe_live_objects), (0, 6));
        // A sync whose listing failed confirmed nothing: its files may be there too.
        s.apply(&rec(0, OpType::Sync, Ok(())));
        assert_eq!((s.totals().live_objects, s.totals().maybe_live_objects), (0, 9));
        let Event::Finished(mut del) = rec(0, OpType::Delete, Ok(())) else { unreachable!() };
        del.was_live = false;
        s.apply(&Event::Finished(del));
        assert_eq!((s.totals().live_objects, s.totals().maybe_live_objects), (0, 8));
    }

    #[test]
    fn expected_failures_and_integrity_are_counted_apart() {
        let mut s = Stats::new(1, &[1]);
        s.apply(&rec(0, OpType::WrongCredentials, Ok(())));
        s.apply(&rec(0, OpType::MissingKeyHead, Err(FailClass::UnexpectedSuccess)));
        s.apply(&rec(0, OpType::Delete, Err(FailClass::PhantomDelete)));
        s.apply(&rec(0, OpType::Download, Err(FailClass::Failed)));
        let t = s.totals();
        assert_eq!(t.expected_failures["wrong_credentials"], 1);
        assert_eq!(t.unexpected_success["missing_key_head"], 1);
        assert_eq!(t.integrity_failures, 2);
        assert_eq!(t.integrity["phantom_delete"], 1);
        assert_eq!(t.failures, 3);
        assert_eq!(t.error_probes, 1);
    }

    #[test]
    fn short_runs_get_a_finer_timeline_than_the_stats_interval() {
        let s = Duration::from_secs;
        // A 20 s run with the smoke profile's 30 s stats interval: 40 points of 0.5 s.
        assert_eq!(timeline_interval(s(20), s(30)), Duration::from_millis(500));
        assert!(20.0 / timeline_interval(s(20), s(30)).as_secs_f64() >= 30.0);
        assert_eq!(timeline_interval(s(180), s(30)), Duration::from_millis(4500));
        // Long runs keep the stats interval; tiny ones stop at the floor.
        assert_eq!(timeline_interval(s(86_400), s(60)), s(60));
        assert_eq!(timeline_interval(s(2), s(60)), Duration::from_millis(250));
    }

    #[test]
    fn the_timeline_counts_each_interval_by_persona_class_and_operation() {
        let mut s = Stats::new(3, &[3]);
        // Users 0 and 1 are replicas of one persona.
        s.set_personas(&["alice".to_string(), "alice".to_string(), "bob".to_string()]);
        s.apply(&started(0, OpType::Upload));
        s.apply(&started(1, OpType::Upload));
        s.apply(&started(2, OpType::Upload));
        s.apply(&started(2, OpType::Delete));
        s.apply(&rec(0, OpType::Upload, Ok(())));
        s.apply(&rec(1, OpType::Upload, Err(FailClass::TimedOut)));
        s.apply(&Event::Shortfall { user: 2, reason: Shortfall::GlobalCap, count: 2 });
        s.mark(10.0, 1000.7);
        s.apply(&started(2, OpType::Upload));
        s.apply(&rec(2, OpType::Download, Ok(())));
        s.mark(20.04, 1010.0);
        let (a, b) = (&s.timeline[0], &s.timeline[1]);
        assert_eq!((a.started, a.scheduled, a.ok, a.failed, a.shortfall), (4, 3, 1, 1, 2));
        assert_eq!((a.t_s, a.interval_s, a.sim_unix), (10.0, 10.0, 1000.0));
        assert_eq!(s.persona_names(), ["alice", "bob"]);
        assert_eq!(s.persona_of(), [0, 0, 1]);
        assert_eq!(a.scheduled_by_persona, [2, 1]);
        assert_eq!(a.failures_by_class, BTreeMap::from([(FailClass::TimedOut.into(), 1)]));
        assert_eq!(a.shortfall_by_reason, BTreeMap::from([(Shortfall::GlobalCap.into(), 2)]));
        assert_eq!(a.latency_ms["upload"].count, 1);
        assert!((a.latency_ms["upload"].p99_ms - 2500.0).abs() < 5.0);
        // The next interval starts from zero: plain per-interval counts.
        assert_eq!((b.started, b.scheduled, b.ok, b.failed, b.shortfall), (1, 1, 1, 0, 0));
        assert_eq!(b.scheduled_by_persona, [0, 1]);
        assert!(b.failures_by_class.is_empty() && b.shortfall_by_reason.is_empty());
        assert_eq!(b.latency_ms.keys().collect::<Vec<_>>(), vec![&"download"]);
        assert_eq!((b.t_s, b.interval_s), (20.0, 10.04));
    }

    #[test]
    fn percentiles_of_known_latencies() {
        let mut s = Stats::new(1, &[1]);
        // 1..=1000 ms: p50 = 500, p95 = 950, p99 = 990 (within 3 significant digits).
        for ms in 1..=1000u64 {
            let mut r = OpRecord::new(0, OpType::Download, "k", 10, 0.0);
            r.duration = Duration::from_millis(ms);
            s.apply(&Event::Finished(Box::new(r)));
        }
        let l = s.latency(OpType::Download);
        for (got, want) in
            [(l.p50_ms, 500.0), (l.p95_ms, 950.0), (l.p99_ms, 990.0), (l.min_ms, 1.0), (l.max_ms, 1000.0)]
        {
            assert!((got - want).abs() <= want * 0.001 + 0.01, "{got} vs {want}: {l:?}");
        }
        assert!((l.mean_ms - 500.5).abs() < 1.0);
    }
}
