//! `trafficgen merge S1.json … SN.json`: the summaries of N shard processes (`--shard I/N`)
//! as one run. The shards are checked, added up and judged by `analysis::merge`; here
//! they are read, and the fleet's table, verdict and files printed and written.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use crate::analysis::merge::{self, Part};
use crate::config::plan::Plan;
use crate::model::error::Error;
use crate::model::summary::from_json;
use crate::model::verdict::Judgement;
use crate::output::export::Reads;

pub struct MergeArgs<'a> {
    pub files: &'a [PathBuf],
    pub summary_json: Option<&'a Path>,
    pub junit: Option<&'a Path>,
    pub thresholds: &'a [String],
}

/// Bad input (a summary, the profile, an output path) is exit 2; an output that cannot
/// be written after the merge is exit 1; otherwise the fleet's verdict.
pub fn run(plan: Plan, a: MergeArgs) -> Result<Judgement, Error> {
    if plan.shard.is_some() {
        return Err(refused("merge takes the whole profile; drop --shard (and JOB_COMPLETION_INDEX)"));
    }
    check_outputs(&plan, &a).map_err(refused)?;
    let parts = read_parts(a.files).map_err(refused)?;
    let merge::Fleet { plan, stats, mut summary, map, verdict: v } =
        merge::fleet(plan, &parts, a.thresholds).map_err(refused)?;

    // Whatever the summaries hold, no escape sequence of theirs reaches the terminal.
    let clean = crate::model::terminal::clean;
    let (roster, fidelity) = (plan.roster(), crate::analysis::fidelity::fleet(&plan, &stats));
    let view = crate::output::tables::View { roster: &roster, map: &map, fidelity: &fidelity };
    let title = format!("merged ({} summaries)", parts.len());
    let dispatch_s = parts.iter().map(|p| p.s.dispatch_s).fold(0.0, f64::max);
    println!("{}", clean(&crate::output::tables::table(&view, &stats, &[], 0.0, dispatch_s, &title)));
    let limited: Vec<String> = parts.iter().filter(|p| p.s.host.warning.is_some()).map(|p| p.file.clone()).collect();
    if !limited.is_empty() {
        println!("HOST LIMITED: {} (their results measure their machines too)", clean(&limited.join(", ")));
    }
    println!("{}", clean(&crate::analysis::verdict::render(&v)));
    let code = v.result;
    summary.verdict = Some(v);
    // The JUnit report is the fleet's verdict on the summary as judged; the JSON then
    // carries the shards' timelines, hosts, telemetry and server counts combined.
    let junit = crate::output::export::junit::from_summary(&summary);
    merge::combine_sections(&mut summary, &parts);
    if let Some(p) = a.summary_json {
        let text = serde_json::to_string_pretty(&summary).map_err(refused)? + "\n";
        write("--summary-json", p, &text)?;
    }
    if let Some(p) = a.junit {
        write("--junit", p, &junit)?;
    }
    Ok(code)
}

/// Bad input, in its own words with any escape sequence of the inputs' removed (exit 2).
fn refused(e: impl Display) -> Error {
    Error::Usage(crate::model::terminal::clean(&e.to_string()))
}

/// One output, written once the merge is done: failing now is a run that could not do
/// its work (exit 1), not bad input.
fn write(flag: &str, p: &Path, text: &str) -> Result<(), Error> {
    crate::output::export::write(flag, p, text)?;
    eprintln!("written: {}", p.display());
    Ok(())
}

/// The outputs can be written, and none is an input (a summary merged, the profile):
/// `merge --summary-json s0.json s0.json s1.json` once emptied s0.json before reading it.
/// Nothing is created or emptied here (`output::export::check_outputs`).
fn check_outputs(plan: &Plan, a: &MergeArgs) -> Result<(), Error> {
    let outputs: Vec<(&str, &Path)> = [("--summary-json", a.summary_json), ("--junit", a.junit)]
        .into_iter()
        .filter_map(|(f, p)| Some((f, p?)))
        .collect();
    let mut files: Vec<(&str, &Path)> = a.files.iter().map(|f| ("the summary", f.as_path())).collect();
    files.push(("the profile", plan.source.as_path()));
    crate::output::export::check_outputs(&Reads { files, state_dir: None }, &outputs)
}

/// Each file read (size-capped) and parsed typed, naming the file in every error.
fn read_parts(files: &[PathBuf]) -> Result<Vec<Part>, Error> {
    let mut parts = Vec::new();
    for f in files {
        let file = f.display().to_string();
        let text = crate::output::export::read_summary(f)?;
        let s = from_json(&text).map_err(|e| Error::Usage(e.describe(&file)))?;
        parts.push(Part { file, s });
    }
    Ok(parts)
}
