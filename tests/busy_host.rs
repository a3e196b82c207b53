//! The smoke verdict on a busy runner: with busy loops eating every core (a neighbour
//! on a CI runner), the smoke profile through the fake client is INCONCLUSIVE or PASS,
//! never FAIL, and the summary names the other work as the party; the same hog under a
//! lying client still FAILs on correctness. Also: a short run's timeline has enough
//! points for its charts to be lines with distinct axis labels.

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(150);

/// Busy loops, two per core, each ending by itself after `secs` (`timeout`, which
/// outlives this test if it is killed) and killed on drop: each `timeout yes` pair is a
/// process group of its own, killed whole (killing `timeout` alone would orphan `yes`).
struct Hog(Vec<Child>);

impl Hog {
    fn start(secs: u32) -> Hog {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let children = (0..cores * 2)
            .map(|_| {
                Command::new("timeout")
                    .args([&secs.to_string(), "yes"])
                    .process_group(0)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("timeout and yes (coreutils) run")
            })
            .collect();
        Hog(children)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SAFETY: a signal to the process group this test made for the child.
            unsafe { libc::killpg(c.id() as libc::pid_t, libc::SIGKILL) };
            let _ = c.wait();
        }
    }
}

/// The smoke profile (10x its rate, short TTLs) against the fake for `secs` wall
/// seconds, with the host guard on, as CI runs it; `env` sets the fake's modes.
fn smoke(secs: u32, env: &[(&str, &str)], extra: &[&str]) -> (Sandbox, Command) {
    let profile = std::fs::read_to_string(repo().join("scripts/ci-smoke.toml")).unwrap();
    let profile = edit_profile(&profile, &[("ttl = \"40s\"", "ttl = \"6s\""), ("verify = true ", "verify = false ")]);
    let sb = Sandbox::with_profile(&profile);
    // The sandbox turns the guard off for tests; this one is about the guard.
    let text = std::fs::read_to_string(sb.path("profiles.toml")).unwrap();
    std::fs::write(sb.path("profiles.toml"), text.replacen("host_guard = false", "host_guard = true", 1)).unwrap();
    for bucket in ["alice-development", "henry-operations", "jack-mobile-apps"] {
        std::fs::create_dir_all(sb.path("store").join(bucket)).unwrap();
    }
    let duration = format!("{secs}s");
    let mut cmd =
        sb.cmd(&["--duration", &duration, "--rate-scale", "10", "--stats-interval", "1h", "--junit", "j.xml", "-q"]);
    cmd.args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    (sb, cmd)
}

#[test]
fn a_busy_runner_never_fails_the_smoke_run_but_a_lying_client_still_does() {
    let hog = Hog::start(90);
    // Both runs at once, under the same hog (each is the other's neighbour too).
    // A latency no machine meets: on an idle host a FAIL, on this one not judged.
    let (honest, honest_cmd) = smoke(20, &[], &["--threshold", "upload.p50<1ms"]);
    let (liar, mut liar_cmd) = smoke(20, &[("FAKE_OBSCTL_CORRUPT", "1")], &[]);
    let http = [Http::serve(&honest.path("store")), Http::serve(&liar.path("store"))];
    let mut honest_cmd = honest_cmd;
    honest_cmd.env("FAKE_HTTP_PORT", http[0].port.to_string());
    liar_cmd.env("FAKE_HTTP_PORT", http[1].port.to_string());
    let (a, b) = (honest_cmd.spawn().unwrap(), liar_cmd.spawn().unwrap());
    let (a, b) = (wait_bounded(a, LIMIT), wait_bounded(b, LIMIT));
    drop(hog);
    drop(http);

    // The honest client: INCONCLUSIVE (4) for the latency it could not be judged on,
    // never FAIL (PASS would do for the smoke profile's own thresholds).
    let s = honest.summary();
    let v = &s["verdict"];
    eprintln!("honest under the hog: {} {}\nhost: {}", v["result"], v["reasons"], s["host"]);
    assert_eq!(a.status.code(), Some(4), "{}\n{v:#}\n{:#}", stderr(&a), s["host"]);
    assert_eq!(v["result"], "INCONCLUSIVE");
    let p50 = v["thresholds"].as_array().unwrap().iter().find(|t| t["threshold"] == "upload.p50<1ms").unwrap();
    assert_eq!((&p50["status"], &p50["class"]), (&"inconclusive".into(), &"capacity".into()), "{p50}");
    assert!(p50["reason"].as_str().unwrap().starts_with("host busy with other work:"), "{p50}");
    for t in v["thresholds"].as_array().unwrap() {
        assert!(t["class"] == "capacity" || t["class"] == "correctness", "{t}");
        if t["class"] == "correctness" && t["status"] == "fail" {
            panic!("a correctness threshold failed under the hog: {t}");
        }
    }
    // Saturated by the busy loops: named as other work, with its share; not held back
    // as if trafficgen were the bottleneck.
    let h = &s["host"];
    assert!(h["other_busy_s"].as_f64().unwrap() > 0.0, "the hog went unnoticed: {h:#}");
    assert_eq!(h["party"], "other", "{h:#}");
    assert!(h["other_cpu_share"].as_f64().unwrap() > 0.5, "{h:#}");
    let names: Vec<&str> = h["others"].as_array().unwrap().iter().filter_map(|o| o["name"].as_str()).collect();
    assert!(names.contains(&"yes"), "the busy loops are named: {h:#}");
    assert_eq!(v["party"], "other", "{v:#}");
    assert!(v["host"].as_str().unwrap().starts_with("host busy with other work:"), "{v:#}");
    let junit = std::fs::read_to_string(honest.path("j.xml")).unwrap();
    assert!(junit.contains("<skipped message=\"INCONCLUSIVE: upload.p50&lt;1ms measured"), "{junit}");
    assert!(stderr(&a).contains("HOST LIMITED") && stderr(&a).contains("host busy with other work"), "{}", stderr(&a));

    // The lying client under the same hog: FAIL (3) on integrity.
    let s = liar.summary();
    assert_eq!(b.status.code(), Some(3), "{}\n{:#}", stderr(&b), s["verdict"]);
    assert!(s["integrity"]["mismatch"].as_u64().unwrap() > 0, "{}", s["integrity"]);
    let junit = std::fs::read_to_string(liar.path("j.xml")).unwrap();
    assert!(junit.contains("classname=\"thresholds.capacity\""), "{junit}");
    assert!(junit.contains("classname=\"thresholds.correctness\""), "{junit}");
}

#[test]
fn a_twenty_second_run_has_a_timeline_of_thirty_points_or_more() {
    // 20 s at 720x (4 simulated hours) with the stats interval at its default.
    let sb = Sandbox::new(&[]);
    let out = run_bounded(
        sb.cmd(&[
            "--duration",
            "4h",
            "--time-scale",
            "720",
            "--start-at",
            "06:00",
            "--rate-scale",
            "0.2",
            "--max-file-size",
            "4KiB",
            "--seed",
            "7",
            "--html",
            "report.html",
            "-q",
        ]),
        LIMIT,
    );
    assert!(matches!(out.status.code(), Some(0) | Some(3) | Some(4)), "{}", stderr(&out));
    let s = sb.summary();
    let tl = s["timeline"].as_array().unwrap();
    assert!(tl.len() >= 30, "{} points", tl.len());
    let sims: Vec<f64> = tl.iter().map(|p| p["sim_unix"].as_f64().unwrap()).collect();
    assert!(sims.windows(2).all(|w| w[1] >= w[0]), "{sims:?}");
    assert!(sims[sims.len() - 1] - sims[0] > 3.0 * 3600.0, "the points span the run: {sims:?}");
    // The throughput chart's time axis: labels that differ (06:00 … 10:00, not 05:55 … 05:55).
    let page = std::fs::read_to_string(sb.path("report.html")).unwrap();
    let chart = page.split("id=\"throughput-fleet\"").nth(1).unwrap().split("</figure>").next().unwrap();
    let mut labels: Vec<&str> = chart
        .split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split('<').next()?.trim()))
        .filter(|t| t.len() == 5 && t.as_bytes()[2] == b':')
        .collect();
    labels.dedup();
    assert!(labels.len() >= 3, "distinct time labels: {labels:?} in {chart}");
}
