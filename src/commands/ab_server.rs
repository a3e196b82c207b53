//! `ab --server-metrics`: the server's requests per command for each build.
//!
//! The server counts requests per S3 API, not per client, so `ab` deals whole blocks
//! of wall time to one build in turn (`work::ab::Split::deal`) and reads the server at
//! the start of the first block and at each block's end. Each block's requests are then
//! set against the commands each build ended in it, and each build's rate is the least
//! squares fit over the blocks (`analysis::abstats::two_rates`): the few commands that
//! straddle a block's end count where they ended, and the fit absorbs them. The last,
//! partial block (the drain, `--cleanup`) is never read, so its requests count for
//! neither build.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::analysis::abstats::{self, Call, MIN_BLOCKS};
use crate::analysis::server_metrics::{self, Counts};
use crate::model::ab::ServerRow;
use crate::model::counts::{Name, OpCount};
use crate::model::events::{OpType, SYNC_FILES};
use crate::work::ab::Split;

/// One reading: the server's counters and the commands each build had ended by then.
#[derive(Debug, Clone)]
pub struct Reading {
    pub counts: Counts,
    pub ended: [BTreeMap<OpType, u64>; 2],
}

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
            Ok(counts) => out.push(Reading { counts, ended: split.ended() }),
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

/// Each build's commands between two readings, as the server's expected requests see
/// them (kind name → count).
fn delta(a: &BTreeMap<OpType, u64>, b: &BTreeMap<OpType, u64>) -> BTreeMap<Name, OpCount> {
    b.iter()
        .map(|(op, n)| {
            let ok = n.saturating_sub(a.get(op).copied().unwrap_or(0));
            (Name::from(op.name()), OpCount { ok, failed: 0 })
        })
        .collect()
}

/// One row per S3 API the server counted or trafficgen's commands need: each build's
/// rate, B's relative to A's with its interval, and the verdict at `tolerance`.
pub fn rows(readings: &[Reading], tolerance: f64, resamples: usize, seed: u64) -> Vec<ServerRow> {
    /// One block: the server's count per API; per build, requests its commands need per
    /// API and its commands of any kind.
    struct Block {
        server: BTreeMap<String, f64>,
        want: [BTreeMap<&'static str, u64>; 2],
        commands: [f64; 2],
    }
    let blocks: Vec<Block> = readings
        .windows(2)
        .map(|pair| {
            let (r0, r1) = (&pair[0], &pair[1]);
            let ops = [delta(&r0.ended[0], &r1.ended[0]), delta(&r0.ended[1], &r1.ended[1])];
            let server = r1
                .counts
                .requests
                .iter()
                .map(|(k, v)| (k.clone(), (v - r0.counts.requests.get(k).copied().unwrap_or(0.0)).max(0.0)))
                .collect();
            Block {
                server,
                want: ops.each_ref().map(|o| server_metrics::expected(o, SYNC_FILES as u64)),
                commands: ops.each_ref().map(|o| o.values().map(|c| c.ok).sum::<u64>() as f64),
            }
        })
        .collect();
    let mut names: Vec<String> = blocks.iter().flat_map(|b| b.server.keys().cloned()).collect();
    names.extend(
        blocks
            .iter()
            .flat_map(|b| b.want[0].iter().chain(&b.want[1]))
            .filter(|(_, n)| **n > 0)
            .map(|(k, _)| k.to_string()),
    );
    names.sort();
    names.dedup();
    names
        .into_iter()
        .enumerate()
        .filter_map(|(i, api)| {
            // Per request of that API where some command of either build needs one;
            // else (the client's own extras, such as obsctl's listings) per command.
            let needs = |b: &Block, k: usize| b.want[k].get(api.as_str()).copied().unwrap_or(0) as f64;
            let per = if blocks.iter().any(|b| needs(b, 0) + needs(b, 1) > 0.0) { "request" } else { "command" };
            let xs: Vec<(f64, f64, f64)> = blocks
                .iter()
                .map(|b| {
                    let y = b.server.get(&api).copied().unwrap_or(0.0);
                    match per {
                        "request" => (y, needs(b, 0), needs(b, 1)),
                        _ => (y, b.commands[0], b.commands[1]),
                    }
                })
                .collect();
            // Nothing on either side (an API the server lists at zero): no row.
            let any = xs.iter().any(|&(y, _, _)| y > 0.0) || per == "request";
            any.then(|| row(api, per, &xs, tolerance, resamples, seed ^ (i as u64) << 40))
        })
        .collect()
}

fn row(api: String, per: &'static str, blocks: &[(f64, f64, f64)], t: f64, resamples: usize, seed: u64) -> ServerRow {
    let n = blocks.len();
    let fit = abstats::rate_shift(blocks, resamples, seed);
    let (a, b, rel) = fit.map_or((f64::NAN, f64::NAN, None), |f| (f.a, f.b, f.rel));
    let (verdict, reason) = match &fit {
        _ if n < MIN_BLOCKS => {
            (Call::Inconclusive, format!("{n} blocks read, {MIN_BLOCKS} needed: run longer or give a shorter --block"))
        }
        None => {
            (Call::Inconclusive, "the blocks cannot tell the builds apart (each build's share the same in all)".into())
        }
        Some(f) => {
            let v = abstats::judge_rate(f, t);
            let why = match (v, f.rel) {
                (Call::Fail, None) => format!("B sends {:.2} per {per} where A sends none", f.b),
                (Call::Fail, Some(_)) => format!("B sends more than {:.0}% more per {per} than A", t * 100.0),
                (Call::Pass, _) => format!("within {:.0}%", t * 100.0),
                (_, _) => "the interval straddles the tolerance: run longer".into(),
            };
            (v, why)
        }
    };
    ServerRow { api, per, a, b, rel, blocks: n, verdict, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(puts: f64, lists: f64, a: &[(OpType, u64)], b: &[(OpType, u64)]) -> Reading {
        let mut counts = Counts::default();
        counts.requests.insert("PutObject".into(), puts);
        counts.requests.insert("ListObjectsV2".into(), lists);
        Reading { counts, ended: [a.iter().copied().collect(), b.iter().copied().collect()] }
    }

    #[test]
    fn a_build_that_lists_the_bucket_twice_per_upload_fails_on_the_server_view() {
        // Blocks alternate A, B; every upload is one PutObject; A lists once per
        // command, B twice. The readings are cumulative, as the server's counters are.
        let (mut puts, mut lists, mut na, mut nb) = (0.0, 0.0, 0u64, 0u64);
        let mut rs = vec![reading(0.0, 0.0, &[], &[])];
        for k in 0..10u64 {
            let (da, db) = if k % 2 == 0 { (20 + k, 1) } else { (1, 20 + k) };
            na += da;
            nb += db;
            puts += (da + db) as f64;
            lists += (da + 2 * db) as f64;
            rs.push(reading(puts, lists, &[(OpType::Upload, na)], &[(OpType::Upload, nb)]));
        }
        let rows = rows(&rs, 0.10, 500, 3);
        let put = rows.iter().find(|r| r.api == "PutObject").unwrap();
        let list = rows.iter().find(|r| r.api == "ListObjectsV2").unwrap();
        assert_eq!((put.per, put.verdict), ("request", Call::Pass), "{put:?}");
        assert!((put.a - 1.0).abs() < 1e-9 && (put.b - 1.0).abs() < 1e-9);
        assert_eq!((list.per, list.verdict), ("command", Call::Fail), "{list:?}");
        assert!((list.a - 1.0).abs() < 1e-9 && (list.b - 2.0).abs() < 1e-9);
        assert!(list.reason.contains("per command"), "{}", list.reason);
        // Too few blocks: INCONCLUSIVE with the reason, whatever the rates.
        let few = super::rows(&rs[..3], 0.10, 500, 3);
        assert!(few.iter().all(|r| r.verdict == Call::Inconclusive && r.reason.contains("blocks read")), "{few:?}");
    }
}
