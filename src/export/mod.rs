//! Everything a run writes besides its log: the summary JSON, the HTML report, the JUnit
//! verdict and the operations log. Every path is checked (and its file created) before any traffic
//! starts, so a bad path fails at once instead of after a long run; at the end each
//! format is written from the run's plain result data.

pub mod junit;
pub mod opslog;

use std::path::{Path, PathBuf};

use crate::report::Summary;

/// The output files of one run.
#[derive(Debug, Default)]
pub struct Exports {
    pub summary_json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub ops_log: Option<PathBuf>,
}

/// Checks that `path` can be written as a file: its folder exists and it is not a
/// folder itself. The file is created (emptied) now, as hyperfine does.
pub fn prepare(flag: &str, path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{flag} {}: is a directory; give a file path", path.display()));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(format!("{flag} {}: the directory {} does not exist", path.display(), parent.display()));
    }
    std::fs::File::create(path).map(|_| ()).map_err(|e| format!("{flag} {}: cannot write it: {e}", path.display()))
}

impl Exports {
    /// Creates every output file, or says which one cannot be written.
    pub fn prepare(&self) -> Result<(), String> {
        for (flag, p) in [
            ("--summary-json", &self.summary_json),
            ("--html", &self.html),
            ("--junit", &self.junit),
            ("--ops-log", &self.ops_log),
        ] {
            if let Some(p) = p {
                prepare(flag, p)?;
            }
        }
        Ok(())
    }

    /// Writes the summary, the HTML report and the JUnit file; returns the paths written.
    pub fn finish(&self, s: &Summary) -> Result<Vec<PathBuf>, String> {
        let mut written = Vec::new();
        if let Some(p) = &self.summary_json {
            let text = serde_json::to_string_pretty(s).map_err(|e| e.to_string())? + "\n";
            write_atomic(p, &text).map_err(|e| format!("cannot write the summary to {}: {e}", p.display()))?;
            written.push(p.clone());
        }
        if let Some(p) = &self.html {
            // From the summary's JSON, as `trafficgen report` reads a saved one.
            let value = serde_json::to_value(s).map_err(|e| e.to_string())?;
            let page = crate::html::render(&value).map_err(|e| format!("cannot make the HTML report: {e}"))?;
            write_atomic(p, &page).map_err(|e| format!("cannot write the HTML report to {}: {e}", p.display()))?;
            written.push(p.clone());
        }
        if let Some(p) = &self.junit {
            write_atomic(p, &junit::from_summary(s))
                .map_err(|e| format!("cannot write the JUnit file to {}: {e}", p.display()))?;
            written.push(p.clone());
        }
        Ok(written)
    }
}

/// Write then rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
