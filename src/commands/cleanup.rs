//! `trafficgen cleanup`: deletes every object that runs on this state dir may have left,
//! from the journal; with `--all`, also every object in the profile's buckets whose key
//! trafficgen made beyond doubt: its mark verifies (`keytag`) and its name starts with
//! the id of a user of that bucket. A user's own object never matches, whatever its name.
//! `--all` lists what it will delete before deleting (the first keys on the console, all
//! of them in `DIR/cleanup-all.txt`) and deletes each key at most once. Bounded
//! concurrency, counts; exit 0 when nothing is left that it found, 1 otherwise.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::plan::{Flavor, Plan};
use crate::exec::client::{Client, LISTING_LIMIT, Outcome};
use crate::model::error::Error;
use crate::model::verdict::Judgement;
use crate::work::state::{Entry, Journal, State};

/// Listings of one bucket with `--all`: one when the listing is whole; more only when it
/// was longer than the capture, each after deleting what the last one showed.
const MAX_ROUNDS: usize = 200;
/// Keys of a bucket shown on the console before deleting (all are in the list file).
const SHOWN: usize = 20;
/// The file in the state dir that lists every object `--all` deletes.
pub const LIST_FILE: &str = "cleanup-all.txt";

/// Where `cleanup` looks.
pub struct Dirs {
    /// The state dir (`--state-dir`, else the default, a shard's with `--shard`).
    pub base: PathBuf,
    /// `--all-shards`: also every shard's state dir in `base` (`shard-I-of-N`).
    pub all_shards: bool,
    /// This command line with `--all-shards`, for when only shards' dirs hold objects.
    pub again: String,
}

/// One state dir being cleaned: locked, its journal open, what it holds.
struct Opened {
    state: State,
    journal: Journal,
    live: Vec<Entry>,
    complete: bool,
}

pub fn run(plan: &Plan, dirs: Dirs, all: bool) -> Result<Judgement, Error> {
    let mut paths = vec![dirs.base.clone()];
    if dirs.all_shards {
        paths.extend(crate::config::shard::shard_dirs(&dirs.base));
    }
    // Every dir with its own lock, as a run takes it, held to the end: no run starts on
    // a journal while it is cleaned.
    let mut opened = Vec::new();
    for path in &paths {
        let state = State::open(path)?;
        let read = state.read();
        for w in &read.warnings {
            eprintln!("warning: {w}");
        }
        let journal =
            state.journal().map_err(|e| Error::Failed(format!("the journal in {}: {e}", state.dir.display())))?;
        eprintln!("cleanup: {} objects in the journal of {}", read.live.len(), state.dir.display());
        opened.push(Opened { state, journal, live: read.live, complete: read.complete });
    }
    if !dirs.all_shards {
        point_at_shards(&dirs);
    }
    eprintln!(
        "cleanup: client {} ({}), endpoint {}, region {}",
        plan.client.binary.display(),
        plan.client.flavor.name(),
        crate::commands::options::endpoint_text(&plan.client),
        plan.client.region
    );
    let rt = crate::exec::client::runtime()?;
    let client = Arc::new(Client::new(&plan.client, plan.command_timeout));
    // A client that does not run would fail every delete with no word of why: say it once,
    // before anything, as a run does.
    if opened.iter().any(|o| !o.live.is_empty()) || all {
        let version = rt.block_on(client.run(crate::exec::client::Action::Version));
        if version.outcome != Outcome::Ok {
            return Err(Error::Usage(format!(
                "{}; nothing deleted, the journal is kept",
                crate::commands::options::cannot_run(
                    plan,
                    &plan.client.binary,
                    &version,
                    crate::commands::options::CLIENT_FIX
                )
            )));
        }
    }
    let (mut total, mut failed) = (0, 0);
    for o in &opened {
        let progress: crate::commands::run::leftovers::Progress =
            Arc::new(|ended, failed, total| eprintln!("cleanup: {ended}/{total} deletes done, {failed} failed"));
        let deleted =
            crate::commands::run::leftovers::delete_entries(&rt, &client, &o.journal, &o.live, Some(progress));
        // A journal not read to its end may name more objects: not a clean exit.
        let not = o.live.len() - deleted.len();
        failed += not + usize::from(!o.complete);
        total += deleted.len();
        let dir = if opened.len() > 1 { format!("{}: ", o.state.dir.display()) } else { String::new() };
        eprintln!("cleanup: {dir}deleted {} of them, {not} failed", deleted.len());
    }
    if all {
        let first = &opened[0];
        let (removed, not_removed) = sweep(plan, &first.state, &rt, &client, &first.journal);
        total += removed;
        failed += not_removed;
    }
    for Opened { state, journal, .. } in opened {
        // The last delete marks are written before the journal is compacted.
        journal.flush();
        drop(journal);
        let now = state.read();
        if !now.complete {
            eprintln!("warning: the journal in {} was not read to its end: it is kept as it is", state.dir.display());
        } else if let Err(e) = state.compact(&now.live) {
            eprintln!("warning: could not compact the journal in {}: {e}", state.dir.display());
        }
    }
    eprintln!("cleanup: {total} deleted, {failed} failed");
    if failed == 0 {
        Ok(Judgement::Pass)
    } else {
        // The line above has said it, in cleanup's words.
        Err(Error::Failed(format!("cleanup: {failed} failed")).reported())
    }
}

/// Shards on this machine each keep their own state dir in the default one: a plain
/// `cleanup` would find none of their objects and say 0. Names the shard dirs that hold
/// objects (read without their locks: nothing is written) and the command that takes them.
fn point_at_shards(dirs: &Dirs) {
    let held: Vec<String> = crate::config::shard::shard_dirs(&dirs.base)
        .into_iter()
        .filter_map(|d| {
            let n = crate::work::state::read_journal(&d.join("objects.jsonl")).live.len();
            (n > 0).then(|| format!("{} ({n} objects)", d.display()))
        })
        .collect();
    if !held.is_empty() {
        eprintln!(
            "cleanup: the state dirs of shards in {} hold objects of earlier runs: {}",
            dirs.base.display(),
            held.join(", ")
        );
        eprintln!("cleanup: to delete them too: {}", dirs.again);
    }
}

/// This process's command line with `--all-shards` added, as a shell takes it (values
/// with credentials scrubbed, as an endpoint is wherever it is shown).
pub fn again_with_all_shards() -> String {
    let mut words: Vec<String> = std::env::args().map(|a| quote(&crate::model::secrets::scrub(&a))).collect();
    // Options after `cleanup` are cleanup's own: at the end it always belongs to it.
    words.push("--all-shards".into());
    words.join(" ")
}

/// A word for a POSIX shell: as it is when it needs no quoting, else in single quotes.
fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `--all`: every bucket of the profile, listed whole and parsed exactly; returns
/// (deleted, failures). A bucket that cannot be listed, a delete that fails and a listing
/// longer than the capture whose rest could not be reached each count as a failure.
fn sweep(
    plan: &Plan,
    state: &State,
    rt: &tokio::runtime::Runtime,
    client: &Arc<Client>,
    journal: &Journal,
) -> (usize, usize) {
    let list_path = state.dir.join(LIST_FILE);
    let mut list = match std::fs::File::create(&list_path) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("warning: cannot write {}: {e}; the keys are listed here only", list_path.display());
            None
        }
    };
    let (mut removed, mut failed) = (0, 0);
    // Every key tried once, whatever happens: a delete is never repeated in a loop.
    let mut tried: HashSet<(String, String)> = HashSet::new();
    // Replicas share a bucket: list each once; names carry their user's id.
    for bucket in plan.buckets() {
        let owners: Vec<String> =
            plan.users.iter().filter(|u| u.bucket == bucket).map(|u| format!("{}_", u.id)).collect();
        for round in 0..MAX_ROUNDS {
            let exec = rt.block_on(client.list_all(bucket, "", LISTING_LIMIT));
            // A bucket the server says does not exist holds nothing of ours (the AWS CLI
            // names the error; obsctl's bare `service error` could be anything).
            if exec.stderr_line.as_deref().is_some_and(|l| l.contains("(NoSuchBucket)")) {
                eprintln!("cleanup: {bucket}: no such bucket, nothing to delete");
                break;
            }
            if exec.outcome != Outcome::Ok {
                eprintln!("cleanup: cannot list {bucket}: {}", crate::work::ops::describe(&exec));
                failed += 1;
                break;
            }
            let listing = Listing::parse(plan.client.flavor, bucket, &exec.stdout, exec.stdout_complete);
            let ours: Vec<String> = listing
                .keys
                .into_iter()
                .filter(|k| is_ours(k, &owners) && !tried.contains(&(bucket.to_string(), k.clone())))
                .collect();
            if ours.is_empty() {
                if !listing.complete {
                    eprintln!(
                        "cleanup: the listing of {bucket} is longer than {} MiB and its first part holds nothing more of trafficgen's: the rest was not seen, so this bucket is INCOMPLETE",
                        LISTING_LIMIT >> 20
                    );
                    failed += 1;
                }
                break;
            }
            announce(bucket, &ours, round, listing.complete, &list_path, list.as_mut());
            let entries: Vec<Entry> = ours
                .iter()
                .map(|k| Entry {
                    run: String::new(),
                    bucket: bucket.to_string(),
                    key: k.clone(),
                    size: 0,
                    expires_unix: 0.0,
                })
                .collect();
            tried.extend(ours.iter().map(|k| (bucket.to_string(), k.clone())));
            let done = crate::commands::run::leftovers::delete_entries(rt, client, journal, &entries, None);
            removed += done.len();
            failed += entries.len() - done.len();
            eprintln!("cleanup: {bucket}: deleted {} of them, {} failed", done.len(), entries.len() - done.len());
            if listing.complete {
                break;
            }
        }
    }
    if let Some(f) = list.as_mut() {
        let _ = f.flush();
    }
    (removed, failed)
}

/// A key trafficgen made for one of `owners` (`"{user id}_"`): its mark verifies and its
/// name starts with one of them.
fn is_ours(key: &str, owners: &[String]) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    owners.iter().any(|o| name.starts_with(o.as_str())) && crate::model::keytag::verify(key)
}

/// Says what is about to be deleted: the count and the first keys on the console, every
/// key in the list file (one `s3://bucket/key` a line).
fn announce(
    bucket: &str,
    keys: &[String],
    round: usize,
    complete: bool,
    path: &std::path::Path,
    file: Option<&mut std::fs::File>,
) {
    let part =
        if complete { String::new() } else { format!(" (part {} of a listing too long to read at once)", round + 1) };
    eprintln!("cleanup --all: {bucket}: {} objects with trafficgen's mark to delete{part}:", keys.len());
    for k in keys.iter().take(SHOWN) {
        eprintln!("  s3://{bucket}/{}", printable(k));
    }
    if keys.len() > SHOWN {
        eprintln!("  … and {} more, all listed in {}", keys.len() - SHOWN, path.display());
    }
    if let Some(f) = file {
        let mut text = String::new();
        for k in keys {
            text.push_str(&format!("s3://{bucket}/{}\n", printable(k)));
        }
        if let Err(e) = f.write_all(text.as_bytes()) {
            eprintln!("warning: writing {}: {e}", path.display());
        }
    }
}

/// A key as text safe on a terminal: control characters escaped.
fn printable(key: &str) -> String {
    key.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// The keys of one `ls --recursive` output, and whether it was all of the bucket.
struct Listing {
    keys: Vec<String>,
    complete: bool,
}

impl Listing {
    /// Every line is parsed exactly (spaces in keys kept as they are). A capture cut
    /// short ends in a partial line: that line is dropped, and the listing says it is
    /// not whole.
    fn parse(flavor: Flavor, bucket: &str, stdout: &str, complete: bool) -> Listing {
        let text = if complete { stdout } else { stdout.rfind('\n').map_or("", |i| &stdout[..i]) };
        let keys = text.split('\n').filter_map(|l| listed_key(flavor, bucket, l)).collect();
        Listing { keys, complete }
    }
}

/// The key on one line of `ls s3://B/ --recursive`. obsctl 0.3.0 prints the key alone,
/// as it is; other builds (and the tests' fake) print `DATE TIME SIZE s3://B/KEY`. The
/// AWS CLI prints `DATE TIME SIZE KEY`, the size right-aligned in 10 columns and one space
/// before the key: the key is everything after that space, never split on spaces.
fn listed_key(flavor: Flavor, bucket: &str, line: &str) -> Option<String> {
    let key = match flavor {
        Flavor::Obsctl => {
            match after_date_time_size(line).and_then(|rest| rest.strip_prefix(&format!("s3://{bucket}/"))) {
                Some(k) => k,
                None => line,
            }
        }
        Flavor::Aws => after_date_time_size(line)?,
    };
    (!key.is_empty()).then(|| key.to_string())
}

/// What follows `YYYY-MM-DD HH:MM:SS <spaces>SIZE ` on a listing line.
fn after_date_time_size(line: &str) -> Option<&str> {
    // `len` bytes, `sep` at `at`, digits elsewhere.
    let shaped = |s: &str, len: usize, sep: u8, at: [usize; 2]| {
        s.len() == len
            && s.bytes().enumerate().all(|(i, b)| if at.contains(&i) { b == sep } else { b.is_ascii_digit() })
    };
    let (date, rest) = line.split_once(' ')?;
    let (time, rest) = rest.split_once(' ')?;
    if !shaped(date, 10, b'-', [4, 7]) || !shaped(time, 8, b':', [2, 5]) {
        return None;
    }
    let rest = rest.trim_start_matches(' ');
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    rest[digits..].strip_prefix(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_both_listing_forms_exactly() {
        let o = |l| listed_key(Flavor::Obsctl, "b", l);
        let a = |l| listed_key(Flavor::Aws, "b", l);
        assert_eq!(o("a/b/alice-dev_code_1_2.rs").as_deref(), Some("a/b/alice-dev_code_1_2.rs"));
        assert_eq!(o("2024-01-01 00:00:00   12 s3://b/k/x.rs").as_deref(), Some("k/x.rs"));
        // Spaces are part of the key, wherever they are.
        assert_eq!(o("My Docs/alice-dev_report.pdf").as_deref(), Some("My Docs/alice-dev_report.pdf"));
        assert_eq!(o("2024-01-01 00:00:00   12 s3://b/My Docs/a  b ").as_deref(), Some("My Docs/a  b "));
        assert_eq!(a("2024-01-01 00:00:00         12 k/x.rs").as_deref(), Some("k/x.rs"));
        assert_eq!(
            a("2024-01-01 00:00:00         12 My Docs/alice-dev_report.pdf").as_deref(),
            Some("My Docs/alice-dev_report.pdf")
        );
        assert_eq!(a("2024-01-01 00:00:00         12  lead  and  trail ").as_deref(), Some(" lead  and  trail "));
        assert_eq!(a("2024-01-01 00:00:00 12345678901 big").as_deref(), Some("big"));
        assert_eq!(a("  "), None);
        assert_eq!(a(""), None);
        assert_eq!(o(""), None);
        assert_eq!(a("                           PRE folder/"), None);
    }

    #[test]
    fn a_listing_cut_short_drops_its_partial_line_and_says_so() {
        let text = "2024-01-01 00:00:00          1 a\n2024-01-01 00:00:00          1 bb\n2024-01-01 00:00:00     ";
        let l = Listing::parse(Flavor::Aws, "b", text, false);
        assert_eq!(l.keys, ["a", "bb"]);
        assert!(!l.complete);
        let l = Listing::parse(Flavor::Aws, "b", "2024-01-01 00:00:00          1 a\n", true);
        assert_eq!(l.keys, ["a"]);
        assert!(l.complete);
    }

    #[test]
    fn only_marked_keys_of_the_buckets_users_are_ours() {
        let owners = vec!["alice-dev_".to_string(), "henry-ops_".to_string()];
        let mine = crate::work::workload::object_key("projects/x", "alice-dev", "code", 1, 2, ".rs");
        assert!(is_ours(&mine, &owners));
        assert!(is_ours(&crate::model::keytag::tag("My Docs/alice-dev_a b", ".pdf"), &owners));
        assert!(
            !is_ours(&crate::work::workload::object_key("p", "bob-x", "code", 1, 2, ".rs"), &owners),
            "another user"
        );
        for user in [
            "alice-dev_personal-notes.txt",
            "backups/alice-dev_2024/db.sql",
            "logs/henry-ops_audit/2024.log",
            "My Docs/alice-dev_report.pdf",
            "projects/x/alice-dev_code_1_2.rs",
        ] {
            assert!(!is_ours(user, &owners), "{user}");
        }
    }

    #[test]
    fn the_command_again_is_one_a_shell_takes_word_for_word() {
        assert_eq!(quote("/usr/bin/trafficgen"), "/usr/bin/trafficgen");
        assert_eq!(quote("--endpoint=http://127.0.0.1:9000"), "--endpoint=http://127.0.0.1:9000");
        assert_eq!(quote("my profiles.toml"), "'my profiles.toml'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn printed_keys_carry_no_control_characters() {
        assert_eq!(printable("a\u{1b}[31mb\nc"), "a\\u{1b}[31mb\\nc");
        assert_eq!(printable("My Docs/é"), "My Docs/é");
    }
}
