//! `trafficgen compare` as a user meets it: two summaries on disk, a table or JSON out,
//! and the exit code a CI job branches on.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn latency(count: u64, p50: f64, p95: f64, p99: f64) -> Value {
    json!({"count": count, "min_ms": p50 / 2.0, "mean_ms": p50, "p50_ms": p50, "p90_ms": p95, "p95_ms": p95, "p99_ms": p99, "max_ms": p99})
}

/// The parts of a `--summary-json` document that compare reads, in place of a real
/// run's (tests/fixtures/summary-v1.json): compare reads only whole summaries.
fn summary(version: &str, upload_p95: f64) -> Value {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/summary-v1.json")).unwrap();
    let mut whole: Value = serde_json::from_str(&text).unwrap();
    let parts = json!({
        "trafficgen_version": "0.1.0",
        "seed": 42,
        "client": {"flavor": "obsctl", "binary": "obsctl", "version": version},
        "duration_s": 610.0,
        "dispatch_s": 600.0,
        "latency_ms": {
            "upload": latency(100, 2500.0, upload_p95, 6000.0),
            "download": latency(300, 400.0, 900.0, 1200.0),
            "delete": latency(40, 80.0, 150.0, 200.0),
            "ls": latency(0, 0.0, 0.0, 0.0),
        },
        "ops": {
            "upload": {"ok": 100, "failed": 0},
            "download": {"ok": 299, "failed": 1},
            "delete": {"ok": 40, "failed": 0},
            "ls": {"ok": 0, "failed": 0},
        }
    });
    for (k, v) in parts.as_object().unwrap() {
        whole[k] = v.clone();
    }
    whole
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(v).unwrap()).unwrap();
    path
}

/// Runs `trafficgen compare ARGS…` in `dir`, where no profile exists: compare must not need one.
fn compare(dir: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(dir).arg("compare").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    run_bounded(c, LIMIT)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("tg-compare-").tempdir().unwrap()
}

#[test]
fn equal_summaries_compare_clean() {
    let dir = tempdir();
    let base = write(dir.path(), "base.json", &summary("obsctl 0.3.0", 4000.0));
    let new = write(dir.path(), "new.json", &summary("obsctl 0.3.0", 4000.0));
    let out = compare(dir.path(), &[base.to_str().unwrap(), new.to_str().unwrap(), "--max-regression", "20%"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for op in ["upload", "download", "delete"] {
        assert!(text.contains(op), "{text}");
    }
    assert!(!text.lines().any(|l| l.starts_with("ls ")), "an operation that never ran is not a row:\n{text}");
    assert!(text.contains("no regression beyond 20%"), "{text}");
}

#[test]
fn a_doubled_upload_p95_fails_only_with_a_limit() {
    let dir = tempdir();
    let base = write(dir.path(), "base.json", &summary("obsctl 0.3.0", 4000.0));
    let new = write(dir.path(), "new.json", &summary("obsctl 0.3.1", 8000.0));
    let (b, n) = (base.to_str().unwrap(), new.to_str().unwrap());

    let judged = compare(dir.path(), &[b, n, "--max-regression", "20%"]);
    assert_eq!(judged.status.code(), Some(3), "{}{}", stdout(&judged), stderr(&judged));
    let text = stdout(&judged);
    let verdict = text.lines().find(|l| l.starts_with("verdict:")).unwrap_or_else(|| panic!("no verdict:\n{text}"));
    assert!(verdict.contains("upload") && verdict.contains("p95"), "{text}");
    assert!(!verdict.contains("download"), "{text}");
    assert!(text.contains("obsctl 0.3.0") && text.contains("obsctl 0.3.1"), "{text}");

    let reported = compare(dir.path(), &[b, n]);
    assert_eq!(reported.status.code(), Some(0), "{}{}", stdout(&reported), stderr(&reported));
    assert!(stdout(&reported).contains("+100.0%"), "{}", stdout(&reported));

    let json_out = compare(dir.path(), &[b, n, "--max-regression", "20%", "--json"]);
    assert_eq!(json_out.status.code(), Some(3), "{}", stderr(&json_out));
    let v: Value = serde_json::from_slice(&json_out.stdout).expect("--json prints JSON");
    assert_eq!(v["passed"], false);
    assert_eq!(v["max_regression"], 0.2);
    let upload = v["ops"].as_array().unwrap().iter().find(|r| r["op"] == "upload").expect("an upload row");
    assert_eq!(upload["regressed"], true);
    assert_eq!(upload["base"]["p95_ms"], 4000.0);
    assert_eq!(upload["new"]["p95_ms"], 8000.0);
}

#[test]
fn unreadable_input_exits_2_naming_the_file() {
    let dir = tempdir();
    let base = write(dir.path(), "base.json", &summary("obsctl 0.3.0", 4000.0));
    let missing = dir.path().join("no-such-summary.json");
    let out = compare(dir.path(), &[base.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-summary.json"), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    let out = compare(dir.path(), &[garbage.to_str().unwrap(), base.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("garbage.json"), "{}", stderr(&out));

    let plan = write(dir.path(), "plan.json", &json!({"hours": []}));
    let out = compare(dir.path(), &[plan.to_str().unwrap(), base.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("plan.json") && stderr(&out).contains("summary"), "{}", stderr(&out));

    let b = base.to_str().unwrap();
    let out = compare(dir.path(), &[b, b, "--max-regression", "lots"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-regression"), "{}", stderr(&out));
}
