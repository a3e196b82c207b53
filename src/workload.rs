//! Pure choices for one operation: upload or download, which kind, which size, which
//! key. Everything draws from the caller's seeded RNG, so a seed reproduces a run's mix.

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, RngExt};

use crate::clock::civil;
use crate::plan::{DateField, Kind, Part, Plan, Template, UserPlan};

/// A user's precomputed samplers (built once per worker, not per operation).
pub struct Mix {
    kinds: WeightedIndex<f64>,
    bands: Vec<WeightedIndex<f64>>,
    download_share: f64,
    error_share: f64,
    max_file_size: Option<u64>,
}

/// What one upload will write.
#[derive(Debug, Clone, PartialEq)]
pub struct FileChoice {
    pub kind: usize,
    pub ext: String,
    pub size: u64,
}

impl Mix {
    pub fn new(plan: &Plan, user: &UserPlan) -> Mix {
        Mix {
            // Validation guarantees positive weights, so these cannot fail.
            kinds: WeightedIndex::new(&user.kind_weights).expect("validated kind weights"),
            bands: plan
                .kinds
                .iter()
                .map(|k| WeightedIndex::new(k.bands.iter().map(|b| b.weight)).expect("validated band weights"))
                .collect(),
            download_share: plan.rates.download_share,
            error_share: plan.rates.error_share,
            max_file_size: plan.limits.max_file_size,
        }
    }

    /// An error probe (a download of a missing key) instead of a real operation.
    pub fn wants_probe<R: Rng>(&self, rng: &mut R) -> bool {
        self.error_share > 0.0 && rng.random_bool(self.error_share)
    }

    pub fn wants_download<R: Rng>(&self, rng: &mut R) -> bool {
        self.download_share > 0.0 && rng.random_bool(self.download_share)
    }

    pub fn pick_file<R: Rng>(&self, kinds: &[Kind], rng: &mut R) -> FileChoice {
        let k = self.kinds.sample(rng);
        let kind = &kinds[k];
        let band = kind.bands[self.bands[k].sample(rng)];
        let mut size = rng.random_range(band.min..=band.max);
        if let Some(cap) = self.max_file_size {
            size = size.min(cap);
        }
        let ext = kind.extensions[rng.random_range(0..kind.extensions.len())].clone();
        FileChoice { kind: k, ext, size }
    }
}

/// Fills a subfolder template: words at random, date fields from the simulated clock.
pub fn fill_template<R: Rng>(tpl: &Template, plan: &Plan, sim_now: f64, rng: &mut R) -> String {
    let c = civil(sim_now);
    let mut out = String::with_capacity(tpl.text.len() + 16);
    for part in &tpl.parts {
        match part {
            Part::Lit(s) => out.push_str(s),
            Part::Word(w) => {
                let list = &plan.words[w];
                out.push_str(&list[rng.random_range(0..list.len())]);
            }
            Part::Date(f) => {
                let s = match f {
                    DateField::Date => c.date(),
                    DateField::Year => format!("{:04}", c.year),
                    DateField::Month => format!("{:02}", c.month),
                    DateField::Day => format!("{:02}", c.day),
                    DateField::Hour => format!("{:02}", c.hour),
                    DateField::Week => format!("{:02}", (c.yday - 1) / 7 + 1),
                };
                out.push_str(&s);
            }
        }
    }
    out
}

/// `{subfolder}/{user}_{kind}_{millis}_{seq}{ext}`. `seq` is the user's own counter, so
/// keys stay unique at any rate (the old generator's per-second keys overwrote each other).
pub fn object_key(subfolder: &str, user: &str, kind: &str, millis: u64, seq: u64, ext: &str) -> String {
    format!("{subfolder}/{user}_{kind}_{millis}_{seq}{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use std::collections::HashSet;

    fn plan() -> Plan {
        crate::profile::parse("profiles.toml".as_ref(), include_str!("../profiles.toml")).unwrap()
    }

    #[test]
    fn same_seed_same_files() {
        let p = plan();
        let mix = Mix::new(&p, &p.users[0]);
        let draw = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            (0..200).map(|_| mix.pick_file(&p.kinds, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn kinds_follow_the_users_weights() {
        let p = plan();
        let alice = &p.users[0];
        let mix = Mix::new(&p, alice);
        let mut rng = SmallRng::seed_from_u64(1);
        let n = 200_000;
        let mut counts = vec![0usize; p.kinds.len()];
        for _ in 0..n {
            counts[mix.pick_file(&p.kinds, &mut rng).kind] += 1;
        }
        let total: f64 = alice.kind_weights.iter().sum();
        for (k, c) in counts.iter().enumerate() {
            let want = alice.kind_weights[k] / total;
            let got = *c as f64 / n as f64;
            assert!((got - want).abs() < 0.005, "{}: {got} vs {want}", p.kinds[k].name);
        }
    }

    #[test]
    fn sizes_follow_the_bands() {
        let p = plan();
        // A user that only writes media, to sample that kind's bands directly.
        let mut u = p.users[0].clone();
        let media = p.kinds.iter().position(|k| k.name == "media").unwrap();
        u.kind_weights = vec![0.0; p.kinds.len()];
        u.kind_weights[media] = 1.0;
        let mix = Mix::new(&p, &u);
        let mut rng = SmallRng::seed_from_u64(2);
        let bands = &p.kinds[media].bands;
        let n = 200_000;
        let mut counts = vec![0usize; bands.len()];
        for _ in 0..n {
            let f = mix.pick_file(&p.kinds, &mut rng);
            assert!(p.kinds[media].extensions.contains(&f.ext));
            let b = bands.iter().position(|b| f.size >= b.min && f.size <= b.max).expect("size inside a band");
            counts[b] += 1;
        }
        let total: f64 = bands.iter().map(|b| b.weight).sum();
        for (b, c) in counts.iter().enumerate() {
            let want = bands[b].weight / total;
            let got = *c as f64 / n as f64;
            assert!((got - want).abs() < 0.004, "band {b}: {got} vs {want}");
        }
        // The shipped profile reaches the seed's "1 GB+".
        assert!(bands.iter().any(|b| b.max >= 1 << 30));
    }

    #[test]
    fn max_file_size_caps_every_draw() {
        let mut p = plan();
        p.limits.max_file_size = Some(4096);
        let mix = Mix::new(&p, &p.users[3]);
        let mut rng = SmallRng::seed_from_u64(3);
        assert!((0..10_000).all(|_| mix.pick_file(&p.kinds, &mut rng).size <= 4096));
    }

    #[test]
    fn download_share_is_respected() {
        let p = plan();
        let mix = Mix::new(&p, &p.users[0]);
        let mut rng = SmallRng::seed_from_u64(4);
        let n = 100_000;
        let d = (0..n).filter(|_| mix.wants_download(&mut rng)).count();
        assert!((d as f64 / n as f64 - 0.2).abs() < 0.01);
    }

    #[test]
    fn keys_are_unique_over_100k_at_the_same_millisecond() {
        let p = plan();
        let mut rng = SmallRng::seed_from_u64(5);
        let mut seen = HashSet::new();
        for seq in 0..100_000u64 {
            let u = &p.users[(seq % 10) as usize];
            let tpl = &u.subfolders[rng.random_range(0..u.subfolders.len())];
            let sub = fill_template(tpl, &p, 1_751_415_012.0, &mut rng);
            // Same millisecond for every key: uniqueness must come from user + seq.
            let key = object_key(&sub, &u.id, "code", 1_751_415_012_000, seq / 10, ".rs");
            assert!(seen.insert(key.clone()), "duplicate key {key}");
        }
    }

    #[test]
    fn filled_templates_are_clean_keys() {
        let p = plan();
        let mut rng = SmallRng::seed_from_u64(6);
        for u in &p.users {
            for tpl in &u.subfolders {
                for _ in 0..50 {
                    let s = fill_template(tpl, &p, 1_751_415_012.0, &mut rng);
                    assert!(!s.starts_with('/') && !s.contains("//") && !s.contains(".."), "{s}");
                    assert!(!s.contains('{'), "{s}");
                }
            }
        }
        let david = p.users.iter().find(|u| u.id == "david-backup").unwrap();
        let daily = david.subfolders.iter().find(|t| t.text.starts_with("daily/")).unwrap();
        assert_eq!(fill_template(daily, &p, 1_751_415_012.0, &mut rng), "daily/2025/07/02");
    }
}
