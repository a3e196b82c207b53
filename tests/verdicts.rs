//! Verdicts against the fake client: the smoke profile passes with an honest client, and
//! each way a client can lie (corrupt bytes, skipped deletes, stored nothing, success on
//! an invalid operation) is detected, named, and exits 3. Also thresholds, JUnit,
//! known latencies and reproducibility under a seed.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn smoke_profile() -> String {
    std::fs::read_to_string(repo().join("scripts/ci-smoke.toml")).unwrap()
}

/// The smoke profile at 10x its rate (each rare kind comes once in ~50 slots a user) for `secs` wall seconds against the fake, with
/// every output written. `env` sets the fake's modes.
fn smoke(secs: u32, env: &[(&str, &str)], extra: &[&str]) -> (Sandbox, std::process::Output) {
    // Objects live 6 s here, so TTL deletes (and their checks) happen in a short run.
    let profile =
        edit_profile(&smoke_profile(), &[("ttl = \"40s\"", "ttl = \"6s\""), ("verify = true ", "verify = false ")]);
    let sb = Sandbox::with_profile(&profile);
    for (_, bucket, _) in [("", "alice-development", ""), ("", "henry-operations", ""), ("", "jack-mobile-apps", "")] {
        // Made before the run: a fake that says yes to everything never creates them.
        std::fs::create_dir_all(sb.path("store").join(bucket)).unwrap();
    }
    let http = Http::serve(&sb.path("store"));
    let duration = format!("{secs}s");
    let mut args = vec![
        "--duration",
        &duration,
        "--rate-scale",
        "10",
        "--stats-interval",
        "1h",
        "--junit",
        "j.xml",
        "--ops-log",
        "ops.jsonl",
        "-q",
    ];
    args.extend_from_slice(extra);
    let mut cmd = sb.cmd(&args);
    cmd.env("FAKE_HTTP_PORT", http.port.to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_bounded(cmd, LIMIT);
    drop(http);
    (sb, out)
}

fn count(s: &serde_json::Value, path: &[&str]) -> u64 {
    let mut v = s;
    for p in path {
        v = &v[p];
    }
    v.as_u64().unwrap_or_else(|| panic!("{} in {s}", path.join(".")))
}

#[test]
fn the_smoke_profile_passes_with_an_honest_client_and_drives_every_command() {
    let (sb, out) = smoke(25, &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = sb.summary();
    assert_eq!(s["verdict"]["passed"], true, "{}", s["verdict"]);
    assert!(count(&s, &["totals", "confirmed_uploads"]) > 0);
    assert!(count(&s, &["totals", "confirmed_deletes"]) > 0);
    for kind in [
        "missing_key_download",
        "missing_bucket_upload",
        "missing_bucket_delete",
        "missing_local_upload",
        "missing_key_head",
        "wrong_credentials",
    ] {
        assert!(count(&s, &["expected_failures", kind, "failed_as_expected"]) > 0, "{kind}");
    }
    for op in ["upload", "download", "delete", "ls", "head_object", "du", "presign", "sync", "mb", "rb"] {
        assert!(count(&s, &["ops", op, "ok"]) > 0, "{op} never ran: {}", s["ops"]);
    }
    // The client saw each subcommand in its own form.
    let calls = sb.calls().join("\n");
    for form in
        [" head-object --bucket ", " ls s3://", " du s3://", " presign s3://", " sync ", " mb s3://", " rb s3://"]
    {
        assert!(calls.contains(form), "no call with {form:?}");
    }
    assert!(calls.contains("AWS_ACCESS_KEY_ID=AKIATRAFFICGENWRONG1"), "wrong credentials reach that child");
    // JUnit: one case per threshold and per integrity class, none failed.
    let junit = std::fs::read_to_string(sb.path("j.xml")).unwrap();
    let thresholds =
        smoke_profile().lines().skip_while(|l| *l != "[thresholds]").skip(1).take_while(|l| !l.is_empty()).count();
    assert!(junit.contains(&format!("tests=\"{}\"", thresholds + 4)), "{junit}");
    assert!(junit.contains("failures=\"0\""), "{junit}");
    assert!(junit.contains("name=\"integrity.phantom_delete\""), "{junit}");
    assert!(junit.contains("name=\"failure_rate&lt;1%\""), "{junit}");
    assert!(sb.temp_files().is_empty(), "{:?}", sb.temp_files());
}

/// Runs the smoke profile with a dishonest fake and checks the run fails (3) for the
/// named integrity class, and the log names the key.
fn dishonest(mode: &str, class: &str) -> Sandbox {
    let (sb, out) = smoke(20, &[(mode, "1")], &[]);
    assert_eq!(out.status.code(), Some(3), "{mode}: {}", stderr(&out));
    let s = sb.summary();
    assert!(count(&s, &["integrity", class]) > 0, "{mode}: {}", s["integrity"]);
    assert_eq!(s["verdict"]["passed"], false);
    let reasons = s["verdict"]["reasons"].to_string();
    assert!(reasons.contains(class), "{reasons}");
    let junit = std::fs::read_to_string(sb.path("j.xml")).unwrap();
    let case = junit.split(&format!("name=\"integrity.{class}\"")).nth(1).unwrap_or("");
    let case = case.split("</testcase>").next().unwrap();
    assert!(case.contains("<failure "), "{junit}");
    assert!(stderr(&out).contains("FAIL") && stderr(&out).contains(class), "{}", stderr(&out));
    sb
}

#[test]
fn corrupted_downloads_are_a_mismatch() {
    let sb = dishonest("FAKE_OBSCTL_CORRUPT", "mismatch");
    assert!(sb.log().contains("download: the bytes differ from the upload"), "the log names it");
}

#[test]
fn deletes_that_exit_0_but_keep_the_object_are_phantom_deletes() {
    let sb = dishonest("FAKE_OBSCTL_SKIP_DELETE", "phantom_delete");
    assert!(sb.log().contains("rm exited 0, but head-object still finds the object"));
}

#[test]
fn uploads_that_store_nothing_are_phantom_uploads() {
    let sb = dishonest("FAKE_OBSCTL_STORE_NOTHING", "phantom_upload");
    assert!(sb.log().contains("head-object finds no object"));
}

#[test]
fn success_on_an_invalid_operation_is_an_unexpected_success_per_kind() {
    let sb = dishonest("FAKE_OBSCTL_ALWAYS_OK", "unexpected_success");
    let s = sb.summary();
    for kind in ["missing_key_download", "missing_bucket_upload", "missing_local_upload", "wrong_credentials"] {
        assert!(
            count(&s, &["expected_failures", kind, "unexpected_success"]) > 0,
            "{kind}: {}",
            s["expected_failures"]
        );
    }
    assert!(sb.log().contains("the command succeeded but must fail"));
}

#[test]
fn a_failed_threshold_exits_3_with_its_measured_value() {
    // Only the thresholds under test: a 4 s run's achieved ratio is too noisy for the
    // shipped one.
    let sb = Sandbox::new(&[("achieved_ratio = \">=0.8\"", "")]);
    let mut cmd = sb.cmd(&[
        "--duration",
        "4s",
        "--users",
        "henry-ops",
        "--max-file-size",
        "4KiB",
        "--threshold",
        "upload.p50<1ms",
        "--threshold",
        "failure_rate<1%",
        "--junit",
        "j.xml",
    ]);
    cmd.env("FAKE_OBSCTL_MODE", "slow").env("FAKE_OBSCTL_SLEEP", "0.05");
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let s = sb.summary();
    let t = s["verdict"]["thresholds"].as_array().unwrap();
    let p50 = t.iter().find(|o| o["threshold"] == "upload.p50<1ms").unwrap();
    assert_eq!(p50["passed"], false);
    assert!(p50["value"].as_f64().unwrap() >= 50.0, "{p50}");
    let fr = t.iter().find(|o| o["threshold"] == "failure_rate<1%").unwrap();
    assert_eq!(fr["passed"], true);
    let junit = std::fs::read_to_string(sb.path("j.xml")).unwrap();
    assert!(junit.contains("failures=\"1\""), "{junit}");
}

#[test]
fn a_bad_threshold_is_a_usage_error_naming_it() {
    let sb = Sandbox::new(&[]);
    let out = run_bounded(sb.cmd(&["--duration", "1s", "--threshold", "failur_rate<1%"]), LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("failur_rate") && stderr(&out).contains("failure_rate"), "{}", stderr(&out));
    assert!(sb.calls().is_empty(), "nothing started");
    let sb = Sandbox::new(&[("failure_rate = \"<2%\"", "\"upload.p95\" = \"<8%\"")]);
    let out = run_bounded(sb.cmd(&["check"]), LIMIT);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("profiles.toml:") && err.contains("thresholds.upload.p95"), "{err}");
}

#[test]
fn known_latencies_come_out_as_percentiles() {
    let sb = Sandbox::new(&[
        ("download_share = 0.2", "download_share = 0.0"),
        ("error_share = 0.01", "error_share = 0.0"),
        ("achieved_ratio = \">=0.8\"", ""),
    ]);
    let mut cmd = sb.cmd(&["--duration", "6s", "--users", "henry-ops,alice-dev", "--max-file-size", "1KiB"]);
    cmd.env("FAKE_OBSCTL_MODE", "slow").env("FAKE_OBSCTL_SLEEP", "0.4");
    let out = run_bounded(cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let l = &sb.summary()["latency_ms"]["upload"];
    assert!(l["count"].as_u64().unwrap() >= 3, "{l}");
    // 400 ms of sleep plus a process start: HDR keeps 3 significant digits, the rest is
    // the cost of starting a shell script.
    for p in ["min_ms", "p50_ms", "p95_ms", "p99_ms"] {
        let v = l[p].as_f64().unwrap();
        assert!((400.0..520.0).contains(&v), "{p} = {v}: {l}");
    }
}

/// (user, seq) → (op, key, bytes) of every scheduled command, from the ops log.
fn sequence(sb: &Sandbox) -> BTreeMap<(String, u64), (String, String, u64)> {
    let text = std::fs::read_to_string(sb.path("ops.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["op"] != "delete" && !v["op"].as_str().unwrap().starts_with("confirm"))
        .map(|v| {
            (
                (v["user"].as_str().unwrap().to_string(), v["seq"].as_u64().unwrap()),
                (
                    v["op"].as_str().unwrap().to_string(),
                    v["key"].as_str().unwrap().to_string(),
                    v["bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_operations() {
    let run = |seed: &str| {
        let sb = Sandbox::new(&[
            ("ttl = \"3h\"", "ttl = \"12h\""),
            ("large_ttl = \"60m\"", "large_ttl = \"12h\""),
            ("achieved_ratio = \">=0.8\"", ""),
        ]);
        let args = [
            "--duration",
            "2h",
            "--time-scale",
            "1800",
            "--start-at",
            "10:00",
            "--max-file-size",
            "8KiB",
            "--seed",
            seed,
        ];
        let mut cmd = sb.cmd(&args);
        cmd.arg("--ops-log").arg(sb.path("ops.jsonl"));
        let out = run_bounded(cmd, LIMIT);
        assert!(out.status.success(), "{}", stderr(&out));
        sequence(&sb)
    };
    let (a, b, c) = (run("42"), run("42"), run("43"));
    assert!(a.len() > 50, "{} operations", a.len());
    let ops: std::collections::BTreeSet<&str> = a.values().map(|v| v.0.as_str()).collect();
    assert!(ops.contains("upload") && ops.contains("download"), "{ops:?}");
    // Uploads' keys carry the slot's simulated time, so timing cannot change them.
    let common: Vec<_> = a.keys().filter(|k| b.contains_key(*k)).collect();
    assert!(common.len() * 10 >= a.len() * 9, "{} of {} slots in both runs", common.len(), a.len());
    for k in common {
        // A read picks among the objects that exist when it runs, which depends on what
        // the server had finished; everything the slot drew itself must match.
        if a[k].0 == "download" {
            assert_eq!(a[k].0, b[k].0, "slot {k:?}");
        } else {
            assert_eq!(a[k], b[k], "slot {k:?} differs under the same seed");
        }
    }
    let differ = a.iter().filter(|(k, v)| c.get(*k) != Some(*v)).count();
    assert!(differ * 2 > a.len(), "another seed should differ: {differ} of {}", a.len());
}
