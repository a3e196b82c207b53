//! Was the traffic what the profile asked for? Achieved shares of operations, file kinds
//! and size bands against the profile's, per user and fleet-wide. Pure: plan + counters.

use std::collections::BTreeMap;

use crate::config::plan::{Plan, UserPlan};
use crate::model::counts::Counters;
use crate::model::counts::{Fidelity, Share};
use crate::model::events::OpType;

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn max_error<'a>(shares: impl IntoIterator<Item = &'a Share>) -> Option<f64> {
    shares.into_iter().filter_map(Share::error).map(round4).reduce(f64::max)
}

fn started(c: &Counters, op: OpType) -> u64 {
    c.started_by_op.get(op.name()).copied().unwrap_or(0)
}

/// The whole fleet's mix so far, as the tables show it.
pub fn fleet(plan: &Plan, stats: &crate::analysis::stats::Stats) -> Fidelity {
    let pairs: Vec<_> = plan.users.iter().zip(stats.users.iter()).collect();
    measure(plan, &pairs, &stats.totals())
}

/// `users` are the users whose counters were summed into `c` (one, or the whole fleet):
/// their kind weights, weighted by how many uploads each drew, give the target.
pub fn measure(plan: &Plan, users: &[(&UserPlan, &Counters)], c: &Counters) -> Fidelity {
    let r = &plan.rates;
    let ops = c.started;
    let download_share = Share::new(r.download_share, started(c, OpType::Download), ops);
    let errors: u64 = OpType::EXPECTED_FAILURES.iter().map(|o| started(c, *o)).sum();
    let error_share = Share::new(r.error_share, errors, ops);
    let mut extras = BTreeMap::new();
    for op in [OpType::List, OpType::HeadObject, OpType::Du, OpType::Presign, OpType::Sync, OpType::MakeBucket] {
        let target = r.extras.iter().find(|(o, _)| *o == op).map_or(0.0, |(_, s)| *s);
        if target > 0.0 || started(c, op) > 0 {
            extras.insert(op.into(), Share::new(target, started(c, op), ops));
        }
    }

    let per_kind = |draws: &[Vec<u64>], k: usize| draws.get(k).map_or(0, |b| b.iter().sum::<u64>());
    let uploads: u64 = (0..plan.kinds.len()).map(|k| per_kind(&c.upload_draws, k)).sum();
    let mut kinds = BTreeMap::new();
    let mut size_bands = BTreeMap::new();
    for (k, kind) in plan.kinds.iter().enumerate() {
        // Each user's weights count as much as that user's share of the uploads.
        let mut target = 0.0;
        let mut weight_sum = 0.0;
        for (u, uc) in users {
            let n: u64 = (0..plan.kinds.len()).map(|j| per_kind(&uc.upload_draws, j)).sum();
            let total: f64 = u.kind_weights.iter().sum();
            let w = if uploads == 0 { 1.0 } else { n as f64 };
            target += w * u.kind_weights[k] / total;
            weight_sum += w;
        }
        let target = if weight_sum > 0.0 { target / weight_sum } else { 0.0 };
        let here = per_kind(&c.upload_draws, k);
        kinds.insert(kind.name.clone(), Share::new(target, here, uploads));
        let band_total: f64 = kind.bands.iter().map(|b| b.weight).sum();
        let bands: Vec<Share> = kind
            .bands
            .iter()
            .enumerate()
            .map(|(b, band)| {
                let n = c.upload_draws.get(k).and_then(|v| v.get(b)).copied().unwrap_or(0);
                Share::new(band.weight / band_total, n, here)
            })
            .collect();
        size_bands.insert(kind.name.clone(), bands);
    }
    Fidelity {
        operations: ops,
        download_share_error: download_share.error().map(round4),
        error_share_error: error_share.error().map(round4),
        extras_share_error: max_error(extras.values()),
        kind_share_error: max_error(kinds.values()),
        size_band_error: max_error(size_bands.values().flatten()),
        download_share,
        error_share,
        extras,
        kinds,
        size_bands,
        no_object: c.no_object,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        crate::config::profile::shipped()
    }

    #[test]
    fn shares_and_errors() {
        let p = plan();
        let mut c = Counters { started: 100, ..Default::default() };
        c.started_by_op.insert(OpType::Download.into(), 17);
        c.started_by_op.insert(OpType::MissingKeyDownload.into(), 1);
        c.upload_draws = p.kinds.iter().map(|k| vec![0; k.bands.len()]).collect();
        // alice: code 0.5, documents 0.3, images 0.1, archives 0.05, media 0.05.
        let code = p.kinds.iter().position(|k| k.name == "code").unwrap();
        let docs = p.kinds.iter().position(|k| k.name == "documents").unwrap();
        c.upload_draws[code][0] = 60;
        c.upload_draws[docs][0] = 22;
        let f = measure(&p, &[(&p.users[0], &c)], &c);
        assert_eq!(f.download_share.achieved, Some(0.17));
        assert!((f.download_share_error.unwrap() - 0.03).abs() < 1e-9);
        assert!((f.error_share_error.unwrap() - 0.0).abs() < 1e-9);
        let code_share = f.kinds["code"];
        assert!((code_share.achieved.unwrap() - 60.0 / 82.0).abs() < 1e-3);
        assert!((code_share.target - 0.5).abs() < 1e-9);
        assert!((f.kind_share_error.unwrap() - (60.0 / 82.0 - 0.5)).abs() < 1e-3);
        // Every code upload drew band 0, whose weight is 0.85.
        assert!((f.size_bands["code"][0].target - 0.85).abs() < 1e-9);
        assert!((f.size_band_error.unwrap() - 0.2).abs() < 1e-3);
    }

    #[test]
    fn nothing_started_means_no_achieved_share() {
        let p = plan();
        let c = Counters::default();
        let f = measure(&p, &[(&p.users[0], &c)], &c);
        assert_eq!(f.download_share.achieved, None);
        assert_eq!(f.download_share_error, None);
    }
}
