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
    export::prepare("--html", html)?;
    export::check_distinct(&[("the summary", summary)], &[("--html", html)])?;
    let text = export::read_summary(summary)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{shown} is not valid JSON: {e}")))?;
    let summary = typed(value).map_err(|e| Error::Usage(format!("{shown}: {e}")))?;
    let page = crate::output::html::render(&summary).map_err(|e| Error::Usage(format!("{shown}: {e}")))?;
    export::write_atomic(html, &page)
        .map_err(|e| Error::Usage(format!("--html {}: cannot write it: {e}", html.display())))
}

/// The summary read as the typed document the page is drawn from; what does not read as
/// one (a field missing, a number that is text) is refused here and never drawn.
fn typed(value: serde_json::Value) -> Result<crate::model::summary::Summary, String> {
    // serde says what was wrong but not where: the exit code, which scripts act on, is
    // named when it is not a number.
    if let Some(code) = value.pointer("/verdict/exit_code")
        && !code.is_null()
        && !(code.is_i64() || code.is_u64())
    {
        let shown: String = code.to_string().chars().take(40).collect();
        return Err(format!("verdict.exit_code must be an integer, not {shown}"));
    }
    serde_json::from_value(value).map_err(|e| format!("this is not a trafficgen summary: {e}"))
}
