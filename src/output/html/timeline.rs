//! The timeline's charts: throughput (the fleet and each persona, target against
//! achieved), latency percentiles and failures and shortfall, all over simulated time.
//! Read from the summary's typed points into rates a minute, so runs of any stats
//! interval draw alike.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::style::RGBColor;

use crate::model::counts::{Name, TimelinePoint};
use crate::model::summary::Summary;

use super::charts::ChartFailed;
use super::charts::{ACHIEVED, Line, PALETTE, SMALL, TARGET, WIDE, line_chart};
use super::page::{esc, figure, fmt, nodata, slug, table};

/// Personas with a throughput chart of their own; the rest are in the table only.
pub(super) const MAX_PERSONA_CHARTS: usize = 24;

/// One stats interval, as the charts read it.
pub(super) struct Point {
    /// Simulated UNIX seconds at the end of the interval.
    pub(super) sim: f64,
    /// Wall seconds the interval covers.
    pub(super) interval: f64,
    /// Of those, the seconds during which operations were scheduled (none after the
    /// end of dispatch: the drain and cleanup ask for nothing), and the simulated time
    /// at the end of that part: where the throughput charts put the point.
    dispatch: f64,
    dispatch_sim: f64,
    target: f64,
    pub(super) achieved: f64,
    pub(super) personas: BTreeMap<String, (f64, f64)>,
    pub(super) failed: f64,
    shortfall: f64,
    failures_by_class: BTreeMap<String, f64>,
    shortfall_by_reason: BTreeMap<String, f64>,
    /// op → (p50, p95, p99) ms.
    latency: BTreeMap<String, (f64, f64, f64)>,
}

pub(super) struct Timeline {
    pub(super) points: Vec<Point>,
}

impl Point {
    /// The interval's point, given the wall second dispatch ended at and the time scale.
    fn read(p: &TimelinePoint, dispatch_end: f64, scale: f64) -> Point {
        let counts = |m: &BTreeMap<Name, u64>| -> BTreeMap<String, f64> {
            m.iter().map(|(k, v)| (k.to_string(), *v as f64)).collect()
        };
        let (t, interval) = (p.t_s, p.interval_s);
        Point {
            sim: p.sim_unix,
            interval,
            dispatch: (t.min(dispatch_end) - (t - interval)).clamp(0.0, interval),
            dispatch_sim: p.sim_unix - (t - t.min(dispatch_end)) * scale,
            target: p.target,
            achieved: p.scheduled as f64,
            personas: p.personas.iter().map(|(k, v)| (k.clone(), (v.target, v.scheduled as f64))).collect(),
            failed: p.failed as f64,
            shortfall: p.shortfall as f64,
            failures_by_class: counts(&p.failures_by_class),
            shortfall_by_reason: counts(&p.shortfall_by_reason),
            latency: p.latency_ms.iter().map(|(k, l)| (k.to_string(), (l.p50_ms, l.p95_ms, l.p99_ms))).collect(),
        }
    }

    fn absorb(&mut self, o: Point) {
        let add = |a: &mut BTreeMap<String, f64>, b: BTreeMap<String, f64>| {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
        };
        self.sim = o.sim;
        self.interval += o.interval;
        if o.dispatch > 0.0 {
            self.dispatch += o.dispatch;
            self.dispatch_sim = o.dispatch_sim;
        }
        self.target += o.target;
        self.achieved += o.achieved;
        for (k, (t, a)) in o.personas {
            let e = self.personas.entry(k).or_default();
            e.0 += t;
            e.1 += a;
        }
        self.failed += o.failed;
        self.shortfall += o.shortfall;
        add(&mut self.failures_by_class, o.failures_by_class);
        add(&mut self.shortfall_by_reason, o.shortfall_by_reason);
        // Percentiles do not add up: the longer interval's stand, the short one's fill gaps.
        for (k, v) in o.latency {
            self.latency.entry(k).or_insert(v);
        }
    }
}

impl Timeline {
    pub(super) fn read(s: &Summary) -> Timeline {
        let mut points: Vec<Point> = s
            .timeline
            .iter()
            .filter(|p| p.interval_s > 0.0)
            .map(|p| Point::read(p, s.dispatch_s, s.time_scale))
            .collect();
        // The last interval ends when the run does, often a moment after the one
        // before: as a rate of its own it would be noise, so it joins that one.
        if points.len() >= 2 && points[points.len() - 1].interval < points[points.len() - 2].interval / 2.0 {
            let last = points.pop().expect("two points");
            points.last_mut().expect("one point").absorb(last);
        }
        Timeline { points }
    }
    fn span(&self) -> (f64, f64) {
        let lo = self.points.iter().map(|p| p.sim).fold(f64::INFINITY, f64::min);
        let hi = self.points.iter().map(|p| p.sim).fold(f64::NEG_INFINITY, f64::max);
        if hi > lo { (lo, hi) } else { (lo - 1.0, lo + 1.0) }
    }

    /// A per-minute series of one quantity.
    fn rate(&self, f: impl Fn(&Point) -> Option<f64>) -> Vec<(f64, f64)> {
        self.points.iter().filter_map(|p| Some((p.sim, f(p)? * 60.0 / p.interval))).collect()
    }

    /// A per-minute series of scheduled operations: over the time they were scheduled.
    fn scheduled_rate(&self, f: impl Fn(&Point) -> Option<f64>) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .filter(|p| p.dispatch > 0.0)
            .filter_map(|p| Some((p.dispatch_sim, f(p)? * 60.0 / p.dispatch)))
            .collect()
    }
}

/// The fleet's throughput, then each persona's (a table of them all, charts of the busiest).
pub(super) fn throughput(out: &mut String, tl: &Timeline) -> Result<(), ChartFailed> {
    out.push_str("<h2>Throughput</h2>\n");
    if tl.points.is_empty() {
        nodata(out, "timeline");
        return Ok(());
    }
    let range = tl.span();
    let lines = [
        Line { name: "target".into(), color: TARGET, points: tl.scheduled_rate(|p| Some(p.target)) },
        Line { name: "achieved".into(), color: ACHIEVED, points: tl.scheduled_rate(|p| Some(p.achieved)) },
    ];
    let svg = line_chart(WIDE, range, "operations / min", &lines)?;
    figure(
        out,
        "throughput-fleet",
        "Fleet: scheduled operations a minute, target against achieved (started), over simulated time (UTC).",
        &svg,
    );
    personas(out, tl, range)
}

fn personas(out: &mut String, tl: &Timeline, range: (f64, f64)) -> Result<(), ChartFailed> {
    // Personas by what they were asked for, busiest first.
    let mut personas: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for p in &tl.points {
        for (name, (t, a)) in &p.personas {
            let e = personas.entry(name.as_str()).or_default();
            e.0 += t;
            e.1 += a;
        }
    }
    if personas.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<String>> = personas
        .iter()
        .map(|(name, (t, a))| {
            let ratio = if *t > 0.0 { format!("{:.1}%", a / t * 100.0) } else { "-".into() };
            vec![esc(name), fmt(*t, 1), fmt(*a, 0), ratio]
        })
        .collect();
    out.push_str("<h3>By persona</h3>\n");
    table(out, "personas", &["persona", "target", "achieved", "achieved / target"], &rows);
    let mut order: Vec<(&str, f64)> = personas.iter().map(|(n, (t, _))| (*n, *t)).collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    if order.len() > MAX_PERSONA_CHARTS {
        let _ = writeln!(
            out,
            "<p class=\"muted\">Charts for the {MAX_PERSONA_CHARTS} busiest of {} personas; the table has them all.</p>",
            order.len()
        );
        order.truncate(MAX_PERSONA_CHARTS);
    }
    order.sort_by(|a, b| a.0.cmp(b.0));
    out.push_str("<div class=\"grid\">\n");
    for (i, (name, _)) in order.iter().enumerate() {
        let get = |p: &Point| p.personas.get(*name).copied();
        let lines = [
            Line { name: "target".into(), color: TARGET, points: tl.scheduled_rate(|p| get(p).map(|v| v.0)) },
            Line { name: "achieved".into(), color: ACHIEVED, points: tl.scheduled_rate(|p| get(p).map(|v| v.1)) },
        ];
        let svg = line_chart(SMALL, range, "operations / min", &lines)?;
        figure(
            out,
            &format!("throughput-persona-{}", slug(i, name)),
            &format!("{name}: target against achieved operations a minute."),
            &svg,
        );
    }
    out.push_str("</div>\n");
    Ok(())
}
pub(super) fn latency_over_time(out: &mut String, tl: &Timeline) -> Result<(), ChartFailed> {
    out.push_str("<h2>Latency over time</h2>\n");
    let mut ops: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &tl.points {
        for op in p.latency.keys() {
            *ops.entry(op.as_str()).or_default() += 1;
        }
    }
    if ops.is_empty() {
        nodata(out, "latency by interval");
        return Ok(());
    }
    let range = tl.span();
    out.push_str("<div class=\"grid\">\n");
    for (i, op) in ops.keys().enumerate() {
        let series = |f: fn(&(f64, f64, f64)) -> f64| -> Vec<(f64, f64)> {
            tl.points.iter().filter_map(|p| p.latency.get(*op).map(|l| (p.sim, f(l)))).collect()
        };
        let lines = [
            Line { name: "p50".into(), color: PALETTE[2], points: series(|l| l.0) },
            Line { name: "p95".into(), color: PALETTE[1], points: series(|l| l.1) },
            Line { name: "p99".into(), color: PALETTE[3], points: series(|l| l.2) },
        ];
        let svg = line_chart(SMALL, range, "ms", &lines)?;
        figure(
            out,
            &format!("latency-{}", slug(i, op)),
            &format!("{op}: latency percentiles of the commands that succeeded in each interval (ms)."),
            &svg,
        );
    }
    out.push_str("</div>\n");
    Ok(())
}

pub(super) fn failures_over_time(out: &mut String, tl: &Timeline) -> Result<(), ChartFailed> {
    out.push_str("<h2>Failures and shortfall over time</h2>\n");
    if tl.points.is_empty() {
        nodata(out, "timeline");
        return Ok(());
    }
    let range = tl.span();
    type Parts = fn(&Point) -> &BTreeMap<String, f64>;
    type Total = fn(&Point) -> f64;
    let charts: [(&str, &str, &str, Total, Parts); 2] = [
        (
            "failures",
            "failed",
            "Failed commands a minute, in all and by class.",
            |p| p.failed,
            |p| &p.failures_by_class,
        ),
        (
            "shortfall",
            "not started",
            "Shortfall: scheduled slots not started a minute, in all and by reason.",
            |p| p.shortfall,
            |p| &p.shortfall_by_reason,
        ),
    ];
    out.push_str("<div class=\"grid\">\n");
    for (id, total_name, caption, total, parts) in charts {
        let mut lines =
            vec![Line { name: total_name.into(), color: RGBColor(60, 60, 60), points: tl.rate(|p| Some(total(p))) }];
        let mut names: Vec<&String> = tl.points.iter().flat_map(|p| parts(p).keys()).collect();
        names.sort();
        names.dedup();
        for (i, name) in names.into_iter().enumerate() {
            let points = tl.rate(|p| Some(parts(p).get(name).copied().unwrap_or(0.0)));
            if points.iter().any(|p| p.1 > 0.0) {
                lines.push(Line { name: name.clone(), color: PALETTE[(i + 1) % PALETTE.len()], points });
            }
        }
        let svg = line_chart(SMALL, range, "per min", &lines)?;
        figure(out, id, caption, &svg);
    }
    out.push_str("</div>\n");
    Ok(())
}
