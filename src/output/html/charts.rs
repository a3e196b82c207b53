//! The charts, drawn here as inline SVG with plotters: lines over simulated time (the
//! timeline's rates and latencies) and bars of shares (the mix). No chart library runs in
//! the browser, so the page needs no script and no network.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::model::clock::civil;

use super::page::fmt;

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

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("cannot draw a chart: {e:?}")
}

/// Lines over simulated time, as an SVG document.
pub(super) fn line_chart(size: (u32, u32), range: (f64, f64), y_desc: &str, lines: &[Line]) -> Result<String, String> {
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
pub(super) fn share_bars(rows: &[(String, f64, Option<f64>)]) -> Result<String, String> {
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
