//! The command line as a user meets it: check, plan, bad input, preflight errors.

mod common;

use common::*;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn check_summarizes_the_shipped_profile_without_secrets() {
    let sb = Sandbox::new(&[]);
    let out = run_bounded(sb.cmd(&["check"]), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for id in ["alice-dev", "david-backup", "jack-mobile"] {
        assert!(text.contains(id), "{text}");
    }
    assert!(text.contains("22-6") && text.contains("24/7"), "{text}");
    assert!(!text.contains("minioadmin123"), "secret shown:\n{text}");
    assert!(sb.calls().is_empty(), "check must not run the client");
}

#[test]
fn plan_json_has_24_hours_within_the_seed_range_and_scales() {
    let sb = Sandbox::new(&[]);
    let out = run_bounded(sb.cmd(&["plan", "--json"]), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hours = v["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let totals: Vec<f64> = hours.iter().map(|h| h["total"].as_f64().unwrap()).collect();
    assert!(totals.iter().all(|t| (25.0..=2000.0).contains(t)), "{totals:?}");
    assert!(totals.iter().cloned().fold(0.0, f64::max) >= 1500.0);
    assert_eq!(hours[3]["hour"], 3);
    assert_eq!(hours[3]["users"].as_object().unwrap().len(), 10);
    let sum: f64 = hours[12]["users"].as_object().unwrap().values().map(|x| x.as_f64().unwrap()).sum();
    assert!((sum - totals[12]).abs() < 0.1);

    let half = run_bounded(sb.cmd(&["plan", "--json", "--rate-scale", "0.5"]), LIMIT);
    let h: serde_json::Value = serde_json::from_slice(&half.stdout).unwrap();
    assert!((h["hours"][12]["total"].as_f64().unwrap() - totals[12] / 2.0).abs() < 0.1);

    let text = run_bounded(sb.cmd(&["plan", "--users", "david-backup,henry-ops"]), LIMIT);
    let t = stdout(&text);
    assert!(t.contains("david") && t.contains("henry") && !t.contains("alice"), "{t}");
}

#[test]
fn a_malformed_profile_names_file_line_and_field_and_starts_nothing() {
    let sb = Sandbox::new(&[("bucket = \"carol-analytics\"", "bucket = \"Carol_Analytics\"")]);
    let out = run_bounded(sb.cmd(&["--duration", "1h", "--time-scale", "3600"]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let profile = sb.path("profiles.toml").display().to_string();
    let line = std::fs::read_to_string(sb.path("profiles.toml"))
        .unwrap()
        .lines()
        .position(|l| l.contains("Carol_Analytics"))
        .unwrap()
        + 1;
    assert!(err.contains(&format!("{profile}:{line}:")), "{err}");
    assert!(err.contains("users[2].bucket"), "{err}");
    assert!(sb.calls().is_empty(), "no client may run: {:?}", sb.calls());
    assert!(sb.objects().is_empty());
    assert!(!sb.path("summary.json").exists());
}

#[test]
fn an_unknown_user_or_bad_option_is_a_usage_error() {
    let sb = Sandbox::new(&[]);
    let out = run_bounded(sb.cmd(&["--users", "alice-dev,mallory"]), LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("mallory"), "{}", stderr(&out));
    let out = run_bounded(sb.cmd(&["--time-scale", "0"]), LIMIT);
    assert_eq!(out.status.code(), Some(2));
    let out = run_bounded(sb.cmd(&["--start-at", "25:00"]), LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HH:MM"), "{}", stderr(&out));
    assert!(sb.calls().is_empty());
}

#[test]
fn a_client_that_cannot_run_is_refused_before_any_traffic() {
    let sb = Sandbox::new(&[]);
    let mut cmd = sb.cmd(&["--duration", "1h", "--time-scale", "3600"]);
    cmd.env("FAKE_OBSCTL_BAD_VERSION", "1");
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--version") && err.contains("broken build"), "{err}");
    assert_eq!(sb.calls().len(), 1, "only --version ran: {:?}", sb.calls());

    let missing = sb.path("no-such-obsctl");
    let out = run_bounded(sb.cmd_with_client(&missing, &["--duration", "1h"]), LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no-such-obsctl"), "{}", stderr(&out));
}

#[test]
fn a_bucket_that_cannot_be_ensured_stops_the_run_with_its_name() {
    let sb = Sandbox::new(&[]);
    let mut cmd = sb.cmd(&["--duration", "1h", "--time-scale", "3600", "--users", "carol-data"]);
    cmd.env("FAKE_OBSCTL_BAD_MB", "1");
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("carol-analytics") && err.contains("service error"), "{err}");
    assert!(sb.calls().iter().all(|c| !c.contains(" cp ")), "no traffic: {:?}", sb.calls());
}

#[test]
fn help_lists_the_contract() {
    let out = std::process::Command::new(bin()).arg("--help").output().unwrap();
    let text = stdout(&out);
    for opt in [
        "--profiles",
        "--duration",
        "--obsctl",
        "--endpoint",
        "--region",
        "--users",
        "--seed",
        "--time-scale",
        "--start-at",
        "--rate-scale",
        "--stats-interval",
        "--log-file",
        "--temp-dir",
        "--summary-json",
        "--cleanup",
        "check",
        "plan",
    ] {
        assert!(text.contains(opt), "--help lacks {opt}");
    }
}

/// `TRAFFICGEN_DURATION` and `TRAFFICGEN_RATE_SCALE` stand for `--duration` and
/// `--rate-scale` (a CI job's steps shortened without editing them): a run and `plan`
/// follow them, the command line wins over them, an empty one is unset, a bad one is
/// refused naming the variable, and a subcommand does not take them for run options
/// given on its command line.
#[test]
fn duration_and_rate_scale_come_from_the_environment_too() {
    let sb = Sandbox::new(&[]);
    // Simulated hours from start to end (the drain after the last slot adds a little).
    let sim_hours =
        |s: &serde_json::Value| (s["sim_end_unix"].as_f64().unwrap() - s["sim_start_unix"].as_f64().unwrap()) / 3600.0;
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut args_all = vec!["--time-scale", "7200", "--start-at", "06:00", "--max-file-size", "16KiB", "-q"];
        args_all.extend_from_slice(args);
        let mut cmd = sb.cmd(&args_all);
        cmd.envs(env.iter().copied());
        run_bounded(cmd, LIMIT)
    };
    let out = run(&[("TRAFFICGEN_DURATION", "2h"), ("TRAFFICGEN_RATE_SCALE", "0.25")], &[]);
    // A second of traffic at a quarter of the rate may be too little to judge (exit 4).
    assert!(matches!(out.status.code(), Some(0 | 4)), "{}", stderr(&out));
    let s = sb.summary();
    assert!((2.0..2.5).contains(&sim_hours(&s)), "simulated {} h", sim_hours(&s));
    assert_eq!(s["rate_scale"], 0.25);
    // The command line wins.
    let out = run(
        &[("TRAFFICGEN_DURATION", "24h"), ("TRAFFICGEN_RATE_SCALE", "0.25")],
        &["--duration", "1h", "--rate-scale", "0.5"],
    );
    // A second of traffic at a quarter of the rate may be too little to judge (exit 4).
    assert!(matches!(out.status.code(), Some(0 | 4)), "{}", stderr(&out));
    let s = sb.summary();
    assert!((1.0..1.5).contains(&sim_hours(&s)), "simulated {} h", sim_hours(&s));
    assert_eq!(s["rate_scale"], 0.5);

    // `plan` follows the rate from the environment.
    let plan = |env: &[(&str, &str)]| {
        let mut cmd = sb.cmd(&["plan", "--json"]);
        cmd.envs(env.iter().copied());
        let out = run_bounded(cmd, LIMIT);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["hours"][12]["total"].as_f64().unwrap()
    };
    let (full, half) = (plan(&[]), plan(&[("TRAFFICGEN_RATE_SCALE", "0.5")]));
    assert!((half - full / 2.0).abs() < 0.1, "{half} against {full}");

    // Set for a whole job, the variables are no run options given to a subcommand ...
    for sub in [&["check"][..], &["plan"], &["cleanup", "--state-dir", "empty-state"]] {
        let mut cmd = sb.cmd(sub);
        cmd.env("TRAFFICGEN_DURATION", "45s").env("TRAFFICGEN_RATE_SCALE", "4");
        let out = run_bounded(cmd, LIMIT);
        assert_eq!(out.status.code(), Some(0), "{sub:?}: {}", stderr(&out));
    }
    // ... while the option itself still is.
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("--profiles").arg(sb.path("profiles.toml")).args(["--duration", "45s", "check"]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--duration is a run option"), "{}", stderr(&out));

    // An empty variable is unset (a CI job's blank input): the profile's duration.
    let mut cmd = sb.cmd(&["check"]);
    cmd.env("TRAFFICGEN_DURATION", "").env("TRAFFICGEN_RATE_SCALE", "");
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A bad one is refused, naming the variable as well as the option it stands for.
    let mut cmd = sb.cmd(&["check"]);
    cmd.env("TRAFFICGEN_DURATION", "three minutes");
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("TRAFFICGEN_DURATION=\"three minutes\"") && err.contains("--duration"), "{err}");

    // --help names both variables.
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("--help").env_remove("TRAFFICGEN_DURATION").env_remove("TRAFFICGEN_RATE_SCALE");
    let help = stdout(&cmd.output().unwrap());
    assert!(help.contains("[env: TRAFFICGEN_DURATION=]") && help.contains("[env: TRAFFICGEN_RATE_SCALE=]"), "{help}");
}

/// A one-request HTTP server on loopback that answers `response`; its URL.
fn answering(response: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        // One request: the run reads the counters once before traffic, then stops.
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.read(&mut [0u8; 4096]);
            let _ = s.write_all(response.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}/metrics")
}

/// A run with `--server-metrics URL` is refused before any traffic, saying where the
/// counters are.
fn refused_for_metrics(url: &str) {
    let sb = Sandbox::new(&[]);
    let out = run_bounded(sb.cmd(&["--duration", "1h", "--time-scale", "3600", "--server-metrics", url]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("moto serves no request counters (only Garage from scripts/local-s3 does, at its admin port, e.g. http://127.0.0.1:9003/metrics"),
        "{err}"
    );
    assert!(err.contains("Garage needs its admin token for anything but /metrics and /health"), "{err}");
    assert!(sb.calls().iter().all(|c| !c.contains(" cp ")), "no traffic: {:?}", sb.calls());
}

#[test]
fn server_metrics_from_moto_or_a_page_that_is_no_metrics_says_where_the_counters_are() {
    refused_for_metrics(&answering("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
    refused_for_metrics(&answering(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20\r\nConnection: close\r\n\r\n<html>a page</html>\n",
    ));
    // moto itself, as scripts/local-s3 runs it: its S3 port answers /metrics with 403.
    let Some(venv) = common::s3::tools("server_metrics_from_moto") else { return };
    let moto = common::s3::Moto::start_auth(&venv);
    refused_for_metrics(&format!("{}/metrics", moto.endpoint()));
}
