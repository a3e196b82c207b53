//! Log lines in the seed generator's shape, to the console and a daily-rotated file:
//! `2025-07-02 00:26:52,956 - INFO - [alice-dev] Uploaded ... (55911 bytes)`.
//!
//! Rotated files are pruned here, not by tracing-appender: its pruning deletes every file
//! in the folder whose name starts with the stem and ends with the extension (with
//! `run.log`, a user's `runbook-01.log`). Only names of the exact shape written,
//! `STEM.YYYY-MM-DD.EXT`, are ever deleted.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer as _, fmt as tfmt};

use crate::model::error::Error;

struct SeedFormat;

impl<S, N> FormatEvent<S, N> for SeedFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            _ => "DEBUG",
        };
        write!(w, "{} - {level} - ", timestamp(SystemTime::now()))?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// `2025-07-02 00:26:52,956` (UTC), the seed's timestamp shape.
pub fn timestamp(t: SystemTime) -> String {
    let iso = humantime::format_rfc3339_millis(t).to_string();
    iso.trim_end_matches('Z').replacen('T', " ", 1).replacen('.', ",", 1)
}

/// Keeps the background log writers alive; dropping it flushes them.
pub struct LogGuards(#[allow(dead_code)] Vec<WorkerGuard>);

/// With `live`, the console shows warnings and the final report above the live status;
/// every line still goes to the file.
pub fn init(log_file: &Path, quiet: bool, live: Option<&crate::output::live::Live>) -> Result<LogGuards, Error> {
    let dir = match log_file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => ".".into(),
    };
    let stem = log_file.file_stem().and_then(|s| s.to_str()).unwrap_or("traffic_generator");
    let ext = log_file.extension().and_then(|s| s.to_str()).unwrap_or("log");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Usage(format!("log directory {}: {e}", dir.display())))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(stem)
        .filename_suffix(ext)
        .build(&dir)
        .map_err(|e| Error::Usage(format!("log file {}: {e}", log_file.display())))?;
    let pruned = Pruned { inner: appender, dir, stem: stem.to_string(), ext: ext.to_string(), day: u64::MAX };
    let (file, file_guard) = tracing_appender::non_blocking(pruned);
    let (console, console_guard) = match live {
        Some(l) => tracing_appender::non_blocking(l.writer()),
        None => tracing_appender::non_blocking(std::io::stderr()),
    };
    let live = live.is_some();
    // --quiet keeps warnings, the periodic tables (target "stats") and the final report
    // (target "report") on the console; the live status replaces the periodic tables.
    let console_filter = filter_fn(move |m| {
        let level = *m.level();
        if live {
            return level <= Level::WARN || m.target() == "report";
        }
        level <= Level::INFO && (!quiet || m.target() == "report" || m.target() == "stats" || level <= Level::WARN)
    });
    let subscriber = tracing_subscriber::registry()
        .with(tfmt::layer().event_format(SeedFormat).with_writer(file).with_ansi(false).with_filter(LevelFilter::INFO))
        .with(tfmt::layer().event_format(SeedFormat).with_writer(console).with_ansi(false).with_filter(console_filter));
    tracing::subscriber::set_global_default(subscriber).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(LogGuards(vec![file_guard, console_guard]))
}

/// Says `e` in the run's log (the file and the console, as every error line of a run
/// once logging is set up) and marks it as said, so `main` does not print it again.
pub fn logged(e: Error) -> Error {
    tracing::error!("{e}");
    e.reported()
}

/// Rotated log files kept: today's and the 13 before.
const KEEP_LOGS: usize = 14;

/// The rotating file, pruned when a line is written on a new (UTC) day: at the first
/// line of a run and at each rotation.
struct Pruned {
    inner: RollingFileAppender,
    dir: PathBuf,
    stem: String,
    ext: String,
    /// The UTC day (days since 1970) last pruned on.
    day: u64,
}

impl Write for Pruned {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let today = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
        if today != self.day {
            self.day = today;
            prune(&self.dir, &self.stem, &self.ext, KEEP_LOGS);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The date of a name of the exact shape the appender writes, `STEM.YYYY-MM-DD.EXT`.
fn rotated_date<'a>(name: &'a str, stem: &str, ext: &str) -> Option<&'a str> {
    let date = name.strip_prefix(stem)?.strip_prefix('.')?.strip_suffix(ext)?.strip_suffix('.')?;
    let b = date.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    shape.then_some(date)
}

/// Deletes the rotated logs of `stem` beyond the `keep` newest (by the date in the
/// name); any other file, link or folder is left alone.
fn prune(dir: &Path, stem: &str, ext: &str, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut logs: Vec<(String, PathBuf)> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((rotated_date(&name, stem, ext)?.to_string(), e.path()))
        })
        .collect();
    logs.sort_by(|a, b| b.0.cmp(&a.0));
    for (_, path) in logs.iter().skip(keep) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn only_the_exact_rotated_names_are_logs() {
        let date = |n| rotated_date(n, "run", "log");
        assert_eq!(date("run.2026-12-02.log"), Some("2026-12-02"));
        for other in [
            "runbook-01.log",
            "run-summary.catalog",
            "run.log",
            "run.2026-12-02.log.bak",
            "run.2026-12-02.catalog",
            "run.x2026-12-02.log",
            "run.2026-1-02.log",
            "run.2026_12_02.log",
            "run.2026-12-02-old.log",
            "run2.2026-12-02.log",
        ] {
            assert_eq!(date(other), None, "{other}");
        }
    }

    #[test]
    fn pruning_keeps_the_newest_and_every_other_file() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (1..=20).map(|d| format!("run.2026-01-{d:02}.log")).collect();
        let others = ["runbook-01.log", "run-summary.catalog", "run.log", "other.2026-01-01.log"];
        for n in names.iter().map(String::as_str).chain(others) {
            std::fs::write(dir.path().join(n), "x").unwrap();
        }
        prune(dir.path(), "run", "log", 14);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(dir.path().join(n).exists(), i >= 6, "{n}");
        }
        for n in others {
            assert!(dir.path().join(n).exists(), "{n}");
        }
    }

    #[test]
    fn timestamps_have_the_seed_shape() {
        let t = UNIX_EPOCH + Duration::from_millis(1_751_415_012_956);
        assert_eq!(timestamp(t), "2025-07-02 00:10:12,956");
    }
}
