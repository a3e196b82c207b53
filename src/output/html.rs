//! The HTML report (`--html`, `trafficgen report`): one self-contained page, with inline
//! CSS and charts drawn here as inline SVG, so it opens anywhere with no network and no
//! script. Built from the summary JSON value rather than the typed summary, so a summary
//! saved by any trafficgen renders with whatever sections it has.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use serde_json::{Map, Value};

use crate::model::clock::civil;

/// Personas with a throughput chart of their own; the rest are in the table only.
const MAX_PERSONA_CHARTS: usize = 24;
const WIDE: (u32, u32) = (1100, 320);
const SMALL: (u32, u32) = (540, 230);

const TARGET: RGBColor = RGBColor(150, 150, 150);
const ACHIEVED: RGBColor = RGBColor(31, 119, 180);
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1160px;padding:16px 24px;color:#222;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.05em;margin:1em 0 .4em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.9em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
table.facts td,table.telemetry td:last-child{text-align:left}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.inconclusive{color:#9a6700;font-weight:600}.muted{color:#777}
.nodata{color:#777;font-style:italic}
figure.chart{margin:.6em 0 1.2em;display:inline-block;vertical-align:top}
figure.chart svg{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444;margin-top:.2em;max-width:1100px}
.grid figure.chart{width:540px;margin-right:12px}
.key{display:inline-block;width:12px;height:12px;margin:0 4px 0 8px;vertical-align:-1px}
";

/// The page for one summary. Errors only for a value that is not a summary at all, or
/// a chart that cannot be drawn.
pub fn render(s: &Value) -> Result<String, String> {
    let Some(top) = s.as_object() else {
        return Err("the summary is not a JSON object".into());
    };
    let has = |k: &str| top.get(k).is_some_and(|v| v.is_object() || v.is_array());
    if !(has("ops") || has("latency_ms") || has("timeline")) {
        return Err("this is not a trafficgen summary (it has no ops, latency_ms or timeline)".into());
    }
    // Typed, not just escaped: a field that must be a number is refused otherwise.
    if let Some(code) = s.get("verdict").and_then(|v| v.get("exit_code"))
        && !code.is_null()
        && !(code.is_i64() || code.is_u64())
    {
        return Err(format!("verdict.exit_code must be an integer, not {}", short(code)));
    }
    let timeline = Timeline::read(s);
    let mut out = String::with_capacity(256 * 1024);
    let title = format!(
        "trafficgen report: {} to {}",
        text(s, "sim_start").unwrap_or("?".into()),
        text(s, "sim_end").unwrap_or("?".into())
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    overview(&mut out, s);
    verdict(&mut out, s);
    throughput(&mut out, &timeline)?;
    latency_over_time(&mut out, &timeline)?;
    failures_over_time(&mut out, &timeline)?;
    mix(&mut out, s)?;
    latency_table(&mut out, s);
    telemetry(&mut out, s);
    server_metrics(&mut out, s);
    out.push_str("</body></html>\n");
    Ok(out)
}

/// A JSON value as a short, plain, one-line text for an error message.
fn short(v: &Value) -> String {
    let t: String = v.to_string().chars().take(40).collect();
    crate::model::terminal::clean_line(&t)
}

/// HTML-escapes text (element content and attribute values alike).
pub fn esc(t: &str) -> String {
    let mut o = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn obj<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// A number for a table cell: integers as such, others with at most `digits` decimals.
fn fmt(x: f64, digits: usize) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.digits$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

/// A table from escaped cells.
fn table(out: &mut String, class: &str, head: &[&str], rows: &[Vec<String>]) {
    let _ = write!(out, "<table class=\"{class}\">");
    if !head.is_empty() {
        out.push_str("<thead><tr>");
        for h in head {
            let _ = write!(out, "<th>{}</th>", esc(h));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn nodata(out: &mut String, what: &str) {
    let _ = writeln!(out, "<p class=\"nodata\">{}: no data</p>", esc(what));
}

fn figure(out: &mut String, id: &str, caption: &str, svg: &str) {
    let _ = writeln!(
        out,
        "<figure class=\"chart\" id=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
        esc(id),
        esc(caption)
    );
}

/// A bar chart's figure: its caption starts with the key to the two colours.
fn bar_figure(out: &mut String, id: &str, caption: &str, svg: &str) {
    let swatch = |c: RGBColor, name: &str| {
        format!("<span class=\"key\" style=\"background:rgb({},{},{})\"></span>{name}", c.0, c.1, c.2)
    };
    let _ = writeln!(
        out,
        "<figure class=\"chart\" id=\"{}\">{svg}<figcaption>{} {} &middot; {}</figcaption></figure>",
        esc(id),
        swatch(TARGET, "profile"),
        swatch(ACHIEVED, "achieved"),
        esc(caption)
    );
}

/// A name made safe and unique for an element id.
fn slug(i: usize, name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{i}-{s}")
}

fn overview(out: &mut String, s: &Value) {
    out.push_str("<h2>Run</h2>\n");
    let client = s.get("client");
    let c = |k: &str| client.and_then(|c| text(c, k)).unwrap_or_default();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut add = |k: &str, v: String| rows.push(vec![esc(k), esc(&v)]);
    add("trafficgen", text(s, "trafficgen_version").unwrap_or_default());
    add("client", format!("{} ({}, {})", c("version"), c("flavor"), c("binary")));
    add("seed", text(s, "seed").unwrap_or_default());
    add(
        "simulated time",
        format!(
            "{} to {} UTC (time scale {}x)",
            text(s, "sim_start").unwrap_or_default(),
            text(s, "sim_end").unwrap_or_default(),
            num(s, "time_scale").map_or("?".into(), |x| fmt(x, 2))
        ),
    );
    add(
        "wall time",
        format!(
            "{} s dispatching, {} s in all; stopped by {}",
            num(s, "dispatch_s").map_or("?".into(), |x| fmt(x, 1)),
            num(s, "duration_s").map_or("?".into(), |x| fmt(x, 1)),
            text(s, "stopped_by").unwrap_or_default()
        ),
    );
    if let (Some(t), Some(a)) = (num(s, "target_ops"), num(s, "achieved_ops")) {
        let ratio = if t > 0.0 { format!(" ({:.1}% of target)", a / t * 100.0) } else { String::new() };
        add(
            "scheduled operations",
            format!(
                "{} started of {} targeted{ratio}; {} vs {} a minute",
                fmt(a, 0),
                fmt(t, 1),
                num(s, "achieved_ops_per_min").map_or("?".into(), |x| fmt(x, 1)),
                num(s, "target_ops_per_min").map_or("?".into(), |x| fmt(x, 1))
            ),
        );
    }
    if let Some(f) = num(s, "failure_rate") {
        add("failure rate", format!("{:.2}% of commands", f * 100.0));
    }
    if let Some(n) = num(s, "live_objects_at_exit") {
        add("objects left", fmt(n, 0));
    }
    if let Some(scale) = num(s, "rate_scale") {
        add("rate scale", fmt(scale, 3));
    }
    if let Some(h) = s.get("host")
        && let Some(w) = text(h, "warning")
    {
        add("HOST LIMITED", format!("{w} ({} s saturated)", fmt(num(h, "saturated_s").unwrap_or(0.0), 1)));
    }
    // Who took the CPU: trafficgen's own processes, or other work (named with its share).
    if let Some(h) = s.get("host") {
        let share = |k: &str| num(h, k).map(|x| format!("{}%", fmt(x * 100.0, 0)));
        let others: Vec<String> = h
            .get("others")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|o| {
                format!("{} {}%", text(o, "name").unwrap_or_default(), fmt(num(o, "share").unwrap_or(0.0) * 100.0, 0))
            })
            .collect();
        match text(h, "party").as_deref() {
            Some("other") => add(
                "host party",
                format!(
                    "other work took the CPU ({} s): {}; trafficgen's own processes {}",
                    fmt(num(h, "other_busy_s").unwrap_or(0.0), 1),
                    if others.is_empty() { "unnamed processes".to_string() } else { others.join(", ") },
                    share("own_cpu_share").unwrap_or("?".into())
                ),
            ),
            Some("trafficgen") => add(
                "host party",
                format!(
                    "trafficgen itself ({} of the CPU used); slots held back",
                    share("own_cpu_share").unwrap_or("?".into())
                ),
            ),
            _ => {}
        }
    }
    table(out, "facts", &[], &rows);
}

fn verdict(out: &mut String, s: &Value) {
    out.push_str("<h2>Verdict</h2>\n");
    let Some(v) = s.get("verdict").filter(|v| v.is_object()) else {
        nodata(out, "verdict");
        return;
    };
    // PASS, FAIL or INCONCLUSIVE; a summary from before INCONCLUSIVE has only `passed`.
    let passed = v.get("passed").and_then(Value::as_bool).unwrap_or(false);
    let (class, label) = match v.get("result").and_then(Value::as_str) {
        Some("INCONCLUSIVE") => ("inconclusive", "INCONCLUSIVE"),
        Some("PASS") => ("pass", "PASSED"),
        Some(_) => ("fail", "FAILED"),
        None if passed => ("pass", "PASSED"),
        None => ("fail", "FAILED"),
    };
    let _ = writeln!(
        out,
        "<p class=\"{class}\">{label} (exit code {})</p>",
        v.get("exit_code").and_then(Value::as_i64).map_or("?".into(), |c| c.to_string())
    );
    if let Some(h) = v.get("host").and_then(Value::as_str) {
        let _ = writeln!(out, "<p class=\"inconclusive\">{}</p>", esc(h));
    }
    if let Some(reasons) = v.get("reasons").and_then(Value::as_array).filter(|r| !r.is_empty()) {
        out.push_str("<ul>");
        for r in reasons {
            let _ = write!(out, "<li>{}</li>", esc(r.as_str().unwrap_or(&r.to_string())));
        }
        out.push_str("</ul>\n");
    }
    let rows: Vec<Vec<String>> = v
        .get("thresholds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            let unit = text(t, "unit").unwrap_or_default();
            let show = |x: Option<f64>| match (x, unit.as_str()) {
                (None, _) => "not measured".to_string(),
                (Some(x), "ratio") => format!("{}%", fmt(x * 100.0, 2)),
                (Some(x), "ms") => format!("{} ms", fmt(x, 1)),
                (Some(x), _) => fmt(x, 3),
            };
            let ok = t.get("passed").and_then(Value::as_bool).unwrap_or(false);
            let inconclusive = t.get("status").and_then(Value::as_str) == Some("inconclusive");
            let (class, label) = match (ok, inconclusive) {
                (true, _) => ("pass", "ok".to_string()),
                (false, true) => {
                    let why = t.get("reason").and_then(Value::as_str).unwrap_or("no sample");
                    ("inconclusive", format!("INCONCLUSIVE ({})", esc(why)))
                }
                (false, false) => ("fail", "FAILED".to_string()),
            };
            vec![
                esc(&text(t, "threshold").unwrap_or_default()),
                esc(&text(t, "class").unwrap_or_default()),
                esc(&show(num(t, "value"))),
                esc(&show(num(t, "limit"))),
                format!("<span class=\"{class}\">{label}</span>"),
            ]
        })
        .collect();
    out.push_str("<h3>Thresholds</h3>\n");
    if rows.is_empty() {
        nodata(out, "thresholds");
    } else {
        table(out, "thresholds", &["threshold", "class", "measured", "limit", "result"], &rows);
    }
    out.push_str("<h3>Integrity (the client's word checked against the server)</h3>\n");
    match obj(v, "integrity") {
        Some(m) if !m.is_empty() => {
            let rows: Vec<Vec<String>> = m
                .iter()
                .map(|(k, n)| {
                    let n = n.as_u64().unwrap_or(0);
                    let class = if n == 0 { "pass" } else { "fail" };
                    vec![esc(k), format!("<span class=\"{class}\">{n}</span>")]
                })
                .collect();
            table(out, "integrity", &["class", "failures"], &rows);
        }
        _ => nodata(out, "integrity"),
    }
}

/// One stats interval, as read from the summary (older summaries have fewer fields).
struct Point {
    /// Simulated UNIX seconds at the end of the interval.
    sim: f64,
    /// Wall seconds the interval covers.
    interval: f64,
    /// Of those, the seconds during which operations were scheduled (none after the
    /// end of dispatch: the drain and cleanup ask for nothing), and the simulated time
    /// at the end of that part: where the throughput charts put the point.
    dispatch: f64,
    dispatch_sim: f64,
    target: Option<f64>,
    achieved: f64,
    personas: BTreeMap<String, (f64, f64)>,
    failed: f64,
    shortfall: f64,
    failures_by_class: BTreeMap<String, f64>,
    shortfall_by_reason: BTreeMap<String, f64>,
    /// op → (p50, p95, p99) ms.
    latency: BTreeMap<String, (f64, f64, f64)>,
}

struct Timeline {
    points: Vec<Point>,
    /// Whether the points say what was targeted (summaries before targets did not).
    has_targets: bool,
}

impl Point {
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
        self.target = match (self.target, o.target) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
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
    fn read(s: &Value) -> Timeline {
        let start = num(s, "sim_start_unix");
        let scale = num(s, "time_scale").unwrap_or(1.0);
        let dispatch_end = num(s, "dispatch_s").unwrap_or(f64::INFINITY);
        let mut points = Vec::new();
        let mut prev_t = 0.0;
        let mut has_targets = false;
        for p in s.get("timeline").and_then(Value::as_array).into_iter().flatten() {
            let Some(t) = num(p, "t_s") else { continue };
            let interval = num(p, "interval_s").unwrap_or(t - prev_t);
            prev_t = t;
            let Some(sim) = num(p, "sim_unix").or(start.map(|s0| s0 + t * scale)) else { continue };
            if interval <= 0.0 {
                continue;
            }
            let counts = |key: &str| -> BTreeMap<String, f64> {
                obj(p, key).map_or_else(BTreeMap::new, |m| {
                    m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect()
                })
            };
            let personas = obj(p, "personas").map_or_else(BTreeMap::new, |m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), (num(v, "target").unwrap_or(0.0), num(v, "scheduled").unwrap_or(0.0))))
                    .collect()
            });
            let latency = obj(p, "latency_ms").map_or_else(BTreeMap::new, |m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), (num(v, "p50_ms")?, num(v, "p95_ms")?, num(v, "p99_ms")?))))
                    .collect()
            });
            let target = num(p, "target");
            has_targets |= target.is_some();
            let dispatch = (t.min(dispatch_end) - (t - interval)).clamp(0.0, interval);
            points.push(Point {
                sim,
                interval,
                dispatch,
                dispatch_sim: sim - (t - t.min(dispatch_end)) * scale,
                target,
                achieved: num(p, "scheduled").or(num(p, "started")).unwrap_or(0.0),
                personas,
                failed: num(p, "failed").unwrap_or(0.0),
                shortfall: num(p, "shortfall").unwrap_or(0.0),
                failures_by_class: counts("failures_by_class"),
                shortfall_by_reason: counts("shortfall_by_reason"),
                latency,
            });
        }
        // The last interval ends when the run does, often a moment after the one
        // before: as a rate of its own it would be noise, so it joins that one.
        if points.len() >= 2 && points[points.len() - 1].interval < points[points.len() - 2].interval / 2.0 {
            let last = points.pop().expect("two points");
            points.last_mut().expect("one point").absorb(last);
        }
        Timeline { points, has_targets }
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

struct Line {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// Simulated-clock tick labels: time of day, with the date once the run spans days and
/// with seconds when it spans less than an hour (a 20 s run at 1x would otherwise label
/// every tick alike).
fn clock_label(x: f64, span: f64) -> String {
    let c = civil(x);
    if span > 86_400.0 {
        format!("{:02}-{:02} {}", c.month, c.day, c.hhmm())
    } else if span < 3600.0 {
        format!("{}:{:02}", c.hhmm(), c.second)
    } else {
        c.hhmm()
    }
}

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("cannot draw a chart: {e:?}")
}

/// Lines over simulated time, as an SVG document.
fn line_chart(size: (u32, u32), range: (f64, f64), y_desc: &str, lines: &[Line]) -> Result<String, String> {
    let ymax = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.12 } else { 1.0 };
    let span = range.1 - range.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(64)
            .build_cartesian_2d(SimAxis(range.0, range.1), 0f64..ymax)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_labels(if size.0 > 800 { 10 } else { 5 })
            .y_labels(6)
            .x_label_formatter(&|x| clock_label(*x, span))
            .y_label_formatter(&|y| fmt(*y, if ymax < 10.0 { 2 } else { 0 }))
            .y_desc(y_desc)
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
        for l in lines {
            let style = ShapeStyle { color: l.color.to_rgba(), filled: false, stroke_width: 2 };
            chart
                .draw_series(LineSeries::new(l.points.iter().copied(), style))
                .map_err(draw_err)?
                .label(l.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            // A line of one point draws nothing: short timelines get their points marked.
            if l.points.len() < 40 {
                chart.draw_series(l.points.iter().map(|p| Circle::new(*p, 2, style.filled()))).map_err(draw_err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Simulated time as an x axis, with ticks on round clock times (whole minutes, hours,
/// days) rather than wherever a decimal step of UNIX seconds falls.
struct SimAxis(f64, f64);

impl Ranged for SimAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let frac = (v - self.0) / (self.1 - self.0);
        limit.0 + (frac * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        const STEPS: [f64; 16] = [
            1.0,
            5.0,
            15.0,
            60.0,
            300.0,
            600.0,
            900.0,
            1800.0,
            3600.0,
            7200.0,
            10_800.0,
            21_600.0,
            43_200.0,
            86_400.0,
            604_800.0,
            2_592_000.0,
        ];
        let max = hint.max_num_points().max(1);
        let span = self.1 - self.0;
        let step = STEPS.iter().copied().find(|s| span / s <= max as f64).unwrap_or(span);
        let mut t = (self.0 / step).ceil() * step;
        let mut out = Vec::new();
        while t <= self.1 && out.len() < max {
            out.push(t);
            t += step;
        }
        out
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.0..self.1
    }
}

/// The rows of a bar chart as a y axis: `n` rows, one tick (and label) at each middle.
struct Rows(usize);

impl Ranged for Rows {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let n = self.0.max(1) as f64;
        limit.0 + (v / n * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        (0..self.0).map(|i| i as f64 + 0.5).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        0.0..self.0 as f64
    }
}

/// Horizontal bars of shares: target (grey) against achieved (blue), in percent.
fn share_bars(rows: &[(String, f64, Option<f64>)]) -> Result<String, String> {
    let n = rows.len();
    let top = rows.iter().flat_map(|r| [Some(r.1), r.2]).flatten().fold(0.0, f64::max);
    let xmax = (top * 100.0 * 1.15).clamp(5.0, 100.0);
    let height = 70 + 30 * n as u32;
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDE.0, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(200)
            .build_cartesian_2d(0f64..xmax, Rows(n))
            .map_err(draw_err)?;
        let label = |y: &f64| {
            let i = y.floor() as usize;
            names.get(n.saturating_sub(1).saturating_sub(i)).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(10)
            .x_label_formatter(&|x| format!("{x:.0}%"))
            .y_label_formatter(&label)
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
        let bar = |y0: f64, y1: f64, v: f64, c: RGBColor| Rectangle::new([(0.0, y0), (v * 100.0, y1)], c.filled());
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                let y = (n - 1 - i) as f64;
                bar(y + 0.52, y + 0.88, r.1, TARGET)
            }))
            .map_err(draw_err)?;
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
                let y = (n - 1 - i) as f64;
                r.2.map(|a| bar(y + 0.12, y + 0.48, a, ACHIEVED))
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn throughput(out: &mut String, tl: &Timeline) -> Result<(), String> {
    out.push_str("<h2>Throughput</h2>\n");
    if tl.points.is_empty() {
        nodata(out, "timeline");
        return Ok(());
    }
    let range = tl.span();
    let mut lines = Vec::new();
    if tl.has_targets {
        lines.push(Line { name: "target".into(), color: TARGET, points: tl.scheduled_rate(|p| p.target) });
    }
    lines.push(Line { name: "achieved".into(), color: ACHIEVED, points: tl.scheduled_rate(|p| Some(p.achieved)) });
    let svg = line_chart(WIDE, range, "operations / min", &lines)?;
    figure(
        out,
        "throughput-fleet",
        "Fleet: scheduled operations a minute, target against achieved (started), over simulated time (UTC).",
        &svg,
    );
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
        let mut lines = Vec::new();
        if tl.has_targets {
            lines.push(Line {
                name: "target".into(),
                color: TARGET,
                points: tl.scheduled_rate(|p| get(p).map(|v| v.0)),
            });
        }
        lines.push(Line {
            name: "achieved".into(),
            color: ACHIEVED,
            points: tl.scheduled_rate(|p| get(p).map(|v| v.1)),
        });
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

fn latency_over_time(out: &mut String, tl: &Timeline) -> Result<(), String> {
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

fn failures_over_time(out: &mut String, tl: &Timeline) -> Result<(), String> {
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

fn share(v: &Value) -> Option<(f64, Option<f64>)> {
    Some((num(v, "target")?, num(v, "achieved")))
}

fn mix(out: &mut String, s: &Value) -> Result<(), String> {
    out.push_str("<h2>Mix against the profile</h2>\n");
    let Some(f) = s.get("fidelity").filter(|f| f.is_object()) else {
        nodata(out, "fidelity");
        return Ok(());
    };
    let _ = writeln!(
        out,
        "<p>{} scheduled operations; largest distance from the profile: downloads {}, expected failures {}, \
         other commands {}, kinds {}, size bands {} (points); reads that found no object yet: {}.</p>",
        num(f, "operations").map_or("?".into(), |x| fmt(x, 0)),
        pct(num(f, "download_share_error")),
        pct(num(f, "error_share_error")),
        pct(num(f, "extras_share_error")),
        pct(num(f, "kind_share_error")),
        pct(num(f, "size_band_error")),
        num(f, "no_object").map_or("?".into(), |x| fmt(x, 0))
    );
    // Operations: downloads, expected failures, the other commands, and uploads (the rest).
    let mut ops: Vec<(String, f64, Option<f64>)> = Vec::new();
    for (key, name) in [("download_share", "downloads"), ("error_share", "expected failures")] {
        if let Some((t, a)) = f.get(key).and_then(share) {
            ops.push((name.into(), t, a));
        }
    }
    for (name, v) in obj(f, "extras").into_iter().flatten() {
        if let Some((t, a)) = share(v) {
            ops.push((name.clone(), t, a));
        }
    }
    if !ops.is_empty() {
        let t: f64 = ops.iter().map(|o| o.1).sum();
        let a: Option<f64> = ops.iter().map(|o| o.2).sum();
        ops.insert(0, ("uploads (the rest)".into(), (1.0 - t).max(0.0), a.map(|a| (1.0 - a).max(0.0))));
        let svg = share_bars(&ops)?;
        bar_figure(out, "mix-operations", "Operations: share of scheduled operations, profile against achieved.", &svg);
    }
    let kinds: Vec<(String, f64, Option<f64>)> =
        obj(f, "kinds").into_iter().flatten().filter_map(|(k, v)| share(v).map(|(t, a)| (k.clone(), t, a))).collect();
    if !kinds.is_empty() {
        let svg = share_bars(&kinds)?;
        bar_figure(out, "mix-kinds", "File kinds: share of uploads, profile against achieved.", &svg);
    }
    let mut bands: Vec<(String, f64, Option<f64>)> = Vec::new();
    for (kind, list) in obj(f, "size_bands").into_iter().flatten() {
        for (i, v) in list.as_array().into_iter().flatten().enumerate() {
            if let Some((t, a)) = share(v) {
                bands.push((format!("{kind} band {}", i + 1), t, a));
            }
        }
    }
    if !bands.is_empty() {
        let svg = share_bars(&bands)?;
        bar_figure(
            out,
            "mix-size-bands",
            "Size bands: share of each kind's uploads by band (the profile's order), profile against achieved.",
            &svg,
        );
    }
    if ops.is_empty() && kinds.is_empty() && bands.is_empty() {
        nodata(out, "mix");
    }
    Ok(())
}

fn latency_table(out: &mut String, s: &Value) {
    out.push_str("<h2>Latency by operation (ms)</h2>\n");
    let failed = |op: &str| s.get("ops").and_then(|o| o.get(op)).and_then(|c| num(c, "failed")).unwrap_or(0.0);
    let stat = |l: &Value, k: &str| num(l, k).map_or("-".into(), |x| fmt(x, 1));
    let row = |name: String, l: &Value, failed: String| {
        let mut r = vec![name, stat(l, "count")];
        r.extend(["min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms"].iter().map(|k| stat(l, k)));
        r.push(failed);
        r
    };
    let mut rows = Vec::new();
    for (op, l) in obj(s, "latency_ms").into_iter().flatten() {
        let n = num(l, "count").unwrap_or(0.0);
        let f = failed(op);
        if n + f == 0.0 {
            continue;
        }
        rows.push(row(esc(op), l, fmt(f, 0)));
        let sizes = obj(s, "latency_by_size_ms").and_then(|m| m.get(op)).and_then(Value::as_object);
        for (class, ls) in sizes.into_iter().flatten() {
            // One class alone repeats the line above.
            if num(ls, "count").unwrap_or(0.0) < n {
                rows.push(row(format!("&nbsp;&nbsp;{}", esc(class)), ls, String::new()));
            }
        }
    }
    if let Some(lag) = s.get("start_lag_ms").filter(|l| num(l, "count").unwrap_or(0.0) > 0.0) {
        rows.push(row("start lag (late starts)".into(), lag, String::new()));
    }
    if rows.is_empty() {
        nodata(out, "latency");
    } else {
        table(out, "latency", &["operation", "n", "min", "p50", "p90", "p95", "p99", "max", "failed"], &rows);
    }
}

fn telemetry(out: &mut String, s: &Value) {
    let Some(t) = s.get("telemetry").filter(|t| t.is_object()) else { return };
    out.push_str("<h2>Telemetry reconciliation</h2>\n");
    let n = |k: &str| num(t, k).map_or("?".into(), |x| fmt(x, 0));
    let _ = writeln!(
        out,
        "<p>{}: {} of {} children that ended reported ({} exports lost, {} late, {} children killed; \
         at most {} child records alive at once); \
         {} export requests, {} unattributed; {} forwarded ({} failed); {} foreign requests without a valid token \
         (ignored{}). <span class=\"{}\">{} families mismatch.</span></p>",
        esc(&text(t, "client").unwrap_or_default()),
        n("children_reported"),
        n("children_ended"),
        n("lost_exports"),
        n("late_exports"),
        n("children_killed"),
        n("peak_live_children"),
        n("export_requests"),
        n("unattributed_requests"),
        n("forwarded"),
        n("forward_failures"),
        n("foreign_requests"),
        match t.get("foreign_examples").and_then(Value::as_array).filter(|e| !e.is_empty()) {
            Some(e) => format!(
                "; instance ids such as {}",
                esc(&e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            ),
            None => String::new(),
        },
        if num(t, "mismatches").unwrap_or(0.0) > 0.0 { "fail" } else { "pass" },
        n("mismatches")
    );
    let rows: Vec<Vec<String>> = obj(t, "families")
        .into_iter()
        .flatten()
        .map(|(name, f)| {
            let v = text(f, "verdict").unwrap_or_default();
            let class = match v.as_str() {
                "MISMATCH" => "fail",
                "match" => "pass",
                _ => "muted",
            };
            let cell = |k: &str| num(f, k).map_or("-".into(), |x| fmt(x, 2));
            vec![
                esc(name),
                cell("expected"),
                cell("reported"),
                cell("diff"),
                cell("server"),
                format!("<span class=\"{class}\">{}</span>", esc(&v)),
                esc(&text(f, "note").unwrap_or_default()),
            ]
        })
        .collect();
    if rows.is_empty() {
        nodata(out, "telemetry families");
    } else {
        table(out, "telemetry", &["family", "expected", "reported", "diff", "server", "verdict", "note"], &rows);
    }
    windows(out, t);
    let strays: Vec<Vec<String>> = t
        .get("out_of_contract")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|x| {
            vec![
                esc(&text(x, "metric").unwrap_or_default()),
                esc(&text(x, "attributes").unwrap_or_default()),
                num(x, "total").map_or("-".into(), |v| fmt(v, 2)),
            ]
        })
        .collect();
    if !strays.is_empty() {
        out.push_str("<h3>Series outside the contract</h3>\n");
        table(out, "strays", &["metric", "attributes", "total"], &strays);
    }
}

/// The reconciliation by simulated hour: one row per hour, one column per family that
/// moved in any hour, each cell `reported / expected`, mismatching cells marked. Shows
/// when the client's numbers drifted, which a whole-run total cannot.
fn windows(out: &mut String, t: &Value) {
    let Some(ws) = t.get("windows").and_then(Value::as_array).filter(|w| !w.is_empty()) else { return };
    let mut names: Vec<&str> = Vec::new();
    for w in ws {
        for k in obj(w, "families").into_iter().flatten().map(|(k, _)| k.as_str()) {
            if !names.contains(&k) {
                names.push(k);
            }
        }
    }
    // In the contract's table order.
    names.sort_by_key(|n| crate::model::contract::FAMILIES.iter().position(|(f, _)| f == n));
    let rows: Vec<Vec<String>> = ws
        .iter()
        .map(|w| {
            let c = crate::model::clock::civil(num(w, "start_unix").unwrap_or(0.0));
            let n = |k: &str| num(w, k).map_or("?".into(), |x| fmt(x, 0));
            let mut row = vec![
                format!("{} {}", c.date(), c.hhmm()),
                n("children_ended"),
                n("lost_exports"),
                format!(
                    "<span class=\"{}\">{}</span>",
                    if num(w, "mismatches").unwrap_or(0.0) > 0.0 { "fail" } else { "pass" },
                    n("mismatches")
                ),
            ];
            for name in &names {
                row.push(match w.get("families").and_then(|f| f.get(*name)) {
                    Some(f) => {
                        let v = text(f, "verdict").unwrap_or_default();
                        let cell = format!(
                            "{} / {}",
                            num(f, "reported").map_or("-".into(), |x| fmt(x, 2)),
                            num(f, "expected").map_or("-".into(), |x| fmt(x, 2))
                        );
                        match v.as_str() {
                            "MISMATCH" => format!("<span class=\"fail\" title=\"MISMATCH\">{cell} ✗</span>"),
                            "match" => cell,
                            _ => format!("<span class=\"muted\" title=\"{}\">{cell}</span>", esc(&v)),
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

fn server_metrics(out: &mut String, s: &Value) {
    let Some(m) = s.get("server_metrics").filter(|m| m.is_object()) else { return };
    out.push_str("<h2>Server metrics</h2>\n");
    let _ = writeln!(
        out,
        "<p>The server's request counts ({}) beside the {} commands this run ran.</p>",
        esc(&text(m, "url").unwrap_or_default()),
        num(m, "commands").map_or("?".into(), |x| fmt(x, 0))
    );
    let rows: Vec<Vec<String>> = obj(m, "apis")
        .into_iter()
        .flatten()
        .map(|(api, r)| {
            let cell = |k: &str, d: usize| num(r, k).map_or("-".into(), |x| fmt(x, d));
            vec![
                esc(api),
                cell("server", 0),
                cell("server_errors", 0),
                cell("trafficgen", 0),
                cell("amplification", 3),
                cell("per_command", 3),
            ]
        })
        .collect();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn point(t: f64, sim: f64, failed: u64, persona: &str) -> Value {
        json!({
            "t_s": t, "interval_s": 60.0, "sim_unix": sim, "started": 12, "ok": 10, "failed": failed,
            "shortfall": 1, "target": 11.5, "scheduled": 10,
            "personas": {"alice-dev": {"target": 6.0, "scheduled": 5}, persona: {"target": 5.5, "scheduled": 5}},
            "failures_by_class": if failed > 0 { json!({"timed_out": failed}) } else { json!({}) },
            "shortfall_by_reason": {"global_cap": 1},
            "latency_ms": {"upload": {"count": 8, "p50_ms": 40.0, "p95_ms": 90.0, "p99_ms": 120.0},
                           "download": {"count": 2, "p50_ms": 20.0, "p95_ms": 25.0, "p99_ms": 30.0}}
        })
    }

    /// A small summary with every section the page draws or tabulates.
    fn summary(persona: &str, threshold: &str) -> Value {
        let start = 1_795_845_600.0; // 2026-11-28 06:00 UTC
        json!({
            "trafficgen_version": "0.1.0", "seed": 7,
            "client": {"flavor": "obsctl", "binary": "obsctl", "version": "obsctl 0.3.0"},
            "duration_s": 180.0, "dispatch_s": 180.0, "time_scale": 60.0, "rate_scale": 1.0,
            "sim_start": "2026-11-28T06:00:00Z", "sim_end": "2026-11-28T09:00:00Z", "sim_start_unix": start,
            "stopped_by": "duration", "target_ops": 34.5, "achieved_ops": 30, "target_ops_per_min": 11.5,
            "achieved_ops_per_min": 10.0, "failure_rate": 0.02, "live_objects_at_exit": 4,
            "ops": {"upload": {"ok": 24, "failed": 1}, "download": {"ok": 6, "failed": 0}},
            "latency_ms": {
                "upload": {"count": 24, "min_ms": 10.0, "mean_ms": 50.0, "p50_ms": 40.0, "p90_ms": 80.0,
                           "p95_ms": 90.0, "p99_ms": 120.0, "max_ms": 130.0},
                "download": {"count": 6, "min_ms": 5.0, "mean_ms": 20.0, "p50_ms": 20.0, "p90_ms": 24.0,
                             "p95_ms": 25.0, "p99_ms": 30.0, "max_ms": 31.0},
                "ls": {"count": 0}
            },
            "fidelity": {
                "operations": 30, "download_share": {"target": 0.2, "achieved": 0.2},
                "error_share": {"target": 0.02, "achieved": null},
                "extras": {"ls": {"target": 0.04, "achieved": 0.0}},
                "kinds": {"code": {"target": 0.6, "achieved": 0.5}, "media": {"target": 0.4, "achieved": 0.5}},
                "size_bands": {"code": [{"target": 0.9, "achieved": 1.0}, {"target": 0.1, "achieved": 0.0}]},
                "download_share_error": 0.0, "kind_share_error": 0.1, "no_object": 0
            },
            "verdict": {
                "passed": false, "exit_code": 3,
                "thresholds": [{"threshold": threshold, "metric": "failure_rate", "value": 0.02, "limit": 0.01,
                                "unit": "ratio", "passed": false}],
                "integrity": {"mismatch": 0, "phantom_upload": 0},
                "reasons": ["threshold failed: failure_rate<1%"]
            },
            "telemetry": {
                "client": "obsctl 0.3.0", "children_ended": 30, "children_reported": 30, "mismatches": 1,
                "families": {"obsctl_operations_total": {"expected": 30.0, "reported": 29.0, "diff": -1.0,
                                                          "verdict": "MISMATCH"}},
                "out_of_contract": []
            },
            "server_metrics": {"url": "http://127.0.0.1:3903/metrics", "commands": 31,
                               "apis": {"PutObject": {"server": 25.0, "server_errors": 0.0, "trafficgen": 25,
                                                      "amplification": 1.0, "per_command": 0.8}}},
            "timeline": [point(60.0, start + 3600.0, 0, persona), point(120.0, start + 7200.0, 2, persona),
                         point(180.0, start + 10_800.0, 0, persona)]
        })
    }

    /// (id, body) of every chart figure.
    fn figures(page: &str) -> Vec<(String, String)> {
        page.split("<figure class=\"chart\" id=\"")
            .skip(1)
            .map(|rest| {
                let (id, body) = rest.split_once('"').unwrap();
                (id.to_string(), body.split("</figure>").next().unwrap().to_string())
            })
            .collect()
    }

    /// A drawn series: a line of at least two points in a series width, or a bar.
    fn has_data(svg: &str) -> bool {
        let line = svg.split("<polyline").skip(1).any(|p| {
            let tag = p.split('>').next().unwrap();
            let points = tag.split("points=\"").nth(1).map_or(0, |s| s.split('"').next().unwrap().split(' ').count());
            tag.contains("stroke-width=\"2\"") && points >= 3
        });
        line || svg.contains("<rect") && svg.contains("fill=\"#1F77B4\"")
    }

    #[test]
    fn every_chart_is_drawn_from_a_small_summary() {
        let page = render(&summary("bob-marketing", "failure_rate<1%")).unwrap();
        let ids: Vec<String> = figures(&page).into_iter().map(|(id, _)| id).collect();
        for want in [
            "throughput-fleet",
            "throughput-persona-0-alice-dev",
            "throughput-persona-1-bob-marketing",
            "latency-0-download",
            "latency-1-upload",
            "failures",
            "shortfall",
            "mix-operations",
            "mix-kinds",
            "mix-size-bands",
        ] {
            assert!(ids.iter().any(|id| id == want), "{want} not in {ids:?}");
        }
        assert_eq!(ids.len(), 10, "{ids:?}");
        for (id, body) in figures(&page) {
            assert!(body.contains("<svg") && body.contains("<figcaption>"), "{id}");
            assert!(has_data(&body), "{id} draws no series");
        }
        // The failure class and the shortfall reason have lines of their own.
        let (_, failures) = figures(&page).into_iter().find(|(id, _)| id == "failures").unwrap();
        assert!(failures.contains("\ntimed_out\n"), "{failures}");
        // Tables: verdict, integrity, latency, telemetry, server metrics; ticks on the hour.
        for text in ["FAILED (exit code 3)", "obsctl_operations_total", "MISMATCH", "PutObject", "\n07:00\n", "p99"] {
            assert!(page.contains(text), "{text}");
        }
        // Nothing is fetched and nothing runs.
        assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
        assert!(!page.contains("url(") && !page.contains("@import"));
    }

    #[test]
    fn the_page_names_the_host_party_and_each_thresholds_class() {
        let s = json!({
            "ops": {},
            "timeline": [],
            "host": {"saturated_s": 0.0, "other_busy_s": 14.2, "party": "other", "own_cpu_share": 0.12,
                "others": [{"pid": 7, "name": "moto_server", "share": 0.61}],
                "warning": "this machine is saturated by other work"},
            "verdict": {"result": "INCONCLUSIVE", "passed": false, "exit_code": 4, "party": "other",
                "host": "host busy with other work: moto_server 61 %",
                "thresholds": [{"threshold": "shortfall_rate<5%", "class": "capacity", "value": 0.1667, "limit": 0.05,
                    "unit": "ratio", "passed": false, "status": "inconclusive", "reason": "host busy with other work"}],
                "integrity": {}, "reasons": []},
        });
        let page = render(&s).unwrap();
        for text in [
            "host party",
            "other work took the CPU (14.2 s): moto_server 61%; trafficgen&#39;s own processes 12%",
            "<p class=\"inconclusive\">host busy with other work: moto_server 61 %</p>",
            "<td>capacity</td>",
            "INCONCLUSIVE (host busy with other work)",
        ] {
            assert!(page.contains(text), "{text} not in the page");
        }
    }

    #[test]
    fn clock_labels_of_a_short_span_carry_seconds() {
        let t = 1_764_655_200.0; // 2025-12-02 06:00:00 UTC
        assert_eq!(clock_label(t + 5.0, 20.0), "06:00:05");
        assert_ne!(clock_label(t, 20.0), clock_label(t + 10.0, 20.0), "a 20 s run's ticks differ");
        assert_eq!(clock_label(t + 5.0, 14_400.0), "06:00");
        assert_eq!(clock_label(t, 3.0 * 86_400.0), "12-02 06:00");
    }

    #[test]
    fn the_hourly_windows_mark_the_hour_that_drifted() {
        let mut s = summary("bob-marketing", "failure_rate<1%");
        s["telemetry"]["windows"] = json!([
            {"start_unix": 1_767_258_000, "children_ended": 10, "children_reported": 10, "lost_exports": 0,
             "mismatches": 0, "families": {"uploads_total": {"expected": 10.0, "reported": 10.0, "diff": 0.0,
                                                             "verdict": "match"}}},
            {"start_unix": 1_767_261_600, "children_ended": 20, "children_reported": 20, "lost_exports": 0,
             "mismatches": 1, "families": {"uploads_total": {"expected": 20.0, "reported": 19.0, "diff": -1.0,
                                                             "verdict": "MISMATCH"}}}
        ]);
        let page = render(&s).unwrap();
        let at = page.find("<table class=\"windows\">").expect("a windows table");
        let t = &page[at..at + page[at..].find("</table>").unwrap()];
        assert!(t.contains("<th>uploads_total</th>"), "{t}");
        let rows: Vec<&str> = t.split("<tr>").skip(2).collect();
        assert_eq!(rows.len(), 2, "{t}");
        assert!(rows[0].contains("2026-01-01 09:00") && rows[0].contains("10 / 10") && !rows[0].contains("✗"));
        assert!(rows[1].contains("10:00") && rows[1].contains("class=\"fail\" title=\"MISMATCH\">19 / 20 ✗"));
    }

    #[test]
    fn text_from_the_summary_is_escaped() {
        let page = render(&summary("<img src=x onerror=alert(1)>", "failure_rate<1% & \"x\"")).unwrap();
        assert!(!page.contains("<img"), "raw markup from a persona name");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(page.contains("failure_rate&lt;1% &amp; &quot;x&quot;"));
        // Element ids take only safe characters.
        assert!(page.contains("id=\"throughput-persona-0-_img_src_x_onerror_alert_1__\""), "{page}");
    }

    #[test]
    fn missing_sections_say_no_data() {
        let page = render(&json!({"ops": {}, "timeline": []})).unwrap();
        assert!(figures(&page).is_empty());
        for what in ["verdict: no data", "timeline: no data", "fidelity: no data", "latency: no data"] {
            assert!(page.contains(what), "{what}");
        }
        assert!(!page.contains("Telemetry reconciliation") && !page.contains("Server metrics"));
        assert!(page.ends_with("</html>\n"));
    }

    #[test]
    fn an_older_timeline_still_draws_what_it_has() {
        // Before targets and simulated time were in the points: started ops over time.
        let s = json!({
            "ops": {}, "sim_start_unix": 1_795_845_600.0, "time_scale": 60.0,
            "timeline": [{"t_s": 60.0, "started": 5, "ok": 5, "failed": 0, "shortfall": 0},
                         {"t_s": 120.0, "started": 7, "ok": 6, "failed": 1, "shortfall": 0}]
        });
        let page = render(&s).unwrap();
        let ids: Vec<String> = figures(&page).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["throughput-fleet", "failures", "shortfall"]);
        assert!(page.contains("\nachieved\n") && !page.contains("\ntarget\n"), "no target line without targets");
    }

    #[test]
    fn the_short_last_interval_joins_the_one_before() {
        let mut s = summary("bob", "x");
        let mut last = point(181.0, 1_795_845_600.0 + 10_860.0, 1, "bob");
        last["interval_s"] = json!(1.0);
        s["timeline"].as_array_mut().unwrap().push(last);
        let tl = Timeline::read(&s);
        assert_eq!(tl.points.len(), 3);
        let p = &tl.points[2];
        assert_eq!((p.interval, p.achieved, p.failed), (61.0, 20.0, 1.0));
        assert_eq!(p.personas["bob"], (11.0, 10.0));
    }

    #[test]
    fn many_personas_chart_the_busiest_and_table_them_all() {
        let mut s = summary("bob", "x");
        for p in s["timeline"].as_array_mut().unwrap() {
            for i in 0..30 {
                p["personas"][format!("p{i:02}")] = json!({"target": f64::from(i), "scheduled": i});
            }
        }
        let page = render(&s).unwrap();
        let charts = figures(&page).into_iter().filter(|(id, _)| id.starts_with("throughput-persona-")).count();
        assert_eq!(charts, MAX_PERSONA_CHARTS);
        assert!(page.contains("Charts for the 24 busiest of 32 personas"));
        // The quietest (p00 to p07) are in the table only.
        assert!(page.contains("<td>p00</td>") && !page.contains("throughput-persona-0-p00"));
        assert!(page.contains("id=\"throughput-persona-23-p29\""), "the busiest are drawn");
    }

    #[test]
    fn what_is_not_a_summary_is_refused() {
        assert!(render(&json!([1, 2])).is_err());
        assert!(render(&json!({"name": "x"})).unwrap_err().contains("not a trafficgen summary"));
    }
}
