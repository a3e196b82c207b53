//! `trafficgen report SUMMARY.json --html PATH`: the HTML report of a finished run, made
//! from its saved summary (the same page `--html` writes at the end of a run).

use std::path::Path;

use crate::model::exit;
use crate::output::export;

/// Exit codes: 0 written, 2 unreadable or invalid summary, or an output path that cannot
/// be written (message on stderr, naming the file).
pub fn run(summary: &Path, html: &Path) -> i32 {
    match write(summary, html) {
        Ok(()) => {
            eprintln!("written: {}", html.display());
            0
        }
        Err(e) => {
            eprintln!("error: {}", crate::model::terminal::clean(&e));
            exit::USAGE
        }
    }
}

fn write(summary: &Path, html: &Path) -> Result<(), String> {
    let shown = summary.display();
    // The page is never written over the summary it is made from; nothing is created or
    // emptied before the summary is read and the page made.
    export::prepare("--html", html)?;
    export::check_distinct(&[("the summary", summary)], &[("--html", html)])?;
    let text = export::read_summary(summary)?;
    // Typed first: a summary of another schema version, or with a field of the wrong
    // type, is refused here naming the file. The page is still drawn from a JSON value
    // (the typed one, written back) until `html::render` takes the typed summary.
    let typed = crate::model::summary::from_json(&text).map_err(|e| e.describe(&shown.to_string()))?;
    let value = serde_json::to_value(&typed).map_err(|e| format!("{shown}: {e}"))?;
    let page = crate::output::html::render(&value).map_err(|e| format!("{shown}: {e}"))?;
    export::write_atomic(html, &page).map_err(|e| format!("--html {}: cannot write it: {e}", html.display()))
}
