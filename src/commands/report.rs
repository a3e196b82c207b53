//! `trafficgen report SUMMARY.json --html PATH`: the HTML report of a finished run, made
//! from its saved summary (the same page `--html` writes at the end of a run).

use std::path::Path;

use crate::model::error::Error;
use crate::model::verdict::Judgement;
use crate::output::export;

/// Exit codes: 0 written, 2 unreadable or invalid summary, or an output path that cannot
/// be written (message on stderr, naming the file).
pub fn run(summary: &Path, html: &Path) -> Result<Judgement, Error> {
    // The summary's text may reach the message: no escape sequence of its author's
    // reaches the terminal.
    write(summary, html).map_err(|e| Error::Usage(crate::model::terminal::clean(&e.to_string())))?;
    eprintln!("written: {}", html.display());
    Ok(Judgement::Pass)
}

fn write(summary: &Path, html: &Path) -> Result<(), Error> {
    let shown = summary.display();
    // The page is never written over the summary it is made from; nothing is created or
    // emptied before the summary is read and the page made.
    export::check_outputs(
        &export::Reads { files: vec![("the summary", summary)], state_dir: None },
        &[("--html", html)],
    )?;
    let text = export::read_summary(summary)?;
    // Typed: a summary of another schema version, or with a field of the wrong type, is
    // refused here naming the file, and never drawn.
    let summary = crate::model::summary::from_json(&text).map_err(|e| Error::Usage(e.describe(&shown.to_string())))?;
    let page = crate::output::html::render(&summary).map_err(|e| Error::Usage(format!("{shown}: {e}")))?;
    export::write("--html", html, &page)
}
