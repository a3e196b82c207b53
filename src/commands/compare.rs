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
    let limit = match args.max_regression.as_deref().map(Limit::parse).transpose() {
        Ok(limit) => limit,
        Err(e) => return Err(Error::Usage(format!("--max-regression: {e}"))),
    };
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

// `--max-regression` as written on the command line, read here where the option is.
impl Limit {
    fn parse(text: &str) -> Result<Limit, String> {
        let t = text.trim();
        let hint = "give a percentage such as 20%";
        let Some(number) = t.strip_suffix('%').map(str::trim) else {
            return Err(format!("{text:?} has no %; {hint}"));
        };
        let pct: f64 = number.parse().map_err(|_| format!("{text:?} is not a percentage; {hint}"))?;
        if !pct.is_finite() || pct < 0.0 {
            return Err(format!("{text:?} must be a finite percentage of 0% or more"));
        }
        // Scaling in the decimal text keeps 7% as the double nearest 0.07, not 7/100 one ulp off.
        let fraction = format!("{number}e-2").parse().unwrap_or(pct / 100.0);
        Ok(Limit { pct, text: format!("{number}%"), fraction })
    }
}

/// A summary, typed; the error names the file (and both versions for another schema).
fn parse(path: &Path, text: &str) -> Result<Summary, Error> {
    from_json(text).map_err(|e| Error::Usage(e.describe(&path.display().to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_must_be_percentages() {
        let l = Limit::parse(" 12.5 % ").unwrap();
        assert_eq!((l.pct, l.fraction, l.text.as_str()), (12.5, 0.125, "12.5%"));
        assert_eq!(Limit::parse("7%").unwrap().fraction, 0.07);
        assert!(Limit::parse("20").unwrap_err().contains("such as 20%"));
        assert!(Limit::parse("-5%").is_err());
        assert!(Limit::parse("lots%").is_err());
        assert!(Limit::parse("inf%").is_err());
    }
}
