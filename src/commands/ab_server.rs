//! `ab --server-metrics`: the server's counters read at the start of the first block
//! and at each block's end, on a thread of their own while the run goes on (the
//! analysis of the readings is `analysis::ab_server`). A reading is an HTTP scrape of
//! the server (`analysis::server_metrics::scrape`), timed on the run's own clock, which
//! is `work::ab::Split`'s: so it lives here, where the run and its split meet.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::analysis::ab_server::Reading;
use crate::analysis::server_metrics;
use crate::work::ab::Split;

/// Dropping (or sending on) it stops the readings.
pub type Stop = Sender<()>;

/// Reads the server as the first operation is dealt and at each block's end, until
/// stopped. A failed reading is logged and skipped: its block merges with the next.
pub fn readings(url: String, split: Arc<Split>, every: Duration) -> (Stop, JoinHandle<Vec<Reading>>) {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let mut out = Vec::new();
        // Block 0 begins when the first operation is dealt.
        let start = loop {
            if let Some(t) = split.started() {
                break t;
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Err(RecvTimeoutError::Timeout) => continue,
                _ => return out,
            }
        };
        let read = |out: &mut Vec<Reading>| match server_metrics::scrape(&url) {
            Ok(counts) => out.push(Reading { counts, at_s: start.elapsed().as_secs_f64() }),
            Err(e) => tracing::warn!("--server-metrics: a block's reading failed: {e}"),
        };
        read(&mut out);
        for k in 1u32.. {
            let wait = (start + every * k).saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => read(&mut out),
                _ => break,
            }
        }
        out
    });
    (tx, handle)
}
