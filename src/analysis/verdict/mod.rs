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
use crate::model::events::{FailClass, OpType};
use crate::model::summary::Summary;
use crate::model::verdict::{Class, Judgement, Outcome, Status, Verdict};

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
    }
}

/// What chance weighs a threshold's miss against (see `chance`), from the summary.
pub fn evidence(s: &Summary, metric: &str) -> chance::Evidence {
    use chance::Evidence;
    let t = &s.totals.counters;
    match metric {
        "achieved_ratio" => Evidence::Poisson { expected: s.target_ops, observed: s.achieved_ops },
        "shortfall_rate" => Evidence::Binomial { trials: t.started + t.shortfall, hits: t.shortfall },
        _ => match metric.split_once('.') {
            Some(("start_lag", stat)) => {
                Evidence::Samples { n: s.start_lag_ms.count, needed: chance::samples_needed(stat) }
            }
            Some((head, stat))
                if OpType::from_name(head).is_some() && threshold::class_of(metric) == Class::Capacity =>
            {
                let n = s.latency_ms.get(head).map_or(0, |l| l.count);
                Evidence::Samples { n, needed: chance::samples_needed(stat) }
            }
            _ => Evidence::None,
        },
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
        if o.status != Status::Fail {
            continue;
        }
        let why = match o.class {
            Class::Capacity if host.limited => Some(host.why.clone()),
            Class::Capacity => chance::beyond_chance(t, evidence(&t.metric)).err(),
            Class::Correctness if host.held_back && threshold::is_minimum_count(t) => {
                Some(format!("missed while the host held slots back; {}", host.why))
            }
            Class::Correctness => None,
        };
        if let Some(why) = why {
            o.status = Status::Inconclusive;
            o.reason = Some(why);
        }
    }
    outcomes
}

/// Why a metric has no value in `s`: what had no sample.
pub fn unmeasured(s: &Summary, name: &str) -> String {
    let commands: u64 = s.ops.values().map(|c| c.ok + c.failed).sum();
    let head = name.split_once('.').map_or(name, |(h, _)| h);
    match name {
        _ if commands == 0 && (name == "failure_rate" || OpType::from_name(head).is_some()) => {
            "no command ran".to_string()
        }
        "failure_rate" => "no command ran".to_string(),
        "achieved_ratio" => "the target was 0 operations".to_string(),
        "shortfall_rate" => "no slot was due".to_string(),
        _ if head == "telemetry" || name == "telemetry_mismatches" => {
            "telemetry was not verified (--verify-telemetry)".to_string()
        }
        _ if head == "start_lag" => "no scheduled operation started".to_string(),
        _ if OpType::from_name(head).is_some() => format!("no {head} command ran"),
        _ => "no sample".to_string(),
    }
}

/// A threshold's metric, read from a finished run's summary. None = not measured.
pub fn lookup(s: &Summary, name: &str) -> Option<f64> {
    let t = &s.totals.counters;
    let f = &s.fidelity;
    let count = |n: u64| Some(n as f64);
    let sum = |m: &BTreeMap<crate::model::counts::Name, u64>| m.values().sum::<u64>() as f64;
    match name {
        // A rate over no commands is no measurement (the summary shows 0).
        "failure_rate" => {
            let commands: u64 = s.ops.values().map(|c| c.ok + c.failed).sum();
            (commands > 0).then_some(s.failure_rate)
        }
        "achieved_ratio" => (s.target_ops > 0.0).then(|| s.achieved_ops as f64 / s.target_ops),
        "shortfall_rate" => {
            let slots = t.started + t.shortfall;
            (slots > 0).then(|| t.shortfall as f64 / slots as f64)
        }
        "download_share_error" => f.download_share_error,
        "error_share_error" => f.error_share_error,
        "kind_share_error" => f.kind_share_error,
        "size_band_error" => f.size_band_error,
        "failures" => count(t.failures),
        "shortfall" => count(t.shortfall),
        "integrity_failures" => count(t.integrity_failures),
        "no_object" => count(t.no_object),
        "confirmed_uploads" => count(t.confirmed_uploads),
        "confirmed_deletes" => count(t.confirmed_deletes),
        "unconfirmed" => count(t.unconfirmed),
        "uploads" => count(t.uploads),
        "downloads" => count(t.downloads),
        "deletes" => count(t.deletes),
        "live_objects_at_exit" => count(s.live_objects_at_exit),
        "maybe_live_objects_at_exit" => count(s.maybe_live_objects_at_exit),
        "expected_failures.unexpected_success" => Some(sum(&t.unexpected_success)),
        "telemetry_mismatches" => s.telemetry.as_ref().and_then(|t| t.run()).map(|r| r.mismatches as f64),
        "telemetry.lost_exports" => s.telemetry.as_ref().and_then(|t| t.run()).map(|r| r.lost_exports as f64),
        "telemetry.out_of_contract" => {
            s.telemetry.as_ref().and_then(|t| t.run()).map(|r| r.out_of_contract.len() as f64)
        }
        "expected_failures.failed_as_expected" => Some(sum(&t.expected_failures)),
        _ => {
            let (head, stat) = name.split_once('.')?;
            if head == "integrity" {
                return t.integrity.get(stat).map(|n| *n as f64);
            }
            if head == "expected_failures" {
                return t.expected_failures.get(stat).map(|n| *n as f64);
            }
            if head == "start_lag" {
                return s.start_lag_ms.get(stat);
            }
            let op = OpType::from_name(head)?;
            let c = s.ops.get(op.name()).copied().unwrap_or_default();
            match stat {
                "count" => count(c.ok + c.failed),
                "failures" => count(c.failed),
                "failure_rate" => (c.ok + c.failed > 0).then(|| c.failed as f64 / (c.ok + c.failed) as f64),
                _ => s.latency_ms.get(op.name())?.get(stat),
            }
        }
    }
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
        .map(|c| (c.name().into(), s.integrity.get(c.name()).copied().unwrap_or(0)))
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
            Status::Pass => parts.push(Judgement::Pass),
            Status::Fail => {
                let value = o.value.map_or("not measured".to_string(), |v| crate::model::verdict::show(v, o.unit));
                reasons.push(format!("threshold {} failed: {value}", o.threshold));
                parts.push(Judgement::Fail);
            }
            Status::Inconclusive => {
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
            Status::Pass => "ok  ",
            Status::Fail => "FAIL",
            Status::Inconclusive => "N/A ",
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
        FailClass::INTEGRITY.iter().map(|c| (c.name().into(), 0)).collect()
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
        bad.insert("mismatch".into(), 1);
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
        }
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
        let status: Vec<Status> = out.iter().map(|o| o.status).collect();
        assert_eq!(status, [Status::Inconclusive, Status::Inconclusive, Status::Fail, Status::Pass, Status::Fail]);
        assert!(out[0].reason.as_deref().unwrap().contains("moto_server 61 %"), "{:?}", out[0]);
        // A command that must run, missed while slots were held back: inconclusive.
        let out = judged(&values, &busy(true), chance::Evidence::None);
        assert_eq!(out[4].status, Status::Inconclusive);
        assert!(out[4].reason.as_deref().unwrap().starts_with("missed while the host held slots back"));
        assert_eq!(out[2].status, Status::Fail, "a run can be FAIL and host limited");
        // On an idle host the same misses fail.
        let out = judged(&values, &HostLimit::default(), chance::Evidence::None);
        assert!(out.iter().filter(|o| o.metric != "integrity_failures").all(|o| o.status == Status::Fail));
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
        assert_eq!(out[0].status, Status::Inconclusive);
        assert!(out[0].reason.as_deref().unwrap().contains("Poisson noise"));
        let out = judged(
            &[("achieved_ratio>=0.9", 0.005)],
            &idle,
            chance::Evidence::Poisson { expected: 181.0, observed: 1 },
        );
        assert_eq!(out[0].status, Status::Fail);
        // A p99 over 12 samples cannot fail; correctness has no such leniency.
        let few = chance::Evidence::Samples { n: 12, needed: 100 };
        let out = judged(&[("upload.p99<1s", 2000.0), ("failure_rate<1%", 0.08)], &idle, few);
        assert_eq!(out[0].status, Status::Inconclusive);
        assert_eq!(out[1].status, Status::Fail);
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
