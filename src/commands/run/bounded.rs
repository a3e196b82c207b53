//! At most N tasks at once on the run's runtime: the bucket checks before traffic, the
//! deletes of earlier runs' objects (and `trafficgen cleanup`'s), and `--cleanup`'s
//! deletes. One place holds the set and its slots, so every bounded batch frees a slot
//! when its task ends, however it ends.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinSet};

pub struct Bounded<T> {
    set: JoinSet<T>,
    slots: Arc<Semaphore>,
    cap: usize,
}

impl<T: Send + 'static> Bounded<T> {
    pub fn new(cap: usize) -> Bounded<T> {
        let cap = cap.max(1);
        Bounded { set: JoinSet::new(), slots: Arc::new(Semaphore::new(cap)), cap }
    }

    /// Waits for a free slot, then starts `task` holding it.
    pub async fn spawn(&mut self, task: impl Future<Output = T> + Send + 'static) {
        // The semaphore is never closed, so the wait ends with a slot.
        let slot = self.slots.clone().acquire_owned().await.ok();
        self.spawn_holding(slot, task);
    }

    /// A free slot now, if there is one (for a caller that weighs more than the slots
    /// before starting a task).
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Starts `task`, which frees `slot` when it ends.
    pub fn spawn_holding(
        &mut self,
        slot: Option<OwnedSemaphorePermit>,
        task: impl Future<Output = T> + Send + 'static,
    ) {
        self.set.spawn(async move {
            let _slot = slot;
            task.await
        });
    }

    /// Tasks started and not yet ended.
    pub fn in_flight(&self) -> usize {
        self.cap - self.slots.available_permits()
    }

    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.set.join_next().await
    }

    /// Every task's result, in the order they ended.
    pub async fn join_all(self) -> Vec<T> {
        self.set.join_all().await
    }
}

/// `task` for every item, at most `cap` at once; the results in the order they ended.
pub async fn each<I, F, Fut, T>(items: I, cap: usize, task: F) -> Vec<T>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut set = Bounded::new(cap);
    for item in items {
        set.spawn(task(item)).await;
    }
    set.join_all().await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn never_more_than_the_cap_at_once_and_every_result_back() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut got = rt.block_on(each(0..40, 3, |i| {
            let (now, most) = (now.clone(), most.clone());
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                i
            }
        }));
        got.sort_unstable();
        assert_eq!(got, (0..40).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 3, "{} at once", most.load(Ordering::SeqCst));
    }

    #[test]
    fn a_held_slot_counts_as_in_flight_until_its_task_ends() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut b: Bounded<()> = Bounded::new(2);
            let slot = b.try_slot();
            assert_eq!(b.in_flight(), 1);
            b.spawn_holding(slot, async {});
            assert!(b.join_next().await.is_some());
            assert_eq!(b.in_flight(), 0);
        });
    }
}
