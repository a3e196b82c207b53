//! obsctl's own telemetry, checked against what really happened. Every child gets its
//! own identity (`OTEL_RESOURCE_ATTRIBUTES`); with verification on, an in-process OTLP
//! receiver collects every child's export, and at the end each metric family is
//! reconciled against the contract (`model::contract`): expected, reported, difference.
//! Only exports that carry a child's token (`config::token`) are reconciled; the others are
//! counted as foreign and reported, never believed.

pub mod exports;
pub mod ledger;
pub mod receiver;
pub mod store;

use std::collections::BTreeMap;

use crate::model::contract::{self, Expect};
use crate::model::events::Build;
use crate::model::telemetry::{Agreement, CommandKind, Family, Report, Stray, Window};
use ledger::Sums;
use store::Store;

/// Known deviations: metric → reason, for the client version the profile names.
pub type Allow = BTreeMap<String, String>;

/// The deviations allowed for the run as a whole and, under `ab`, for each build's own
/// children (each build by its own version).
#[derive(Debug, Clone, Default)]
pub struct Allowances {
    pub run: Allow,
    pub builds: BTreeMap<Build, Allow>,
}

fn families(
    expected: &BTreeMap<&'static str, Expect>,
    reported: &BTreeMap<&'static str, Expect>,
    classes_known: bool,
    allow: &Allow,
) -> BTreeMap<String, Family> {
    let mut out = BTreeMap::new();
    for (name, hist) in contract::FAMILIES {
        let e = expected.get(name).copied().unwrap_or_default();
        let r = reported.get(name).copied().unwrap_or_default();
        // Histograms are judged by their number of samples; file sizes by their sum too.
        let (exp, rep) = if *hist { (e.count as f64, r.count as f64) } else { (e.value, r.value) };
        let sums_differ = *name == "file_size_bytes" && (e.value - r.value).abs() > 0.5;
        let differs = (exp - rep).abs() > 1e-6 || sums_differ;
        let (verdict, note) = if contract::ERROR_CLASSES.contains(name) && !classes_known {
            (Agreement::NotApplicable, Some("some failures have no known cause".to_string()))
        } else if !differs {
            (Agreement::Match, None)
        } else if let Some(why) = allow.get(*name) {
            (Agreement::Allowed, Some(why.clone()))
        } else {
            (Agreement::Mismatch, sums_differ.then(|| format!("sizes sum to {} bytes, expected {}", r.value, e.value)))
        };
        out.insert(
            name.to_string(),
            Family { expected: exp, reported: rep, diff: rep - exp, verdict, server: None, note },
        );
    }
    out
}

fn families_of(s: &Sums, allow: &Allow) -> BTreeMap<String, Family> {
    families(&s.expected, &s.reported, !s.unknown_failures, allow)
}

/// The families of one window: only those that moved in it (expected or reported).
fn window_of(start_hour: i64, s: &Sums, allow: &Allow) -> Window {
    let fams: BTreeMap<String, Family> =
        families_of(s, allow).into_iter().filter(|(_, f)| f.expected != 0.0 || f.reported != 0.0).collect();
    Window {
        start_unix: start_hour * 3600,
        children_ended: s.ended,
        children_reported: s.reported_children,
        lost_exports: s.ended - s.reported_children,
        mismatches: fams.values().filter(|f| f.verdict == Agreement::Mismatch).count() as u64,
        families: fams,
    }
}

/// The report with `ab`'s per-child samples of each build (the end of the run).
pub fn with_build_samples(mut report: Report, store: &Store) -> Report {
    report.build_samples = store
        .ledger
        .tally
        .build_samples
        .iter()
        .map(|(b, fams)| {
            let fams = fams.iter().map(|(n, r)| (n.to_string(), r.kept.clone())).collect();
            (b.name().to_string(), fams)
        })
        .collect();
    report.build_children =
        store.ledger.tally.builds.iter().map(|(b, s)| (b.name().to_string(), (s.ended, s.reported_children))).collect();
    report
}

/// The reconciliation so far, from the ledger's sums (children still in flight or
/// awaiting their export are not in it yet) and the receiver's counters.
pub fn reconcile(
    client: &str,
    store: &Store,
    counters: (u64, u64, u64),
    users: &[String],
    allowances: &Allowances,
) -> Report {
    let t = &store.ledger.tally;
    let allow = &allowances.run;
    let fams = families_of(&t.all, allow);
    let mismatches = fams.values().filter(|f| f.verdict == Agreement::Mismatch).count() as u64;
    let mut per_user = BTreeMap::new();
    for (i, sums) in &t.users {
        if let Some(name) = users.get(*i) {
            per_user.insert(name.clone(), families_of(sums, allow));
        }
    }
    // A child's resources under another id are unattributed; so is a child the ledger
    // does not follow.
    let mut strays = t.strays.clone();
    let mut tally = ledger::Tally::default();
    for c in store.mislabelled.values() {
        ledger::strays_of(c, &mut tally);
    }
    for (k, v) in tally.strays {
        *strays.entry(k).or_default() += v;
    }
    let unattributed =
        t.unattributed + store.mislabelled.values().map(|c| c.requests).sum::<u64>() + store.mislabelled_overflow;
    Report {
        client: client.to_string(),
        children_ended: t.all.ended,
        children_reported: t.all.reported_children,
        lost_exports: t.all.ended - t.all.reported_children,
        children_killed: t.killed,
        late_exports: t.late_exports,
        peak_live_children: store.ledger.peak_live,
        unattributed_requests: unattributed,
        export_requests: counters.0,
        foreign_requests: store.foreign.requests,
        foreign_instance_ids: store.foreign.ids.len() as u64,
        foreign_ids_capped: store.foreign.ids_capped,
        foreign_examples: store.foreign.examples(),
        dropped_series: store.dropped_series + t.dropped_strays,
        forwarded: counters.1,
        forward_failures: counters.2,
        mismatches,
        families: fams,
        users: per_user,
        builds: t
            .builds
            .iter()
            .map(|(b, s)| (b.name().to_string(), families_of(s, allowances.builds.get(b).unwrap_or(allow))))
            .collect(),
        // Only the end of the run needs them (`with_build_samples`), not each live table.
        build_samples: BTreeMap::new(),
        build_children: BTreeMap::new(),
        commands: t
            .commands
            .iter()
            .map(|(c, s)| {
                let k = CommandKind {
                    children_ended: s.ended,
                    children_reported: s.reported_children,
                    lost_exports: s.ended - s.reported_children,
                };
                (c.name().to_string(), k)
            })
            .collect(),
        windows: t.windows.iter().map(|(h, s)| window_of(*h, s, allow)).collect(),
        out_of_contract: strays
            .into_iter()
            .map(|((metric, attributes), total)| Stray { metric, attributes, total })
            .collect(),
    }
}

/// Sets the server's count beside the families that have an S3 API counterpart.
pub fn add_server(r: &mut Report, server: &crate::model::server::Report) {
    for (family, api) in [
        ("uploads_total", "PutObject"),
        ("downloads_total", "GetObject"),
        ("deletes_total", "DeleteObject"),
        ("lists_total", "ListObjectsV2"),
    ] {
        if let Some(f) = r.families.get_mut(family) {
            f.server = Some(server.apis.get(api).map_or(0.0, |a| a.server));
        }
    }
}

/// The running reconciliation, for the periodic tables and the live status: children
/// heard from so far and the families mismatching so far.
pub fn running_line(t: &Report, live: usize) -> String {
    let bad: Vec<&str> =
        t.families.iter().filter(|(_, f)| f.verdict == Agreement::Mismatch).map(|(n, _)| n.as_str()).collect();
    format!(
        "telemetry: {}/{} children reported, {} awaited or in flight; {} families mismatch so far{}",
        t.children_reported,
        t.children_ended,
        live,
        bad.len(),
        if bad.is_empty() { String::new() } else { format!(" ({})", bad.join(", ")) }
    )
}

/// The final table.
pub fn render(r: &Report) -> String {
    use std::fmt::Write as _;
    let with_server = r.families.values().any(|f| f.server.is_some());
    let mut out = format!("telemetry ({}):\n", r.client);
    let _ = write!(out, "{:<28}{:>14}{:>15}{:>15}", "metric", "expected", "reported", "diff");
    if with_server {
        let _ = write!(out, "{:>10}", "server");
    }
    let _ = writeln!(out, "  verdict");
    for (name, f) in &r.families {
        let _ = write!(out, "{name:<28}{:>14}{:>15}{:>+15}", f.expected, f.reported, f.diff);
        if with_server {
            let _ = write!(out, "{:>10}", f.server.map_or("-".to_string(), |s| s.to_string()));
        }
        let note = f.note.as_deref().map_or(String::new(), |n| format!(" ({n})"));
        let _ = writeln!(out, "  {}{note}", f.verdict.name());
    }
    let _ = writeln!(
        out,
        "children: {} ended, {} reported, {} exports lost ({} late), {} killed before exporting, at most {} records alive; {} export requests ({} unattributed), {} forwarded, {} forward failures",
        r.children_ended,
        r.children_reported,
        r.lost_exports,
        r.late_exports,
        r.children_killed,
        r.peak_live_children,
        r.export_requests,
        r.unattributed_requests,
        r.forwarded,
        r.forward_failures
    );
    if r.foreign_requests > 0 {
        let _ = writeln!(
            out,
            "foreign: {} export requests without a valid token from {}{} instance ids (e.g. {}): ignored",
            r.foreign_requests,
            r.foreign_instance_ids,
            if r.foreign_ids_capped { "+" } else { "" },
            r.foreign_examples.join(", ")
        );
    }
    if r.dropped_series > 0 {
        let _ = writeln!(out, "{} series over the per-child cap were not kept", r.dropped_series);
    }
    if !r.out_of_contract.is_empty() {
        let list: Vec<String> = r
            .out_of_contract
            .iter()
            .map(|s| {
                if s.attributes.is_empty() {
                    format!("{} {}", s.metric, s.total)
                } else {
                    format!("{}{{{}}} {}", s.metric, s.attributes, s.total)
                }
            })
            .collect();
        let _ = writeln!(out, "outside the contract: {}", list.join(", "));
    }
    let _ = write!(out, "{} families mismatch", r.mismatches);
    out
}
