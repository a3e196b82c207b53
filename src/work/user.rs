//! One user's OS thread: decides *when* (open-loop arrivals at the user's target rate)
//! and *what* (the slot's draw from the profile's mix), and hands each operation to the
//! runtime without waiting for it. Completions come back on a channel to update the
//! inventory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::config::plan::Arrivals;
use crate::config::schedule;
use crate::model::events::{DeleteReason, Event, FailClass, OpRecord, OpType, Shortfall, ShortfallCounts};
use crate::work::fleet::{Decider, Fleet, Permit};
use crate::work::inventory::{Inventory, Object};
use crate::work::ops;
use crate::work::workload::{self, FileChoice, Mix, SlotDraw};

/// Failures in a row after which a user re-ensures its bucket (the server may have
/// been restarted empty).
const REENSURE_AFTER: u32 = 3;
const REENSURE_EVERY: Duration = Duration::from_secs(5);
/// Wall seconds before a failed TTL delete is tried again.
const DELETE_RETRY: f64 = 5.0;
/// The longest the loop sleeps without looking at the stop flag. A stop also wakes
/// every worker at once (`Decider::stop`), so this only bounds a missed wake-up; with
/// 1,000 users, a 0.2 s poll cost 8 % of a core in wake-ups alone.
const POLL: f64 = 2.0;
/// The shortest sleep between loop turns, in seconds.
const MIN_SLEEP: f64 = 0.001;
/// The largest file in a synced folder.
const SYNC_MAX_FILE: u64 = 256 * 1024;

/// A finished operation, as the worker needs to know it.
enum Done {
    Upload {
        key: String,
        size: u64,
        kind: usize,
        result: Result<(), FailClass>,
        local: PathBuf,
        ext: String,
    },
    /// A read of a live object (download, head-object, presign) ended.
    Read {
        id: u64,
        local: Option<PathBuf>,
        ok: bool,
    },
    /// An expected failure ended; its local name (if any) is free again.
    Expected {
        local: Option<PathBuf>,
    },
    Delete {
        obj: Object,
        ok: bool,
    },
    /// Synced objects now stored (or possibly stored, when the sync did not succeed).
    Sync {
        stored: Vec<(String, u64)>,
        kind: usize,
        ok: bool,
    },
    /// ls, du, mb+rb: nothing to track.
    Other {
        ok: bool,
    },
    Ensure,
    /// The run stopped: look at the stop flag now rather than at the next poll.
    Wake,
}

pub struct Worker {
    fleet: Arc<Fleet>,
    idx: usize,
    /// Slot decisions: drawn a fixed number of times per slot, so a seed reproduces the
    /// sequence of operations whatever the server does.
    rng: SmallRng,
    /// Choices that depend on timing (which live object to read, whether to confirm a
    /// delete) draw from their own stream so they cannot shift the slot sequence.
    aux: SmallRng,
    mix: Mix,
    inv: Inventory,
    in_flight: u32,
    seq: u64,
    /// 1, or N when N shards split this user's rate (see `shard::key_sequence`).
    seq_step: u64,
    dir: PathBuf,
    /// Emptied local files free for reuse, by extension ("" for downloads).
    spare: HashMap<String, Vec<PathBuf>>,
    done_tx: Sender<Done>,
    done_rx: Receiver<Done>,
    failures_in_a_row: u32,
    /// Slots short since the last report, by reason.
    short: ShortfallCounts,
    /// Reads that found no object and uploaded instead; made up once objects exist, so
    /// the achieved mix still matches the profile.
    owed: Vec<OpType>,
    ensuring: bool,
    last_ensure: Option<Instant>,
    /// Under `ab`: the build of the operation being started, and how they are dealt.
    build: crate::work::ab::Build,
    assigner: crate::work::ab::Assigner,
}

/// What a worker leaves behind: objects still in the bucket, for `--cleanup`.
pub struct WorkerEnd {
    pub user: usize,
    pub objects: Vec<Object>,
}

/// An operation that needs a live object to act on.
fn reads_an_object(op: OpType) -> bool {
    matches!(op, OpType::Download | OpType::HeadObject | OpType::Presign)
}

impl Worker {
    pub fn new(fleet: Arc<Fleet>, idx: usize, dir: PathBuf) -> Worker {
        let plan = &fleet.decider.plan;
        // Each user gets its own streams from the run seed, so adding or removing a user
        // does not change what the others do.
        let stream = fleet.decider.seed ^ (plan.users[idx].stream as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let rng = SmallRng::seed_from_u64(stream);
        let mix = Mix::new(plan, &plan.users[idx]);
        let (seq, seq_step) = crate::config::shard::key_sequence(plan.shard);
        let (done_tx, done_rx) = mpsc::channel();
        let waker = done_tx.clone();
        fleet.decider.on_stop(Box::new(move || {
            let _ = waker.send(Done::Wake);
        }));
        Worker {
            rng,
            aux: SmallRng::seed_from_u64(stream.rotate_left(17) ^ 0xA5A5_A5A5),
            fleet,
            idx,
            mix,
            inv: Inventory::default(),
            in_flight: 0,
            seq,
            seq_step,
            dir,
            spare: HashMap::new(),
            done_tx,
            done_rx,
            failures_in_a_row: 0,
            short: ShortfallCounts::default(),
            owed: Vec::new(),
            ensuring: false,
            last_ensure: None,
            build: crate::work::ab::Build::A,
            assigner: crate::work::ab::Assigner::default(),
        }
    }

    fn next_after(&mut self, t: f64) -> Option<f64> {
        let plan = &self.fleet.decider.plan;
        let user = &plan.users[self.idx];
        // The budget is the gap measured in "expected arrivals": Exp(1) for Poisson,
        // exactly 1 for uniform spacing (whose first slot is at a random phase).
        let budget = match plan.rates.arrivals {
            Arrivals::Poisson => -(1.0 - self.rng.random::<f64>()).ln(),
            Arrivals::Uniform if t == 0.0 => self.rng.random::<f64>(),
            Arrivals::Uniform => 1.0,
        };
        schedule::next_arrival(&self.fleet.decider.clock.map, |h| plan.user_rate(user, h), t, budget)
    }

    pub fn run(mut self) -> WorkerEnd {
        let map = self.fleet.decider.clock.map;
        let mut next = self.next_after(0.0);
        while self.fleet.decider.is_running() {
            let now = self.fleet.decider.clock.elapsed();
            self.expire(map.sim_at(now));
            while let Some(at) = next.filter(|at| *at <= now) {
                self.arrival(at, now);
                next = self.next_after(at);
                // Rates are bounded, but a stop must never wait for a backlog.
                if !self.fleet.decider.is_running() {
                    break;
                }
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
            let wait = Duration::from_secs_f64((wake - self.fleet.decider.clock.elapsed()).max(MIN_SLEEP));
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
        self.short.add(reason);
    }

    fn flush_shortfall(&mut self) {
        for (reason, count) in std::mem::take(&mut self.short).iter() {
            if count > 0 {
                self.fleet.reporter.send(Event::Shortfall { user: self.idx, reason, count });
            }
        }
    }

    /// One scheduled slot: start an operation now, or count why it could not start.
    fn arrival(&mut self, at: f64, now: f64) {
        let plan = self.fleet.decider.plan.clone();
        // Drawn before the caps are looked at, so a shortfall does not shift later slots.
        let draw = self.mix.draw(&plan.kinds, plan.users[self.idx].subfolders.len(), &mut self.rng);
        self.seq += self.seq_step;
        // Too late to be the schedule (trafficgen was stopped or starved): never started,
        // so a backlog cannot become a burst.
        let rate = plan.user_rate(&plan.users[self.idx], self.fleet.decider.clock.map.hour_at(at));
        if schedule::is_late(at, now, rate) {
            return self.shortfall(Shortfall::Late);
        }
        if !self.fleet.decider.host.admits() {
            return self.shortfall(Shortfall::Host);
        }
        if self.in_flight >= plan.limits.max_in_flight_per_user {
            return self.shortfall(Shortfall::UserCap);
        }
        // Uploads and syncs store objects: with the journal failed, none may start
        // (nothing could find them after a crash).
        let stores = matches!(draw.op, None | Some(OpType::Sync))
            || (draw.op.is_some_and(reads_an_object) && self.inv.live() == 0);
        if stores && self.fleet.reporter.journal_failed() {
            return self.shortfall(Shortfall::Journal);
        }
        let Some(permit) = self.fleet.decider.gate.try_slot() else {
            return self.shortfall(Shortfall::GlobalCap);
        };
        let lag = Duration::from_secs_f64((now - at).max(0.0));
        let mut op = draw.op;
        match op {
            Some(o) if reads_an_object(o) && self.inv.live() == 0 => {
                // Nothing to read yet: upload instead, and owe the read.
                self.fleet.reporter.send(Event::NoObject { user: self.idx, op: o });
                self.owed.push(o);
                op = None;
            }
            None if self.inv.live() > 0 && !self.owed.is_empty() => op = self.owed.pop(),
            _ => {}
        }
        match op {
            None => self.start_upload(permit, draw, at, lag),
            Some(o) if reads_an_object(o) => {
                let obj = self.inv.checkout(&mut self.aux).expect("checked above: a live object exists");
                self.start_read(permit, o, obj, lag);
            }
            Some(o) if o.is_expected_failure() => self.start_expected(permit, o, &draw, at, lag),
            Some(OpType::Sync) => self.start_sync(permit, &draw, at, lag),
            Some(o) => self.start_other(permit, o, lag),
        }
    }

    fn start_upload(&mut self, mut permit: Permit, draw: SlotDraw, at: f64, lag: Duration) {
        let plan = self.fleet.decider.plan.clone();
        let file = draw.file.clone();
        if !self.fleet.decider.gate.try_memory(&mut permit, file.size) {
            return self.shortfall(Shortfall::Memory);
        }
        if plan.limits.min_free_disk > 0 {
            let free = fs4::available_space(&self.dir).unwrap_or(u64::MAX);
            if free < plan.limits.min_free_disk.saturating_add(file.size) {
                return self.shortfall(Shortfall::Disk);
            }
        }
        self.started(OpType::Upload, Some(lag), Some(&file));
        let key = self.new_key(&draw, &plan.kinds[file.kind].name, &file.ext, at);
        let local = self.local_path("up", &file.ext);
        let confirm = draw.confirm;
        self.spawn_op(permit, move |fleet, idx| async move {
            let recs = ops::upload(&fleet.runner, &fleet.reporter, idx, &key, &file, &local, confirm).await;
            let result = recs[0].result;
            let done = Done::Upload { key, size: file.size, kind: file.kind, result, local, ext: file.ext };
            (recs, done)
        });
    }

    /// Runs one operation on the runtime without waiting for it. The permit is held
    /// until its commands have ended; then the stats thread and this worker hear of it.
    fn spawn_op<F, Fut>(&self, permit: Permit, op: F)
    where
        F: FnOnce(Arc<Fleet>, usize) -> Fut + Send + 'static,
        Fut: Future<Output = (Vec<OpRecord>, Done)> + Send + 'static,
    {
        let fleet = self.fleet.clone();
        let tx = self.done_tx.clone();
        let idx = self.idx;
        let seq = self.seq;
        let build = self.build;
        self.fleet.runner.spawn(async move {
            let (recs, done) = crate::work::ab::scope(build, op(fleet.clone(), idx)).await;
            drop(permit);
            if let Some(ab) = &fleet.decider.ab {
                ab.record(build, &recs);
            }
            for mut rec in recs {
                rec.seq = seq;
                fleet.reporter.send(Event::Finished(Box::new(rec)));
            }
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

    /// A fresh key under one of the user's subfolders, stamped with the slot's simulated
    /// time (not the moment it ran, so a seed reproduces its keys).
    fn new_key(&self, draw: &SlotDraw, kind: &str, ext: &str, at: f64) -> String {
        let plan = &self.fleet.decider.plan;
        let user = &plan.users[self.idx];
        let sim = self.fleet.decider.clock.map.sim_at(at);
        let mut fill = SmallRng::seed_from_u64(draw.fill);
        let mut sub = workload::fill_template(&user.subfolders[draw.template], plan, sim, &mut fill);
        if self.fleet.decider.ab.is_some() {
            sub.insert_str(0, self.build.key_prefix());
        }
        workload::object_key(&sub, &user.id, kind, (sim * 1000.0) as u64, self.seq, ext)
    }

    fn start_read(&mut self, permit: Permit, op: OpType, obj: Object, lag: Duration) {
        let local = (op != OpType::HeadObject).then(|| self.local_path("down", ""));
        self.started(op, Some(lag), None);
        self.spawn_op(permit, move |fleet, idx| async move {
            let rec = match (op, &local) {
                (OpType::Download, Some(l)) => ops::download(&fleet.runner, idx, &obj, l).await,
                (OpType::Presign, Some(l)) => ops::presign(&fleet.runner, idx, &obj, l).await,
                _ => ops::head_object(&fleet.runner, idx, &obj).await,
            };
            let ok = rec.result.is_ok();
            (vec![rec], Done::Read { id: obj.id, local, ok })
        });
    }

    fn start_expected(&mut self, permit: Permit, op: OpType, draw: &SlotDraw, at: f64, lag: Duration) {
        self.started(op, Some(lag), None);
        let key = self.new_key(draw, "missing", ".bin", at);
        // A missing local file must stay missing: give it a name no other file uses.
        let local = match op {
            OpType::MissingLocalUpload => self.dir.join(format!("absent-{}.bin", self.seq)),
            _ => self.local_path("down", ""),
        };
        let reusable = op != OpType::MissingLocalUpload;
        self.spawn_op(permit, move |fleet, idx| async move {
            let rec = ops::expected_failure(&fleet.runner, idx, op, &key, &local).await;
            (vec![rec], Done::Expected { local: reusable.then_some(local) })
        });
    }

    fn start_sync(&mut self, permit: Permit, draw: &SlotDraw, at: f64, lag: Duration) {
        let plan = self.fleet.decider.plan.clone();
        let f = &draw.file;
        let kind_name = &plan.kinds[f.kind].name;
        self.started(OpType::Sync, Some(lag), None);
        // The prefix is a key-shaped folder: `{subfolder}/{user}_sync_{millis}_{seq}.tg{hash}/`.
        let prefix = format!("{}/", self.new_key(draw, "sync", "", at));
        let user = &plan.users[self.idx].id;
        let files: Vec<ops::SyncFile> = (0..crate::model::events::SYNC_FILES)
            .map(|i| {
                // Sizes differ per file but derive from the slot's draw alone.
                let size = (f.size.min(SYNC_MAX_FILE) / (i as u64 + 1)).max(1);
                // Each file's key carries trafficgen's mark, like an upload's.
                let key = crate::model::keytag::tag(&format!("{prefix}{user}_{kind_name}_{}_{i}", self.seq), &f.ext);
                ops::SyncFile { name: key[prefix.len()..].to_string(), ext: f.ext.clone(), size }
            })
            .collect();
        let dir = self.dir.join(format!("sync-{}", self.seq));
        let kind = f.kind;
        self.spawn_op(permit, move |fleet, idx| async move {
            let (recs, stored) = ops::sync(&fleet.runner, &fleet.reporter, idx, &dir, &prefix, &files).await;
            // A sync that did not succeed, or whose listing failed (nothing confirmed),
            // may still have stored files: track them all as uncertain so they are
            // deleted in due course.
            let ok = recs[0].result.is_ok() && !stored.is_empty();
            let stored =
                if ok { stored } else { files.iter().map(|f| (format!("{prefix}{}", f.name), f.size)).collect() };
            (recs, Done::Sync { stored, kind, ok })
        });
    }

    /// ls, du, and mb+rb of a scratch bucket.
    fn start_other(&mut self, permit: Permit, op: OpType, lag: Duration) {
        let scratch = self.fleet.runner.scratch_bucket(self.idx, self.seq);
        self.started(op, Some(lag), None);
        self.spawn_op(permit, move |fleet, idx| async move {
            let recs = match op {
                OpType::List => vec![ops::list(&fleet.runner, idx).await],
                OpType::Du => vec![ops::du(&fleet.runner, idx).await],
                _ => ops::bucket_cycle(&fleet.runner, idx, &scratch).await,
            };
            let ok = recs.iter().all(|r| r.result.is_ok());
            (recs, Done::Other { ok })
        });
    }

    /// The janitor: deletes expired objects. Deletes need a global slot but are tried
    /// before new arrivals, so a busy fleet still keeps its buckets small; they may hold
    /// no more than their share of the slots (`Gate::delete_share`) and wait, as
    /// arrivals do, while the host guard holds new work back, so a backlog of expiries
    /// cannot stop the users' traffic (objects left overdue are counted at the end).
    fn expire(&mut self, sim_now: f64) {
        while self.fleet.decider.host.admits() {
            let Some(permit) = self.fleet.decider.gate.try_delete_slot() else { return };
            let Some(obj) = self.inv.take_expired(sim_now, 1).pop() else { return };
            let confirm = self.mix.confirm_delete(&mut self.aux);
            self.started(OpType::Delete, None, None);
            self.spawn_op(permit, move |fleet, idx| async move {
                let recs = ops::delete(&fleet.runner, &fleet.reporter, idx, &obj, DeleteReason::Ttl, confirm).await;
                let ok = recs[0].result.is_ok();
                (recs, Done::Delete { obj, ok })
            });
        }
    }

    /// Counts an operation as started and, under `ab`, deals it to a build (before its
    /// key is made: the key carries the build).
    fn started(&mut self, op: OpType, lag: Option<Duration>, file: Option<&FileChoice>) {
        if let Some(ab) = &self.fleet.decider.ab {
            self.build = ab.deal(&mut self.assigner, self.idx, op);
        }
        self.in_flight += 1;
        let upload = file.map(|f| (f.kind, f.band));
        self.fleet.reporter.send(Event::Started { user: self.idx, op, lag, upload });
    }

    fn free_local(&mut self, ext: String, local: Option<PathBuf>) {
        if let Some(l) = local {
            self.spare.entry(ext).or_default().push(l);
        }
    }

    fn apply(&mut self, done: Done) {
        let ttl_from_now = |d: &Decider, size: u64| d.clock.sim_now() + d.plan.lifecycle.ttl_for(size).as_secs_f64();
        let failed = match done {
            Done::Ensure => {
                self.ensuring = false;
                return;
            }
            Done::Wake => return,
            Done::Upload { key, size, kind, result, local, ext } => {
                self.free_local(ext, Some(local));
                let expires = ttl_from_now(&self.fleet.decider, size);
                match result {
                    Ok(()) => {
                        self.inv.add(key, size, kind, expires, false);
                    }
                    // Killed mid-upload, or the server disagrees with the client: the
                    // object may exist; delete it in due course.
                    Err(FailClass::TimedOut | FailClass::Cancelled | FailClass::PhantomUpload) => {
                        self.inv.add(key, size, kind, expires, true);
                    }
                    Err(_) => {}
                }
                result.is_err()
            }
            Done::Read { id, local, ok } => {
                self.free_local(String::new(), local);
                self.inv.checkin(id);
                !ok
            }
            // An expected failure's failure is its success; it says nothing about the bucket.
            Done::Expected { local } => {
                self.free_local(String::new(), local);
                false
            }
            Done::Delete { obj, ok } => {
                if !ok {
                    let retry = self.fleet.decider.clock.map.sim_at(self.fleet.decider.clock.elapsed() + DELETE_RETRY);
                    self.inv.restore(obj, retry);
                }
                !ok
            }
            Done::Sync { stored, kind, ok } => {
                for (key, size) in stored {
                    let expires = ttl_from_now(&self.fleet.decider, size);
                    self.inv.add(key, size, kind, expires, !ok);
                }
                !ok
            }
            Done::Other { ok } => !ok,
        };
        self.in_flight -= 1;
        self.failures_in_a_row = if failed { self.failures_in_a_row + 1 } else { 0 };
        if self.failures_in_a_row >= REENSURE_AFTER && self.fleet.decider.is_running() {
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
        self.fleet.runner.spawn(async move {
            let result = ops::ensure_bucket(&fleet.runner.client, fleet.runner.bucket(idx)).await;
            fleet.reporter.send(Event::BucketEnsured {
                user: idx,
                ok: result.is_ok(),
                error: result.err().map(|e| e.0),
            });
            let _ = tx.send(Done::Ensure);
        });
    }
}
