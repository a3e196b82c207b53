//! The page's frame and the small pieces every section builds it from: the stylesheet,
//! escaping, number formats, tables and figures. Kept apart so each section reads as what
//! it shows, and so every cell that carries text from the summary goes through `esc`.

use std::fmt::Write as _;

use plotters::style::RGBColor;

use super::charts::{ACHIEVED, TARGET};

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1160px;padding:16px 24px;color:#222;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.05em;margin:1em 0 .4em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.9em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
table.facts td,table.telemetry td:last-child{text-align:left}
table.ab td:last-child,table.ab th:last-child{text-align:left}table.ab td:last-child{min-width:10em}
.wide{overflow-x:auto}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.inconclusive{color:#9a6700;font-weight:600}.muted{color:#777}
.nodata{color:#777;font-style:italic}
figure.chart{margin:.6em 0 1.2em;display:inline-block;vertical-align:top}
figure.chart svg{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444;margin-top:.2em;max-width:1100px}
.grid figure.chart{width:540px;margin-right:12px}
.key{display:inline-block;width:12px;height:12px;margin:0 4px 0 8px;vertical-align:-1px}
";

/// The document's head and title, up to the first section.
pub(super) fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    );
}

/// HTML-escapes text (element content and attribute values alike).
pub(super) fn esc(t: &str) -> String {
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

/// A number for a table cell (see `output::units::number`).
pub(super) fn fmt(x: f64, digits: usize) -> String {
    crate::output::units::number(x, digits)
}

/// A count for a table cell (counts are shown as the whole numbers they are).
pub(super) fn count(n: u64) -> String {
    fmt(n as f64, 0)
}

pub(super) use crate::output::units::pct_of as pct;

/// A table from escaped cells.
pub(super) fn table(out: &mut String, class: &str, head: &[&str], rows: &[Vec<String>]) {
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

pub(super) fn nodata(out: &mut String, what: &str) {
    let _ = writeln!(out, "<p class=\"nodata\">{}: no data</p>", esc(what));
}

pub(super) fn figure(out: &mut String, id: &str, caption: &str, svg: &str) {
    let _ = writeln!(
        out,
        "<figure class=\"chart\" id=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
        esc(id),
        esc(caption)
    );
}

/// A bar chart's figure: its caption starts with the key to the two colours.
pub(super) fn bar_figure(out: &mut String, id: &str, caption: &str, svg: &str) {
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
pub(super) fn slug(i: usize, name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{i}-{s}")
}
