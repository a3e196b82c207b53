//! The page's sections about the run as a whole: what ran and for how long, the verdict
//! with each threshold and the integrity checks, the mix against the profile and the
//! latency table. Each reads the typed summary, so a field renamed in the model is a
//! compile error here, not a row that silently goes missing.

use std::fmt::Write as _;

use crate::model::counts::{Fidelity, Latency, Share};
use crate::model::host::{HostReport, Party};
use crate::model::summary::Summary;
use crate::model::verdict::{Judgement, Outcome, Unit, Verdict};

use super::charts::ChartFailed;
use super::charts::share_bars;
use super::page::{bar_figure, count, esc, fmt, nodata, pct, table};

pub(super) fn overview(out: &mut String, s: &Summary) {
    out.push_str("<h2>Run</h2>\n");
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut add = |k: &str, v: String| rows.push(vec![esc(k), esc(&v)]);
    add("trafficgen", s.trafficgen_version.clone());
    add("client", format!("{} ({}, {})", s.client.version, s.client.flavor, s.client.binary));
    add("seed", s.seed.to_string());
    add("simulated time", format!("{} to {} UTC (time scale {}x)", s.sim_start, s.sim_end, fmt(s.time_scale, 2)));
    add(
        "wall time",
        format!(
            "{} s dispatching, {} s in all; stopped by {}",
            fmt(s.dispatch_s, 1),
            fmt(s.duration_s, 1),
            s.stopped_by
        ),
    );
    let (t, a) = (s.target_ops, s.achieved_ops as f64);
    let ratio = if t > 0.0 { format!(" ({:.1}% of target)", a / t * 100.0) } else { String::new() };
    add(
        "scheduled operations",
        format!(
            "{} started of {} targeted{ratio}; {} vs {} a minute",
            fmt(a, 0),
            fmt(t, 1),
            fmt(s.achieved_ops_per_min, 1),
            fmt(s.target_ops_per_min, 1)
        ),
    );
    add("failure rate", format!("{:.2}% of commands", s.failure_rate * 100.0));
    add("objects left", count(s.live_objects_at_exit));
    add("rate scale", fmt(s.rate_scale, 3));
    let h = &s.host;
    if let Some(w) = &h.warning {
        add("HOST LIMITED", format!("{w} ({} s saturated)", fmt(h.saturated_s, 1)));
    }
    if let Some(party) = host_party(h) {
        add("host party", party);
    }
    table(out, "facts", &[], &rows);
}

/// Who took the CPU: trafficgen's own processes, or other work (named with its share).
fn host_party(h: &HostReport) -> Option<String> {
    let own = h.own_cpu_share.map_or("?".into(), |x| format!("{}%", fmt(x * 100.0, 0)));
    match h.party? {
        Party::Other => {
            let others: Vec<String> =
                h.others.iter().map(|o| format!("{} {}%", o.name, fmt(o.share * 100.0, 0))).collect();
            Some(format!(
                "other work took the CPU ({} s): {}; trafficgen's own processes {own}",
                fmt(h.other_busy_s, 1),
                if others.is_empty() { "unnamed processes".to_string() } else { others.join(", ") },
            ))
        }
        Party::Trafficgen => Some(format!("trafficgen itself ({own} of the CPU used); slots held back")),
    }
}

pub(super) fn verdict(out: &mut String, s: &Summary) {
    out.push_str("<h2>Verdict</h2>\n");
    let Some(v) = &s.verdict else {
        nodata(out, "verdict");
        return;
    };
    let (class, label) = match v.result {
        Judgement::Inconclusive => ("inconclusive", "INCONCLUSIVE"),
        Judgement::Pass => ("pass", "PASSED"),
        Judgement::Fail => ("fail", "FAILED"),
    };
    let _ = writeln!(out, "<p class=\"{class}\">{label} (exit code {})</p>", v.exit_code);
    if let Some(h) = &v.host {
        let _ = writeln!(out, "<p class=\"inconclusive\">{}</p>", esc(h));
    }
    if !v.reasons.is_empty() {
        out.push_str("<ul>");
        for r in &v.reasons {
            let _ = write!(out, "<li>{}</li>", esc(r));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h3>Thresholds</h3>\n");
    if v.thresholds.is_empty() {
        nodata(out, "thresholds");
    } else {
        let rows: Vec<Vec<String>> = v.thresholds.iter().map(threshold_row).collect();
        table(out, "thresholds", &["threshold", "class", "measured", "limit", "result"], &rows);
    }
    integrity(out, v);
}

fn threshold_row(t: &Outcome) -> Vec<String> {
    let show = |x: Option<f64>| match (x, t.unit) {
        (None, _) => "not measured".to_string(),
        (Some(x), Unit::Ratio) => format!("{}%", fmt(x * 100.0, 2)),
        (Some(x), Unit::Millis) => format!("{} ms", fmt(x, 1)),
        (Some(x), Unit::Count) => fmt(x, 3),
    };
    let (class, label) = match (t.passed, t.status) {
        (true, _) => ("pass", "ok".to_string()),
        (false, Judgement::Inconclusive) => {
            let why = t.reason.as_deref().unwrap_or("no sample");
            ("inconclusive", format!("INCONCLUSIVE ({})", esc(why)))
        }
        (false, _) => ("fail", "FAILED".to_string()),
    };
    vec![
        esc(&t.threshold),
        esc(t.class.name()),
        esc(&show(t.value)),
        esc(&show(Some(t.limit))),
        format!("<span class=\"{class}\">{label}</span>"),
    ]
}

fn integrity(out: &mut String, v: &Verdict) {
    out.push_str("<h3>Integrity (the client's word checked against the server)</h3>\n");
    if v.integrity.is_empty() {
        nodata(out, "integrity");
        return;
    }
    let rows: Vec<Vec<String>> = v
        .integrity
        .iter()
        .map(|(k, n)| {
            let class = if *n == 0 { "pass" } else { "fail" };
            vec![esc(k), format!("<span class=\"{class}\">{n}</span>")]
        })
        .collect();
    table(out, "integrity", &["class", "failures"], &rows);
}

pub(super) fn mix(out: &mut String, s: &Summary) -> Result<(), ChartFailed> {
    out.push_str("<h2>Mix against the profile</h2>\n");
    let f = &s.fidelity;
    // No kind asked for and nothing counted: a summary of no profile's mix.
    if f.kinds.is_empty() && f.operations == 0 {
        nodata(out, "fidelity");
        return Ok(());
    }
    let _ = writeln!(
        out,
        "<p>{} scheduled operations; largest distance from the profile: downloads {}, expected failures {}, \
         other commands {}, kinds {}, size bands {} (points); reads that found no object yet: {}.</p>",
        count(f.operations),
        pct(f.download_share_error),
        pct(f.error_share_error),
        pct(f.extras_share_error),
        pct(f.kind_share_error),
        pct(f.size_band_error),
        count(f.no_object)
    );
    let svg = share_bars(&operations(f))?;
    bar_figure(out, "mix-operations", "Operations: share of scheduled operations, profile against achieved.", &svg);
    let row = |name: String, v: &Share| (name, v.target, v.achieved);
    let kinds: Vec<(String, f64, Option<f64>)> = f.kinds.iter().map(|(k, v)| row(k.clone(), v)).collect();
    if !kinds.is_empty() {
        let svg = share_bars(&kinds)?;
        bar_figure(out, "mix-kinds", "File kinds: share of uploads, profile against achieved.", &svg);
    }
    let bands: Vec<(String, f64, Option<f64>)> = f
        .size_bands
        .iter()
        .flat_map(|(kind, list)| list.iter().enumerate().map(move |(i, v)| row(format!("{kind} band {}", i + 1), v)))
        .collect();
    if !bands.is_empty() {
        let svg = share_bars(&bands)?;
        bar_figure(
            out,
            "mix-size-bands",
            "Size bands: share of each kind's uploads by band (the profile's order), profile against achieved.",
            &svg,
        );
    }
    Ok(())
}

/// Operations: uploads (the rest), downloads, expected failures, and the other commands.
fn operations(f: &Fidelity) -> Vec<(String, f64, Option<f64>)> {
    let mut ops: Vec<(String, f64, Option<f64>)> = vec![
        ("downloads".into(), f.download_share.target, f.download_share.achieved),
        ("expected failures".into(), f.error_share.target, f.error_share.achieved),
    ];
    ops.extend(f.extras.iter().map(|(name, v)| (name.to_string(), v.target, v.achieved)));
    let t: f64 = ops.iter().map(|o| o.1).sum();
    let a: Option<f64> = ops.iter().map(|o| o.2).sum();
    ops.insert(0, ("uploads (the rest)".into(), (1.0 - t).max(0.0), a.map(|a| (1.0 - a).max(0.0))));
    ops
}

pub(super) fn latency_table(out: &mut String, s: &Summary) {
    out.push_str("<h2>Latency by operation (ms)</h2>\n");
    let stat = |x: f64| fmt(x, 1);
    let row = |name: String, l: &Latency, failed: String| {
        let mut r = vec![name, fmt(l.count as f64, 1)];
        r.extend([l.min_ms, l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.max_ms].map(stat));
        r.push(failed);
        r
    };
    let mut rows = Vec::new();
    for (op, l) in &s.latency_ms {
        let f = s.ops.get(op).map_or(0, |c| c.failed);
        if l.count + f == 0 {
            continue;
        }
        rows.push(row(esc(op), l, count(f)));
        for (class, ls) in s.latency_by_size_ms.get(op).into_iter().flatten() {
            // One class alone repeats the line above.
            if ls.count < l.count {
                rows.push(row(format!("&nbsp;&nbsp;{}", esc(class)), ls, String::new()));
            }
        }
    }
    if s.start_lag_ms.count > 0 {
        rows.push(row("start lag (late starts)".into(), &s.start_lag_ms, String::new()));
    }
    if rows.is_empty() {
        nodata(out, "latency");
    } else {
        table(out, "latency", &["operation", "n", "min", "p50", "p90", "p95", "p99", "max", "failed"], &rows);
    }
}
