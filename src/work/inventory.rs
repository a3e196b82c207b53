//! One user's objects: what this run uploaded and has not deleted yet, with expiry on
//! the simulated clock. Owned by the user's thread alone, so it needs no lock.

use rand::{Rng, RngExt};

#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub id: u64,
    pub key: String,
    pub size: u64,
    pub kind: usize,
    /// Simulated UNIX time at which the janitor deletes it.
    pub expires_at: f64,
    /// The upload timed out: the object may or may not exist. Never downloaded, but
    /// deleted at expiry and at cleanup all the same.
    pub uncertain: bool,
    /// Downloads of it now running; it is not deleted while any are.
    pub readers: u32,
}

#[derive(Debug, Default)]
pub struct Inventory {
    objects: Vec<Object>,
    next_id: u64,
}

impl Inventory {
    pub fn add(&mut self, mut key: String, size: u64, kind: usize, expires_at: f64, uncertain: bool) -> u64 {
        // A key is kept until its TTL (hours, tens of thousands of them): not the spare
        // capacity `format!` left behind.
        key.shrink_to_fit();
        let id = self.next_id;
        self.next_id += 1;
        self.objects.push(Object { id, key, size, kind, expires_at, uncertain, readers: 0 });
        id
    }

    /// Puts back an object whose delete failed, to be tried again at `retry_at`.
    pub fn restore(&mut self, mut obj: Object, retry_at: f64) {
        obj.expires_at = retry_at;
        obj.readers = 0;
        self.objects.push(obj);
    }

    /// Objects a download may read (certain ones).
    pub fn live(&self) -> usize {
        self.objects.iter().filter(|o| !o.uncertain).count()
    }

    /// Picks a certain object at random and marks it as being read.
    pub fn checkout<R: Rng>(&mut self, rng: &mut R) -> Option<Object> {
        let n = self.live();
        if n == 0 {
            return None;
        }
        let nth = rng.random_range(0..n);
        let obj = self.objects.iter_mut().filter(|o| !o.uncertain).nth(nth)?;
        obj.readers += 1;
        Some(obj.clone())
    }

    pub fn checkin(&mut self, id: u64) {
        if let Some(o) = self.objects.iter_mut().find(|o| o.id == id) {
            o.readers = o.readers.saturating_sub(1);
        }
    }

    /// Removes and returns objects expired at `sim_now` that nobody is reading.
    pub fn take_expired(&mut self, sim_now: f64, limit: usize) -> Vec<Object> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.objects.len() && out.len() < limit {
            let o = &self.objects[i];
            if o.expires_at <= sim_now && o.readers == 0 {
                out.push(self.objects.swap_remove(i));
            } else {
                i += 1;
            }
        }
        out
    }

    /// The earliest expiry, to know how long the worker may sleep.
    pub fn next_expiry(&self) -> Option<f64> {
        self.objects.iter().map(|o| o.expires_at).reduce(f64::min)
    }

    /// Everything left, for `--cleanup` (objects still being read are included: by then
    /// every download has finished).
    pub fn drain_all(&mut self) -> Vec<Object> {
        std::mem::take(&mut self.objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn expired_objects_leave_and_live_ones_stay() {
        let mut inv = Inventory::default();
        inv.add("a".into(), 1, 0, 100.0, false);
        inv.add("b".into(), 1, 0, 200.0, false);
        inv.add("c".into(), 1, 0, 150.0, true);
        assert_eq!(inv.next_expiry(), Some(100.0));
        let gone: Vec<String> = inv.take_expired(160.0, 10).into_iter().map(|o| o.key).collect();
        assert_eq!(gone.len(), 2);
        assert!(gone.contains(&"a".to_string()) && gone.contains(&"c".to_string()));
        assert_eq!(inv.drain_all().len(), 1);
    }

    #[test]
    fn an_object_being_downloaded_is_not_deleted_until_checked_in() {
        let mut inv = Inventory::default();
        inv.add("a".into(), 1, 0, 100.0, false);
        let mut rng = SmallRng::seed_from_u64(1);
        let o = inv.checkout(&mut rng).unwrap();
        assert!(inv.take_expired(1e9, 10).is_empty());
        inv.checkin(o.id);
        assert_eq!(inv.take_expired(1e9, 10).len(), 1);
    }

    #[test]
    fn uncertain_uploads_are_never_downloaded() {
        let mut inv = Inventory::default();
        inv.add("maybe".into(), 1, 0, 100.0, true);
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(inv.checkout(&mut rng), None);
        assert_eq!(inv.live(), 0);
        assert_eq!(inv.drain_all().len(), 1);
    }

    #[test]
    fn failed_deletes_come_back_later() {
        let mut inv = Inventory::default();
        inv.add("a".into(), 1, 0, 100.0, false);
        let o = inv.take_expired(100.0, 10).pop().unwrap();
        inv.restore(o, 130.0);
        assert!(inv.take_expired(120.0, 10).is_empty());
        assert_eq!(inv.take_expired(130.0, 10).len(), 1);
    }
}
