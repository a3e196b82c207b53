//! Runs against the fake client: argument form, environment, lifecycle, and every
//! fault (failure, hang, crash, garbage, signals). The real client is in tests/e2e.rs.

mod common;

use common::*;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(90);

fn short(sb: &Sandbox, extra: &[&str]) -> std::process::Command {
    let mut args = SHORT.to_vec();
    args.extend_from_slice(extra);
    sb.cmd(&args)
}

/// The run went to its end: exit 0, or 3 from the shipped profile's thresholds
/// (a 4 s run's achieved ratio is noisy; injected failures break failure_rate) — never
/// from an integrity failure.
fn ran(sb: &Sandbox, out: &std::process::Output) {
    let code = out.status.code();
    assert!(matches!(code, Some(0) | Some(3) | Some(4)), "{}", stderr(out));
    if code == Some(3) {
        let s = sb.summary();
        assert_eq!(s["integrity_failures"], 0, "{}", s["verdict"]);
    }
}

fn total(v: &serde_json::Value, field: &str) -> u64 {
    v["totals"][field].as_u64().unwrap_or_else(|| panic!("totals.{field} in {v}"))
}

#[test]
fn a_run_uploads_downloads_and_expires_through_the_client() {
    let sb = Sandbox::new(&[]);
    let mut cmd = short(&sb, &[]);
    cmd.env("RUST_BACKTRACE", "1");
    let out = run_bounded(cmd, LIMIT);
    ran(&sb, &out);
    let s = sb.summary();
    assert!(total(&s, "uploads") > 20, "{s}");
    assert!(total(&s, "downloads") > 0, "{s}");
    assert!(total(&s, "ttl_deletes") > 0, "{s}");
    assert_eq!(total(&s, "failures"), 0, "{s}");
    assert_eq!(s["seed"], 7);
    assert_eq!(s["client"]["version"], "obsctl 0.3.0-fake");
    assert_eq!(s["users"].as_object().unwrap().len(), 10);

    // Argument form: global options, always a region, then the subcommand.
    let calls = sb.calls();
    let cps: Vec<&String> = calls.iter().filter(|c| c.contains(" cp ")).collect();
    assert!(!cps.is_empty());
    for c in &calls {
        if c.starts_with("--version") {
            continue;
        }
        assert!(
            c.starts_with("--debug error --endpoint http://127.0.0.1:9000 --region us-east-1 "),
            "argument form: {c}"
        );
    }
    assert!(calls.iter().any(|c| c.contains(" rm s3://")), "TTL deletes ran obsctl rm");
    // The profile's environment reaches every child; RUST_BACKTRACE does not.
    for c in &calls {
        let env = c.split('\t').nth(1).unwrap();
        assert!(env.contains("AWS_ACCESS_KEY_ID=minioadmin"), "{env}");
        assert!(env.contains("OTEL_ENABLED=true"), "{env}");
        assert!(env.contains("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317"), "{env}");
        assert!(env.contains("RUST_BACKTRACE=unset"), "{env}");
    }

    // What is on the "server" is exactly uploads minus deletes, under templated keys.
    let objects = sb.objects();
    assert_eq!(objects.len() as u64, total(&s, "uploads") - total(&s, "deletes"), "{objects:?}");
    for o in &objects {
        let (bucket, key) = o.split_once('/').unwrap();
        let user = s["users"].as_object().unwrap().keys().find(|u| {
            let first = u.split('-').next().unwrap();
            bucket.starts_with(first)
        });
        let user = user.unwrap_or_else(|| panic!("object in unknown bucket {o}"));
        assert!(key.contains(&format!("/{user}_")), "{o}");
        assert!(!key.starts_with('/') && !key.contains("//"), "{o}");
    }
    assert!(sb.temp_files().is_empty(), "temp files left: {:?}", sb.temp_files());

    // Log lines in the seed's shape.
    let log = sb.log();
    let line = log.lines().find(|l| l.contains("] Uploaded ")).expect("an upload line");
    let (ts, rest) = line.split_at(23);
    assert!(
        ts.chars().enumerate().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            19 => c == ',',
            _ => c.is_ascii_digit(),
        }),
        "timestamp {ts:?}"
    );
    assert!(rest.starts_with(" - INFO - ["), "{line}");
    assert!(rest.ends_with(" bytes)"), "{line}");
    assert!(log.contains("] Deleted ") && log.contains("(TTL expired)"), "no TTL delete lines");
    assert!(log.contains("final (obsctl: obsctl 0.3.0-fake): "), "final report, naming the client, in the log");
}

#[test]
fn error_probes_exercise_the_clients_error_path_without_counting_as_failures() {
    let sb = Sandbox::new(&[("error_share = 0.01", "error_share = 0.5")]);
    let out = run_bounded(short(&sb, &["--users", "henry-ops,alice-dev"]), LIMIT);
    ran(&sb, &out);
    let s = sb.summary();
    assert!(total(&s, "error_probes") >= 3, "{s}");
    assert_eq!(total(&s, "failures"), 0, "{s}");
    let calls = sb.calls();
    assert!(calls.iter().any(|c| c.contains(" cp s3://") && c.contains("_missing_")), "probe calls");
    let log = sb.log();
    assert!(log.contains("Expected failure: download of a missing key") && log.contains("service error"), "{log}");
    assert!(s["latency_ms"]["missing_key_download"]["count"].as_u64().unwrap() > 0);
    assert_eq!(s["expected_failures"]["missing_key_download"]["unexpected_success"], 0);
}

#[test]
fn cleanup_leaves_no_objects() {
    let sb = Sandbox::new(&[]);
    let out = run_bounded(short(&sb, &["--cleanup", "--users", "alice-dev,henry-ops"]), LIMIT);
    ran(&sb, &out);
    let s = sb.summary();
    assert!(total(&s, "uploads") > 0);
    assert!(total(&s, "cleanup_deletes") > 0, "{s}");
    assert_eq!(s["live_objects_at_exit"], 0);
    assert!(sb.objects().is_empty(), "{:?}", sb.objects());
    assert_eq!(s["users"].as_object().unwrap().len(), 2);
}

#[test]
fn failures_are_counted_with_their_first_stderr_line_and_the_run_goes_on() {
    let sb = Sandbox::new(&[]);
    let mut cmd = short(&sb, &[]);
    cmd.env("FAKE_OBSCTL_MODE", "fail").env("FAKE_OBSCTL_LEAK", "1");
    let out = run_bounded(cmd, LIMIT);
    ran(&sb, &out);
    let s = sb.summary();
    assert!(total(&s, "failures") > 20, "{s}");
    assert_eq!(s["totals"]["failures_by_class"]["failed"], s["totals"]["failures"]);
    assert_eq!(total(&s, "uploads"), 0);
    // The run kept its schedule despite every command failing.
    assert!(s["achieved_ops"].as_f64().unwrap() > 0.8 * s["target_ops"].as_f64().unwrap(), "{s}");
    let log = sb.log();
    assert!(log.contains("WARNING - [") && log.contains("failed (failed exit 1"), "{log}");
    assert!(log.contains("signature mismatch for ***"), "first stderr line, redacted");
    assert!(!log.contains("more detail"), "only the first stderr line is kept");
    // Credentials never appear anywhere.
    let summary = std::fs::read_to_string(sb.path("summary.json")).unwrap();
    for text in [&log, &summary, &stderr(&out), &stdout(&out)] {
        assert!(!text.contains("minioadmin123"), "secret leaked");
    }
    // Repeated failures make users re-ensure their buckets.
    assert!(log.contains("Re-ensured bucket"), "no re-ensure in log");
}

#[test]
fn a_hung_client_is_killed_at_its_timeout_and_reaped() {
    let marker = "1000.4242";
    let sb = Sandbox::new(&[]);
    let mut cmd =
        short(&sb, &["--command-timeout", "1s", "--grace-period", "5s", "--users", "alice-dev,bob-marketing"]);
    cmd.env("FAKE_OBSCTL_MODE", "hang").env("FAKE_OBSCTL_HANG", marker);
    let started = Instant::now();
    let out = run_bounded(cmd, LIMIT);
    ran(&sb, &out);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let s = sb.summary();
    assert!(s["totals"]["failures_by_class"]["timed_out"].as_u64().unwrap() > 0, "{s}");
    assert!(processes_with(marker).is_empty(), "left running: {:?}", processes_with(marker));
    assert!(sb.temp_files().is_empty());
    let log = sb.log();
    assert!(log.contains("timed_out") && log.contains("killed at the command timeout"), "{log}");
}

#[test]
fn crashes_and_garbage_output_are_classified() {
    let sb = Sandbox::new(&[]);
    let mut cmd = short(&sb, &["--users", "alice-dev"]);
    cmd.env("FAKE_OBSCTL_MODE", "crash");
    let out = run_bounded(cmd, LIMIT);
    ran(&sb, &out);
    let s = sb.summary();
    assert!(s["totals"]["failures_by_class"]["crashed"].as_u64().unwrap() > 0, "{s}");
    assert!(sb.log().contains("killed by signal 11"));

    let sb = Sandbox::new(&[]);
    let mut cmd = short(&sb, &["--users", "henry-ops"]);
    cmd.env("FAKE_OBSCTL_MODE", "garbage");
    let out = run_bounded(cmd, LIMIT);
    ran(&sb, &out);
    let s = sb.summary();
    assert!(total(&s, "uploads") > 0, "{s}");
    assert_eq!(total(&s, "failures"), 0, "garbage output with exit 0 is a success: {s}");
}

#[test]
fn sigint_mid_run_finishes_in_flight_work_and_writes_the_summary() {
    let marker = "2.4343";
    let sb = Sandbox::new(&[]);
    let mut cmd =
        sb.cmd(&["--duration", "1h", "--rate-scale", "0.3", "--max-file-size", "16KiB", "--grace-period", "20s"]);
    cmd.env("FAKE_OBSCTL_MODE", "slow").env("FAKE_OBSCTL_SLEEP", marker);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(3));
    assert!(!processes_with(marker).is_empty(), "slow commands should be in flight");
    let stopped = Instant::now();
    signal(pid, libc::SIGINT);
    let out = wait_bounded(child, LIMIT);
    ran(&sb, &out);
    assert!(stopped.elapsed() < Duration::from_secs(15), "stopped in {:?}", stopped.elapsed());
    let s = sb.summary();
    assert_eq!(s["stopped_by"], "signal");
    assert!(total(&s, "uploads") > 0, "in-flight uploads finished: {s}");
    assert_eq!(s["totals"]["failures_by_class"]["cancelled"], 0, "all finished within grace: {s}");
    assert!(processes_with(marker).is_empty(), "{:?}", processes_with(marker));
    assert!(sb.temp_files().is_empty(), "{:?}", sb.temp_files());
}

#[test]
fn sigterm_after_the_grace_period_kills_what_is_left() {
    let marker = "1000.5151";
    let sb = Sandbox::new(&[]);
    let mut cmd =
        sb.cmd(&["--duration", "1h", "--rate-scale", "0.3", "--max-file-size", "16KiB", "--grace-period", "1s"]);
    cmd.env("FAKE_OBSCTL_MODE", "hang").env("FAKE_OBSCTL_HANG", marker);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(3));
    signal(pid, libc::SIGTERM);
    let out = wait_bounded(child, LIMIT);
    ran(&sb, &out);
    let s = sb.summary();
    assert!(s["totals"]["failures_by_class"]["cancelled"].as_u64().unwrap() > 0, "{s}");
    assert!(processes_with(marker).is_empty(), "{:?}", processes_with(marker));
    assert!(sb.temp_files().is_empty(), "{:?}", sb.temp_files());
}

#[test]
fn a_second_ctrl_c_aborts_at_once_with_130() {
    let marker = "1000.6161";
    let sb = Sandbox::new(&[]);
    let mut cmd = sb.cmd(&["--duration", "1h", "--rate-scale", "0.3", "--grace-period", "60s"]);
    cmd.env("FAKE_OBSCTL_MODE", "hang").env("FAKE_OBSCTL_HANG", marker);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(3));
    signal(pid, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(500));
    let second = Instant::now();
    signal(pid, libc::SIGINT);
    let out = wait_bounded(child, LIMIT);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(second.elapsed() < Duration::from_secs(5));
    assert!(processes_with(marker).is_empty(), "{:?}", processes_with(marker));
    let temp: Vec<_> = std::fs::read_dir(sb.path("temp")).unwrap().collect();
    assert!(temp.is_empty(), "temp root removed: {temp:?}");
}

#[test]
fn one_ctrl_c_before_traffic_starts_aborts_with_130() {
    // The client's `--version` (the first preflight step) hangs: no traffic yet, so
    // there is nothing to stop gently or to summarize.
    let marker = "1000.7272";
    let sb = Sandbox::new(&[]);
    let client = sb.path("slow-version-client");
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" --version \"*) sleep {marker} ;; esac\nexec {} \"$@\"\n",
        fake_obsctl().display()
    );
    std::fs::write(&client, script).unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&client).status().unwrap();
    let child = sb.cmd_with_client(&client, &["--duration", "1h"]).spawn().unwrap();
    let pid = child.id();
    let start = Instant::now();
    while processes_with(marker).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "the version check never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(pid, libc::SIGINT);
    let out = wait_bounded(child, LIMIT);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    // The output paths were checked, not created: no summary claims a run that never
    // started.
    let summary = std::fs::read_to_string(sb.path("summary.json")).unwrap_or_default();
    assert!(summary.is_empty(), "{summary}");
    let start = Instant::now();
    while !processes_with(marker).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", processes_with(marker));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn uploads_killed_at_the_end_are_maybe_live_journaled_and_cleaned_up() {
    // Every upload stores its object, then hangs: the end of the grace period kills
    // them all, and each may have stored its object (here, each did).
    let marker = "1000.8383";
    for cleanup in [false, true] {
        let sb = Sandbox::new(&[]);
        let mut args = vec!["--duration", "2m", "--time-scale", "60", "--rate-scale", "0.5"];
        args.extend(["--max-file-size", "16KiB", "--grace-period", "1s", "--seed", "11"]);
        if cleanup {
            args.push("--cleanup");
        }
        let mut cmd = sb.cmd(&args);
        cmd.env("FAKE_OBSCTL_HANG_AFTER_UPLOAD", "1").env("FAKE_OBSCTL_HANG", marker);
        let out = run_bounded(cmd, LIMIT);
        let s = sb.summary();
        assert!(matches!(out.status.code(), Some(0) | Some(3) | Some(4)), "{}", stderr(&out));
        assert_eq!(s["integrity_failures"], 0, "{}", s["verdict"]);
        assert!(s["totals"]["failures_by_class"]["cancelled"].as_u64().unwrap() > 0, "{s}");
        assert!(processes_with(marker).is_empty(), "{:?}", processes_with(marker));
        assert_eq!(s["live_objects_at_exit"], 0, "no upload finished");
        let journal = journal(&sb);
        if !cleanup {
            let stored = sb.objects();
            assert!(!stored.is_empty(), "the killed uploads stored objects");
            assert_eq!(s["maybe_live_objects_at_exit"], stored.len(), "{s}");
            assert_eq!(s["totals"]["maybe_live_objects"], stored.len());
            // Each is in the journal and not marked deleted, so a later run or
            // `trafficgen cleanup` finds it.
            for o in &stored {
                assert_eq!(journal.get(o), Some(&false), "{o} journaled and live");
            }
            assert!(stderr(&out).contains(&format!("maybe live {}", stored.len())), "{}", stderr(&out));
        } else {
            assert!(sb.objects().is_empty(), "--cleanup deletes maybe-live objects: {:?}", sb.objects());
            assert_eq!(s["maybe_live_objects_at_exit"], 0, "{s}");
            assert!(s["ops"]["delete"]["ok"].as_u64().unwrap() > 0, "{s}");
            assert!(journal.values().all(|deleted| *deleted), "{journal:?}");
        }
    }
}

#[test]
fn a_client_that_burns_cpu_is_admitted_less_and_the_host_is_named() {
    // Every call spends ~0.3 s of CPU; 10 users offering 6/s need ~2 cores of client
    // CPU alone on a 2-core machine: the host saturates, and trafficgen holds back when
    // its own processes take most of the CPU (on an idle machine, they do).
    let sb = Sandbox::new(&[
        ("base_ops_per_min = 40.0", "base_ops_per_min = 18.0"),
        ("peak_multiplier = 2.0", "peak_multiplier = 1.0"),
        ("offpeak_multiplier = 0.2", "offpeak_multiplier = 1.0"),
        ("download_share = 0.2", "download_share = 0.0"),
    ]);
    let profile = std::fs::read_to_string(sb.path("profiles.toml")).unwrap();
    std::fs::write(sb.path("profiles.toml"), profile.replace("host_guard = false", "host_guard = true")).unwrap();
    let mut cmd =
        sb.cmd(&["--duration", "25s", "--max-file-size", "1KiB", "--command-timeout", "60s", "--stats-interval", "1h"]);
    cmd.env("FAKE_OBSCTL_BURN", "450000");
    let out = run_bounded(cmd, Duration::from_secs(120));
    let s = sb.summary();
    let h = &s["host"];
    assert!(stderr(&out).contains("HOST LIMITED"), "{}", stderr(&out));
    assert!(h["own_cpu_share"].as_f64().is_some(), "{h}");
    match h["party"].as_str() {
        // Its own clients took the CPU: trafficgen holds back, and says it is the party.
        Some("trafficgen") => {
            let host = s["totals"]["shortfall_by_reason"]["host"].as_u64().unwrap();
            assert!(host > 0, "no host shortfall: {h}");
            assert!(h["saturated_s"].as_f64().unwrap() > 0.0, "{h}");
            assert!(h["warning"].as_str().unwrap().contains("not the server"), "{h}");
            assert!(stderr(&out).contains("host limited by trafficgen itself"), "{}", stderr(&out));
            assert_eq!(s["totals"]["failures_by_class"]["timed_out"], 0, "admission kept commands from timing out");
        }
        // A shared machine whose other work outweighed even this client's (other
        // builds and tests): named, with its share, and not held back for.
        Some("other") => {
            assert!(h["other_cpu_share"].as_f64().unwrap() > 0.5, "{h}");
            assert!(h["other_busy_s"].as_f64().unwrap() > 0.0, "{h}");
            assert!(!h["others"].as_array().unwrap().is_empty(), "{h}");
            assert!(stderr(&out).contains("host busy with other work"), "{}", stderr(&out));
        }
        _ => panic!("the host saturated, but no party is named: {h}"),
    }
}

/// Objects in the fake store, per bucket directory.
fn stored(sb: &Sandbox) -> Vec<String> {
    sb.objects()
}

/// A long time-warped run (24 h at 7200x: 12 wall seconds) for `users`.
fn long(sb: &Sandbox, users: &str) -> std::process::Command {
    sb.cmd(&[
        "--duration",
        "24h",
        "--time-scale",
        "7200",
        "--start-at",
        "06:00",
        "--max-file-size",
        "16KiB",
        "--seed",
        "7",
        "--users",
        users,
    ])
}

#[test]
fn after_kill_9_the_next_run_deletes_what_was_left_and_no_temp_file_stays() {
    // 1 h TTL at 7200x: objects expire 0.5 s (wall) after their upload.
    let sb = Sandbox::new(&[("ttl = \"3h\"", "ttl = \"1h\""), ("large_ttl = \"60m\"", "large_ttl = \"30m\"")]);
    let mut cmd = long(&sb, "alice-dev,henry-ops,jack-mobile");
    cmd.env("FAKE_OBSCTL_MODE", "slow").env("FAKE_OBSCTL_SLEEP", "0.4");
    let child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    signal(child.id(), libc::SIGKILL);
    let _ = wait_bounded(child, LIMIT);
    // Children die with their parent (parent-death signal); give them a moment.
    let temp = sb.path("temp").display().to_string();
    let start = Instant::now();
    while !processes_with(&temp).is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(processes_with(&temp).is_empty(), "children outlived trafficgen: {:?}", processes_with(&temp));
    let left = stored(&sb);
    assert!(!left.is_empty(), "the killed run stored objects");
    assert!(!sb.temp_files().is_empty(), "the killed run left its temp dir (the next run removes it)");
    std::thread::sleep(Duration::from_secs(1));
    // The next run on the same state dir: every leftover is due, so it is deleted at
    // start, without a cleanup call; and the dead run's temp dir goes.
    let out = run_bounded(sb.cmd(&["--duration", "1s", "--users", "alice-dev", "--max-file-size", "1KiB"]), LIMIT);
    assert!(matches!(out.status.code(), Some(0) | Some(3) | Some(4)), "{}", stderr(&out));
    let now = stored(&sb);
    for obj in &left {
        assert!(!now.contains(obj), "{obj} was left by the killed run and is still there");
    }
    assert!(sb.temp_files().is_empty(), "{:?}", sb.temp_files());
    assert!(sb.log().contains("due, deleting them before traffic starts"), "{}", sb.log());
}

#[test]
fn a_run_deletes_due_leftovers_before_traffic_and_counts_none_of_them() {
    let sb = Sandbox::new(&[]);
    let state = sb.path("state");
    let now = unix_now();
    // 120 due (a progress line comes every 100 deletes), one due in a bucket that is
    // gone (its delete fails), 3 due only in an hour.
    let due: Vec<String> = (0..120).map(|i| format!("old/alice-dev_code_{i}.tg0.py")).collect();
    let later: Vec<String> = (0..3).map(|i| format!("new/henry-ops_config_{i}.tg0.yaml")).collect();
    let mut objects: Vec<(&str, &str, f64)> =
        due.iter().map(|k| ("alice-development", k.as_str(), now - 60.0)).collect();
    objects.extend(later.iter().map(|k| ("henry-operations", k.as_str(), now + 3600.0)));
    objects.push(("gone-bucket", "old/alice-dev_x.tg0.txt", now - 60.0));
    left_behind(&sb, &state, &objects);
    std::fs::remove_dir_all(sb.path("store/gone-bucket")).unwrap();

    // An hour at 3600x: one wall second of traffic, which no TTL of its own ends.
    let out = run_bounded(
        sb.cmd(&[
            "--duration",
            "1h",
            "--time-scale",
            "3600",
            "--start-at",
            "12:00",
            "--users",
            "alice-dev,henry-ops",
            "--rate-scale",
            "0.5",
            "--max-file-size",
            "4KiB",
            "--seed",
            "7",
            "--cleanup",
            "--no-live",
        ]),
        LIMIT,
    );
    ran(&sb, &out);
    let err = stderr(&out);
    assert!(
        err.contains(
            "124 objects of earlier runs in the journal: 121 due, deleting them before traffic starts; 3 not yet due stay in the journal for a later run or `trafficgen cleanup`"
        ),
        "{err}"
    );
    assert!(err.contains("earlier runs' objects: 100/121 deletes done"), "{err}");
    assert!(err.contains("earlier runs' objects: 120 of 121 deleted in "), "{err}");
    assert!(err.contains("1 could not be: they stay in the journal"), "{err}");

    // Every delete of theirs ended before the first command of the run's own.
    let calls = sb.calls();
    let first_cp = calls.iter().position(|c| c.contains(" cp ")).expect("the run uploaded");
    let theirs = |c: &String| c.contains(" rm s3://alice-development/old/") || c.contains(" rm s3://gone-bucket/");
    assert_eq!(calls.iter().filter(|c| theirs(c)).count(), 121, "{calls:?}");
    assert!(calls.iter().rposition(theirs).unwrap() < first_cp, "{calls:?}");
    // The not-yet-due ones are nobody's in this run: not deleted, still journaled.
    assert!(calls.iter().all(|c| !c.contains("henry-ops_config_")), "{calls:?}");
    let stored = sb.objects();
    for k in &later {
        assert!(stored.contains(&format!("henry-operations/{k}")), "{k}: {stored:?}");
    }
    assert!(stored.iter().all(|o| !o.starts_with("alice-development/old/")), "{stored:?}");
    let journal = journal(&sb);
    for k in &later {
        assert_eq!(journal.get(&format!("henry-operations/{k}")), Some(&false), "{journal:?}");
    }
    assert_eq!(journal.get("gone-bucket/old/alice-dev_x.tg0.txt"), Some(&false), "{journal:?}");

    // The run's own numbers hold its own commands only: a failed delete of theirs is no
    // failure of this run, and `--cleanup` deleted what it uploaded, nothing more.
    let s = sb.summary();
    assert_eq!(total(&s, "failures"), 0, "{}", s["totals"]);
    assert_eq!(s["failure_rate"].as_f64(), Some(0.0), "{}", s["failure_rate"]);
    assert_eq!(total(&s, "ttl_deletes"), 0, "{}", s["totals"]);
    assert_eq!(total(&s, "cleanup_deletes"), total(&s, "uploads"), "{}", s["totals"]);
    assert_eq!(total(&s, "deletes"), total(&s, "uploads"), "{}", s["totals"]);
}

#[test]
fn cleanup_deletes_what_a_run_left_and_a_second_run_is_refused_while_one_runs() {
    let sb = Sandbox::new(&[]);
    let mut cmd = long(&sb, "henry-ops");
    cmd.env("FAKE_OBSCTL_MODE", "slow").env("FAKE_OBSCTL_SLEEP", "0.3");
    let child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // One run per state dir: a second one names the first's pid.
    let second = run_bounded(sb.cmd(&["--duration", "1s"]), LIMIT);
    assert_eq!(second.status.code(), Some(2));
    assert!(stderr(&second).contains(&child.id().to_string()), "{}", stderr(&second));
    signal(child.id(), libc::SIGKILL);
    let _ = wait_bounded(child, LIMIT);
    assert!(!stored(&sb).is_empty());
    let mut cleanup = std::process::Command::new(bin());
    cleanup
        .current_dir(sb.dir.path())
        .env("FAKE_S3_DIR", sb.path("store"))
        .arg("--profiles")
        .arg(sb.path("profiles.toml"))
        .args(["cleanup", "--state-dir"])
        .arg(sb.path("state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // With no `obsctl` on PATH, cleanup says why once, deletes nothing and keeps the
    // journal, instead of "N failed" with no reason.
    let bin_dir = sb.path("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let before = stored(&sb);
    let mut missing = std::process::Command::new(bin());
    missing
        .current_dir(sb.dir.path())
        .env("FAKE_S3_DIR", sb.path("store"))
        .env("PATH", &bin_dir)
        .arg("--profiles")
        .arg(sb.path("profiles.toml"))
        .args(["cleanup", "--state-dir"])
        .arg(sb.path("state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = run_bounded(missing, LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot run `obsctl --version`"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("failed"), "{}", stderr(&out));
    assert_eq!(stored(&sb), before, "nothing may be deleted");
    // The profile's client is `obsctl`: point PATH at the fake under that name.
    std::os::unix::fs::symlink(fake_obsctl(), bin_dir.join("obsctl")).unwrap();
    cleanup.env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()));
    let out = run_bounded(cleanup, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stored(&sb).is_empty(), "left: {:?}", stored(&sb));
    assert!(stderr(&out).contains("cleanup:") && stderr(&out).contains("deleted"), "{}", stderr(&out));
}

/// `trafficgen cleanup ARGS` in the sandbox, with a PATH on which no `obsctl` is found
/// (the profile's client): only a client the options name can run.
fn cleanup_without_obsctl_on_path(sb: &Sandbox, args: &[&str]) -> std::process::Command {
    let mut all = vec!["cleanup"];
    all.extend_from_slice(args);
    let mut c = sb.cmd(&all);
    // The fake is a shell script: it needs the system's tools, and nothing else.
    c.env("PATH", "/usr/bin:/bin");
    c
}

#[test]
fn cleanup_takes_the_client_and_endpoint_a_run_takes() {
    let sb = Sandbox::new(&[]);
    let state = sb.path("state");
    let old = unix_now() - 60.0;
    left_behind(&sb, &state, &[("alice-development", "a/x.tg1.txt", old), ("henry-operations", "b/y.tg2.log", old)]);
    let fake = fake_obsctl().display().to_string();
    let state_arg = state.display().to_string();
    let out = run_bounded(
        cleanup_without_obsctl_on_path(
            &sb,
            &[
                "--obsctl",
                &fake,
                "--endpoint",
                "http://127.0.0.1:9555",
                "--region",
                "eu-west-7",
                "--state-dir",
                &state_arg,
            ],
        ),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(sb.objects().is_empty(), "left: {:?}", sb.objects());
    assert!(stderr(&out).contains("2 deleted, 0 failed"), "{}", stderr(&out));
    let deletes: Vec<String> = sb.calls().into_iter().filter(|c| c.contains(" rm ")).collect();
    assert_eq!(deletes.len(), 2, "{:?}", sb.calls());
    for c in &deletes {
        assert!(c.starts_with("--debug error --endpoint http://127.0.0.1:9555 --region eu-west-7 rm s3://"), "{c}");
    }
    assert!(journal(&sb).is_empty(), "the journal keeps nothing deleted: {:?}", journal(&sb));
    // Given before the subcommand's name, they are still refused, with where they go.
    let mut before_name = std::process::Command::new(bin());
    before_name.arg("--profiles").arg(sb.path("profiles.toml")).args(["--obsctl", &fake, "cleanup"]);
    before_name.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let out = run_bounded(before_name, LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("put it after it (trafficgen cleanup --obsctl"), "{}", stderr(&out));
}

#[test]
fn cleanup_with_a_missing_client_names_the_fix_and_deletes_nothing() {
    let sb = Sandbox::new(&[]);
    let state = sb.path("state");
    left_behind(&sb, &state, &[("alice-development", "a/x.tg1.txt", unix_now() - 60.0)]);
    let before = std::fs::read_to_string(state.join("objects.jsonl")).unwrap();
    let state_arg = state.display().to_string();
    for args in [vec!["--state-dir", &state_arg], vec!["--state-dir", &state_arg, "--obsctl", "no-such-client"]] {
        let out = run_bounded(cleanup_without_obsctl_on_path(&sb, &args), LIMIT);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("No such file or directory"), "{err}");
        assert!(
            err.contains("give the client with --obsctl PATH (or obsctl.binary in the profile), or --client aws --obsctl .venv/bin/aws"),
            "{err}"
        );
        assert!(err.contains("nothing deleted, the journal is kept"), "{err}");
        assert_eq!(sb.objects().len(), 1, "nothing may be deleted");
        assert_eq!(std::fs::read_to_string(state.join("objects.jsonl")).unwrap(), before);
    }
}

/// A second of traffic for two users.
fn brief(sb: &Sandbox, extra: &[&str]) -> std::process::Command {
    let mut args =
        vec!["--duration", "1h", "--time-scale", "3600", "--start-at", "12:00", "--users", "alice-dev,henry-ops"];
    args.extend_from_slice(&["--rate-scale", "0.5", "--max-file-size", "4KiB", "--seed", "7", "--no-live"]);
    args.extend_from_slice(extra);
    sb.cmd(&args)
}

/// Every client command but `--version` starts with the global options naming `endpoint`.
fn every_call_at(sb: &Sandbox, endpoint: &str) {
    let calls: Vec<String> = sb.calls().into_iter().filter(|c| !c.starts_with("--version")).collect();
    assert!(!calls.is_empty());
    for c in &calls {
        assert!(c.starts_with(&format!("--debug error --endpoint {endpoint} --region us-east-1 ")), "{c}");
    }
}

#[test]
fn the_endpoint_comes_from_aws_endpoint_url_unless_endpoint_is_given() {
    let sb = Sandbox::new(&[]);
    let mut cmd = brief(&sb, &[]);
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9777");
    let out = run_bounded(cmd, LIMIT);
    ran(&sb, &out);
    every_call_at(&sb, "http://127.0.0.1:9777");
    assert!(stderr(&out).contains("endpoint http://127.0.0.1:9777 (from AWS_ENDPOINT_URL)"), "{}", stderr(&out));

    std::fs::remove_file(sb.path("calls.log")).unwrap();
    let mut cmd = brief(&sb, &["--endpoint", "http://127.0.0.1:9888"]);
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9777");
    let out = run_bounded(cmd, LIMIT);
    ran(&sb, &out);
    every_call_at(&sb, "http://127.0.0.1:9888");
    assert!(stderr(&out).contains("endpoint http://127.0.0.1:9888 (from --endpoint)"), "{}", stderr(&out));

    // Without either, the profile's; an empty variable counts as unset.
    std::fs::remove_file(sb.path("calls.log")).unwrap();
    let mut cmd = brief(&sb, &[]);
    cmd.env("AWS_ENDPOINT_URL", "");
    let out = run_bounded(cmd, LIMIT);
    ran(&sb, &out);
    every_call_at(&sb, "http://127.0.0.1:9000");
    assert!(stderr(&out).contains("endpoint http://127.0.0.1:9000 (from obsctl.endpoint)"), "{}", stderr(&out));

    // cleanup takes it too.
    std::fs::remove_file(sb.path("calls.log")).unwrap();
    left_behind(&sb, &sb.path("state"), &[("alice-development", "a/x.tg1.txt", unix_now() + 3600.0)]);
    let mut cmd = sb.cmd(&["cleanup", "--obsctl", &fake_obsctl().display().to_string(), "--state-dir", "state"]);
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9777");
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    every_call_at(&sb, "http://127.0.0.1:9777");
    assert!(stderr(&out).contains("endpoint http://127.0.0.1:9777 (from AWS_ENDPOINT_URL)"), "{}", stderr(&out));
}

#[test]
fn an_aws_endpoint_url_that_is_not_a_url_is_refused_by_name_before_anything_runs() {
    let sb = Sandbox::new(&[]);
    for args in [vec![], vec!["cleanup"]] {
        let mut cmd = if args.is_empty() { brief(&sb, &[]) } else { sb.cmd(&args) };
        cmd.env("AWS_ENDPOINT_URL", "localhost:9000");
        let out = run_bounded(cmd, LIMIT);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("AWS_ENDPOINT_URL \"localhost:9000\": must start with http://"),
            "{}",
            stderr(&out)
        );
        assert!(sb.calls().is_empty(), "{:?}", sb.calls());
    }
}
