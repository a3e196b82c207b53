//! State that survives a crash: one run at a time per state directory (a lock), and a
//! journal of every object a run may have created, written and fsynced *before* its
//! upload starts and marked when its delete succeeds. After `kill -9`, the next run on
//! the same state dir (or `trafficgen cleanup`) finds every object that may be left.
//!
//! Layout: `DIR/lock` (held while a run or cleanup works; the pid is written in it) and
//! `DIR/objects.jsonl` (`{"put":…}` and `{"del":…}` lines).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

/// One object a run may have stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub run: String,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Wall-clock UNIX seconds at which its TTL passes.
    pub expires_unix: f64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Line {
    Put(Entry),
    Del { bucket: String, key: String },
}

/// The default state directory: `${XDG_DATA_HOME:-~/.local/share}/trafficgen`.
pub fn default_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("trafficgen")
}

/// A locked state directory.
pub struct State {
    pub dir: PathBuf,
    _lock: File,
}

impl State {
    /// Creates and locks `dir`; a second run gets an error naming the running pid. A
    /// lock of a dead process is released by the kernel with it, so it is simply taken.
    pub fn open(dir: &Path) -> Result<State, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("--state-dir {}: {e}", dir.display()))?;
        let path = dir.join("lock");
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("--state-dir {}: {e}", dir.display()))?;
        if fs4::FileExt::try_lock(&f).is_err() {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(format!(
                "the state dir {} is in use by another trafficgen (pid {}); one run per state dir (use --state-dir)",
                dir.display(),
                pid.trim()
            ));
        }
        let _ = f.set_len(0);
        let _ = write!(f, "{}", std::process::id());
        Ok(State { dir: dir.to_path_buf(), _lock: f })
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("objects.jsonl")
    }

    /// Objects put and not deleted, in journal order.
    pub fn live(&self) -> Vec<Entry> {
        let Ok(f) = File::open(self.journal_path()) else { return Vec::new() };
        let mut live: HashMap<(String, String), (usize, Entry)> = HashMap::new();
        for (n, line) in BufReader::new(f).lines().map_while(Result::ok).enumerate() {
            // A line cut short by a crash is skipped: its upload never started.
            match serde_json::from_str::<Line>(&line) {
                Ok(Line::Put(e)) => {
                    live.insert((e.bucket.clone(), e.key.clone()), (n, e));
                }
                Ok(Line::Del { bucket, key }) => {
                    live.remove(&(bucket, key));
                }
                Err(_) => {}
            }
        }
        let mut v: Vec<(usize, Entry)> = live.into_values().collect();
        v.sort_by_key(|(n, _)| *n);
        v.into_iter().map(|(_, e)| e).collect()
    }

    /// Rewrites the journal with just `live` (atomically), so it does not grow forever.
    /// A `Journal` opened before appends to the file replaced: open one after.
    pub fn compact(&self, live: &[Entry]) -> std::io::Result<()> {
        let tmp = self.dir.join("objects.jsonl.partial");
        let mut f = File::create(&tmp)?;
        for e in live {
            serde_json::to_writer(&mut f, &Line::Put(e.clone()))?;
            f.write_all(b"\n")?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, self.journal_path())
    }

    /// Starts the journal's writer thread.
    pub fn journal(&self) -> std::io::Result<Journal> {
        let mut f = OpenOptions::new().create(true).append(true).open(self.journal_path())?;
        let (tx, rx) = mpsc::channel::<(Line, Option<tokio::sync::oneshot::Sender<()>>)>();
        std::thread::Builder::new().name("journal".into()).spawn(move || {
            // Group commit: everything waiting is written, then one fsync answers all.
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                let mut buf = Vec::new();
                for (line, _) in &batch {
                    if serde_json::to_writer(&mut buf, line).is_ok() {
                        buf.push(b'\n');
                    }
                }
                let _ = f.write_all(&buf);
                if batch.iter().any(|(_, w)| w.is_some()) {
                    let _ = f.sync_data();
                }
                for (_, waiter) in batch {
                    if let Some(w) = waiter {
                        let _ = w.send(());
                    }
                }
            }
            let _ = f.sync_data();
        })?;
        Ok(Journal { tx })
    }
}

/// Appends to the journal from any thread or task.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<(Line, Option<tokio::sync::oneshot::Sender<()>>)>,
}

impl Journal {
    /// Records an object about to be uploaded; returns once it is on disk.
    pub async fn put(&self, e: Entry) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send((Line::Put(e), Some(tx))).is_ok() {
            let _ = rx.await;
        }
    }

    /// Marks an object deleted (no need to wait: a lost mark only means one more
    /// harmless delete later).
    pub fn del(&self, bucket: &str, key: &str) {
        let _ = self.tx.send((Line::Del { bucket: bucket.into(), key: key.into() }, None));
    }
}

/// Removes `trafficgen-*` temp dirs left by runs that died (their owner pid is gone).
pub fn remove_stale_temp_dirs(base: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(base) else { return 0 };
    let mut n = 0;
    for e in rd.flatten() {
        // Only the exact shape of the dirs a run makes (`trafficgen-` and six random
        // letters or digits), and a real folder, never a link: the temp dir may be the
        // user's, holding a `trafficgen-notes` of theirs.
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_run_temp_dir_name(&name) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(pid) = std::fs::read_to_string(e.path().join("owner.pid")) else { continue };
        let Ok(pid) = pid.trim().parse::<i32>() else { continue };
        // SAFETY: kill with signal 0 only asks whether the process exists.
        let alive =
            unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive && std::fs::remove_dir_all(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// `trafficgen-XXXXXX`, as `tempfile::Builder::new().prefix("trafficgen-")` names them.
fn is_run_temp_dir_name(name: &str) -> bool {
    name.strip_prefix("trafficgen-").is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dirs_named_as_a_run_names_them_are_stale_temp_dirs() {
        assert!(is_run_temp_dir_name("trafficgen-a1B2c3"));
        for other in
            ["trafficgen-notes", "trafficgen-", "trafficgen-a1B2c3d", "trafficgen-a1_2c3", "xtrafficgen-a1B2c3"]
        {
            assert!(!is_run_temp_dir_name(other), "{other}");
        }
        let base = tempfile::tempdir().unwrap();
        for name in ["trafficgen-notes", "trafficgen-Ab12Cd"] {
            std::fs::create_dir(base.path().join(name)).unwrap();
            // A pid that no longer runs: the first child's, reaped.
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            std::fs::write(base.path().join(name).join("owner.pid"), pid.to_string()).unwrap();
        }
        assert_eq!(remove_stale_temp_dirs(base.path()), 1);
        assert!(base.path().join("trafficgen-notes/owner.pid").exists());
        assert!(!base.path().join("trafficgen-Ab12Cd").exists());
    }

    fn entry(key: &str) -> Entry {
        Entry { run: "r".into(), bucket: "b".into(), key: key.into(), size: 1, expires_unix: 10.0 }
    }

    #[test]
    fn the_journal_keeps_what_was_put_and_not_deleted() {
        let d = tempfile::tempdir().unwrap();
        let s = State::open(d.path()).unwrap();
        let j = s.journal().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            j.put(entry("a")).await;
            j.put(entry("b")).await;
            j.del("b", "a");
            j.put(entry("c")).await;
        });
        drop(j);
        std::thread::sleep(std::time::Duration::from_millis(100));
        // A line cut short by a crash is ignored.
        std::fs::OpenOptions::new().append(true).open(s.journal_path()).unwrap().write_all(b"{\"put\":{\"run").unwrap();
        let keys: Vec<String> = s.live().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["b", "c"]);
        s.compact(&s.live()).unwrap();
        assert_eq!(s.live().len(), 2);
    }

    #[test]
    fn one_run_per_state_dir() {
        let d = tempfile::tempdir().unwrap();
        let _first = State::open(d.path()).unwrap();
        let e = State::open(d.path()).err().unwrap();
        assert!(e.contains("in use") && e.contains(&std::process::id().to_string()), "{e}");
    }
}
