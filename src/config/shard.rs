//! One instance's part of a profile that N machines run together (`--shard I/N`), with
//! no coordinator: every instance computes the same split from the same profile.
//!
//! With at least as many users as shards, each user goes to exactly one shard, whole
//! (balanced by the operations it asks for in a day); its random streams derive from its
//! place in the whole profile, so it does exactly what it would do in an unsharded run.
//! With more shards than users, every shard runs every user at 1/N of its rate, and
//! numbers its keys I, I+N, I+2N … so two shards never make the same key.

use crate::config::plan::Plan;
use crate::model::error::Error;
use crate::model::summary::{Shard, Split};

/// The most shards one profile splits into.
pub const MAX_SHARDS: u32 = 10_000;

/// `I/N` as given to `--shard`.
pub fn parse(text: &str) -> Result<(u32, u32), Error> {
    parse_as("--shard", text)
}

/// `I/N`, its errors naming `source` (the flag, or the environment variables).
fn parse_as(source: &str, text: &str) -> Result<(u32, u32), Error> {
    let bad = || Error::Usage(format!("{source} {text:?}: expected I/N with 0 <= I < N <= {MAX_SHARDS}, e.g. 0/4"));
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let i: u32 = i.trim().parse().map_err(|_| bad())?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || n > MAX_SHARDS || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Kubernetes' Indexed Job sets `JOB_COMPLETION_INDEX`; the count comes from
/// `TRAFFICGEN_SHARDS` (the Job's `completions`). Both or neither.
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<(u32, u32)>, Error> {
    match (get("JOB_COMPLETION_INDEX"), get("TRAFFICGEN_SHARDS")) {
        (None, None) => Ok(None),
        (Some(i), Some(n)) => parse_as("JOB_COMPLETION_INDEX/TRAFFICGEN_SHARDS", &format!("{i}/{n}")).map(Some),
        (Some(_), None) => {
            Err(Error::Usage("JOB_COMPLETION_INDEX is set but TRAFFICGEN_SHARDS (the shard count) is not".into()))
        }
        (None, Some(_)) => {
            Err(Error::Usage("TRAFFICGEN_SHARDS is set but JOB_COMPLETION_INDEX (this shard's index) is not".into()))
        }
    }
}

/// Which users (indices into `plan.users`) each of `count` shards runs, when each user
/// goes to one shard: largest daily load first, each to the least-loaded shard so far
/// (ties to the lower index). Deterministic from the profile alone.
pub fn assign(plan: &Plan, count: u32) -> Vec<Vec<usize>> {
    let daily: Vec<f64> = plan.users.iter().map(|u| (0..24).map(|h| plan.user_rate(u, h)).sum()).collect();
    let mut order: Vec<usize> = (0..plan.users.len()).collect();
    order.sort_by(|a, b| daily[*b].total_cmp(&daily[*a]).then(a.cmp(b)));
    let mut load = vec![0.0f64; count as usize];
    let mut shards = vec![Vec::new(); count as usize];
    for u in order {
        let s = (0..count as usize).min_by(|a, b| load[*a].total_cmp(&load[*b]).then(a.cmp(b))).unwrap_or(0);
        load[s] += daily[u];
        shards[s].push(u);
    }
    for s in &mut shards {
        s.sort_unstable();
    }
    shards
}

/// Narrows `plan` to shard `index` of `count`.
pub fn apply(plan: &mut Plan, index: u32, count: u32) -> Shard {
    if count as usize <= plan.users.len() {
        let mine = assign(plan, count).swap_remove(index as usize);
        let mut i = 0;
        plan.users.retain(|_| {
            let keep = mine.binary_search(&i).is_ok();
            i += 1;
            keep
        });
        let shard = Shard { index, count, split: Split::Users };
        plan.shard = Some(shard);
        shard
    } else {
        plan.rates.shard_share = 1.0 / count as f64;
        let shard = Shard { index, count, split: Split::Rate };
        plan.shard = Some(shard);
        shard
    }
}

/// A run-wide seed for this shard: unchanged when shards split the users (each user's
/// streams already differ), mixed with the index when they split rates, so N shards do
/// not fire the same user's operations at the same instants.
pub fn seed(seed: u64, shard: Option<Shard>) -> u64 {
    match shard {
        Some(Shard { index, split: Split::Rate, .. }) => seed ^ (index as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93),
        _ => seed,
    }
}

/// The first key sequence number and the step between them.
pub fn key_sequence(shard: Option<Shard>) -> (u64, u64) {
    match shard {
        Some(Shard { index, count, split: Split::Rate }) => (index as u64, count as u64),
        _ => (0, 1),
    }
}

/// The default state dir: the shared default, and with a shard its own folder in it,
/// `shard-I-of-N`, so shards side by side on one machine (each with its own lock and
/// journal) all start; `cleanup --shard I/N` finds the same folder.
pub fn default_state_dir(shard: Option<Shard>) -> std::path::PathBuf {
    let base = default_dir();
    match shard {
        Some(s) => base.join(format!("shard-{}-of-{}", s.index, s.count)),
        None => base,
    }
}

/// The shards' state dirs in `base` (folders named `shard-I-of-N`, as
/// `default_state_dir` names them), by N then I: where `cleanup --all-shards` looks.
pub fn shard_dirs(base: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(base) else { return Vec::new() };
    let mut found: Vec<((u32, u32), std::path::PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| shard_dir_name(&e.file_name().to_string_lossy()).map(|n| (n, e.path())))
        .collect();
    found.sort_by_key(|((i, n), _)| (*n, *i));
    found.into_iter().map(|(_, p)| p).collect()
}

/// (I, N) of a folder named `shard-I-of-N` with 0 <= I < N, as `default_state_dir` makes.
fn shard_dir_name(name: &str) -> Option<(u32, u32)> {
    let (i, n) = name.strip_prefix("shard-")?.split_once("-of-")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(i) && digits(n)) {
        return None;
    }
    let (i, n) = (i.parse().ok()?, n.parse().ok()?);
    (i < n).then_some((i, n))
}

/// The default state directory: `${XDG_DATA_HOME:-~/.local/share}/trafficgen`.
pub fn default_dir() -> std::path::PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("trafficgen")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        crate::config::profile::shipped()
    }

    #[test]
    fn shard_dirs_are_the_folders_default_state_dir_names() {
        let base = tempfile::tempdir().unwrap();
        for name in ["shard-1-of-2", "shard-0-of-2", "shard-0-of-10", "shard-2-of-2", "shard-x-of-2", "other"] {
            std::fs::create_dir(base.path().join(name)).unwrap();
        }
        std::fs::write(base.path().join("shard-1-of-3"), "a file").unwrap();
        let names: Vec<String> =
            shard_dirs(base.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["shard-0-of-2", "shard-1-of-2", "shard-0-of-10"]);
        let made = default_state_dir(Some(Shard { index: 3, count: 4, split: Split::Users }));
        assert_eq!(shard_dir_name(&made.file_name().unwrap().to_string_lossy()), Some((3, 4)));
    }

    #[test]
    fn shard_text_and_environment() {
        assert_eq!(parse("0/4"), Ok((0, 4)));
        assert_eq!(parse("3/4"), Ok((3, 4)));
        for bad in ["4/4", "1/0", "x/2", "1", "-1/3", "1/100001"] {
            assert!(parse(bad).unwrap_err().to_string().contains("I/N"), "{bad}");
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(from_env(env(&[])), Ok(None));
        assert_eq!(from_env(env(&[("JOB_COMPLETION_INDEX", "2"), ("TRAFFICGEN_SHARDS", "5")])), Ok(Some((2, 5))));
        assert!(from_env(env(&[("JOB_COMPLETION_INDEX", "2")])).unwrap_err().to_string().contains("TRAFFICGEN_SHARDS"));
        assert!(from_env(env(&[("JOB_COMPLETION_INDEX", "5"), ("TRAFFICGEN_SHARDS", "5")])).is_err());
    }

    #[test]
    fn every_user_lands_in_exactly_one_shard_and_loads_balance() {
        let p = plan();
        for n in 1..=p.users.len() as u32 {
            let shards = assign(&p, n);
            let mut all: Vec<usize> = shards.concat();
            all.sort_unstable();
            assert_eq!(all, (0..p.users.len()).collect::<Vec<_>>(), "{n} shards");
            assert!(shards.iter().all(|s| !s.is_empty()), "{n} shards: an empty shard");
        }
    }

    #[test]
    fn shards_together_ask_for_exactly_the_profiles_rate() {
        let whole = plan();
        let total = |p: &Plan| -> f64 { (0..24).map(|h| p.users.iter().map(|u| p.user_rate(u, h)).sum::<f64>()).sum() };
        for n in [1, 3, 4, 10, 13, 64] {
            let mut sum = 0.0;
            let mut streams = Vec::new();
            for i in 0..n {
                let mut p = whole.clone();
                let s = apply(&mut p, i, n);
                assert_eq!(s.split, if n as usize <= whole.users.len() { Split::Users } else { Split::Rate });
                sum += total(&p);
                streams.extend(p.users.iter().map(|u| u.stream));
            }
            assert!((sum - total(&whole)).abs() < 1e-6 * total(&whole), "{n} shards: {sum} vs {}", total(&whole));
            if n as usize <= whole.users.len() {
                // Each user keeps the random stream it has in the whole profile.
                streams.sort_unstable();
                assert_eq!(streams, whole.users.iter().map(|u| u.stream).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn rate_shards_never_share_a_key_sequence_or_a_seed() {
        let mut seqs = std::collections::HashSet::new();
        let mut seeds = std::collections::HashSet::new();
        for i in 0..16 {
            let s = Some(Shard { index: i, count: 16, split: Split::Rate });
            let (first, step) = key_sequence(s);
            for k in 0..100 {
                assert!(seqs.insert(first + k * step), "shard {i} repeats a key sequence number");
            }
            assert!(seeds.insert(seed(42, s)));
        }
        let users = Some(Shard { index: 3, count: 4, split: Split::Users });
        assert_eq!(seed(42, users), 42);
        assert_eq!(key_sequence(users), (0, 1));
    }
}
