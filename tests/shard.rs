//! Sharding and merging: N shard processes together ask for exactly the profile's traffic
//! (no user or rate counted twice or lost), and `merge` of their summaries is their sum,
//! with the thresholds judged again on the whole.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

fn plan_json(sb: &Sandbox, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "--json"];
    args.extend_from_slice(extra);
    let out = run_bounded(sb.cmd(&args), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// user → its 24 hourly targets.
fn rates(plan: &Value) -> Vec<(String, Vec<f64>)> {
    let hours = plan["hours"].as_array().unwrap();
    let users: Vec<String> = hours[0]["users"].as_object().unwrap().keys().cloned().collect();
    users.into_iter().map(|u| (u.clone(), hours.iter().map(|h| h["users"][&u].as_f64().unwrap()).collect())).collect()
}

#[test]
fn shards_split_users_or_rates_and_together_make_the_whole_plan() {
    let sb = Sandbox::new(&[]);
    let whole = rates(&plan_json(&sb, &[]));
    assert_eq!(whole.len(), 10);

    // 4 shards of 10 users: each user in exactly one shard, at its full rate.
    let mut seen = Vec::new();
    for i in 0..4 {
        let part = rates(&plan_json(&sb, &["--shard", &format!("{i}/4")]));
        assert!(!part.is_empty(), "shard {i} has no users");
        for (u, r) in part {
            let w = &whole.iter().find(|(id, _)| *id == u).unwrap().1;
            assert_eq!(&r, w, "{u} in shard {i} does not keep its rate");
            seen.push(u);
        }
    }
    seen.sort();
    let mut all: Vec<String> = whole.iter().map(|(u, _)| u.clone()).collect();
    all.sort();
    assert_eq!(seen, all, "4 shards must hold every user exactly once");

    // 16 shards of 10 users: every shard runs every user at 1/16 of its rate.
    let mut sum = [0.0; 24];
    for i in 0..16 {
        let p = plan_json(&sb, &["--shard", &format!("{i}/16")]);
        assert_eq!(p["shard"]["split"], "rate");
        for (h, row) in p["hours"].as_array().unwrap().iter().enumerate() {
            sum[h] += row["total"].as_f64().unwrap();
        }
    }
    let want: Vec<f64> = (0..24).map(|h| whole.iter().map(|(_, r)| r[h]).sum()).collect();
    for h in 0..24 {
        // Each shard's plan rounds to 0.01 per user.
        assert!((sum[h] - want[h]).abs() < 0.01 * 10.0 * 16.0, "hour {h}: {} vs {}", sum[h], want[h]);
    }

    // The same split from Kubernetes' variables.
    let mut cmd = sb.cmd(&["plan", "--json"]);
    cmd.env("JOB_COMPLETION_INDEX", "2").env("TRAFFICGEN_SHARDS", "4");
    let out = run_bounded(cmd, Duration::from_secs(30));
    let from_env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rates(&from_env), rates(&plan_json(&sb, &["--shard", "2/4"])));

    for bad in ["4/4", "1/0", "two/4"] {
        let out = run_bounded(sb.cmd(&["plan", "--shard", bad]), Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "--shard {bad}");
        assert!(stderr(&out).contains("I/N"), "{}", stderr(&out));
    }
}

/// One shard process of a run, with its own outputs.
fn shard_cmd(sb: &Sandbox, i: u32, n: u32, http_port: u16) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(sb.dir.path())
        .env("FAKE_S3_DIR", sb.path("store"))
        .env("FAKE_OBSCTL_LOG", sb.path("calls.log"))
        .env("FAKE_HTTP_PORT", http_port.to_string())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .arg("--profiles")
        .arg(sb.path("profiles.toml"))
        .arg("--obsctl")
        .arg(fake_obsctl())
        .args(["--shard", &format!("{i}/{n}")])
        .args(["--duration", "6s", "--seed", "7", "--start-at", "12:00", "--stats-interval", "2s", "-q"])
        .args(["--rate-scale", "2"])
        .arg("--log-file")
        .arg(sb.path(&format!("tg{i}.log")))
        .arg("--temp-dir")
        .arg(sb.path("temp"))
        .arg("--state-dir")
        .arg(sb.path(&format!("state{i}")))
        .arg("--summary-json")
        .arg(sb.path(&format!("s{i}.json")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn num(v: &Value, path: &str) -> f64 {
    v.pointer(path).and_then(Value::as_f64).unwrap_or_else(|| panic!("{path} missing"))
}

#[test]
fn merged_shard_summaries_are_their_sum_and_are_judged_again() {
    // Thresholds that a 6-second run meets whatever its random gaps.
    let sb = Sandbox::new(&[("achieved_ratio = \">=0.8\"", "\"upload.count\" = \">=1\"")]);
    let http = Http::serve(&sb.path("store"));
    let children: Vec<_> = (0..4).map(|i| shard_cmd(&sb, i, 4, http.port).spawn().unwrap()).collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = wait_bounded(c, Duration::from_secs(90));
        assert_eq!(out.status.code(), Some(0), "shard {i}: {}", stderr(&out));
    }
    drop(http);
    let shards: Vec<Value> = (0..4)
        .map(|i| serde_json::from_str(&std::fs::read_to_string(sb.path(&format!("s{i}.json"))).unwrap()).unwrap())
        .collect();
    let files: Vec<String> = (0..4).map(|i| format!("s{i}.json")).collect();
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--summary-json", "merged.json", "--junit", "merged.xml"]);
    let out = run_bounded(sb.cmd(&args), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("verdict: PASSED"), "{}", stdout(&out));
    let m: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("merged.json")).unwrap()).unwrap();

    // Every user once, each exactly as its shard ran it.
    let users = m["users"].as_object().unwrap();
    assert_eq!(users.len(), 10);
    for s in &shards {
        for (id, u) in s["users"].as_object().unwrap() {
            assert_eq!(users[id]["uploads"], u["uploads"], "{id}");
            assert_eq!(users[id]["bytes_up"], u["bytes_up"], "{id}");
        }
    }
    let sum = |path: &str| shards.iter().map(|s| num(s, path)).sum::<f64>();
    for path in ["/totals/uploads", "/totals/downloads", "/totals/started", "/totals/bytes_up", "/achieved_ops"] {
        assert_eq!(num(&m, path), sum(path), "{path}");
    }
    assert!(num(&m, "/achieved_ops") > 20.0, "too little traffic to prove anything: {}", num(&m, "/achieved_ops"));
    // Latency distributions merge exactly: counts add, and the merged extremes are the
    // shards' extremes.
    let count = "/latency_ms/upload/count";
    assert_eq!(num(&m, count), sum(count));
    let max = shards.iter().map(|s| num(s, "/latency_ms/upload/max_ms")).fold(0.0, f64::max);
    assert_eq!(num(&m, "/latency_ms/upload/max_ms"), max);
    // The target is the whole profile's over the run, which the shards' targets add up to.
    let target = num(&m, "/target_ops");
    assert!((target - sum("/target_ops")).abs() <= 0.02 * target + 1.0, "{target} vs {}", sum("/target_ops"));
    // Timelines add point by point.
    let started: f64 = m["timeline"].as_array().unwrap().iter().map(|p| p["started"].as_f64().unwrap()).sum();
    let shard_started: f64 = shards
        .iter()
        .flat_map(|s| s["timeline"].as_array().unwrap().iter().map(|p| p["started"].as_f64().unwrap()))
        .sum();
    assert_eq!(started, shard_started);
    assert_eq!(m["merged_from"].as_array().unwrap().len(), 4);
    // The merged summary makes a report like a run's does.
    let out = run_bounded(sb.cmd(&["report", "merged.json", "--html", "merged.html"]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(sb.path("merged.html")).unwrap();
    assert!(html.matches("<figure class=\"chart\"").count() >= 4, "charts missing from the merged report");
    assert!(std::fs::read_to_string(sb.path("merged.xml")).unwrap().contains("<testcase"));

    // Judged again on the whole: a threshold only the sum can fail.
    let limit = format!("uploads<{}", num(&m, "/totals/uploads"));
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--threshold", &limit]);
    let out = run_bounded(sb.cmd(&args), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("FAIL {limit}")), "{}", stdout(&out));

    // A missing or doubled shard is refused, not summed.
    let out = run_bounded(sb.cmd(&["merge", "s0.json", "s1.json", "s2.json"]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("shards 3 of 4 are missing"), "{}", stderr(&out));
    let out = run_bounded(sb.cmd(&["merge", "s0.json", "s0.json", "s2.json", "s3.json"]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("both shard 0"), "{}", stderr(&out));
}

#[test]
fn cleanup_all_shards_deletes_what_each_shard_left_and_plain_cleanup_points_there() {
    let sb = Sandbox::new(&[]);
    let data = sb.path("xdg");
    let fake = fake_obsctl().display().to_string();
    // trafficgen as on one machine whose default state dir is under `data`.
    let tg = |args: &[&str]| -> Command {
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
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    // Two shards, each with its own default state dir; an hour at 1200x (3 s) never
    // reaches the 3 h TTL, and without --cleanup both leave their objects.
    for i in 0..2 {
        let shard = format!("{i}/2");
        let run = ["--obsctl", &fake, "--shard", &shard, "--duration", "1h", "--time-scale", "1200"];
        let rest = ["--start-at", "12:00", "--rate-scale", "0.5", "--max-file-size", "4KiB", "--seed", "7", "-q"];
        let log = format!("tg{i}.log");
        let out = run_bounded(tg(&[&run[..], &rest[..], &["--temp-dir", "temp", "--log-file", &log]].concat()), LIMIT);
        assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "shard {i}: {}", stderr(&out));
    }
    let shard_dir = |i: u32| data.join(format!("trafficgen/shard-{i}-of-2"));
    let journaled = |i: u32| {
        let text = std::fs::read_to_string(shard_dir(i).join("objects.jsonl")).unwrap_or_default();
        text.lines().filter(|l| l.starts_with("{\"put\"")).count()
    };
    let left = sb.objects();
    assert!(journaled(0) > 0 && journaled(1) > 0, "both shards left objects: {left:?}");

    // Plain cleanup finds none in the default dir, and says where they are and how.
    let out = run_bounded(tg(&["cleanup", "--obsctl", &fake]), LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cleanup: 0 objects in the journal of {}", data.join("trafficgen").display())),
        "{err}"
    );
    for i in 0..2 {
        assert!(err.contains(&format!("{} ({} objects)", shard_dir(i).display(), journaled(i))), "{err}");
    }
    assert_eq!(sb.objects(), left, "plain cleanup deletes nothing of the shards'");
    let again =
        err.lines().find_map(|l| l.strip_prefix("cleanup: to delete them too: ")).expect("the command").to_string();
    assert!(again.ends_with(&format!("cleanup --obsctl {fake} --all-shards")), "{again}");

    // --all-shards with --shard is a contradiction.
    let out = run_bounded(tg(&["--shard", "0/2", "cleanup", "--all-shards"]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // The command it named, as given: every shard's objects go, each journal emptied.
    let named = tg(&[]);
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(&again);
    for (k, v) in named.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.current_dir(sb.dir.path()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = run_bounded(sh, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{again}: {}", stderr(&out));
    assert!(sb.objects().is_empty(), "left: {:?}\n{}", sb.objects(), stderr(&out));
    assert_eq!((journaled(0), journaled(1)), (0, 0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}: deleted", shard_dir(1).display())), "{err}");
    assert!(err.contains(&format!("{} deleted, 0 failed", left.len())), "{err}");
}
