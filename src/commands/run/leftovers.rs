//! Objects earlier runs on this state dir may have left. Those whose TTL has passed are
//! deleted before traffic starts, with their progress on the console; those not yet due
//! stay in the journal for a later run or `trafficgen cleanup`. None of it is this run's:
//! the run's clock has not started, and these deletes send no events, so they count in
//! none of its statistics or its verdict. (Handed to the users, as they once were, the
//! not-yet-due ones were deleted as this run's TTL deletes, with their confirmations,
//! and cut off at its end: a short run then failed on `failure_rate` for objects it never
//! made.) The journal is then rewritten with what stays. Also the bounded delete of
//! journal entries that `trafficgen cleanup` uses.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::commands::run::bounded;
use crate::exec::client::{Action, Client, Outcome};
use crate::model::clock;
use crate::model::error::Error;
use crate::output::logging::logged;
use crate::work::state::{Entry, Journal, State};

/// Deletes of journal entries running at once.
const DELETE_CONCURRENCY: usize = 16;
/// A progress line at least this often while deletes end (74 s of silence before any
/// traffic looked like a hang)…
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// …and every this many deletes, whichever comes first.
const PROGRESS_EVERY_N: usize = 100;

/// Called as a batch of deletes goes on, with (ended, failed, total): never for the
/// last one, which the caller sums up in its own words.
pub type Progress = Arc<dyn Fn(usize, usize, usize) + Send + Sync>;

/// Deals with the leftovers and returns the journal this run appends to.
pub fn take(rt: &tokio::runtime::Runtime, client: &Arc<Client>, state: &State) -> Result<Journal, Error> {
    let open_journal = || {
        state
            .journal()
            .map_err(|e| logged(Error::Failed(format!("cannot open the journal in {}: {e}", state.dir.display()))))
    };
    let journal = open_journal()?;
    leftovers(rt, client, state, &journal);
    // The leftovers' compaction replaced the journal file: this run appends to the new
    // one (appends to the old one were lost, and a kill -9 then leaked this run's objects).
    drop(journal);
    open_journal()
}

/// Deletes the objects of earlier runs whose TTL has passed, says what stays, and
/// rewrites the journal with what stays.
fn leftovers(rt: &tokio::runtime::Runtime, client: &Arc<Client>, state: &State, journal: &Journal) {
    let read = state.read();
    for w in &read.warnings {
        warn!("{w}");
    }
    let complete = read.complete;
    let live = read.live;
    if live.is_empty() {
        return;
    }
    let now = clock::unix_now();
    let (due, later): (Vec<Entry>, Vec<Entry>) = live.into_iter().partition(|e| e.expires_unix <= now);
    let stay = format!("{} not yet due stay in the journal for a later run or `trafficgen cleanup`", later.len());
    let in_journal =
        format!("state {}: {} objects of earlier runs in the journal", state.dir.display(), due.len() + later.len());
    let mut still: Vec<Entry> = later;
    if due.is_empty() {
        info!("{in_journal}, none due: {stay}");
    } else {
        info!("{in_journal}: {} due, deleting them before traffic starts; {stay}", due.len());
        let started = Instant::now();
        let progress: Progress = Arc::new(|ended, failed, total| {
            info!("earlier runs' objects: {ended}/{total} deletes done, {failed} failed");
        });
        let deleted = delete_entries(rt, client, journal, &due, Some(progress));
        let failed = due.len() - deleted.len();
        info!(
            "earlier runs' objects: {} of {} deleted in {:.1} s{}",
            deleted.len(),
            due.len(),
            started.elapsed().as_secs_f64(),
            if failed > 0 { format!(", {failed} could not be: they stay in the journal") } else { String::new() }
        );
        still.extend(due.into_iter().filter(|e| !deleted.contains(&(e.bucket.clone(), e.key.clone()))));
    }
    // The delete marks are written before the file is replaced, never into the old one.
    journal.flush();
    if !complete {
        warn!("the journal in {} was not read to its end: it is kept as it is", state.dir.display());
    } else if let Err(e) = state.compact(&still) {
        warn!("could not compact the journal in {}: {e}", state.dir.display());
    }
}

/// Deletes journal entries, 16 at a time; returns the (bucket, key) pairs deleted.
/// `progress` hears of every `PROGRESS_EVERY_N`th end, and of the first end after each
/// `PROGRESS_EVERY`.
pub fn delete_entries(
    rt: &tokio::runtime::Runtime,
    client: &Arc<Client>,
    journal: &Journal,
    entries: &[Entry],
    progress: Option<Progress>,
) -> HashSet<(String, String)> {
    let total = entries.len();
    // (ended, failed, when the last line was said)
    let tally = Arc::new(Mutex::new((0usize, 0usize, Instant::now())));
    let results = rt.block_on(bounded::each(entries.iter().cloned(), DELETE_CONCURRENCY, |e| {
        let (client, journal, tally, progress) = (client.clone(), journal.clone(), tally.clone(), progress.clone());
        async move {
            let ok = client.run(Action::Delete { bucket: &e.bucket, key: &e.key }).await.outcome == Outcome::Ok;
            if ok {
                journal.del(&e.bucket, &e.key);
            }
            if let Some(say) = progress {
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                t.0 += 1;
                t.1 += usize::from(!ok);
                if t.0 < total && (t.0 % PROGRESS_EVERY_N == 0 || t.2.elapsed() >= PROGRESS_EVERY) {
                    t.2 = Instant::now();
                    // Under the lock: the lines come in order.
                    say(t.0, t.1, total);
                }
            }
            (ok, e.bucket, e.key)
        }
    }));
    results.into_iter().filter(|(ok, _, _)| *ok).map(|(_, b, k)| (b, k)).collect()
}
