//! Adversarial cases: see main.rs. A verdict counts only what happened: nothing measured
//! is INCONCLUSIVE (exit 4), never a pass; slots missed while trafficgen was stopped are
//! shortfall, not a burst; `merge` refuses summaries it cannot trust.

use crate::common::*;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

/// A rate so small that every user's target rounds to nothing: no command runs.
fn idle_run(sb: &Sandbox, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--duration", "2s", "--rate-scale", "0.0001", "--seed", "3", "--junit", "j.xml"];
    args.extend_from_slice(extra);
    run_bounded(sb.cmd(&args), LIMIT)
}

#[test]
fn a_run_with_no_command_is_inconclusive_not_a_pass() {
    let sb = Sandbox::new(&[]);
    let out = idle_run(&sb, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let s = sb.summary();
    assert_eq!(s["totals"]["started"], 0, "nothing ran: {}", s["totals"]);
    let v = &s["verdict"];
    assert_eq!(
        (v["result"].as_str(), v["passed"].as_bool(), v["exit_code"].as_i64()),
        (Some("INCONCLUSIVE"), Some(false), Some(4))
    );
    let fr = v["thresholds"].as_array().unwrap().iter().find(|t| t["metric"] == "failure_rate").unwrap();
    assert_eq!(fr["status"], "inconclusive", "{fr}");
    assert!(fr["value"].is_null(), "a rate over no commands is no 0.00 %: {fr}");
    assert!(fr["reason"].as_str().unwrap().contains("no command ran"), "{fr}");
    assert!(v["reasons"].to_string().contains("no command ran"), "{v}");
    // Where people and CI look: the log and JUnit.
    assert!(stderr(&out).contains("verdict: INCONCLUSIVE (exit 4)"), "{}", stderr(&out));
    assert!(stderr(&out).contains("no command ran"), "{}", stderr(&out));
    let junit = std::fs::read_to_string(sb.path("j.xml")).unwrap();
    assert!(
        junit.contains("<skipped message=\"INCONCLUSIVE: failure_rate&lt;2% not measured (no command ran)\"/>"),
        "{junit}"
    );
    assert!(junit.contains("failures=\"0\""), "{junit}");
}

#[test]
fn a_percentile_of_nothing_is_inconclusive_and_a_failure_still_wins() {
    let sb = Sandbox::new(&[]);
    let out = idle_run(&sb, &["--threshold", "upload.p95<8s"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let s = sb.summary();
    let t = s["verdict"]["thresholds"].as_array().unwrap();
    let p95 = t.iter().find(|o| o["threshold"] == "upload.p95<8s").unwrap();
    assert_eq!(p95["status"], "inconclusive", "{p95}");
    // A failed threshold beside an inconclusive one: FAIL, exit 3.
    let sb = Sandbox::new(&[]);
    let out = idle_run(&sb, &["--threshold", "uploads>=1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(sb.summary()["verdict"]["result"], "FAIL");
}

#[test]
fn the_html_report_shows_an_inconclusive_verdict() {
    let sb = Sandbox::new(&[]);
    let out = idle_run(&sb, &["--html", "r.html"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let page = std::fs::read_to_string(sb.path("r.html")).unwrap();
    assert!(page.contains("INCONCLUSIVE (exit code 4)"), "the verdict section says so");
    assert!(!page.contains(">PASSED"), "never a pass");
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

#[test]
fn slots_missed_while_stopped_are_late_shortfall_not_a_burst() {
    let sb = Sandbox::new(&[]);
    // henry-ops, 24/7 at 240 ops/min: a slot every 0.25 s, so the late bound is 1 s.
    let mut cmd = sb.cmd(&[
        "--duration",
        "24s",
        "--users",
        "henry-ops",
        "--max-file-size",
        "4KiB",
        "--seed",
        "5",
        "--ops-log",
        "ops.jsonl",
    ]);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(4));
    signal(pid, libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(15));
    signal(pid, libc::SIGCONT);
    let out = wait_bounded(child, LIMIT);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", stderr(&out));
    let s = sb.summary();
    let late = s["totals"]["shortfall_by_reason"]["late"].as_u64().unwrap();
    // 15 s stopped at 4 slots a second: about 60 slots missed.
    assert!(late >= 30, "the missed slots are shortfall late: {}", s["totals"]["shortfall_by_reason"]);
    let achieved = s["achieved_ops"].as_f64().unwrap() / s["target_ops"].as_f64().unwrap();
    assert!(achieved < 0.8, "a run stopped for 15 of 24 s did not keep its schedule: achieved {achieved}");
    // No burst: the scheduled operations started in the second after SIGCONT (the first
    // start after the gap) are a few, far below the missed count.
    let mut starts: Vec<(f64, String, u64)> = std::fs::read_to_string(sb.path("ops.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| !["delete", "confirm_upload", "confirm_delete", "rb"].contains(&v["op"].as_str().unwrap()))
        .map(|v| (v["t_s"].as_f64().unwrap(), v["user"].as_str().unwrap().to_string(), v["seq"].as_u64().unwrap()))
        .collect();
    starts.sort_by(|a, b| a.0.total_cmp(&b.0));
    starts.dedup_by(|a, b| a.1 == b.1 && a.2 == b.2);
    let gap = starts.windows(2).position(|w| w[1].0 - w[0].0 > 10.0).expect("no start while stopped");
    let resumed = starts[gap + 1].0;
    let burst = starts.iter().filter(|s| s.0 >= resumed && s.0 < resumed + 1.0).count() as u64;
    assert!(burst * 5 <= late, "{burst} started in the second after SIGCONT, {late} were missed");
    assert!(sb.log().contains("late"), "the table names the reason");
}
