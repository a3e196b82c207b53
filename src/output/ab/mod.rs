//! `ab`'s outputs, one file per format, as hyperfine's `src/export/` keeps them: the
//! terminal table (`text`), GitHub markdown (`markdown`), JUnit (`junit`), the summary
//! JSON (`json`) and the HTML report (`html`, drawn by `output::html::ab`). Each is an
//! `Exporter` of the same findings, so the command prints and writes them all alike.

pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod text;

use crate::model::ab::{AbSummary, Curves};
use crate::model::error::Error;

/// Everything an output of `ab` may draw: the summary (the comparison, both builds'
/// counts, the run's own summary) and, for the HTML report, each comparison's latencies.
pub struct Findings<'a> {
    pub summary: &'a AbSummary,
    pub curves: &'a [Curves],
}

/// One output format of `ab`.
pub trait Exporter {
    /// The whole file (or the terminal's text); an error says why it cannot be made.
    fn serialize(&self, findings: &Findings) -> Result<String, Error>;
}

#[cfg(test)]
mod tests {
    use crate::analysis::ab::analyse;
    use crate::analysis::ab::tests::{S, samples};
    use crate::model::ab::TelemetryDiff;
    use crate::model::verdict::Judgement;
    use crate::output::ab::junit::junit_xml;
    use crate::output::ab::markdown::{MARKDOWN_LIMIT, markdown};
    use crate::output::ab::text::{headline, table};

    #[test]
    fn a_slower_b_is_named_in_the_headline_the_markdown_and_the_junit_file() {
        let r = analyse(&samples(80, 1.3, 0, 1), S, None);
        assert!(headline(&r).contains("upload/small"), "{}", headline(&r));
        let md = markdown(&r);
        assert!(md.contains("| upload/small |") && md.len() < MARKDOWN_LIMIT);
        let xml = junit_xml(&r);
        assert!(xml.contains("<failure message=\"B slower"), "{xml}");
        // A host that limited the run: the inconclusive cases are skipped.
        let r = analyse(&samples(80, 1.0, 0, 2), S, Some("busy"));
        let xml = junit_xml(&r);
        assert!(xml.contains("<skipped message="), "{xml}");
    }

    #[test]
    fn a_family_b_gets_further_from_the_truth_is_named_in_every_output() {
        let d = TelemetryDiff {
            family: "uploads_total".into(),
            verdict_a: "match".into(),
            verdict_b: "MISMATCH".into(),
            a: (40.0, 40.0),
            b: (40.0, 0.0),
            n: (40, 40),
            rate_a: 1.0,
            rate_b: 0.0,
            worse: Some((1.0, 1.0, 1.0)),
            verdict: Judgement::Fail,
            reason: "B's reports are 100.0% further from the truth than A's (beyond 10.0%)".into(),
        };
        let mut r = analyse(&samples(80, 1.0, 0, 2), S, None);
        r.telemetry = vec![d];
        r.verdict = Judgement::Fail;
        assert!(headline(&r).contains("FAIL: telemetry uploads_total"), "{}", headline(&r));
        let text = table(&r);
        assert!(
            text.contains(
                "telemetry uploads_total: A match (40 commands, reported/expected 1.00), B MISMATCH (40 commands, 0.00)"
            ),
            "{text}"
        );
        assert!(markdown(&r).contains("further from the truth"), "{}", markdown(&r));
        let xml = junit_xml(&r);
        assert!(xml.contains("telemetry uploads_total") && xml.contains("<failure"), "{xml}");
    }
}
