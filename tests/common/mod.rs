//! Helpers for integration tests: a sandbox per test (profile, fake S3 store, logs,
//! temp dir), bounded process runs, and process-table checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trafficgen"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fake_obsctl() -> PathBuf {
    repo().join("tests/bin/fake-obsctl")
}

pub fn shipped_profile() -> String {
    std::fs::read_to_string(repo().join("profiles.toml")).unwrap()
}

/// Applies (from, to) replacements; each `from` must occur.
pub fn edit_profile(text: &str, edits: &[(&str, &str)]) -> String {
    let mut text = text.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the profile");
        text = text.replace(from, to);
    }
    text
}

/// (id, bucket, first path segment of each subfolder template) per user, read from
/// the shipped profile so tests follow it.
pub fn shipped_users() -> Vec<(String, String, Vec<String>)> {
    let text = shipped_profile();
    let mut users = Vec::new();
    let value = |line: &str| line.split_once('=').unwrap().1.trim().trim_matches('"').to_string();
    let (mut id, mut bucket) = (String::new(), String::new());
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("id = ") {
            id = value(l);
        } else if l.starts_with("bucket = ") {
            bucket = value(l);
        } else if l.starts_with("subfolders = ") {
            let list = l.split_once('[').unwrap().1.trim_end_matches(']');
            let firsts =
                list.split(',').map(|s| s.trim().trim_matches('"').split('/').next().unwrap().to_string()).collect();
            users.push((id.clone(), bucket.clone(), firsts));
        }
    }
    users
}

/// 8 simulated hours at 7200x: 4 wall seconds; the 3 h TTL passes after 1.5 s.
pub const SHORT: &[&str] = &[
    "--duration",
    "8h",
    "--time-scale",
    "7200",
    "--start-at",
    "06:00",
    "--rate-scale",
    "0.5",
    "--max-file-size",
    "16KiB",
    "--seed",
    "7",
];

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A sandbox whose profile is the shipped one, minus the free-disk floor (test
    /// machines may be small), with `edits` applied as (from, to) replacements.
    pub fn new(edits: &[(&str, &str)]) -> Sandbox {
        Sandbox::with_profile(&edit_profile(&shipped_profile(), edits))
    }

    pub fn with_profile(text: &str) -> Sandbox {
        let dir = tempfile::Builder::new().prefix("tg-test-").tempdir().unwrap();
        let text = text.replace("min_free_disk = \"11GB\"", "min_free_disk = \"0\"");
        // Tests share one machine: another test's load must not hold this one back.
        // (The test of admission control turns it on again.)
        let text = if text.contains("host_guard = true") {
            text.replacen("host_guard = true", "host_guard = false", 1)
        } else {
            text.replacen("[limits]\n", "[limits]\nhost_guard = false\n", 1)
        };
        std::fs::write(dir.path().join("profiles.toml"), text).unwrap();
        for d in ["store", "temp"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Sandbox { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// trafficgen with the fake client and every output inside the sandbox.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_with_client(&fake_obsctl(), args)
    }

    pub fn cmd_with_client(&self, client: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path())
            .env("FAKE_S3_DIR", self.path("store"))
            .env("FAKE_OBSCTL_LOG", self.path("calls.log"))
            // The profile takes credentials from the environment: the tests' own, not
            // whatever the developer's shell exports.
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            // Nor the duration and rate a developer's shell may set for CI jobs.
            .env_remove("TRAFFICGEN_DURATION")
            .env_remove("TRAFFICGEN_RATE_SCALE")
            // trafficgen takes its endpoint from here before the profile's: a test that
            // wants one sets it.
            .env_remove("AWS_ENDPOINT_URL")
            .arg("--profiles")
            .arg(self.path("profiles.toml"));
        // A subcommand takes no run options (trafficgen refuses them there).
        if !args
            .first()
            .is_some_and(|a| ["check", "plan", "synth", "compare", "cleanup", "merge", "report"].contains(a))
        {
            c.arg("--obsctl")
                .arg(client)
                .arg("--log-file")
                .arg(self.path("tg.log"))
                .arg("--temp-dir")
                .arg(self.path("temp"))
                .arg("--summary-json")
                .arg(self.path("summary.json"))
                .arg("--state-dir")
                .arg(self.path("state"));
        }
        c.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    pub fn summary(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("summary.json")).expect("summary.json written");
        serde_json::from_str(&text).unwrap()
    }

    /// Every client invocation the fake recorded: "ARGS\tENV".
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("calls.log")).unwrap_or_default().lines().map(String::from).collect()
    }

    /// All log text (the file is rotated daily, so its name carries the date).
    pub fn log(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("tg.") && n.ends_with(".log") {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap());
            }
        }
        out
    }

    /// Files left anywhere under the sandbox's temp dir.
    pub fn temp_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.path("temp"), &mut out);
        out
    }

    /// Objects in the fake store, as "bucket/key".
    pub fn objects(&self) -> Vec<String> {
        let root = self.path("store");
        let mut files = Vec::new();
        walk(&root, &mut files);
        files.iter().map(|p| p.strip_prefix(&root).unwrap().to_string_lossy().into_owned()).collect()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Runs a command to completion, killing it (and failing the test) after `limit`.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd.spawn().expect("trafficgen starts");
    wait_bounded(child, limit)
}

pub fn wait_bounded(child: Child, limit: Duration) -> Output {
    wait_bounded_with(child, limit, |c| {
        let _ = c.kill();
    })
}

/// As `wait_bounded`, with `kill` to end the child at the limit (a process group, say).
pub fn wait_bounded_with(mut child: Child, limit: Duration, kill: impl FnOnce(&mut Child)) -> Output {
    // Drain the pipes while waiting: a run that writes more than a pipe holds (64 KiB)
    // would otherwise block on its console and never end.
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            // The pipes close when the last holder exits; a grandchild that keeps one
            // open must not hang the test, so wait a bounded time for the rest.
            return Output { status, stdout: out.finish(), stderr: err.finish() };
        }
        if start.elapsed() > limit {
            kill(&mut child);
            let _ = child.wait();
            panic!(
                "still running after {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.finish()),
                String::from_utf8_lossy(&err.finish())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A pipe read to its end on a thread, so the writer never blocks on a full pipe.
struct Drain {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Drain {
    /// What was read: all of it once the pipe closes, or what came within 5 s.
    fn finish(&self) -> Vec<u8> {
        let _ = self.done.recv_timeout(Duration::from_secs(5));
        self.buf.lock().unwrap().clone()
    }
}

fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> Drain {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, done) = std::sync::mpsc::channel();
    let sink = buf.clone();
    std::thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        }
        let _ = tx.send(());
    });
    Drain { buf, done }
}

/// Processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(raw) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(format!("{name}: {cmd}"));
            }
        }
    }
    found
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub mod s3;

/// A plain HTTP server (python3 -m http.server) over a fake store's folder on a free
/// loopback port, so presigned URLs the fake prints can be fetched. Killed on drop.
pub struct Http {
    child: Child,
    pub port: u16,
}

impl Http {
    pub fn serve(dir: &Path) -> Http {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server starts");
        let http = Http { child, port };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "http.server did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        http
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `sig` to a process the test started.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// (bucket/key, deleted) of every object in the sandbox's state journal.
pub fn journal(sb: &Sandbox) -> std::collections::BTreeMap<String, bool> {
    let text = std::fs::read_to_string(sb.path("state/objects.jsonl")).unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (e, deleted) = if v["put"].is_object() { (&v["put"], false) } else { (&v["del"], true) };
        out.insert(format!("{}/{}", e["bucket"].as_str().unwrap(), e["key"].as_str().unwrap()), deleted);
    }
    out
}

/// Objects earlier runs left: each stored in the sandbox's fake store and recorded in
/// the journal of `state` (a state dir), as a run records it, expiring at
/// `expires_unix` (wall-clock UNIX seconds).
pub fn left_behind(sb: &Sandbox, state: &Path, objects: &[(&str, &str, f64)]) {
    std::fs::create_dir_all(state).unwrap();
    let mut lines = String::new();
    for (bucket, key, expires_unix) in objects {
        let file = sb.path("store").join(bucket).join(key);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"left").unwrap();
        let entry = serde_json::json!({"put": {"run": "earlier", "bucket": bucket, "key": key, "size": 4,
            "expires_unix": expires_unix}});
        lines.push_str(&format!("{entry}\n"));
    }
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(state.join("objects.jsonl")).unwrap();
    f.write_all(lines.as_bytes()).unwrap();
}

/// Wall-clock UNIX seconds now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}
