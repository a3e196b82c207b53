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
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::error::Error;

/// How often an idle journal looks whether its state dir is still there.
const WATCH_EVERY: Duration = Duration::from_millis(500);

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

/// A locked state directory.
pub struct State {
    pub dir: PathBuf,
    lock: File,
    /// The second lock, which no file operation can remove (see `path_lock`).
    _path_lock: Option<std::os::unix::net::UnixListener>,
}

/// What the journal holds: the objects put and not deleted, in journal order, and a
/// warning for each line that had to be skipped.
pub struct Journaled {
    pub live: Vec<Entry>,
    pub warnings: Vec<String>,
    /// False when the journal could not be read to its end: `live` may then miss
    /// objects, and the journal must not be compacted from it.
    pub complete: bool,
}

/// The (device, inode) a path names now, or why it names nothing.
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    std::fs::metadata(path).map(|m| (m.dev(), m.ino()))
}

/// A lock held on the state dir's path itself, not on a file in it: an abstract Unix
/// socket named after the canonical path. The flock on `DIR/lock` goes with its inode
/// when someone deletes the dir; a run started on the recreated path would then take a
/// fresh lock file and run beside the first. The socket name stays bound until its
/// process ends, whatever happens to the files. (Linux only; elsewhere the flock alone.)
#[cfg(target_os = "linux")]
fn path_lock(dir: &Path) -> Result<Option<std::os::unix::net::UnixListener>, ()> {
    use std::os::linux::net::SocketAddrExt as _;
    let Ok(canonical) = dir.canonicalize() else { return Ok(None) };
    let hash = canonical
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3));
    let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(format!("trafficgen-state-{hash:016x}")) else {
        return Ok(None);
    };
    match std::os::unix::net::UnixListener::bind_addr(&addr) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(()),
        // No socket support at all (a sandbox): the flock alone.
        Err(_) => Ok(None),
    }
}

#[cfg(not(target_os = "linux"))]
fn path_lock(_dir: &Path) -> Result<Option<std::os::unix::net::UnixListener>, ()> {
    Ok(None)
}

impl State {
    /// Creates and locks `dir`; a second run gets an error naming the running pid. A
    /// lock of a dead process is released by the kernel with it, so it is simply taken.
    pub fn open(dir: &Path) -> Result<State, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Usage(format!("--state-dir {}: {e}", dir.display())))?;
        let path = dir.join("lock");
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::Usage(format!("--state-dir {}: {e}", dir.display())))?;
        let in_use = |pid: &str| {
            Error::Usage(format!(
                "the state dir {} is in use by another trafficgen (pid {}); one run per state dir (use --state-dir)",
                dir.display(),
                pid
            ))
        };
        if fs4::FileExt::try_lock(&f).is_err() {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(in_use(pid.trim()));
        }
        let path_lock = path_lock(dir)
            .map_err(|()| in_use("unknown: its lock file was removed while it ran, the path is still held"))?;
        let _ = f.set_len(0);
        let _ = write!(f, "{}", std::process::id());
        Ok(State { dir: dir.to_path_buf(), lock: f, _path_lock: path_lock })
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("objects.jsonl")
    }

    /// Objects put and not deleted, in journal order.
    #[cfg(test)]
    pub fn live(&self) -> Vec<Entry> {
        self.read().live
    }

    /// The journal, line by line. A line that is not valid (not UTF-8, not JSON) is
    /// skipped with a warning naming its number, and every later line is still read: one
    /// bad line must not hide the objects after it. Only a last line without its newline
    /// is skipped quietly: a crash cut it short, and its upload never started.
    pub fn read(&self) -> Journaled {
        read_journal(&self.journal_path())
    }

    /// Rewrites the journal with just `live` (atomically), so it does not grow forever.
    /// A `Journal` opened before appends to the file replaced: `flush` it first, and
    /// open one after.
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

    /// Starts the journal's writer thread. It stops accepting records at the first
    /// failure (a write or fsync error, the journal replaced, the state dir removed): an
    /// upload nobody could clean up after a crash must not start.
    pub fn journal(&self) -> std::io::Result<Journal> {
        let path = self.journal_path();
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        let lock_path = self.dir.join("lock");
        let ours = (f.metadata()?, self.lock.metadata()?);
        let ours = ((ours.0.dev(), ours.0.ino()), (ours.1.dev(), ours.1.ino()));
        let health = Arc::new(Health::default());
        let (tx, rx) = mpsc::channel::<Msg>();
        let h = health.clone();
        let dir = self.dir.clone();
        std::thread::Builder::new().name("journal".into()).spawn(move || {
            // Our files must still be where the next run and `cleanup` will look.
            let check = |journal_too: bool| -> Result<(), String> {
                let gone = |what: &Path, e: std::io::Error| {
                    format!("{} is gone ({e}): the state dir {} was removed", what.display(), dir.display())
                };
                match identity(&lock_path) {
                    Err(e) => return Err(gone(&lock_path, e)),
                    Ok(id) if id != ours.1 => {
                        return Err(format!(
                            "{} was replaced: the state dir {} was removed",
                            lock_path.display(),
                            dir.display()
                        ));
                    }
                    Ok(_) => {}
                }
                if journal_too {
                    match identity(&path) {
                        Err(e) => return Err(gone(&path, e)),
                        Ok(id) if id != ours.0 => {
                            return Err(format!("{} was replaced by something else", path.display()));
                        }
                        Ok(_) => {}
                    }
                }
                Ok(())
            };
            loop {
                let first = match rx.recv_timeout(WATCH_EVERY) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if !h.failed()
                            && let Err(e) = check(false)
                        {
                            h.fail(e);
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                // Group commit: everything waiting is written, then one fsync answers all.
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                let mut buf = Vec::new();
                let mut waiting = false;
                for m in &batch {
                    if let Msg::Line(line, w) = m {
                        if serde_json::to_writer(&mut buf, line).is_ok() {
                            buf.push(b'\n');
                        }
                        waiting |= w.is_some();
                    }
                }
                if !h.failed() && !buf.is_empty() {
                    let written = check(true).and_then(|()| {
                        f.write_all(&buf).map_err(|e| format!("writing {}: {e}", path.display()))?;
                        if waiting {
                            f.sync_data().map_err(|e| format!("fsync of {}: {e}", path.display()))?;
                        }
                        Ok(())
                    });
                    if let Err(e) = written {
                        h.fail(e);
                    }
                }
                let answer = h.error().map_or(Ok(()), Err);
                for m in batch {
                    match m {
                        Msg::Line(_, Some(w)) => {
                            let _ = w.send(answer.clone());
                        }
                        Msg::Line(_, None) => {}
                        Msg::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            }
            let _ = f.sync_data();
        })?;
        Ok(Journal { tx, health })
    }
}

/// A journal read line by line, as `State::read` reads it, without taking its state
/// dir's lock: for a look at a dir another process may hold (nothing is written).
pub fn read_journal(path: &Path) -> Journaled {
    let mut out = Journaled { live: Vec::new(), warnings: Vec::new(), complete: true };
    let f = match File::open(path) {
        // A device or a pipe in its place could be read forever.
        Ok(f) if f.metadata().is_ok_and(|m| !m.is_file()) => {
            out.warnings.push(format!("the journal {} is not a regular file: not read", path.display()));
            out.complete = false;
            return out;
        }
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            out.warnings.push(format!("cannot read the journal {}: {e}", path.display()));
            out.complete = false;
            return out;
        }
    };
    let mut live: HashMap<(String, String), (usize, Entry)> = HashMap::new();
    let mut reader = BufReader::new(f);
    let mut raw = Vec::new();
    for n in 1.. {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                out.warnings.push(format!("journal {}: reading stopped at line {n}: {e}", path.display()));
                out.complete = false;
                break;
            }
        }
        let whole = raw.ends_with(b"\n");
        let parsed = std::str::from_utf8(&raw)
            .map_err(|_| "not UTF-8".to_string())
            .and_then(|text| serde_json::from_str::<Line>(text.trim_end()).map_err(|e| e.to_string()));
        match parsed {
            Ok(Line::Put(e)) => {
                live.insert((e.bucket.clone(), e.key.clone()), (n, e));
            }
            Ok(Line::Del { bucket, key }) => {
                live.remove(&(bucket, key));
            }
            Err(_) if !whole => {}
            Err(why) => out
                .warnings
                .push(format!("journal {}: line {n} skipped ({why}); the lines after it are kept", path.display())),
        }
    }
    let mut v: Vec<(usize, Entry)> = live.into_values().collect();
    v.sort_by_key(|(n, _)| *n);
    out.live = v.into_iter().map(|(_, e)| e).collect();
    out
}

/// A record for the writer, or a request to answer once everything before it is written.
enum Msg {
    Line(Line, Option<tokio::sync::oneshot::Sender<Result<(), String>>>),
    Flush(mpsc::SyncSender<()>),
}

/// The journal's first failure, shared by the writer and every handle.
#[derive(Default)]
struct Health {
    failed: AtomicBool,
    error: Mutex<Option<String>>,
}

impl Health {
    fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records the first failure and says it once, with the error.
    fn fail(&self, error: String) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            tracing::error!(
                "the state journal failed: {error}. No upload starts from now on (shortfall `journal`): an object not in the journal could not be cleaned up after a crash"
            );
            *slot = Some(error);
            self.failed.store(true, Ordering::SeqCst);
        }
    }
}

/// The journal failed (its file could not be written, or the state dir went away): no
/// upload starts from then on. A run that cannot keep its journal could not do its work
/// (exit 1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct JournalFailed(pub String);

impl From<JournalFailed> for Error {
    fn from(e: JournalFailed) -> Error {
        Error::Failed(e.0)
    }
}

/// Appends to the journal from any thread or task.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Msg>,
    health: Arc<Health>,
}

impl Journal {
    /// Records an object about to be uploaded; returns once it is on disk, or the
    /// journal's error (then the upload must not start).
    pub async fn put(&self, e: Entry) -> Result<(), JournalFailed> {
        if let Some(err) = self.health.error() {
            return Err(JournalFailed(err));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Msg::Line(Line::Put(e), Some(tx))).is_err() {
            return Err(JournalFailed("the journal's writer has stopped".into()));
        }
        rx.await.unwrap_or_else(|_| Err("the journal's writer has stopped".into())).map_err(JournalFailed)
    }

    /// Marks an object deleted (no need to wait: a lost mark only means one more
    /// harmless delete later).
    pub fn del(&self, bucket: &str, key: &str) {
        let _ = self.tx.send(Msg::Line(Line::Del { bucket: bucket.into(), key: key.into() }, None));
    }

    /// Waits (bounded) until everything sent so far is written.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
    }

    /// The first failure, if the journal failed: nothing is recorded since.
    pub fn error(&self) -> Option<String> {
        self.health.error()
    }

    pub fn failed(&self) -> bool {
        self.health.failed()
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
            j.put(entry("a")).await.unwrap();
            j.put(entry("b")).await.unwrap();
            j.del("b", "a");
            j.put(entry("c")).await.unwrap();
        });
        j.flush();
        drop(j);
        // A line cut short by a crash is ignored.
        std::fs::OpenOptions::new().append(true).open(s.journal_path()).unwrap().write_all(b"{\"put\":{\"run").unwrap();
        let keys: Vec<String> = s.live().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["b", "c"]);
        s.compact(&s.live()).unwrap();
        assert_eq!(s.live().len(), 2);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_skipped_with_its_number_and_the_rest_kept() {
        let d = tempfile::tempdir().unwrap();
        let s = State::open(d.path()).unwrap();
        let line = |k: &str| serde_json::to_string(&Line::Put(entry(k))).unwrap() + "\n";
        let mut text = line("a").into_bytes();
        text.extend_from_slice(b"{\"put\":{\"run\":\"r\",\"bucket\":\"b\",\"key\":\"\xff\xfe\"}}\n");
        text.extend_from_slice(line("c").as_bytes());
        text.extend_from_slice(b"not json\n");
        text.extend_from_slice(line("e").as_bytes());
        std::fs::write(s.journal_path(), text).unwrap();
        let r = s.read();
        let keys: Vec<&str> = r.live.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "c", "e"]);
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("line 2") && r.warnings[0].contains("not UTF-8"), "{:?}", r.warnings);
        assert!(r.warnings[1].contains("line 4"), "{:?}", r.warnings);
        // Compaction keeps every good entry.
        s.compact(&r.live).unwrap();
        assert_eq!(s.live().len(), 3);
    }

    fn put(j: &Journal, key: &str) -> Result<(), JournalFailed> {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(j.put(entry(key)))
    }

    #[test]
    fn a_journal_replaced_under_the_writer_fails_every_later_put() {
        let d = tempfile::tempdir().unwrap();
        let s = State::open(d.path()).unwrap();
        let j = s.journal().unwrap();
        put(&j, "a").unwrap();
        std::fs::remove_file(s.journal_path()).unwrap();
        std::fs::create_dir(s.journal_path()).unwrap();
        let e = put(&j, "b").unwrap_err().0;
        assert!(e.contains("replaced"), "{e}");
        assert!(j.failed());
        assert_eq!(put(&j, "c").unwrap_err().0, e, "the first error sticks");
    }

    #[test]
    fn a_full_disk_fails_the_put_with_the_error() {
        let d = tempfile::tempdir().unwrap();
        let s = State::open(d.path()).unwrap();
        // Every write to /dev/full fails with ENOSPC, as on a full disk.
        std::os::unix::fs::symlink("/dev/full", s.journal_path()).unwrap();
        let j = s.journal().unwrap();
        let e = put(&j, "a").unwrap_err().0;
        assert!(e.contains("No space left on device") && e.contains("objects.jsonl"), "{e}");
        assert!(j.failed());
        // Read back, a device is refused at once rather than read forever.
        let r = s.read();
        assert!(!r.complete && r.warnings[0].contains("not a regular file"), "{:?}", r.warnings);
    }

    #[test]
    fn a_removed_state_dir_is_noticed_while_idle_and_its_path_stays_locked() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("state");
        let s = State::open(&dir).unwrap();
        let j = s.journal().unwrap();
        put(&j, "a").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let start = std::time::Instant::now();
        while !j.failed() {
            assert!(start.elapsed() < Duration::from_secs(10), "the removal was not noticed");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(j.error().unwrap().contains("was removed"), "{:?}", j.error());
        // The flock went with the deleted lock file; the path is still held.
        let e = State::open(&dir).err().expect("a second open is refused").to_string();
        assert!(e.contains("in use"), "{e}");
        drop(j);
        drop(s);
        assert!(State::open(&dir).is_ok(), "free again once the first holder ends");
    }

    #[test]
    fn one_run_per_state_dir() {
        let d = tempfile::tempdir().unwrap();
        let _first = State::open(d.path()).unwrap();
        let e = State::open(d.path()).err().unwrap().to_string();
        assert!(e.contains("in use") && e.contains(&std::process::id().to_string()), "{e}");
    }
}
