//! `ab --markdown`: the table as GitHub-flavoured markdown, for `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write as _;

use crate::model::ab::AbReport;
use crate::model::error::Error;
use crate::output::ab::text::{HEAD, calibration, headline, rows, server_lines, telemetry_lines};
use crate::output::ab::{Exporter, Findings};

/// GitHub's limit on a step summary is 1 MiB; the markdown stays well under it.
pub const MARKDOWN_LIMIT: usize = 1024 * 1024 - 4096;

pub struct Markdown;

impl Exporter for Markdown {
    fn serialize(&self, f: &Findings) -> Result<String, Error> {
        Ok(markdown(&f.summary.ab))
    }
}

/// GitHub-flavoured markdown, for `$GITHUB_STEP_SUMMARY` (cut to stay under 1 MiB).
pub fn markdown(r: &AbReport) -> String {
    let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("### trafficgen ab: {}\n\n", esc(&headline(r)));
    let _ = writeln!(out, "A: `{}`  \nB: `{}`\n", esc(&r.binary_a), esc(&r.binary_b));
    let _ = writeln!(out, "| {} |", HEAD.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEAD.len()));
    for row in rows(r) {
        let line = format!("| {} |\n", row.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | "));
        if out.len() + line.len() > MARKDOWN_LIMIT {
            out.push_str("\n(cut to stay under the step summary's 1 MiB)\n");
            return out;
        }
        out.push_str(&line);
    }
    let tele = telemetry_lines(r) + &server_lines(r);
    if !tele.is_empty() {
        let _ = write!(out, "\n```\n{tele}```\n");
    }
    if r.calibrate {
        let _ = write!(out, "\n```\n{}```\n", calibration(r));
    }
    for n in &r.notes {
        let _ = writeln!(out, "\n> warning: {}", esc(n));
    }
    out
}
