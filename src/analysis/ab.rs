//! `ab`'s findings from its samples: per operation kind × size class, the latency
//! shift, the failures and the correctness diffs, each judged (the statistics
//! themselves are `abstats`); then the telemetry comparison (`abtelemetry`) and the
//! server's view (`ab_server`) folded into the one verdict. Plain data in
//! (`model::ab::Sample`), plain data out (`model::ab::AbReport`): the command runs, the
//! outputs draw.

use std::collections::BTreeMap;

use crate::analysis::abstats::{self, Failures};
use crate::analysis::abtelemetry;
use crate::model::ab::{AbReport, BuildCounts, Builds, Comparison, Curves, OpCounts, Sample, ServerRow, Settings};
use crate::model::events::{Build, FailClass, OpType, SizeClass};
use crate::model::units::pct;
use crate::model::verdict::Judgement;

/// Fewer successful commands than this per build: no latency verdict (INCONCLUSIVE).
const MIN_SAMPLES: usize = 5;

/// Judges every operation kind × size class that either build ran. Cancelled commands
/// (cut at the end of the run) count for neither build.
pub fn analyse(samples: &[Sample], s: Settings, host_warning: Option<&str>) -> AbReport {
    type Key = (OpType, usize);
    let mut groups: BTreeMap<Key, [Vec<&Sample>; 2]> = BTreeMap::new();
    for x in samples.iter().filter(|x| x.result != Err(FailClass::Cancelled)) {
        let class = SizeClass::ALL.iter().position(|c| *c == x.class).unwrap_or(0);
        groups.entry((x.op, class)).or_default()[(x.build == Build::B) as usize].push(x);
    }
    let mut comparisons: Vec<Comparison> = groups
        .iter()
        .enumerate()
        .map(|(i, ((op, class), [a, b]))| {
            let ok = |v: &[&Sample]| v.iter().filter(|x| x.result.is_ok()).map(|x| x.seconds).collect::<Vec<f64>>();
            let (la, lb) = (ok(a), ok(b));
            let shift = (la.len() >= 2 && lb.len() >= 2)
                .then(|| abstats::shift(&la, &lb, s.resamples, s.seed ^ i as u64))
                .flatten();
            let failed = |v: &[&Sample]| v.iter().filter(|x| x.result.is_err()).count() as u64;
            let integrity = |v: &[&Sample]| {
                let mut m = BTreeMap::new();
                for x in v {
                    if let Err(c) = x.result
                        && c.is_integrity()
                    {
                        *m.entry(c.name().to_string()).or_insert(0) += 1;
                    }
                }
                m
            };
            Comparison {
                op: op.name().into(),
                size_class: SizeClass::ALL[*class].name().into(),
                shift,
                p_holm: 1.0,
                failures: Failures::new(failed(a), a.len() as u64, failed(b), b.len() as u64),
                integrity_a: integrity(a),
                integrity_b: integrity(b),
                verdict: Judgement::Inconclusive,
                reason: String::new(),
                settle_at: None,
                min_detectable: None,
            }
        })
        .collect();
    let ps: Vec<f64> = comparisons.iter().map(|c| c.shift.as_ref().map_or(1.0, |x| x.p)).collect();
    for (c, p) in comparisons.iter_mut().zip(abstats::holm(&ps)) {
        c.p_holm = p;
    }
    let mut notes = Vec::new();
    for c in &mut comparisons {
        judge(c, s, host_warning.is_some());
        if let Some(m) = c.min_detectable
            && m > s.tolerance
            && c.shift.as_ref().is_some_and(|x| x.n_a.min(x.n_b) >= MIN_SAMPLES)
        {
            notes.push(format!(
                "{}: this run detects shifts of {} or more (80 % power); --tolerance {} is below that: run longer or raise --rate-scale",
                c.name(),
                pct(m),
                pct(s.tolerance)
            ));
        }
    }
    if let Some(w) = host_warning {
        notes.push(format!("host limited: {w}; a latency that would pass is INCONCLUSIVE"));
    }
    let verdict = match comparisons.is_empty() {
        true => Judgement::Inconclusive,
        false => Judgement::combine(comparisons.iter().map(|c| c.verdict)),
    };
    AbReport {
        verdict,
        calibrate: false,
        tolerance: s.tolerance,
        max_failure_delta: s.max_delta,
        binary_a: String::new(),
        binary_b: String::new(),
        comparisons,
        telemetry: Vec::new(),
        lost_exports: None,
        notes,
        server: Vec::new(),
    }
}

/// One comparison's verdict: a correctness diff or a failure excess fails it whatever
/// the latency says; then the latency interval against the tolerance (a FAIL also
/// needs Mann-Whitney's Holm-corrected p under 5 %, so many comparisons do not make
/// a chance FAIL likely).
fn judge(c: &mut Comparison, s: Settings, host_limited: bool) {
    let only_b: Vec<&str> =
        c.integrity_b.keys().filter(|k| !c.integrity_a.contains_key(*k)).map(String::as_str).collect();
    if !only_b.is_empty() {
        c.verdict = Judgement::Fail;
        c.reason = format!("B only: {}", only_b.join(", "));
        return;
    }
    let f = &c.failures;
    if f.judge(s.max_delta) == Judgement::Fail {
        c.verdict = Judgement::Fail;
        c.reason = format!("failures {} → {} (Fisher p {:.3})", pct(f.rate_a()), pct(f.rate_b()), f.p);
        return;
    }
    let Some(x) = c.shift.as_ref().filter(|x| x.n_a.min(x.n_b) >= MIN_SAMPLES) else {
        c.verdict = Judgement::Inconclusive;
        c.reason = format!("fewer than {MIN_SAMPLES} successful commands per build");
        return;
    };
    c.min_detectable = Some(x.min_detectable());
    c.verdict = match abstats::judge_shift(x, s.tolerance) {
        Judgement::Fail if c.p_holm < 0.05 => {
            c.reason = format!("B slower by {} (interval beyond {})", pct(x.rel), pct(s.tolerance));
            Judgement::Fail
        }
        Judgement::Pass if host_limited => {
            c.reason = "within tolerance, but the host limited the run".into();
            Judgement::Inconclusive
        }
        Judgement::Pass => {
            c.reason = format!("within ±{}", pct(s.tolerance));
            Judgement::Pass
        }
        _ => {
            c.settle_at = abstats::settling_size(x, s.tolerance);
            c.reason = match c.settle_at {
                Some(n) => format!("interval spans ±{}; some {n} commands per build would settle it", pct(s.tolerance)),
                None => format!("the shift sits at the tolerance ({})", pct(s.tolerance)),
            };
            Judgement::Inconclusive
        }
    };
}

/// Adds the telemetry comparison of the run's report: each family both builds moved,
/// the lost exports, a note for each family only one build moved; their calls join
/// the verdict.
pub fn add_telemetry(report: &mut AbReport, t: &crate::model::telemetry::Report, s: Settings, host_limited: bool) {
    let found = abtelemetry::compare(t, s, host_limited);
    for (family, na, nb) in &found.not_judged {
        report
            .notes
            .push(format!("telemetry {family}: n/a, only one build ran commands that move it ({na} of A, {nb} of B)"));
    }
    report.telemetry = found.families;
    report.lost_exports = found.lost;
    let calls = report.telemetry.iter().map(|t| t.verdict).chain(report.lost_exports.iter().map(|l| l.verdict));
    report.verdict = combine(report.verdict, calls);
}

/// Adds the server's rows (`ab_server::rows`); their calls join the verdict.
pub fn add_server(report: &mut AbReport, rows: Vec<ServerRow>) {
    report.server = rows;
    report.verdict = combine(report.verdict, report.server.iter().map(|r| r.verdict));
}

/// The verdict with more rows' calls: any FAIL fails it, any INCONCLUSIVE keeps a PASS
/// from standing.
fn combine(verdict: Judgement, calls: impl Iterator<Item = Judgement>) -> Judgement {
    Judgement::combine(std::iter::once(verdict).chain(calls))
}

/// Each comparison's successful latencies, A's and B's, grouped as `analyse` groups the
/// samples (operation kind × size class), sorted and thinned for the HTML report.
pub fn curves(samples: &[Sample], report: &AbReport) -> Vec<Curves> {
    let mut groups: BTreeMap<(&str, &str), [Vec<f64>; 2]> = BTreeMap::new();
    for x in samples.iter().filter(|x| x.result.is_ok()) {
        groups.entry((x.op.name(), x.class.name())).or_default()[(x.build == Build::B) as usize].push(x.seconds);
    }
    report
        .comparisons
        .iter()
        .filter_map(|c| {
            let [a, b] = groups.remove(&(c.op.as_str(), c.size_class.as_str()))?;
            Some(Curves::new(c.name(), a, b))
        })
        .collect()
}

/// Each build's commands per operation kind: how many, the failures by class, the
/// latency percentiles of the successful ones (milliseconds).
pub fn builds(samples: &[Sample]) -> Builds {
    let build = |build: Build| {
        /// Commands, failures by class, latencies of the successful ones.
        type Counts<'a> = (u64, BTreeMap<String, u64>, Vec<f64>);
        let mut ops: BTreeMap<&str, Counts> = BTreeMap::new();
        for x in samples.iter().filter(|x| x.build == build) {
            let e = ops.entry(x.op.name()).or_default();
            e.0 += 1;
            match x.result {
                Ok(()) => e.2.push(x.seconds),
                Err(c) => *e.1.entry(c.name().to_string()).or_insert(0) += 1,
            }
        }
        let ops = ops
            .into_iter()
            .map(|(name, (commands, failures, lat))| {
                let q = |p: f64| if lat.is_empty() { None } else { Some(abstats::quantile(&lat, p) * 1000.0) };
                let counts = OpCounts { commands, failures, p50_ms: q(0.5), p95_ms: q(0.95), p99_ms: q(0.99) };
                (name.to_string(), counts)
            })
            .collect();
        BuildCounts { ops }
    };
    Builds { a: build(Build::A), b: build(Build::B) }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{RngExt, SeedableRng};

    /// `n` uploads and deletes per build, B's `factor_b` times A's latency, B's first
    /// `fail_b` deletes failed (also for the outputs' tests).
    pub fn samples(n: usize, factor_b: f64, fail_b: usize, seed: u64) -> Vec<Sample> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut out = Vec::new();
        for i in 0..n {
            for (build, f) in [(Build::A, 1.0), (Build::B, factor_b)] {
                for op in [OpType::Upload, OpType::Delete] {
                    let failed = build == Build::B && op == OpType::Delete && i < fail_b;
                    out.push(Sample {
                        build,
                        op,
                        class: SizeClass::Small,
                        seconds: 0.05 * f * rng.random_range(0.9..1.1),
                        end_s: i as f64,
                        result: if failed { Err(FailClass::Failed) } else { Ok(()) },
                    });
                }
            }
        }
        out
    }

    pub const S: Settings = Settings { tolerance: 0.10, max_delta: 0.01, resamples: 200, seed: 1 };

    #[test]
    fn a_slower_b_fails_naming_the_operation() {
        let r = analyse(&samples(80, 1.3, 0, 1), S, None);
        assert_eq!(r.verdict, Judgement::Fail);
        let up = r.comparisons.iter().find(|c| c.op == "upload").unwrap();
        assert_eq!(up.verdict, Judgement::Fail, "{}", up.reason);
        assert!(up.reason.starts_with("B slower by"), "{}", up.reason);
    }

    #[test]
    fn identical_builds_pass_and_failures_fail() {
        let r = analyse(&samples(80, 1.0, 0, 2), S, None);
        assert_eq!(r.verdict, Judgement::Pass, "{r:?}");
        let r = analyse(&samples(200, 1.0, 10, 3), S, None);
        let del = r.comparisons.iter().find(|c| c.op == "delete").unwrap();
        assert_eq!(del.verdict, Judgement::Fail);
        assert!(del.reason.contains("failures"), "{}", del.reason);
        // A host that limited the run makes a pass inconclusive, never a fail.
        let r = analyse(&samples(80, 1.0, 0, 2), S, Some("busy"));
        assert_eq!(r.verdict, Judgement::Inconclusive);
    }

    #[test]
    fn an_integrity_class_only_b_shows_fails() {
        let mut s = samples(40, 1.0, 0, 4);
        s.push(Sample {
            build: Build::B,
            op: OpType::Upload,
            class: SizeClass::Small,
            seconds: 0.05,
            end_s: 0.0,
            result: Err(FailClass::PhantomUpload),
        });
        let r = analyse(&s, S, None);
        let up = r.comparisons.iter().find(|c| c.op == "upload").unwrap();
        assert_eq!(up.verdict, Judgement::Fail);
        assert!(up.reason.contains("phantom_upload"), "{}", up.reason);
        let b = builds(&s);
        assert_eq!(b.b.ops["upload"].failures["phantom_upload"], 1);
        assert_eq!((b.a.ops["upload"].commands, b.b.ops["upload"].commands), (40, 41));
        assert!(b.a.ops["delete"].p50_ms.is_some_and(|x| (40.0..60.0).contains(&x)));
    }

    #[test]
    fn too_few_commands_are_inconclusive_and_a_wide_interval_warns() {
        let r = analyse(&samples(3, 1.0, 0, 5), S, None);
        assert_eq!(r.verdict, Judgement::Inconclusive);
        // 10 noisy commands per build cannot resolve 1 %.
        let tight = Settings { tolerance: 0.01, ..S };
        let r = analyse(&samples(10, 1.0, 0, 6), tight, None);
        assert!(r.notes.iter().any(|n| n.contains("detects shifts of")), "{:?}", r.notes);
    }

    #[test]
    fn calls_combine_fail_first_then_inconclusive() {
        use Judgement::*;
        assert_eq!(combine(Pass, [Pass, Pass].into_iter()), Pass);
        assert_eq!(combine(Pass, [Pass, Inconclusive].into_iter()), Inconclusive);
        assert_eq!(combine(Inconclusive, [Fail].into_iter()), Fail);
        assert_eq!(combine(Fail, [Pass].into_iter()), Fail);
    }
}
