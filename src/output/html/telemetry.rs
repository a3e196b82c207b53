//! The page's sections that check the client's word against others': obsctl's telemetry
//! reconciled against what ran (in all and by simulated hour), and the S3 server's own
//! request counts. Shown only when the run measured them (`--verify-telemetry`,
//! `--server-metrics`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::model::clock::civil;
use crate::model::server;
use crate::model::summary::{MergedTelemetry, ServerSection, Summary, TelemetrySection};
use crate::model::telemetry::{Agreement, Report, Window};

use super::page::{count, esc, fmt, nodata, table};

/// An optional number for a table cell, `-` when absent.
fn cell(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".into(), |x| fmt(x, digits))
}

pub(super) fn telemetry(out: &mut String, s: &Summary) {
    let Some(section) = &s.telemetry else { return };
    out.push_str("<h2>Telemetry reconciliation</h2>\n");
    match section {
        TelemetrySection::Run(r) => report(out, r),
        TelemetrySection::Merged(m) => merged(out, m),
    }
}

/// A merge's telemetry: the sums, the hours added up, then each shard's own section.
fn merged(out: &mut String, m: &MergedTelemetry) {
    let _ = writeln!(
        out,
        "<p>{} shards: {} of {} children that ended reported ({} exports lost); {} export requests; \
         {} foreign requests without a valid token (ignored). <span class=\"{}\">{} families mismatch.</span></p>",
        count(m.per_shard.len() as u64),
        count(m.children_reported),
        count(m.children_ended),
        count(m.lost_exports),
        count(m.export_requests),
        count(m.foreign_requests),
        if m.mismatches > 0 { "fail" } else { "pass" },
        count(m.mismatches)
    );
    window_table(out, &m.windows);
    for (i, r) in m.per_shard.iter().enumerate() {
        let _ = writeln!(out, "<h3>Shard {i}</h3>");
        report(out, r);
    }
}

/// One run's reconciliation: the counts, the families, the hours, the strays.
fn report(out: &mut String, t: &Report) {
    let examples = if t.foreign_examples.is_empty() {
        String::new()
    } else {
        format!("; instance ids such as {}", esc(&t.foreign_examples.join(", ")))
    };
    let _ = writeln!(
        out,
        "<p>{}: {} of {} children that ended reported ({} exports lost, {} late, {} children killed; \
         at most {} child records alive at once); \
         {} export requests, {} unattributed; {} forwarded ({} failed); {} foreign requests without a valid token \
         (ignored{examples}). <span class=\"{}\">{} families mismatch.</span></p>",
        esc(&t.client),
        count(t.children_reported),
        count(t.children_ended),
        count(t.lost_exports),
        count(t.late_exports),
        count(t.children_killed),
        count(t.peak_live_children),
        count(t.export_requests),
        count(t.unattributed_requests),
        count(t.forwarded),
        count(t.forward_failures),
        count(t.foreign_requests),
        if t.mismatches > 0 { "fail" } else { "pass" },
        count(t.mismatches)
    );
    let rows: Vec<Vec<String>> = t
        .families
        .iter()
        .map(|(name, f)| {
            let class = match f.verdict {
                Agreement::Mismatch => "fail",
                Agreement::Match => "pass",
                Agreement::NotApplicable | Agreement::Allowed => "muted",
            };
            vec![
                esc(name),
                cell(Some(f.expected), 2),
                cell(Some(f.reported), 2),
                cell(Some(f.diff), 2),
                cell(f.server, 2),
                format!("<span class=\"{class}\">{}</span>", esc(f.verdict.name())),
                esc(f.note.as_deref().unwrap_or_default()),
            ]
        })
        .collect();
    if rows.is_empty() {
        nodata(out, "telemetry families");
    } else {
        table(out, "telemetry", &["family", "expected", "reported", "diff", "server", "verdict", "note"], &rows);
    }
    window_table(out, &t.windows);
    let strays: Vec<Vec<String>> =
        t.out_of_contract.iter().map(|x| vec![esc(&x.metric), esc(&x.attributes), cell(Some(x.total), 2)]).collect();
    if !strays.is_empty() {
        out.push_str("<h3>Series outside the contract</h3>\n");
        table(out, "strays", &["metric", "attributes", "total"], &strays);
    }
}

/// The reconciliation by simulated hour: one row per hour, one column per family that
/// moved in any hour, each cell `reported / expected`, mismatching cells marked. Shows
/// when the client's numbers drifted, which a whole-run total cannot.
fn window_table(out: &mut String, windows: &[Window]) {
    if windows.is_empty() {
        return;
    }
    let mut names: Vec<&str> = windows
        .iter()
        .flat_map(|w| w.families.keys().map(String::as_str))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // In the contract's table order.
    names.sort_by_key(|n| crate::model::contract::FAMILIES.iter().position(|(f, _)| f == n));
    let rows: Vec<Vec<String>> = windows
        .iter()
        .map(|w| {
            let c = civil(w.start_unix as f64);
            let mut row = vec![
                format!("{} {}", c.date(), c.hhmm()),
                count(w.children_ended),
                count(w.lost_exports),
                format!(
                    "<span class=\"{}\">{}</span>",
                    if w.mismatches > 0 { "fail" } else { "pass" },
                    count(w.mismatches)
                ),
            ];
            for name in &names {
                row.push(match w.families.get(*name) {
                    Some(f) => {
                        let cell = format!("{} / {}", fmt(f.reported, 2), fmt(f.expected, 2));
                        match f.verdict {
                            Agreement::Mismatch => format!("<span class=\"fail\" title=\"MISMATCH\">{cell} ✗</span>"),
                            Agreement::Match => cell,
                            other => format!("<span class=\"muted\" title=\"{}\">{cell}</span>", esc(other.name())),
                        }
                    }
                    None => String::new(),
                });
            }
            row
        })
        .collect();
    out.push_str("<h3>By simulated hour (reported / expected)</h3>\n");
    let mut head = vec!["hour (UTC)", "ended", "lost", "mismatches"];
    head.extend(names.iter().copied());
    table(out, "windows", &head, &rows);
}

pub(super) fn server_metrics(out: &mut String, s: &Summary) {
    let Some(section) = &s.server_metrics else { return };
    out.push_str("<h2>Server metrics</h2>\n");
    match section {
        ServerSection::Run(m) => server_report(out, m),
        // A merge: each shard's own counts, as the shards' servers counted them.
        ServerSection::PerShard(shards) => {
            for (i, m) in shards.iter().enumerate() {
                let _ = writeln!(out, "<h3>Shard {i}</h3>");
                match m {
                    Some(m) => server_report(out, m),
                    None => nodata(out, "server requests"),
                }
            }
        }
    }
}

/// One run's server counts: the whole run, then by simulated hour.
fn server_report(out: &mut String, m: &server::Report) {
    let _ = writeln!(
        out,
        "<p>The server's request counts ({}) beside the {} commands this run ran.</p>",
        esc(&m.url),
        count(m.commands)
    );
    let rows: Vec<Vec<String>> = m.apis.iter().map(|(api, r)| api_row(api, r)).collect();
    if rows.is_empty() {
        nodata(out, "server requests");
    } else {
        table(
            out,
            "server",
            &["S3 API", "server requests", "server errors", "trafficgen commands", "amplification", "per command"],
            &rows,
        );
    }
    server_windows(out, m);
}

/// The server's counts by stretch of simulated time (an hour, or more when the clock ran
/// faster than the server could be read): one row per window, one column per S3 API,
/// each cell `server requests / trafficgen commands`.
fn server_windows(out: &mut String, m: &server::Report) {
    if m.windows.is_empty() {
        return;
    }
    let apis: Vec<&str> =
        m.windows.iter().flat_map(|w| w.apis.keys().map(String::as_str)).collect::<BTreeSet<_>>().into_iter().collect();
    let rows: Vec<Vec<String>> = m
        .windows
        .iter()
        .map(|w| {
            let (a, b) = (civil(w.start_unix as f64), civil(w.end_unix as f64));
            let mut row = vec![format!("{} {} – {}", a.date(), a.hhmm(), b.hhmm()), count(w.commands)];
            for api in &apis {
                row.push(match w.apis.get(*api) {
                    Some(r) => {
                        let theirs = r.trafficgen.map_or("-".to_string(), count);
                        format!("{} / {theirs}", cell(Some(r.server), 0))
                    }
                    None => String::new(),
                });
            }
            row
        })
        .collect();
    out.push_str("<h3>By simulated hour (server requests / trafficgen commands)</h3>\n");
    let mut head = vec!["window (UTC)", "commands"];
    head.extend(apis.iter().copied());
    table(out, "server-windows", &head, &rows);
}

fn api_row(api: &str, r: &server::ApiRow) -> Vec<String> {
    vec![
        esc(api),
        cell(Some(r.server), 0),
        cell(Some(r.server_errors), 0),
        cell(r.trafficgen.map(|n| n as f64), 0),
        cell(r.amplification, 3),
        cell(Some(r.per_command), 3),
    ]
}
