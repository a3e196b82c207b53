//! `trafficgen ab`: is client build B slower, noisier or wronger than build A?
//!
//! One run of the profile against one server with both binaries interleaved per
//! operation (`work::ab` deals them), then per operation kind × size class: medians and
//! p95, the Hodges-Lehmann shift with its interval, Mann-Whitney p (Holm-corrected),
//! failure rates with Fisher's test, the IQR ratio, and correctness diffs (integrity
//! classes, expected failures, that one build shows and the other does not). The
//! findings are `analysis::ab`'s, the outputs `output::ab`'s; this file checks the
//! options, runs, and prints and writes what they make.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::analysis::{ab, ab_server::rows};
use crate::cli::AbArgs;
use crate::commands::ab_server;
use crate::commands::options::RunOpts;
use crate::config::plan::Plan;
use crate::model::ab::{AbSummary, SCHEMA_VERSION, Settings};
use crate::model::error::Error;
use crate::model::verdict::Judgement;
use crate::output::ab::{Exporter, Findings, html::Html, json::Json, junit::Junit, markdown::Markdown, text::Text};
use crate::output::export::Reads;
use crate::work::ab::Split;

pub fn run(plan: Plan, args: &AbArgs) -> Result<Judgement, Error> {
    let (tolerance, max_delta, binary_b) = check_args(args)?;
    let (mut plan, mut opts) = crate::commands::options::apply_run_args(plan, &args.run)?;
    plan.client.binary = args.a.clone();
    let outputs = take_outputs(&plan, &mut opts, args, &binary_b)?;
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
    let run = split.summary.lock().unwrap_or_else(|e| e.into_inner()).take();
    let host_warning = run.as_ref().and_then(|s| s.host.warning.clone());
    let settings = Settings { tolerance, max_delta, resamples: args.resamples, seed: split.seed };
    let mut report = ab::analyse(&samples, settings, host_warning.as_deref());
    if let Some(t) = run.as_ref().and_then(|s| s.telemetry.as_ref()).and_then(|t| t.run()) {
        ab::add_telemetry(&mut report, t, settings, host_warning.is_some());
    }
    if let Some(r) = &readings {
        ab::add_server(&mut report, rows(r, &samples, tolerance, args.resamples, split.seed));
    }
    report.calibrate = args.calibrate;
    report.binary_a = args.a.display().to_string();
    report.binary_b = binary_b.display().to_string();
    let curves = ab::curves(&samples, &report);
    let summary = AbSummary { schema_version: SCHEMA_VERSION, ab: report, builds: ab::builds(&samples), run };
    let findings = Findings { summary: &summary, curves: &curves };
    print!("{}", Text.serialize(&findings)?);
    write_outputs(
        &findings,
        [
            ("--markdown", args.markdown.as_deref(), &Markdown),
            ("--junit", outputs.junit.as_deref(), &Junit),
            ("--html", outputs.html.as_deref(), &Html),
            ("--summary-json", outputs.summary_json.as_deref(), &Json),
        ],
    )?;
    Ok(summary.ab.verdict)
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
/// every output as a run checks its own (`output::export::check_outputs`): none is the
/// profile, a build, or a file of the state dir, and nothing starts when one cannot be
/// written.
fn take_outputs(plan: &Plan, opts: &mut RunOpts, args: &AbArgs, binary_b: &Path) -> Result<Outputs, Error> {
    let summary_json = opts.exports.summary_json.take();
    let junit = opts.exports.junit.take();
    let html = opts.exports.html.take();
    let own =
        [("--summary-json", &summary_json), ("--junit", &junit), ("--html", &html), ("--markdown", &args.markdown)];
    let mut outputs: Vec<(&str, &Path)> = opts.exports.paths();
    outputs.extend(own.iter().filter_map(|(flag, p)| Some((*flag, p.as_deref()?))));
    let reads = Reads {
        files: vec![("the profile", plan.source.as_path()), ("--a", &args.a), ("--b", binary_b)],
        state_dir: Some(&opts.state_dir),
    };
    crate::output::export::check_outputs(&reads, &outputs)?;
    Ok(Outputs { summary_json, junit, html })
}

/// The files asked for, in this order, each written whole or not at all; then each
/// written one named.
fn write_outputs(findings: &Findings, files: [(&str, Option<&Path>, &dyn Exporter); 4]) -> Result<(), Error> {
    let mut written = Vec::new();
    for (flag, path, exporter) in files {
        let Some(p) = path else { continue };
        let text = exporter.serialize(findings)?;
        crate::output::export::write(flag, p, &text)?;
        written.push(p);
    }
    for p in written {
        eprintln!("written: {}", p.display());
    }
    Ok(())
}
