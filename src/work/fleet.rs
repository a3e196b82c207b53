//! What every worker shares, in three parts so each piece of code sees only what it
//! uses: a `Decider` (whether and when a slot starts: the plan, the clock, the caps,
//! the stop flag, host admission, the `ab` split), a `Runner` (what running one command
//! takes: the client, the runtime that waits on children, the run's bucket names) and
//! a `Reporter` (where results go: the event channel and the crash-safe journal). The
//! operations in `ops` take a `Runner`, and a `Reporter` only when they store or delete.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use crate::config::plan::Plan;
use crate::exec::client::Client;
use crate::model::clock::Clock;
use crate::model::events::Event;
use crate::work::ab::Split;
use crate::work::host::Host;
use crate::work::state::{Entry, Journal, JournalFailed};

/// Everything a fleet is made of, as the run has it at the start.
pub struct Setup {
    pub plan: Arc<Plan>,
    pub clock: Clock,
    pub client: Arc<Client>,
    /// Children are awaited on this runtime; user threads only schedule.
    pub rt: tokio::runtime::Handle,
    pub events: Sender<Event>,
    pub gate: Arc<Gate>,
    pub seed: u64,
    /// A bucket name that no one creates, for the missing-bucket expected failures.
    pub missing_bucket: String,
    /// Scratch buckets for mb+rb are named `{scratch_prefix}-{user}-{seq}`.
    pub scratch_prefix: String,
    /// Whether this machine is saturated (new slots are then held back).
    pub host: Arc<Host>,
    /// The crash-safe record of every object this run may store.
    pub journal: Journal,
    pub run_id: String,
    /// Under `ab`: the second build and where each command's sample goes.
    pub ab: Option<Arc<Split>>,
}

pub struct Fleet {
    pub decider: Decider,
    pub runner: Runner,
    pub reporter: Reporter,
}

impl Fleet {
    /// A running fleet: operations may start until `stop`.
    pub fn new(s: Setup) -> Fleet {
        Fleet {
            decider: Decider {
                plan: s.plan.clone(),
                clock: s.clock,
                seed: s.seed,
                gate: s.gate,
                running: AtomicBool::new(true),
                wakers: Mutex::default(),
                host: s.host.clone(),
                ab: s.ab,
            },
            runner: Runner {
                plan: s.plan,
                clock: s.clock,
                host: s.host,
                client: s.client,
                rt: s.rt,
                missing_bucket: s.missing_bucket,
                scratch_prefix: s.scratch_prefix,
                run_id: s.run_id,
            },
            reporter: Reporter { events: s.events, journal: s.journal },
        }
    }

    /// Stops starting operations and wakes every worker to notice at once.
    pub fn stop(&self) {
        self.decider.stop();
    }
}

/// What a worker needs to decide whether, when and what to start.
pub struct Decider {
    pub plan: Arc<Plan>,
    pub clock: Clock,
    /// The run seed (after sharding): each user's streams derive from it.
    pub(super) seed: u64,
    pub gate: Arc<Gate>,
    /// Cleared when the run should stop starting operations.
    running: AtomicBool,
    /// Wakes each worker when the run stops (see `stop`).
    wakers: Mutex<Vec<Box<dyn Fn() + Send>>>,
    /// Whether this machine is saturated (new slots are then held back).
    pub host: Arc<Host>,
    /// Under `ab`: the second build and where each command's sample goes.
    pub(super) ab: Option<Arc<Split>>,
}

impl Decider {
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    pub fn on_stop(&self, wake: Box<dyn Fn() + Send>) {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner()).push(wake);
    }

    /// Stops starting operations and wakes every worker to notice at once.
    pub fn stop(&self) {
        self.running.store(false, Ordering::SeqCst);
        for wake in self.wakers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            wake();
        }
    }
}

/// What running one command takes. The plan and the clock are the decider's too
/// (shared, read-only): a command needs the user's bucket, the timeouts and the time.
pub struct Runner {
    pub(super) plan: Arc<Plan>,
    pub(super) clock: Clock,
    /// Told when each command starts and ends, to judge the machine by its latency.
    pub(super) host: Arc<Host>,
    pub client: Arc<Client>,
    /// Children are awaited on this runtime; user threads only schedule.
    rt: tokio::runtime::Handle,
    /// A bucket name that no one creates, for the missing-bucket expected failures.
    pub(super) missing_bucket: String,
    /// Scratch buckets for mb+rb are named `{scratch_prefix}-{user}-{seq}`.
    scratch_prefix: String,
    run_id: String,
}

impl Runner {
    /// Runs a task on the runtime without waiting for it.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.rt.spawn(task);
    }

    /// The user's own bucket.
    pub fn bucket(&self, user: usize) -> &str {
        &self.plan.users[user].bucket
    }

    /// A scratch bucket for one mb+rb, unique to the user's slot.
    pub fn scratch_bucket(&self, user: usize, seq: u64) -> String {
        format!("{}-{user}-{seq}", self.scratch_prefix)
    }

    /// The journal's record of an object, with its TTL on the wall clock.
    fn journal_entry(&self, user: usize, key: &str, size: u64) -> Entry {
        let ttl = self.plan.lifecycle.ttl_for(size).as_secs_f64() / self.clock.map.scale;
        Entry {
            run: self.run_id.clone(),
            bucket: self.bucket(user).to_string(),
            key: key.to_string(),
            size,
            expires_unix: crate::model::clock::unix_now() + ttl,
        }
    }
}

/// Where results go: the stats thread's channel and the crash-safe journal.
pub struct Reporter {
    events: Sender<Event>,
    /// The crash-safe record of every object this run may store.
    journal: Journal,
}

impl Reporter {
    pub fn send(&self, ev: Event) {
        // The stats thread outlives every sender; a send can only fail during an abort.
        let _ = self.events.send(ev);
    }

    /// Records an object before its upload starts (fsynced), with its TTL on the wall
    /// clock, so a later run can delete it on time even after a crash. An error means
    /// the journal failed: the upload must not start.
    pub async fn journal_put(&self, runner: &Runner, user: usize, key: &str, size: u64) -> Result<(), JournalFailed> {
        self.journal.put(runner.journal_entry(user, key, size)).await
    }

    /// Marks an object deleted in the journal.
    pub fn journal_del(&self, bucket: &str, key: &str) {
        self.journal.del(bucket, key);
    }

    /// The journal failed: nothing stored from now on could be found after a crash.
    pub fn journal_failed(&self) -> bool {
        self.journal.failed()
    }

    /// The journal's first failure, if any.
    pub fn journal_error(&self) -> Option<String> {
        self.journal.error()
    }
}

/// Global in-flight cap and upload memory budget. Permits release on drop, so an
/// operation gives back what it took however it ends.
pub struct Gate {
    in_flight: AtomicU32,
    max_in_flight: u32,
    /// Of those, TTL deletes (`try_delete_slot`).
    deletes: AtomicU32,
    memory: AtomicU64,
    memory_budget: u64,
}

pub struct Permit {
    gate: Arc<Gate>,
    memory: u64,
    delete: bool,
}

impl Gate {
    pub fn new(max_in_flight: u32, memory_budget: u64) -> Arc<Gate> {
        Arc::new(Gate {
            in_flight: AtomicU32::new(0),
            max_in_flight,
            deletes: AtomicU32::new(0),
            memory: AtomicU64::new(0),
            memory_budget,
        })
    }

    /// The most slots TTL deletes may hold at once: half the cap. Once objects expire
    /// as fast as they are made (a run longer than its TTL), deletes are about as many
    /// as uploads; with no share, the janitors, which run before arrivals, took every
    /// slot a saturated host freed and the users' traffic stopped (measured: 0.6 of
    /// 1,588 ops/min while deletes ran at 680/min).
    pub fn delete_share(&self) -> u32 {
        (self.max_in_flight / 2).max(1)
    }

    /// Takes a slot for a TTL delete if the cap and the deletes' share allow.
    pub fn try_delete_slot(self: &Arc<Self>) -> Option<Permit> {
        let share = self.delete_share();
        self.deletes.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < share).then_some(n + 1)).ok()?;
        match self.try_slot() {
            Some(mut p) => {
                p.delete = true;
                Some(p)
            }
            None => {
                self.deletes.fetch_sub(1, Ordering::SeqCst);
                None
            }
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Takes one in-flight slot if the cap allows.
    pub fn try_slot(self: &Arc<Self>) -> Option<Permit> {
        self.in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < self.max_in_flight).then_some(n + 1))
            .ok()
            .map(|_| Permit { gate: self.clone(), memory: 0, delete: false })
    }

    /// Adds `bytes` of upload memory to a permit if the budget allows.
    pub fn try_memory(&self, permit: &mut Permit, bytes: u64) -> bool {
        let ok = self
            .memory
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                m.checked_add(bytes).filter(|t| *t <= self.memory_budget)
            })
            .is_ok();
        if ok {
            permit.memory += bytes;
        }
        ok
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.gate.memory.fetch_sub(self.memory, Ordering::SeqCst);
        if self.delete {
            self.gate.deletes.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_deletes_hold_at_most_half_the_slots_and_give_theirs_back() {
        let g = Gate::new(4, 100);
        let d1 = g.try_delete_slot().unwrap();
        let _d2 = g.try_delete_slot().unwrap();
        assert!(g.try_delete_slot().is_none(), "a third delete would leave arrivals one slot of four");
        let a = g.try_slot().unwrap();
        let _b = g.try_slot().unwrap();
        assert!(g.try_slot().is_none() && g.try_delete_slot().is_none());
        drop(d1);
        assert_eq!(g.in_flight(), 3);
        let d3 = g.try_delete_slot().expect("a delete's slot came back to the deletes' share");
        drop(a);
        assert!(g.try_delete_slot().is_none(), "the share is full though a slot is free");
        assert!(g.try_slot().is_some());
        drop(d3);
        // A cap of one still lets deletes run.
        assert!(Gate::new(1, 0).try_delete_slot().is_some());
    }

    #[test]
    fn slots_and_memory_are_capped_and_given_back() {
        let g = Gate::new(2, 100);
        let mut a = g.try_slot().unwrap();
        let b = g.try_slot().unwrap();
        assert!(g.try_slot().is_none());
        assert!(g.try_memory(&mut a, 80));
        let mut c_mem = g.try_slot();
        assert!(c_mem.is_none());
        drop(b);
        let mut c = g.try_slot().unwrap();
        assert!(!g.try_memory(&mut c, 30), "80 + 30 exceeds the budget");
        drop(a);
        assert!(g.try_memory(&mut c, 30));
        drop(c);
        assert_eq!(g.in_flight(), 0);
        c_mem.take();
        let mut d = g.try_slot().unwrap();
        assert!(g.try_memory(&mut d, 100));
    }
}
