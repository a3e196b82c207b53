//! Counters and latency histograms, fed only by events. The JSON summary is built from
//! here, so the console, the log and the file always agree.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::events::{DeleteReason, Event, FailClass, OpRecord, OpType, Shortfall};

/// One user's (or the fleet's) counts. Successful operations only in
/// uploads/downloads/deletes; every failure in `failures`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counters {
    pub uploads: u64,
    pub downloads: u64,
    pub deletes: u64,
    pub ttl_deletes: u64,
    pub cleanup_deletes: u64,
    /// Deliberate errors that failed as they should.
    pub error_probes: u64,
    pub failures: u64,
    pub failures_by_class: BTreeMap<&'static str, u64>,
    pub failures_by_op: BTreeMap<&'static str, u64>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub files_created: u64,
    pub large_files: u64,
    pub shortfall: u64,
    pub shortfall_by_reason: BTreeMap<&'static str, u64>,
    /// Uploads and downloads started on schedule (deletes are not scheduled).
    pub started: u64,
    pub started_deletes: u64,
    pub finished: u64,
    /// Objects this run uploaded and has not deleted.
    pub live_objects: u64,
    pub bucket_reensures: u64,
}

impl Counters {
    pub fn in_flight(&self) -> u64 {
        (self.started + self.started_deletes).saturating_sub(self.finished)
    }

    fn add(&mut self, o: &Counters) {
        self.uploads += o.uploads;
        self.downloads += o.downloads;
        self.deletes += o.deletes;
        self.ttl_deletes += o.ttl_deletes;
        self.cleanup_deletes += o.cleanup_deletes;
        self.error_probes += o.error_probes;
        self.failures += o.failures;
        for (k, v) in &o.failures_by_class {
            *self.failures_by_class.entry(k).or_default() += v;
        }
        for (k, v) in &o.failures_by_op {
            *self.failures_by_op.entry(k).or_default() += v;
        }
        self.bytes_up += o.bytes_up;
        self.bytes_down += o.bytes_down;
        self.files_created += o.files_created;
        self.large_files += o.large_files;
        self.shortfall += o.shortfall;
        for (k, v) in &o.shortfall_by_reason {
            *self.shortfall_by_reason.entry(k).or_default() += v;
        }
        self.started += o.started;
        self.started_deletes += o.started_deletes;
        self.finished += o.finished;
        self.live_objects += o.live_objects;
        self.bucket_reensures += o.bucket_reensures;
    }

    fn zeroed() -> Counters {
        let mut c = Counters::default();
        for f in FailClass::ALL {
            c.failures_by_class.insert(f.name(), 0);
        }
        for op in OpType::ALL {
            c.failures_by_op.insert(op.name(), 0);
        }
        for s in Shortfall::ALL {
            c.shortfall_by_reason.insert(s.name(), 0);
        }
        c
    }
}

/// Operations per stats interval, so a run's phases (an outage, a recovery) show.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelinePoint {
    /// Wall seconds since start at the end of the interval.
    pub t_s: f64,
    pub started: u64,
    pub ok: u64,
    pub failed: u64,
    pub shortfall: u64,
}

pub struct Stats {
    pub users: Vec<Counters>,
    pub timeline: Vec<TimelinePoint>,
    marks: (u64, u64, u64, u64),
    latency: Vec<Histogram<u64>>,
    lag: Histogram<u64>,
}

/// Microseconds, 1 µs to 1 hour, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 3_600_000_000)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    pub fn new(users: usize) -> Stats {
        Stats {
            users: vec![Counters::zeroed(); users],
            timeline: Vec::new(),
            marks: (0, 0, 0, 0),
            latency: OpType::ALL.iter().map(|_| histogram()).collect(),
            lag: histogram(),
        }
    }

    pub fn apply(&mut self, ev: &Event) {
        match ev {
            Event::Started { user, op, lag } => {
                let c = &mut self.users[*user];
                if *op == OpType::Delete {
                    c.started_deletes += 1;
                } else {
                    c.started += 1;
                    let _ = self.lag.record(micros(*lag));
                }
            }
            Event::Shortfall { user, reason, count } => {
                let c = &mut self.users[*user];
                c.shortfall += count;
                *c.shortfall_by_reason.entry(reason.name()).or_default() += count;
            }
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
        c.finished += 1;
        if r.file_created {
            c.files_created += 1;
            if r.large {
                c.large_files += 1;
            }
        }
        match r.result {
            Ok(()) => {
                let _ = self.latency[r.op as usize].record(micros(r.duration));
                match r.op {
                    OpType::Upload => {
                        c.uploads += 1;
                        c.bytes_up += r.bytes;
                        c.live_objects += 1;
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
                        }
                    }
                    OpType::Probe => c.error_probes += 1,
                }
            }
            Err(class) => {
                c.failures += 1;
                *c.failures_by_class.entry(class.name()).or_default() += 1;
                *c.failures_by_op.entry(r.op.name()).or_default() += 1;
            }
        }
    }

    pub fn totals(&self) -> Counters {
        let mut t = Counters::zeroed();
        for u in &self.users {
            t.add(u);
        }
        t
    }

    /// Closes a timeline interval at wall offset `t`.
    pub fn mark(&mut self, t: f64) {
        let tot = self.totals();
        let ok = tot.uploads + tot.downloads + tot.deletes + tot.error_probes;
        let now = (tot.started + tot.started_deletes, ok, tot.failures, tot.shortfall);
        let (s, o, f, sh) = self.marks;
        self.timeline.push(TimelinePoint {
            t_s: (t * 10.0).round() / 10.0,
            started: now.0 - s,
            ok: now.1 - o,
            failed: now.2 - f,
            shortfall: now.3 - sh,
        });
        self.marks = now;
    }

    pub fn latency(&self, op: OpType) -> Latency {
        summarize(&self.latency[op as usize])
    }

    /// How late operations started against their scheduled slot.
    pub fn start_lag(&self) -> Latency {
        summarize(&self.lag)
    }
}

fn summarize(h: &Histogram<u64>) -> Latency {
    let ms = |v: u64| (v as f64 / 1000.0 * 100.0).round() / 100.0;
    if h.is_empty() {
        return Latency { count: 0, p50_ms: 0.0, p90_ms: 0.0, p99_ms: 0.0, max_ms: 0.0 };
    }
    Latency {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p90_ms: ms(h.value_at_quantile(0.9)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(user: usize, op: OpType, result: Result<(), FailClass>) -> Event {
        Event::Finished(Box::new(OpRecord {
            user,
            op,
            result,
            exit_code: None,
            key: "k".into(),
            bytes: 100,
            large: false,
            file_created: op == OpType::Upload,
            duration: Duration::from_millis(2500),
            error: None,
            delete_reason: (op == OpType::Delete).then_some(DeleteReason::Ttl),
            was_live: true,
        }))
    }

    #[test]
    fn counters_follow_events() {
        let mut s = Stats::new(2);
        for _ in 0..3 {
            s.apply(&Event::Started { user: 0, op: OpType::Upload, lag: Duration::ZERO });
        }
        s.apply(&rec(0, OpType::Upload, Ok(())));
        s.apply(&rec(0, OpType::Upload, Ok(())));
        s.apply(&rec(0, OpType::Upload, Err(FailClass::TimedOut)));
        s.apply(&Event::Started { user: 1, op: OpType::Delete, lag: Duration::ZERO });
        s.apply(&rec(0, OpType::Delete, Ok(())));
        s.apply(&Event::Shortfall { user: 1, reason: Shortfall::GlobalCap, count: 1 });
        let t = s.totals();
        assert_eq!((t.uploads, t.deletes, t.ttl_deletes, t.failures), (2, 1, 1, 1));
        assert_eq!(t.failures_by_class["timed_out"], 1);
        assert_eq!(t.failures_by_op["upload"], 1);
        assert_eq!(t.live_objects, 1);
        assert_eq!(t.bytes_up, 200);
        assert_eq!(t.files_created, 3);
        assert_eq!(t.shortfall_by_reason["global_cap"], 1);
        assert_eq!(s.users[1].shortfall, 1);
        assert_eq!(t.started, 3);
        assert_eq!(t.in_flight(), 0);
        let l = s.latency(OpType::Upload);
        assert_eq!(l.count, 2);
        assert!((l.p50_ms - 2500.0).abs() < 5.0, "{l:?}");
    }
}
