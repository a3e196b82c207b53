//! Pass/fail thresholds on a run's metrics, written the way k6 writes them:
//! `NAME OP VALUE`, e.g. `failure_rate<1%`, `upload.p95<8s`, `integrity_failures==0`.
//!
//! Pure: parsing, and evaluation against a lookup the caller provides. The names, units
//! and classes come from the one metric catalogue, `model::metrics`. Nothing here reads
//! a run.

use std::sync::LazyLock;

use crate::config::Invalid;
use crate::model::metrics;
use crate::model::verdict::{Class, Judgement, Outcome, Unit};

/// The class of a metric (model::metrics): capacity for rates of the schedule,
/// latencies and the mix's fidelity; correctness for everything else (counts of what ran
/// and how it ended), and for a name that is not a metric.
pub fn class_of(metric: &str) -> Class {
    metrics::find(metric).map_or(Class::Correctness, |(m, _)| m.class)
}

/// Whether a threshold asks that something happened at least so often (`X.count>0`,
/// `confirmed_uploads>=1`): a count of what ran, which a host that held slots back can
/// miss without the client being at fault.
pub fn is_minimum_count(t: &Threshold) -> bool {
    t.unit == Unit::Count && matches!(t.cmp, Cmp::Gt | Cmp::Ge) && t.limit >= 0.0
}

/// The comparison of a threshold: `<` `<=` `>` `>=` `==` `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
        }
    }

    /// Whether `value OP limit` is true. Exact comparison is safe here because limits are
    /// read from their decimal text with a scaled exponent (`1.5s` is parsed as `1.5e3`,
    /// `0.7%` as `0.7e-2`), so `<= 0.7%` meets a measured 7/1000 exactly, not one ulp off.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => value < limit,
            Cmp::Le => value <= limit,
            Cmp::Gt => value > limit,
            Cmp::Ge => value >= limit,
            Cmp::Eq => value == limit,
            Cmp::Ne => value != limit,
        }
    }
}

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// Normalized text, without spaces, e.g. `upload.p95<8s`.
    pub text: String,
    pub metric: String,
    pub cmp: Cmp,
    /// In the metric's unit: a ratio 0..1, milliseconds, or a count.
    pub limit: f64,
    pub unit: Unit,
}

/// `max_telemetry_mismatches = N` (the profile) or `max_telemetry_mismatches=N` (the
/// command line) reads as `telemetry_mismatches<=N`.
const MAX_MISMATCHES: &str = "max_telemetry_mismatches";

fn max_mismatches(rest: &str) -> Option<String> {
    let n = rest.trim().trim_start_matches('=').trim();
    (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit())).then(|| format!("telemetry_mismatches<={n}"))
}

/// The unit of a metric in the catalogue (model::metrics), or None for a name that
/// does not exist.
pub fn unit_of(name: &str) -> Option<Unit> {
    metrics::find(name).map(|(m, _)| m.unit)
}

/// Every catalogue name, in the catalogue's stable order (plain names first, then per
/// operation) so suggestions come out predictably; built once.
fn catalogue() -> &'static [String] {
    static NAMES: LazyLock<Vec<String>> = LazyLock::new(metrics::names);
    &NAMES
}

/// Catalogue names close to `name` (at most three), for "did you mean" hints: the nearest
/// by edit distance, else names that share a dotted part with it (`p95` → `upload.p95`).
pub fn suggestions(name: &str) -> Vec<String> {
    let name = name.trim();
    if name.is_empty() {
        return Vec::new();
    }
    // A quarter of the length lets longer names carry more typos, capped so a short
    // name is not "close" to everything.
    let budget = (name.chars().count() / 4).clamp(1, 3);
    let near: Vec<(usize, &String)> =
        catalogue().iter().map(|c| (distance(name, c), c)).filter(|(d, _)| *d <= budget).collect();
    // Only the nearest tier: `uplod.p95` means upload.p95, not also upload.p90.
    if let Some(best) = near.iter().map(|(d, _)| *d).min() {
        return near.into_iter().filter(|(d, _)| *d == best).take(3).map(|(_, c)| c.clone()).collect();
    }
    catalogue().iter().filter(|c| c.split('.').any(|part| part == name)).take(3).cloned().collect()
}

/// Levenshtein distance over chars.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parses `NAME OP VALUE` (spaces allowed around the parts), e.g. `upload.p95 < 8s`.
/// `unit_of` tells whether a name exists and its unit (None = unknown name); pass
/// [`unit_of`] for the static catalogue.
pub fn parse(expr: &str, unit_of: impl Fn(&str) -> Option<Unit>) -> Result<Threshold, Invalid> {
    if let Some(rest) = expr.trim().strip_prefix(MAX_MISMATCHES)
        && let Some(rule) = max_mismatches(rest)
    {
        return parse(&rule, unit_of);
    }
    let shown = expr.trim();
    let Some(at) = shown.find(['<', '>', '=', '!']) else {
        let example = match shown.split_once(char::is_whitespace) {
            Some((name, value)) => format!("{name}<{}", value.trim()),
            None => "failure_rate<1%".to_string(),
        };
        return Err(Invalid(format!(
            "threshold {shown:?}: no comparison; write NAME OP VALUE with OP one of < <= > >= == !=, \
             e.g. {example}"
        )));
    };
    let (name, condition) = shown.split_at(at);
    build(shown, name.trim(), condition, unit_of)
}

/// Parses the profile's form, where the key is the metric and the value the condition
/// without the name: `metric = "upload.p95"`, `condition = "<8s"`.
pub fn parse_pair(metric: &str, condition: &str, unit_of: impl Fn(&str) -> Option<Unit>) -> Result<Threshold, Invalid> {
    if metric.trim() == MAX_MISMATCHES
        && let Some(rule) = max_mismatches(condition)
    {
        return parse(&rule, unit_of);
    }
    let shown = format!("{}{}", metric.trim(), condition.trim());
    let condition = condition.trim_start();
    if !condition.starts_with(['<', '>', '=', '!']) {
        return Err(Invalid(format!(
            "threshold {shown:?}: the condition {condition:?} must start with one of < <= > >= == !=, e.g. \"<1%\""
        )));
    }
    build(&shown, metric.trim(), condition, unit_of)
}

/// The shared part of both forms: `condition` starts with the operator.
fn build(
    shown: &str,
    name: &str,
    condition: &str,
    unit_of: impl Fn(&str) -> Option<Unit>,
) -> Result<Threshold, Invalid> {
    let fail = |what: String| Invalid(format!("threshold {shown:?}: {what}"));
    if name.is_empty() {
        return Err(fail(format!("no metric name before {:?}", condition.trim())));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
        return Err(fail(format!("{name:?} is not a metric name (names look like failure_rate or upload.p95)")));
    }
    let Some(unit) = unit_of(name) else {
        // Only offer names the caller's catalogue really has.
        let hints: Vec<String> = suggestions(name).into_iter().filter(|s| unit_of(s).is_some()).collect();
        return Err(match hints.is_empty() {
            true => fail(format!("unknown metric {name:?}")),
            false => fail(format!("unknown metric {name:?} (did you mean {}?)", hints.join(" or "))),
        });
    };
    let op_len = condition.find(|c| !matches!(c, '<' | '>' | '=' | '!')).unwrap_or(condition.len());
    let (op, value) = condition.split_at(op_len);
    let cmp = match op {
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        ">" => Cmp::Gt,
        ">=" => Cmp::Ge,
        "==" => Cmp::Eq,
        "!=" => Cmp::Ne,
        "=" => return Err(fail("\"=\" is not an operator; use == for equality".to_string())),
        other => return Err(fail(format!("unknown operator {other:?}; use one of < <= > >= == !="))),
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(fail(format!("no value after {op}")));
    }
    let (limit, written) = read_limit(name, value, unit).map_err(fail)?;
    Ok(Threshold { text: format!("{name}{}{written}", cmp.symbol()), metric: name.to_string(), cmp, limit, unit })
}

/// Reads a limit in `unit`; returns it and its normalized text (no inner spaces).
fn read_limit(name: &str, value: &str, unit: Unit) -> Result<(f64, String), String> {
    let hint = match unit {
        Unit::Ratio => "give a percentage such as 1% or a fraction such as 0.01",
        Unit::Millis => "give a duration such as 8s or 500ms",
        Unit::Count => "give a plain number such as 0",
    };
    let digits = value.strip_prefix('+').unwrap_or(value);
    if digits.starts_with('-') {
        return Err(format!("limit {value:?} is negative; {name} is never below 0"));
    }
    let end = digits.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(digits.len());
    let (number, suffix) = digits.split_at(end);
    let suffix = suffix.trim_start();
    if number.is_empty() || number.parse::<f64>().is_err() {
        return Err(format!("{value:?} is not a number; {hint}"));
    }
    let is_duration = matches!(suffix, "ms" | "s" | "m" | "h" | "us" | "µs");
    // The power of ten is applied in the decimal text so the limit is the correctly
    // rounded value of what was written (see `Cmp::holds`).
    let exact = |exponent: i32| format!("{number}e{exponent}").parse::<f64>().unwrap_or(f64::NAN);
    let limit = match (unit, suffix) {
        (Unit::Ratio, "") => {
            let fraction = exact(0);
            if fraction > 1.0 {
                return Err(format!(
                    "a plain number on a ratio is a fraction (1 = 100%); write {number}% if you meant percent"
                ));
            }
            fraction
        }
        (Unit::Ratio, "%") => exact(-2),
        (Unit::Count, "") => exact(0),
        (Unit::Millis, "" | "ms") => exact(0),
        (Unit::Millis, "s") => exact(3),
        (Unit::Millis, "m") => exact(3) * 60.0,
        (Unit::Millis, "h") => exact(3) * 3600.0,
        (Unit::Millis, "us" | "µs") => exact(-3),
        (Unit::Ratio, _) if is_duration => return Err(format!("{name} is a ratio, not a duration; {hint}")),
        (Unit::Count, _) if is_duration => return Err(format!("{name} is a count, not a duration; {hint}")),
        (Unit::Millis, "%") => return Err(format!("{name} is a latency; {hint}")),
        (Unit::Count, "%") => return Err(format!("{name} is a count, not a percentage; {hint}")),
        (_, other) => return Err(format!("unexpected {other:?} after {number}; {hint}")),
    };
    if !limit.is_finite() {
        return Err(format!("limit {value:?} is too large"));
    }
    Ok((limit, format!("{number}{suffix}")))
}

/// How one threshold came out.
/// Checks every threshold against `lookup` (metric name → measured value).
///
/// A metric with no value — `lookup` returns None (e.g. the latency of an operation that
/// never ran, a failure rate over no commands) or a value that is not finite — is
/// INCONCLUSIVE, whatever the comparison, with `why(metric)` as its reason and `value:
/// None` so the report can say "not measured". It never passes: nothing measured proves
/// no bound, and a run that silently stopped doing an operation must not look healthy.
pub fn evaluate(ts: &[Threshold], lookup: impl Fn(&str) -> Option<f64>, why: impl Fn(&str) -> String) -> Vec<Outcome> {
    ts.iter()
        .map(|t| {
            let value = lookup(&t.metric).filter(|v| v.is_finite());
            let status = match value {
                None => Judgement::Inconclusive,
                Some(v) if t.cmp.holds(v, t.limit) => Judgement::Pass,
                Some(_) => Judgement::Fail,
            };
            Outcome {
                threshold: t.text.clone(),
                metric: t.metric.clone(),
                value,
                limit: t.limit,
                unit: t.unit,
                class: class_of(&t.metric),
                passed: status == Judgement::Pass,
                status,
                reason: (status == Judgement::Inconclusive).then(|| why(&t.metric)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::events::OpType;
    use crate::model::verdict::show;

    fn ok(expr: &str) -> Threshold {
        parse(expr, unit_of).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn err(expr: &str) -> String {
        let e = parse(expr, unit_of).expect_err(expr).0;
        assert!(e.starts_with(&format!("threshold {:?}: ", expr.trim())), "{e}");
        e
    }

    #[test]
    fn the_documented_examples_parse_with_unit_and_limit() {
        let cases = [
            ("failure_rate<1%", "failure_rate", Cmp::Lt, 0.01, Unit::Ratio),
            ("achieved_ratio>=0.95", "achieved_ratio", Cmp::Ge, 0.95, Unit::Ratio),
            ("shortfall_rate < 5%", "shortfall_rate", Cmp::Lt, 0.05, Unit::Ratio),
            ("upload.p95<8s", "upload.p95", Cmp::Lt, 8000.0, Unit::Millis),
            ("download.p99<10s", "download.p99", Cmp::Lt, 10_000.0, Unit::Millis),
            ("integrity_failures==0", "integrity_failures", Cmp::Eq, 0.0, Unit::Count),
            (
                "expected_failures.unexpected_success==0",
                "expected_failures.unexpected_success",
                Cmp::Eq,
                0.0,
                Unit::Count,
            ),
            ("download_share_error<3%", "download_share_error", Cmp::Lt, 0.03, Unit::Ratio),
        ];
        for (expr, metric, cmp, limit, unit) in cases {
            let t = ok(expr);
            assert_eq!((t.metric.as_str(), t.cmp, t.limit, t.unit), (metric, cmp, limit, unit), "{expr}");
        }
        assert_eq!(ok("  shortfall_rate <  5%  ").text, "shortfall_rate<5%");
        assert_eq!(ok("upload.p95<8s").text, "upload.p95<8s");
    }

    #[test]
    fn every_operator_and_value_form() {
        let ops = [("<", Cmp::Lt), ("<=", Cmp::Le), (">", Cmp::Gt), (">=", Cmp::Ge), ("==", Cmp::Eq), ("!=", Cmp::Ne)];
        for (sym, cmp) in ops {
            let t = ok(&format!("failures {sym} 3"));
            assert_eq!((t.cmp, t.cmp.symbol(), t.limit), (cmp, sym, 3.0));
        }
        let millis =
            [("500ms", 500.0), ("1.5s", 1500.0), ("2m", 120_000.0), ("250us", 0.25), ("40", 40.0), ("8 s", 8000.0)];
        for (v, ms) in millis {
            assert_eq!(ok(&format!("upload.p95<{v}")).limit, ms, "{v}");
        }
        assert_eq!(ok("failure_rate<0.5%").limit, 0.005);
        // Exact decimal reading: 0.7% is the same double as 7/1000.
        assert_eq!(ok("failure_rate<=0.7%").limit, 7.0 / 1000.0);
        assert_eq!(ok("achieved_ratio<=105%").limit, 1.05);
        assert_eq!(ok("start_lag.p99<1s").unit, Unit::Millis);
        assert_eq!(ok("upload.failure_rate<1%").unit, Unit::Ratio);
        assert_eq!(ok("wrong_credentials.count>0").unit, Unit::Count);
        assert_eq!(ok("expected_failures.missing_key_head>=1").unit, Unit::Count);
    }

    #[test]
    fn the_profile_form_reads_the_condition_after_the_name() {
        let t = parse_pair("upload.p95", " <= 8s", unit_of).unwrap();
        assert_eq!((t.text.as_str(), t.cmp, t.limit), ("upload.p95<=8s", Cmp::Le, 8000.0));
        let e = parse_pair("failure_rate", "1%", unit_of).unwrap_err().0;
        assert!(e.contains("\"failure_rate1%\"") && e.contains("must start with"), "{e}");
        let e = parse_pair("upload.p95", "<8%", unit_of).unwrap_err().0;
        assert!(e.contains("is a latency"), "{e}");
    }

    #[test]
    fn bad_thresholds_say_which_and_what_is_wrong() {
        let e = err("upload.p95<8%");
        assert_eq!(e, "threshold \"upload.p95<8%\": upload.p95 is a latency; give a duration such as 8s or 500ms");
        let e = err("failur_rate<1%");
        assert_eq!(e, "threshold \"failur_rate<1%\": unknown metric \"failur_rate\" (did you mean failure_rate?)");
        assert!(err("failures<1%").contains("failures is a count"));
        assert!(err("failure_rate<8s").contains("is a ratio, not a duration"));
        assert!(err("integrity_failures==1s").contains("is a count, not a duration"));
        assert!(err("failure_rate<-1%").contains("negative"));
        assert!(err("failures<inf").contains("not a number"));
        assert!(err("failures<NaN").contains("not a number"));
        assert!(err(&format!("failures<{}", "9".repeat(400))).contains("too large"));
        assert!(err("<1%").contains("no metric name"));
        assert!(err("failure_rate 1%").contains("no comparison"));
        assert!(err("failure_rate 1%").contains("e.g. failure_rate<1%"));
        assert!(err("failure_rate<1% or so").contains("unexpected"));
        assert!(err("failure_rate<1%%").contains("unexpected"));
        assert!(err("failure_rate<1.2.3%").contains("not a number"));
        assert!(err("failure_rate<").contains("no value after <"));
        assert!(err("failure_rate=0").contains("use =="));
        assert!(err("failure_rate=<1%").contains("unknown operator \"=<\""));
        assert!(err("failure rate<1%").contains("is not a metric name"));
        assert!(err("failure_rate<5").contains("write 5% if you meant percent"));
        assert!(err("bogus<1").contains("unknown metric \"bogus\""));
    }

    #[test]
    fn suggestions_come_only_from_the_callers_names() {
        assert_eq!(suggestions("uplod.p95"), ["upload.p95"]);
        assert!(suggestions("p95").contains(&"upload.p95".to_string()));
        assert!(suggestions("zzzzzzzz").is_empty());
        let only_counts = |n: &str| unit_of(n).filter(|u| *u == Unit::Count);
        let e = parse("failur_rate<1%", only_counts).unwrap_err().0;
        assert!(!e.contains("did you mean"), "{e}");
    }

    #[test]
    fn the_catalogue_and_unit_of_agree() {
        for name in catalogue() {
            assert!(unit_of(name).is_some(), "{name}");
        }
        // 7 ratios, 21 counts, 5 start-lag statistics, one count per expected-failure
        // kind, and per command kind 7 latencies, 2 counts and a failure rate.
        let expected = 7 + 21 + 5 + OpType::EXPECTED_FAILURES.len() + OpType::ALL.len() * 10;
        assert_eq!(catalogue().len(), expected);
        for name in ["", "upload", "upload.", "upload.p42", "start_lag.mean", "expected_failures.upload", "x.count"] {
            assert_eq!(unit_of(name), None, "{name}");
        }
    }

    #[test]
    fn evaluate_at_the_boundary_and_without_a_value() {
        let ts = [ok("failure_rate<1%"), ok("failure_rate<=1%"), ok("upload.p95>8s"), ok("download.p99<10s")];
        let out = evaluate(
            &ts,
            |m| match m {
                "failure_rate" => Some(0.01),
                "upload.p95" => Some(8000.0),
                _ => None,
            },
            |m| format!("no {m}"),
        );
        let status: Vec<Judgement> = out.iter().map(|o| o.status).collect();
        assert_eq!(status, [Judgement::Fail, Judgement::Pass, Judgement::Fail, Judgement::Inconclusive]);
        let passed: Vec<bool> = out.iter().map(|o| o.passed).collect();
        assert_eq!(passed, [false, true, false, false]);
        assert_eq!(out[3].value, None);
        assert_eq!(out[3].reason.as_deref(), Some("no download.p99"));
        assert_eq!(out[0].reason, None);
        assert_eq!(out[0].threshold, "failure_rate<1%");
        let nan = evaluate(&[ok("failures!=3")], |_| Some(f64::NAN), |_| String::new());
        assert!(!nan[0].passed && nan[0].value.is_none() && nan[0].status == Judgement::Inconclusive);
        let json = serde_json::to_value(&out[3]).unwrap();
        assert_eq!(json["unit"], "millis");
        assert_eq!(json["status"], "inconclusive");
        assert!(json["value"].is_null());
    }

    #[test]
    fn show_renders_each_unit() {
        assert_eq!(show(0.0042, Unit::Ratio), "0.42%");
        assert_eq!(show(812.4, Unit::Millis), "812 ms");
        assert_eq!(show(9999.0, Unit::Millis), "9999 ms");
        assert_eq!(show(12_340.0, Unit::Millis), "12.34 s");
        assert_eq!(show(0.25, Unit::Millis), "0.25 ms");
        assert_eq!(show(3.0, Unit::Count), "3");
        assert_eq!(show(2.5, Unit::Count), "2.50");
        assert_eq!(show(f64::NAN, Unit::Count), "n/a");
    }
}
