//! The plan as people read it: the one-screen summary `check` prints and the hourly
//! table `plan` prints. Text for a terminal is the commands' business, so it lives here
//! and the configuration layer keeps only the data (`Plan`, `Plan::hourly_table`).

use std::fmt::Write as _;

use crate::config::plan::{HourlyTable, Plan};
use crate::model::events::OpType;
use crate::model::secrets;
use crate::model::summary::Split;
use crate::model::units::human_bytes;

/// The one-screen summary `trafficgen check` prints. Secret env values are hidden.
pub fn describe(plan: &Plan) -> String {
    let mut o = String::new();
    client_and_run(&mut o, plan);
    shares_and_checks(&mut o, plan);
    limits_and_kinds(&mut o, plan);
    users(&mut o, plan);
    o
}

/// The source line, the client, its environment, the run's durations and the rates.
fn client_and_run(o: &mut String, plan: &Plan) {
    let table = plan.hourly_table();
    let min = table.hours.iter().map(|h| h.total).fold(f64::INFINITY, f64::min);
    let max = table.hours.iter().map(|h| h.total).fold(0.0, f64::max);
    let _ = writeln!(o, "{}: OK", plan.source.display());
    let _ = writeln!(
        o,
        "client   {} `{}`, endpoint {}, region {}",
        plan.client.flavor.name(),
        plan.client.binary.display(),
        plan.client.endpoint.as_deref().map_or("(client default)".into(), secrets::scrub),
        plan.client.region
    );
    let env: Vec<String> = plan
        .client
        .env
        .iter()
        .map(|(k, v)| if secrets::is_secret(k, v) { format!("{k}=***") } else { format!("{k}={v}") })
        .collect();
    let _ = writeln!(o, "env      {}", if env.is_empty() { "(none)".into() } else { env.join(" ") });
    let _ = writeln!(
        o,
        "run      {} (simulated), command timeout {}, grace {}, stats every {}, log {}",
        humantime::format_duration(plan.duration),
        humantime::format_duration(plan.command_timeout),
        humantime::format_duration(plan.grace_period),
        humantime::format_duration(plan.stats_interval),
        plan.log_file.display()
    );
    let _ = writeln!(
        o,
        "rates    {:.0}-{:.0} ops/min for the fleet; {:.0}% downloads, {:.0}% expected failures, {} arrivals",
        min,
        max,
        plan.rates.download_share * 100.0,
        plan.rates.error_share * 100.0,
        plan.rates.arrivals.name()
    );
}

/// Each command's percentage of all operations: weights scaled to add up to `scale`,
/// or shares as they are when `scale` is 0.
fn percentages(list: &[(OpType, f64)], scale: f64) -> String {
    let total: f64 = list.iter().map(|(_, w)| w).sum();
    let parts: Vec<String> = list
        .iter()
        .map(|(op, w)| format!("{} {:.1}%", op.name(), if scale > 0.0 { w / total * scale } else { *w } * 100.0))
        .collect();
    if parts.is_empty() { "none".into() } else { parts.join(", ") }
}

/// Expected failures, the mix, what is verified, telemetry, the server, the verdict.
fn shares_and_checks(o: &mut String, plan: &Plan) {
    if plan.rates.error_share > 0.0 {
        let _ = writeln!(o, "expected {}", percentages(&plan.rates.expected_failures, plan.rates.error_share));
    }
    let _ = writeln!(o, "mix      {} (of operations; the rest are uploads)", percentages(&plan.rates.extras, 0.0));
    let _ = writeln!(
        o,
        "verify   head-object after {:.0}% of uploads and {:.0}% of TTL deletes; downloads and presigned GETs byte for byte",
        plan.verify.confirm_uploads * 100.0,
        plan.verify.confirm_deletes * 100.0
    );
    if plan.telemetry.verify {
        let known: Vec<String> = plan
            .telemetry
            .allow
            .iter()
            .map(|k| format!("{}: {}", k.key, k.families.keys().cloned().collect::<Vec<_>>().join(", ")))
            .collect();
        let _ = writeln!(
            o,
            "telemetry obsctl's metrics verified against what ran{}",
            if known.is_empty() {
                String::new()
            } else {
                format!("; known deviations allowed for {}", known.join("; "))
            }
        );
    }
    if let Some(url) = &plan.server_metrics {
        let url = secrets::scrub(url);
        let _ = writeln!(o, "server   its own counters from {url}, read at the start and the end");
    }
    let list: Vec<&str> = plan.thresholds.iter().map(|t| t.text.as_str()).collect();
    let _ = writeln!(
        o,
        "verdict  exit 3 on any integrity failure{}{}",
        if list.is_empty() { "" } else { " or failed threshold: " },
        list.join(", ")
    );
}

/// The limits, the objects' lifetimes, and each kind's sizes.
fn limits_and_kinds(o: &mut String, plan: &Plan) {
    let _ = writeln!(
        o,
        "limits   {} in flight per user, {} in all, {} of uploads in memory, keep {} disk free",
        plan.limits.max_in_flight_per_user,
        plan.limits.max_in_flight,
        human_bytes(plan.limits.upload_memory_budget),
        human_bytes(plan.limits.min_free_disk)
    );
    let _ = writeln!(
        o,
        "ttl      {} ({} above {})",
        humantime::format_duration(plan.lifecycle.ttl),
        humantime::format_duration(plan.lifecycle.large_ttl),
        human_bytes(plan.lifecycle.large_threshold)
    );
    for k in &plan.kinds {
        let lo = k.bands.iter().map(|b| b.min).min().unwrap_or(0);
        let hi = k.bands.iter().map(|b| b.max).max().unwrap_or(0);
        let _ = writeln!(
            o,
            "kind     {:<10} {} to {}, {} extensions",
            k.name,
            human_bytes(lo),
            human_bytes(hi),
            k.extensions.len()
        );
    }
}

/// The users' table: role, bucket, peak hours, activity and the kinds they write.
fn users(o: &mut String, plan: &Plan) {
    let w = plan.columns().iter().map(|(n, m)| n.len() + if m.len() > 1 { 6 } else { 0 }).max().unwrap_or(0).max(16);
    let _ = writeln!(o, "{:<w$} {:<22} {:<22} {:>6} {:>8}  kinds", "user", "role", "bucket", "peak", "activity");
    // One row per column of the plan table: a persona's replicas share their row.
    for (name, members) in plan.columns() {
        let u = &plan.users[members[0]];
        let name = if members.len() > 1 { format!("{name} x{}", members.len()) } else { name };
        let total: f64 = u.kind_weights.iter().sum();
        let mut ks: Vec<(f64, &str)> = u
            .kind_weights
            .iter()
            .zip(&plan.kinds)
            .filter(|(w, _)| **w > 0.0)
            .map(|(w, k)| (*w, k.name.as_str()))
            .collect();
        ks.sort_by(|a, b| b.0.total_cmp(&a.0));
        let kinds: Vec<String> = ks.iter().map(|(w, n)| format!("{n} {:.0}%", w / total * 100.0)).collect();
        let _ = writeln!(
            o,
            "{:<w$} {:<22} {:<22} {:>6} {:>8.1}  {}",
            name,
            u.role,
            u.bucket,
            u.peak.label(),
            u.activity,
            kinds.join(", ")
        );
    }
}

/// Eighths of a character cell, for bars and sparklines.
const BLOCKS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per hour, scaled to `max`.
fn sparkline(values: &[f64], max: f64) -> String {
    values
        .iter()
        .map(
            |v| if max <= 0.0 || *v <= 0.0 { BLOCKS[1] } else { BLOCKS[((v / max * 8.0).ceil() as usize).clamp(1, 8)] },
        )
        .collect()
}

/// The fleet's target per hour as a bar chart `height` rows tall, two columns per hour.
fn day_chart(totals: &[f64], height: usize) -> String {
    let max = totals.iter().copied().fold(0.0, f64::max);
    let mut out = String::new();
    for row in (0..height).rev() {
        let label = if row == height - 1 {
            format!("{max:>8.1} ")
        } else if row == 0 {
            format!("{:>8} ", 0)
        } else {
            " ".repeat(9)
        };
        out.push_str(&label);
        out.push('│');
        for v in totals {
            let eighths = if max > 0.0 { (v / max * (height * 8) as f64).round() as usize } else { 0 };
            let cell = eighths.saturating_sub(row * 8).min(8);
            let c = BLOCKS[cell];
            out.push(c);
            out.push(c);
        }
        out.push('\n');
    }
    out.push_str(&format!("{:>9}└{}\n", "", "─".repeat(totals.len() * 2)));
    out.push_str(&format!("{:>10}00    03    06    09    12    15    18    21  UTC\n", ""));
    out
}

/// What `trafficgen plan` prints: the shard, the hourly table, the day's chart and each
/// persona's sparkline.
pub fn hourly(table: &HourlyTable, plan: &Plan) -> String {
    let mut out = String::new();
    if let Some(s) = table.shard {
        out.push_str(&format!("shard {} of {} (counted from 0): ", s.index, s.count));
        out.push_str(match s.split {
            Split::Users => "its share of the users, each at its full rate\n",
            Split::Rate => "every user at 1/N of its rate\n",
        });
    }
    out.push_str(&hour_rows(table, plan));
    let totals: Vec<f64> = table.hours.iter().map(|h| h.total).collect();
    let min = totals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = totals.iter().copied().fold(0.0, f64::max);
    out.push_str(&format!("fleet total: {min:.1} to {max:.1} ops/min\n\n"));
    out.push_str("fleet target ops/min over the day\n");
    out.push_str(&day_chart(&totals, 6));
    out.push_str(&persona_sparklines(table, plan));
    out
}

/// The table itself: a column per persona (or user), a row per UTC hour, peaks marked.
fn hour_rows(table: &HourlyTable, plan: &Plan) -> String {
    let cols = plan.columns();
    let mut out = String::new();
    out.push_str("target operations per wall-clock minute, by UTC hour (* = peak)\n");
    out.push_str("hour ");
    let heads: Vec<String> = cols
        .iter()
        .map(|(name, members)| {
            let short = name.split('-').next().unwrap_or(name);
            if members.len() > 1 { format!("{short}x{}", members.len()) } else { short.to_string() }
        })
        .collect();
    let w = heads.iter().map(|h| h.len() + 1).max().unwrap_or(0).max(9);
    for head in &heads {
        out.push_str(&format!("{head:>w$}"));
    }
    out.push_str(&format!("{:>9}\n", "TOTAL"));
    for row in &table.hours {
        out.push_str(&format!("{:02}   ", row.hour));
        for (_, members) in &cols {
            let first = &plan.users[members[0]];
            let mark = if first.peak.contains(row.hour) { '*' } else { ' ' };
            let v: f64 = members.iter().map(|&i| row.users[&plan.users[i].id]).sum();
            out.push_str(&format!("{v:>width$.1}{mark}", width = w - 1));
        }
        out.push_str(&format!("{:>9.1}\n", row.total));
    }
    out
}

/// Each persona's day as a sparkline scaled to its own peak.
fn persona_sparklines(table: &HourlyTable, plan: &Plan) -> String {
    let cols = plan.columns();
    let mut out = String::from("\nper persona, 00-23 UTC (each scaled to its own peak)\n");
    let width = cols.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(8);
    for (name, members) in &cols {
        let values: Vec<f64> =
            table.hours.iter().map(|h| members.iter().map(|&i| h.users[&plan.users[i].id]).sum()).collect();
        let peak = values.iter().copied().fold(0.0, f64::max);
        out.push_str(&format!("{name:<width$} {} peak {peak:.1}\n", sparkline(&values, peak)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_appear_in_the_check_summary() {
        let p = crate::config::profile::shipped();
        let d = describe(&p);
        assert!(!d.contains("minioadmin123"), "{d}");
        assert!(d.contains("AWS_SECRET_ACCESS_KEY=***"));
        assert!(d.contains("OTEL_ENABLED=true"));
    }
}
