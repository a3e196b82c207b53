//! The stats thread: the single consumer of events. It logs each finished operation,
//! keeps the counters, prints the table every stats interval, and closes a timeline
//! point every timeline interval (shorter for short runs, see `stats::timeline_interval`).
//! At each simulated hour boundary it hands the commands ended so far, by kind, to
//! whoever reads the server's counters then (`--server-metrics`, `Hourly`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{info, warn};

use crate::analysis::fidelity;
use crate::analysis::stats::Stats;
use crate::config::plan::Plan;
use crate::model::clock::Clock;
use crate::model::counts::{Name, OpCount};
use crate::model::events::Event;
use crate::model::roster::Roster;
use crate::output::export::opslog::OpsLog;
use crate::output::live::{Live, TICK, Window};
use crate::output::tables;

/// The commands ended so far by kind, at a simulated instant (UNIX seconds).
/// One place: while the server is still being read (a slow or hung server, up to the
/// reading's timeout), the next boundary's reading is skipped and its window joins the
/// next one, rather than readings queueing without bound behind it.
pub type Hourly = SyncSender<(f64, BTreeMap<Name, OpCount>)>;

/// Readings closer than this in wall time are not taken: at a fast clock an hour passes
/// in milliseconds, and a window then spans several hours.
const MIN_READING_GAP_S: f64 = 1.0;

/// What the stats thread is given: the plan, the clock, its intervals, the events, and
/// what it shows them on.
pub struct Feeds {
    pub plan: Arc<Plan>,
    pub clock: Clock,
    /// Between two periodic tables, and between two timeline points.
    pub interval: Duration,
    pub timeline_every: Duration,
    /// The client and its version, in every table's title.
    pub client: String,
    pub rx: Receiver<Event>,
    pub ops_log: Option<OpsLog>,
    /// A last line for every table and the live status (the running reconciliation).
    pub extra: Option<Box<dyn Fn() -> String + Send>>,
    /// The live status, and the wall seconds of dispatching it counts down.
    pub live: Option<(Live, f64)>,
    pub hourly: Option<Hourly>,
}

/// Runs until every sender is gone, then returns the final counters.
pub fn spawn(feeds: Feeds) -> JoinHandle<Stats> {
    std::thread::Builder::new()
        .name("stats".into())
        .spawn(move || Monitor::new(feeds).run())
        .expect("spawning the stats thread")
}

/// The stats thread's state between two events.
struct Monitor {
    f: Feeds,
    stats: Stats,
    roster: Roster,
    /// The counters at the last periodic table, and when it and the last timeline point were.
    prev: Vec<u64>,
    last: f64,
    last_mark: f64,
    window: Window,
    next_tick: f64,
    /// The simulated hour of the last server reading, and its wall time.
    read_hour: f64,
    read_at: f64,
}

impl Monitor {
    fn new(f: Feeds) -> Monitor {
        let bands: Vec<usize> = f.plan.kinds.iter().map(|k| k.bands.len()).collect();
        let mut stats = Stats::new(f.plan.users.len(), &bands);
        stats.set_personas(&f.plan.users.iter().map(|u| u.persona.clone()).collect::<Vec<_>>());
        let roster = f.plan.roster();
        let read_hour = (f.clock.map.sim_at(0.0) / 3600.0).floor();
        Monitor {
            f,
            stats,
            roster,
            prev: Vec::new(),
            last: 0.0,
            last_mark: 0.0,
            window: Window::default(),
            next_tick: 0.0,
            read_hour,
            read_at: 0.0,
        }
    }

    fn run(mut self) -> Stats {
        loop {
            self.hourly_reading();
            let wait = self.wait();
            match self.f.rx.recv_timeout(Duration::from_secs_f64(wait)) {
                Ok(ev) => {
                    log_event(&self.f.plan, &self.roster, &ev);
                    if let (Some(log), Event::Finished(r)) = (self.f.ops_log.as_mut(), &ev) {
                        log.write(&self.roster, &self.f.clock.map, r);
                    }
                    self.stats.apply(&ev);
                }
                Err(RecvTimeoutError::Timeout) if self.f.clock.elapsed() < self.last + self.every() => {
                    let now = self.f.clock.elapsed();
                    if now >= self.last_mark + self.f.timeline_every.as_secs_f64() {
                        self.stats.mark(now, self.f.clock.map.sim_at(now));
                        self.last_mark = now;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.table(),
                Err(RecvTimeoutError::Disconnected) => {
                    if let Some(log) = self.f.ops_log.as_mut() {
                        log.flush();
                    }
                    let now = self.f.clock.elapsed();
                    self.stats.mark(now, self.f.clock.map.sim_at(now));
                    if let Some((live, _)) = &self.f.live {
                        live.finish();
                    }
                    return self.stats;
                }
            }
        }
    }

    fn every(&self) -> f64 {
        self.f.interval.as_secs_f64()
    }

    /// How long to wait for the next event: until the next table, timeline point, live
    /// tick or simulated hour boundary, whichever comes first. Draws the live status.
    fn wait(&mut self) -> f64 {
        let now = self.f.clock.elapsed();
        let mut wait =
            ((self.last + self.every()).min(self.last_mark + self.f.timeline_every.as_secs_f64()) - now).max(0.0);
        if let Some((live, dispatch_s)) = &self.f.live {
            if now >= self.next_tick {
                let mut screen = crate::output::live::render(
                    &self.roster,
                    &self.f.clock.map,
                    &self.stats,
                    &mut self.window,
                    now,
                    *dispatch_s,
                );
                // The running reconciliation, from the ledger's sums: cheap each tick.
                if let Some(line) = &self.f.extra {
                    if !screen.ends_with('\n') {
                        screen.push('\n');
                    }
                    screen.push_str(&line());
                }
                live.show(screen);
                self.next_tick = now + TICK.as_secs_f64();
            }
            wait = wait.min(self.next_tick - now).max(0.0);
        }
        if self.f.hourly.is_some() {
            // Awake at the next hour boundary even when no event comes.
            let next = self.f.clock.map.wall_at((self.read_hour + 1.0) * 3600.0).max(self.read_at + MIN_READING_GAP_S);
            wait = wait.min((next - now).max(0.0));
        }
        wait
    }

    /// Past a simulated hour boundary: the commands ended so far go to the server reading.
    fn hourly_reading(&mut self) {
        let Some(tx) = &self.f.hourly else { return };
        let now = self.f.clock.elapsed();
        let hour = (self.f.clock.map.sim_at(now) / 3600.0).floor();
        if hour > self.read_hour && now - self.read_at >= MIN_READING_GAP_S {
            (self.read_hour, self.read_at) = (hour, now);
            // Full: the last reading is still under way; this one is skipped.
            let _ = tx.try_send((self.f.clock.map.sim_at(now), self.stats.totals().ops));
        }
    }

    /// The periodic table, and a timeline point.
    fn table(&mut self) {
        let now = self.f.clock.elapsed();
        let fidelity = fidelity::fleet(&self.f.plan, &self.stats);
        let view = tables::View { roster: &self.roster, map: &self.f.clock.map, fidelity: &fidelity };
        let t =
            tables::table(&view, &self.stats, &self.prev, self.last, now, &format!("statistics ({})", self.f.client));
        match &self.f.extra {
            Some(line) => info!(target: "stats", "{t}\n{}", line()),
            None => info!(target: "stats", "{t}"),
        }
        // Only what the next table subtracts: a copy of every counter map was 1,000
        // users' worth of memory.
        self.prev = self.stats.users.iter().map(|c| c.started).collect();
        if let Some(log) = self.f.ops_log.as_mut() {
            log.flush();
        }
        self.stats.mark(now, self.f.clock.map.sim_at(now));
        self.last = now;
        self.last_mark = now;
    }
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
