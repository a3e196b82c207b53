//! Log lines in the seed generator's shape, to the console and a daily-rotated file:
//! `2025-07-02 00:26:52,956 - INFO - [alice-dev] Uploaded ... (55911 bytes)`.

use std::fmt;
use std::path::Path;
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
pub fn init(log_file: &Path, quiet: bool, live: Option<&crate::live::Live>) -> Result<LogGuards, String> {
    let dir = match log_file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => ".".into(),
    };
    let stem = log_file.file_stem().and_then(|s| s.to_str()).unwrap_or("traffic_generator");
    let ext = log_file.extension().and_then(|s| s.to_str()).unwrap_or("log");
    std::fs::create_dir_all(&dir).map_err(|e| format!("log directory {}: {e}", dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(stem)
        .filename_suffix(ext)
        .max_log_files(14)
        .build(&dir)
        .map_err(|e| format!("log file {}: {e}", log_file.display()))?;
    let (file, file_guard) = tracing_appender::non_blocking(appender);
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
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
    Ok(LogGuards(vec![file_guard, console_guard]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_have_the_seed_shape() {
        let t = UNIX_EPOCH + Duration::from_millis(1_751_415_012_956);
        assert_eq!(timestamp(t), "2025-07-02 00:10:12,956");
    }
}
