//! The HTML report (`--html`, `trafficgen report`): one self-contained page, with inline
//! CSS and charts drawn here as inline SVG, so it opens anywhere with no network and no
//! script. Drawn from the typed `Summary`, so renaming a field of the summary breaks the
//! build here instead of silently dropping a row or a chart; a saved summary that cannot
//! be read as one is refused by its reader and never reaches the page.
//!
//! One file per concern: `page` (the frame, escaping, tables), `charts` (drawing),
//! `timeline` (the charts over time), `sections` (the run, its verdict, mix and
//! latency), `telemetry` (the client's and the server's counts reconciled).

mod charts;
mod page;
mod sections;
mod telemetry;
mod timeline;

#[cfg(test)]
mod tests;

use crate::model::summary::Summary;

use timeline::Timeline;

/// The page for one summary. Errors only when a chart cannot be drawn.
pub fn render(s: &Summary) -> Result<String, String> {
    let timeline = Timeline::read(s);
    let mut out = String::with_capacity(256 * 1024);
    page::head(&mut out, &format!("trafficgen report: {} to {}", s.sim_start, s.sim_end));
    sections::overview(&mut out, s);
    sections::verdict(&mut out, s);
    timeline::throughput(&mut out, &timeline)?;
    timeline::latency_over_time(&mut out, &timeline)?;
    timeline::failures_over_time(&mut out, &timeline)?;
    sections::mix(&mut out, s)?;
    sections::latency_table(&mut out, s);
    telemetry::telemetry(&mut out, s);
    telemetry::server_metrics(&mut out, s);
    out.push_str("</body></html>\n");
    Ok(out)
}
