//! The HTML report (`--html`, `trafficgen report`): one self-contained page, with inline
//! CSS and charts drawn here as inline SVG, so it opens anywhere with no network and no
//! script. Drawn from the typed `Summary`, so renaming a field of the summary breaks the
//! build here instead of silently dropping a row or a chart; a saved summary that cannot
//! be read as one is refused by its reader and never reaches the page.
//!
//! One file per concern: `page` (the frame, escaping, tables), `charts` (drawing),
//! `timeline` (the charts over time), `sections` (the run, its verdict, mix and
//! latency), `telemetry` (the client's and the server's counts reconciled), `ab` (two
//! client builds of one run, A against B, their latencies overlaid).

mod ab;
mod charts;
mod page;
mod sections;
mod telemetry;
mod timeline;

#[cfg(test)]
mod tests;

use crate::model::ab::{AbReport, Curves};
use crate::model::summary::Summary;

pub use charts::ChartFailed;
use timeline::Timeline;

/// The page for one summary. Errors only when a chart cannot be drawn.
pub fn render(s: &Summary) -> Result<String, ChartFailed> {
    let mut out = String::with_capacity(256 * 1024);
    page::head(&mut out, &format!("trafficgen report: {} to {}", s.sim_start, s.sim_end));
    sections::overview(&mut out, s);
    sections::verdict(&mut out, s);
    run_sections(&mut out, s)?;
    out.push_str("</body></html>\n");
    Ok(out)
}

/// `trafficgen ab`'s page: the run's own page (`render`) with the section "A against B"
/// right after its overview and verdict; that section alone when the run left no
/// summary (it stopped early). `curves` has each comparison's latencies, by its name.
pub fn render_ab(s: Option<&Summary>, r: &AbReport, curves: &[Curves]) -> Result<String, ChartFailed> {
    let mut out = String::with_capacity(256 * 1024);
    match s {
        Some(s) => {
            page::head(&mut out, &format!("trafficgen ab: {} to {}", s.sim_start, s.sim_end));
            sections::overview(&mut out, s);
            sections::verdict(&mut out, s);
            ab::section(&mut out, r, curves)?;
            run_sections(&mut out, s)?;
        }
        None => {
            page::head(&mut out, "trafficgen ab");
            ab::section(&mut out, r, curves)?;
        }
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

/// The run's sections after its overview and verdict: the charts over time, the mix,
/// latency, telemetry and the server's counts.
fn run_sections(out: &mut String, s: &Summary) -> Result<(), ChartFailed> {
    let timeline = Timeline::read(s);
    timeline::throughput(out, &timeline)?;
    timeline::latency_over_time(out, &timeline)?;
    timeline::failures_over_time(out, &timeline)?;
    sections::mix(out, s)?;
    sections::latency_table(out, s);
    telemetry::telemetry(out, s);
    telemetry::server_metrics(out, s);
    Ok(())
}
