//! One user's OS thread: decides *when* (open-loop arrivals at the user's target rate)
//! and *what* (upload, download, TTL delete), and hands each operation to the runtime
//! without waiting for it. Completions come back on a channel to update the inventory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::events::{DeleteReason, Event, FailClass, OpRecord, OpType, Shortfall};
use crate::fleet::{Fleet, Permit};
use crate::inventory::{Inventory, Object};
use crate::ops;
use crate::plan::Arrivals;
use crate::schedule;
use crate::workload::{self, Mix};

/// Failures in a row after which a user re-ensures its bucket (the server may have
/// been restarted empty).
const REENSURE_AFTER: u32 = 3;
const REENSURE_EVERY: Duration = Duration::from_secs(5);
/// Wall seconds before a failed TTL delete is tried again.
const DELETE_RETRY: f64 = 5.0;
/// The longest the loop sleeps without looking at the stop flag.
const POLL: f64 = 0.2;
/// The shortest sleep between loop turns, in seconds.
const MIN_SLEEP: f64 = 0.001;

/// A finished operation, as the worker needs to know it.
enum Done {
    Upload { key: String, size: u64, kind: usize, result: Result<(), FailClass>, local: PathBuf, ext: String },
    Download { id: u64, local: PathBuf },
    Probe { local: PathBuf },
    Delete { obj: Object, ok: bool },
    Ensure,
}

pub struct Worker {
    fleet: Arc<Fleet>,
    idx: usize,
    rng: SmallRng,
    mix: Mix,
    inv: Inventory,
    in_flight: u32,
    seq: u64,
    dir: PathBuf,
    /// Emptied local files free for reuse, by extension ("" for downloads).
    spare: HashMap<String, Vec<PathBuf>>,
    done_tx: Sender<Done>,
    done_rx: Receiver<Done>,
    failures_in_a_row: u32,
    short: [u64; 4],
    ensuring: bool,
    last_ensure: Option<Instant>,
}

/// What a worker leaves behind: objects still in the bucket, for `--cleanup`.
pub struct WorkerEnd {
    pub user: usize,
    pub objects: Vec<Object>,
}

impl Worker {
    pub fn new(fleet: Arc<Fleet>, idx: usize, dir: PathBuf) -> Worker {
        let plan = &fleet.plan;
        let mix = Mix::new(plan, &plan.users[idx]);
        // Each user gets its own stream from the run seed, so adding or removing a user
        // does not change what the others do.
        let rng = SmallRng::seed_from_u64(fleet.seed ^ (idx as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (done_tx, done_rx) = mpsc::channel();
        Worker {
            fleet,
            idx,
            rng,
            mix,
            inv: Inventory::default(),
            in_flight: 0,
            seq: 0,
            dir,
            spare: HashMap::new(),
            done_tx,
            done_rx,
            failures_in_a_row: 0,
            short: [0; 4],
            ensuring: false,
            last_ensure: None,
        }
    }

    fn next_after(&mut self, t: f64) -> Option<f64> {
        let plan = &self.fleet.plan;
        let user = &plan.users[self.idx];
        // The budget is the gap measured in "expected arrivals": Exp(1) for Poisson,
        // exactly 1 for uniform spacing (whose first slot is at a random phase).
        let budget = match plan.rates.arrivals {
            Arrivals::Poisson => -(1.0 - self.rng.random::<f64>()).ln(),
            Arrivals::Uniform if t == 0.0 => self.rng.random::<f64>(),
            Arrivals::Uniform => 1.0,
        };
        schedule::next_arrival(&self.fleet.clock.map, |h| plan.user_rate(user, h), t, budget)
    }

    pub fn run(mut self) -> WorkerEnd {
        let map = self.fleet.clock.map;
        let mut next = self.next_after(0.0);
        while self.fleet.is_running() {
            let now = self.fleet.clock.elapsed();
            self.expire(map.sim_at(now));
            while let Some(at) = next.filter(|at| *at <= now) {
                self.arrival(at, now);
                next = self.next_after(at);
            }
            self.flush_shortfall();
            // Wake at most once a millisecond: arrivals closer than that start together
            // (their lateness is measured as start lag), so an extreme rate cannot turn
            // the loop into a spin.
            let mut wake = now + POLL;
            if let Some(at) = next {
                wake = wake.min(at);
            }
            if let Some(exp) = self.inv.next_expiry() {
                // Expired but blocked (cap full, being read): look again shortly.
                wake = wake.min(map.wall_at(exp).max(now + 0.05));
            }
            let wait = Duration::from_secs_f64((wake - self.fleet.clock.elapsed()).max(MIN_SLEEP));
            match self.done_rx.recv_timeout(wait) {
                Ok(d) => {
                    self.apply(d);
                    while let Ok(d) = self.done_rx.try_recv() {
                        self.apply(d);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => unreachable!("the worker holds a sender"),
            }
        }
        // Stopping: start nothing new, collect what is in flight. The run kills what is
        // left after the grace period, so this ends.
        while self.in_flight > 0 || self.ensuring {
            if let Ok(d) = self.done_rx.recv_timeout(Duration::from_millis(100)) {
                self.apply(d);
            }
        }
        WorkerEnd { user: self.idx, objects: self.inv.drain_all() }
    }

    /// Counted here and reported once per loop turn: at saturation most slots fall
    /// short, and an event each would cost more than the slot itself.
    fn shortfall(&mut self, reason: Shortfall) {
        self.short[reason as usize] += 1;
    }

    fn flush_shortfall(&mut self) {
        for reason in Shortfall::ALL {
            let count = std::mem::take(&mut self.short[reason as usize]);
            if count > 0 {
                self.fleet.send(Event::Shortfall { user: self.idx, reason, count });
            }
        }
    }

    /// One scheduled slot: start an operation now, or count why it could not start.
    fn arrival(&mut self, at: f64, now: f64) {
        let plan = self.fleet.plan.clone();
        if self.in_flight >= plan.limits.max_in_flight_per_user {
            return self.shortfall(Shortfall::UserCap);
        }
        let Some(mut permit) = self.fleet.gate.try_slot() else {
            return self.shortfall(Shortfall::GlobalCap);
        };
        let lag = Duration::from_secs_f64((now - at).max(0.0));
        if self.mix.wants_probe(&mut self.rng) {
            return self.start_probe(permit, now, lag);
        }
        // With nothing to download yet, the slot uploads instead.
        if self.mix.wants_download(&mut self.rng)
            && let Some(obj) = self.inv.checkout(&mut self.rng)
        {
            return self.start_download(permit, obj, lag);
        }
        let file = self.mix.pick_file(&plan.kinds, &mut self.rng);
        if !self.fleet.gate.try_memory(&mut permit, file.size) {
            return self.shortfall(Shortfall::Memory);
        }
        if plan.limits.min_free_disk > 0 {
            let free = fs4::available_space(&self.dir).unwrap_or(u64::MAX);
            if free < plan.limits.min_free_disk.saturating_add(file.size) {
                return self.shortfall(Shortfall::Disk);
            }
        }
        let key = self.new_key(&plan.kinds[file.kind].name, &file.ext, now);
        let local = self.local_path("up", &file.ext);
        self.started(OpType::Upload, lag);
        self.spawn_op(permit, move |fleet, idx| async move {
            let rec = ops::upload(&fleet, idx, &key, &file, &local).await;
            let done = Done::Upload { key, size: file.size, kind: file.kind, result: rec.result, local, ext: file.ext };
            (rec, done)
        });
    }

    /// Runs one operation on the runtime without waiting for it. The permit is held
    /// until the command has ended; then the stats thread and this worker hear of it.
    fn spawn_op<F, Fut>(&self, permit: Permit, op: F)
    where
        F: FnOnce(Arc<Fleet>, usize) -> Fut + Send + 'static,
        Fut: Future<Output = (OpRecord, Done)> + Send + 'static,
    {
        let fleet = self.fleet.clone();
        let tx = self.done_tx.clone();
        let idx = self.idx;
        self.fleet.rt.spawn(async move {
            let (rec, done) = op(fleet.clone(), idx).await;
            drop(permit);
            fleet.send(Event::Finished(Box::new(rec)));
            let _ = tx.send(done);
        });
    }

    /// A local file name: an emptied one of this extension if there is one.
    fn local_path(&mut self, prefix: &str, ext: &str) -> PathBuf {
        if let Some(p) = self.spare.get_mut(ext).and_then(|v| v.pop()) {
            return p;
        }
        self.dir.join(format!("{prefix}-{}{ext}", self.seq))
    }

    /// A fresh key under one of the user's subfolders, stamped with the simulated time.
    fn new_key(&mut self, kind: &str, ext: &str, now: f64) -> String {
        let plan = self.fleet.plan.clone();
        let user = &plan.users[self.idx];
        let sim_now = self.fleet.clock.map.sim_at(now);
        let tpl = &user.subfolders[self.rng.random_range(0..user.subfolders.len())];
        let sub = workload::fill_template(tpl, &plan, sim_now, &mut self.rng);
        self.seq += 1;
        workload::object_key(&sub, &user.id, kind, (sim_now * 1000.0) as u64, self.seq, ext)
    }

    fn start_probe(&mut self, permit: Permit, now: f64, lag: Duration) {
        let key = self.new_key("missing", ".bin", now);
        let local = self.local_path("down", "");
        self.started(OpType::Probe, lag);
        self.spawn_op(permit, move |fleet, idx| async move {
            let rec = ops::probe(&fleet, idx, &key, &local).await;
            (rec, Done::Probe { local })
        });
    }

    fn start_download(&mut self, permit: Permit, obj: Object, lag: Duration) {
        self.seq += 1;
        let local = self.local_path("down", "");
        self.started(OpType::Download, lag);
        self.spawn_op(permit, move |fleet, idx| async move {
            let rec = ops::download(&fleet, idx, &obj, &local).await;
            (rec, Done::Download { id: obj.id, local })
        });
    }

    /// The janitor: deletes expired objects. Deletes need a global slot but are tried
    /// before new arrivals, so a busy fleet still keeps its buckets small.
    fn expire(&mut self, sim_now: f64) {
        while let Some(permit) = self.fleet.gate.try_slot() {
            let Some(obj) = self.inv.take_expired(sim_now, 1).pop() else { return };
            self.started(OpType::Delete, Duration::ZERO);
            self.spawn_op(permit, move |fleet, idx| async move {
                let rec = ops::delete(&fleet, idx, &obj, DeleteReason::Ttl).await;
                let ok = rec.result.is_ok();
                (rec, Done::Delete { obj, ok })
            });
        }
    }

    fn started(&mut self, op: OpType, lag: Duration) {
        self.in_flight += 1;
        self.fleet.send(Event::Started { user: self.idx, op, lag });
    }

    fn apply(&mut self, done: Done) {
        let failed = match done {
            Done::Ensure => {
                self.ensuring = false;
                return;
            }
            Done::Upload { key, size, kind, result, local, ext } => {
                self.spare.entry(ext).or_default().push(local);
                let now = self.fleet.clock.sim_now();
                let ttl = self.fleet.plan.lifecycle.ttl_for(size).as_secs_f64();
                match result {
                    Ok(()) => {
                        self.inv.add(key, size, kind, now + ttl, false);
                    }
                    // Killed mid-upload: the object may exist; delete it in due course.
                    Err(FailClass::TimedOut) | Err(FailClass::Cancelled) => {
                        self.inv.add(key, size, kind, now + ttl, true);
                    }
                    Err(_) => {}
                }
                result.is_err()
            }
            Done::Download { id, local } => {
                self.spare.entry(String::new()).or_default().push(local);
                self.inv.checkin(id);
                false
            }
            // A probe's failure is its success; it says nothing about the bucket.
            Done::Probe { local } => {
                self.spare.entry(String::new()).or_default().push(local);
                false
            }
            Done::Delete { obj, ok } => {
                if !ok {
                    let retry = self.fleet.clock.map.sim_at(self.fleet.clock.elapsed() + DELETE_RETRY);
                    self.inv.restore(obj, retry);
                }
                !ok
            }
        };
        self.in_flight -= 1;
        self.failures_in_a_row = if failed { self.failures_in_a_row + 1 } else { 0 };
        if self.failures_in_a_row >= REENSURE_AFTER && self.fleet.is_running() {
            self.maybe_reensure();
        }
    }

    fn maybe_reensure(&mut self) {
        if self.ensuring || self.last_ensure.is_some_and(|t| t.elapsed() < REENSURE_EVERY) {
            return;
        }
        self.ensuring = true;
        self.last_ensure = Some(Instant::now());
        let fleet = self.fleet.clone();
        let tx = self.done_tx.clone();
        let idx = self.idx;
        self.fleet.rt.spawn(async move {
            let result = ops::ensure_bucket(&fleet.client, &fleet.plan.users[idx].bucket).await;
            fleet.send(Event::BucketEnsured { user: idx, ok: result.is_ok(), error: result.err() });
            let _ = tx.send(Done::Ensure);
        });
    }
}
