//! Pure choices for one operation: upload or download, which kind, which size, which
//! key. Everything draws from the caller's seeded RNG, so a seed reproduces a run's mix.

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, RngExt};

use crate::config::plan::{DateField, Kind, Part, Plan, Template, UserPlan};
use crate::model::clock::civil;
use crate::model::events::OpType;

/// A user's precomputed samplers (built once per worker, not per operation).
pub struct Mix {
    /// What a schedule slot does (`None` = upload), with its share of slots.
    slots: Vec<(Option<OpType>, f64)>,
    /// Smooth weighted round robin: each slot adds every share to its credit and takes
    /// the category with the most credit. Shares are then exact over any window
    /// instead of drifting by sampling noise (a 20 % download share over 300 slots would
    /// otherwise wander by ±2.3 points), and rare kinds are spread evenly.
    credit: Vec<f64>,
    kinds: WeightedIndex<f64>,
    bands: Vec<WeightedIndex<f64>>,
    max_file_size: Option<u64>,
    confirm_uploads: f64,
    confirm_deletes: f64,
}

/// What one upload will write.
#[derive(Debug, Clone, PartialEq)]
pub struct FileChoice {
    pub kind: usize,
    pub band: usize,
    pub ext: String,
    pub size: u64,
}

/// Everything one schedule slot decides, drawn up front from the user's stream so the
/// same seed gives the same sequence whatever the server does.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotDraw {
    /// None = upload.
    pub op: Option<OpType>,
    /// The file an upload writes (drawn for every slot: a read that finds no object
    /// uploads this instead).
    pub file: FileChoice,
    /// Confirm this upload with head-object.
    pub confirm: bool,
    /// Which subfolder template, and the words that fill it.
    pub template: usize,
    pub fill: u64,
}

impl Mix {
    pub fn new(plan: &Plan, user: &UserPlan) -> Mix {
        let r = &plan.rates;
        let mut slots: Vec<(Option<OpType>, f64)> = vec![(Some(OpType::Download), r.download_share)];
        let expected_total: f64 = r.expected_failures.iter().map(|(_, w)| w).sum();
        if expected_total > 0.0 {
            for (op, w) in &r.expected_failures {
                slots.push((Some(*op), r.error_share * w / expected_total));
            }
        }
        for (op, share) in &r.extras {
            slots.push((Some(*op), *share));
        }
        let taken: f64 = slots.iter().map(|(_, w)| w).sum();
        slots.push((None, (1.0 - taken).max(0.0)));
        slots.retain(|(_, w)| *w > 0.0);
        Mix {
            credit: vec![0.0; slots.len()],
            slots,
            // Validation guarantees positive weights, so these cannot fail.
            kinds: WeightedIndex::new(&user.kind_weights).expect("validated kind weights"),
            bands: plan
                .kinds
                .iter()
                .map(|k| WeightedIndex::new(k.bands.iter().map(|b| b.weight)).expect("validated band weights"))
                .collect(),
            max_file_size: plan.limits.max_file_size,
            confirm_uploads: plan.verify.confirm_uploads,
            confirm_deletes: plan.verify.confirm_deletes,
        }
    }

    /// One slot's decisions. Always the same number of draws, whatever is chosen.
    pub fn draw<R: Rng>(&mut self, kinds: &[Kind], templates: usize, rng: &mut R) -> SlotDraw {
        let total: f64 = self.slots.iter().map(|(_, w)| w).sum();
        let mut best = 0;
        for (i, (_, w)) in self.slots.iter().enumerate() {
            self.credit[i] += w;
            if self.credit[i] > self.credit[best] {
                best = i;
            }
        }
        self.credit[best] -= total;
        let op = self.slots[best].0;
        let file = self.pick_file(kinds, rng);
        let confirm = rng.random::<f64>() < self.confirm_uploads;
        let template = rng.random_range(0..templates.max(1));
        let fill = rng.random::<u64>();
        SlotDraw { op, file, confirm, template, fill }
    }

    /// Whether a TTL delete is confirmed (drawn from the janitor's own stream).
    pub fn confirm_delete<R: Rng>(&self, rng: &mut R) -> bool {
        rng.random::<f64>() < self.confirm_deletes
    }

    pub fn pick_file<R: Rng>(&self, kinds: &[Kind], rng: &mut R) -> FileChoice {
        let k = self.kinds.sample(rng);
        let kind = &kinds[k];
        let band_idx = self.bands[k].sample(rng);
        let band = kind.bands[band_idx];
        let mut size = rng.random_range(band.min..=band.max);
        if let Some(cap) = self.max_file_size {
            size = size.min(cap);
        }
        let ext = kind.extensions[rng.random_range(0..kind.extensions.len())].clone();
        FileChoice { kind: k, band: band_idx, ext, size }
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

/// `{subfolder}/{user}_{kind}_{millis}_{seq}.tg{hash}{ext}`. `seq` is the user's own
/// counter, so keys stay unique at any rate (the old generator's per-second keys overwrote
/// each other); the `.tg` mark lets `cleanup --all` tell the key from a user's (`keytag`).
pub fn object_key(subfolder: &str, user: &str, kind: &str, millis: u64, seq: u64, ext: &str) -> String {
    crate::model::keytag::tag(&format!("{subfolder}/{user}_{kind}_{millis}_{seq}"), ext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use std::collections::HashSet;

    fn plan() -> Plan {
        crate::config::profile::shipped()
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
    fn slot_shares_follow_the_profile() {
        let mut p = plan();
        p.rates.extras = vec![(OpType::List, 0.05), (OpType::Presign, 0.05)];
        p.rates.expected_failures = vec![(OpType::MissingKeyDownload, 1.0), (OpType::WrongCredentials, 3.0)];
        p.rates.error_share = 0.04;
        let mut mix = Mix::new(&p, &p.users[0]);
        let mut rng = SmallRng::seed_from_u64(4);
        let n = 200_000;
        let mut counts = std::collections::HashMap::new();
        for i in 0..n {
            if i == 300 {
                // Exact already over a short window.
                let downloads = counts.get(&Some(OpType::Download)).copied().unwrap_or(0usize);
                assert!((downloads as i64 - 60).abs() <= 1, "{downloads} downloads in 300 slots");
            }
            *counts.entry(mix.draw(&p.kinds, 3, &mut rng).op).or_insert(0usize) += 1;
        }
        let share = |op| *counts.get(&op).unwrap_or(&0) as f64 / n as f64;
        assert!((share(Some(OpType::Download)) - 0.2).abs() < 0.005);
        assert!((share(Some(OpType::List)) - 0.05).abs() < 0.003);
        assert!((share(Some(OpType::WrongCredentials)) - 0.03).abs() < 0.003);
        assert!((share(Some(OpType::MissingKeyDownload)) - 0.01).abs() < 0.002);
        assert!((share(None) - 0.66).abs() < 0.005);
    }

    #[test]
    fn a_slot_always_draws_the_same_amount_so_seeds_reproduce() {
        let p = plan();
        let draws = || {
            let mut mix = Mix::new(&p, &p.users[0]);
            let mut rng = SmallRng::seed_from_u64(9);
            (0..500).map(|_| mix.draw(&p.kinds, 7, &mut rng)).collect::<Vec<SlotDraw>>()
        };
        let (a, b) = (draws(), draws());
        assert_eq!(a, b);
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
