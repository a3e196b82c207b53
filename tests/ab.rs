//! `trafficgen ab` end to end against the fake client: two builds interleaved in one
//! run. A build whose `cp` sleeps 30 % longer FAILs naming upload and download; an
//! identical build never FAILs; a build that fails 5 % of its deletes FAILs. Also the
//! outputs (markdown, JUnit, summary with both builds) and calibration.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// One `ab` run at a time: they time commands, and two at once on a small machine
/// would add each other's noise.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A wrapper that sets the fake's environment and runs it: one "build".
fn build(sb: &Sandbox, name: &str, env: &[(&str, &str)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = sb.path(name);
    let mut text = String::from("#!/bin/sh\n");
    for (k, v) in env {
        text += &format!("export {k}={v}\n");
    }
    text += &format!("exec {} \"$@\"\n", fake_obsctl().display());
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The smoke profile (objects live 2 s, so deletes come early; twice the downloads) at 60× its rate for
/// `secs` wall seconds: `ab` of build A (`a_env`) against build B (`b_env`).
fn ab(
    secs: u32,
    seed: u64,
    a_env: &[(&str, &str)],
    b_env: &[(&str, &str)],
    extra: &[&str],
) -> (Sandbox, std::process::Output) {
    let profile = edit_profile(
        &std::fs::read_to_string(repo().join("scripts/ci-smoke.toml")).unwrap(),
        &[
            ("ttl = \"40s\"", "ttl = \"2s\""),
            ("verify = true ", "verify = false "),
            // Downloads as often as uploads: both are judged.
            ("download_share = 0.2", "download_share = 0.4"),
        ],
    );
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sb = Sandbox::with_profile(&profile);
    for bucket in ["alice-development", "henry-operations", "jack-mobile-apps"] {
        std::fs::create_dir_all(sb.path("store").join(bucket)).unwrap();
    }
    let (a, b) = (build(&sb, "build-a", a_env), build(&sb, "build-b", b_env));
    let http = Http::serve(&sb.path("store"));
    let (duration, seed) = (format!("{secs}s"), seed.to_string());
    let mut cmd = std::process::Command::new(bin());
    cmd.current_dir(sb.path(""))
        .env("FAKE_S3_DIR", sb.path("store"))
        .env("FAKE_HTTP_PORT", http.port.to_string())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["--profiles", "profiles.toml", "ab", "--a"])
        .arg(&a)
        .arg("--b")
        .arg(&b)
        .args(["--duration", &duration, "--seed", &seed, "--rate-scale", "60", "--stats-interval", "1h", "-q"])
        .args(["--log-file", "tg.log", "--temp-dir", "temp", "--state-dir", "state"])
        .args(["--summary-json", "ab.json", "--junit", "ab.xml", "--markdown", "ab.md"])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = run_bounded(cmd, LIMIT);
    drop(http);
    (sb, out)
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn verdict_of(sb: &Sandbox, op: &str) -> String {
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sb.path("ab.json")).unwrap()).unwrap();
    s["ab"]["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["op"] == op)
        .map(|c| c["verdict"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn a_build_whose_cp_is_30_percent_slower_fails_naming_upload_and_download() {
    let (sb, out) = ab(10, 7, &[("FAKE_OBSCTL_CP_SLEEP", "0.1")], &[("FAKE_OBSCTL_CP_SLEEP", "0.13")], &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    let head = all.lines().find(|l| l.starts_with("ab FAIL")).unwrap_or_else(|| panic!("{all}"));
    assert!(head.contains("upload/small") && head.contains("download/small"), "{head}");
    assert!(verdict_of(&sb, "upload").contains("FAIL"));
    // Both builds ran, and each build's objects carry its prefix.
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sb.path("ab.json")).unwrap()).unwrap();
    for b in ["A", "B"] {
        assert!(s["builds"][b]["ops"]["upload"]["commands"].as_u64().unwrap() > 10, "{b}: {s}");
    }
    assert!(s["run"]["ops"].is_object() || s["run"].is_object(), "the run's own summary is kept");
    for prefix in ["a", "b"] {
        let found = ["alice-development", "henry-operations", "jack-mobile-apps"]
            .iter()
            .any(|bucket| sb.path("store").join(bucket).join(prefix).is_dir());
        assert!(found, "no object under {prefix}/ in any bucket");
    }
    // The outputs: markdown under GitHub's limit with the table, JUnit with failures.
    let md = std::fs::read_to_string(sb.path("ab.md")).unwrap();
    assert!(md.len() < 1 << 20 && md.contains("| upload/small |") && md.contains("FAIL"), "{md}");
    let xml = std::fs::read_to_string(sb.path("ab.xml")).unwrap();
    assert!(xml.contains("name=\"upload/small\"") && xml.contains("<failure"), "{xml}");
}

#[test]
fn identical_builds_never_fail_over_five_seeds() {
    for seed in 1..=5 {
        let env = [("FAKE_OBSCTL_CP_SLEEP", "0.05")];
        let (_sb, out) = ab(5, seed, &env, &env, &[]);
        let all = text(&out);
        assert!(matches!(out.status.code(), Some(0) | Some(4)), "seed {seed}: {all}");
        assert!(!all.contains("ab FAIL"), "seed {seed}: {all}");
    }
}

#[test]
fn a_build_that_fails_5_percent_of_deletes_fails() {
    let (sb, out) = ab(20, 3, &[], &[("FAKE_OBSCTL_RM_FAIL_PCT", "5")], &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(verdict_of(&sb, "delete").contains("FAIL"), "{all}");
    let head = all.lines().find(|l| l.starts_with("ab FAIL")).unwrap();
    assert!(head.contains("delete/small"), "{head}");
}

#[test]
fn calibration_prints_the_minimum_detectable_effect() {
    let (sb, out) = ab(5, 2, &[("FAKE_OBSCTL_CP_SLEEP", "0.05")], &[], &["--calibrate"]);
    let all = text(&out);
    assert!(matches!(out.status.code(), Some(0) | Some(4)), "{all}");
    assert!(all.contains("minimum detectable effect"), "{all}");
    assert!(all.contains("A against A"), "{all}");
    let _ = sb;
}
