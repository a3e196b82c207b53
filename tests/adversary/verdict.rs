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
    // merge and compare follow the same rule.
    let out = run_bounded(sb.cmd(&["merge", "summary.json"]), LIMIT);
    assert_eq!(out.status.code(), Some(4), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("verdict: INCONCLUSIVE (exit 4)"), "{}", stdout(&out));
    let out = run_bounded(sb.cmd(&["compare", "summary.json", "summary.json", "--max-regression", "20%"]), LIMIT);
    assert_eq!(out.status.code(), Some(4), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("INCONCLUSIVE"), "{}", stdout(&out));
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
    assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "{}", stderr(&out));
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

/// One run of the fake client writing `name`, with its own state dir; `extra` adds
/// options (`--shard`, `--users`).
fn run_to(sb: &Sandbox, name: &str, extra: &[&str]) -> serde_json::Value {
    let mut c = std::process::Command::new(bin());
    c.current_dir(sb.dir.path())
        .env("FAKE_S3_DIR", sb.path("store"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .arg("--profiles")
        .arg(sb.path("profiles.toml"))
        .arg("--obsctl")
        .arg(fake_obsctl())
        .args(["--duration", "3s", "--start-at", "12:00", "--max-file-size", "4KiB", "-q"])
        .args(extra)
        .arg("--log-file")
        .arg(sb.path(&format!("{name}.log")))
        .arg("--temp-dir")
        .arg(sb.path("temp"))
        .arg("--state-dir")
        .arg(sb.path(&format!("state-{name}")))
        .arg("--summary-json")
        .arg(sb.path(name))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // Defaults the case does not set itself.
    for (flag, value) in [("--seed", "7"), ("--rate-scale", "0.5")] {
        if !extra.contains(&flag) {
            c.args([flag, value]);
        }
    }
    let out = run_bounded(c, LIMIT);
    assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "{name}: {}", stderr(&out));
    serde_json::from_str(&std::fs::read_to_string(sb.path(name)).unwrap()).unwrap()
}

fn merge(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let mut all = vec!["merge"];
    all.extend_from_slice(args);
    run_bounded(sb.cmd(&all), Duration::from_secs(30))
}

#[test]
fn merge_refuses_summaries_it_cannot_trust() {
    let sb = Sandbox::new(&[("achieved_ratio = \">=0.8\"", "")]);
    let whole = run_to(&sb, "whole.json", &[]);
    assert!(whole["profile_digest"].as_str().unwrap().starts_with("sha256:"), "{}", whole["profile_digest"]);
    assert!(whole["selection"]["users"].is_null(), "{}", whole["selection"]);
    assert!(whole["run_id"].is_string());

    // The same whole run twice: 16 uploads must not become 32.
    let out = merge(&sb, &["whole.json", "whole.json", "--summary-json", "m.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("whole.json"), "{}", stderr(&out));
    assert!(!sb.path("m.json").exists() || std::fs::read_to_string(sb.path("m.json")).unwrap().is_empty());
    // Two whole runs of the profile are two runs, not one.
    run_to(&sb, "whole2.json", &["--seed", "8"]);
    let out = merge(&sb, &["whole.json", "whole2.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("not shards"), "{}", stderr(&out));

    // Shards of another profile (one comment apart) are refused, naming the file.
    let other = Sandbox::new(&[("achieved_ratio = \">=0.8\"", "# another profile")]);
    run_to(&other, "s1.json", &["--shard", "1/2"]);
    run_to(&sb, "s0.json", &["--shard", "0/2"]);
    std::fs::copy(other.path("s1.json"), sb.path("s1.json")).unwrap();
    let out = merge(&sb, &["s0.json", "s1.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("s1.json ran another profile"), "{}", stderr(&out));

    // Shards of one run with different selections are refused.
    run_to(&sb, "s1.json", &["--shard", "1/2", "--rate-scale", "0.4"]);
    let out = merge(&sb, &["s0.json", "s1.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("different selections"), "{}", stderr(&out));

    // The right shards merge.
    run_to(&sb, "s1.json", &["--shard", "1/2"]);
    let out = merge(&sb, &["s0.json", "s1.json"]);
    assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn merge_judges_a_users_run_against_its_users_not_the_whole_profile() {
    let sb = Sandbox::new(&[]);
    let s = run_to(&sb, "henry.json", &["--users", "henry-ops"]);
    assert_eq!(s["selection"]["users"], serde_json::json!(["henry-ops"]));
    let out = merge(&sb, &["henry.json", "--summary-json", "m.json"]);
    assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "{}{}", stdout(&out), stderr(&out));
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sb.path("m.json")).unwrap()).unwrap();
    let (run, merged) = (s["target_ops"].as_f64().unwrap(), m["target_ops"].as_f64().unwrap());
    assert!((merged - run).abs() <= 0.1 * run + 0.5, "target {merged} vs the run's {run}");
    assert_eq!(m["users"].as_object().unwrap().len(), 1, "{}", m["users"]);
}

#[test]
fn merge_refuses_counters_whose_sum_overflows() {
    let sb = Sandbox::new(&[]);
    let mut s0 = run_to(&sb, "s0.json", &["--shard", "0/2"]);
    let mut s1 = run_to(&sb, "s1.json", &["--shard", "1/2"]);
    // One user's failures near the top of u64 on one shard, one more on the other: the
    // fleet's sum wraps to 0 unless checked.
    let first = |s: &serde_json::Value| s["users"].as_object().unwrap().keys().next().unwrap().clone();
    let (u0, u1) = (first(&s0), first(&s1));
    s0["users"][&u0]["failures"] = serde_json::json!(u64::MAX);
    s1["users"][&u1]["failures"] = serde_json::json!(1u64);
    std::fs::write(sb.path("s0.json"), s0.to_string()).unwrap();
    std::fs::write(sb.path("s1.json"), s1.to_string()).unwrap();
    let out = merge(&sb, &["s0.json", "s1.json", "--threshold", "failures==0"]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("failures") && stderr(&out).contains("does not fit"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("PASSED"), "{}", stdout(&out));
}
