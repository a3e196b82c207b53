//! `ab`'s telemetry comparison: does build B report its own work further from the
//! truth than build A does, judged on what both builds did?
//!
//! Each build's children are reconciled apart (each against its own version's known
//! deviations). A family one build never moved by contract says nothing about that
//! build: it is not judged (n/a), never a "match". Where both moved it, each build's
//! rate is what its children reported per unit expected (1 = the truth), over the
//! children that exported, kind by kind: obsctl's deviations depend on the command
//! (sync counts each file twice), and the builds are dealt different mixes (whole
//! blocks of time under `--server-metrics`, chance otherwise), so children are grouped
//! by command kind, expected failure and outcome, and each group both builds ran weighs
//! as its children of both together. A group only one build ran is left out, and so is
//! one that should not move the family at all: `ls` adding the objects it lists to
//! `files_uploaded_total` reports the bucket's size at that moment, which differs
//! between A's and B's commands whatever the build does. The statistic is how much
//! further from the truth B is than A, relative to A's own error (at least 1):
//! (|rate_b − 1| − |rate_a − 1|) / max(|rate_a − 1|, 1), with a seeded percentile
//! bootstrap over children within each group. So two builds of the same code do not
//! FAIL each other, a build that repairs a family is a PASS, and one that deviates more
//! than the tolerance beyond doubt is a FAIL. Lost exports are compared on their own,
//! as failures are (Fisher), so a host that drops exports under load does not read as a
//! family that B misreports.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::model::ab::{Failures, LostExports, Settings, TelemetryDiff};
use crate::model::telemetry::{Agreement, Family, Report};
use crate::model::verdict::Judgement;

/// Fewer exporting children than this per build that moved a family: not judged.
pub const MIN_CHILDREN: u64 = 5;
/// A deviation of B's where A has none is a finding from this far off the truth: obsctl
/// 0.3.0's `transfer_rate_kbps` misses a sample now and then (a transfer under 1 ms),
/// 0.2 % apart between two copies of it, which is no new deviation.
const MIN_NEW_DEVIATION: f64 = 0.01;

/// What the comparison found: the families both builds moved, the families one build
/// did not move (with each build's number of children), and the lost exports.
pub struct Found {
    pub families: Vec<TelemetryDiff>,
    pub not_judged: Vec<(String, u64, u64)>,
    pub lost: Option<LostExports>,
}

/// Compares build A's and build B's telemetry from the run's report (its `builds`,
/// `build_samples` and `build_children`). `host_limited`: the host guard found the
/// machine saturated, so a build's lost exports may be the host's.
pub fn compare(t: &Report, s: Settings, host_limited: bool) -> Found {
    let (Some(fa), Some(fb)) = (t.builds.get("A"), t.builds.get("B")) else {
        return Found { families: Vec::new(), not_judged: Vec::new(), lost: None };
    };
    let none = BTreeMap::new();
    let (sa, sb) = (t.build_samples.get("A").unwrap_or(&none), t.build_samples.get("B").unwrap_or(&none));
    let mut families = Vec::new();
    let mut not_judged = Vec::new();
    for (i, (name, a)) in fa.iter().enumerate() {
        let Some(b) = fb.get(name) else { continue };
        let (xa, xb) = (sa.get(name).map_or(&[][..], Vec::as_slice), sb.get(name).map_or(&[][..], Vec::as_slice));
        let moved = |f: &Family, x: &[Child]| f.expected != 0.0 || x.iter().any(|p| p.1 != 0.0);
        match (moved(a, xa), moved(b, xb)) {
            (true, true) => families.push(family(name, (a, xa), (b, xb), s, s.seed ^ (i as u64).wrapping_mul(0x9e37))),
            (false, false) => {}
            _ => not_judged.push((name.clone(), movers(xa), movers(xb))),
        }
    }
    let lost =
        t.build_children.get("A").zip(t.build_children.get("B")).map(|(a, b)| lost_exports(*a, *b, s, host_limited));
    Found { families, not_judged, lost }
}

/// One exporting child's movement of a family: (stratum, expected, reported).
type Child = crate::model::telemetry::ChildMovement;

/// Children that should have moved the family (expected it to move).
fn movers(x: &[Child]) -> u64 {
    x.iter().filter(|p| p.1 != 0.0).count() as u64
}

/// Per stratum both builds ran: A's and B's (expected, reported) pairs.
type Strata = Vec<[Vec<(f64, f64)>; 2]>;

fn strata(a: &[Child], b: &[Child]) -> Strata {
    let mut by: BTreeMap<u16, [Vec<(f64, f64)>; 2]> = BTreeMap::new();
    for (side, x) in [a, b].into_iter().enumerate() {
        for &(k, e, r) in x {
            by.entry(k).or_default()[side].push((e, r));
        }
    }
    // A kind that should not move the family at all (ls and du adding what they list to
    // the upload counters) reports what the bucket held when it ran: the server's state,
    // not the build's behaviour, and A's and B's commands run at other moments. Such
    // kinds are left out; a deviation on what the family counts is compared.
    let expects = |x: &[(f64, f64)]| x.iter().any(|p| p.0 != 0.0);
    by.into_values().filter(|[a, b]| !a.is_empty() && !b.is_empty() && (expects(a) || expects(b))).collect()
}

/// Both builds' rates standardised to the pooled mix: each stratum weighs as its
/// children of both builds together; a build's rate is the weighted sum of its
/// per-child mean reported over that of its per-child mean expected (NaN when that is
/// 0). `pick` gives the (expected, reported) totals of one side of one stratum: the
/// children as they are, or a resample of them.
fn rates(strata: &Strata, mut pick: impl FnMut(&[(f64, f64)]) -> (f64, f64)) -> (f64, f64) {
    let mut sums = [(0.0, 0.0); 2];
    for s in strata {
        let w = (s[0].len() + s[1].len()) as f64;
        for side in 0..2 {
            let (e, r) = pick(&s[side]);
            let n = s[side].len() as f64;
            sums[side].0 += w * e / n;
            sums[side].1 += w * r / n;
        }
    }
    let rate = |(e, r): (f64, f64)| if e > 0.0 { r / e } else { f64::NAN };
    (rate(sums[0]), rate(sums[1]))
}

/// The (expected, reported) totals of children as they are.
fn totals(x: &[(f64, f64)]) -> (f64, f64) {
    x.iter().fold((0.0, 0.0), |(e, r), p| (e + p.0, r + p.1))
}

/// How much further from the truth B's rate is than A's, relative to A's error.
fn worse(ra: f64, rb: f64) -> f64 {
    let (ea, eb) = ((ra - 1.0).abs(), (rb - 1.0).abs());
    (eb - ea) / ea.max(1.0)
}

fn family(
    name: &str,
    (fa, xa): (&Family, &[Child]),
    (fb, xb): (&Family, &[Child]),
    s: Settings,
    seed: u64,
) -> TelemetryDiff {
    let strata = strata(xa, xb);
    let (ra, rb) = rates(&strata, totals);
    let mut d = TelemetryDiff {
        family: name.to_string(),
        verdict_a: fa.verdict.name().to_string(),
        verdict_b: fb.verdict.name().to_string(),
        a: (fa.expected, fa.reported),
        b: (fb.expected, fb.reported),
        n: (movers(xa), movers(xb)),
        rate_a: ra,
        rate_b: rb,
        worse: None,
        verdict: Judgement::Inconclusive,
        reason: String::new(),
    };
    // Error classes with failures of unknown cause are not judged for that build.
    if fa.verdict == Agreement::NotApplicable || fb.verdict == Agreement::NotApplicable {
        d.reason = "not judged for a build with failures of unknown cause".into();
        return d;
    }
    let common = |side: usize| strata.iter().map(|s| s[side].iter().filter(|p| p.0 != 0.0).count() as u64).sum::<u64>();
    let (ca, cb) = (common(0), common(1));
    if ca.min(cb) < MIN_CHILDREN {
        d.reason = format!(
            "fewer than {MIN_CHILDREN} exporting commands per build moved it in kinds both ran ({ca} A, {cb} B)"
        );
        return d;
    }
    let w = worse(ra, rb);
    let (lo, hi) = interval(&strata, s.resamples, seed);
    d.worse = Some((w, lo, hi));
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    let new_deviation = fb.verdict == Agreement::Mismatch && fa.verdict != Agreement::Mismatch;
    (d.verdict, d.reason) = if lo > s.tolerance {
        (
            Judgement::Fail,
            format!("B's reports are {} further from the truth than A's (beyond {})", pct(w), pct(s.tolerance)),
        )
    } else if new_deviation && lo > 0.0 && w >= MIN_NEW_DEVIATION {
        let what = format!("B {} where A {}", fb.verdict.name(), fa.verdict.name());
        (Judgement::Fail, format!("a new deviation: {what}, {} further from the truth", pct(w)))
    } else if hi <= s.tolerance {
        let what = if hi < 0.0 { "B closer to the truth than A" } else { "B as close to the truth as A" };
        (Judgement::Pass, format!("{what}, within {}", pct(s.tolerance)))
    } else {
        (Judgement::Inconclusive, format!("the interval spans {}: run longer", pct(s.tolerance)))
    };
    d
}

/// The 95 % percentile-bootstrap interval of `worse`, resampling each build's children
/// within each stratum.
fn interval(strata: &Strata, resamples: usize, seed: u64) -> (f64, f64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut draws = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let (ra, rb) = rates(strata, |x| {
            let (mut e, mut r) = (0.0, 0.0);
            for _ in 0..x.len() {
                let p = x[rng.random_range(0..x.len())];
                e += p.0;
                r += p.1;
            }
            (e, r)
        });
        let w = worse(ra, rb);
        if w.is_finite() {
            draws.push(w);
        }
    }
    // A resample without any child that expected the family has no rate: with most of
    // them so, the interval means nothing.
    if draws.len() < resamples / 2 {
        return (f64::NEG_INFINITY, f64::INFINITY);
    }
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| draws[((draws.len() - 1) as f64 * q).round() as usize];
    (at(0.025), at(0.975))
}

/// Lost exports as failures of ended children: FAIL when B loses more than the delta
/// above A's share beyond doubt (Fisher), unless the host was saturated (then
/// INCONCLUSIVE: the host may have dropped them).
fn lost_exports(
    (ended_a, reported_a): (u64, u64),
    (ended_b, reported_b): (u64, u64),
    s: Settings,
    host_limited: bool,
) -> LostExports {
    let counts = Failures::new(ended_a - reported_a, ended_a, ended_b - reported_b, ended_b);
    let shares = format!("{}/{} A, {}/{} B", counts.failed_a, counts.total_a, counts.failed_b, counts.total_b);
    let (verdict, reason) = match counts.judge(s.max_delta) {
        Judgement::Fail if host_limited => {
            (Judgement::Inconclusive, format!("B lost more ({shares}), but the host was saturated"))
        }
        Judgement::Fail => (Judgement::Fail, format!("B lost more exports ({shares}, Fisher p {:.3})", counts.p)),
        c => (c, shares),
    };
    LostExports { counts, verdict, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(expected: f64, reported: f64, verdict: Agreement) -> Family {
        Family { expected, reported, diff: reported - expected, verdict, server: None, note: None }
    }

    /// A report with one family for A and B: `n` exporting children each, every child
    /// expected 1 and reported `ra` (A) or `rb` (B), with a seeded jitter of ±`noise`.
    fn report(n: usize, ra: f64, rb: f64, noise: f64, seed: u64) -> Report {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut side = |r: f64| -> Vec<Child> {
            (0..n).map(|_| (0, 1.0, (r + noise * (rng.random_range(0.0..2.0) - 1.0)).max(0.0))).collect()
        };
        let (xa, xb) = (side(ra), side(rb));
        with_samples(xa, xb)
    }

    /// A report with one family whose children are `xa` (A) and `xb` (B).
    fn with_samples(xa: Vec<Child>, xb: Vec<Child>) -> Report {
        let verdict = |x: &[Child]| {
            let (e, r) = x.iter().fold((0.0, 0.0), |(e, r), p| (e + p.1, r + p.2));
            let v = if (e - r).abs() < 1e-6 { Agreement::Match } else { Agreement::Mismatch };
            fam(e, r, v)
        };
        let mut t: Report = serde_json::from_value(serde_json::json!({
            "client": "x", "children_ended": 0, "children_reported": 0, "lost_exports": 0,
            "children_killed": 0, "late_exports": 0, "peak_live_children": 0,
            "unattributed_requests": 0, "export_requests": 0, "foreign_requests": 0,
            "foreign_instance_ids": 0, "foreign_ids_capped": false, "foreign_examples": [],
            "dropped_series": 0, "forwarded": 0, "forward_failures": 0, "mismatches": 0,
            "families": {}, "users": {}, "commands": {}, "windows": [], "out_of_contract": []
        }))
        .unwrap();
        t.builds.insert("A".into(), [("uploads_total".to_string(), verdict(&xa))].into());
        t.builds.insert("B".into(), [("uploads_total".to_string(), verdict(&xb))].into());
        t.build_samples.insert("A".into(), [("uploads_total".to_string(), xa)].into());
        t.build_samples.insert("B".into(), [("uploads_total".to_string(), xb)].into());
        t
    }

    fn settings(seed: u64) -> Settings {
        Settings { tolerance: 0.10, max_delta: 0.01, resamples: 400, seed }
    }

    #[test]
    fn the_same_code_never_fails_itself() {
        // 200 seeds of two builds that both report 7 per command (a known deviation,
        // noisy) or the truth exactly: never a FAIL.
        for seed in 0..200 {
            for (r, noise) in [(7.0, 3.0), (1.0, 0.0), (0.5, 0.4)] {
                let f = compare(&report(60, r, r, noise, seed), settings(seed), false);
                assert_ne!(f.families[0].verdict, Judgement::Fail, "seed {seed}, rate {r}: {:?}", f.families[0]);
            }
        }
        // Exact agreement on both sides is a PASS.
        let f = compare(&report(60, 1.0, 1.0, 0.0, 1), settings(1), false);
        assert_eq!(f.families[0].verdict, Judgement::Pass, "{:?}", f.families[0]);
    }

    #[test]
    fn a_build_further_from_the_truth_fails_and_one_closer_passes() {
        // B reports half of what it did (A exact): FAIL.
        let f = compare(&report(60, 1.0, 0.5, 0.0, 3), settings(3), false);
        assert_eq!(f.families[0].verdict, Judgement::Fail, "{:?}", f.families[0]);
        assert!(f.families[0].reason.contains("further from the truth"), "{}", f.families[0].reason);
        // B over-reports 3x where A over-reported 2x: FAIL (twice A's error is beyond 10 %).
        let f = compare(&report(60, 2.0, 3.0, 0.2, 4), settings(4), false);
        assert_eq!(f.families[0].verdict, Judgement::Fail, "{:?}", f.families[0]);
        // B repairs A's deviation: PASS.
        let f = compare(&report(60, 7.0, 1.0, 0.0, 5), settings(5), false);
        assert_eq!(f.families[0].verdict, Judgement::Pass, "{:?}", f.families[0]);
        assert!(f.families[0].reason.contains("closer"), "{}", f.families[0].reason);
        // A 5 % new deviation where A is exact: within the tolerance, yet new: FAIL.
        let f = compare(&report(60, 1.0, 0.95, 0.0, 6), settings(6), false);
        assert_eq!(f.families[0].verdict, Judgement::Fail, "{:?}", f.families[0]);
        assert!(f.families[0].reason.contains("new deviation"), "{}", f.families[0].reason);
        // A sample missed now and then (0.2 %), as two copies of obsctl 0.3.0 differ on
        // transfer_rate_kbps: no new deviation.
        let f = compare(&report(200, 1.0, 0.998, 0.0, 7), settings(7), false);
        assert_eq!(f.families[0].verdict_b, "MISMATCH");
        assert_eq!(f.families[0].verdict, Judgement::Pass, "{:?}", f.families[0]);
    }

    #[test]
    fn builds_dealt_different_mixes_are_compared_kind_by_kind() {
        // The same code: uploads report 1 per file, syncs 2 (each file counted twice).
        // A ran 6 syncs among 200 uploads, B 30: unstratified, B's rate is 13 % higher
        // and looks further from the truth; kind by kind they are the same.
        let mix = |syncs: usize| -> Vec<Child> {
            let mut v: Vec<Child> = (0..200).map(|_| (1, 1.0, 1.0)).collect();
            v.extend((0..syncs).map(|_| (2, 3.0, 6.0)));
            v
        };
        for seed in 0..50 {
            let f = compare(&with_samples(mix(6), mix(30)), settings(seed), false);
            let d = &f.families[0];
            assert_ne!(d.verdict, Judgement::Fail, "seed {seed}: {d:?}");
            assert!((d.rate_a - d.rate_b).abs() < 1e-9, "{d:?}");
        }
        // A kind that should not move the family (an ls adding what it lists) reports
        // the bucket's size when it ran: left out, however far apart the builds' are.
        let mut a = mix(6);
        a.extend((0..10).map(|_| (4, 0.0, 50.0)));
        let mut b = mix(6);
        b.extend((0..10).map(|_| (4, 0.0, 400.0)));
        let f = compare(&with_samples(a, b), settings(3), false);
        assert_eq!(f.families[0].verdict, Judgement::Pass, "{:?}", f.families[0]);
        // A kind only one build ran is left out of both.
        let mut b = mix(6);
        b.extend((0..20).map(|_| (3, 1.0, 9.0)));
        let f = compare(&with_samples(mix(6), b), settings(1), false);
        assert_eq!(f.families[0].verdict, Judgement::Pass, "{:?}", f.families[0]);
        // A build whose syncs now count each file three times is further off: FAIL.
        let worse_syncs: Vec<Child> = mix(0).into_iter().chain((0..30).map(|_| (2, 3.0, 9.0))).collect();
        let f = compare(&with_samples(mix(30), worse_syncs), settings(2), false);
        assert_eq!(f.families[0].verdict, Judgement::Fail, "{:?}", f.families[0]);
    }

    #[test]
    fn a_family_one_build_never_moved_is_not_judged_and_few_children_are_inconclusive() {
        // A ran no command that moves it: not a "match", not judged.
        let mut t = report(3, 1.0, 0.0, 0.0, 7);
        t.builds.get_mut("A").unwrap().insert("uploads_total".into(), fam(0.0, 0.0, Agreement::Match));
        t.build_samples.get_mut("A").unwrap().clear();
        let f = compare(&t, settings(7), false);
        assert!(f.families.is_empty());
        assert_eq!(f.not_judged, [("uploads_total".to_string(), 0, 3)]);
        // 3 children each, B reporting nothing: too few to tell.
        let f = compare(&report(3, 1.0, 0.0, 0.0, 8), settings(8), false);
        assert_eq!(f.families[0].verdict, Judgement::Inconclusive, "{:?}", f.families[0]);
        assert!(f.families[0].reason.contains("fewer than 5"), "{}", f.families[0].reason);
    }

    #[test]
    fn lost_exports_are_judged_apart_and_excused_only_on_a_saturated_host() {
        let s = settings(9);
        assert_eq!(lost_exports((300, 300), (300, 299), s, false).verdict, Judgement::Pass);
        let l = lost_exports((300, 300), (300, 200), s, false);
        assert_eq!(l.verdict, Judgement::Fail, "{l:?}");
        assert!(l.reason.contains("0/300 A, 100/300 B"), "{}", l.reason);
        let l = lost_exports((300, 300), (300, 200), s, true);
        assert_eq!(l.verdict, Judgement::Inconclusive, "{l:?}");
        assert!(l.reason.contains("host was saturated"), "{}", l.reason);
    }
}
