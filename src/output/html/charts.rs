//! The charts, drawn here as inline SVG with plotters: lines over simulated time (the
//! timeline's rates and latencies), distribution functions over a plain number (`ab`'s
//! latencies of two builds) and bars of shares (the mix). No chart library runs in
//! the browser, so the page needs no script and no network.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::model::clock::civil;

use crate::output::units::number as fmt;

pub(super) const WIDE: (u32, u32) = (1100, 320);
pub(super) const SMALL: (u32, u32) = (540, 230);

pub(super) const TARGET: RGBColor = RGBColor(150, 150, 150);
pub(super) const ACHIEVED: RGBColor = RGBColor(31, 119, 180);
pub(super) const PALETTE: [RGBColor; 10] = [
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

/// One series of a line chart.
pub(super) struct Line {
    pub(super) name: String,
    pub(super) color: RGBColor,
    pub(super) points: Vec<(f64, f64)>,
}

/// Simulated-clock tick labels: time of day, with the date once the run spans days and
/// with seconds when it spans less than an hour (a 20 s run at 1x would otherwise label
/// every tick alike).
pub(super) fn clock_label(x: f64, span: f64) -> String {
    let c = civil(x);
    if span > 86_400.0 {
        format!("{:02}-{:02} {}", c.month, c.day, c.hhmm())
    } else if span < 3600.0 {
        format!("{}:{:02}", c.hhmm(), c.second)
    } else {
        c.hhmm()
    }
}

/// A chart that could not be drawn: the only way a page fails. The caller says what
/// that means for its command (`report`: bad input; a run's or `ab`'s `--html`: exit 1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ChartFailed(pub String);

/// What `charts` say when a chart cannot be drawn: plotters' errors come as text,
/// typed here, where charts are drawn.
impl From<String> for ChartFailed {
    fn from(e: String) -> Self {
        ChartFailed(e)
    }
}

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("cannot draw a chart: {e:?}")
}

/// Lines over simulated time, as an SVG document.
pub(super) fn line_chart(
    size: (u32, u32),
    range: (f64, f64),
    y_desc: &str,
    lines: &[Line],
) -> Result<String, ChartFailed> {
    let ymax = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.12 } else { 1.0 };
    let frame = Frame {
        x: XAxis { lo: range.0, hi: range.1, clock: true },
        x_desc: None,
        ymax,
        y_desc,
        key: SeriesLabelPosition::UpperLeft,
        marks: true,
    };
    draw_lines(size, &frame, lines)
}

/// Empirical distribution functions, as an SVG document: x a plain number from 0 to
/// `xmax` (`x_desc` says what, e.g. latency in ms), y the share of the sample at or
/// below it, 0 to 1. The key sits at the lower right, which a distribution function
/// leaves empty.
pub(super) fn cdf_chart(size: (u32, u32), xmax: f64, x_desc: &str, lines: &[Line]) -> Result<String, ChartFailed> {
    let hi = if xmax.is_finite() && xmax > 0.0 { xmax } else { 1.0 };
    let frame = Frame {
        x: XAxis { lo: 0.0, hi, clock: false },
        x_desc: Some(x_desc),
        ymax: 1.0,
        y_desc: "share of commands",
        key: SeriesLabelPosition::LowerRight,
        marks: false,
    };
    draw_lines(size, &frame, lines)
}

/// What a line chart's axes and key look like.
struct Frame<'a> {
    x: XAxis,
    x_desc: Option<&'a str>,
    ymax: f64,
    y_desc: &'a str,
    key: SeriesLabelPosition,
    /// Short lines get their points marked (a line of one point draws nothing).
    marks: bool,
}

fn draw_lines(size: (u32, u32), f: &Frame, lines: &[Line]) -> Result<String, ChartFailed> {
    let ymax = f.ymax;
    let (lo, hi, clock) = (f.x.lo, f.x.hi, f.x.clock);
    let span = hi - lo;
    let digits = if span >= 10.0 {
        0
    } else if span >= 1.0 {
        1
    } else {
        3
    };
    let x_label = |x: &f64| if clock { clock_label(*x, span) } else { fmt(*x, digits) };
    let y_label = |y: &f64| fmt(*y, if ymax < 10.0 { 2 } else { 0 });
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(if f.x_desc.is_some() { 44 } else { 28 })
            .y_label_area_size(64)
            .build_cartesian_2d(XAxis { lo, hi, clock }, 0f64..ymax)
            .map_err(draw_err)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_labels(if size.0 > 800 { 10 } else { 5 })
            .y_labels(6)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .y_desc(f.y_desc)
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .label_style(("sans-serif", 13));
        if let Some(d) = f.x_desc {
            mesh.x_desc(d);
        }
        mesh.draw().map_err(draw_err)?;
        for l in lines {
            let style = ShapeStyle { color: l.color.to_rgba(), filled: false, stroke_width: 2 };
            chart
                .draw_series(LineSeries::new(l.points.iter().copied(), style))
                .map_err(draw_err)?
                .label(l.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            // A line of one point draws nothing: short timelines get their points marked.
            if f.marks && l.points.len() < 40 {
                chart.draw_series(l.points.iter().map(|p| Circle::new(*p, 2, style.filled()))).map_err(draw_err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(f.key.clone())
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// An x axis from `lo` to `hi`: simulated time (`clock`), with ticks on round clock times
/// (whole minutes, hours, days) rather than wherever a decimal step of UNIX seconds
/// falls, or a plain number with ticks on 1, 2 or 5 times a power of ten.
struct XAxis {
    lo: f64,
    hi: f64,
    clock: bool,
}

impl XAxis {
    /// The distance between ticks: the smallest round step that gives at most `max`.
    fn step(&self, max: usize) -> f64 {
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
        let span = self.hi - self.lo;
        if self.clock {
            return STEPS.iter().copied().find(|s| span / s <= max as f64).unwrap_or(span);
        }
        if !(span > 0.0 && span.is_finite()) {
            return 1.0;
        }
        let base = 10f64.powf((span / max as f64).log10().floor());
        [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * base).find(|s| span / s <= max as f64).unwrap_or(span)
    }
}

impl Ranged for XAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let frac = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (frac * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let max = hint.max_num_points().max(1);
        let step = self.step(max);
        let mut t = (self.lo / step).ceil() * step;
        let mut out = Vec::new();
        // Within a hair of the end counts (0.1 + 0.2 is not quite 0.3).
        while t <= self.hi + step * 1e-9 && out.len() < max {
            out.push(t);
            t += step;
        }
        out
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
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
pub(super) fn share_bars(rows: &[(String, f64, Option<f64>)]) -> Result<String, ChartFailed> {
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
