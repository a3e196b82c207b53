//! The one place that builds a client's command line and environment, spawns it,
//! captures its output (bounded), enforces the timeout and reaps it.
//!
//! Each child runs in its own process group: a terminal Ctrl+C reaches only trafficgen
//! (which then decides how long children may finish), and a timeout or shutdown kills
//! the whole group, including anything the client started itself.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::config::plan::{ClientPlan, Flavor};
use crate::model::contract::{ChildFact, ChildWatch};
use crate::model::error::Error;
use crate::model::events::{Cmd, OpType};
use crate::model::secrets::Secrets;

/// At most this much of each output stream is kept; the rest is read and dropped so a
/// chatty child never blocks on a full pipe or fills our memory. Listings and head
/// output are read from stdout, so it keeps more.
const STDOUT_LIMIT: usize = 64 * 1024;
const STDERR_LIMIT: usize = 8 * 1024;
/// A whole-bucket listing read as a whole (`Client::list_all`): 64 MiB is some 400,000
/// keys of 150 bytes. Still bounded; a longer listing is reported as cut short.
pub const LISTING_LIMIT: usize = 64 * 1024 * 1024;

/// What to ask the client to do: a command (`cmd()`) with its arguments.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    Version,
    Upload {
        local: &'a Path,
        bucket: &'a str,
        key: &'a str,
    },
    Download {
        bucket: &'a str,
        key: &'a str,
        local: &'a Path,
    },
    Delete {
        bucket: &'a str,
        key: &'a str,
    },
    BucketExists {
        bucket: &'a str,
    },
    MakeBucket {
        bucket: &'a str,
    },
    RemoveBucket {
        bucket: &'a str,
    },
    HeadObject {
        bucket: &'a str,
        key: &'a str,
    },
    /// Every key under a prefix ("" = the whole bucket), one per line.
    List {
        bucket: &'a str,
        prefix: &'a str,
    },
    /// Storage used under a prefix.
    Du {
        bucket: &'a str,
        prefix: &'a str,
    },
    Presign {
        bucket: &'a str,
        key: &'a str,
    },
    /// A local folder to a prefix (ending in '/').
    Sync {
        local: &'a Path,
        bucket: &'a str,
        prefix: &'a str,
    },
}

impl Action<'_> {
    /// The client command this request runs: what the telemetry contract knows it by.
    pub fn cmd(self) -> Cmd {
        match self {
            Action::Version => Cmd::Version,
            Action::Upload { .. } => Cmd::Upload,
            Action::Download { .. } => Cmd::Download,
            Action::Delete { .. } => Cmd::Delete,
            Action::BucketExists { .. } | Action::List { .. } => Cmd::List,
            Action::MakeBucket { .. } => Cmd::MakeBucket,
            Action::RemoveBucket { .. } => Cmd::RemoveBucket,
            Action::HeadObject { .. } => Cmd::HeadObject,
            Action::Du { .. } => Cmd::Du,
            Action::Presign { .. } => Cmd::Presign,
            Action::Sync { .. } => Cmd::Sync,
        }
    }
}

/// Credentials that no server accepts, for the wrong-credentials expected failure.
/// Not secrets: they are meant to be refused.
pub const WRONG_ACCESS_KEY_ID: &str = "AKIATRAFFICGENWRONG1";
pub const WRONG_SECRET_ACCESS_KEY: &str = "trafficgen-wrong-secret-key-0000000000000";

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Non-zero exit code.
    Failed(i32),
    /// Killed by us after the command timeout.
    TimedOut,
    /// Ended by a signal we did not send (a crash).
    Crashed(i32),
    /// Could not be started at all.
    SpawnError(String),
    /// Killed by us at shutdown.
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Exec {
    pub outcome: Outcome,
    pub duration: Duration,
    /// First non-empty stderr line (secrets removed), for logs and reports.
    pub stderr_line: Option<String>,
    /// The beginning of stdout, raw (presigned URLs, listings): redact before showing.
    pub stdout: String,
    /// False when stdout was longer than the capture kept: `stdout` is then only its
    /// beginning, and a listing in it is not the whole bucket.
    pub stdout_complete: bool,
}

/// A child that has ended but is not yet reported to the ledger (`Client::run_pending`).
/// Dropped unsettled, it is reported as it was: a record is never left open.
pub struct Pending {
    watch: Option<(std::sync::Arc<dyn ChildWatch>, ChildFact)>,
}

impl Pending {
    /// Reports the child, its failure (if it failed) put down to `cause`.
    pub fn settle(mut self, cause: Option<OpType>) {
        if let Some((watch, mut fact)) = self.watch.take() {
            if !fact.ok && fact.exited && cause.is_some() {
                fact.expected = cause;
            }
            watch.ended(fact);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some((watch, fact)) = self.watch.take() {
            watch.ended(fact);
        }
    }
}

/// Children now running (pid = process group id), so shutdown can kill them.
#[derive(Default)]
pub struct Children {
    /// pid → killed by `kill_all` (so its end is reported as cancelled, not a crash).
    pids: Mutex<HashMap<u32, bool>>,
    /// Set once the run is past its grace period: nothing new may start.
    refuse: AtomicBool,
    /// The watchdog's stdin: `+PID` / `-PID` lines (see `watchdog`).
    watchdog: Mutex<Option<std::process::ChildStdin>>,
}

impl Children {
    /// Starts the watchdog: a small process of our own, in its own process group, told
    /// of every child. When trafficgen dies, even by `kill -9`, the kernel closes the
    /// pipe; the watchdog reads its end and kills every child's process group, so no
    /// client outlives trafficgen. (A parent-death signal per child would need a
    /// `pre_exec` hook, which makes every spawn a full fork: a fifth of the dispatch
    /// rate, measured.)
    pub fn start_watchdog(&self) -> Result<(), Error> {
        use std::os::unix::process::CommandExt as _;
        let exe = std::env::current_exe().map_err(|e| Error::Failed(format!("the watchdog: {e}")))?;
        let mut child = std::process::Command::new(exe)
            .arg("watchdog")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::Failed(format!("the watchdog: {e}")))?;
        *self.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = child.stdin.take();
        // Reaped by nobody on purpose: it must outlive us to do its job.
        std::mem::forget(child);
        Ok(())
    }

    fn watch(&self, pid: u32, start: bool) {
        use std::io::Write as _;
        if let Some(w) = self.watchdog.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = writeln!(w, "{}{pid}", if start { '+' } else { '-' });
        }
    }
    /// Kills every running child's process group and refuses new ones until
    /// `accept_new`.
    pub fn kill_all(&self) {
        self.refuse.store(true, Ordering::SeqCst);
        let mut pids = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        for (pid, killed) in pids.iter_mut() {
            *killed = true;
            kill_group(*pid);
        }
    }

    /// Allows children again (for `--cleanup`, after every worker has stopped).
    pub fn accept_new(&self) {
        self.refuse.store(false, Ordering::SeqCst);
    }

    pub fn running(&self) -> usize {
        self.pids.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True once the run is past its grace period (`kill_all`): work outside a child
    /// process (the presigned GET) stops then too.
    pub fn refusing(&self) -> bool {
        self.refuse.load(Ordering::SeqCst)
    }
}

/// `trafficgen watchdog` (internal): reads `+PID`/`-PID` lines until its stdin closes,
/// then kills the process group of every child still listed.
pub fn watchdog() {
    use std::io::BufRead as _;
    let mut live = std::collections::HashSet::new();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let (sign, pid) = line.split_at(1.min(line.len()));
        if let Ok(pid) = pid.parse::<u32>() {
            if sign == "+" {
                live.insert(pid);
            } else {
                live.remove(&pid);
            }
        }
    }
    for pid in live {
        kill_group(pid);
    }
}

/// The async runtime every command that runs clients drives them on: two workers (the
/// children do the work; trafficgen only waits for them), and room for the blocking
/// file writes of many uploads at once.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(32)
        .thread_name("trafficgen-io")
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the async runtime: {e}")))
}

/// The open-files soft limit, or None when it cannot be read.
pub fn open_files_limit() -> Option<u64> {
    nofile().map(|l| l.rlim_cur)
}

/// Raises the open-files soft limit to the hard limit (each child in flight holds
/// pipes and a process handle); returns the soft limit now in force.
pub fn raise_open_files_limit() -> Option<u64> {
    let lim = nofile()?;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: plain setrlimit on our own process, with a valid struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(lim.rlim_max);
        }
    }
    Some(lim.rlim_cur)
}

/// The one getrlimit call: RLIMIT_NOFILE of our own process.
fn nofile() -> Option<libc::rlimit> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit on our own process, into a valid struct.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim)
}

fn kill_group(pid: u32) {
    // A plain syscall. While the leader is unreaped its pid cannot be reused, so a
    // timeout kill always hits our child. Shutdown's kill_all can race a reap by
    // microseconds; it then sends SIGKILL to a group that no longer exists (ESRCH).
    // SAFETY: killpg(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// A configured client: flavor, binary, endpoint, region, environment, timeout.
pub struct Client {
    pub flavor: Flavor,
    pub binary: PathBuf,
    /// Under `ab`: build B's binary, for commands tagged B.
    binary_b: Option<PathBuf>,
    endpoint: Option<String>,
    region: String,
    env: Vec<(String, String)>,
    secrets: Secrets,
    timeout: Duration,
    pub children: Children,
    /// Per-child telemetry identity and, with verification, the receiver and the ledger.
    telemetry: Telemetry,
    /// Children started so far: the second half of each child's `service.instance.id`.
    seq: AtomicU64,
}

/// Who a child works for and what it is, for its telemetry identity and the ledger.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tag {
    pub user: Option<usize>,
    pub op: Option<OpType>,
    /// Under `ab`: which build runs this command.
    pub build: crate::model::events::Build,
}

/// How children are told about telemetry.
#[derive(Default)]
pub struct Telemetry {
    /// This run's id (`trafficgen.run`, and the first half of every instance id).
    pub run_id: String,
    /// Give each child its own `OTEL_RESOURCE_ATTRIBUTES` identity.
    pub identity: bool,
    /// User ids by index, for `trafficgen.user`.
    pub users: Vec<String>,
    /// With verification: every child exports here, and its facts go to the ledger.
    pub receiver: Option<String>,
    /// With verification: the run's key for each child's receiver token (sent in the
    /// child's environment, never on its command line).
    pub key: Option<crate::config::token::Key>,
    /// With verification: the receiver's store, whose ledger follows each child from
    /// its start to its reconciliation (`telemetry::ledger`).
    pub ledger: Option<std::sync::Arc<dyn crate::model::contract::ChildWatch>>,
}

impl Client {
    pub fn new(plan: &ClientPlan, timeout: Duration) -> Client {
        let secrets = Secrets::from_env(plan.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Client {
            flavor: plan.flavor,
            binary: plan.binary.clone(),
            binary_b: None,
            endpoint: plan.endpoint.clone(),
            region: plan.region.clone(),
            env: plan.env.clone(),
            secrets,
            timeout,
            children: Children::default(),
            telemetry: Telemetry::default(),
            seq: AtomicU64::new(0),
        }
    }

    /// Sets the children's telemetry identity and, with verification, the receiver.
    pub fn with_telemetry(mut self, t: Telemetry) -> Client {
        self.telemetry = t;
        self
    }

    /// Under `ab`: commands tagged B run this binary.
    pub fn with_binary_b(mut self, b: PathBuf) -> Client {
        self.binary_b = Some(b);
        self
    }

    /// The binary a command of this build runs.
    fn binary_for(&self, build: crate::model::events::Build) -> &Path {
        match (build, &self.binary_b) {
            (crate::model::events::Build::B, Some(b)) => b,
            _ => &self.binary,
        }
    }

    /// The environment a child gets on top of the profile's: its identity and, with
    /// verification, the receiver as its collector.
    fn telemetry_env(&self, id: &str, tag: Tag) -> Vec<(&'static str, String)> {
        let t = &self.telemetry;
        let mut out = Vec::new();
        if t.identity {
            let mut ours = vec![("service.instance.id", id.to_string()), ("trafficgen.run", t.run_id.clone())];
            if let Some(u) = tag.user.and_then(|u| t.users.get(u)) {
                ours.push(("trafficgen.user", u.clone()));
            }
            if let Some(op) = tag.op {
                ours.push(("trafficgen.op", op.name().to_string()));
            }
            if self.binary_b.is_some() {
                ours.push(("trafficgen.build", tag.build.name().to_string()));
            }
            let theirs = self.env.iter().find(|(k, _)| k == "OTEL_RESOURCE_ATTRIBUTES").map(|(_, v)| v.as_str());
            out.push(("OTEL_RESOURCE_ATTRIBUTES", crate::config::token::resource_attributes(theirs, &ours)));
        }
        if let Some(endpoint) = &t.receiver {
            out.push(("OTEL_ENABLED", "true".to_string()));
            out.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()));
            if let Some(token) = self.token(id) {
                let theirs = self.env.iter().find(|(k, _)| k == "OTEL_EXPORTER_OTLP_HEADERS").map(|(_, v)| v.as_str());
                out.push(("OTEL_EXPORTER_OTLP_HEADERS", crate::config::token::child_headers(theirs, &token)));
            }
        }
        out
    }

    /// The receiver token of the child `id` (with verification on).
    fn token(&self, id: &str) -> Option<String> {
        let t = &self.telemetry;
        t.receiver.as_ref().and(t.key.as_ref()).map(|k| k.token(id))
    }

    /// The argument vector for an action: the flavor table. obsctl takes its global
    /// options before the subcommand; the AWS CLI takes them after.
    pub fn argv(&self, action: Action) -> Vec<OsString> {
        let s3 = |b: &str, k: &str| OsString::from(format!("s3://{b}/{k}"));
        let bucket_uri = |b: &str| OsString::from(format!("s3://{b}"));
        let os = |s: &str| OsString::from(s);
        // How long a presigned URL lives: long enough for the GET that follows it.
        const PRESIGN_EXPIRES: &str = "900";
        let mut cmd: Vec<OsString> = match (self.flavor, action) {
            (_, Action::Version) => return vec!["--version".into()],
            (Flavor::Obsctl, Action::Upload { local, bucket, key }) => vec![os("cp"), local.into(), s3(bucket, key)],
            (Flavor::Obsctl, Action::Download { bucket, key, local }) => vec![os("cp"), s3(bucket, key), local.into()],
            (Flavor::Obsctl, Action::Delete { bucket, key }) => vec![os("rm"), s3(bucket, key)],
            (Flavor::Obsctl, Action::BucketExists { bucket }) => vec![os("ls"), s3(bucket, "")],
            (Flavor::Obsctl, Action::MakeBucket { bucket }) => vec![os("mb"), bucket_uri(bucket)],
            (Flavor::Obsctl, Action::RemoveBucket { bucket }) => vec![os("rb"), bucket_uri(bucket)],
            (Flavor::Obsctl, Action::HeadObject { bucket, key }) => {
                vec![os("head-object"), os("--bucket"), os(bucket), os("--key"), os(key)]
            }
            (Flavor::Obsctl, Action::List { bucket, prefix }) => vec![os("ls"), s3(bucket, prefix), os("--recursive")],
            (Flavor::Obsctl, Action::Du { bucket, prefix }) => vec![os("du"), s3(bucket, prefix)],
            (Flavor::Obsctl, Action::Presign { bucket, key }) => {
                vec![os("presign"), s3(bucket, key), os("--expires-in"), os(PRESIGN_EXPIRES)]
            }
            (Flavor::Obsctl, Action::Sync { local, bucket, prefix }) => {
                vec![os("sync"), local.into(), s3(bucket, prefix)]
            }
            (Flavor::Aws, Action::Upload { local, bucket, key }) => {
                vec![os("s3"), os("cp"), local.into(), s3(bucket, key)]
            }
            (Flavor::Aws, Action::Download { bucket, key, local }) => {
                vec![os("s3"), os("cp"), s3(bucket, key), local.into()]
            }
            (Flavor::Aws, Action::Delete { bucket, key }) => vec![os("s3"), os("rm"), s3(bucket, key)],
            (Flavor::Aws, Action::BucketExists { bucket }) => {
                vec![os("s3api"), os("head-bucket"), os("--bucket"), os(bucket)]
            }
            (Flavor::Aws, Action::MakeBucket { bucket }) => vec![os("s3"), os("mb"), bucket_uri(bucket)],
            (Flavor::Aws, Action::RemoveBucket { bucket }) => vec![os("s3"), os("rb"), bucket_uri(bucket)],
            (Flavor::Aws, Action::HeadObject { bucket, key }) => {
                vec![os("s3api"), os("head-object"), os("--bucket"), os(bucket), os("--key"), os(key)]
            }
            (Flavor::Aws, Action::List { bucket, prefix }) => {
                vec![os("s3"), os("ls"), s3(bucket, prefix), os("--recursive")]
            }
            // The AWS CLI has no `du`: a summarized listing is its nearest form.
            (Flavor::Aws, Action::Du { bucket, prefix }) => {
                vec![os("s3"), os("ls"), s3(bucket, prefix), os("--recursive"), os("--summarize")]
            }
            (Flavor::Aws, Action::Presign { bucket, key }) => {
                vec![os("s3"), os("presign"), s3(bucket, key), os("--expires-in"), os(PRESIGN_EXPIRES)]
            }
            (Flavor::Aws, Action::Sync { local, bucket, prefix }) => {
                vec![os("s3"), os("sync"), local.into(), s3(bucket, prefix)]
            }
        };
        let mut global: Vec<OsString> = Vec::new();
        match self.flavor {
            Flavor::Obsctl => {
                // --debug error keeps obsctl's INFO lines (coloured, on stdout) out of
                // our capture; telemetry is unaffected.
                global.extend(["--debug".into(), "error".into()]);
                if let Some(e) = &self.endpoint {
                    global.extend(["--endpoint".into(), e.into()]);
                }
                global.extend(["--region".into(), self.region.clone().into()]);
                global.append(&mut cmd);
                global
            }
            Flavor::Aws => {
                if let Some(e) = &self.endpoint {
                    cmd.extend(["--endpoint-url".into(), e.into()]);
                }
                cmd.extend(["--region".into(), self.region.clone().into()]);
                // Only the transfer commands take this flag (`mb` refuses it).
                if matches!(
                    action,
                    Action::Upload { .. } | Action::Download { .. } | Action::Delete { .. } | Action::Sync { .. }
                ) {
                    cmd.push("--only-show-errors".into());
                }
                cmd
            }
        }
    }

    /// Replaces every secret value from the profile's env with `***`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }

    /// Runs one action to completion: spawn, capture, timeout, reap, classify.
    pub async fn run(&self, action: Action<'_>) -> Exec {
        self.run_with(action, Tag::default()).await
    }

    /// A listing of a whole bucket (or prefix) read with a capture of `limit` bytes
    /// rather than the usual 64 KiB, for `cleanup --all`. Check `stdout_complete`.
    pub async fn list_all(&self, bucket: &str, prefix: &str, limit: usize) -> Exec {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("{}-{n}", self.telemetry.run_id);
        self.spawn_and_wait(Action::List { bucket, prefix }, false, &id, Tag::default(), limit).await
    }

    /// Runs an action for a user and an operation. The wrong-credentials expected
    /// failure's child alone gets credentials no server accepts.
    pub async fn run_with(&self, action: Action<'_>, tag: Tag) -> Exec {
        let (exec, pending) = self.run_pending(action, tag).await;
        pending.settle(None);
        exec
    }

    /// As `run_with`, but the child's end reaches the ledger only when the returned
    /// `Pending` is settled, with a cause learnt afterwards (a bucket check that failed
    /// on a bucket the next `mb` created failed because the bucket was missing).
    pub async fn run_pending(&self, action: Action<'_>, tag: Tag) -> (Exec, Pending) {
        let wrong_credentials = tag.op == Some(OpType::WrongCredentials);
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("{}-{n}", self.telemetry.run_id);
        let ledger = self.telemetry.ledger.as_ref().filter(|_| !matches!(action, Action::Version));
        let before = if ledger.is_some() { sizes_before(action) } else { (0, Vec::new()) };
        if let Some(l) = ledger {
            // Before it can export: its export finds its record.
            l.started(&id);
        }
        let exec = self.spawn_and_wait(action, wrong_credentials, &id, tag, STDOUT_LIMIT).await;
        if let Some(l) = ledger {
            let mut bytes = before.0;
            if let (Action::Download { local, .. }, Outcome::Ok) = (action, &exec.outcome) {
                bytes = std::fs::metadata(local).map(|m| m.len()).unwrap_or(0);
            }
            let fact = ChildFact {
                id,
                user: tag.user,
                cmd: action.cmd(),
                // A confirmation after a delete fails because the key is gone: a known cause.
                expected: match tag.op {
                    Some(OpType::ConfirmDelete) => Some(OpType::MissingKeyHead),
                    op => op.filter(|o| o.is_expected_failure()),
                },
                exited: matches!(exec.outcome, Outcome::Ok | Outcome::Failed(_)),
                ok: exec.outcome == Outcome::Ok,
                bytes,
                files: before.1,
                build: self.binary_b.as_ref().map(|_| tag.build),
            };
            return (exec, Pending { watch: Some((l.clone(), fact)) });
        }
        (exec, Pending { watch: None })
    }

    async fn spawn_and_wait(
        &self,
        action: Action<'_>,
        wrong_credentials: bool,
        id: &str,
        tag: Tag,
        stdout_limit: usize,
    ) -> Exec {
        let started = Instant::now();
        let done = |outcome, stderr_line, (stdout, stdout_complete)| Exec {
            outcome,
            duration: started.elapsed(),
            stderr_line,
            stdout,
            stdout_complete,
        };
        if self.children.refusing() {
            return done(Outcome::Cancelled, None, (String::new(), true));
        }
        let binary = self.binary_for(tag.build);
        let mut cmd = Command::new(binary);
        cmd.args(self.argv(action))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            // With RUST_BACKTRACE set, obsctl prints a long stack trace on every error.
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        cmd.envs(self.telemetry_env(id, tag));
        if wrong_credentials {
            cmd.env("AWS_ACCESS_KEY_ID", WRONG_ACCESS_KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", WRONG_SECRET_ACCESS_KEY)
                .env_remove("AWS_SESSION_TOKEN")
                .env_remove("AWS_PROFILE");
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("cannot start {}: {e}", binary.display());
                return done(Outcome::SpawnError(msg.clone()), Some(msg), (String::new(), true));
            }
        };
        let pid = child.id().unwrap_or(0);
        {
            let mut pids = self.children.pids.lock().unwrap_or_else(|e| e.into_inner());
            self.children.watch(pid, true);
            // Checked under the lock so a concurrent kill_all cannot miss this child.
            let refused = self.children.refusing();
            pids.insert(pid, refused);
            if refused {
                kill_group(pid);
            }
        }
        let out = tokio::spawn(capture(child.stdout.take(), stdout_limit));
        let err = tokio::spawn(capture(child.stderr.take(), STDERR_LIMIT));

        let mut timed_out = false;
        let status = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(s) => s,
            Err(_) => {
                timed_out = true;
                kill_group(pid);
                child.wait().await
            }
        };
        let killed = self.children.pids.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid).unwrap_or(false);
        self.children.watch(pid, false);

        // A grandchild that left the group could hold the pipes open: don't wait for it.
        // (text, complete): a stream not read to its end, or longer than kept, is not complete.
        let grab = |h: tokio::task::JoinHandle<(Vec<u8>, bool)>| async move {
            match tokio::time::timeout(Duration::from_secs(1), h).await {
                Ok(Ok((v, complete))) => (String::from_utf8_lossy(&v).into_owned(), complete),
                _ => (String::new(), false),
            }
        };
        // Kept as the client wrote it: presigned URLs carry the access key id, and a
        // redacted URL would not work. Whoever shows stdout redacts it first.
        let stdout = grab(out).await;
        let mut stderr = self.redact(&grab(err).await.0);
        if let Some(token) = self.token(id) {
            stderr = stderr.replace(&token, "***");
        }
        let stderr_line = stderr.lines().map(str::trim).find(|l| !l.is_empty()).map(strip_ansi);

        let outcome = match status {
            Err(e) => Outcome::SpawnError(format!("waiting for the child failed: {e}")),
            Ok(_) if timed_out => Outcome::TimedOut,
            Ok(s) if s.success() => Outcome::Ok,
            Ok(s) => match (s.code(), s.signal()) {
                (Some(code), _) => Outcome::Failed(code),
                (None, Some(_)) if killed => Outcome::Cancelled,
                (None, Some(sig)) => Outcome::Crashed(sig),
                (None, None) => Outcome::Failed(-1),
            },
        };
        done(outcome, stderr_line, stdout)
    }
}

/// Bytes an upload or a sync is about to send (and a sync's file sizes), read before
/// the child runs: the ground truth for the telemetry contract.
fn sizes_before(action: Action) -> (u64, Vec<u64>) {
    match action {
        Action::Upload { local, .. } => (std::fs::metadata(local).map(|m| m.len()).unwrap_or(0), Vec::new()),
        Action::Sync { local, .. } => {
            let mut files: Vec<u64> = std::fs::read_dir(local)
                .map(|rd| {
                    rd.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).collect()
                })
                .unwrap_or_default();
            files.sort_unstable();
            (files.iter().sum(), files)
        }
        _ => (0, Vec::new()),
    }
}

/// Reads a stream to its end, keeping the first `limit` bytes; also whether that was
/// all of it (false after a read error or when bytes were dropped).
async fn capture<R: AsyncRead + Unpin>(stream: Option<R>, limit: usize) -> (Vec<u8>, bool) {
    let Some(mut r) = stream else { return (Vec::new(), true) };
    let mut kept = Vec::new();
    let mut complete = true;
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) => break,
            Err(_) => {
                complete = false;
                break;
            }
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                complete &= n <= room;
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, complete)
}

/// obsctl colours its log lines, and a client's stderr could hold any escape
/// sequence: keep reports and logs plain, on one line.
fn strip_ansi(s: &str) -> String {
    crate::model::terminal::clean_line(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what reaches the ledger.
    #[derive(Default)]
    struct Seen(Mutex<Vec<ChildFact>>);

    impl ChildWatch for Seen {
        fn started(&self, _: &str) {}
        fn ended(&self, fact: ChildFact) {
            self.0.lock().unwrap().push(fact);
        }
    }

    fn pending(seen: &std::sync::Arc<Seen>, ok: bool) -> Pending {
        let fact = ChildFact {
            id: "r-1".into(),
            user: None,
            cmd: Cmd::List,
            expected: None,
            exited: true,
            ok,
            bytes: 0,
            files: Vec::new(),
            build: None,
        };
        Pending { watch: Some((seen.clone(), fact)) }
    }

    #[test]
    fn a_cause_learnt_later_explains_a_failure_and_never_a_success() {
        let seen = std::sync::Arc::new(Seen::default());
        pending(&seen, false).settle(Some(OpType::MissingBucketDelete));
        pending(&seen, true).settle(Some(OpType::MissingBucketDelete));
        pending(&seen, false).settle(None);
        let got: Vec<Option<OpType>> = seen.0.lock().unwrap().iter().map(|f| f.expected).collect();
        assert_eq!(got, [Some(OpType::MissingBucketDelete), None, None]);
    }

    #[test]
    fn a_pending_child_dropped_unsettled_still_reaches_the_ledger() {
        let seen = std::sync::Arc::new(Seen::default());
        drop(pending(&seen, false));
        assert_eq!(seen.0.lock().unwrap().len(), 1, "a record left open would wait forever");
        assert_eq!(seen.0.lock().unwrap()[0].expected, None);
    }

    fn client(flavor: Flavor) -> Client {
        Client::new(
            &ClientPlan {
                flavor,
                binary: "obsctl".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                endpoint_from: "obsctl.endpoint",
                region: "us-east-1".into(),
                env: vec![
                    ("AWS_ACCESS_KEY_ID".into(), "AKIDEXAMPLE".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "s3cr3t-value".into()),
                    ("OTEL_ENABLED".into(), "true".into()),
                ],
            },
            Duration::from_secs(5),
        )
    }

    fn words(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn obsctl_gets_global_options_first_and_always_a_region() {
        let c = client(Flavor::Obsctl);
        let up = words(c.argv(Action::Upload { local: Path::new("/tmp/f.rs"), bucket: "b", key: "a/k.rs" }));
        assert_eq!(
            up,
            [
                "--debug",
                "error",
                "--endpoint",
                "http://127.0.0.1:9000",
                "--region",
                "us-east-1",
                "cp",
                "/tmp/f.rs",
                "s3://b/a/k.rs"
            ]
        );
        let rm = words(c.argv(Action::Delete { bucket: "b", key: "k" }));
        assert_eq!(&rm[6..], ["rm", "s3://b/k"]);
        let dl = words(c.argv(Action::Download { bucket: "b", key: "k", local: Path::new("/tmp/d") }));
        assert_eq!(&dl[6..], ["cp", "s3://b/k", "/tmp/d"]);
        assert_eq!(&words(c.argv(Action::MakeBucket { bucket: "b" }))[6..], ["mb", "s3://b"]);
        assert_eq!(words(c.argv(Action::Version)), ["--version"]);
    }

    #[test]
    fn aws_flavor_is_the_same_traffic_in_aws_cli_form() {
        let c = client(Flavor::Aws);
        let up = words(c.argv(Action::Upload { local: Path::new("/tmp/f"), bucket: "b", key: "k" }));
        assert_eq!(
            up,
            [
                "s3",
                "cp",
                "/tmp/f",
                "s3://b/k",
                "--endpoint-url",
                "http://127.0.0.1:9000",
                "--region",
                "us-east-1",
                "--only-show-errors"
            ]
        );
        let head = words(c.argv(Action::BucketExists { bucket: "b" }));
        assert_eq!(&head[..4], ["s3api", "head-bucket", "--bucket", "b"]);
    }

    #[test]
    fn every_command_of_the_surface_has_both_forms() {
        let o = client(Flavor::Obsctl);
        let a = client(Flavor::Aws);
        let tail = |c: &Client, act| {
            let w = words(c.argv(act));
            if c.flavor == Flavor::Obsctl {
                w[6..].to_vec()
            } else {
                w[..w.iter().position(|x| x.starts_with("--endpoint")).unwrap()].to_vec()
            }
        };
        let head = Action::HeadObject { bucket: "b", key: "p/k" };
        assert_eq!(tail(&o, head), ["head-object", "--bucket", "b", "--key", "p/k"]);
        assert_eq!(tail(&a, head), ["s3api", "head-object", "--bucket", "b", "--key", "p/k"]);
        let ls = Action::List { bucket: "b", prefix: "p/" };
        assert_eq!(tail(&o, ls), ["ls", "s3://b/p/", "--recursive"]);
        assert_eq!(tail(&a, ls), ["s3", "ls", "s3://b/p/", "--recursive"]);
        let du = Action::Du { bucket: "b", prefix: "" };
        assert_eq!(tail(&o, du), ["du", "s3://b/"]);
        assert_eq!(tail(&a, du), ["s3", "ls", "s3://b/", "--recursive", "--summarize"]);
        let pre = Action::Presign { bucket: "b", key: "k" };
        assert_eq!(tail(&o, pre), ["presign", "s3://b/k", "--expires-in", "900"]);
        assert_eq!(tail(&a, pre), ["s3", "presign", "s3://b/k", "--expires-in", "900"]);
        let sync = Action::Sync { local: Path::new("/tmp/d"), bucket: "b", prefix: "p/" };
        assert_eq!(tail(&o, sync), ["sync", "/tmp/d", "s3://b/p/"]);
        assert_eq!(tail(&a, sync), ["s3", "sync", "/tmp/d", "s3://b/p/"]);
        assert_eq!(tail(&o, Action::RemoveBucket { bucket: "b" }), ["rb", "s3://b"]);
        assert_eq!(tail(&a, Action::RemoveBucket { bucket: "b" }), ["s3", "rb", "s3://b"]);
    }

    #[test]
    fn secrets_are_redacted_but_other_values_kept() {
        let c = client(Flavor::Obsctl);
        assert_eq!(c.redact("key AKIDEXAMPLE and s3cr3t-value here"), "key *** and *** here");
        assert_eq!(c.redact("OTEL true"), "OTEL true");
        assert!(!crate::model::secrets::is_secret_name("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }

    #[test]
    fn ansi_colours_are_stripped() {
        assert_eq!(strip_ansi("\x1b[31mError\x1b[0m: service error"), "Error: service error");
        assert_eq!(strip_ansi("Error\x1b]0;title\x07: x\ry"), "Error: xy");
    }
}
