//! `trafficgen ab`: is client build B slower, noisier or wronger than build A?
//!
//! One run of the profile against one server with both binaries interleaved per
//! operation (`work::ab` deals them), then per operation kind × size class: medians and
//! p95, the Hodges-Lehmann shift with its interval, Mann-Whitney p (Holm-corrected),
//! failure rates with Fisher's test, the IQR ratio, and correctness diffs (integrity
//! classes, expected failures, that one build shows and the other does not). The
//! statistics are `analysis::abstats`; this file runs, judges and writes the outputs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::analysis::{self, ab};
use crate::cli::AbArgs;
use crate::commands::ab_server;
use crate::commands::options::RunOpts;
use crate::config::plan::Plan;
use crate::model::ab::Sample;
use crate::model::ab::{AbReport, Settings};
use crate::model::error::Error;
use crate::model::events::Build;
use crate::model::verdict::Judgement;
use crate::output::units::{ms, pct};
use crate::work::ab::Split;

/// GitHub's limit on a step summary is 1 MiB; the markdown stays well under it.
const MARKDOWN_LIMIT: usize = 1024 * 1024 - 4096;

pub fn run(plan: Plan, args: &AbArgs) -> Result<Judgement, Error> {
    let (tolerance, max_delta, binary_b) = check_args(args)?;
    let (mut plan, mut opts) = crate::commands::options::apply_run_args(plan, &args.run)?;
    plan.client.binary = args.a.clone();
    let outputs = take_outputs(&mut opts, args, &binary_b)?;
    // The profile's thresholds judge one build's run; here the comparison decides.
    plan.thresholds.retain(|t| t.metric == "telemetry_mismatches");
    // The server counts requests per API, not per build: with its counters as a
    // witness, whole blocks of wall time go to one build in turn.
    let block = plan.server_metrics.as_ref().map(|_| Duration::from(args.block));
    let split = Arc::new(Split::new(binary_b.clone(), opts.seed, block));
    opts.ab = Some(split.clone());
    let server =
        plan.server_metrics.clone().zip(block).map(|(url, every)| ab_server::readings(url, split.clone(), every));
    crate::commands::run::run(plan, opts)?;
    let readings = server.map(|(stop, h)| {
        drop(stop);
        h.join().unwrap_or_default()
    });
    let samples = split.take_samples();
    let summary = split.summary.lock().unwrap_or_else(|e| e.into_inner()).take();
    let host_warning = summary.as_ref().and_then(|s| s.host.warning.clone());
    let settings = Settings { tolerance, max_delta, resamples: args.resamples, seed: split.seed };
    let mut report = ab::analyse(&samples, settings, host_warning.as_deref());
    if let Some(t) = summary.as_ref().and_then(|s| s.telemetry.as_ref()).and_then(|t| t.run()) {
        ab::add_telemetry(&mut report, t, settings, host_warning.is_some());
    }
    if let Some(r) = &readings {
        ab::add_server(&mut report, analysis::ab_server::rows(r, &samples, tolerance, args.resamples, split.seed));
    }
    report.calibrate = args.calibrate;
    report.binary_a = args.a.display().to_string();
    report.binary_b = binary_b.display().to_string();
    let text = table(&report);
    print!("{text}");
    write_outputs(args, &outputs, &report, &samples, summary)?;
    Ok(report.verdict)
}

/// `ab`'s own options: the tolerance and failure delta (as fractions) and build B's
/// binary (A's own under `--calibrate`).
fn check_args(args: &AbArgs) -> Result<(f64, f64, PathBuf), Error> {
    let (tolerance, max_delta) = (args.tolerance.fraction(), args.max_failure_delta.fraction());
    if args.run.target.obsctl.is_some() {
        return Err(Error::Usage("--obsctl: `ab` takes its two binaries as --a and --b".into()));
    }
    let block = Duration::from(args.block);
    if block < Duration::from_secs(1) || block > Duration::from_secs(3600) {
        return Err(Error::Usage(format!("--block {}: give 1s to 1h", args.block)));
    }
    if args.resamples < 100 || args.resamples > 100_000 {
        return Err(Error::Usage(format!("--resamples {}: give 100 to 100000", args.resamples)));
    }
    let binary_b = match (&args.b, args.calibrate) {
        (_, true) => args.a.clone(),
        (Some(b), false) => b.clone(),
        (None, false) => return Err(Error::Usage("--b is required (or --calibrate to run A against A)".into())),
    };
    Ok((tolerance, max_delta, binary_b))
}

/// The files `ab` writes itself rather than the run.
struct Outputs {
    summary_json: Option<PathBuf>,
    junit: Option<PathBuf>,
    html: Option<PathBuf>,
}

/// Takes the summary, JUnit and HTML paths from the run (`ab` writes its own) and checks
/// every output, as a run checks its own: nothing starts when one cannot be written.
fn take_outputs(opts: &mut RunOpts, args: &AbArgs, binary_b: &Path) -> Result<Outputs, Error> {
    let summary_json = opts.exports.summary_json.take();
    let junit = opts.exports.junit.take();
    let html = opts.exports.html.take();
    let own =
        [("--summary-json", &summary_json), ("--junit", &junit), ("--html", &html), ("--markdown", &args.markdown)];
    for (flag, p) in own {
        if let Some(p) = p {
            crate::output::export::prepare(flag, p)?;
        }
    }
    let mut outputs: Vec<(&str, &Path)> = opts.exports.paths();
    for (flag, p) in own {
        if let Some(p) = p {
            outputs.push((flag, p.as_path()));
        }
    }
    crate::output::export::check_distinct(&[("--a", &args.a), ("--b", binary_b)], &outputs)?;
    Ok(Outputs { summary_json, junit, html })
}

/// The markdown, the JUnit file, the HTML report and the summary JSON, each written
/// whole or not at all.
fn write_outputs(
    args: &AbArgs,
    outputs: &Outputs,
    report: &AbReport,
    samples: &[Sample],
    summary: Option<crate::model::summary::Summary>,
) -> Result<(), Error> {
    let mut written = Vec::new();
    if let Some(p) = &args.markdown {
        let md = markdown(report);
        if let Err(e) = crate::output::export::write_atomic(p, &md) {
            return Err(Error::Failed(format!("--markdown {}: {e}", p.display())));
        }
        written.push(p.clone());
    }
    if let Some(p) = &outputs.junit {
        if let Err(e) = crate::output::export::write_atomic(p, &junit_xml(report)) {
            return Err(Error::Failed(format!("--junit {}: {e}", p.display())));
        }
        written.push(p.clone());
    }
    if let Some(p) = &outputs.html {
        let page = crate::output::html::render_ab(summary.as_ref(), report, &ab::curves(samples, report))
            .map_err(|e| Error::Failed(format!("cannot make the HTML report: {e}")))?;
        if let Err(e) = crate::output::export::write_atomic(p, &page) {
            return Err(Error::Failed(format!("--html {}: {e}", p.display())));
        }
        written.push(p.clone());
    }
    if let Some(p) = &outputs.summary_json {
        let doc = serde_json::json!({
            "ab": report,
            "builds": { "A": ab::build_summary(samples, Build::A), "B": ab::build_summary(samples, Build::B) },
            "run": summary,
        });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = crate::output::export::write_atomic(p, &text) {
            return Err(Error::Failed(format!("--summary-json {}: {e}", p.display())));
        }
        written.push(p.clone());
    }
    for p in written {
        eprintln!("written: {}", p.display());
    }
    Ok(())
}

/// The rows of the table, as cells (shared by the terminal and the markdown).
fn rows(r: &AbReport) -> Vec<[String; 10]> {
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

const HEAD: [&str; 10] = [
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

fn headline(r: &AbReport) -> String {
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
fn telemetry_lines(r: &AbReport) -> String {
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

fn rate(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}") } else { "-".into() }
}

/// `--server-metrics`: the server's requests per command for each build.
fn server_lines(r: &AbReport) -> String {
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
fn calibration(r: &AbReport) -> String {
    let mut out = String::from("minimum detectable effect (80 % power, 5 % level) of this profile and duration:\n");
    for c in &r.comparisons {
        if let Some(m) = c.min_detectable {
            let _ = writeln!(out, "  {:<24} {}", c.name(), pct(m));
        }
    }
    out
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

/// JUnit: a case per comparison; INCONCLUSIVE is skipped.
fn junit_xml(r: &AbReport) -> String {
    use crate::output::export::junit::{Case, render};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::ab::analyse;
    use crate::model::ab::TelemetryDiff;
    use crate::model::events::{FailClass, OpType, SizeClass};
    use rand::rngs::SmallRng;
    use rand::{RngExt, SeedableRng};

    fn samples(n: usize, factor_b: f64, fail_b: usize, seed: u64) -> Vec<Sample> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut out = Vec::new();
        for i in 0..n {
            for (build, f) in [(Build::A, 1.0), (Build::B, factor_b)] {
                for op in [OpType::Upload, OpType::Delete] {
                    let failed = build == Build::B && op == OpType::Delete && i < fail_b;
                    out.push(Sample {
                        build,
                        op,
                        class: SizeClass::Small,
                        seconds: 0.05 * f * rng.random_range(0.9..1.1),
                        end_s: i as f64,
                        result: if failed { Err(FailClass::Failed) } else { Ok(()) },
                    });
                }
            }
        }
        out
    }

    const S: Settings = Settings { tolerance: 0.10, max_delta: 0.01, resamples: 200, seed: 1 };

    #[test]
    fn a_slower_b_fails_naming_the_operation() {
        let r = analyse(&samples(80, 1.3, 0, 1), S, None);
        assert_eq!(r.verdict, Judgement::Fail);
        let up = r.comparisons.iter().find(|c| c.op == "upload").unwrap();
        assert_eq!(up.verdict, Judgement::Fail, "{}", up.reason);
        assert!(headline(&r).contains("upload/small"), "{}", headline(&r));
        let md = markdown(&r);
        assert!(md.contains("| upload/small |") && md.len() < MARKDOWN_LIMIT);
        let xml = junit_xml(&r);
        assert!(xml.contains("<failure message=\"B slower"), "{xml}");
    }

    #[test]
    fn identical_builds_pass_and_failures_fail() {
        let r = analyse(&samples(80, 1.0, 0, 2), S, None);
        assert_eq!(r.verdict, Judgement::Pass, "{}", table(&r));
        let r = analyse(&samples(200, 1.0, 10, 3), S, None);
        let del = r.comparisons.iter().find(|c| c.op == "delete").unwrap();
        assert_eq!(del.verdict, Judgement::Fail);
        assert!(del.reason.contains("failures"), "{}", del.reason);
        // A host that limited the run makes a pass inconclusive, never a fail.
        let r = analyse(&samples(80, 1.0, 0, 2), S, Some("busy"));
        assert_eq!(r.verdict, Judgement::Inconclusive);
        let xml = junit_xml(&r);
        assert!(xml.contains("<skipped message="), "{xml}");
    }

    #[test]
    fn an_integrity_class_only_b_shows_fails() {
        let mut s = samples(40, 1.0, 0, 4);
        s.push(Sample {
            build: Build::B,
            op: OpType::Upload,
            class: SizeClass::Small,
            seconds: 0.05,
            end_s: 0.0,
            result: Err(FailClass::PhantomUpload),
        });
        let r = analyse(&s, S, None);
        let up = r.comparisons.iter().find(|c| c.op == "upload").unwrap();
        assert_eq!(up.verdict, Judgement::Fail);
        assert!(up.reason.contains("phantom_upload"), "{}", up.reason);
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
        r.verdict = Judgement::combine(std::iter::once(r.verdict).chain(r.telemetry.iter().map(|t| t.verdict)));
        assert_eq!(r.verdict, Judgement::Fail);
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

    #[test]
    fn too_few_commands_are_inconclusive_and_a_wide_interval_warns() {
        let r = analyse(&samples(3, 1.0, 0, 5), S, None);
        assert_eq!(r.verdict, Judgement::Inconclusive);
        // 10 noisy commands per build cannot resolve 1 %.
        let tight = Settings { tolerance: 0.01, ..S };
        let r = analyse(&samples(10, 1.0, 0, 6), tight, None);
        assert!(r.notes.iter().any(|n| n.contains("detects shifts of")), "{:?}", r.notes);
    }
}
