//! Adversarial cases: see main.rs. Stop when asked, within the grace period: a SIGTERM
//! during `--cleanup` ends it (the rest stays in the journal), and a presigned GET that
//! hangs is cut at the command timeout and at the end of the grace period.

use crate::common::*;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

/// A client whose commands matching `pattern` (` rm `, ` cp `) hang on a `sleep MARKER`
/// before doing their work; the rest is the fake.
fn hanging_client(sb: &Sandbox, pattern: &str, marker: &str) -> std::path::PathBuf {
    let client = sb.path("hanging-client");
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\"{pattern}\"*) sleep {marker} ;; esac\nexec {} \"$@\"\n",
        fake_obsctl().display()
    );
    std::fs::write(&client, script).unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&client).status().unwrap();
    client
}

#[test]
fn sigterm_during_cleanup_ends_within_the_grace_period_and_leaves_the_rest_journaled() {
    let marker = "1000.4242";
    // Two deletes at once, each hanging: cleanup would take for ever.
    let sb = Sandbox::new(&[("max_in_flight = 256 ", "max_in_flight = 2 ")]);
    let client = hanging_client(&sb, " rm ", marker);
    let args = ["--duration", "3s", "--users", "henry-ops", "--max-file-size", "4KiB", "--seed", "9"];
    let mut cmd = sb.cmd_with_client(&client, &args);
    cmd.args(["--grace-period", "3s", "--cleanup"]);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let start = Instant::now();
    while processes_with(marker).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "cleanup never started a delete");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    signal(pid, libc::SIGTERM);
    let out = wait_bounded(child, LIMIT);
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(3 + 5), "ended {took:?} after SIGTERM, grace period 3 s");
    assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "{}", stderr(&out));
    assert!(processes_with(marker).is_empty(), "{:?}", processes_with(marker));
    assert!(stderr(&out).contains("cleanup stopped by a signal"), "{}", stderr(&out));
    // The summary is written and says how the run ended.
    let s = sb.summary();
    assert_eq!(s["stopped_by"], "signal", "{}", s["stopped_by"]);
    assert_eq!(s["ops"]["delete"]["ok"], 0, "no delete finished: {}", s["ops"]);
    // What was not deleted is in the journal, not marked deleted.
    let stored: Vec<String> = sb.objects().into_iter().filter(|o| o.starts_with("henry-operations/")).collect();
    assert!(stored.len() > 2, "more objects than the cap, so some were never tried: {stored:?}");
    let journal = journal(&sb);
    for o in &stored {
        assert_eq!(journal.get(o), Some(&false), "{o} journaled and live: {journal:?}");
    }
    // A later `trafficgen cleanup` deletes them.
    let bin_dir = sb.path("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(fake_obsctl(), bin_dir.join("obsctl")).unwrap();
    let mut cleanup = std::process::Command::new(bin());
    cleanup
        .current_dir(sb.dir.path())
        .env("FAKE_S3_DIR", sb.path("store"))
        .env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()))
        .arg("--profiles")
        .arg(sb.path("profiles.toml"))
        .args(["cleanup", "--state-dir"])
        .arg(sb.path("state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = run_bounded(cleanup, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let left: Vec<String> = sb.objects().into_iter().filter(|o| o.starts_with("henry-operations/")).collect();
    assert!(left.is_empty(), "left: {left:?}");
}

#[test]
fn a_sigterm_before_cleanup_skips_it_and_keeps_the_objects_journaled() {
    let sb = Sandbox::new(&[]);
    let mut cmd = sb.cmd(&["--duration", "1h", "--users", "henry-ops", "--max-file-size", "4KiB", "--cleanup"]);
    cmd.args(["--grace-period", "2s"]);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(3));
    let signalled = Instant::now();
    signal(pid, libc::SIGTERM);
    let out = wait_bounded(child, LIMIT);
    assert!(signalled.elapsed() < Duration::from_secs(2 + 5), "took {:?}", signalled.elapsed());
    assert!(stderr(&out).contains("cleanup skipped"), "{}", stderr(&out));
    let stored: Vec<String> = sb.objects().into_iter().filter(|o| o.starts_with("henry-operations/")).collect();
    let journal = journal(&sb);
    for o in &stored {
        assert_eq!(journal.get(o), Some(&false), "{o} journaled and live");
    }
    assert_eq!(sb.summary()["stopped_by"], "signal");
}

/// A listener that accepts connections and never answers.
fn silent_server() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn presign_run(sb: &Sandbox, port: u16, extra: &[&str]) -> (std::process::Output, Duration) {
    let mut args = vec!["--duration", "4s", "--users", "henry-ops", "--max-file-size", "4KiB", "--seed", "4"];
    args.extend_from_slice(extra);
    let mut cmd = sb.cmd(&args);
    cmd.env("FAKE_HTTP_PORT", port.to_string());
    let start = Instant::now();
    let out = run_bounded(cmd, LIMIT);
    (out, start.elapsed())
}

#[test]
fn a_hanging_presigned_get_is_cut_at_the_command_timeout() {
    let (_server, port) = silent_server();
    let sb = Sandbox::new(&[("presign = 0.0", "presign = 0.5")]);
    let (out, took) = presign_run(&sb, port, &["--command-timeout", "3s", "--grace-period", "30s"]);
    // 4 s of traffic, then GETs that end at their 3 s timeout: not 60 s.
    assert!(took < Duration::from_secs(4 + 3 + 10), "took {took:?}: {}", stderr(&out));
    let s = sb.summary();
    assert!(s["ops"]["presign"]["failed"].as_u64().unwrap() > 0, "{}", s["ops"]);
    assert!(s["totals"]["failures_by_class"]["timed_out"].as_u64().unwrap() > 0, "{}", s["totals"]);
    assert!(sb.log().contains("GET of the presigned URL cut at the command timeout (3s)"), "{}", sb.log());
}

#[test]
fn a_hanging_presigned_get_is_cut_at_the_end_of_the_grace_period() {
    let (_server, port) = silent_server();
    let sb = Sandbox::new(&[("presign = 0.0", "presign = 0.5")]);
    let (out, took) = presign_run(&sb, port, &["--command-timeout", "60s", "--grace-period", "2s"]);
    assert!(took < Duration::from_secs(4 + 2 + 10), "took {took:?}: {}", stderr(&out));
    let s = sb.summary();
    assert!(s["totals"]["failures_by_class"]["cancelled"].as_u64().unwrap() > 0, "{}", s["totals"]);
}
