//! The text a person reads while a run goes and when it ends: one line per finished
//! operation (the seed generator's shape) and the periodic and final tables. Built from
//! `Stats`, the roster and the fidelity the analysis measured; no profile needed.

use std::fmt::Write as _;

use crate::analysis::stats::Stats;
use crate::model::clock::{TimeMap, civil};
use crate::model::counts::Fidelity;
use crate::model::counts::{Counters, Latency};
use crate::model::events::{Confirmation, DeleteReason, OpRecord, OpType, SizeClass};
use crate::model::roster::Roster;
use crate::model::units::human_bytes;

/// What a table is drawn against besides the counters: who runs, the clock, and the
/// mix achieved so far (`fidelity::fleet`).
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub roster: &'a Roster,
    pub map: &'a TimeMap,
    pub fidelity: &'a Fidelity,
}

/// The seed generator's log shape: `[alice-dev] Uploaded key (55911 bytes)`.
/// Returns (is_warning, line).
pub fn op_line(roster: &Roster, r: &OpRecord) -> (bool, String) {
    let user = &roster.users[r.user].id;
    let checked = match r.confirmation {
        Some(Confirmation::Confirmed) => ", confirmed",
        Some(Confirmation::Unconfirmed) => ", unconfirmed",
        None => "",
    };
    match (&r.result, r.op) {
        (Ok(()), OpType::Upload) => (false, format!("[{user}] Uploaded {} ({} bytes{checked})", r.key, r.bytes)),
        (Ok(()), OpType::Download) => (false, format!("[{user}] Downloaded {} ({} bytes)", r.key, r.bytes)),
        (Ok(()), OpType::Delete) => {
            let why = match r.delete_reason {
                Some(DeleteReason::Cleanup) => "cleanup",
                _ => "TTL expired",
            };
            (false, format!("[{user}] Deleted {} ({why}{checked})", r.key))
        }
        (Ok(()), op) if op.is_expected_failure() => (
            false,
            format!(
                "[{user}] Expected failure: {} {} failed as it should: {}",
                op.describe_expected(),
                r.key,
                r.error.as_deref().unwrap_or("")
            ),
        ),
        (Ok(()), op) => {
            let what = if r.key.is_empty() { String::new() } else { format!(" {}", r.key) };
            (false, format!("[{user}] {}{what} ok ({:.2}s)", op.name(), r.duration.as_secs_f64()))
        }
        (Err(class), op) => {
            let verb = match op {
                OpType::Upload => "Upload".to_string(),
                OpType::Download => "Download".to_string(),
                OpType::Delete => "Delete".to_string(),
                op if op.is_expected_failure() => format!("Expected failure ({})", op.describe_expected()),
                op => op.name().to_string(),
            };
            let err = r.error.as_deref().unwrap_or("no error output");
            let class = match r.exit_code {
                Some(code) => format!("{} exit {code}", class.name()),
                None => class.name().to_string(),
            };
            let target = if r.key.is_empty() { String::new() } else { format!(" of {}", r.key) };
            (true, format!("[{user}] {verb}{target} failed ({}, {:.2}s): {err}", class, r.duration.as_secs_f64()))
        }
    }
}

/// The periodic (and final) table. `prev` holds each user's started count at the
/// previous report, so the ops/min columns show this interval, not the average since
/// start.
pub fn table(view: &View, stats: &Stats, prev: &[u64], from: f64, to: f64, title: &str) -> String {
    let mut out = String::new();
    let sim = civil(view.map.sim_at(to));
    let _ = writeln!(out, "{title}: {:.0}s elapsed, simulated {} {} UTC", to, sim.date(), sim.hhmm());
    let t = stats.totals();
    user_rows(&mut out, view, stats, &t, prev, (from, to));
    shortfall_lines(&mut out, &t);
    mix_line(&mut out, view.fidelity);
    check_lines(&mut out, &t);
    latency_block(&mut out, stats, &t);
    let _ = write!(
        out,
        "files created {} ({} large), in flight {}, live objects {}, maybe live {}",
        t.files_created,
        t.large_files,
        t.in_flight(),
        t.live_objects,
        t.maybe_live_objects
    );
    out
}

/// The header, one row per persona (or user) over the interval `from..to`, and the
/// TOTAL row of `t`.
fn user_rows(out: &mut String, view: &View, stats: &Stats, t: &Counters, prev: &[u64], (from, to): (f64, f64)) {
    let View { roster, map, .. } = *view;
    let minutes = ((to - from) / 60.0).max(1e-9);
    // Wide enough for `frank-research x100`.
    let w = roster
        .persona_groups()
        .iter()
        .map(|g| g.name.len() + if g.users.len() > 1 { 6 } else { 0 })
        .max()
        .unwrap_or(0)
        .max(16);
    let _ = writeln!(
        out,
        "{:<w$}{:>9}{:>9}{:>8}{:>8}{:>8}{:>7}{:>7}{:>7}{:>7}{:>11}{:>11}",
        "user", "target/m", "actual/m", "up", "down", "del", "fail", "short", "live", "busy", "sent", "received"
    );
    let mut total_target = 0.0;
    let mut total_started = 0u64;
    let row = |out: &mut String, name: &str, target: f64, started: u64, c: &Counters| {
        let _ = writeln!(
            out,
            "{:<w$}{:>9.1}{:>9.1}{:>8}{:>8}{:>8}{:>7}{:>7}{:>7}{:>7}{:>11}{:>11}",
            name,
            target / minutes,
            started as f64 / minutes,
            c.uploads,
            c.downloads,
            c.deletes,
            c.failures,
            c.shortfall,
            c.live_objects,
            c.in_flight(),
            human_bytes(c.bytes_up),
            human_bytes(c.bytes_down)
        );
    };
    // Replicas fold into one row per persona unless `--expand-replicas`.
    for (persona, members) in roster.columns() {
        let mut c = Counters::default();
        let (mut target, mut started) = (0.0, 0);
        for &i in &members {
            c.add(&stats.users[i]);
            target += roster.target_ops(map, i, from, to);
            started += stats.users[i].started - prev.get(i).copied().unwrap_or(0);
        }
        total_target += target;
        total_started += started;
        let name = if members.len() == 1 {
            roster.users[members[0]].id.clone()
        } else {
            format!("{persona} x{}", members.len())
        };
        row(out, &name, target, started, &c);
    }
    row(out, "TOTAL", total_target, total_started, t);
}

/// Failures by class and slots not started by reason, when there are any.
fn shortfall_lines(out: &mut String, t: &Counters) {
    if t.failures > 0 {
        let classes: Vec<String> =
            t.failures_by_class.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "failures: {}", classes.join(", "));
    }
    if t.shortfall > 0 {
        let reasons: Vec<String> =
            t.shortfall_by_reason.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "shortfall (slots not started): {}", reasons.join(", "));
    }
}

/// The mix achieved against the profile's, once any operation finished.
fn mix_line(out: &mut String, f: &Fidelity) {
    if f.operations == 0 {
        return;
    }
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
    let pts = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.1}", v * 100.0));
    let _ = writeln!(
        out,
        "mix vs profile: downloads {} ({}), expected failures {} ({}), other commands off by {} pts, kinds by {} pts, size bands by {} pts; reads with no object yet {}",
        pct(f.download_share.achieved),
        pct(Some(f.download_share.target)),
        pct(f.error_share.achieved),
        pct(Some(f.error_share.target)),
        pts(f.extras_share_error),
        pts(f.kind_share_error),
        pts(f.size_band_error),
        f.no_object
    );
}

/// What the client's word was checked against: integrity failures, expected failures,
/// head-object confirmations; each line only when it has something to say.
fn check_lines(out: &mut String, t: &Counters) {
    if t.integrity_failures > 0 {
        let classes: Vec<String> =
            t.integrity.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "INTEGRITY (the client's word contradicted): {}", classes.join(", "));
    }
    let expected: u64 = t.expected_failures.values().sum();
    let unexpected: u64 = t.unexpected_success.values().sum();
    if expected + unexpected > 0 {
        let _ = writeln!(out, "expected failures: {expected} failed as they should, {unexpected} succeeded (defects)");
    }
    if t.confirmed_uploads + t.confirmed_deletes + t.unconfirmed > 0 {
        let _ = writeln!(
            out,
            "confirmed by head-object: {} uploads, {} deletes ({} checks undecided)",
            t.confirmed_uploads, t.confirmed_deletes, t.unconfirmed
        );
    }
}

/// Latency per command that ran, with a line per size class when there are several.
fn latency_block(out: &mut String, stats: &Stats, t: &Counters) {
    let _ = writeln!(
        out,
        "{:<22}{:>7}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "latency (ms)", "n", "min", "p50", "p90", "p95", "p99", "max", "failed"
    );
    let line = |out: &mut String, name: &str, l: &Latency, failed: u64| {
        let _ = writeln!(
            out,
            "{:<22}{:>7}{:>10.0}{:>10.0}{:>10.0}{:>10.0}{:>10.0}{:>10.0}{:>10}",
            name, l.count, l.min_ms, l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.max_ms, failed
        );
    };
    for op in OpType::ALL {
        let l = stats.latency(op);
        let failed = t.ops.get(op.name()).map_or(0, |c| c.failed);
        if l.count + failed == 0 {
            continue;
        }
        line(out, op.name(), &l, failed);
        for class in SizeClass::ALL {
            let ls = stats.latency_by_size(op, class);
            // One class alone repeats the line above.
            if ls.count > 0 && ls.count < l.count {
                line(out, &format!("  {}", class.label()), &ls, 0);
            }
        }
    }
}
