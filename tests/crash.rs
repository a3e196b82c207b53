//! `kill -9` at random (seeded) moments against moto with the AWS CLI: nothing leaks.
//! A restart on the same state dir, once their TTL has passed, deletes what the killed
//! runs left before its own traffic, with no `cleanup` call; `trafficgen cleanup` right after a kill empties what
//! the run left; no client outlives trafficgen and no temp dir stays behind.

mod common;

use common::s3::{self, Moto};
use common::*;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The AWS CLI spends about a second of CPU per call: one scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const LIMIT: Duration = Duration::from_secs(60);

/// A small seeded generator for the moments of the kills (the same in every run).
struct Moments(u64);

impl Moments {
    /// Uniform in [lo, hi) milliseconds.
    fn between(&mut self, lo: u64, hi: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(lo + self.0 % (hi - lo))
    }
}

/// Two users, a 20 s TTL (wall time at --time-scale 1), the AWS CLI against `moto`
/// named in the profile itself (so `trafficgen cleanup`, which takes no client
/// options, reaches the same server).
fn sandbox(moto: &Moto, venv: &Path) -> Sandbox {
    let aws = venv.join("bin/aws");
    let endpoint = moto.endpoint();
    Sandbox::new(&[
        ("flavor = \"obsctl\"", "flavor = \"aws\""),
        ("binary = \"obsctl\"", &format!("binary = {:?}", aws.display().to_string())),
        ("endpoint = \"http://127.0.0.1:9000\"", &format!("endpoint = {endpoint:?}")),
        ("base_ops_per_min = 40.0", "base_ops_per_min = 15.0"),
        ("peak_multiplier = 2.0", "peak_multiplier = 1.0"),
        ("offpeak_multiplier = 0.2", "offpeak_multiplier = 1.0"),
        ("arrivals = \"poisson\"", "arrivals = \"uniform\""),
        ("ttl = \"3h\"", "ttl = \"20s\""),
        ("large_ttl = \"60m\"", "large_ttl = \"20s\""),
    ])
}

/// trafficgen on the sandbox, traffic from two users at `rate_scale`, for `duration`.
fn start(sb: &Sandbox, moto: &Moto, venv: &Path, rate_scale: &str, duration: &str) -> Child {
    let aws = venv.join("bin/aws");
    let mut cmd = sb.cmd_with_client(
        &aws,
        &[
            "--client",
            "aws",
            "--users",
            "alice-dev,henry-ops",
            "--rate-scale",
            rate_scale,
            "--duration",
            duration,
            "--max-file-size",
            "16KiB",
            "--command-timeout",
            "30s",
            "--grace-period",
            "10s",
            "--seed",
            "5",
        ],
    );
    cmd.envs(moto.env());
    cmd.env("PATH", format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default()));
    cmd.spawn().expect("trafficgen starts")
}

fn objects(moto: &Moto) -> usize {
    moto.listing().values().map(Vec::len).sum()
}

/// Waits (bounded) until the server holds an object of this run.
fn until_an_object(moto: &Moto, child: &mut Child) {
    let start = Instant::now();
    while objects(moto) == 0 {
        assert!(child.try_wait().unwrap().is_none(), "trafficgen ended before uploading");
        assert!(start.elapsed() < Duration::from_secs(40), "no object after 40 s");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `kill -9`, then (bounded) no process of this sandbox may be left: the watchdog
/// kills the clients of a trafficgen that died.
fn kill9(sb: &Sandbox, mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
    let marker = sb.dir.path().display().to_string();
    let start = Instant::now();
    while !processes_with(&marker).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "left running: {:?}", processes_with(&marker));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn temp_dirs(sb: &Sandbox) -> Vec<String> {
    std::fs::read_dir(sb.path("temp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("trafficgen-"))
        .collect()
}

/// The expiry (wall-clock UNIX seconds) of every object the state journal records.
fn journaled_expiries(sb: &Sandbox) -> Vec<f64> {
    let text = std::fs::read_to_string(sb.path("state/objects.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["put"]["expires_unix"].as_f64())
        .collect()
}

#[test]
fn a_restart_deletes_what_killed_runs_left_once_its_ttl_passes() {
    let Some(venv) = s3::tools("a_restart_deletes_what_killed_runs_left_once_its_ttl_passes") else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let moto = Moto::start_auth(&venv);
    let sb = sandbox(&moto, &venv);
    let mut at = Moments(0x5eed_2026_1128);

    // First kill: while uploads run, some time after the first object is stored.
    let mut child = start(&sb, &moto, &venv, "0.3", "1h");
    until_an_object(&moto, &mut child);
    std::thread::sleep(at.between(0, 2000));
    kill9(&sb, child);
    let left = objects(&moto);
    assert!(left > 0);
    assert_eq!(temp_dirs(&sb).len(), 1, "the killed run's temp dir is still there");

    // Second kill: at a random moment of the restart (its preflight, or traffic).
    let child = start(&sb, &moto, &venv, "0.3", "1h");
    std::thread::sleep(at.between(1000, 5000));
    kill9(&sb, child);
    assert!(objects(&moto) > 0, "the killed runs left objects");

    // The restart, once the 20 s TTL of everything the killed runs stored has passed
    // (objects not yet due would stay in the journal for a later run): it deletes them
    // before its own traffic, of which it has almost none (a slot every few hours).
    let latest = journaled_expiries(&sb).into_iter().fold(0.0, f64::max);
    let wait = (latest - unix_now() + 0.5).max(0.0);
    assert!(wait < 30.0, "a TTL of 20 s ends within 30 s: {wait} s");
    std::thread::sleep(Duration::from_secs_f64(wait));
    let child = start(&sb, &moto, &venv, "0.0005", "5s");
    let out = wait_bounded(child, LIMIT);
    assert!(matches!(out.status.code(), Some(0) | Some(3) | Some(4)), "{}", stderr(&out));
    let s = sb.summary();
    assert_eq!(s["achieved_ops"], 0, "the restart scheduled nothing of its own: {s}");
    assert_eq!(s["integrity_failures"], 0, "{}", s["verdict"]);
    assert_eq!(objects(&moto), 0, "{:?}\n{}", moto.listing(), stderr(&out));
    assert!(temp_dirs(&sb).is_empty(), "stale temp dirs removed: {:?}", temp_dirs(&sb));
    let journal = std::fs::read_to_string(sb.path("state/objects.jsonl")).unwrap_or_default();
    let live = journal.lines().filter(|l| l.starts_with("{\"put\"")).count();
    let deleted = journal.lines().filter(|l| l.starts_with("{\"del\"")).count();
    assert_eq!(live, deleted, "every journaled object deleted:\n{journal}");
}

#[test]
fn cleanup_right_after_a_kill_empties_what_the_run_left() {
    let Some(venv) = s3::tools("cleanup_right_after_a_kill_empties_what_the_run_left") else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let moto = Moto::start_auth(&venv);
    let sb = sandbox(&moto, &venv);
    let mut at = Moments(0x0c1e_a2c0_ffee);

    let mut child = start(&sb, &moto, &venv, "0.3", "1h");
    until_an_object(&moto, &mut child);
    std::thread::sleep(at.between(0, 3000));
    kill9(&sb, child);
    assert!(objects(&moto) > 0);

    let mut cmd = Command::new(bin());
    cmd.arg("--profiles").arg(sb.path("profiles.toml")).args(["cleanup", "--state-dir"]).arg(sb.path("state"));
    cmd.envs(moto.env()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(objects(&moto), 0, "{:?}\n{}{}", moto.listing(), stdout(&out), stderr(&out));
    assert!(processes_with(&sb.dir.path().display().to_string()).is_empty());
}
