//! What every worker shares: the plan, the clock, the client, the runtime that waits
//! on children, the event channel, and the global caps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::Sender;

use crate::config::plan::Plan;
use crate::exec::client::Client;
use crate::model::clock::Clock;
use crate::model::events::Event;

pub struct Fleet {
    pub plan: Arc<Plan>,
    pub clock: Clock,
    pub client: Arc<Client>,
    /// Children are awaited on this runtime; user threads only schedule.
    pub rt: tokio::runtime::Handle,
    pub events: Sender<Event>,
    pub gate: Arc<Gate>,
    /// Cleared when the run should stop starting operations.
    pub running: AtomicBool,
    pub seed: u64,
    /// A bucket name that no one creates, for the missing-bucket expected failures.
    pub missing_bucket: String,
    /// Scratch buckets for mb+rb are named `{scratch_prefix}-{user}-{seq}`.
    pub scratch_prefix: String,
    /// Whether this machine is saturated (new slots are then held back).
    pub host: Arc<crate::work::host::Host>,
    /// The crash-safe record of every object this run may store.
    pub journal: crate::work::state::Journal,
    pub run_id: String,
    /// Under `ab`: the second build and where each command's sample goes.
    pub ab: Option<Arc<crate::work::ab::Split>>,
    /// Wakes each worker when the run stops (see `wake_all`).
    pub wakers: std::sync::Mutex<Vec<Box<dyn Fn() + Send>>>,
}

impl Fleet {
    /// Records an object before its upload starts (fsynced), with its TTL on the wall
    /// clock, so a later run can delete it on time even after a crash. An error means
    /// the journal failed: the upload must not start.
    pub async fn journal_put(&self, user: usize, key: &str, size: u64) -> Result<(), String> {
        let ttl = self.plan.lifecycle.ttl_for(size).as_secs_f64() / self.clock.map.scale;
        let e = crate::work::state::Entry {
            run: self.run_id.clone(),
            bucket: self.plan.users[user].bucket.clone(),
            key: key.to_string(),
            size,
            expires_unix: crate::model::clock::unix_now() + ttl,
        };
        self.journal.put(e).await
    }
}

impl Fleet {
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

    pub fn send(&self, ev: Event) {
        // The stats thread outlives every sender; a send can only fail during an abort.
        let _ = self.events.send(ev);
    }
}

/// Global in-flight cap and upload memory budget. Permits release on drop, so an
/// operation gives back what it took however it ends.
pub struct Gate {
    in_flight: AtomicU32,
    max_in_flight: u32,
    memory: AtomicU64,
    memory_budget: u64,
}

pub struct Permit {
    gate: Arc<Gate>,
    memory: u64,
}

impl Gate {
    pub fn new(max_in_flight: u32, memory_budget: u64) -> Arc<Gate> {
        Arc::new(Gate { in_flight: AtomicU32::new(0), max_in_flight, memory: AtomicU64::new(0), memory_budget })
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Takes one in-flight slot if the cap allows.
    pub fn try_slot(self: &Arc<Self>) -> Option<Permit> {
        self.in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < self.max_in_flight).then_some(n + 1))
            .ok()
            .map(|_| Permit { gate: self.clone(), memory: 0 })
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
