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
