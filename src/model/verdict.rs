//! A run's verdict as the summary carries it: each threshold's outcome, the overall
//! judgement and its exit code. Plain data: `analysis::verdict` decides it, the outputs
//! (JUnit, HTML, tables) and `merge`/`compare` read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::counts::Name;

use crate::model::exit;

/// What a metric's numbers mean, so a limit can be read (`1%`, `8s`, `3`) and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A fraction, 0..1 for rates (1% = 0.01).
    Ratio,
    /// Milliseconds.
    Millis,
    /// A number of things.
    Count,
}

/// What a threshold judges, which decides whether a busy load generator may excuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// What the client did and said: failures, integrity, expected failures, telemetry,
    /// objects left, commands that must run. Judged the same on any machine.
    Correctness,
    /// How much and how fast: achieved ratio, shortfall, latencies, start lag, the mix's
    /// fidelity. A saturated host or a run too short to measure it cannot fail these.
    Capacity,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Correctness => "correctness",
            Class::Capacity => "capacity",
        }
    }
}

/// The result of one threshold against a run.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Outcome {
    /// The threshold's normalized text.
    pub threshold: String,
    pub metric: String,
    /// None when the run did not measure the metric (shown as "not measured").
    pub value: Option<f64>,
    pub limit: f64,
    pub unit: Unit,
    /// Correctness or capacity (see `Class`).
    pub class: Class,
    /// True only for `Judgement::Pass`.
    pub passed: bool,
    /// Inconclusive when the metric had no sample (a rate over 0 commands, a percentile of
    /// an empty histogram, a ratio to a target of 0): nothing measured proves no bound
    /// either way. Written lowercase, as summaries of this schema version always had it.
    #[serde(serialize_with = "lowercase::serialize")]
    #[schemars(schema_with = "lowercase::schema")]
    pub status: Judgement,
    /// Why the threshold is inconclusive (what had no sample, the host was limited, the
    /// run too short to tell a miss from chance); None otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// PASS, FAIL or INCONCLUSIVE: of one threshold, of one `ab` comparison, of a whole run
/// or comparison. Written uppercase (the verdict's `result`, `ab`'s calls), except a
/// threshold's `status` (`lowercase`); either spelling reads back, so a summary reads
/// whichever field it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Judgement {
    #[serde(alias = "pass")]
    Pass,
    #[serde(alias = "fail")]
    Fail,
    #[serde(alias = "inconclusive")]
    Inconclusive,
}

impl Judgement {
    /// "PASS", "FAIL" or "INCONCLUSIVE", as the JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            Judgement::Pass => "PASS",
            Judgement::Fail => "FAIL",
            Judgement::Inconclusive => "INCONCLUSIVE",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            Judgement::Pass => 0,
            Judgement::Fail => exit::VERDICT_FAILED,
            Judgement::Inconclusive => exit::INCONCLUSIVE,
        }
    }

    /// FAIL if any part failed, else INCONCLUSIVE if any is, else PASS (also for `merge`
    /// and `compare`).
    pub fn combine(parts: impl IntoIterator<Item = Judgement>) -> Judgement {
        parts.into_iter().fold(Judgement::Pass, |acc, r| match (acc, r) {
            (Judgement::Fail, _) | (_, Judgement::Fail) => Judgement::Fail,
            (Judgement::Inconclusive, _) | (_, Judgement::Inconclusive) => Judgement::Inconclusive,
            _ => Judgement::Pass,
        })
    }
}

/// A threshold's `status` as written: "pass", "fail", "inconclusive".
mod lowercase {
    use super::Judgement;

    pub fn serialize<S: serde::Serializer>(j: &Judgement, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&j.name().to_lowercase())
    }

    pub fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "enum": ["pass", "fail", "inconclusive"] })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Verdict {
    /// PASS, FAIL or INCONCLUSIVE.
    pub result: Judgement,
    /// True only for PASS.
    pub passed: bool,
    pub exit_code: i32,
    pub thresholds: Vec<Outcome>,
    /// Integrity failures by class; any of them fails the run.
    pub integrity: BTreeMap<Name, u64>,
    /// One line per reason the run failed or is inconclusive, for people.
    pub reasons: Vec<String>,
    /// Who saturated the machine when the host limited the run: "trafficgen" (its own
    /// processes: slots were held back) or "other" (other work took the CPU); null when
    /// the host did not limit it.
    pub party: Option<crate::model::host::Party>,
    /// How the host limited the run (CPU busy, runnable, seconds, the party), or null.
    pub host: Option<String>,
}

/// A value as people read it: Ratio → `0.42%`; Millis → `812 ms` below 10 s (two
/// decimals below 1 ms), `12.34 s` from 10 s on; Count → `3`, or `2.50` when fractional.
/// Values that are not finite show as `n/a`.
pub fn show(value: f64, unit: Unit) -> String {
    if !value.is_finite() {
        return "n/a".to_string();
    }
    match unit {
        Unit::Ratio => format!("{:.2}%", value * 100.0),
        Unit::Millis if value >= 10_000.0 => format!("{:.2} s", value / 1000.0),
        Unit::Millis if value < 1.0 && value != 0.0 => format!("{value:.2} ms"),
        Unit::Millis => format!("{value:.0} ms"),
        Unit::Count if value.fract() == 0.0 => format!("{value:.0}"),
        Unit::Count => format!("{value:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_status_is_written_lowercase_and_either_spelling_reads() {
        let o = Outcome {
            threshold: "failure_rate < 1%".into(),
            metric: "failure_rate".into(),
            value: None,
            limit: 0.01,
            unit: Unit::Ratio,
            class: Class::Correctness,
            passed: false,
            status: Judgement::Inconclusive,
            reason: Some("no sample".into()),
        };
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["status"], "inconclusive");
        assert_eq!(serde_json::to_value(Judgement::Inconclusive).unwrap(), "INCONCLUSIVE");
        for (text, want) in [
            ("\"pass\"", Judgement::Pass),
            ("\"FAIL\"", Judgement::Fail),
            ("\"inconclusive\"", Judgement::Inconclusive),
        ] {
            assert_eq!(serde_json::from_str::<Judgement>(text).unwrap(), want, "{text}");
        }
        let back: Outcome = serde_json::from_value(v).unwrap();
        assert_eq!(back.status, Judgement::Inconclusive);
        assert_eq!(Judgement::combine([Judgement::Pass, Judgement::Inconclusive]).exit_code(), exit::INCONCLUSIVE);
    }
}
