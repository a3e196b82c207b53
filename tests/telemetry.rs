//! `--verify-telemetry` against the fake client: every child's OTLP export (made by
//! tests/tools/fake_otel.py, honestly or in one of its dishonest modes) is attributed,
//! reconciled family by family, printed and put in the summary; a mismatch exits 3
//! unless the profile allows it for the client's version. Also the tee to the profile's
//! own collector, and the resource attributes each child carries.
//!
//! The exporter runs in the repository's venv (grpcio, opentelemetry-proto); without it
//! these tests print a SKIP line, unless TRAFFICGEN_REQUIRE_S3 is set.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Wall seconds each run lasts.
const SECS: u64 = 12;
const LIMIT: Duration = Duration::from_secs(90);
/// (user id, bucket): the profile's users.
const USERS: [(&str, &str); 3] =
    [("alice-dev", "alice-development"), ("henry-ops", "henry-operations"), ("jack-mobile", "jack-mobile-apps")];

/// A small self-contained profile: 3 users at 45 scheduled operations a minute each,
/// every subcommand and every expected failure (30 % of the operations), small
/// files, 4 s TTLs (so deletes and their checks happen), uploads checked. `env` and
/// `telemetry` are extra lines for [obsctl.env] and after it (a [telemetry] section).
fn profile(env: &str, telemetry: &str) -> String {
    let mut users = String::new();
    for (id, bucket) in USERS {
        users.push_str(&format!(
            "[[users]]\nid = \"{id}\"\nrole = \"Tester\"\nbucket = \"{bucket}\"\npeak_hours = \"24/7\"\n\
             activity = 1.0\nkinds = {{ code = 0.7, documents = 0.3 }}\nsubfolders = [\"src/{{project}}\"]\n\n"
        ));
    }
    format!(
        r#"[run]
duration = "{SECS}s"
command_timeout = "30s"
grace_period = "10s"
stats_interval = "1h"
log_file = "tg.log"
seed = 5

[obsctl]
flavor = "obsctl"
binary = "obsctl"
endpoint = "http://127.0.0.1:9000"
region = "us-east-1"

[obsctl.env]
AWS_ACCESS_KEY_ID = "AKIATESTTESTTEST0001"
AWS_SECRET_ACCESS_KEY = "test-secret"
OTEL_SERVICE_NAME = "obsctl"
{env}

{telemetry}

[rates]
base_ops_per_min = 45.0
peak_multiplier = 1.0
offpeak_multiplier = 1.0
download_share = 0.2
error_share = 0.3
arrivals = "uniform"

[mix]
ls = 0.03
head_object = 0.03
du = 0.03
presign = 0.03
sync = 0.08
mb_rb = 0.03

# Each kind early in every user's (deterministic) sequence; missing keys come anyway,
# from the head-object check after each delete.
[expected_failures]
missing_key_download = 0
missing_bucket_upload = 1
missing_bucket_delete = 0
missing_local_upload = 1
missing_key_head = 0
wrong_credentials = 1

[verify]
confirm_uploads = 0.5
confirm_deletes = 1.0

[thresholds]
integrity_failures = "==0"
"expected_failures.unexpected_success" = "==0"

[limits]
max_in_flight_per_user = 16
max_in_flight = 32
upload_memory_budget = "256MiB"
min_free_disk = "0"

[lifecycle]
ttl = "4s"
large_ttl = "4s"
large_threshold = "100MiB"

[kinds.code]
extensions = [".py", ".rs"]
bands = [{{ min = "100B", max = "8KiB", weight = 1.0 }}]

[kinds.documents]
extensions = [".txt", ".csv"]
bands = [{{ min = "1KiB", max = "64KiB", weight = 1.0 }}]

[words]
project = ["web-app", "api-gateway"]

{users}"#
    )
}

/// The venv's python with the exporter's modules, or None with a SKIP line.
fn python(test: &str) -> Option<PathBuf> {
    let py = s3::venv().join("bin/python");
    let usable = py.exists() && {
        let mut c = Command::new(&py);
        c.args(["-c", "import grpc, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        run_bounded(c, Duration::from_secs(30)).status.success()
    };
    if usable {
        return Some(py);
    }
    if std::env::var_os("TRAFFICGEN_REQUIRE_S3").is_some() {
        panic!("{test}: {} lacks grpcio or opentelemetry-proto; run scripts/local-s3 install", py.display());
    }
    eprintln!(
        "SKIP {test}: no python with grpcio and opentelemetry-proto at {} (scripts/local-s3 install)",
        py.display()
    );
    None
}

/// The profile's own collector: tests/tools/otlp_receiver.py, one JSON line per request.
struct Collector {
    child: Child,
    port: u16,
    requests: PathBuf,
}

impl Collector {
    fn start(py: &Path, dir: &Path) -> Collector {
        use std::io::{BufRead, BufReader};
        let requests = dir.join("collector-requests.jsonl");
        let mut child = Command::new(py)
            .arg(repo().join("tests/tools/otlp_receiver.py"))
            .arg(dir.join("collector-names.txt"))
            .arg(&requests)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the OTLP receiver starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok());
        // Owned before the port is checked, so a failed start still kills the receiver.
        let mut c = Collector { child, port: 0, requests };
        c.port = port.unwrap_or_else(|| panic!("the OTLP receiver said {line:?}"));
        c
    }

    /// Every request received: its resources' attributes, one map per resource.
    fn requests(&self) -> Vec<Vec<BTreeMap<String, String>>> {
        let text = std::fs::read_to_string(&self.requests).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        r["attributes"]
                            .as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    sb: Sandbox,
    out: std::process::Output,
    elapsed: Duration,
    summary: Value,
}

impl Run {
    fn t(&self) -> &Value {
        let t = &self.summary["telemetry"];
        assert!(t.is_object(), "no telemetry in the summary: {}", self.summary);
        t
    }

    fn n(&self, field: &str) -> u64 {
        self.t()[field].as_u64().unwrap_or_else(|| panic!("telemetry.{field} in {}", self.t()))
    }

    fn family(&self, name: &str) -> &Value {
        let f = &self.t()["families"][name];
        assert!(f.is_object(), "no family {name} in {}", self.t());
        f
    }

    fn verdict(&self, name: &str) -> &str {
        self.family(name)["verdict"].as_str().unwrap()
    }

    fn expected(&self, name: &str) -> f64 {
        self.family(name)["expected"].as_f64().unwrap()
    }

    fn reported(&self, name: &str) -> f64 {
        self.family(name)["reported"].as_f64().unwrap()
    }

    fn families(&self) -> &serde_json::Map<String, Value> {
        self.t()["families"].as_object().unwrap()
    }

    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    /// Everything worth seeing when an assertion fails.
    fn context(&self) -> String {
        format!(
            "exit {:?} after {:?}\ntelemetry: {}\nstderr:\n{}\nexporter errors:\n{}",
            self.code(),
            self.elapsed,
            serde_json::to_string_pretty(&self.summary["telemetry"]).unwrap(),
            stderr(&self.out),
            std::fs::read_to_string(self.sb.path("otel.log")).unwrap_or_default()
        )
    }
}

/// Runs trafficgen for SECS with the fake client exporting in `mode`, telemetry verified.
fn run(py: &Path, mode: &str, profile_text: &str, extra: &[&str]) -> Run {
    run_with_buckets(py, mode, profile_text, extra, true)
}

/// As `run`; `premade` makes the buckets before the run, so every bucket check passes.
fn run_with_buckets(py: &Path, mode: &str, profile_text: &str, extra: &[&str], premade: bool) -> Run {
    let sb = Sandbox::with_profile(profile_text);
    for (_, bucket) in USERS.iter().filter(|_| premade) {
        std::fs::create_dir_all(sb.path("store").join(bucket)).unwrap();
    }
    let http = Http::serve(&sb.path("store"));
    let mut args = vec!["--verify-telemetry", "-q"];
    args.extend_from_slice(extra);
    let mut cmd = sb.cmd(&args);
    cmd.env("FAKE_HTTP_PORT", http.port.to_string())
        .env("FAKE_OTEL_MODE", mode)
        .env("FAKE_OTEL_PYTHON", py)
        .env("FAKE_OTEL_LOG", sb.path("otel.log"));
    for v in ["OTEL_ENABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME"] {
        cmd.env_remove(v);
    }
    let start = Instant::now();
    let out = run_bounded(cmd, LIMIT);
    let elapsed = start.elapsed();
    eprintln!("trafficgen with FAKE_OTEL_MODE={mode} ran {elapsed:.1?}");
    drop(http);
    let summary = sb.summary();
    Run { sb, out, elapsed, summary }
}

fn endpoint_line(port: u16) -> String {
    format!("OTEL_EXPORTER_OTLP_ENDPOINT = \"http://127.0.0.1:{port}\"")
}

/// Families the contract moves for this run (expected ≠ 0).
fn counted(r: &Run) -> Vec<String> {
    r.families().iter().filter(|(_, f)| f["expected"].as_f64().unwrap() != 0.0).map(|(n, _)| n.clone()).collect()
}

/// Every family not named in `except` matches (or cannot be judged).
fn others_match(r: &Run, except: &[&str]) {
    for (name, f) in r.families() {
        if except.contains(&name.as_str()) {
            continue;
        }
        let v = f["verdict"].as_str().unwrap();
        assert!(v == "match" || v == "n/a", "{name}: {v}\n{}", r.context());
    }
}

#[test]
fn an_honest_client_matches_every_family_and_passes() {
    let Some(py) = python("an_honest_client_matches_every_family_and_passes") else { return };
    let r = run(&py, "honest", &profile("", ""), &[]);
    assert_eq!(r.code(), Some(0), "{}", r.context());
    let ended = r.n("children_ended");
    assert!(ended > 0, "{}", r.context());
    assert_eq!(r.n("children_reported"), ended, "{}", r.context());
    assert_eq!(r.n("lost_exports"), 0, "{}", r.context());
    assert_eq!(r.n("mismatches"), 0, "{}", r.context());
    assert_eq!(r.n("unattributed_requests"), 0, "{}", r.context());
    // One export per child that ended; a child killed at the end may have sent its own.
    let requests = r.n("export_requests");
    assert!(requests >= ended && requests <= ended + r.n("children_killed"), "{}", r.context());
    assert_eq!(r.n("forwarded") + r.n("forward_failures"), 0, "no collector in the profile: {}", r.context());
    assert!(r.t()["out_of_contract"].as_array().unwrap().is_empty(), "{}", r.context());
    others_match(&r, &[]);
    // The run did enough for the match to mean something (the profile's mix is
    // deterministic: these all come in every user's first slots).
    for name in [
        "operations_total",
        "uploads_total",
        "downloads_total",
        "deletes_total",
        "lists_total",
        "sync_operations_total",
        "bytes_uploaded_total",
        "bytes_downloaded_total",
        "file_size_bytes",
        "errors_total",
        "errors_bucket_total",
        "errors_file_total",
        "errors_auth_total",
        "errors_service_total",
    ] {
        assert!(r.expected(name) > 0.0, "{name} never moved: {}", r.context());
        // Every failure had a known cause: the error classes were judged, not skipped.
        assert_eq!(r.verdict(name), "match", "{name}: {}", r.context());
    }
    // Per user too.
    let users = r.t()["users"].as_object().unwrap();
    assert_eq!(users.len(), USERS.len(), "{}", r.context());
    for (user, fams) in users {
        for (name, f) in fams.as_object().unwrap() {
            let v = f["verdict"].as_str().unwrap();
            assert!(v == "match" || v == "n/a", "{user} {name}: {v}\n{}", r.context());
        }
    }
    let err = stderr(&r.out);
    assert!(err.contains("telemetry (obsctl: obsctl 0.3.0-fake):"), "{err}");
    assert!(err.contains("0 families mismatch"), "{err}");
    assert!(r.sb.log().contains("telemetry ("), "the table is in the log too");
}

/// A fresh server: each bucket check fails before its `mb`. obsctl's bare `service
/// error` does not say why; the `mb` that succeeds does, so the failures' class is known
/// and the error families are judged (they were `n/a` for a run's first hour before).
#[test]
fn bucket_checks_before_the_first_mb_keep_the_error_classes_judged() {
    let Some(py) = python("bucket_checks_before_the_first_mb_keep_the_error_classes_judged") else { return };
    let r = run_with_buckets(&py, "honest", &profile("", ""), &[], false);
    assert_eq!(r.code(), Some(0), "{}", r.context());
    assert_eq!(r.n("mismatches"), 0, "{}", r.context());
    let made = std::fs::read_to_string(r.sb.path("calls.log")).unwrap_or_default();
    assert!(made.lines().any(|l| l.contains(" mb s3://")), "no bucket was made: the test proves nothing\n{made}");
    for name in ["errors_total", "errors_bucket_total", "errors_service_total"] {
        assert_eq!(r.verdict(name), "match", "{name}: {}", r.context());
    }
    // The failed checks are counted as bucket errors: one per bucket more than the run's
    // own expected failures of that class.
    assert!(r.expected("errors_bucket_total") >= USERS.len() as f64, "{}", r.context());
}

#[test]
fn errors_counted_twice_are_a_mismatch() {
    let Some(py) = python("errors_counted_twice_are_a_mismatch") else { return };
    let r = run(&py, "double_errors", &profile("", ""), &[]);
    assert_eq!(r.code(), Some(3), "{}", r.context());
    assert_eq!(r.verdict("errors_total"), "MISMATCH", "{}", r.context());
    let expected = r.expected("errors_total");
    assert!(expected > 0.0, "no failures ran: {}", r.context());
    assert_eq!(r.reported("errors_total"), 2.0 * expected, "{}", r.context());
    assert_eq!(r.family("errors_total")["diff"].as_f64().unwrap(), expected, "{}", r.context());
    others_match(&r, &["errors_total"]);
    assert_eq!(r.n("mismatches"), 1, "{}", r.context());
    assert_eq!(r.summary["verdict"]["passed"], false);
    let err = stderr(&r.out);
    assert!(err.contains("errors_total") && err.contains("MISMATCH"), "{err}");
}

#[test]
fn a_client_that_never_exports_loses_every_export() {
    let Some(py) = python("a_client_that_never_exports_loses_every_export") else { return };
    let r = run(&py, "never", &profile("", "[telemetry]\nwait = \"1s\""), &[]);
    assert_eq!(r.code(), Some(3), "{}", r.context());
    let ended = r.n("children_ended");
    assert!(ended > 0, "{}", r.context());
    assert_eq!(r.n("lost_exports"), ended, "{}", r.context());
    assert_eq!(r.n("children_reported"), 0, "{}", r.context());
    assert_eq!(r.n("export_requests"), 0, "{}", r.context());
    let counted = counted(&r);
    assert!(counted.len() > 5, "{}", r.context());
    for name in &counted {
        assert_eq!(r.verdict(name), "MISMATCH", "{name}: {}", r.context());
        assert_eq!(r.reported(name), 0.0, "{name}: {}", r.context());
    }
    assert_eq!(r.n("mismatches"), counted.len() as u64, "{}", r.context());
}

#[test]
fn overcounted_bytes_are_a_mismatch_and_nothing_else_is() {
    let Some(py) = python("overcounted_bytes_are_a_mismatch_and_nothing_else_is") else { return };
    let r = run(&py, "overcount_bytes", &profile("", ""), &[]);
    assert_eq!(r.code(), Some(3), "{}", r.context());
    for name in ["bytes_uploaded_total", "bytes_downloaded_total"] {
        let e = r.expected(name);
        assert!(e > 0.0, "{name} never moved: {}", r.context());
        assert_eq!(r.verdict(name), "MISMATCH", "{name}: {}", r.context());
        assert_eq!(r.reported(name), 2.0 * e, "{name}: {}", r.context());
    }
    others_match(&r, &["bytes_uploaded_total", "bytes_downloaded_total"]);
    assert_eq!(r.n("mismatches"), 2, "{}", r.context());
    assert_eq!(r.n("lost_exports"), 0, "{}", r.context());
}

#[test]
fn one_instance_id_for_every_child_cannot_be_attributed() {
    let Some(py) = python("one_instance_id_for_every_child_cannot_be_attributed") else { return };
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&py, dir.path());
    let r = run(&py, "shared_id", &profile(&endpoint_line(collector.port), "[telemetry]\nwait = \"1s\""), &[]);
    assert_eq!(r.code(), Some(3), "{}", r.context());
    assert!(r.n("lost_exports") > 0, "{}", r.context());
    assert_eq!(r.n("lost_exports"), r.n("children_ended"), "{}", r.context());
    assert_eq!(r.n("unattributed_requests"), r.n("export_requests"), "{}", r.context());
    assert!(r.n("mismatches") > 0, "{}", r.context());
    assert!(r.families().values().any(|f| f["verdict"] == "MISMATCH"), "{}", r.context());
    // At the collector: one id for all, the rest of the identity intact.
    let requests = collector.requests();
    assert!(!requests.is_empty(), "{}", r.context());
    let ids: BTreeSet<&str> = requests.iter().flatten().map(|a| a["service.instance.id"].as_str()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    for a in requests.iter().flatten() {
        assert!(a.contains_key("trafficgen.run"), "{a:?}");
    }
}

/// What every child's export carries at the profile's collector: its own instance id
/// (`<run>-<n>`), the run, and for the users' operations the user and the operation.
fn check_identity(requests: &[Vec<BTreeMap<String, String>>], r: &Run) {
    let users: BTreeSet<&str> = USERS.iter().map(|(u, _)| *u).collect();
    let mut ids = BTreeSet::new();
    let mut runs = BTreeSet::new();
    let mut with_op = 0;
    for req in requests {
        assert_eq!(req.len(), 1, "one resource per export: {req:?}");
        let a = &req[0];
        assert_eq!(a.get("service.name").map(String::as_str), Some("obsctl"), "{a:?}");
        let id = a.get("service.instance.id").unwrap_or_else(|| panic!("no service.instance.id: {a:?}"));
        let run = a.get("trafficgen.run").unwrap_or_else(|| panic!("no trafficgen.run: {a:?}"));
        assert!(id.starts_with(&format!("{run}-")), "{a:?}");
        assert!(ids.insert(id.clone()), "instance id {id} twice");
        runs.insert(run.clone());
        match (a.get("trafficgen.user"), a.get("trafficgen.op")) {
            (Some(u), Some(op)) => {
                assert!(users.contains(u.as_str()), "{a:?}");
                assert!(!op.is_empty(), "{a:?}");
                with_op += 1;
            }
            // Bucket checks at the start work for no one; those that settle a
            // confirmation work for a user but are no operation of the mix.
            (None, None) => {}
            (Some(u), None) => assert!(users.contains(u.as_str()), "{a:?}"),
            (None, Some(_)) => panic!("an operation without a user: {a:?}"),
        }
    }
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(with_op * 2 > requests.len(), "most exports are the users' operations: {with_op} of {}", requests.len());
    assert!(ids.len() as u64 >= r.n("children_reported"), "{}", r.context());
}

#[test]
fn the_profiles_collector_receives_every_export_with_each_childs_identity() {
    let Some(py) = python("the_profiles_collector_receives_every_export_with_each_childs_identity") else { return };
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&py, dir.path());
    let r = run(&py, "honest", &profile(&endpoint_line(collector.port), ""), &[]);
    assert_eq!(r.code(), Some(0), "{}", r.context());
    let requests = collector.requests();
    let received = r.n("export_requests");
    assert!(received > 0 && r.n("children_reported") > 0, "{}", r.context());
    assert_eq!(requests.len() as u64, received, "the collector got every request trafficgen got: {}", r.context());
    assert_eq!(r.n("forward_failures"), 0, "{}", r.context());
    assert!(r.n("forwarded") <= received && r.n("forwarded") + 2 >= received, "{}", r.context());
    assert_eq!(r.n("mismatches"), 0, "{}", r.context());
    check_identity(&requests, &r);
}

#[test]
fn a_dead_collector_costs_forward_failures_not_the_run() {
    let Some(py) = python("a_dead_collector_costs_forward_failures_not_the_run") else { return };
    let dead = common::s3::free_port();
    let r = run(&py, "honest", &profile(&endpoint_line(dead), ""), &[]);
    assert_eq!(r.code(), Some(0), "{}", r.context());
    assert!(r.n("forward_failures") > 0, "{}", r.context());
    assert_eq!(r.n("forwarded"), 0, "{}", r.context());
    assert_eq!(r.n("lost_exports"), 0, "{}", r.context());
    assert_eq!(r.n("mismatches"), 0, "{}", r.context());
    // The run's own length plus its usual wind-down: forwards never hold it up.
    assert!(r.elapsed < Duration::from_secs(SECS + 8), "{}", r.context());
}

#[test]
fn the_profiles_resource_attributes_survive_and_its_instance_id_wins() {
    let Some(py) = python("the_profiles_resource_attributes_survive_and_its_instance_id_wins") else { return };
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&py, dir.path());
    let env = format!(
        "{}\nOTEL_RESOURCE_ATTRIBUTES = \"deployment.environment=ci,service.instance.id=theirs\"",
        endpoint_line(collector.port)
    );
    let r = run(&py, "honest", &profile(&env, "[telemetry]\nwait = \"1s\""), &[]);
    let requests = collector.requests();
    assert!(!requests.is_empty(), "{}", r.context());
    let users: BTreeSet<&str> = USERS.iter().map(|(u, _)| *u).collect();
    for a in requests.iter().flatten() {
        assert_eq!(a.get("deployment.environment").map(String::as_str), Some("ci"), "{a:?}");
        assert_eq!(a.get("service.instance.id").map(String::as_str), Some("theirs"), "{a:?}");
        assert!(a.contains_key("trafficgen.run"), "{a:?}");
        if let Some(u) = a.get("trafficgen.user") {
            assert!(users.contains(u.as_str()), "{a:?}");
        }
    }
    assert!(requests.iter().flatten().any(|a| a.contains_key("trafficgen.op")), "no trafficgen.op at all");
    // With every child calling itself "theirs", no export can be attributed: all are
    // lost to the reconciliation, every request is unattributed, and the run fails.
    assert_eq!(r.code(), Some(3), "{}", r.context());
    assert!(r.n("children_ended") > 0, "{}", r.context());
    assert_eq!(r.n("lost_exports"), r.n("children_ended"), "{}", r.context());
    assert_eq!(r.n("children_reported"), 0, "{}", r.context());
    assert_eq!(r.n("unattributed_requests"), r.n("export_requests"), "{}", r.context());
    assert_eq!(requests.len() as u64, r.n("export_requests"), "{}", r.context());
    assert!(r.n("mismatches") > 0, "{}", r.context());
}

#[test]
fn an_allowed_deviation_of_this_version_does_not_fail_the_run() {
    let Some(py) = python("an_allowed_deviation_of_this_version_does_not_fail_the_run") else { return };
    // One of the two overcounted families allowed: the other still fails the run. The
    // profile turns verification on here (no --verify-telemetry needed, but it is given).
    let one = "[telemetry]\nverify = true\n\n[telemetry.allow.\"0.3.0-fake\"]\nbytes_uploaded_total = \"known\"";
    let r = run(&py, "overcount_bytes", &profile("", one), &[]);
    assert_eq!(r.code(), Some(3), "{}", r.context());
    assert_eq!(r.verdict("bytes_uploaded_total"), "allowed", "{}", r.context());
    assert_eq!(r.family("bytes_uploaded_total")["note"], "known", "{}", r.context());
    assert_eq!(r.verdict("bytes_downloaded_total"), "MISMATCH", "{}", r.context());
    assert!(r.expected("bytes_downloaded_total") > 0.0, "{}", r.context());
    assert_eq!(r.n("mismatches"), 1, "{}", r.context());
    assert!(stderr(&r.out).contains("allowed (known)"), "{}", stderr(&r.out));

    let both = format!("{one}\nbytes_downloaded_total = \"known too\"");
    let r = run(&py, "overcount_bytes", &profile("", &both), &[]);
    assert_eq!(r.code(), Some(0), "{}", r.context());
    assert_eq!(r.verdict("bytes_uploaded_total"), "allowed", "{}", r.context());
    assert_eq!(r.verdict("bytes_downloaded_total"), "allowed", "{}", r.context());
    assert_eq!(r.n("mismatches"), 0, "{}", r.context());
    others_match(&r, &["bytes_uploaded_total", "bytes_downloaded_total"]);
}

#[test]
fn the_reconciliation_is_kept_by_the_simulated_hour() {
    let Some(py) = python("the_reconciliation_is_kept_by_the_simulated_hour") else { return };
    // 12 simulated hours in the usual 12 s of wall time.
    let r = run(&py, "overcount_bytes", &profile("", ""), &["--duration", "12h", "--time-scale", "3600"]);
    assert_eq!(r.code(), Some(3), "{}", r.context());
    let windows = r.t()["windows"].as_array().expect("telemetry.windows").clone();
    assert!(windows.len() >= 4, "{} windows\n{}", windows.len(), r.context());
    let starts: Vec<i64> = windows.iter().map(|w| w["start_unix"].as_i64().unwrap()).collect();
    assert!(starts.windows(2).all(|p| p[1] > p[0] && (p[1] - p[0]) % 3600 == 0), "{starts:?}");
    // The hours add up to the whole run.
    let sum = |k: &str| windows.iter().map(|w| w[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("children_ended"), r.n("children_ended"), "{}", r.context());
    assert_eq!(sum("children_reported"), r.n("children_reported"), "{}", r.context());
    let bytes = |w: &Value, k: &str| w["families"]["bytes_uploaded_total"][k].as_f64().unwrap_or(0.0);
    let total: f64 = windows.iter().map(|w| bytes(w, "expected")).sum();
    assert_eq!(total, r.expected("bytes_uploaded_total"), "{}", r.context());
    // Every hour that uploaded shows the doubled bytes, and nothing else drifts (an hour
    // with a lost export, on a machine too busy for `telemetry.wait`, is not judged).
    let judged: Vec<&Value> = windows.iter().filter(|w| bytes(w, "expected") > 0.0 && w["lost_exports"] == 0).collect();
    assert!(!judged.is_empty(), "{}", r.context());
    for w in judged {
        assert_eq!(bytes(w, "reported"), 2.0 * bytes(w, "expected"), "{w}");
        assert_eq!(w["families"]["bytes_uploaded_total"]["verdict"], "MISMATCH", "{w}");
        assert_eq!(w["mismatches"], 1, "{w}");
    }
    // Records live only while children run or await their export.
    let peak = r.n("peak_live_children");
    assert!(peak > 0 && peak < r.n("children_ended"), "peak {peak}\n{}", r.context());
}
