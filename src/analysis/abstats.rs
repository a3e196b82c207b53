//! The statistics of `trafficgen ab`: is build B slower, noisier or more often wrong
//! than build A, judged from two samples of one interleaved run?
//!
//! Pure functions on plain samples (seconds, counts) with seeded randomness, so every
//! property is tested on synthetic data with fixed seeds and no timing enters a test.
//! The latency verdict rests on the Hodges-Lehmann shift (the median of all pairwise
//! differences B − A, robust to the long tails command latencies have), taken relative
//! to A's median, with a percentile-bootstrap 95 % interval; the Mann-Whitney U test
//! (Holm-corrected across comparisons) says whether any shift is there at all.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use statrs::distribution::{ContinuousCDF, Discrete, Hypergeometric, Normal};

// The results are plain data (model::ab) so the outputs can draw them.
pub use crate::model::ab::{Failures, Shift};
use crate::model::verdict::Judgement;

/// z for a two-sided 95 % interval and for 80 % power.
const Z_95: f64 = 1.959_963_984_540_054;
const Z_80: f64 = 0.841_621_233_572_914_4;

/// The median of a sample (NaN for an empty one).
#[cfg(test)]
pub fn median(xs: &[f64]) -> f64 {
    quantile(xs, 0.5)
}

/// A quantile by linear interpolation between order statistics (NaN when empty).
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, q)
}

fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Pairs (i, j) with b[j] − a[i] ≤ d, for sorted a and b: one merge-like pass.
fn pairs_at_most(a: &[f64], b: &[f64], d: f64) -> u64 {
    // For each b[j], the a[i] with a[i] ≥ b[j] − d; as b grows the bound grows.
    let mut i = 0usize;
    let mut count = 0u64;
    for &bj in b {
        while i < a.len() && a[i] < bj - d {
            i += 1;
        }
        count += (a.len() - i) as u64;
    }
    count
}

/// The k-th smallest (1-based) pairwise difference b[j] − a[i] of sorted samples, by
/// bisection on the value with an O(n + m) count per step: O((n + m) log) overall, so
/// samples of thousands cost no more than a sort (all n·m pairs would be millions).
fn kth_difference(a: &[f64], b: &[f64], k: u64) -> f64 {
    let (Some(&a0), Some(&an), Some(&b0), Some(&bm)) = (a.first(), a.last(), b.first(), b.last()) else {
        return f64::NAN;
    };
    let (mut lo, mut hi) = (b0 - an, bm - a0);
    // Down to a billionth of the range (at most some 30 halvings): far below any
    // latency's resolution, and a third of the cost of bisecting to the last bit.
    let resolution = (hi - lo) * 1e-9;
    for _ in 0..64 {
        let mid = lo + (hi - lo) / 2.0;
        if hi - lo <= resolution || mid <= lo || mid >= hi {
            break;
        }
        if pairs_at_most(a, b, mid) >= k {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The Hodges-Lehmann shift of sorted samples: the median of every difference b − a.
fn hl_sorted(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as u64 * b.len() as u64;
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        kth_difference(a, b, n / 2 + 1)
    } else {
        (kth_difference(a, b, n / 2) + kth_difference(a, b, n / 2 + 1)) / 2.0
    }
}

/// The upper middle pairwise difference: the bootstrap's cheaper stand-in for the
/// median, one bisection instead of two (they differ by one of n·m differences).
fn hl_upper(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as u64 * b.len() as u64;
    if n == 0 {
        return f64::NAN;
    }
    kth_difference(a, b, n / 2 + 1)
}

/// The Hodges-Lehmann shift B − A: the median of all pairwise differences (`shift`
/// works on sorted copies; this is its plain form, for the tests).
#[cfg(test)]
pub fn hodges_lehmann(a: &[f64], b: &[f64]) -> f64 {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    hl_sorted(&a, &b)
}

/// Two-sided p-value of the Mann-Whitney U test (normal approximation with tie
/// correction and a continuity correction). 1.0 when either sample is empty.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let mut all: Vec<(f64, bool)> = a.iter().map(|&x| (x, false)).chain(b.iter().map(|&x| (x, true))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = all.len() as f64;
    let (mut rank_b, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Tied values share the average of their ranks (1-based).
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        rank_b += rank * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let u = rank_b - m * (m + 1.0) / 2.0;
    let mean = n * m / 2.0;
    let var = n * m / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)).max(1.0));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    2.0 * (1.0 - std_normal().cdf(z))
}

fn std_normal() -> Normal {
    Normal::standard()
}

/// Holm's step-down correction: adjusted p-values in the order given, so that
/// "adjusted p < α" keeps the family-wise error rate at α across all comparisons.
pub fn holm(ps: &[f64]) -> Vec<f64> {
    let k = ps.len();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&x, &y| ps[x].total_cmp(&ps[y]));
    let mut out = vec![1.0; k];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((k - rank) as f64 * ps[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// One-sided Fisher exact test that B fails more often than A: the probability, with
/// the margins fixed, of A having this few failures or fewer.
pub fn fisher_b_worse(fail_a: u64, n_a: u64, fail_b: u64, n_b: u64) -> f64 {
    let total = n_a + n_b;
    let fails = fail_a + fail_b;
    if n_a == 0 || n_b == 0 || fails == 0 || fail_a > n_a || fail_b > n_b {
        return 1.0;
    }
    let Ok(h) = Hypergeometric::new(total, fails, n_a) else { return 1.0 };
    let low = (n_a + fails).saturating_sub(total);
    (low..=fail_a).map(|x| h.pmf(x)).sum::<f64>().min(1.0)
}

impl Shift {
    /// The standard error of the relative shift, read from the interval's width.
    pub fn se(&self) -> f64 {
        (self.rel_hi - self.rel_lo) / (2.0 * Z_95)
    }

    /// The smallest relative shift a run like this one finds with 80 % power at the
    /// 5 % level: (z₀.₉₇₅ + z₀.₈) standard errors.
    pub fn min_detectable(&self) -> f64 {
        (Z_95 + Z_80) * self.se()
    }
}

/// The shift of B against A with percentile-bootstrap intervals from `resamples`
/// resamples (each sample resampled with replacement, seeded; the shift's interval
/// widened to the distribution-free one where that is wider). None when either
/// sample has fewer than 2 values.
///
/// The relative shift is the Hodges-Lehmann shift of the logarithms, exp(HL) − 1: a
/// change of speed multiplies latencies, so on the log scale it is a plain shift, the
/// model the Hodges-Lehmann estimator and its interval are exact for (no noisy
/// denominator), and 0.10 still reads "B's typical command takes 10 % longer".
pub fn shift(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Option<Shift> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (mut sa, mut sb) = (a.to_vec(), b.to_vec());
    sa.sort_by(f64::total_cmp);
    sb.sort_by(f64::total_cmp);
    // A microsecond floor: a logarithm needs a positive value.
    let ln = |v: &[f64]| v.iter().map(|x| x.max(1e-6).ln()).collect::<Vec<f64>>();
    let (la, lb) = (ln(&sa), ln(&sb));
    let iqr_of = |v: &[f64]| quantile_sorted(v, 0.75) - quantile_sorted(v, 0.25);
    let ratio = |x: f64, y: f64| if x > 0.0 { y / x } else { f64::NAN };
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut rels, mut iqrs) = (Vec::with_capacity(resamples), Vec::with_capacity(resamples));
    let (mut ia, mut ib) = (vec![0usize; sa.len()], vec![0usize; sb.len()]);
    let (mut ra, mut rb) = (vec![0.0; sa.len()], vec![0.0; sb.len()]);
    let (mut xa, mut xb) = (vec![0.0; sa.len()], vec![0.0; sb.len()]);
    for _ in 0..resamples {
        // Indices into sorted samples, sorted, give sorted resamples without a float sort.
        for i in ia.iter_mut() {
            *i = rng.random_range(0..sa.len());
        }
        for i in ib.iter_mut() {
            *i = rng.random_range(0..sb.len());
        }
        ia.sort_unstable();
        ib.sort_unstable();
        for (k, &i) in ia.iter().enumerate() {
            ra[k] = la[i];
            xa[k] = sa[i];
        }
        for (k, &i) in ib.iter().enumerate() {
            rb[k] = lb[i];
            xb[k] = sb[i];
        }
        rels.push(hl_upper(&ra, &rb).exp() - 1.0);
        let r = ratio(iqr_of(&xa), iqr_of(&xb));
        if r.is_finite() {
            iqrs.push(r);
        }
    }
    rels.sort_by(f64::total_cmp);
    iqrs.sort_by(f64::total_cmp);
    let rel = hl_sorted(&la, &lb).exp() - 1.0;
    let ci = |v: &[f64], point: f64| {
        if v.is_empty() { (point, point) } else { (quantile_sorted(v, 0.025), quantile_sorted(v, 0.975)) }
    };
    let (boot_lo, boot_hi) = ci(&rels, rel);
    let (moses_lo, moses_hi) = moses(&la, &lb);
    let (rel_lo, rel_hi) = (boot_lo.min(moses_lo.exp() - 1.0), boot_hi.max(moses_hi.exp() - 1.0));
    let iqr_ratio = ratio(iqr_of(&sa), iqr_of(&sb));
    let (iqr_lo, iqr_hi) = ci(&iqrs, iqr_ratio);
    Some(Shift {
        n_a: sa.len(),
        n_b: sb.len(),
        median_a: quantile_sorted(&sa, 0.5),
        median_b: quantile_sorted(&sb, 0.5),
        p95_a: quantile_sorted(&sa, 0.95),
        p95_b: quantile_sorted(&sb, 0.95),
        hl: hl_sorted(&sa, &sb),
        rel,
        rel_lo,
        rel_hi,
        iqr_ratio,
        iqr_lo,
        iqr_hi,
        p: mann_whitney_p(&sa, &sb),
    })
}

/// The distribution-free 95 % interval of the Hodges-Lehmann shift (Moses): the
/// pairwise differences of ranks C and nm − C + 1, C from the Mann-Whitney null.
/// Exact under a pure shift; the percentile bootstrap alone covers 1 or 2 points short
/// of 95 % at a hundred commands, so `shift` reports the union of the two.
fn moses(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (n, m) = (a.len() as f64, b.len() as f64);
    let c = (n * m / 2.0 - Z_95 * (n * m * (n + m + 1.0) / 12.0).sqrt()).floor();
    if c < 1.0 {
        return (f64::NEG_INFINITY, f64::INFINITY);
    }
    let nm = a.len() as u64 * b.len() as u64;
    (kth_difference(a, b, c as u64), kth_difference(a, b, nm + 1 - c as u64))
}

/// The latency verdict with tolerance `t` (0.10 = 10 %): FAIL when the whole interval
/// says B is slower by more than t, PASS when it lies within ±t (or wholly below −t:
/// B is faster), INCONCLUSIVE otherwise.
pub fn judge_shift(s: &Shift, t: f64) -> Judgement {
    if s.rel_lo > t {
        Judgement::Fail
    } else if s.rel_hi < t && (s.rel_lo > -t || s.rel_hi < -t) {
        Judgement::Pass
    } else {
        Judgement::Inconclusive
    }
}

/// For an inconclusive comparison: the operations per build that would likely settle
/// it, if the estimate held and the interval narrowed as 1/√n. None when the estimate
/// sits on the tolerance (no sample size settles that).
pub fn settling_size(s: &Shift, t: f64) -> Option<u64> {
    let half = (s.rel_hi - s.rel_lo) / 2.0;
    let room = (s.rel.abs() - t).abs();
    if room < 1e-3 || half <= 0.0 {
        return None;
    }
    let n = s.n_a.min(s.n_b) as f64;
    let needed = n * (half / room).powi(2);
    (needed.is_finite() && needed < 1e12).then(|| needed.ceil() as u64)
}

impl Failures {
    pub fn new(failed_a: u64, total_a: u64, failed_b: u64, total_b: u64) -> Failures {
        Failures { failed_a, total_a, failed_b, total_b, p: fisher_b_worse(failed_a, total_a, failed_b, total_b) }
    }
    /// FAIL when B fails more often than A by more than `max_delta` (0.01 = one
    /// percentage point) and the excess is significant at 5 %.
    pub fn judge(&self, max_delta: f64) -> Judgement {
        if self.rate_b() - self.rate_a() > max_delta && self.p < 0.05 { Judgement::Fail } else { Judgement::Pass }
    }
}

/// Fewer blocks than this (readings of the server, each mostly one build's): no verdict
/// on the server's rates.
pub const MIN_BLOCKS: usize = 4;

/// Each build's rate from blocks: a block's server count `y` against what each build's
/// commands that ended in it asked for (`xa`, `xb`), y ≈ ra·xa + rb·xb by least squares
/// with no intercept (no requests without commands). Blocks alternate between the
/// builds, so the two columns are far from proportional; None when they are not (too
/// few blocks, or every block the same mix), as nothing can then tell the builds apart.
pub fn two_rates(blocks: &[(f64, f64, f64)]) -> Option<(f64, f64)> {
    let (mut saa, mut sbb, mut sab, mut say, mut sby) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(y, xa, xb) in blocks {
        saa += xa * xa;
        sbb += xb * xb;
        sab += xa * xb;
        say += xa * y;
        sby += xb * y;
    }
    let det = saa * sbb - sab * sab;
    // Relative to the scale: a mix the same in every block leaves det ≈ 0 up to rounding.
    if !(saa > 0.0 && sbb > 0.0 && det > 1e-6 * saa * sbb) {
        return None;
    }
    Some(((say * sbb - sby * sab) / det, (sby * saa - say * sab) / det))
}

/// Both builds' rates and B's relative to A's, (B − A) / A, with its 95 % percentile
/// bootstrap interval over blocks (resampled whole, with replacement, seeded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateShift {
    pub a: f64,
    pub b: f64,
    /// None when A's rate is not above zero (nothing to be relative to).
    pub rel: Option<(f64, f64, f64)>,
}

pub fn rate_shift(blocks: &[(f64, f64, f64)], resamples: usize, seed: u64) -> Option<RateShift> {
    let (a, b) = two_rates(blocks)?;
    if a <= 0.0 {
        return Some(RateShift { a, b, rel: None });
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut rels = Vec::with_capacity(resamples);
    let mut pick = Vec::with_capacity(blocks.len());
    for _ in 0..resamples {
        pick.clear();
        pick.extend((0..blocks.len()).map(|_| blocks[rng.random_range(0..blocks.len())]));
        if let Some((ra, rb)) = two_rates(&pick)
            && ra > 0.0
        {
            rels.push((rb - ra) / ra);
        }
    }
    // A resample that drew only one build's blocks cannot be fitted; with most of them
    // unfit the interval means nothing.
    if rels.len() < resamples / 2 {
        return Some(RateShift { a, b, rel: Some(((b - a) / a, f64::NEG_INFINITY, f64::INFINITY)) });
    }
    rels.sort_by(f64::total_cmp);
    let rel = ((b - a) / a, quantile_sorted(&rels, 0.025), quantile_sorted(&rels, 0.975));
    Some(RateShift { a, b, rel: Some(rel) })
}

/// FAIL when B's rate is above A's by more than `t` beyond doubt, PASS when it is
/// below that beyond doubt (fewer requests is no regression), else INCONCLUSIVE.
pub fn judge_rate(r: &RateShift, t: f64) -> Judgement {
    match r.rel {
        Some((_, lo, _)) if lo > t => Judgement::Fail,
        Some((_, _, hi)) if hi < t => Judgement::Pass,
        Some(_) => Judgement::Inconclusive,
        // A sends none: B sending some (beyond rounding) is new traffic.
        None if r.b > 0.05 => Judgement::Fail,
        None => Judgement::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// n log-normal latencies around `median` seconds with log-sd `sigma`.
    fn lognormal(rng: &mut SmallRng, n: usize, median: f64, sigma: f64) -> Vec<f64> {
        let z = Normal::standard();
        (0..n).map(|_| median * (sigma * z.inverse_cdf(rng.random_range(1e-9..1.0 - 1e-9))).exp()).collect()
    }

    /// The smoke profile's sample sizes: some 30 to 100 commands per kind and build.
    const N: usize = 100;
    const SIGMA: f64 = 0.10;
    const RESAMPLES: usize = 200;
    const SIMS: usize = 200;

    #[test]
    fn hodges_lehmann_is_the_median_of_pairwise_differences() {
        let a = [1.0, 2.0, 4.0];
        let b = [2.5, 3.0, 10.0, 3.5];
        let mut d: Vec<f64> = a.iter().flat_map(|x| b.iter().map(move |y| y - x)).collect();
        d.sort_by(f64::total_cmp);
        let brute = (d[5] + d[6]) / 2.0;
        assert!((hodges_lehmann(&a, &b) - brute).abs() < 1e-6, "{} vs {brute}", hodges_lehmann(&a, &b));
        // On random data of odd and even pair counts, too.
        let mut rng = SmallRng::seed_from_u64(3);
        for (n, m) in [(7, 9), (10, 12), (31, 1)] {
            let a = lognormal(&mut rng, n, 1.0, 0.5);
            let b = lognormal(&mut rng, m, 1.2, 0.5);
            let mut d: Vec<f64> = a.iter().flat_map(|x| b.iter().map(move |y| y - x)).collect();
            d.sort_by(f64::total_cmp);
            assert!((hodges_lehmann(&a, &b) - median(&d)).abs() < 1e-6);
        }
    }

    #[test]
    fn mann_whitney_matches_known_values_and_handles_ties() {
        // Identical samples: no evidence at all.
        assert!(mann_whitney_p(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]) > 0.99);
        // Complete separation of 10 and 10: U = 0; the normal approximation with
        // continuity correction gives p ≈ 0.00018 (R's wilcox.test, exact = FALSE).
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = (10..20).map(f64::from).collect();
        let p = mann_whitney_p(&a, &b);
        assert!((p - 0.000_182_7).abs() < 2e-5, "{p}");
        // All values tied: no variance, no evidence.
        assert_eq!(mann_whitney_p(&[1.0; 5], &[1.0; 5]), 1.0);
        assert_eq!(mann_whitney_p(&[], &[1.0]), 1.0);
    }

    #[test]
    fn holm_adjusts_step_down_and_keeps_order() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.2]);
        // Sorted: 0.01×4 = 0.04, 0.03×3 = 0.09, 0.04×2 = 0.08 → 0.09 (monotone), 0.2×1.
        assert_eq!(adj.len(), 4);
        assert!((adj[0] - 0.04).abs() < 1e-12);
        assert!((adj[2] - 0.09).abs() < 1e-12);
        assert!((adj[1] - 0.09).abs() < 1e-12);
        assert!((adj[3] - 0.2).abs() < 1e-12);
    }

    #[test]
    fn fisher_sees_a_failure_excess_and_not_chance() {
        // 0 of 300 against 15 of 300: far beyond chance.
        assert!(fisher_b_worse(0, 300, 15, 300) < 1e-4);
        // 1 of 50 against 2 of 50: chance.
        assert!(fisher_b_worse(1, 50, 2, 50) > 0.3);
        // B better than A: no evidence that B is worse.
        assert!(fisher_b_worse(10, 100, 0, 100) > 0.99);
        // Hand-computed: 0/3 vs 3/3, margins 3 of 6, P(A has 0) = 1/20.
        assert!((fisher_b_worse(0, 3, 3, 3) - 0.05).abs() < 1e-9);
        let f = Failures::new(0, 300, 15, 300);
        assert_eq!(f.judge(0.01), Judgement::Fail);
        assert_eq!(f.judge(0.10), Judgement::Pass);
        assert_eq!(Failures::new(0, 300, 0, 300).judge(0.0), Judgement::Pass);
    }

    #[test]
    fn verdicts_follow_the_interval_against_the_tolerance() {
        let mut s = shift(&[1.0, 1.1, 0.9, 1.05], &[1.0, 1.1, 0.9, 1.05], 50, 1).unwrap();
        let mut set = |lo: f64, hi: f64| {
            s.rel_lo = lo;
            s.rel_hi = hi;
            s.rel = (lo + hi) / 2.0;
            judge_shift(&s, 0.10)
        };
        assert_eq!(set(0.12, 0.30), Judgement::Fail);
        assert_eq!(set(-0.05, 0.08), Judgement::Pass);
        assert_eq!(set(-0.40, -0.20), Judgement::Pass, "faster is not a regression");
        assert_eq!(set(0.02, 0.20), Judgement::Inconclusive);
        assert_eq!(set(-0.20, 0.05), Judgement::Inconclusive);
    }

    #[test]
    fn settling_size_grows_as_the_estimate_nears_the_tolerance() {
        let mut rng = SmallRng::seed_from_u64(9);
        let a = lognormal(&mut rng, 40, 0.1, 0.3);
        let b = lognormal(&mut rng, 40, 0.1, 0.3);
        let s = shift(&a, &b, RESAMPLES, 1).unwrap();
        let far = settling_size(&Shift { rel: 0.0, ..s.clone() }, 0.10).unwrap();
        let near = settling_size(&Shift { rel: 0.08, ..s.clone() }, 0.10).unwrap();
        assert!(near > far, "{near} {far}");
        assert_eq!(settling_size(&Shift { rel: 0.10, ..s }, 0.10), None);
    }

    /// Runs `SIMS` comparisons of N against N with B's median `factor` times A's.
    fn simulate(seed: u64, factor: f64) -> Vec<Shift> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..SIMS)
            .map(|i| {
                let a = lognormal(&mut rng, N, 0.1, SIGMA);
                let b = lognormal(&mut rng, N, 0.1 * factor, SIGMA);
                shift(&a, &b, RESAMPLES, seed ^ i as u64).unwrap()
            })
            .collect()
    }

    #[test]
    fn a_against_a_rarely_fails_and_the_test_holds_its_level() {
        let sims = simulate(11, 1.0);
        let fails = sims.iter().filter(|s| judge_shift(s, 0.10) == Judgement::Fail).count();
        assert!(fails as f64 <= 0.05 * SIMS as f64, "false FAIL {fails}/{SIMS}");
        let significant = sims.iter().filter(|s| s.p < 0.05).count();
        assert!(significant as f64 <= 0.08 * SIMS as f64, "Mann-Whitney rejected {significant}/{SIMS}");
        // Intervals around a zero shift cover zero.
        let covered = sims.iter().filter(|s| s.rel_lo <= 0.0 && 0.0 <= s.rel_hi).count();
        assert!(covered as f64 >= 0.93 * SIMS as f64, "covered {covered}/{SIMS}");
        // The IQR ratio's interval covers 1 as often.
        let iqr = sims.iter().filter(|s| s.iqr_lo <= 1.0 && 1.0 <= s.iqr_hi).count();
        eprintln!(
            "A/A: false FAIL {fails}/{SIMS}, MW p<0.05 {significant}/{SIMS}, covered {covered}/{SIMS}, IQR {iqr}/{SIMS}"
        );
        assert!(iqr as f64 >= 0.90 * SIMS as f64, "IQR ratio covered 1 in {iqr}/{SIMS}");
    }

    #[test]
    fn a_true_fifteen_percent_shift_is_found_and_covered() {
        // B's latencies are A's times 1.15: the relative shift is exactly 0.15.
        let truth = 0.15;
        let sims = simulate(12, 1.15);
        let fails = sims.iter().filter(|s| judge_shift(s, 0.10) == Judgement::Fail).count();
        assert!(fails as f64 >= 0.80 * SIMS as f64, "detected {fails}/{SIMS}");
        let covered = sims.iter().filter(|s| s.rel_lo <= truth && truth <= s.rel_hi).count();
        assert!(covered as f64 >= 0.93 * SIMS as f64, "covered {covered}/{SIMS}");
        eprintln!("15 %: FAIL {fails}/{SIMS}, covered {covered}/{SIMS}");
        // None of them passes: a 15 % regression is never called within 10 %.
        assert!(sims.iter().all(|s| judge_shift(s, 0.10) != Judgement::Pass));
    }

    #[test]
    fn minimum_detectable_effect_shrinks_with_the_sample() {
        let mut rng = SmallRng::seed_from_u64(21);
        let mde = |n: usize, rng: &mut SmallRng| {
            let a = lognormal(rng, n, 0.1, SIGMA);
            let b = lognormal(rng, n, 0.1, SIGMA);
            shift(&a, &b, RESAMPLES, 2).unwrap().min_detectable()
        };
        let small = mde(30, &mut rng);
        let large = mde(480, &mut rng);
        // Four times the interval's width-ish: 16 times the sample halves... √16 = 4.
        assert!(small > 2.5 * large && small < 6.0 * large, "{small} {large}");
        // 30 commands per build at 10 % noise detect some 7 %.
        assert!(small > 0.03 && small < 0.2, "{small}");
    }

    /// Blocks alternating A, B, A, B…, each mostly one build's commands with a few of
    /// the other's spilling over, and Poisson-ish noise on the server's count.
    fn blocks(rng: &mut SmallRng, n: usize, ra: f64, rb: f64) -> Vec<(f64, f64, f64)> {
        (0..n)
            .map(|k| {
                let (main, spill) = (rng.random_range(40.0..60.0_f64).round(), rng.random_range(0.0..4.0_f64).round());
                let (xa, xb) = if k % 2 == 0 { (main, spill) } else { (spill, main) };
                let mean = ra * xa + rb * xb;
                let y = (mean + mean.sqrt() * rng.random_range(-1.0..1.0)).max(0.0).round();
                (y, xa, xb)
            })
            .collect()
    }

    #[test]
    fn server_rates_per_build_come_out_of_alternating_blocks() {
        let mut rng = SmallRng::seed_from_u64(11);
        // Exact counts: the fit gives the rates back.
        let exact: Vec<_> = [(10.0, 1.0), (2.0, 9.0), (8.0, 0.0), (0.0, 7.0)]
            .iter()
            .map(|&(xa, xb)| (2.0 * xa + 3.0 * xb, xa, xb))
            .collect();
        let (a, b) = two_rates(&exact).unwrap();
        assert!((a - 2.0).abs() < 1e-9 && (b - 3.0).abs() < 1e-9, "{a} {b}");
        // The same mix in every block cannot tell the builds apart.
        assert_eq!(two_rates(&[(10.0, 5.0, 5.0), (20.0, 10.0, 10.0), (4.0, 2.0, 2.0)]), None);
        assert_eq!(two_rates(&[(10.0, 5.0, 0.0)]), None);
        // Same rates (6 % noise per block): never FAIL, PASS at 10 % in most seeds
        // (the rest INCONCLUSIVE: 12 such blocks cannot always rule out +10 %).
        let mut pass = 0;
        for seed in 0..50 {
            let r = rate_shift(&blocks(&mut rng, 12, 2.0, 2.0), 400, seed).unwrap();
            assert_ne!(judge_rate(&r, 0.10), Judgement::Fail, "{r:?}");
            pass += (judge_rate(&r, 0.10) == Judgement::Pass) as u32;
        }
        assert!(pass >= 35, "{pass} of 50 passed");
        // B lists the bucket once more per command (2 → 3): FAIL, with an interval
        // around +50 %.
        for seed in 0..20 {
            let r = rate_shift(&blocks(&mut rng, 12, 2.0, 3.0), 400, seed).unwrap();
            assert_eq!(judge_rate(&r, 0.10), Judgement::Fail, "{r:?}");
            let (rel, lo, hi) = r.rel.unwrap();
            assert!(lo < 0.5 && 0.5 < hi && (rel - 0.5).abs() < 0.1, "{r:?}");
        }
        // A sends none of an API and B does: FAIL; neither does: PASS.
        let r = rate_shift(&blocks(&mut rng, 12, 0.0, 1.0), 400, 1).unwrap();
        assert_eq!((r.rel, judge_rate(&r, 0.10)), (None, Judgement::Fail));
        let r = rate_shift(&blocks(&mut rng, 12, 0.0, 0.0), 400, 1).unwrap();
        assert_eq!(judge_rate(&r, 0.10), Judgement::Pass);
    }
}
