//! `ab`'s terminal table: a row per operation kind × size class, then the telemetry,
//! the server's view, the calibration, the warnings and the headline. Its rows and lines
//! are shared with the markdown and the JUnit file.

use std::fmt::Write as _;

use crate::model::ab::AbReport;
use crate::model::error::Error;
use crate::model::verdict::Judgement;
use crate::output::ab::{Exporter, Findings};
use crate::output::units::{ms, pct};

/// The terminal's text.
pub struct Text;

impl Exporter for Text {
    fn serialize(&self, f: &Findings) -> Result<String, Error> {
        Ok(table(&f.summary.ab))
    }
}

/// The rows of the table, as cells (shared by the terminal and the markdown).
pub fn rows(r: &AbReport) -> Vec<[String; 10]> {
    r.comparisons
        .iter()
        .map(|c| {
            let (n, p50, p95, shift, iqr) = match &c.shift {
                Some(x) => (
                    format!("{}/{}", x.n_a, x.n_b),
                    format!("{} → {}", ms(x.median_a), ms(x.median_b)),
                    format!("{} → {}", ms(x.p95_a), ms(x.p95_b)),
                    format!("{:+.1}% [{:+.1}, {:+.1}]", x.rel * 100.0, x.rel_lo * 100.0, x.rel_hi * 100.0),
                    format!("{:.2} [{:.2}, {:.2}]", x.iqr_ratio, x.iqr_lo, x.iqr_hi),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
            };
            let f = &c.failures;
            [
                c.name(),
                n,
                p50,
                p95,
                shift,
                if c.shift.is_some() { format!("{:.3}", c.p_holm) } else { "-".into() },
                format!("{}/{} · {}/{}", f.failed_a, f.total_a, f.failed_b, f.total_b),
                iqr,
                c.verdict.name().to_string(),
                c.reason.clone(),
            ]
        })
        .collect()
}

pub const HEAD: [&str; 10] = [
    "operation/size",
    "n A/B",
    "p50 ms A → B",
    "p95 ms A → B",
    "shift B−A [95% CI]",
    "p (Holm)",
    "failed A · B",
    "IQR B/A [95% CI]",
    "verdict",
    "why",
];

/// The last line: the verdict, what was compared, and every FAIL named.
pub fn headline(r: &AbReport) -> String {
    let mut failed: Vec<String> =
        r.comparisons.iter().filter(|c| c.verdict == Judgement::Fail).map(|c| c.name()).collect();
    failed
        .extend(r.telemetry.iter().filter(|t| t.verdict == Judgement::Fail).map(|t| format!("telemetry {}", t.family)));
    if r.lost_exports.as_ref().is_some_and(|l| l.verdict == Judgement::Fail) {
        failed.push("telemetry lost exports".into());
    }
    let what = if r.calibrate { "A against A (calibration)" } else { "B against A" };
    let mut s = format!(
        "ab {}: {what}, tolerance {}, max failure delta {}",
        r.verdict.name(),
        pct(r.tolerance),
        pct(r.max_failure_delta)
    );
    if !failed.is_empty() {
        let _ = write!(s, "; FAIL: {}", failed.join(", "));
    }
    s
}

/// The terminal table.
pub fn table(r: &AbReport) -> String {
    let rows = rows(r);
    let mut width = HEAD.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            // The last column (why) is not padded.
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ", w = width[i]);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = format!("\nA: {}\nB: {}\n", r.binary_a, r.binary_b);
    out += &line(&HEAD.map(String::from));
    for row in &rows {
        out += &line(row);
    }
    out += &telemetry_lines(r);
    out += &server_lines(r);
    if r.calibrate {
        out += &calibration(r);
    }
    for n in &r.notes {
        let _ = writeln!(out, "warning: {n}");
    }
    let _ = writeln!(out, "{}", headline(r));
    out
}

/// The telemetry families both builds moved, compared, and the lost exports.
pub fn telemetry_lines(r: &AbReport) -> String {
    let mut out = String::new();
    for t in &r.telemetry {
        let worse = match t.worse {
            Some((w, lo, hi)) => format!("{:+.1}% [{:+.1}, {:+.1}]", w * 100.0, lo * 100.0, hi * 100.0),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "telemetry {}: A {} ({} commands, reported/expected {}), B {} ({} commands, {}), B further from the truth {}: {} ({})",
            t.family,
            t.verdict_a,
            t.n.0,
            rate(t.rate_a),
            t.verdict_b,
            t.n.1,
            rate(t.rate_b),
            worse,
            t.verdict.name(),
            t.reason
        );
    }
    if let Some(l) = &r.lost_exports {
        let _ = writeln!(out, "telemetry lost exports: {} ({})", l.verdict.name(), l.reason);
    }
    out
}

/// A reported/expected rate, two decimals (`-` when not finite).
pub fn rate(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}") } else { "-".into() }
}

/// `--server-metrics`: the server's requests per command for each build.
pub fn server_lines(r: &AbReport) -> String {
    let Some(first) = r.server.first() else { return String::new() };
    let mut out = format!("server's requests, A → B ({} blocks, each one build's):\n", first.blocks);
    for s in &r.server {
        let _ = writeln!(
            out,
            "  {:<16} per {:<8} {:>7} → {:<7} {:<24} {:<12} {}",
            s.api,
            s.per,
            rate(s.a),
            rate(s.b),
            s.shift_text(),
            s.verdict.name(),
            s.reason
        );
    }
    out
}

/// `--calibrate`: the minimum detectable effect of each comparison.
pub fn calibration(r: &AbReport) -> String {
    let mut out = String::from("minimum detectable effect (80 % power, 5 % level) of this profile and duration:\n");
    for c in &r.comparisons {
        if let Some(m) = c.min_detectable {
            let _ = writeln!(out, "  {:<24} {}", c.name(), pct(m));
        }
    }
    out
}
