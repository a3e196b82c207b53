//! After dispatch: the grace period for the commands in flight, then the kill; the
//! `--cleanup` deletes (stoppable in turn); the temp dir's removal.

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::commands::run::bounded::Bounded;
use crate::exec::signal::Interrupts;
use crate::model::events::{DeleteReason, Event, OpType};
use crate::model::summary::StopCause;
use crate::work::fleet::Fleet;
use crate::work::ops;
use crate::work::user::WorkerEnd;

/// In-flight commands may finish within the grace period; then whatever is left is
/// killed and every user thread joined.
pub fn drain(fleet: &Fleet, stopped_by: StopCause, workers: Vec<JoinHandle<WorkerEnd>>) -> Vec<WorkerEnd> {
    let in_flight = fleet.decider.gate.in_flight();
    if in_flight > 0 {
        info!(
            "stopping ({stopped_by}): waiting up to {} for {in_flight} operations in flight",
            humantime::format_duration(fleet.decider.plan.grace_period)
        );
    }
    let grace_end = Instant::now() + fleet.decider.plan.grace_period;
    while fleet.decider.gate.in_flight() > 0 && Instant::now() < grace_end {
        std::thread::sleep(Duration::from_millis(20));
    }
    if fleet.decider.gate.in_flight() > 0 {
        warn!("grace period over: killing {} commands still running", fleet.runner.client.children.running());
    }
    fleet.runner.client.children.kill_all();
    workers.into_iter().filter_map(|h| h.join().ok()).collect()
}

/// Objects past their TTL and not deleted when the traffic stopped: the TTL deletes fell
/// behind (a saturated host, or the deletes' share of the in-flight cap). Said, never
/// hidden: the buckets held more than the profile's lifecycle asks for.
pub fn warn_overdue(ends: &[WorkerEnd], sim_now: f64) {
    let overdue = overdue(ends, sim_now);
    if overdue > 0 {
        let left: usize = ends.iter().map(|e| e.objects.len()).sum();
        warn!(
            "TTL deletes fell behind: {overdue} of the {left} objects left were past their TTL when the traffic stopped (the host or the deletes' share of the in-flight cap set the pace)"
        );
    }
}

fn overdue(ends: &[WorkerEnd], sim_now: f64) -> usize {
    ends.iter().flat_map(|e| &e.objects).filter(|o| o.expires_at <= sim_now).count()
}

/// `--cleanup`, unless a signal stopped the run (the grace period is spent; the objects
/// are in the journal). Returns what stopped the run: a signal also when a signal
/// stopped the cleanup.
pub fn cleanup_if_asked(
    rt: &tokio::runtime::Runtime,
    fleet: &Arc<Fleet>,
    ends: Vec<WorkerEnd>,
    stop_rx: &Receiver<()>,
    stopped_by: StopCause,
) -> StopCause {
    if stopped_by == StopCause::Signal {
        let left: usize = ends.iter().map(|e| e.objects.len()).sum();
        if left > 0 {
            warn!(
                "cleanup skipped: the run was stopped by a signal; its {left} objects stay in the journal for the next run or `trafficgen cleanup`"
            );
        }
        return stopped_by;
    }
    fleet.runner.client.children.accept_new();
    if cleanup(rt, fleet, ends, stop_rx) { StopCause::Signal } else { stopped_by }
}

/// `--cleanup`: deletes every object this run left, at most the global in-flight cap at
/// once. Stops when asked: after a signal (before or during it) no new delete starts,
/// those in flight get at most the grace period and are then killed, and what was not
/// deleted stays in the journal for the next run or `trafficgen cleanup`. Returns
/// whether a signal stopped it.
///
/// While this machine is saturated, a new delete waits for one of ours to end, never for
/// the host alone: a per-object wait for admission once made 9 deletes take 283 s, past
/// any stop timeout, since the sampler judged the machine by others' load.
fn cleanup(rt: &tokio::runtime::Runtime, fleet: &Arc<Fleet>, ends: Vec<WorkerEnd>, stop_rx: &Receiver<()>) -> bool {
    let total: usize = ends.iter().map(|e| e.objects.len()).sum();
    if total == 0 {
        return false;
    }
    info!("cleanup: deleting {total} objects left by this run");
    let cap = (fleet.decider.plan.limits.max_in_flight as usize).max(1);
    let asked = || stop_rx.try_recv().is_ok();
    let (started, stopped) = rt.block_on(async {
        let mut set = Bounded::new(cap);
        let mut started = 0usize;
        let mut stopped = false;
        'objects: for end in ends {
            for obj in end.objects {
                let slot = loop {
                    if asked() {
                        stopped = true;
                        break 'objects;
                    }
                    let idle = set.in_flight() == 0;
                    if (idle || fleet.decider.host.admits())
                        && let Some(slot) = set.try_slot()
                    {
                        break slot;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                let fleet = fleet.clone();
                let user = end.user;
                started += 1;
                set.spawn_holding(Some(slot), async move {
                    fleet.reporter.send(Event::Started { user, op: OpType::Delete, lag: None, upload: None });
                    for rec in
                        ops::delete(&fleet.runner, &fleet.reporter, user, &obj, DeleteReason::Cleanup, false).await
                    {
                        fleet.reporter.send(Event::Finished(Box::new(rec)));
                    }
                });
                // A few ms apart, so each delete counts as in flight before the next is weighed.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let stopped = finish_deletes(fleet, set, stopped, &asked).await;
        (started, stopped)
    });
    if stopped {
        let left = total - started;
        warn!(
            "cleanup stopped by a signal: {left} objects not tried (and any delete killed at the grace period) stay in the journal for the next run or `trafficgen cleanup`"
        );
    }
    stopped
}

/// The deletes in flight: all of them, unless a stop comes (or came); then the grace
/// period, then the kill. Returns whether a signal stopped the cleanup.
async fn finish_deletes(fleet: &Fleet, mut set: Bounded<()>, mut stopped: bool, asked: &impl Fn() -> bool) -> bool {
    let grace = fleet.decider.plan.grace_period;
    let mut deadline: Option<tokio::time::Instant> = stopped.then(|| tokio::time::Instant::now() + grace);
    if stopped {
        info!(
            "cleanup stopping (signal): waiting up to {} for {} deletes in flight",
            humantime::format_duration(grace),
            set.in_flight()
        );
    }
    loop {
        tokio::select! {
            next = set.join_next() => if next.is_none() { break },
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if deadline.is_none() && asked() {
                    stopped = true;
                    deadline = Some(tokio::time::Instant::now() + grace);
                    info!("cleanup stopping (signal): waiting up to {} for the deletes in flight", humantime::format_duration(grace));
                }
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    warn!("grace period over: killing {} deletes still running", fleet.runner.client.children.running());
                    fleet.runner.client.children.kill_all();
                    // Killed children end at once; their deletes are recorded as cancelled.
                    set.join_all().await;
                    break;
                }
            }
        }
    }
    stopped
}

/// Removes the temp dir (and tells the signal handler there is none left to remove).
pub fn remove_temp(temp: tempfile::TempDir, ints: &Interrupts) {
    let temp_path = temp.path().to_path_buf();
    if let Err(e) = temp.close() {
        warn!("could not remove temp dir {}: {e}", temp_path.display());
    }
    ints.temp_root.lock().unwrap_or_else(|e| e.into_inner()).take();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::inventory::Object;

    fn obj(expires_at: f64) -> Object {
        Object { id: 0, key: "k".into(), size: 1, kind: 0, expires_at, uncertain: false, readers: 0 }
    }

    #[test]
    fn only_objects_past_their_ttl_are_overdue() {
        let ends = vec![
            WorkerEnd { user: 0, objects: vec![obj(10.0), obj(20.0), obj(31.0)] },
            WorkerEnd { user: 1, objects: vec![obj(30.0)] },
        ];
        assert_eq!(overdue(&ends, 30.0), 3);
        assert_eq!(overdue(&ends, 5.0), 0);
    }
}
