//! The stats thread: the single consumer of events. It logs each finished operation,
//! keeps the counters, prints the table every stats interval, and closes a timeline
//! point every timeline interval (shorter for short runs, see `stats::timeline_interval`).
//! At each simulated hour boundary it hands the commands ended so far, by kind, to
//! whoever reads the server's counters then (`--server-metrics`, `Hourly`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{info, warn};

use crate::analysis::fidelity;
use crate::analysis::stats::Stats;
use crate::config::plan::Plan;
use crate::model::clock::Clock;
use crate::model::counts::{Counters, Name, OpCount};
use crate::model::events::Event;
use crate::model::roster::Roster;
use crate::output::export::opslog::OpsLog;
use crate::output::live::{Live, TICK, Window};
use crate::output::tables;

/// The commands ended so far by kind, at a simulated instant (UNIX seconds).
pub type Hourly = Sender<(f64, BTreeMap<Name, OpCount>)>;

/// Readings closer than this in wall time are not taken: at a fast clock an hour passes
/// in milliseconds, and a window then spans several hours.
const MIN_READING_GAP_S: f64 = 1.0;

/// Runs until every sender is gone, then returns the final counters.
/// `client` names the client and its version in every table's title.
pub fn spawn(
    plan: Arc<Plan>,
    clock: Clock,
    interval: Duration,
    timeline_every: Duration,
    client: String,
    rx: Receiver<Event>,
    mut ops_log: Option<OpsLog>,
    extra: Option<Box<dyn Fn() -> String + Send>>,
    live: Option<(Live, f64)>,
    hourly: Option<Hourly>,
) -> JoinHandle<Stats> {
    std::thread::Builder::new()
        .name("stats".into())
        .spawn(move || {
            let bands: Vec<usize> = plan.kinds.iter().map(|k| k.bands.len()).collect();
            let mut stats = Stats::new(plan.users.len(), &bands);
            stats.set_personas(&plan.users.iter().map(|u| u.persona.clone()).collect::<Vec<_>>());
            let roster = plan.roster();
            let mut prev: Vec<Counters> = Vec::new();
            let mut last = 0.0;
            let every = interval.as_secs_f64();
            let (mark_every, mut last_mark) = (timeline_every.as_secs_f64(), 0.0);
            let mut window = Window::default();
            let mut next_tick = 0.0;
            let hour_of = |wall: f64| (clock.map.sim_at(wall) / 3600.0).floor();
            let (mut read_hour, mut read_at) = (hour_of(0.0), 0.0);
            loop {
                if let Some(tx) = &hourly {
                    let now = clock.elapsed();
                    if hour_of(now) > read_hour && now - read_at >= MIN_READING_GAP_S {
                        (read_hour, read_at) = (hour_of(now), now);
                        let _ = tx.send((clock.map.sim_at(now), stats.totals().ops));
                    }
                }
                let mut wait = (last + every).min(last_mark + mark_every) - clock.elapsed();
                wait = wait.max(0.0);
                if let Some((live, dispatch_s)) = &live {
                    let now = clock.elapsed();
                    if now >= next_tick {
                        let mut screen =
                            crate::output::live::render(&roster, &clock.map, &stats, &mut window, now, *dispatch_s);
                        // The running reconciliation, from the ledger's sums: cheap each tick.
                        if let Some(line) = &extra {
                            if !screen.ends_with('\n') {
                                screen.push('\n');
                            }
                            screen.push_str(&line());
                        }
                        live.show(screen);
                        next_tick = now + TICK.as_secs_f64();
                    }
                    wait = wait.min(next_tick - now).max(0.0);
                }
                if hourly.is_some() {
                    // Awake at the next hour boundary even when no event comes.
                    let now = clock.elapsed();
                    let next = clock.map.wall_at((read_hour + 1.0) * 3600.0).max(read_at + MIN_READING_GAP_S);
                    wait = wait.min((next - now).max(0.0));
                }
                match rx.recv_timeout(Duration::from_secs_f64(wait)) {
                    Ok(ev) => {
                        log_event(&plan, &roster, &ev);
                        if let (Some(log), Event::Finished(r)) = (ops_log.as_mut(), &ev) {
                            log.write(&roster, &clock.map, r);
                        }
                        stats.apply(&ev);
                    }
                    Err(RecvTimeoutError::Timeout) if clock.elapsed() < last + every => {
                        let now = clock.elapsed();
                        if now >= last_mark + mark_every {
                            stats.mark(now, clock.map.sim_at(now));
                            last_mark = now;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        let now = clock.elapsed();
                        let fidelity = fidelity::fleet(&plan, &stats);
                        let view = tables::View { roster: &roster, map: &clock.map, fidelity: &fidelity };
                        let t = tables::table(&view, &stats, &prev, last, now, &format!("statistics ({client})"));
                        match &extra {
                            Some(line) => info!(target: "stats", "{t}\n{}", line()),
                            None => info!(target: "stats", "{t}"),
                        }
                        prev = stats.users.clone();
                        if let Some(log) = ops_log.as_mut() {
                            log.flush();
                        }
                        stats.mark(now, clock.map.sim_at(now));
                        last = now;
                        last_mark = now;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        if let Some(log) = ops_log.as_mut() {
                            log.flush();
                        }
                        let now = clock.elapsed();
                        stats.mark(now, clock.map.sim_at(now));
                        if let Some((live, _)) = &live {
                            live.finish();
                        }
                        break;
                    }
                }
            }
            stats
        })
        .expect("spawning the stats thread")
}

fn log_event(plan: &Plan, roster: &Roster, ev: &Event) {
    match ev {
        Event::Finished(r) => {
            let (warning, line) = tables::op_line(roster, r);
            if warning {
                warn!("{line}");
            } else {
                info!("{line}");
            }
        }
        Event::BucketEnsured { user, ok: true, .. } => {
            info!("[{}] Re-ensured bucket {} after repeated failures", plan.users[*user].id, plan.users[*user].bucket)
        }
        Event::BucketEnsured { user, ok: false, error } => warn!(
            "[{}] Could not re-ensure bucket {}: {}",
            plan.users[*user].id,
            plan.users[*user].bucket,
            error.as_deref().unwrap_or("unknown error")
        ),
        Event::NoObject { user, op } => info!(
            "[{}] No object to {} yet: uploaded instead (the read is made up once objects exist)",
            plan.users[*user].id,
            op.name()
        ),
        Event::Started { .. } | Event::Shortfall { .. } => {}
    }
}
