//! trafficgen deletes and overwrites only what it made: its log pruning leaves files that
//! merely look like its logs, its outputs are never emptied before a run is known to
//! start, never written through a link or over an input, the summaries it reads are
//! bounded, and shards side by side do not fight over one default state dir.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{SHORT, Sandbox, bin, fake_obsctl, run_bounded, stderr, wait_bounded};

const LIMIT: Duration = Duration::from_secs(90);

/// A 4-second run of the fake client (see `SHORT`); exit 0, or 3 from the shipped
/// profile's thresholds on so short a run.
fn short_run(sb: &Sandbox, extra: &[&str]) {
    let mut args = SHORT.to_vec();
    args.extend_from_slice(extra);
    let out = run_bounded(sb.cmd(&args), LIMIT);
    assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "{}", stderr(&out));
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn log_pruning_deletes_only_its_own_rotated_names() {
    let sb = Sandbox::new(&[]);
    // The sandbox logs to tg.log: these share its stem and extension, or look close.
    let users = ["tgbook-01.log", "tg-notes.log", "tg-summary.catalog", "tg.log", "tg.2020-01-01.log.bak"];
    for n in users {
        std::fs::write(sb.path(n), format!("user file {n}")).unwrap();
    }
    // Twenty rotated logs of earlier days: with today's, the 7 oldest go (14 kept).
    let old: Vec<String> = (1..=20).map(|d| format!("tg.2020-01-{d:02}.log")).collect();
    for n in &old {
        std::fs::write(sb.path(n), "old log").unwrap();
    }
    let out = run_bounded(sb.cmd(&["--duration", "1m", "--time-scale", "60", "--seed", "1"]), LIMIT);
    assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "{}", stderr(&out));
    for n in users {
        assert_eq!(std::fs::read_to_string(sb.path(n)).ok(), Some(format!("user file {n}")), "{n} was touched");
    }
    for (i, n) in old.iter().enumerate() {
        assert_eq!(sb.path(n).exists(), i >= 7, "{n}");
    }
    assert!(sb.log().contains("starting"), "today's log is written");
}

#[test]
fn merge_and_report_refuse_to_write_over_their_input_and_leave_it_whole() {
    let sb = Sandbox::new(&[]);
    short_run(&sb, &[]);
    std::fs::rename(sb.path("summary.json"), sb.path("s0.json")).unwrap();
    let before = bytes(&sb.path("s0.json"));
    assert!(before.len() > 1000);
    let cases: [&[&str]; 4] = [
        &["merge", "s0.json", "--summary-json", "s0.json"],
        &["merge", "s0.json", "--junit", "./s0.json"],
        &["merge", "s0.json", "--summary-json", "profiles.toml"],
        &["report", "s0.json", "--html", "s0.json"],
    ];
    let profile = bytes(&sb.path("profiles.toml"));
    for args in cases {
        let out = run_bounded(sb.cmd(args), LIMIT);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let target = args[3].trim_start_matches("./");
        assert!(err.contains(target) && err.contains("is also"), "{args:?}: {err}");
        assert_eq!(bytes(&sb.path("s0.json")), before, "{args:?} changed s0.json");
        assert_eq!(bytes(&sb.path("profiles.toml")), profile, "{args:?} changed the profile");
    }
    // A run's outputs: never the profile or the state dir's journal, never two outputs
    // in one file.
    for (extra, named) in [
        (&["--html", "profiles.toml"][..], "the profile"),
        (&["--junit", "summary.json"][..], "--summary-json"),
        (&["--junit", "state/objects.jsonl"][..], "the state dir's journal"),
    ] {
        let mut args = vec!["--duration", "1m"];
        args.extend_from_slice(extra);
        let out = run_bounded(sb.cmd(&args), LIMIT);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{extra:?}: {}", stderr(&out));
        assert_eq!(bytes(&sb.path("profiles.toml")), profile);
    }
    // compare's output goes to stdout: redirected into an input, it is named.
    let out_file = std::fs::File::create(sb.path("cmp.json")).unwrap();
    let mut cmd = sb.cmd(&["compare", "s0.json", "cmp.json"]);
    cmd.stdout(out_file);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("standard output goes to") && stderr(&out).contains("cmp.json"), "{}", stderr(&out));
}

#[test]
fn a_run_refused_for_a_state_dir_in_use_leaves_earlier_outputs_byte_for_byte() {
    let sb = Sandbox::new(&[]);
    let outputs = [("summary.json", "{\"earlier\": \"summary\"}\n"), ("r.html", "<p>earlier</p>"), ("j.xml", "<x/>")];
    let outputs = outputs.map(|(n, text)| (n, format!("{text} {}", "padding ".repeat(200))));
    for (n, text) in &outputs {
        std::fs::write(sb.path(n), text).unwrap();
    }
    std::fs::write(sb.path("ops.jsonl"), "{\"earlier\": 1}\n").unwrap();
    // Another trafficgen holds the state dir (the lock is an flock on state/lock).
    std::fs::create_dir_all(sb.path("state")).unwrap();
    let lock =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(sb.path("state/lock")).unwrap();
    // SAFETY: flock on a file this test owns.
    assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let out = run_bounded(
        sb.cmd(&["--duration", "1m", "--html", "r.html", "--junit", "j.xml", "--ops-log", "ops.jsonl"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("in use"), "{}", stderr(&out));
    for (n, text) in &outputs {
        assert_eq!(std::fs::read_to_string(sb.path(n)).unwrap(), *text, "{n} changed");
    }
    assert_eq!(std::fs::read_to_string(sb.path("ops.jsonl")).unwrap(), "{\"earlier\": 1}\n");
    drop(lock);
}

#[test]
fn an_output_that_is_a_link_is_refused_and_its_target_kept() {
    let sb = Sandbox::new(&[]);
    let precious = "{\"the user's\": \"own file\"}\n";
    std::fs::write(sb.path("precious.json"), precious).unwrap();
    let link = |name: &str| std::os::unix::fs::symlink(sb.path("precious.json"), sb.path(name)).unwrap();
    let intact = || assert_eq!(std::fs::read_to_string(sb.path("precious.json")).unwrap(), precious);
    // The sandbox's --summary-json is summary.json.
    link("summary.json");
    let out = run_bounded(sb.cmd(SHORT), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("symbolic link") && stderr(&out).contains("--summary-json"), "{}", stderr(&out));
    intact();
    std::fs::remove_file(sb.path("summary.json")).unwrap();
    link("ops.jsonl");
    let mut args = SHORT.to_vec();
    args.extend_from_slice(&["--ops-log", "ops.jsonl"]);
    let out = run_bounded(sb.cmd(&args), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("symbolic link") && stderr(&out).contains("--ops-log"), "{}", stderr(&out));
    intact();
    // synth, merge and report too.
    link("synth.bin");
    let out = run_bounded(sb.cmd(&["synth", "synth.bin", "--size", "1KiB"]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    intact();
    short_run(&sb, &[]);
    std::fs::rename(sb.path("summary.json"), sb.path("s0.json")).unwrap();
    link("summary.json");
    for args in
        [&["merge", "s0.json", "--summary-json", "summary.json"][..], &["report", "s0.json", "--html", "summary.json"]]
    {
        let out = run_bounded(sb.cmd(args), LIMIT);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("symbolic link"), "{args:?}: {}", stderr(&out));
        intact();
    }
}

#[test]
fn summaries_over_the_size_limit_are_refused_at_once_by_merge_report_and_compare() {
    let sb = Sandbox::new(&[]);
    // 200 MB, sparse: costs no disk, and is never read.
    let size = 200_000_000u64;
    std::fs::File::create(sb.path("huge.json")).unwrap().set_len(size).unwrap();
    std::fs::write(sb.path("ok.json"), "{\"ops\": {}, \"latency_ms\": {}}").unwrap();
    let cases: [&[&str]; 4] = [
        &["merge", "huge.json"],
        &["report", "huge.json", "--html", "r.html"],
        &["compare", "huge.json", "ok.json"],
        &["compare", "ok.json", "huge.json"],
    ];
    for args in cases {
        let start = Instant::now();
        let out = run_bounded(sb.cmd(args), LIMIT);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("huge.json") && err.contains(&size.to_string()) && err.contains("64 MiB"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10), "{args:?} took {:?}", start.elapsed());
        assert!(!sb.path("r.html").exists());
    }
    // Within the size, a file shaped to cost far more memory per byte than a summary
    // (once: 56 MB of {"a":0} took 4.9 GB) is refused before it is parsed.
    let body = vec!["{\"a\":0}"; 400_000].join(",");
    std::fs::write(sb.path("dense.json"), format!("{{\"ops\":{{}},\"latency_ms\":{{}},\"users\":[{body}]}}")).unwrap();
    for args in [
        &["merge", "dense.json"][..],
        &["report", "dense.json", "--html", "r.html"],
        &["compare", "dense.json", "ok.json"],
    ] {
        let out = run_bounded(sb.cmd(args), LIMIT);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("dense.json: not shaped like a trafficgen summary"), "{}", stderr(&out));
    }
}

#[test]
fn two_shards_side_by_side_with_the_default_state_dir_both_start() {
    let sb = Sandbox::new(&[]);
    let data = sb.path("xdg");
    let shard = |i: u32| {
        let mut c = Command::new(bin());
        c.current_dir(sb.dir.path())
            .env("FAKE_S3_DIR", sb.path("store"))
            .env("XDG_DATA_HOME", &data)
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("TRAFFICGEN_SHARDS")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_ENDPOINT_URL")
            .arg("--profiles")
            .arg(sb.path("profiles.toml"))
            .arg("--obsctl")
            .arg(fake_obsctl())
            .args(["--shard", &format!("{i}/2"), "--temp-dir", "temp", "--no-live"])
            .args(["--log-file", &format!("shard{i}.log"), "--summary-json", &format!("s{i}.json")])
            .args(SHORT)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let (a, b) = (shard(0).spawn().unwrap(), shard(1).spawn().unwrap());
    for (i, out) in [wait_bounded(a, LIMIT), wait_bounded(b, LIMIT)].iter().enumerate() {
        assert!(!stderr(out).contains("in use"), "shard {i}: {}", stderr(out));
        assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "shard {i}: {}", stderr(out));
        assert!(sb.path(&format!("s{i}.json")).exists());
        assert!(data.join(format!("trafficgen/shard-{i}-of-2/lock")).exists());
    }
    // cleanup --shard finds the shard's own state dir.
    let mut cleanup = Command::new(bin());
    cleanup
        .current_dir(sb.dir.path())
        .env("FAKE_S3_DIR", sb.path("store"))
        .env("XDG_DATA_HOME", &data)
        .arg("--profiles")
        .arg(sb.path("profiles.toml"))
        .args(["--shard", "1/2", "cleanup"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = run_bounded(cleanup, LIMIT);
    assert!(stderr(&out).contains("trafficgen/shard-1-of-2"), "{}", stderr(&out));
}
