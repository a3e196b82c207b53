//! Too short to judge: whether a capacity threshold's miss could be chance at this run's
//! size. A 6 s off-peak run expects 20 operations; with Poisson arrivals 17 of them is an
//! ordinary draw, not a generator that fell behind, and must not FAIL a release check.
//!
//! The rule (docs/thresholds.md, "Correctness and capacity"): a missed capacity
//! threshold FAILs only when the miss is beyond chance at the one-sided level `ALPHA` (1 %) under the hypothesis that the run
//! met the limit exactly; otherwise it is INCONCLUSIVE with the reason.
//! - `achieved_ratio >= r` with λ operations expected: the achieved count N is Poisson
//!   with mean r·λ at best; FAIL only when P(N ≤ n) < 1 % (`<=` limits: P(N ≥ n) < 1 %).
//! - `shortfall_rate < s` over m due slots: the shortfall K is binomial(m, s) at worst;
//!   FAIL only when P(K ≥ k) < 1 %.
//! - A latency percentile pQ needs at least 1/(1−Q) samples (p50 2, p90 10, p95 20,
//!   p99 100; max, min and mean 1) before a miss counts.
//!
//! Pure: numbers in, a reason out. Poisson and binomial tails come from `statrs`.

use statrs::distribution::{Binomial, Discrete, DiscreteCDF, Poisson};

use crate::config::threshold::{Cmp, Threshold};

/// One-sided level below which a miss is beyond chance.
pub const ALPHA: f64 = 0.01;

/// What a run measured a threshold's metric from, as far as chance goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Evidence {
    /// `observed` events where `expected` were due (the target of a Poisson schedule).
    Poisson { expected: f64, observed: u64 },
    /// `hits` of `trials` (shortfall slots of all due slots).
    Binomial { trials: u64, hits: u64 },
    /// A latency statistic over `n` samples; `needed` samples make it judgeable.
    Samples { n: u64, needed: u64 },
    /// Nothing to weigh: the miss stands.
    None,
}

/// Samples a latency statistic needs before a miss counts: 1/(1−Q) for pQ, so at least
/// one sample lies above the percentile; 1 for min, max, mean.
pub fn samples_needed(stat: &str) -> u64 {
    let q = stat.strip_prefix('p').and_then(|d| d.parse::<f64>().ok()).map(|p| p / 100.0);
    match q {
        Some(q) if q > 0.0 && q < 1.0 => (1.0 / (1.0 - q)).round().max(1.0) as u64,
        _ => 1,
    }
}

/// Why a run of this size cannot tell a missed threshold from chance. Not a failure of
/// the command: the threshold's outcome becomes INCONCLUSIVE, with this as its reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct WithinChance(pub String);

/// Ok when a missed threshold is beyond chance (a FAIL stands); Err(reason) when a run
/// of this size cannot tell the miss from chance (INCONCLUSIVE).
pub fn beyond_chance(t: &Threshold, e: Evidence) -> Result<(), WithinChance> {
    match e {
        Evidence::None => Ok(()),
        Evidence::Samples { n, needed } if n < needed => Err(WithinChance(format!(
            "too few samples to judge: {} needs at least {needed}, the run had {n}",
            t.metric
        ))),
        Evidence::Samples { .. } => Ok(()),
        Evidence::Poisson { expected, observed } => {
            let mean = t.limit * expected;
            if !(mean > 0.0 && mean.is_finite()) {
                return Ok(());
            }
            let Ok(p) = Poisson::new(mean) else { return Ok(()) };
            let tail = match t.cmp {
                Cmp::Ge | Cmp::Gt => p.cdf(observed),
                Cmp::Le | Cmp::Lt => tail_from(observed, |k| p.sf(k), |k| p.pmf(k)),
                Cmp::Eq | Cmp::Ne => return Ok(()),
            };
            if tail < ALPHA {
                return Ok(());
            }
            Err(WithinChance(format!(
                "within Poisson noise: {observed} of {expected:.1} expected operations is {:.0}% likely or more at {} exactly; a run this short cannot tell (the rule: FAIL below the 1% bound)",
                tail * 100.0,
                crate::model::verdict::show(t.limit, t.unit)
            )))
        }
        Evidence::Binomial { trials, hits } => {
            if trials == 0 || !(0.0..=1.0).contains(&t.limit) {
                return Ok(());
            }
            let Ok(b) = Binomial::new(t.limit, trials) else { return Ok(()) };
            let tail = match t.cmp {
                Cmp::Le | Cmp::Lt => tail_from(hits, |k| b.sf(k), |k| b.pmf(k)),
                Cmp::Ge | Cmp::Gt => b.cdf(hits),
                Cmp::Eq | Cmp::Ne => return Ok(()),
            };
            if tail < ALPHA {
                return Ok(());
            }
            Err(WithinChance(format!(
                "within binomial noise: {hits} of {trials} slots is {:.0}% likely or more at {} exactly; a run this short cannot tell (the rule: FAIL beyond the 1% bound)",
                tail * 100.0,
                crate::model::verdict::show(t.limit, t.unit)
            )))
        }
    }
}

/// P(X ≥ k) from the survival function P(X > k) and the mass at k.
fn tail_from(k: u64, sf: impl Fn(u64) -> f64, pmf: impl Fn(u64) -> f64) -> f64 {
    (sf(k) + pmf(k)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::threshold::{parse, unit_of};
    use rand::rngs::SmallRng;
    use rand::{RngExt, SeedableRng};

    fn t(expr: &str) -> Threshold {
        parse(expr, unit_of).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Arrivals of a Poisson process with rate 1 in [0, mean): how the schedule draws them.
    fn poisson(rng: &mut SmallRng, mean: f64) -> u64 {
        let (mut at, mut n) = (0.0, 0u64);
        for _ in 0..1_000_000 {
            at += -(1.0 - rng.random::<f64>()).ln();
            if at >= mean {
                break;
            }
            n += 1;
        }
        n
    }

    /// The naive rule FAILs when the observed ratio is below the limit.
    fn naive_fail(t: &Threshold, expected: f64, observed: u64) -> bool {
        !t.cmp.holds(observed as f64 / expected, t.limit)
    }

    fn fails(t: &Threshold, expected: f64, observed: u64) -> bool {
        naive_fail(t, expected, observed) && beyond_chance(t, Evidence::Poisson { expected, observed }).is_ok()
    }

    #[test]
    fn an_honest_generator_fails_achieved_ratio_at_most_one_percent_of_the_time() {
        let ge = t("achieved_ratio>=0.9");
        let mut rng = SmallRng::seed_from_u64(17);
        // A generator that achieves exactly the limit (the worst honest case), at sizes
        // from a 6 s off-peak run to a long one: FAIL at most 1 % (plus sampling slack).
        for expected in [20.0, 60.0, 200.0, 1000.0, 5000.0] {
            let runs = 1000;
            let failed = (0..runs).filter(|_| fails(&ge, expected, poisson(&mut rng, 0.9 * expected))).count();
            assert!(failed <= 15, "{failed} of {runs} runs at λ = {expected} failed");
        }
        // At the full target the naive rule fails a short run often; this one almost
        // never (P(N ≤ 8) at λ = 20 is 0.2 %).
        let (mut naive, mut ruled) = (0, 0);
        for _ in 0..1000 {
            let n = poisson(&mut rng, 20.0);
            naive += usize::from(naive_fail(&ge, 20.0, n));
            ruled += usize::from(fails(&ge, 20.0, n));
        }
        assert!(naive > 150, "the naive rule fails {naive} of 1000 short honest runs");
        assert!(ruled <= 5, "{ruled} of 1000");
    }

    #[test]
    fn a_generator_that_really_falls_behind_still_fails() {
        let ge = t("achieved_ratio>=0.9");
        let mut rng = SmallRng::seed_from_u64(18);
        // Half the target on a 200-operation run, 80 % on a 5,000-operation run: FAIL always.
        for (expected, rate) in [(200.0, 0.5), (5000.0, 0.8)] {
            let failed = (0..1000).filter(|_| fails(&ge, expected, poisson(&mut rng, rate * expected))).count();
            assert_eq!(failed, 1000, "λ = {expected} at {rate}");
        }
        // 1 of 181 slots started (the loaded 6 s demo) is beyond any noise.
        assert!(beyond_chance(&ge, Evidence::Poisson { expected: 181.0, observed: 1 }).is_ok());
        // 17 of 20 is not.
        let e = beyond_chance(&ge, Evidence::Poisson { expected: 20.0, observed: 17 }).unwrap_err().0;
        assert!(e.contains("within Poisson noise") && e.contains("17 of 20.0"), "{e}");
        // An upper limit: 120 of 100 at <=105% is beyond noise; 110 is not.
        let le = t("achieved_ratio<=105%");
        assert!(beyond_chance(&le, Evidence::Poisson { expected: 100.0, observed: 140 }).is_ok());
        assert!(beyond_chance(&le, Evidence::Poisson { expected: 100.0, observed: 110 }).is_err());
    }

    #[test]
    fn shortfall_within_binomial_noise_is_not_a_fail() {
        let lt = t("shortfall_rate<5%");
        // 1 of 6 slots (16.67%, the busy runner's FAIL) is ordinary at 5 %: 26 % likely.
        let e = beyond_chance(&lt, Evidence::Binomial { trials: 6, hits: 1 }).unwrap_err().0;
        assert!(e.contains("binomial noise"), "{e}");
        // 100 of 600 is not.
        assert!(beyond_chance(&lt, Evidence::Binomial { trials: 600, hits: 100 }).is_ok());
        // Simulated honest runs at exactly 5 % shortfall: FAIL at most ~1 %.
        let mut rng = SmallRng::seed_from_u64(19);
        for trials in [20u64, 200, 2000] {
            let failed = (0..1000)
                .filter(|_| {
                    let hits = (0..trials).filter(|_| rng.random::<f64>() < 0.05).count() as u64;
                    let naive = !lt.cmp.holds(hits as f64 / trials as f64, lt.limit);
                    naive && beyond_chance(&lt, Evidence::Binomial { trials, hits }).is_ok()
                })
                .count();
            assert!(failed <= 15, "{failed} of 1000 at {trials} slots");
        }
        // A limit of 0: any shortfall is beyond chance.
        assert!(beyond_chance(&t("shortfall_rate<=0"), Evidence::Binomial { trials: 5, hits: 1 }).is_ok());
    }

    #[test]
    fn percentiles_need_enough_samples() {
        assert_eq!(["p50", "p90", "p95", "p99", "max", "mean"].map(samples_needed), [2, 10, 20, 100, 1, 1]);
        let p99 = t("upload.p99<1s");
        let e = beyond_chance(&p99, Evidence::Samples { n: 12, needed: 100 }).unwrap_err().0;
        assert_eq!(e, "too few samples to judge: upload.p99 needs at least 100, the run had 12");
        assert!(beyond_chance(&p99, Evidence::Samples { n: 100, needed: 100 }).is_ok());
        assert!(beyond_chance(&p99, Evidence::None).is_ok());
    }
}
