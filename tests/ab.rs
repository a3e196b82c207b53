//! `trafficgen ab` end to end against the fake client: two builds interleaved in one
//! run. A build whose `cp` sleeps 30 % longer FAILs naming upload and download; an
//! identical build never FAILs; a build that fails 5 % of its deletes FAILs. Also the
//! outputs (markdown, JUnit, summary with both builds, the HTML report with both
//! overlaid) and calibration.

mod common;

// The plain-data layer itself, so the ab summary is read by the very types that write it
// (it imports nothing else of the crate: tests/layering.rs).
#[allow(dead_code, unused_imports)]
#[path = "../src/model/mod.rs"]
mod model;

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
    py: Option<&std::path::Path>,
    a_env: &[(&str, &str)],
    b_env: &[(&str, &str)],
    extra: &[&str],
) -> (Sandbox, std::process::Output) {
    ab_edited(secs, seed, py, a_env, b_env, extra, &[])
}

/// `ab` as above, with more (from, to) edits of the smoke profile.
fn ab_edited(
    secs: u32,
    seed: u64,
    py: Option<&std::path::Path>,
    a_env: &[(&str, &str)],
    b_env: &[(&str, &str)],
    extra: &[&str],
    edits: &[(&str, &str)],
) -> (Sandbox, std::process::Output) {
    let mut all_edits = vec![
        ("ttl = \"40s\"", "ttl = \"2s\""),
        ("verify = true ", if py.is_some() { "verify = true " } else { "verify = false " }),
        // Downloads as often as uploads: both are judged.
        ("download_share = 0.2", "download_share = 0.4"),
    ];
    all_edits.extend_from_slice(edits);
    let profile = edit_profile(&std::fs::read_to_string(repo().join("scripts/ci-smoke.toml")).unwrap(), &all_edits);
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
        .env_remove("AWS_ENDPOINT_URL")
        .args(["--profiles", "profiles.toml", "ab", "--a"])
        .arg(&a)
        .arg("--b")
        .arg(&b)
        // With telemetry every command also starts a python exporter: a slower pace.
        .args(["--duration", &duration, "--seed", &seed, "--stats-interval", "1h", "-q"])
        .args(["--rate-scale", if py.is_some() { "10" } else { "60" }])
        .args(["--log-file", "tg.log", "--temp-dir", "temp", "--state-dir", "state"])
        .args(["--summary-json", "ab.json", "--junit", "ab.xml", "--markdown", "ab.md"])
        .args(extra)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env_remove("OTEL_ENABLED")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(py) = py {
        cmd.env("FAKE_OTEL_PYTHON", py).env("FAKE_OTEL_MODE", "honest").env("FAKE_OTEL_LOG", sb.path("otel.log"));
    }
    let out = run_bounded(cmd, LIMIT);
    drop(http);
    (sb, out)
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The run's `ab.json`: valid against docs/ab-summary.schema.json, read typed, and
/// written again into the same JSON.
fn summary(sb: &Sandbox) -> model::ab::AbSummary {
    let text = std::fs::read_to_string(sb.path("ab.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema = std::fs::read_to_string(repo().join("docs/ab-summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&serde_json::from_str(&schema).unwrap()).expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "ab.json does not match docs/ab-summary.schema.json:\n{}", errors.join("\n"));
    let typed = model::ab::from_json(&text).unwrap_or_else(|e| panic!("{}", e.describe("ab.json")));
    assert_eq!(serde_json::to_value(&typed).unwrap(), v, "ab.json changed on its way through the types");
    typed
}

fn verdict_of(sb: &Sandbox, op: &str) -> String {
    let s = summary(sb);
    s.ab.comparisons.iter().filter(|c| c.op == op).map(|c| c.verdict.name()).collect::<Vec<_>>().join(",")
}

#[test]
fn a_build_whose_cp_is_30_percent_slower_fails_naming_upload_and_download() {
    // Sleeps long against the fake's own few milliseconds, so the 30 % shows through.
    let (sb, out) = ab(12, 7, None, &[("FAKE_OBSCTL_CP_SLEEP", "0.2")], &[("FAKE_OBSCTL_CP_SLEEP", "0.26")], &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    let head = all.lines().find(|l| l.starts_with("ab FAIL")).unwrap_or_else(|| panic!("{all}"));
    assert!(head.contains("upload/small") && head.contains("download/small"), "{head}");
    assert!(verdict_of(&sb, "upload").contains("FAIL"));
    // Both builds ran, and each build's objects carry its prefix.
    let s = summary(&sb);
    for (b, counts) in [("A", &s.builds.a), ("B", &s.builds.b)] {
        assert!(counts.ops["upload"].commands > 10, "{b}: {counts:?}");
    }
    assert!(s.run.is_some(), "the run's own summary is kept");
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
        let (_sb, out) = ab(5, seed, None, &env, &env, &[]);
        let all = text(&out);
        assert!(matches!(out.status.code(), Some(0) | Some(4)), "seed {seed}: {all}");
        assert!(!all.contains("ab FAIL"), "seed {seed}: {all}");
    }
}

#[test]
fn a_build_that_fails_5_percent_of_deletes_fails() {
    let (sb, out) = ab(20, 3, None, &[], &[("FAKE_OBSCTL_RM_FAIL_PCT", "5")], &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(verdict_of(&sb, "delete").contains("FAIL"), "{all}");
    let head = all.lines().find(|l| l.starts_with("ab FAIL")).unwrap();
    assert!(head.contains("delete/small"), "{head}");
}

#[test]
fn calibration_prints_the_minimum_detectable_effect() {
    let (sb, out) = ab(5, 2, None, &[("FAKE_OBSCTL_CP_SLEEP", "0.05")], &[], &["--calibrate"]);
    let all = text(&out);
    assert!(matches!(out.status.code(), Some(0) | Some(4)), "{all}");
    assert!(all.contains("minimum detectable effect"), "{all}");
    assert!(all.contains("A against A"), "{all}");
    let _ = sb;
}

#[test]
fn the_html_report_draws_both_builds_overlaid() {
    let env = [("FAKE_OBSCTL_CP_SLEEP", "0.05")];
    let (sb, out) = ab(6, 6, None, &env, &env, &["--html", "ab.html"]);
    let all = text(&out);
    assert!(matches!(out.status.code(), Some(0) | Some(4)), "{all}");
    let page = std::fs::read_to_string(sb.path("ab.html")).unwrap_or_else(|e| panic!("no ab.html ({e}): {all}"));
    // The run's own page, with the comparison after its verdict.
    assert!(page.contains("<h2>Run</h2>") && page.contains("Latency by operation"), "{page}");
    assert!(page.contains("A against B</h2>"), "{page}");
    assert!(page.contains("build-a") && page.contains("build-b"), "both binaries named");
    // A chart of both builds' latencies for every comparison with a shift.
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sb.path("ab.json")).unwrap()).unwrap();
    let comparisons = s["ab"]["comparisons"].as_array().unwrap();
    let mut charts = 0;
    for (i, c) in comparisons.iter().enumerate().filter(|(_, c)| !c["shift"].is_null()) {
        let id = format!("id=\"ab-{i}-{}_{}\"", c["op"].as_str().unwrap(), c["size_class"].as_str().unwrap());
        assert!(page.contains(&id), "no chart {id}");
        charts += 1;
    }
    assert!(charts >= 2, "{comparisons:?}");
    // And none for a comparison without latencies.
    let figures = page.matches("<figure class=\"chart\" id=\"ab-").count();
    assert!(figures >= charts && figures <= comparisons.len(), "{figures} charts");
    assert!(page.len() < 4 << 20, "{} bytes", page.len());
}

/// The venv's python with the exporter's modules, or None with a SKIP line.
fn python(test: &str) -> Option<PathBuf> {
    let py = s3::venv().join("bin/python");
    let mut c = std::process::Command::new(&py);
    c.args(["-c", "import grpc, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if py.exists() && run_bounded(c, Duration::from_secs(30)).status.success() {
        return Some(py);
    }
    assert!(std::env::var_os("TRAFFICGEN_REQUIRE_S3").is_none(), "{test}: {} lacks grpcio", py.display());
    eprintln!("SKIP {test}: no python with grpcio and opentelemetry-proto at {}", py.display());
    None
}

#[test]
fn a_build_that_stops_exporting_a_family_fails_naming_it() {
    let Some(py) = python("a_build_that_stops_exporting_a_family_fails_naming_it") else { return };
    let (sb, out) = ab(8, 4, Some(&py), &[], &[("FAKE_OTEL_DROP", "downloads_total")], &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    let head = all.lines().find(|l| l.starts_with("ab FAIL")).unwrap_or_else(|| panic!("{all}"));
    assert!(head.contains("telemetry downloads_total"), "{head}");
    assert!(all.contains("telemetry downloads_total: A match"), "{all}");
    assert!(all.contains("further from the truth"), "{all}");
    // No other family fails: the builds are the same code but for that family.
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sb.path("ab.json")).unwrap()).unwrap();
    let rows = s["ab"]["telemetry"].as_array().unwrap();
    let failed: Vec<&str> =
        rows.iter().filter(|r| r["verdict"] == "FAIL").map(|r| r["family"].as_str().unwrap()).collect();
    assert_eq!(failed, ["downloads_total"], "{rows:?}");
}

/// The fake with a deviation (bytes overcounted), reporting `version`.
fn deviating(version: &'static str) -> [(&'static str, &'static str); 2] {
    [("FAKE_OTEL_MODE", "overcount_bytes"), ("FAKE_OBSCTL_VERSION", version)]
}

/// The smoke profile's allow list, for the two families the fake overcounts.
const ALLOW_BYTES: (&str, &str) = (
    "[telemetry.allow.\">=0.2.0, <0.4.0\"]",
    "[telemetry.allow.\">=0.2.0, <0.4.0\"]\nbytes_downloaded_total = \"the fake overcounts it\"",
);

#[test]
fn the_same_code_under_another_version_never_fails() {
    let Some(py) = python("the_same_code_under_another_version_never_fails") else { return };
    // The previous release (0.2.0) against this one (0.3.0), the same code: each build is
    // judged by its own version's known deviations, and the families on what both did.
    for (seed, b_version) in [(3, "0.3.0"), (4, "0.4.0"), (5, "0.1.0")] {
        let (sb, out) = ab_edited(8, seed, Some(&py), &deviating("0.2.0"), &deviating(b_version), &[], &[ALLOW_BYTES]);
        let all = text(&out);
        assert!(matches!(out.status.code(), Some(0) | Some(4)), "B {b_version}: {all}");
        assert!(!all.contains("ab FAIL"), "B {b_version}: {all}");
        // The run as a whole takes what either build's version allows: no inner FAILED.
        assert!(!all.contains("verdict: FAILED"), "B {b_version}: {all}");
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sb.path("ab.json")).unwrap()).unwrap();
        let builds = &s["run"]["telemetry"]["builds"];
        assert_eq!(builds["A"]["bytes_uploaded_total"]["verdict"], "allowed", "{builds}");
        let b = &builds["B"]["bytes_uploaded_total"];
        match b_version {
            "0.3.0" => assert_eq!(b["verdict"], "allowed", "{b}"),
            // Newer than the allow list: still allowed, known since its first version.
            "0.4.0" => {
                assert_eq!(b["verdict"], "allowed", "{b}");
                assert!(b["note"].as_str().unwrap().starts_with("known since 0.2.0"), "{b}");
                assert!(all.contains("is newer than the profile's [telemetry.allow] versions"), "{all}");
            }
            // Older than any key: its own verdict is a mismatch, but B is no further from
            // the truth than A, so the comparison is no FAIL.
            _ => assert_eq!(b["verdict"], "MISMATCH", "{b}"),
        }
        let row = s["ab"]["telemetry"].as_array().unwrap().iter().find(|r| r["family"] == "bytes_uploaded_total");
        let row = row.unwrap_or_else(|| panic!("no bytes_uploaded_total row: {s}"));
        assert_ne!(row["verdict"], "FAIL", "{row}");
    }
}

#[test]
fn bad_ab_options_are_usage_errors_before_any_traffic() {
    let run = |args: &[&str]| {
        let mut c = std::process::Command::new(bin());
        c.current_dir(repo()).arg("ab").args(args);
        c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let out = run_bounded(c, Duration::from_secs(30));
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["--a", "/bin/true"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--b"), "{err}");
    let (code, err) = run(&["--a", "/bin/true", "--b", "/bin/true", "--tolerance", "ten"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--tolerance") && err.contains("'ten'") && err.contains("such as 20%"), "{err}");
    let (code, err) = run(&["--a", "/bin/true", "--b", "/bin/true", "--obsctl", "/bin/true"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--a and --b"), "{err}");
    let (code, err) = run(&["--a", "/bin/true", "--b", "/bin/true", "--resamples", "5"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--resamples"), "{err}");
    // `ab` writes --html itself, checked with its other outputs before anything starts.
    let page = std::env::temp_dir().join(format!("tg-ab-{}.html", std::process::id()));
    let page = page.to_str().unwrap();
    let (code, err) = run(&["--a", "/bin/true", "--b", "/bin/true", "--html", page, "--markdown", page]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--html") && err.contains("--markdown") && err.contains("same file"), "{err}");
}

/// `trafficgen ab ARGS` in the sandbox with the fake client's store and log, its state,
/// temp dir and log inside it, and `env` set (or, with None, removed).
fn ab_in(sb: &Sandbox, args: &[&str], env: &[(&str, Option<&str>)]) -> std::process::Output {
    let mut c = std::process::Command::new(bin());
    c.current_dir(sb.path(""))
        .env("FAKE_S3_DIR", sb.path("store"))
        .env("FAKE_OBSCTL_LOG", sb.path("calls.log"))
        .args(["--profiles", "profiles.toml", "ab"])
        .args(args)
        .args(["--state-dir", "state", "--temp-dir", "temp", "--log-file", "tg.log", "-q"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    run_bounded(c, LIMIT)
}

#[test]
fn a_build_that_cannot_start_is_named_with_the_option_that_gives_it() {
    let sb = Sandbox::new(&[]);
    for (a, b, want) in [
        (fake_obsctl().display().to_string(), "/no/such/obsctl-b".to_string(), "give build B with --b PATH"),
        ("/no/such/obsctl-a".to_string(), fake_obsctl().display().to_string(), "give build A with --a PATH"),
    ] {
        let out = ab_in(
            &sb,
            &["--a", &a, "--b", &b, "--duration", "1h", "--time-scale", "3600"],
            &[("AWS_ENDPOINT_URL", None)],
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want) && !err.contains("--obsctl PATH"), "{err}");
        // Build A ran its --version in the first case (the log works), nothing else ran.
        assert!(sb.calls().iter().all(|c| !c.contains(" cp ")), "no traffic: {:?}", sb.calls());
    }
}

/// `ab`'s own outputs go through the run's checks: `--markdown PROFILE` once replaced the
/// profile with the markdown, and `--summary-json STATE/objects.jsonl` the state journal
/// with the summary (so `cleanup` then found nothing to delete). Both are refused with
/// exit 2 before anything starts, and both files stay as they were.
#[test]
fn ab_refuses_an_output_that_is_the_profile_or_the_state_journal() {
    let sb = Sandbox::new(&[]);
    std::fs::create_dir_all(sb.path("state")).unwrap();
    let journal = sb.path("state/objects.jsonl");
    let line = "{\"bucket\":\"alice-dev\",\"key\":\"a.tg\"}\n";
    std::fs::write(&journal, line).unwrap();
    let profile_before = std::fs::read(sb.path("profiles.toml")).unwrap();
    let fake = fake_obsctl().display().to_string();
    for (flag, path, what) in [
        ("--markdown", "profiles.toml", "the profile"),
        ("--summary-json", "state/objects.jsonl", "the state dir's journal"),
        ("--junit", "state/lock", "the state dir's lock"),
        ("--html", &fake, "--a"),
    ] {
        let out = ab_in(&sb, &["--a", &fake, "--b", &fake, flag, path], &[]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{flag} {path}: {err}");
        assert!(err.contains(flag) && err.contains(what) && err.contains("does not write over"), "{err}");
        assert!(sb.calls().is_empty(), "nothing ran: {:?}", sb.calls());
    }
    assert_eq!(std::fs::read(sb.path("profiles.toml")).unwrap(), profile_before, "the profile is whole");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), line, "the journal is whole");
    assert!(std::fs::metadata(&fake).is_ok_and(|m| m.len() > 100), "the build is whole");
}
