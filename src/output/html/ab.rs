//! The page's section for `trafficgen ab`: the comparison of two client builds in one
//! run. The overall verdict with both binaries and the settings, a row per operation
//! kind × size class, each telemetry family both builds moved, compared, and for each
//! comparison both builds' latency distributions drawn over each other.

use std::fmt::Write as _;

use crate::model::ab::{AbReport, Comparison, Curves, ServerRow};
use crate::model::verdict::Judgement;

use super::charts::ChartFailed;
use super::charts::{Line, PALETTE, cdf_chart};
use super::page::{esc, fmt, nodata, slug, table};
use crate::output::units::{ms, pct};

/// A distribution chart: two of them side by side on a wide screen.
const CDF: (u32, u32) = (540, 260);
/// The x axis ends at the larger of the two builds' latencies at this level, so a long
/// tail does not squeeze the body of both distributions into the left edge.
const X_LEVEL: f64 = 0.99;

/// The section "A against B".
pub(super) fn section(out: &mut String, r: &AbReport, curves: &[Curves]) -> Result<(), ChartFailed> {
    out.push_str("<h2 id=\"ab\">A against B</h2>\n");
    let what = if r.calibrate { "A against A (calibration)" } else { "B against A" };
    let _ = writeln!(out, "<p class=\"{}\">{} ({what})</p>", class(r.verdict), r.verdict.name());
    let mut facts: Vec<Vec<String>> = Vec::new();
    let mut add = |k: &str, v: String| facts.push(vec![esc(k), esc(&v)]);
    add("A (baseline)", r.binary_a.clone());
    add("B (under test)", r.binary_b.clone());
    add("calibration", if r.calibrate { "yes: A against itself" } else { "no" }.into());
    add("tolerance", format!("±{} of A's median latency", pct(r.tolerance)));
    add("max failure delta", format!("{} points", pct(r.max_failure_delta)));
    table(out, "facts", &[], &facts);
    if !r.notes.is_empty() {
        out.push_str("<ul>");
        for n in &r.notes {
            let _ = write!(out, "<li><span class=\"inconclusive\">warning</span>: {}</li>", esc(n));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h3>Per operation and size class</h3>\n");
    if r.comparisons.is_empty() {
        nodata(out, "comparisons");
    } else {
        let rows: Vec<Vec<String>> = r.comparisons.iter().map(row).collect();
        // Wider than the page on a narrow screen: it scrolls rather than squeezing the why.
        out.push_str("<div class=\"wide\">");
        table(out, "ab", &HEAD, &rows);
        out.push_str("</div>\n");
    }
    telemetry(out, r);
    server(out, &r.server);
    charts(out, r, curves)
}

/// `--server-metrics`: each build's requests per API, fitted over blocks of one build.
fn server(out: &mut String, rows: &[ServerRow]) {
    let Some(first) = rows.first() else { return };
    let _ = writeln!(
        out,
        "<h3>The server's requests, A → B</h3>\n<p>{} blocks of wall time, each dealt whole to one build; each build's rate fitted over them.</p>",
        first.blocks
    );
    let rate = |x: f64| if x.is_finite() { fmt(x, 2) } else { "-".into() };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            // The interval stays on one line.
            let rel = s.shift_text().replace(", ", ",&nbsp;");
            vec![
                esc(&s.api),
                esc(&s.per),
                format!("{} →&nbsp;{}", rate(s.a), rate(s.b)),
                rel,
                format!("<span class=\"{}\">{}</span>", class(s.verdict), s.verdict.name()),
                esc(&s.reason),
            ]
        })
        .collect();
    table(out, "ab", &["S3 API", "per", "A → B", "B vs A [95% CI]", "verdict", "why"], &cells);
}

const HEAD: [&str; 11] = [
    "operation/size",
    "n A",
    "n B",
    "median ms A → B",
    "p95 ms A → B",
    "shift B−A [95% CI]",
    "IQR B/A [95% CI]",
    "p (Holm)",
    "failed A → B",
    "verdict",
    "why",
];

fn row(c: &Comparison) -> Vec<String> {
    let f = &c.failures;
    let mut cells = vec![esc(&c.name())];
    let ok = |failed: u64, total: u64| fmt(total.saturating_sub(failed) as f64, 0);
    cells.push(ok(f.failed_a, f.total_a));
    cells.push(ok(f.failed_b, f.total_b));
    match &c.shift {
        // Where a cell must break to fit the page: before the arrow, before the interval.
        Some(x) => cells.extend([
            format!("{} →&nbsp;{}", ms(x.median_a), ms(x.median_b)),
            format!("{} →&nbsp;{}", ms(x.p95_a), ms(x.p95_b)),
            format!("{:+.1}% [{:+.1},&nbsp;{:+.1}]", x.rel * 100.0, x.rel_lo * 100.0, x.rel_hi * 100.0),
            format!("{:.2} [{:.2},&nbsp;{:.2}]", x.iqr_ratio, x.iqr_lo, x.iqr_hi),
            format!("{:.3}", c.p_holm),
        ]),
        None => cells.extend(std::iter::repeat_n("-".to_string(), 5)),
    }
    cells.push(format!(
        "<span title=\"A {}/{}, B {}/{}\">{} →&nbsp;{}</span>",
        f.failed_a,
        f.total_a,
        f.failed_b,
        f.total_b,
        pct(f.rate_a()),
        pct(f.rate_b())
    ));
    cells.push(format!("<span class=\"{}\">{}</span>", class(c.verdict), c.verdict.name()));
    cells.push(esc(&c.reason));
    cells
}

/// The telemetry families both builds moved, compared, and the lost exports.
fn telemetry(out: &mut String, r: &AbReport) {
    if r.telemetry.is_empty() && r.lost_exports.is_none() {
        return;
    }
    out.push_str("<h3>Telemetry: each build's reports against the truth</h3>\n");
    let rate = |x: f64| if x.is_finite() { format!("{x:.2}") } else { "-".into() };
    let mut rows: Vec<Vec<String>> = r
        .telemetry
        .iter()
        .map(|t| {
            let worse = match t.worse {
                Some((w, lo, hi)) => format!("{:+.1}% [{:+.1}, {:+.1}]", w * 100.0, lo * 100.0, hi * 100.0),
                None => "-".into(),
            };
            vec![
                esc(&t.family),
                format!("{} · {} · {}", esc(&t.verdict_a), t.n.0, rate(t.rate_a)),
                format!("{} · {} · {}", esc(&t.verdict_b), t.n.1, rate(t.rate_b)),
                worse,
                format!("<span class=\"{}\">{}</span>", class(t.verdict), t.verdict.name()),
                esc(&t.reason),
            ]
        })
        .collect();
    if let Some(l) = &r.lost_exports {
        let share = |f: u64, n: u64| format!("{f}/{n}");
        rows.push(vec![
            "lost exports".into(),
            share(l.counts.failed_a, l.counts.total_a),
            share(l.counts.failed_b, l.counts.total_b),
            "-".into(),
            format!("<span class=\"{}\">{}</span>", class(l.verdict), l.verdict.name()),
            esc(&l.reason),
        ]);
    }
    let head = [
        "family",
        "A: verdict · commands · reported/expected",
        "B: verdict · commands · reported/expected",
        "B further from the truth [95% CI]",
        "verdict",
        "why",
    ];
    table(out, "telemetry", &head, &rows);
}

/// For each comparison with latencies: A's and B's distribution functions overlaid.
fn charts(out: &mut String, r: &AbReport, curves: &[Curves]) -> Result<(), ChartFailed> {
    let drawn: Vec<(usize, &Comparison, &Curves)> = r
        .comparisons
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let name = c.name();
            let k = curves.iter().find(|k| k.name == name && !(k.a.is_empty() && k.b.is_empty()))?;
            Some((i, c, k))
        })
        .collect();
    if drawn.is_empty() {
        return Ok(());
    }
    out.push_str("<h3>Latency distributions, A and B overlaid</h3>\n<div class=\"grid\">\n");
    for (i, c, k) in drawn {
        let at = |v: &[f64]| v.get(((X_LEVEL * v.len() as f64).ceil() as usize).saturating_sub(1)).copied();
        let xmax = at(&k.a).into_iter().chain(at(&k.b)).fold(0.0, f64::max) * 1000.0 * 1.05;
        // A step up at each kept latency, from the share below it to the share at it.
        let line = |name: &str, color, v: &[f64]| Line {
            name: name.to_string(),
            color,
            points: v
                .iter()
                .enumerate()
                .map(|(j, s)| (s * 1000.0, j as f64 / v.len() as f64, (j + 1) as f64 / v.len() as f64))
                .filter(|p| p.0 <= xmax)
                .flat_map(|(x, below, at)| [(x, below), (x, at)])
                .collect(),
        };
        let lines = [line("A", PALETTE[0], &k.a), line("B", PALETTE[1], &k.b)];
        let svg = cdf_chart(CDF, xmax, "latency (ms)", &lines)?;
        let n = |failed: u64, total: u64| total.saturating_sub(failed);
        let f = &c.failures;
        let mut caption = format!(
            "{}: share of successful commands done within each latency; A (blue, {} commands) against \
             B (orange, {})",
            c.name(),
            n(f.failed_a, f.total_a),
            n(f.failed_b, f.total_b)
        );
        if c.shift.is_some() {
            let _ = write!(caption, "; shift B−A {}", shift(c));
        }
        let _ =
            write!(caption, "; {}. The x axis goes to the larger p99 ({} ms).", c.verdict.name(), fmt(xmax / 1.05, 1));
        super::page::figure(out, &format!("ab-{}", slug(i, &c.name())), &caption, &svg);
    }
    out.push_str("</div>\n");
    Ok(())
}

/// The relative shift with its interval, e.g. `+28.6% [+26.8, +30.3]`.
fn shift(c: &Comparison) -> String {
    match &c.shift {
        Some(x) => format!("{:+.1}% [{:+.1}, {:+.1}]", x.rel * 100.0, x.rel_lo * 100.0, x.rel_hi * 100.0),
        None => "-".into(),
    }
}

fn class(c: Judgement) -> &'static str {
    match c {
        Judgement::Pass => "pass",
        Judgement::Fail => "fail",
        Judgement::Inconclusive => "inconclusive",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::render_ab;
    use crate::model::ab::{AbReport, Comparison, Curves, Failures, Shift, TelemetryDiff};
    use crate::model::verdict::Judgement;

    fn comparison(op: &'static str, verdict: Judgement, shift: Option<Shift>) -> Comparison {
        Comparison {
            op: op.into(),
            size_class: "small".into(),
            shift,
            p_holm: 0.001,
            failures: Failures { failed_a: 0, total_a: 100, failed_b: 2, total_b: 100, p: 0.25 },
            integrity_a: BTreeMap::new(),
            integrity_b: BTreeMap::new(),
            verdict,
            reason: format!("{op} <reason>"),
            settle_at: None,
            min_detectable: None,
        }
    }

    fn shift(rel: f64) -> Shift {
        Shift {
            n_a: 100,
            n_b: 98,
            median_a: 0.1,
            median_b: 0.1 * (1.0 + rel),
            p95_a: 0.15,
            p95_b: 0.15 * (1.0 + rel),
            hl: 0.1 * rel,
            rel,
            rel_lo: rel - 0.02,
            rel_hi: rel + 0.02,
            iqr_ratio: 1.1,
            iqr_lo: 0.9,
            iqr_hi: 1.3,
            p: 0.0001,
        }
    }

    fn report() -> AbReport {
        AbReport {
            verdict: Judgement::Fail,
            calibrate: false,
            tolerance: 0.10,
            max_failure_delta: 0.01,
            binary_a: "/opt/old/obsctl".into(),
            binary_b: "/tmp/<script>alert(1)</script>/obsctl".into(),
            comparisons: vec![
                comparison("upload", Judgement::Fail, Some(shift(0.3))),
                comparison("download", Judgement::Pass, Some(shift(0.01))),
                comparison("presign", Judgement::Inconclusive, None),
            ],
            telemetry: vec![TelemetryDiff {
                family: "uploads_total".into(),
                verdict_a: "match".into(),
                verdict_b: "MISMATCH".into(),
                a: (10.0, 10.0),
                b: (11.0, 0.0),
                n: (10, 11),
                rate_a: 1.0,
                rate_b: 0.0,
                worse: Some((1.0, 1.0, 1.0)),
                verdict: Judgement::Fail,
                reason: "B's reports are 100.0% further from the truth than A's".into(),
            }],
            lost_exports: None,
            notes: vec!["delete/small: this run detects shifts of 29% or more".into()],
            server: vec![crate::model::ab::ServerRow {
                api: "ListObjectsV2".into(),
                per: "command".into(),
                a: 1.0,
                b: 2.0,
                rel: Some((1.0, 0.9, 1.1)),
                blocks: 12,
                verdict: Judgement::Fail,
                reason: "B sends more than 10% more per command than A".into(),
            }],
        }
    }

    /// Half a million latencies per build around `median` seconds, thinned.
    fn curves(name: &str, median: f64, factor: f64) -> Curves {
        let n = 500_000;
        let lat = |f: f64| (0..n).map(|i| median * f * (0.5 + i as f64 / n as f64)).rev().collect::<Vec<f64>>();
        Curves::new(name.into(), lat(1.0), lat(factor))
    }

    #[test]
    fn the_section_overlays_both_builds_and_escapes_the_paths() {
        let r = report();
        let curves = [curves("upload/small", 0.1, 1.3), curves("download/small", 0.1, 1.01)];
        let page = render_ab(None, &r, &curves).unwrap();
        assert!(page.contains("A against B") && page.contains("<p class=\"fail\">FAIL (B against A)</p>"));
        assert!(page.contains("/opt/old/obsctl"));
        assert!(page.contains("/tmp/&lt;script&gt;alert(1)&lt;/script&gt;/obsctl"));
        assert!(!page.contains("<script>"), "a path is escaped");
        assert!(page.contains("upload &lt;reason&gt;"));
        assert!(page.contains("<td>+30.0% [+28.0,&nbsp;+32.0]</td>") && page.contains("<td>100 →&nbsp;130</td>"));
        assert!(page.contains("<span title=\"A 0/100, B 2/100\">0.0% →&nbsp;2.0%</span>"));
        assert!(page.contains("uploads_total") && page.contains("further from the truth"));
        assert!(
            page.contains("The server's requests, A → B") && page.contains("<td>1 →&nbsp;2</td>"),
            "the server's rows"
        );
        assert!(page.contains("detects shifts of 29%"));
        // A chart for each comparison with curves, none for the one without.
        for id in ["ab-0-upload_small", "ab-1-download_small"] {
            let at = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
            let fig = &page[at..at + page[at..].find("</figure>").unwrap()];
            // Two series, A blue and B orange, each a line and its key's swatch; the key
            // names both.
            for color in ["#1F77B4", "#FF7F0E"] {
                let lines = fig.matches(&format!("<polyline fill=\"none\" opacity=\"1\" stroke=\"{color}\"")).count();
                assert_eq!(lines, 2, "{id}: {color}");
            }
            assert!(fig.contains(">\nA\n</text>") && fig.contains(">\nB\n</text>"), "{id}");
            assert!(fig.contains("latency (ms)") && fig.contains("share of commands"), "{id}");
            // A plain axis in milliseconds, ticks on round numbers, shares 0 to 1.
            assert!(fig.contains(">\n100\n</text>") && fig.contains(">\n0.2\n</text>"), "{id}");
            assert!(fig.contains("A (blue, 100 commands) against B (orange, 98)"), "{id}");
        }
        assert!(page.contains("upload/small: share") && page.contains("shift B−A +30.0% [+28.0, +32.0]; FAIL"));
        assert!(!page.contains("id=\"ab-2-presign_small\""));
        // Half a million commands per build: a page of tens of kilobytes.
        assert!(page.len() < 100 * 1024, "{} bytes", page.len());
    }

    #[test]
    fn with_a_summary_the_section_follows_the_runs_verdict() {
        let s = super::super::tests::empty();
        let page = render_ab(Some(&s), &report(), &[curves("upload/small", 0.1, 1.3)]).unwrap();
        let (verdict, ab, mix) =
            (page.find("<h2>Verdict</h2>").unwrap(), page.find("A against B</h2>").unwrap(), page.find("<h2>Mix"));
        assert!(verdict < ab && mix.is_none_or(|m| ab < m), "the A/B section after the verdict");
        assert!(page.contains("<h2>Run</h2>") && page.contains("Latency by operation"));
        // No comparisons at all: the section says so, and nothing else breaks.
        let mut empty = report();
        empty.comparisons.clear();
        empty.telemetry.clear();
        let page = render_ab(None, &empty, &[]).unwrap();
        assert!(page.contains("comparisons: no data") && !page.contains("<figure"));
    }
}
