//! `trafficgen compare BASE.json NEW.json`: per-operation latency, throughput and failure
//! rate of two runs side by side, e.g. obsctl N-1 against N under the same seed and
//! profile, optionally failing when the new run is worse by more than a limit. The
//! comparison is `analysis::compare`'s, the table `output::compare`'s.
//!
//! Summaries are read typed (`model::summary::from_json`): one of another schema version
//! is refused naming both versions, rather than compared on whatever fields happen to match.

use std::path::Path;

use crate::analysis::compare::{Run, compare};
use crate::cli::CompareArgs;
use crate::model::compare::Limit;
use crate::model::error::Error;
use crate::model::summary::{Summary, from_json};
use crate::model::verdict::Judgement;
use crate::output::compare::{DRIFT_NOTE, table};
use crate::output::export::{check_distinct, read_summary};

/// Exit codes: 0 compared (and within the limit), 3 a regression beyond --max-regression,
/// 4 inconclusive (with --max-regression, no operation ran in both runs: nothing was
/// compared, which is not a pass), 2 unreadable or invalid input or a bad
/// --max-regression (message on stderr).
pub fn run(args: &CompareArgs) -> Result<Judgement, Error> {
    let limit = args.max_regression.map(Limit::from);
    // `compare A B > A` has emptied A before compare started: say so, not "invalid JSON".
    check_distinct(&[("BASE.json", &args.base), ("NEW.json", &args.new)], &[])?;
    // Both files are read (size-capped) before either is parsed, so a file too large is
    // named even beside one that is not a summary.
    let loaded = read_summary(&args.base).and_then(|b| Ok((b, read_summary(&args.new)?))).and_then(|(b, n)| {
        let base = parse(&args.base, &b)?;
        Ok((base, parse(&args.new, &n)?))
    });
    let (base, new) = match loaded {
        Ok(both) => both,
        Err(e) => return Err(Error::Usage(crate::model::terminal::clean(&e.to_string()))),
    };
    let (base_name, new_name) = (args.base.display().to_string(), args.new.display().to_string());
    let c = compare(Run { name: &base_name, summary: &base }, Run { name: &new_name, summary: &new }, limit);
    if args.json {
        match serde_json::to_string_pretty(&c) {
            Ok(text) => println!("{text}"),
            Err(e) => return Err(Error::Usage(format!("cannot write the comparison as JSON: {e}"))),
        }
    } else {
        // Names and texts in a summary are its author's: no escape sequence of theirs
        // reaches the terminal.
        print!("{}", crate::model::terminal::clean(&table(&c, &base, &new)));
        println!("{DRIFT_NOTE}");
    }
    Ok(c.result)
}

/// A summary, typed; the error names the file (and both versions for another schema).
fn parse(path: &Path, text: &str) -> Result<Summary, Error> {
    from_json(text).map_err(|e| Error::Usage(e.describe(&path.display().to_string())))
}
