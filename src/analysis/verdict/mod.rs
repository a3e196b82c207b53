//! The run's verdict: thresholds evaluated on the summary's numbers, plus integrity
//! (the client's word contradicted by the server), which fails a run whatever the
//! thresholds say. Three outcomes: FAIL (exit 3) if anything failed, else INCONCLUSIVE
//! (exit 4) if something could not be measured (a rate over no commands, a percentile
//! of an empty histogram, a run in which no command ran), else PASS. Nothing measured
//! is never a pass.
//!
//! Thresholds are of two classes. Correctness (what the client did and said) is judged
//! the same on any machine. Capacity (how much, how fast) cannot FAIL when the host
//! limited the run or when the run was too short to tell a miss from chance: such a
//! miss is INCONCLUSIVE with the reason, so a busy CI runner never reads as an obsctl
//! defect.

pub mod chance;

use std::collections::BTreeMap;

use crate::config::threshold::{self, Threshold};
use crate::model::events::FailClass;
use crate::model::metrics::{self, Chance, Over};
use crate::model::summary::Summary;
use crate::model::verdict::{Class, Judgement, Outcome, Verdict};

/// How the host limited a run, as the verdict weighs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostLimit {
    /// The machine was saturated while commands ran (by trafficgen or by other work).
    pub limited: bool,
    /// Slots were held back (shortfall `host`): a command that must run may have been
    /// one of them.
    pub held_back: bool,
    pub party: Option<crate::model::host::Party>,
    /// For people: CPU busy %, runnable, seconds saturated, the party.
    pub why: String,
    /// Commands that timed out, and all commands that ended: on a limited host a
    /// timeout measures the machine as much as the client.
    pub timed_out: u64,
    pub commands: u64,
}

/// The host's part in a finished run, from its summary.
pub fn host_limit(s: &Summary) -> HostLimit {
    let held = s.totals.counters.shortfall_by_reason.get("host").copied().unwrap_or(0);
    let held_back = s.host.saturated_s > 0.0 || held > 0;
    let limited = held_back || s.host.limited();
    let why = s.host.describe().unwrap_or_else(|| format!("{held} slots held back as shortfall `host`"));
    HostLimit {
        limited,
        held_back,
        party: s.host.party.filter(|_| limited),
        why: if limited { why } else { String::new() },
        timed_out: s.totals.counters.failures_by_class.get(FailClass::TimedOut.name()).copied().unwrap_or(0),
        commands: s.ops.values().map(|c| c.ok + c.failed).sum(),
    }
}

/// What chance weighs a threshold's miss against (see `chance`), from the summary as
/// the metric's catalogue entry reads it (`model::metrics`).
pub fn evidence(s: &Summary, metric: &str) -> chance::Evidence {
    use chance::Evidence;
    let Some((m, part)) = metrics::find(metric) else { return Evidence::None };
    match m.chance {
        Chance::None => Evidence::None,
        Chance::Poisson(read) => {
            let (expected, observed) = read(s);
            Evidence::Poisson { expected, observed }
        }
        Chance::Binomial(read) => {
            let (trials, hits) = read(s);
            Evidence::Binomial { trials, hits }
        }
        // The statistic is the name's last part: `p95` of `upload.p95`.
        Chance::Samples(read) => {
            let stat = metric.rsplit('.').next().unwrap_or(metric);
            Evidence::Samples { n: read(s, part), needed: chance::samples_needed(stat) }
        }
    }
}

/// Takes back the FAILs a run could not judge (pure): a capacity threshold missed on a
/// limited host, a minimum count missed while the host held slots back, and a capacity
/// threshold whose miss is within chance at this run's size become INCONCLUSIVE with the
/// reason. Correctness is judged as always. `outcomes` and `thresholds` are in step.
pub fn reconsider(
    mut outcomes: Vec<Outcome>,
    thresholds: &[Threshold],
    evidence: impl Fn(&str) -> chance::Evidence,
    host: &HostLimit,
) -> Vec<Outcome> {
    for (o, t) in outcomes.iter_mut().zip(thresholds) {
        if o.status != Judgement::Fail {
            continue;
        }
        let why = match o.class {
            Class::Capacity if host.limited => Some(host.why.clone()),
            Class::Capacity => chance::beyond_chance(t, evidence(&t.metric)).err().map(|w| w.0),
            Class::Correctness if host.held_back && threshold::is_minimum_count(t) => {
                Some(format!("missed while the host held slots back; {}", host.why))
            }
            Class::Correctness if host.limited => excused_timeouts(t, o.value, host),
            Class::Correctness => None,
        };
        if let Some(why) = why {
            o.status = Judgement::Inconclusive;
            o.reason = Some(why);
        }
    }
    outcomes
}

/// A failure threshold missed only because of commands that timed out while the host
/// was limited (by trafficgen's own processes or by other work): without those
/// timeouts it would hold, so the miss says more about the machine than the client.
/// Only the fleet-wide `failures` and `failure_rate` can be recounted so: timeouts are
/// not kept per command kind. None when the miss stands without the timeouts too.
fn excused_timeouts(t: &Threshold, value: Option<f64>, host: &HostLimit) -> Option<String> {
    let (value, n) = (value?, host.timed_out as f64);
    if n == 0.0 {
        return None;
    }
    let without = match t.metric.as_str() {
        "failures" => (value - n).max(0.0),
        // Recounted in whole commands: 0.03 - 0.01 must be 0.02, not just under it.
        "failure_rate" if host.commands > 0 => {
            let commands = host.commands as f64;
            ((value * commands).round() - n).max(0.0) / commands
        }
        _ => return None,
    };
    t.cmp.holds(without, t.limit).then(|| {
        format!(
            "{} commands timed out while the host was limited and it holds without them; {}",
            host.timed_out, host.why
        )
    })
}

/// Why a metric has no value in `s`: what had no sample (the catalogue entry says), or
/// for a command kind's metric in a run where no command ran at all, that.
pub fn unmeasured(s: &Summary, name: &str) -> String {
    let Some((m, part)) = metrics::find(name) else { return "no sample".to_string() };
    let commands: u64 = s.ops.values().map(|c| c.ok + c.failed).sum();
    if commands == 0 && m.over() == Over::Op {
        return "no command ran".to_string();
    }
    m.why_absent(part)
}

/// A threshold's metric, read from a finished run's summary through its catalogue entry
/// (`model::metrics`). None = not measured, or not a metric.
pub fn lookup(s: &Summary, name: &str) -> Option<f64> {
    let (m, part) = metrics::find(name)?;
    m.value(s, part)
}

/// Evaluates the thresholds and the integrity classes of a finished run.
pub fn judge(s: &Summary, thresholds: &[Threshold]) -> Verdict {
    judge_by(s, thresholds, |name| lookup(s, name))
}

/// `judge` with the thresholds' values read through `value` (a merge reads a few of them
/// from the shards' summaries); integrity always from `s`.
pub fn judge_by(s: &Summary, thresholds: &[Threshold], value: impl Fn(&str) -> Option<f64>) -> Verdict {
    let outcomes = threshold::evaluate(thresholds, value, |name| unmeasured(s, name));
    let host = host_limit(s);
    let outcomes = reconsider(outcomes, thresholds, |name| evidence(s, name), &host);
    let integrity: BTreeMap<crate::model::counts::Name, u64> = FailClass::INTEGRITY
        .iter()
        .map(|c| (crate::model::counts::Name::from(*c), s.integrity.get(c.name()).copied().unwrap_or(0)))
        .collect();
    let commands: u64 = s.ops.values().map(|c| c.ok + c.failed).sum();
    let mut v = decide(outcomes, integrity, commands);
    if host.limited {
        v.party = host.party;
        v.host = Some(host.why);
    }
    // Objects this run stored after the journal failed could be left with nothing to
    // find them: never a silent pass.
    if let Some(e) = &s.journal_error {
        v.reasons.push(format!("state journal failed: {e}"));
        v.result = Judgement::Fail;
        v.passed = false;
        v.exit_code = v.result.exit_code();
    }
    v
}

/// The overall verdict from the thresholds' outcomes, the integrity counts and how many
/// commands ended: FAIL if a threshold failed or an integrity class counted, else
/// INCONCLUSIVE if a threshold had no sample or no command ran at all, else PASS.
pub fn decide(outcomes: Vec<Outcome>, integrity: BTreeMap<crate::model::counts::Name, u64>, commands: u64) -> Verdict {
    let mut reasons = Vec::new();
    let mut parts = Vec::new();
    for o in &outcomes {
        match o.status {
            Judgement::Pass => parts.push(Judgement::Pass),
            Judgement::Fail => {
                let value = o.value.map_or("not measured".to_string(), |v| crate::model::verdict::show(v, o.unit));
                reasons.push(format!("threshold {} failed: {value}", o.threshold));
                parts.push(Judgement::Fail);
            }
            Judgement::Inconclusive => {
                let why = o.reason.as_deref().unwrap_or("no sample");
                match o.value {
                    Some(x) => reasons.push(format!(
                        "threshold {} ({}) inconclusive: measured {}, not judged ({why})",
                        o.threshold,
                        o.class.name(),
                        crate::model::verdict::show(x, o.unit)
                    )),
                    None => reasons.push(format!("threshold {} inconclusive: not measured ({why})", o.threshold)),
                }
                parts.push(Judgement::Inconclusive);
            }
        }
    }
    for (class, n) in &integrity {
        if *n > 0 {
            reasons.push(format!("integrity: {n} {class}"));
            parts.push(Judgement::Fail);
        }
    }
    if commands == 0 {
        reasons.push("nothing measured: no command ran".to_string());
        parts.push(Judgement::Inconclusive);
    }
    let result = Judgement::combine(parts);
    Verdict {
        result,
        passed: result == Judgement::Pass,
        exit_code: result.exit_code(),
        thresholds: outcomes,
        integrity,
        reasons,
        party: None,
        host: None,
    }
}

/// The verdict as people read it at the end of a run.
pub fn render(v: &Verdict) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let head = match v.result {
        Judgement::Pass => "PASSED".to_string(),
        Judgement::Fail => format!("FAILED (exit {})", crate::model::exit::VERDICT_FAILED),
        Judgement::Inconclusive => format!("INCONCLUSIVE (exit {})", crate::model::exit::INCONCLUSIVE),
    };
    let _ = writeln!(out, "verdict: {head}");
    if let Some(h) = &v.host {
        let _ = writeln!(out, "  {h}");
    }
    for o in &v.thresholds {
        let value = match (o.value, &o.reason) {
            (Some(x), Some(why)) => format!("{}, not judged: {why}", crate::model::verdict::show(x, o.unit)),
            (Some(x), None) => crate::model::verdict::show(x, o.unit),
            (None, Some(why)) => format!("nothing ({why})"),
            (None, None) => "not measured".to_string(),
        };
        let mark = match o.status {
            Judgement::Pass => "ok  ",
            Judgement::Fail => "FAIL",
            Judgement::Inconclusive => "N/A ",
        };
        let _ = writeln!(out, "  {mark} {:<44} {:<11} measured {value}", o.threshold, o.class.name());
    }
    for (class, n) in &v.integrity {
        let _ = writeln!(out, "  {} integrity.{class:<34} {n}", if *n == 0 { "ok  " } else { "FAIL" });
    }
    for r in v.reasons.iter().filter(|r| r.starts_with("state journal")) {
        let _ = writeln!(out, "  FAIL {r}");
    }
    if v.result == Judgement::Inconclusive {
        for r in v.reasons.iter().filter(|r| r.starts_with("nothing measured")) {
            let _ = writeln!(out, "  {r}");
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(values: &[(&str, Option<f64>)]) -> Vec<Outcome> {
        let ts: Vec<Threshold> = values
            .iter()
            .map(|(t, _)| threshold::parse(t, threshold::unit_of).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        threshold::evaluate(
            &ts,
            |m| values.iter().find(|(t, _)| t.starts_with(m)).and_then(|(_, v)| *v),
            |_| "no command ran".to_string(),
        )
    }

    fn clean() -> BTreeMap<crate::model::counts::Name, u64> {
        FailClass::INTEGRITY.into_iter().map(|c| (c.into(), 0)).collect()
    }

    #[test]
    fn nothing_measured_is_inconclusive_never_a_pass() {
        // A rate over no commands: inconclusive, exit 4, with the reason.
        let v = decide(outcomes(&[("failure_rate<1%", None)]), clean(), 0);
        assert_eq!((v.result, v.exit_code, v.passed), (Judgement::Inconclusive, 4, false));
        assert!(v.reasons.iter().any(|r| r.contains("failure_rate<1%") && r.contains("no command ran")), "{v:?}");
        // No thresholds at all, and no command: still not a pass.
        let v = decide(Vec::new(), clean(), 0);
        assert_eq!(v.result, Judgement::Inconclusive);
        assert!(v.reasons.iter().any(|r| r.contains("nothing measured")));
        // Counts of zero over no commands do not make it a pass either.
        let v = decide(outcomes(&[("failures==0", Some(0.0))]), clean(), 0);
        assert_eq!(v.result, Judgement::Inconclusive);
    }

    #[test]
    fn fail_beats_inconclusive_beats_pass() {
        let v = decide(outcomes(&[("failure_rate<1%", Some(0.0)), ("upload.p95<8s", Some(100.0))]), clean(), 10);
        assert_eq!((v.result, v.exit_code, v.passed), (Judgement::Pass, 0, true));
        assert!(v.reasons.is_empty());
        let v = decide(outcomes(&[("failure_rate<1%", Some(0.0)), ("upload.p95<8s", None)]), clean(), 10);
        assert_eq!((v.result, v.exit_code), (Judgement::Inconclusive, 4));
        let v = decide(outcomes(&[("failure_rate<1%", Some(0.5)), ("upload.p95<8s", None)]), clean(), 10);
        assert_eq!((v.result, v.exit_code), (Judgement::Fail, 3));
        let mut bad = clean();
        bad.insert(FailClass::Mismatch.into(), 1);
        let v = decide(outcomes(&[("upload.p95<8s", None)]), bad, 0);
        assert_eq!(v.result, Judgement::Fail, "integrity fails whatever else is unknown");
        assert_eq!(Judgement::combine([] as [Judgement; 0]), Judgement::Pass);
        assert_eq!(Judgement::combine([Judgement::Inconclusive, Judgement::Pass]), Judgement::Inconclusive);
        assert_eq!(Judgement::combine([Judgement::Inconclusive, Judgement::Fail]), Judgement::Fail);
    }

    fn parsed(exprs: &[&str]) -> Vec<Threshold> {
        exprs.iter().map(|t| threshold::parse(t, threshold::unit_of).unwrap_or_else(|e| panic!("{e}"))).collect()
    }

    /// Each threshold with a measured value, evaluated, then reconsidered for `host`.
    fn judged(values: &[(&str, f64)], host: &HostLimit, evidence: chance::Evidence) -> Vec<Outcome> {
        let ts = parsed(&values.iter().map(|(t, _)| *t).collect::<Vec<_>>());
        let out = threshold::evaluate(
            &ts,
            |m| values.iter().find(|(t, _)| t.starts_with(m)).map(|(_, v)| *v),
            |_| String::new(),
        );
        reconsider(out, &ts, |_| evidence, host)
    }

    fn busy(held_back: bool) -> HostLimit {
        HostLimit {
            limited: true,
            held_back,
            party: Some(crate::model::host::Party::Other),
            why: "host busy with other work: moto_server 61 %".to_string(),
            timed_out: 0,
            commands: 100,
        }
    }

    #[test]
    fn timeouts_on_a_limited_host_do_not_fail_the_client() {
        // 100 commands, 3 failed, 2 of them timed out while other work held the CPU.
        let judge = |timed_out: u64, limited: bool| {
            let host = HostLimit { timed_out, limited, ..busy(false) };
            let values =
                [("failure_rate<2%", Some(0.03)), ("failures<=1", Some(3.0)), ("upload.failure_rate<2%", Some(0.03))];
            let ts: Vec<Threshold> =
                values.iter().map(|(e, _)| threshold::parse(e, threshold::unit_of).unwrap()).collect();
            let out = crate::config::threshold::evaluate(
                &ts,
                |m| values.iter().find(|(e, _)| e.starts_with(m)).and_then(|(_, v)| *v),
                |_| String::new(),
            );
            reconsider(out, &ts, |_| chance::Evidence::None, &host).iter().map(|o| o.status).collect::<Vec<_>>()
        };
        // Without the 2 timeouts: 1 % < 2 % and 1 <= 1 hold; per command kind, timeouts
        // are not counted apart, so that miss stands.
        assert_eq!(judge(2, true), [Judgement::Inconclusive, Judgement::Inconclusive, Judgement::Fail]);
        // One timeout is not enough to explain the miss: it stands.
        assert_eq!(judge(1, true), [Judgement::Fail, Judgement::Fail, Judgement::Fail]);
        // On a machine that was not limited a timeout is the client's.
        assert_eq!(judge(2, false), [Judgement::Fail, Judgement::Fail, Judgement::Fail]);
    }

    #[test]
    fn every_threshold_has_a_class() {
        use threshold::class_of;
        for m in ["achieved_ratio", "shortfall_rate", "upload.p95", "download.max", "start_lag.p99", "kind_share_error"]
        {
            assert_eq!(class_of(m), Class::Capacity, "{m}");
        }
        for m in [
            "failure_rate",
            "failures",
            "integrity_failures",
            "integrity.mismatch",
            "expected_failures.unexpected_success",
            "expected_failures.missing_key_head",
            "telemetry_mismatches",
            "telemetry.lost_exports",
            "telemetry.out_of_contract",
            "ls.count",
            "upload.failure_rate",
            "upload.failures",
            "confirmed_uploads",
        ] {
            assert_eq!(class_of(m), Class::Correctness, "{m}");
        }
        let o = &judged(&[("upload.p95<8s", 100.0)], &HostLimit::default(), chance::Evidence::None)[0];
        assert_eq!(serde_json::to_value(o).unwrap()["class"], "capacity");
    }

    #[test]
    fn a_limited_host_makes_capacity_misses_inconclusive_and_judges_correctness_as_always() {
        let values = [
            ("shortfall_rate<5%", 0.1667),
            ("upload.p95<8s", 9000.0),
            ("failure_rate<1%", 0.05),
            ("integrity_failures==0", 0.0),
            ("ls.count>0", 0.0),
        ];
        let out = judged(&values, &busy(false), chance::Evidence::None);
        let status: Vec<Judgement> = out.iter().map(|o| o.status).collect();
        assert_eq!(
            status,
            [Judgement::Inconclusive, Judgement::Inconclusive, Judgement::Fail, Judgement::Pass, Judgement::Fail]
        );
        assert!(out[0].reason.as_deref().unwrap().contains("moto_server 61 %"), "{:?}", out[0]);
        // A command that must run, missed while slots were held back: inconclusive.
        let out = judged(&values, &busy(true), chance::Evidence::None);
        assert_eq!(out[4].status, Judgement::Inconclusive);
        assert!(out[4].reason.as_deref().unwrap().starts_with("missed while the host held slots back"));
        assert_eq!(out[2].status, Judgement::Fail, "a run can be FAIL and host limited");
        // On an idle host the same misses fail.
        let out = judged(&values, &HostLimit::default(), chance::Evidence::None);
        assert!(out.iter().filter(|o| o.metric != "integrity_failures").all(|o| o.status == Judgement::Fail));
        // The overall verdict: inconclusive when only capacity missed on a busy host.
        let v = decide(judged(&values[..2], &busy(false), chance::Evidence::None), clean(), 100);
        assert_eq!((v.result, v.exit_code), (Judgement::Inconclusive, 4));
        assert!(v.reasons[0].contains("(capacity) inconclusive: measured 16.67%, not judged"), "{:?}", v.reasons);
        let text = render(&v);
        assert!(text.contains("N/A  shortfall_rate<5%") && text.contains("capacity"), "{text}");
    }

    #[test]
    fn a_capacity_miss_within_chance_is_inconclusive_and_one_beyond_it_fails() {
        let idle = HostLimit::default();
        // A 6 s off-peak run: 17 of 20 expected at >=0.9.
        let out =
            judged(&[("achieved_ratio>=0.9", 0.85)], &idle, chance::Evidence::Poisson { expected: 20.0, observed: 17 });
        assert_eq!(out[0].status, Judgement::Inconclusive);
        assert!(out[0].reason.as_deref().unwrap().contains("Poisson noise"));
        let out = judged(
            &[("achieved_ratio>=0.9", 0.005)],
            &idle,
            chance::Evidence::Poisson { expected: 181.0, observed: 1 },
        );
        assert_eq!(out[0].status, Judgement::Fail);
        // A p99 over 12 samples cannot fail; correctness has no such leniency.
        let few = chance::Evidence::Samples { n: 12, needed: 100 };
        let out = judged(&[("upload.p99<1s", 2000.0), ("failure_rate<1%", 0.08)], &idle, few);
        assert_eq!(out[0].status, Judgement::Inconclusive);
        assert_eq!(out[1].status, Judgement::Fail);
    }

    /// A real run's summary with every command kind and expected-failure kind in its
    /// mix and telemetry verified, written by tests/metrics.rs (which also checks that a
    /// fresh run still has its fields; regenerate it with
    /// `TRAFFICGEN_BLESS=1 cargo test --test metrics`).
    fn real_run() -> Summary {
        const FIXTURE: &str = include_str!("../../../tests/fixtures/every-metric-summary.json");
        serde_json::from_str(FIXTURE).unwrap_or_else(|e| {
            panic!("tests/fixtures/every-metric-summary.json: {e}; regenerate it: TRAFFICGEN_BLESS=1 cargo test --test metrics")
        })
    }

    #[test]
    fn every_catalogue_metric_has_a_value_in_a_real_runs_summary() {
        let s = real_run();
        for m in metrics::CATALOGUE {
            let names = m.names();
            assert!(!names.is_empty(), "{} stands for no name", m.pattern);
            let missing: Vec<&String> = names.iter().filter(|n| !lookup(&s, n).is_some_and(f64::is_finite)).collect();
            assert!(missing.is_empty(), "{}: no value for {missing:?}", m.pattern);
        }
        assert_eq!(lookup(&s, "upload.count"), s.ops.get("upload").map(|c| (c.ok + c.failed) as f64));
        assert_eq!(lookup(&s, "no_such_metric"), None);
    }

    #[test]
    fn an_unmeasured_metric_says_what_had_no_sample() {
        let mut s = real_run();
        s.telemetry = None;
        s.latency_ms.clear();
        s.start_lag_ms.count = 0;
        s.target_ops = 0.0;
        (s.totals.counters.started, s.totals.counters.shortfall) = (0, 0);
        // (metric, unmeasured in `s` now, why it has no value when it has none)
        let cases = [
            ("telemetry_mismatches", true, "telemetry was not verified (--verify-telemetry)"),
            ("telemetry.lost_exports", true, "telemetry was not verified (--verify-telemetry)"),
            ("upload.p95", true, "no upload command ran"),
            ("missing_key_head.max", true, "no missing_key_head command ran"),
            ("start_lag.p99", true, "no scheduled operation started"),
            ("achieved_ratio", true, "the target was 0 operations"),
            ("shortfall_rate", true, "no slot was due"),
            ("failure_rate", false, "no command ran"),
            ("download_share_error", false, "no sample"),
            ("integrity.mismatch", false, "no sample"),
        ];
        for (name, none, why) in cases {
            assert_eq!(lookup(&s, name).is_none(), none, "{name}");
            assert_eq!(unmeasured(&s, name), why, "{name}");
        }
        // A run in which no command ran says so for every command kind's metric.
        s.ops.clear();
        assert_eq!(unmeasured(&s, "upload.p95"), "no command ran");
        assert_eq!(unmeasured(&s, "wrong_credentials.count"), "no command ran");
        assert_eq!(unmeasured(&s, "failure_rate"), "no command ran");
        assert_eq!(unmeasured(&s, "start_lag.p50"), "no scheduled operation started");
    }

    #[test]
    fn chance_weighs_capacity_metrics_by_what_the_summary_counted() {
        use chance::Evidence;
        let s = real_run();
        let t = &s.totals.counters;
        let upload = s.latency_ms.get("upload").map_or(0, |l| l.count);
        let cases = [
            ("achieved_ratio", Evidence::Poisson { expected: s.target_ops, observed: s.achieved_ops }),
            ("shortfall_rate", Evidence::Binomial { trials: t.started + t.shortfall, hits: t.shortfall }),
            ("upload.p95", Evidence::Samples { n: upload, needed: 20 }),
            ("upload.max", Evidence::Samples { n: upload, needed: 1 }),
            ("start_lag.p99", Evidence::Samples { n: s.start_lag_ms.count, needed: 100 }),
            ("upload.count", Evidence::None),
            ("failure_rate", Evidence::None),
            ("download_share_error", Evidence::None),
            ("no_such_metric", Evidence::None),
        ];
        for (name, e) in cases {
            assert_eq!(evidence(&s, name), e, "{name}");
        }
    }

    #[test]
    fn the_rendering_names_the_outcome_and_the_reason() {
        let v = decide(outcomes(&[("failure_rate<1%", None)]), clean(), 0);
        let text = render(&v);
        assert!(text.starts_with("verdict: INCONCLUSIVE (exit 4)"), "{text}");
        assert!(text.contains("N/A  failure_rate<1%") && text.contains("no command ran"), "{text}");
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["result"], "INCONCLUSIVE");
        assert_eq!(json["exit_code"], 4);
        assert_eq!(json["thresholds"][0]["status"], "inconclusive");
    }
}
