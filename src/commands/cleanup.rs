//! `trafficgen cleanup`: deletes every object that runs on this state dir may have left,
//! from the journal; with `--all`, also every object in the profile's buckets whose key
//! has trafficgen's naming. Bounded concurrency, progress, counts; exit 0 when nothing
//! is left that it found, 1 otherwise.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{EXIT_RUN_FAILED, EXIT_USAGE};
use crate::client::{Action, Client, Outcome};
use crate::plan::{Flavor, Plan};
use crate::state::{Entry, State};

/// Listing rounds with `--all` (each sees at most 64 KiB of keys).
const MAX_ROUNDS: usize = 200;

pub fn run(plan: &Plan, state_dir: PathBuf, all: bool) -> i32 {
    let state = match State::open(&state_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let journal = match state.journal() {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: the journal in {}: {e}", state.dir.display());
            return EXIT_RUN_FAILED;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let client = Arc::new(Client::new(&plan.client, plan.command_timeout));
    let live = state.live();
    eprintln!("cleanup: {} objects in the journal of {}", live.len(), state.dir.display());
    let deleted = crate::run::delete_entries(&rt, &client, &journal, &live);
    let mut failed = live.len() - deleted.len();
    let mut total = deleted.len();
    eprintln!("cleanup: deleted {} of them, {failed} failed", deleted.len());
    if all {
        // Replicas share a bucket: list each once; keys carry their user's id.
        for bucket in plan.buckets() {
            let markers: Vec<String> =
                plan.users.iter().filter(|u| u.bucket == bucket).map(|u| format!("{}_", u.id)).collect();
            let mut removed = 0;
            for _ in 0..MAX_ROUNDS {
                let exec = rt.block_on(client.run(Action::List { bucket, prefix: "" }));
                if exec.outcome != Outcome::Ok {
                    eprintln!("cleanup: cannot list {}: {}", bucket, crate::ops::describe(&exec));
                    failed += 1;
                    break;
                }
                let keys: Vec<String> = exec
                    .stdout
                    .lines()
                    .filter_map(|l| listed_key(plan.client.flavor, bucket, l))
                    .filter(|k| k.rsplit('/').any(|seg| markers.iter().any(|m| seg.starts_with(m.as_str()))))
                    .collect();
                if keys.is_empty() {
                    break;
                }
                let entries: Vec<Entry> = keys
                    .iter()
                    .map(|k| Entry {
                        run: String::new(),
                        bucket: bucket.to_string(),
                        key: k.clone(),
                        size: 0,
                        expires_unix: 0.0,
                    })
                    .collect();
                let done = crate::run::delete_entries(&rt, &client, &journal, &entries);
                removed += done.len();
                if done.is_empty() {
                    failed += entries.len();
                    break;
                }
            }
            if removed > 0 {
                eprintln!("cleanup: {}: deleted {removed} objects with trafficgen's naming", bucket);
            }
            total += removed;
        }
    }
    drop(journal);
    // Let the journal's writer record the last marks.
    std::thread::sleep(Duration::from_millis(100));
    let _ = state.compact(&state.live());
    eprintln!("cleanup: {total} deleted, {failed} failed");
    if failed == 0 { 0 } else { EXIT_RUN_FAILED }
}

/// The key on one line of `ls --recursive`: obsctl prints the key alone (or an
/// `s3://bucket/key` URI); the AWS CLI prints `date time size key`.
fn listed_key(flavor: Flavor, bucket: &str, line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let key = match flavor {
        Flavor::Obsctl => {
            let last = line.split_whitespace().last()?;
            last.strip_prefix(&format!("s3://{bucket}/")).unwrap_or(last).to_string()
        }
        Flavor::Aws => line.split_whitespace().skip(3).collect::<Vec<_>>().join(" "),
    };
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_both_listing_forms() {
        assert_eq!(
            listed_key(Flavor::Obsctl, "b", "a/b/alice-dev_code_1_2.rs").as_deref(),
            Some("a/b/alice-dev_code_1_2.rs")
        );
        assert_eq!(listed_key(Flavor::Obsctl, "b", "2024-01-01 00:00:00  12 s3://b/k/x.rs").as_deref(), Some("k/x.rs"));
        assert_eq!(listed_key(Flavor::Aws, "b", "2024-01-01 00:00:00         12 k/x.rs").as_deref(), Some("k/x.rs"));
        assert_eq!(listed_key(Flavor::Aws, "b", "  "), None);
    }
}
