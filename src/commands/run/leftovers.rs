//! Objects earlier runs on this state dir may have left: those due are deleted before
//! traffic starts, those still due later go to their users, and the journal is rewritten
//! with what stays. Also the bounded delete of journal entries that `trafficgen cleanup`
//! uses.

use std::collections::HashSet;
use std::sync::Arc;

use tracing::{info, warn};

use crate::commands::options::RunOpts;
use crate::commands::run::bounded;
use crate::config::plan::Plan;
use crate::exec::client::{Action, Client, Outcome};
use crate::model::clock;
use crate::model::error::Error;
use crate::output::logging::logged;
use crate::work::state::{Entry, Journal, State};

/// Deletes of journal entries running at once.
const DELETE_CONCURRENCY: usize = 16;

/// Per user (by index): the (key, size, simulated expiry) of its objects still due.
pub type PerUser = Vec<Vec<(String, u64, f64)>>;

/// Deals with the leftovers and returns the journal this run appends to, with each
/// user's leftovers.
pub fn take(
    rt: &tokio::runtime::Runtime,
    plan: &Plan,
    opts: &RunOpts,
    client: &Arc<Client>,
    state: &State,
) -> Result<(Journal, PerUser), Error> {
    let open_journal = || {
        state
            .journal()
            .map_err(|e| logged(Error::Failed(format!("cannot open the journal in {}: {e}", state.dir.display()))))
    };
    let journal = open_journal()?;
    let per_user = leftovers(rt, plan, opts, client, state, &journal);
    // The leftovers' compaction replaced the journal file: this run appends to the new
    // one (appends to the old one were lost, and a kill -9 then leaked this run's objects).
    drop(journal);
    Ok((open_journal()?, per_user))
}

/// Objects earlier runs on this state dir may have left: those whose TTL has passed
/// are deleted now; those of this run's users that are still due are handed to their
/// users, on schedule (by index). The journal is then rewritten with what stays.
fn leftovers(
    rt: &tokio::runtime::Runtime,
    plan: &Plan,
    opts: &RunOpts,
    client: &Arc<Client>,
    state: &State,
    journal: &Journal,
) -> PerUser {
    let read = state.read();
    for w in &read.warnings {
        warn!("{w}");
    }
    let complete = read.complete;
    let live = read.live;
    let mut per_user: PerUser = vec![Vec::new(); plan.users.len()];
    if live.is_empty() {
        return per_user;
    }
    let now = clock::unix_now();
    let (due, keep): (Vec<Entry>, Vec<Entry>) = live.into_iter().partition(|e| e.expires_unix <= now);
    let due_count = due.len();
    let deleted = delete_entries(rt, client, journal, &due);
    let mut kept = 0;
    for e in &keep {
        if let Some(i) = plan.users.iter().position(|u| u.bucket == e.bucket) {
            // Its expiry on this run's simulated clock (which starts now).
            let sim = opts.map.sim_at((e.expires_unix - now).max(0.0));
            per_user[i].push((e.key.clone(), e.size, sim));
            kept += 1;
        }
    }
    let mut still: Vec<Entry> = keep;
    still.extend(due.into_iter().filter(|e| !deleted.contains(&(e.bucket.clone(), e.key.clone()))));
    // The delete marks are written before the file is replaced, never into the old one.
    journal.flush();
    if !complete {
        warn!("the journal in {} was not read to its end: it is kept as it is", state.dir.display());
    } else if let Err(e) = state.compact(&still) {
        warn!("could not compact the journal in {}: {e}", state.dir.display());
    }
    let failed = due_count - deleted.len();
    info!(
        "state {}: {} objects of earlier runs were due and deleted ({failed} could not be), {kept} kept on schedule, {} of other buckets left for a later run",
        state.dir.display(),
        deleted.len(),
        still.len().saturating_sub(kept + failed)
    );
    per_user
}

/// Deletes journal entries, 16 at a time; returns the (bucket, key) pairs deleted.
pub fn delete_entries(
    rt: &tokio::runtime::Runtime,
    client: &Arc<Client>,
    journal: &Journal,
    entries: &[Entry],
) -> HashSet<(String, String)> {
    let results = rt.block_on(bounded::each(entries.iter().cloned(), DELETE_CONCURRENCY, |e| {
        let (client, journal) = (client.clone(), journal.clone());
        async move {
            let ok = client.run(Action::Delete { bucket: &e.bucket, key: &e.key }).await.outcome == Outcome::Ok;
            if ok {
                journal.del(&e.bucket, &e.key);
            }
            (ok, e.bucket, e.key)
        }
    }));
    results.into_iter().filter(|(ok, _, _)| *ok).map(|(_, b, k)| (b, k)).collect()
}
