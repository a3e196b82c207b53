//! `ab --server-metrics`: the server's requests per command for each build, from the
//! readings (`commands::ab_server` takes them while the run goes on).
//!
//! The server counts requests per S3 API, not per client, so `ab` deals whole blocks
//! of wall time to one build in turn (`work::ab::Split::deal`) and reads the server at
//! the start of the first block and at each block's end. Each block's requests are then
//! set against each build's commands in it, and each build's rate is the least squares
//! fit over the blocks (`analysis::abstats::two_rates`). A command that straddles a
//! reading counts in each block for the share of its life it spent there: counted
//! where it ended, a build with longer commands (B's extra request, say) would push its
//! requests into the other build's blocks and bias both rates. The last, partial block
//! (the drain, `--cleanup`) is never read, so its requests count for neither build.

use std::collections::BTreeMap;

use crate::analysis::abstats::{self, MIN_BLOCKS};
use crate::analysis::server_metrics::{self, Counts};
use crate::model::ab::{Sample, ServerRow};
use crate::model::events::{Build, FailClass, SYNC_FILES};
use crate::model::verdict::Judgement;

/// One reading: the server's counters, and when (seconds since the first operation was
/// dealt, the clock of `Sample::end_s`).
#[derive(Debug, Clone)]
pub struct Reading {
    pub counts: Counts,
    pub at_s: f64,
}

/// The share of a command's life in [t0, t1] (all of it at its end for one too short to
/// tell).
fn share(x: &Sample, t0: f64, t1: f64) -> f64 {
    let (end, start) = (x.end_s, x.end_s - x.seconds);
    if x.seconds < 1e-3 {
        return if end > t0 && end <= t1 { 1.0 } else { 0.0 };
    }
    ((end.min(t1) - start.max(t0)) / x.seconds).max(0.0)
}

/// One row per S3 API the server counted or trafficgen's commands need: each build's
/// rate, B's relative to A's with its interval, and the verdict at `tolerance`.
pub fn rows(readings: &[Reading], samples: &[Sample], tolerance: f64, resamples: usize, seed: u64) -> Vec<ServerRow> {
    /// One block: the server's count per API; per build, requests its commands need per
    /// API and its commands of any kind (each by the share of its life in the block).
    #[derive(Default)]
    struct Block {
        server: BTreeMap<String, f64>,
        want: [BTreeMap<&'static str, f64>; 2],
        commands: [f64; 2],
    }
    let mut blocks: Vec<Block> = readings
        .windows(2)
        .map(|pair| Block {
            server: pair[1]
                .counts
                .requests
                .iter()
                .map(|(k, v)| (k.clone(), (v - pair[0].counts.requests.get(k).copied().unwrap_or(0.0)).max(0.0)))
                .collect(),
            ..Default::default()
        })
        .collect();
    // Commands killed at the stop ran too: their requests reached the server.
    for x in samples.iter().filter(|x| x.result != Err(FailClass::Cancelled) || x.seconds > 0.0) {
        let k = (x.build == Build::B) as usize;
        for (b, pair) in blocks.iter_mut().zip(readings.windows(2)) {
            let f = share(x, pair[0].at_s, pair[1].at_s);
            if f > 0.0 {
                b.commands[k] += f;
                if let Some((api, n)) = server_metrics::needs(x.op.name(), SYNC_FILES as u64) {
                    *b.want[k].entry(api).or_default() += f * n as f64;
                }
            }
        }
    }
    let mut names: Vec<String> = blocks.iter().flat_map(|b| b.server.keys().cloned()).collect();
    names.extend(blocks.iter().flat_map(|b| b.want[0].keys().chain(b.want[1].keys())).map(|k| k.to_string()));
    names.sort();
    names.dedup();
    names
        .into_iter()
        .enumerate()
        .filter_map(|(i, api)| {
            // Per request of that API where some command of either build needs one;
            // else (the client's own extras, such as obsctl's listings) per command.
            let needs = |b: &Block, k: usize| b.want[k].get(api.as_str()).copied().unwrap_or(0.0);
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
        _ if n < MIN_BLOCKS => (
            Judgement::Inconclusive,
            format!("{n} blocks read, {MIN_BLOCKS} needed: run longer or give a shorter --block"),
        ),
        None => (
            Judgement::Inconclusive,
            "the blocks cannot tell the builds apart (each build's share the same in all)".into(),
        ),
        Some(f) => {
            let v = abstats::judge_rate(f, t);
            let why = match (v, f.rel) {
                (Judgement::Fail, None) => format!("B sends {:.2} per {per} where A sends none", f.b),
                (Judgement::Fail, Some(_)) => format!("B sends more than {:.0}% more per {per} than A", t * 100.0),
                (Judgement::Pass, _) => format!("within {:.0}%", t * 100.0),
                (_, _) => "the interval straddles the tolerance: run longer".into(),
            };
            (v, why)
        }
    };
    ServerRow { api, per: per.into(), a, b, rel, blocks: n, verdict, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::events::{OpType, SizeClass};

    fn sample(build: Build, end_s: f64, seconds: f64) -> Sample {
        Sample { build, op: OpType::Upload, class: SizeClass::Small, seconds, end_s, result: Ok(()) }
    }

    #[test]
    fn a_build_that_lists_the_bucket_twice_per_upload_fails_on_the_server_view() {
        // Ten blocks of 10 s alternating A, B, each with 20 uploads of 2 s spread over
        // it (the last few straddle its end). Each upload sends its PutObject and its
        // listings half-way through; A lists once per command, B twice. The readings
        // are cumulative, as the server's counters are.
        let mut samples = Vec::new();
        let mut events: Vec<(f64, f64, f64)> = Vec::new(); // (time, puts, lists)
        for k in 0..10 {
            let build = if k % 2 == 0 { Build::A } else { Build::B };
            for j in 0..20 {
                let start = k as f64 * 10.0 + j as f64 * 0.5;
                samples.push(sample(build, start + 2.0, 2.0));
                events.push((start + 1.0, 1.0, if build == Build::A { 1.0 } else { 2.0 }));
            }
        }
        let reading = |t: f64| {
            let mut counts = Counts::default();
            let (p, l) = events.iter().filter(|e| e.0 <= t).fold((0.0, 0.0), |a, e| (a.0 + e.1, a.1 + e.2));
            counts.requests.insert("PutObject".into(), p);
            counts.requests.insert("ListObjectsV2".into(), l);
            Reading { counts, at_s: t }
        };
        let rs: Vec<Reading> = (0..=10).map(|k| reading(k as f64 * 10.0)).collect();
        let rows = rows(&rs, &samples, 0.10, 500, 3);
        let put = rows.iter().find(|r| r.api == "PutObject").unwrap();
        let list = rows.iter().find(|r| r.api == "ListObjectsV2").unwrap();
        assert_eq!((put.per.as_str(), put.verdict), ("request", Judgement::Pass), "{put:?}");
        assert!((put.a - 1.0).abs() < 0.05 && (put.b - 1.0).abs() < 0.05, "{put:?}");
        assert_eq!((list.per.as_str(), list.verdict), ("command", Judgement::Fail), "{list:?}");
        assert!((list.a - 1.0).abs() < 0.1 && (list.b - 2.0).abs() < 0.1, "{list:?}");
        assert!(list.reason.contains("per command"), "{}", list.reason);
        // Too few blocks: INCONCLUSIVE with the reason, whatever the rates.
        let few = super::rows(&rs[..3], &samples, 0.10, 500, 3);
        assert!(
            few.iter().all(|r| r.verdict == Judgement::Inconclusive && r.reason.contains("blocks read")),
            "{few:?}"
        );
    }

    #[test]
    fn a_command_counts_in_each_block_for_its_share_of_life() {
        let x = sample(Build::A, 12.0, 4.0);
        assert_eq!((share(&x, 0.0, 10.0), share(&x, 10.0, 20.0), share(&x, 20.0, 30.0)), (0.5, 0.5, 0.0));
        let instant = sample(Build::A, 10.0, 0.0);
        assert_eq!((share(&instant, 0.0, 10.0), share(&instant, 10.0, 20.0)), (1.0, 0.0));
    }
}
