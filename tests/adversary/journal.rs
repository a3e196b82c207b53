//! Rule 1, the state dir: the journal is how trafficgen finds what it made after a
//! crash, so a journal that cannot be written stops uploads (shortfall `journal`) and
//! fails the verdict, a state dir deleted mid-run is noticed and its path stays locked,
//! and one bad line in the journal hides none of the lines after it.

use crate::common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(90);

/// A 12-wall-second run of two users on the sandbox's state dir.
fn start(sb: &Sandbox) -> Child {
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
        "alice-dev,henry-ops",
    ])
    .spawn()
    .expect("trafficgen starts")
}

/// Waits (bounded) until the run has journaled an upload.
fn until_journaled(sb: &Sandbox, child: &mut Child) {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(sb.path("state/objects.jsonl")).unwrap_or_default();
        if text.lines().any(|l| l.starts_with("{\"put\"")) {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "trafficgen ended before journaling an upload");
        assert!(start.elapsed() < Duration::from_secs(30), "nothing journaled after 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The run noticed the journal's failure: uploads stopped (shortfall `journal`), the
/// error is in the log, the summary and the verdict, and the run did not pass.
fn failed_journal(sb: &Sandbox, out: &std::process::Output, cause: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let s = sb.summary();
    let error = s["journal_error"].as_str().unwrap_or_else(|| panic!("no journal_error: {}", s["verdict"]));
    assert!(error.contains(cause), "{error}");
    let short = s["totals"]["shortfall_by_reason"]["journal"].as_u64().unwrap();
    assert!(short > 0, "no upload was held back: {}", s["totals"]["shortfall_by_reason"]);
    assert!(err.contains("the state journal failed"), "the failure is logged when it happens: {err}");
    assert!(err.contains("STATE JOURNAL FAILED"), "and again at the end: {err}");
    let reasons = s["verdict"]["reasons"].to_string();
    assert!(reasons.contains("state journal failed"), "{reasons}");
}

#[test]
fn a_journal_that_cannot_be_written_mid_run_stops_uploads_and_fails_the_run() {
    let sb = Sandbox::new(&[]);
    let mut child = start(&sb);
    until_journaled(&sb, &mut child);
    // The journal can no longer be written where it is: a directory stands in its place.
    let journal = sb.path("state/objects.jsonl");
    std::fs::remove_file(&journal).unwrap();
    std::fs::create_dir(&journal).unwrap();
    let out = wait_bounded(child, LIMIT);
    failed_journal(&sb, &out, "replaced");
}

#[test]
fn a_state_dir_deleted_mid_run_is_noticed_and_no_second_run_takes_its_path() {
    let sb = Sandbox::new(&[]);
    let mut child = start(&sb);
    until_journaled(&sb, &mut child);
    std::fs::remove_dir_all(sb.path("state")).unwrap();
    // The deleted lock file took the first run's flock with it; the path is still held.
    let second = run_bounded(sb.cmd(&["--duration", "1s", "--users", "alice-dev"]), LIMIT);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(stderr(&second).contains("in use by another trafficgen"), "{}", stderr(&second));
    assert!(child.try_wait().unwrap().is_none(), "the first run goes on");
    let out = wait_bounded(child, LIMIT);
    failed_journal(&sb, &out, "was removed");
}

#[test]
fn cleanup_deletes_the_objects_journaled_after_a_line_that_is_not_utf8() {
    let sb = Sandbox::new(&[]);
    let bucket = "alice-development";
    let line = |key: &str| {
        format!(
            "{{\"put\":{{\"run\":\"r\",\"bucket\":\"{bucket}\",\"key\":\"{key}\",\"size\":9,\"expires_unix\":1.0}}}}\n"
        )
    };
    let keys = ["p/alice-dev_code_1_1.rs", "p/alice-dev_code_1_2.rs", "p/alice-dev_code_1_3.rs"];
    for k in keys {
        let p = sb.path("store").join(bucket).join(k);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"123456789").unwrap();
    }
    let mut journal = line(keys[0]).into_bytes();
    journal.extend_from_slice(b"{\"put\":{\"run\":\"r\",\"bucket\":\"\xff\xfe\xfd\"}}\n");
    journal.extend_from_slice(line(keys[1]).as_bytes());
    journal.extend_from_slice(line(keys[2]).as_bytes());
    std::fs::create_dir_all(sb.path("state")).unwrap();
    std::fs::write(sb.path("state/objects.jsonl"), journal).unwrap();

    let bin_dir = sb.path("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(fake_obsctl(), bin_dir.join("obsctl")).unwrap();
    let mut cmd = Command::new(bin());
    cmd.current_dir(sb.dir.path())
        .env("FAKE_S3_DIR", sb.path("store"))
        .env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default()))
        .arg("--profiles")
        .arg(sb.path("profiles.toml"))
        .args(["cleanup", "--state-dir"])
        .arg(sb.path("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_bounded(cmd, LIMIT);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("cleanup: 3 objects in the journal"), "{err}");
    assert!(err.contains("warning") && err.contains("line 2") && err.contains("not UTF-8"), "{err}");
    assert!(sb.objects().is_empty(), "left: {:?}", sb.objects());
}
