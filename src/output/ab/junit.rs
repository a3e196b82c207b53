//! `ab --junit`: a test case per comparison, server row, telemetry family and the lost
//! exports, in the JUnit format the run's own file uses (`output::export::junit`).

use crate::model::ab::AbReport;
use crate::model::error::Error;
use crate::model::verdict::Judgement;
use crate::output::ab::text::rate;
use crate::output::ab::{Exporter, Findings};
use crate::output::export::junit::{Case, render};

pub struct Junit;

impl Exporter for Junit {
    fn serialize(&self, f: &Findings) -> Result<String, Error> {
        Ok(junit_xml(&f.summary.ab))
    }
}

/// JUnit: a case per comparison; INCONCLUSIVE is skipped.
pub fn junit_xml(r: &AbReport) -> String {
    let cases: Vec<Case> = r
        .comparisons
        .iter()
        .map(|c| Case {
            name: c.name(),
            classname: "ab".into(),
            failure: (c.verdict == Judgement::Fail).then(|| c.reason.clone()),
            skipped: (c.verdict == Judgement::Inconclusive).then(|| c.reason.clone()),
            detail: c
                .shift
                .as_ref()
                .map(|x| format!("shift {:+.1}% [{:+.1}, {:+.1}]", x.rel * 100.0, x.rel_lo * 100.0, x.rel_hi * 100.0))
                .unwrap_or_default(),
        })
        .chain(r.server.iter().map(|s| Case {
            name: format!("server {} per {}", s.api, s.per),
            classname: "ab".into(),
            failure: (s.verdict == Judgement::Fail).then(|| s.reason.clone()),
            skipped: (s.verdict == Judgement::Inconclusive).then(|| s.reason.clone()),
            detail: format!("A {:.2}, B {:.2}", s.a, s.b),
        }))
        .chain(r.telemetry.iter().map(|t| Case {
            name: format!("telemetry {}", t.family),
            classname: "ab".into(),
            failure: (t.verdict == Judgement::Fail).then(|| t.reason.clone()),
            skipped: (t.verdict == Judgement::Inconclusive).then(|| t.reason.clone()),
            detail: format!(
                "A {} ({} commands, reported/expected {}), B {} ({} commands, {})",
                t.verdict_a,
                t.n.0,
                rate(t.rate_a),
                t.verdict_b,
                t.n.1,
                rate(t.rate_b)
            ),
        }))
        .chain(r.lost_exports.iter().map(|l| Case {
            name: "telemetry lost exports".into(),
            classname: "ab".into(),
            failure: (l.verdict == Judgement::Fail).then(|| l.reason.clone()),
            skipped: (l.verdict == Judgement::Inconclusive).then(|| l.reason.clone()),
            detail: l.reason.clone(),
        }))
        .collect();
    render("trafficgen ab", &cases, 0.0)
}
