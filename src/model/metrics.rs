//! The one catalogue of the metrics a threshold may name (docs/thresholds.md, "The
//! metrics"): each metric or metric family with its name pattern, unit, class, meaning,
//! and how to read it from a finished run's `Summary`. Threshold parsing
//! (`config::threshold`: units, classes, suggestions) and the verdict
//! (`analysis::verdict`: values, why a value is missing, what chance weighs a miss
//! against) both read this list, so adding a metric is one entry here and one line in
//! the docs (a test checks the two agree).
//!
//! Plain data: reading a value is a field access or a small sum, nothing is judged here.

use crate::model::events::{FailClass, OpType};
use crate::model::summary::Summary;
use crate::model::verdict::{Class, Unit};

use Class::{Capacity, Correctness};
use Unit::{Count, Millis, Ratio};

/// What the placeholder of a family's pattern stands for: one dotted part of the pattern
/// is `OP`, `KIND` or `CLASS`, and the family has one metric per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// A single metric: the pattern is its name.
    Nothing,
    /// `OP`: every command kind (`OpType::ALL`, expected failures included).
    Op,
    /// `KIND`: every expected-failure kind.
    Kind,
    /// `CLASS`: every integrity class.
    Class,
}

impl Over {
    const PLACEHOLDERS: [(Over, &'static str); 3] = [(Over::Op, "OP"), (Over::Kind, "KIND"), (Over::Class, "CLASS")];

    /// The word that stands for the value in a pattern (`OP`), None for a single metric.
    pub fn placeholder(self) -> Option<&'static str> {
        Over::PLACEHOLDERS.iter().find(|(o, _)| *o == self).map(|(_, p)| *p)
    }

    /// The values the placeholder takes, in the model's order (a single metric: one
    /// empty value).
    pub fn values(self) -> Vec<&'static str> {
        match self {
            Over::Nothing => vec![""],
            Over::Op => OpType::ALL.into_iter().map(OpType::name).collect(),
            Over::Kind => OpType::EXPECTED_FAILURES.into_iter().map(OpType::name).collect(),
            Over::Class => FailClass::INTEGRITY.into_iter().map(FailClass::name).collect(),
        }
    }
}

/// How one metric's value is read: from the summary and the placeholder's value (`""`
/// for a single metric). None = the run did not measure it.
pub type Read = fn(&Summary, &str) -> Option<f64>;

/// What a missed capacity threshold is weighed against before it may FAIL (the chance
/// rule in `analysis::verdict::chance`), read from the summary.
#[derive(Debug, Clone, Copy)]
pub enum Chance {
    /// Nothing: a miss stands.
    None,
    /// (expected, observed) events of a Poisson schedule.
    Poisson(fn(&Summary) -> (f64, u64)),
    /// (trials, hits) of a binomial draw.
    Binomial(fn(&Summary) -> (u64, u64)),
    /// How many samples the statistic is over (the placeholder's value given).
    Samples(fn(&Summary, &str) -> u64),
}

/// One metric or metric family.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The name, or for a family the name with its placeholder (`OP.p95`), as the docs
    /// write it.
    pub pattern: &'static str,
    pub unit: Unit,
    pub class: Class,
    /// What the value is, in one line: for people reading the catalogue and for its tests;
    /// no output shows it yet.
    #[allow(dead_code)]
    pub meaning: &'static str,
    read: Read,
    /// Why it can have no value (the placeholder replaced by its value), for the
    /// verdict's INCONCLUSIVE lines.
    pub absent: &'static str,
    pub chance: Chance,
}

impl Metric {
    /// A metric that always has a value or, when it has none, says only "no sample", and
    /// whose miss stands.
    const fn new(pattern: &'static str, unit: Unit, class: Class, meaning: &'static str, read: Read) -> Metric {
        Metric { pattern, unit, class, meaning, read, absent: "no sample", chance: Chance::None }
    }

    const fn absent(self, why: &'static str) -> Metric {
        Metric { absent: why, ..self }
    }

    const fn chance(self, chance: Chance) -> Metric {
        Metric { chance, ..self }
    }

    /// The family this pattern stands for, from its placeholder part.
    pub fn over(&self) -> Over {
        let parts = || self.pattern.split('.');
        Over::PLACEHOLDERS.iter().find(|(_, p)| parts().any(|part| part == *p)).map_or(Over::Nothing, |(o, _)| *o)
    }

    /// Every name this entry stands for, in the model's order of the placeholder's values.
    pub fn names(&self) -> Vec<String> {
        let over = self.over();
        match over.placeholder() {
            None => vec![self.pattern.to_string()],
            Some(p) => over.values().into_iter().map(|v| self.pattern.replacen(p, v, 1)).collect(),
        }
    }

    /// The placeholder's value if `name` is one of this entry's names (`""` for a single
    /// metric).
    pub fn matches(&self, name: &str) -> Option<&'static str> {
        let over = self.over();
        let Some(p) = over.placeholder() else {
            return (name == self.pattern).then_some("");
        };
        let (before, after) = self.pattern.split_once(p)?;
        let value = name.strip_prefix(before)?.strip_suffix(after)?;
        over.values().into_iter().find(|v| *v == value)
    }

    /// The value in `s` for the placeholder's value `part`; None = not measured.
    pub fn value(&self, s: &Summary, part: &str) -> Option<f64> {
        (self.read)(s, part)
    }

    /// Why the metric named with `part` has no value.
    pub fn why_absent(&self, part: &str) -> String {
        match self.over().placeholder() {
            Some(p) => self.absent.replace(p, part),
            None => self.absent.to_string(),
        }
    }
}

/// The catalogue entry for `name` and its placeholder's value, or None for a name that
/// is not a metric.
pub fn find(name: &str) -> Option<(&'static Metric, &'static str)> {
    CATALOGUE.iter().find_map(|m| m.matches(name).map(|part| (m, part)))
}

/// Every metric name, in a stable order: the entries in catalogue order, except that
/// the `OP` families come last, by command kind (all of `upload.*`, then `download.*`
/// …), so a kind's statistics stay together where "did you mean" lists them.
pub fn names() -> Vec<String> {
    let (per_op, rest): (Vec<&Metric>, Vec<&Metric>) = CATALOGUE.iter().partition(|m| m.over() == Over::Op);
    let mut out: Vec<String> = rest.iter().flat_map(|m| m.names()).collect();
    for op in Over::Op.values() {
        out.extend(per_op.iter().map(|m| m.pattern.replacen("OP", op, 1)));
    }
    out
}

fn count(n: u64) -> Option<f64> {
    Some(n as f64)
}

/// Commands that ended, of every kind.
fn commands(s: &Summary) -> u64 {
    s.ops.values().map(|c| c.ok + c.failed).sum()
}

/// (ended, failed) commands of one kind.
fn of_kind(s: &Summary, op: &str) -> (u64, u64) {
    let c = s.ops.get(op).copied().unwrap_or_default();
    (c.ok + c.failed, c.failed)
}

/// A latency statistic of one command kind's successful commands.
fn latency(s: &Summary, op: &str, stat: &str) -> Option<f64> {
    s.latency_ms.get(op)?.get(stat)
}

/// Samples behind one command kind's latency statistics.
fn latency_samples(s: &Summary, op: &str) -> u64 {
    s.latency_ms.get(op).map_or(0, |l| l.count)
}

fn telemetry(s: &Summary, read: fn(&crate::model::telemetry::Report) -> u64) -> Option<f64> {
    s.telemetry.as_ref().and_then(|t| t.run()).map(|r| read(r) as f64)
}

const NO_COMMAND: &str = "no command ran";
const NO_TELEMETRY: &str = "telemetry was not verified (--verify-telemetry)";
const NO_START: &str = "no scheduled operation started";
const NO_OP: &str = "no OP command ran";

/// How late scheduled operations started: the samples behind `start_lag.*`.
const START_LAG: Chance = Chance::Samples(|s, _| s.start_lag_ms.count);
/// The samples behind an `OP` latency.
const OP_LATENCY: Chance = Chance::Samples(latency_samples);

/// The catalogue. Its order is the order of `names()` (and so of "did you mean"
/// suggestions); docs/thresholds.md lists every pattern with its unit.
pub static CATALOGUE: &[Metric] = &[
    // A rate over no commands is no measurement (the summary shows 0).
    Metric::new("failure_rate", Ratio, Correctness, "failed commands / all commands that ended", |s, _| {
        (commands(s) > 0).then_some(s.failure_rate)
    })
    .absent(NO_COMMAND),
    Metric::new("achieved_ratio", Ratio, Capacity, "scheduled operations started / the target", |s, _| {
        (s.target_ops > 0.0).then(|| s.achieved_ops as f64 / s.target_ops)
    })
    .absent("the target was 0 operations")
    .chance(Chance::Poisson(|s| (s.target_ops, s.achieved_ops))),
    Metric::new("shortfall_rate", Ratio, Capacity, "slots not started / (started + not started)", |s, _| {
        let t = &s.totals.counters;
        let slots = t.started + t.shortfall;
        (slots > 0).then(|| t.shortfall as f64 / slots as f64)
    })
    .absent("no slot was due")
    .chance(Chance::Binomial(|s| {
        let t = &s.totals.counters;
        (t.started + t.shortfall, t.shortfall)
    })),
    Metric::new(
        "download_share_error",
        Ratio,
        Capacity,
        "distance of the download share from the profile's",
        |s, _| s.fidelity.download_share_error,
    ),
    Metric::new(
        "error_share_error",
        Ratio,
        Capacity,
        "distance of the expected-failure share from the profile's",
        |s, _| s.fidelity.error_share_error,
    ),
    Metric::new(
        "kind_share_error",
        Ratio,
        Capacity,
        "largest distance of a file kind's share from the profile's",
        |s, _| s.fidelity.kind_share_error,
    ),
    Metric::new(
        "size_band_error",
        Ratio,
        Capacity,
        "largest distance of a size band's share from the profile's",
        |s, _| s.fidelity.size_band_error,
    ),
    Metric::new("failures", Count, Correctness, "commands that failed", |s, _| count(s.totals.counters.failures)),
    Metric::new("shortfall", Count, Capacity, "slots not started", |s, _| count(s.totals.counters.shortfall)),
    Metric::new("integrity_failures", Count, Correctness, "the client's word contradicted by the server", |s, _| {
        count(s.totals.counters.integrity_failures)
    }),
    Metric::new("no_object", Count, Correctness, "read slots that found no object and uploaded instead", |s, _| {
        count(s.totals.counters.no_object)
    }),
    Metric::new("integrity.CLASS", Count, Correctness, "integrity failures of one class", |s, class| {
        s.totals.counters.integrity.get(class).map(|n| *n as f64)
    }),
    Metric::new(
        "expected_failures.unexpected_success",
        Count,
        Correctness,
        "expected failures of every kind that succeeded",
        |s, _| count(s.totals.counters.unexpected_success.values().sum()),
    ),
    Metric::new(
        "expected_failures.failed_as_expected",
        Count,
        Correctness,
        "expected failures of every kind that failed as they should",
        |s, _| count(s.totals.counters.expected_failures.values().sum()),
    ),
    Metric::new("confirmed_uploads", Count, Correctness, "uploads head-object confirmed", |s, _| {
        count(s.totals.counters.confirmed_uploads)
    }),
    Metric::new("confirmed_deletes", Count, Correctness, "deletes head-object confirmed", |s, _| {
        count(s.totals.counters.confirmed_deletes)
    }),
    Metric::new("unconfirmed", Count, Correctness, "checks that could not decide", |s, _| {
        count(s.totals.counters.unconfirmed)
    }),
    Metric::new("uploads", Count, Correctness, "successful uploads", |s, _| count(s.totals.counters.uploads)),
    Metric::new("downloads", Count, Correctness, "successful downloads", |s, _| count(s.totals.counters.downloads)),
    Metric::new("deletes", Count, Correctness, "successful deletes", |s, _| count(s.totals.counters.deletes)),
    Metric::new("live_objects_at_exit", Count, Correctness, "objects this run stored and did not delete", |s, _| {
        count(s.live_objects_at_exit)
    }),
    Metric::new("maybe_live_objects_at_exit", Count, Correctness, "objects that may exist at exit", |s, _| {
        count(s.maybe_live_objects_at_exit)
    }),
    Metric::new("telemetry_mismatches", Count, Correctness, "telemetry families that disagree", |s, _| {
        telemetry(s, |r| r.mismatches)
    })
    .absent(NO_TELEMETRY),
    Metric::new("telemetry.lost_exports", Count, Correctness, "children whose export never arrived", |s, _| {
        telemetry(s, |r| r.lost_exports)
    })
    .absent(NO_TELEMETRY),
    Metric::new("telemetry.out_of_contract", Count, Correctness, "telemetry series outside the contract", |s, _| {
        telemetry(s, |r| r.out_of_contract.len() as u64)
    })
    .absent(NO_TELEMETRY),
    Metric::new("start_lag.p50", Millis, Capacity, "median start lag of scheduled operations", |s, _| {
        s.start_lag_ms.get("p50")
    })
    .absent(NO_START)
    .chance(START_LAG),
    Metric::new("start_lag.p90", Millis, Capacity, "90th percentile start lag", |s, _| s.start_lag_ms.get("p90"))
        .absent(NO_START)
        .chance(START_LAG),
    Metric::new("start_lag.p95", Millis, Capacity, "95th percentile start lag", |s, _| s.start_lag_ms.get("p95"))
        .absent(NO_START)
        .chance(START_LAG),
    Metric::new("start_lag.p99", Millis, Capacity, "99th percentile start lag", |s, _| s.start_lag_ms.get("p99"))
        .absent(NO_START)
        .chance(START_LAG),
    Metric::new("start_lag.max", Millis, Capacity, "largest start lag", |s, _| s.start_lag_ms.get("max"))
        .absent(NO_START)
        .chance(START_LAG),
    Metric::new(
        "expected_failures.KIND",
        Count,
        Correctness,
        "expected failures of one kind that failed as they should",
        |s, kind| s.totals.counters.expected_failures.get(kind).map(|n| *n as f64),
    ),
    Metric::new("OP.min", Millis, Capacity, "fastest successful command of the kind", |s, op| latency(s, op, "min"))
        .absent(NO_OP)
        .chance(OP_LATENCY),
    Metric::new("OP.p50", Millis, Capacity, "median latency of the kind's successful commands", |s, op| {
        latency(s, op, "p50")
    })
    .absent(NO_OP)
    .chance(OP_LATENCY),
    Metric::new("OP.p90", Millis, Capacity, "90th percentile latency of the kind", |s, op| latency(s, op, "p90"))
        .absent(NO_OP)
        .chance(OP_LATENCY),
    Metric::new("OP.p95", Millis, Capacity, "95th percentile latency of the kind", |s, op| latency(s, op, "p95"))
        .absent(NO_OP)
        .chance(OP_LATENCY),
    Metric::new("OP.p99", Millis, Capacity, "99th percentile latency of the kind", |s, op| latency(s, op, "p99"))
        .absent(NO_OP)
        .chance(OP_LATENCY),
    Metric::new("OP.max", Millis, Capacity, "slowest successful command of the kind", |s, op| latency(s, op, "max"))
        .absent(NO_OP)
        .chance(OP_LATENCY),
    Metric::new("OP.mean", Millis, Capacity, "mean latency of the kind's successful commands", |s, op| {
        latency(s, op, "mean")
    })
    .absent(NO_OP)
    .chance(OP_LATENCY),
    Metric::new("OP.count", Count, Correctness, "commands of the kind that ended", |s, op| count(of_kind(s, op).0))
        .absent(NO_OP),
    Metric::new("OP.failures", Count, Correctness, "commands of the kind that failed", |s, op| count(of_kind(s, op).1))
        .absent(NO_OP),
    Metric::new("OP.failure_rate", Ratio, Correctness, "failed / ended, for one kind", |s, op| {
        let (ended, failed) = of_kind(s, op);
        (ended > 0).then(|| failed as f64 / ended as f64)
    })
    .absent(NO_OP),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_finds_its_own_entry_and_no_two_entries_share_a_name() {
        let names = names();
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "a name is listed twice");
        let expanded: usize = CATALOGUE.iter().map(|m| m.over().values().len()).sum();
        assert_eq!(names.len(), expanded);
        for name in &names {
            let (m, part) = find(name).unwrap_or_else(|| panic!("{name} finds no entry"));
            assert!(m.names().contains(name), "{name} found {}", m.pattern);
            assert_eq!(m.over() == Over::Nothing, part.is_empty(), "{name}");
            let others = CATALOGUE.iter().filter(|o| o.matches(name).is_some()).count();
            assert_eq!(others, 1, "{name} matches {others} entries");
        }
        for name in ["", "upload", "upload.", "OP.p95", "upload.p42", "start_lag.mean", "expected_failures.upload"] {
            assert!(find(name).is_none(), "{name}");
        }
    }

    /// The backticked words of `text`.
    fn ticked(text: &str) -> Vec<&str> {
        text.split('`').skip(1).step_by(2).collect()
    }

    /// The text between `from` and the next `to` after it.
    fn between<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
        let rest = text.split_once(from).unwrap_or_else(|| panic!("{from:?} not in docs/thresholds.md")).1;
        rest.split_once(to).map_or(rest, |(inside, _)| inside)
    }

    #[test]
    fn the_docs_list_every_catalogue_entry_with_its_unit_and_nothing_else() {
        let doc = include_str!("../../docs/thresholds.md");
        let rows: Vec<Vec<&str>> = doc
            .lines()
            .skip_while(|l| !l.starts_with("| metric | unit | value |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.split('|').map(str::trim).collect())
            .collect();
        let documented: std::collections::BTreeMap<&str, &str> =
            rows.iter().flat_map(|r| ticked(r[1]).into_iter().map(|name| (name, r[2]))).collect();
        let unit = |u: Unit| match u {
            Unit::Ratio => "ratio",
            Unit::Millis => "ms",
            Unit::Count => "count",
        };
        for m in CATALOGUE {
            assert_eq!(
                documented.get(m.pattern),
                Some(&unit(m.unit)),
                "{} in docs/thresholds.md's metric list",
                m.pattern
            );
        }
        for name in documented.keys() {
            assert!(
                CATALOGUE.iter().any(|m| m.pattern == *name),
                "docs/thresholds.md lists {name}, not in the catalogue"
            );
        }
        // What the placeholders stand for, as the docs name them.
        let prose = doc.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut ops = ticked(between(&prose, "`OP` is a command kind:", ")"));
        let mut kinds = ticked(between(&prose, "or an expected-failure kind (", ";"));
        let class_row = rows.iter().find(|r| r[1] == "`integrity.CLASS`").expect("the integrity.CLASS row");
        let mut classes = ticked(class_row[3]);
        for (docs, over) in [(&mut ops, Over::Op), (&mut kinds, Over::Kind), (&mut classes, Over::Class)] {
            let mut model = over.values();
            model.sort_unstable();
            docs.sort_unstable();
            assert_eq!(*docs, model, "docs/thresholds.md's {over:?} values");
        }
    }

    #[test]
    fn each_pattern_has_at_most_one_placeholder_and_only_capacity_is_weighed_against_chance() {
        for m in CATALOGUE {
            let placeholders = m.pattern.split('.').filter(|p| ["OP", "KIND", "CLASS"].contains(p)).count();
            assert!(placeholders <= 1, "{}", m.pattern);
            assert!(!m.meaning.is_empty() && !m.absent.is_empty(), "{}", m.pattern);
            if !matches!(m.chance, Chance::None) {
                assert_eq!(m.class, Class::Capacity, "{}: chance excuses only capacity", m.pattern);
            }
        }
        let (m, part) = find("head_object.p95").unwrap();
        assert_eq!(
            (m.pattern, part, m.why_absent(part)),
            ("OP.p95", "head_object", "no head_object command ran".into())
        );
        assert_eq!(find("integrity.mismatch").map(|(m, p)| (m.pattern, p)), Some(("integrity.CLASS", "mismatch")));
    }
}
