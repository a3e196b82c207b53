//! Rule 2: no unauthenticated witness changes the verdict. A local process that
//! forges OTLP exports for this run's children, a hostile summary given to `report` or
//! `compare`, a hostile profile given to `check`, and credentials in a profile's
//! environment: none of them changes a verdict, runs in a page, reaches a terminal or
//! shows a secret.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::Value;

use crate::common::*;

/// The venv's python with grpcio and opentelemetry-proto (the fake client's exporter),
/// or None with a SKIP line (a failure under TRAFFICGEN_REQUIRE_S3).
fn exporter_python(test: &str) -> Option<PathBuf> {
    let py = s3::venv().join("bin/python");
    let mut c = std::process::Command::new(&py);
    c.args(["-c", "import grpc, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc"]);
    if py.exists() && run_bounded(c, Duration::from_secs(30)).status.success() {
        return Some(py);
    }
    assert!(std::env::var_os("TRAFFICGEN_REQUIRE_S3").is_none(), "{test}: no exporter python at {}", py.display());
    eprintln!("SKIP {test}: no python with grpcio and opentelemetry-proto at {}", py.display());
    None
}

/// A verified run of the shipped profile with the honest fake exporter, `wall_s`
/// seconds of dispatch (8 simulated hours) at `rate` times the profile's rate.
fn verified_run(sb: &Sandbox, py: &std::path::Path, wall_s: u32, rate: &str) -> Child {
    let scale = (8 * 3600 / wall_s).to_string();
    let args = [
        "--duration",
        "8h",
        "--time-scale",
        &scale,
        "--start-at",
        "06:00",
        "--rate-scale",
        rate,
        "--max-file-size",
        "16KiB",
        "--seed",
        "7",
        "--verify-telemetry",
        "-q",
    ];
    let mut cmd = sb.cmd(&args);
    cmd.env("FAKE_OTEL_MODE", "honest").env("FAKE_OTEL_PYTHON", py).env("FAKE_OTEL_LOG", sb.path("otel.log"));
    for v in ["OTEL_ENABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS"] {
        cmd.env_remove(v);
    }
    cmd.spawn().expect("trafficgen starts")
}

/// `NAME=value` from the env column of the fake client's log line.
fn env_of<'a>(call: &'a str, name: &str) -> Option<&'a str> {
    let env = call.split('\t').nth(1)?;
    env.split(' ').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')).filter(|v| !v.is_empty())
}

/// What a local process can learn of a run: the receiver's endpoint and the run id
/// (here from the fake client's log; a real attacker reads command lines and scans
/// loopback ports). Waits, bounded, for the first child that has them.
fn spy(sb: &Sandbox) -> (String, String) {
    let start = Instant::now();
    loop {
        for c in sb.calls() {
            let endpoint = env_of(&c, "OTEL_EXPORTER_OTLP_ENDPOINT");
            let run = env_of(&c, "OTEL_RESOURCE_ATTRIBUTES")
                .and_then(|a| a.split(',').find_map(|kv| kv.strip_prefix("trafficgen.run=")));
            if let (Some(e), Some(r)) = (endpoint, run) {
                return (e.to_string(), r.to_string());
            }
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no child with a receiver endpoint: {:?}", sb.calls());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

/// An export that claims `id` did `n` of everything (counters obsctl reports).
fn forged(id: &str, run: &str, n: i64) -> ExportMetricsServiceRequest {
    let counter = |name: &str| Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                value: Some(number_data_point::Value::AsInt(n)),
                time_unix_nano: u64::MAX / 2,
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    // obsctl's counters (its export after an upload has these and three histograms).
    let metrics = [
        "operations_total",
        "uploads_total",
        "downloads_total",
        "deletes_total",
        "lists_total",
        "sync_operations_total",
        "bytes_uploaded_total",
        "bytes_downloaded_total",
        "files_uploaded_total",
        "files_downloaded_total",
        "files_deleted_total",
        "errors_total",
        "timeouts_total",
        "errors_dns_total",
        "errors_bucket_total",
        "errors_file_total",
        "errors_auth_total",
        "errors_service_total",
        "files_small_total",
        "files_medium_total",
    ]
    .iter()
    .map(|m| counter(m))
    .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "obsctl"),
                    kv("service.instance.id", id),
                    kv("trafficgen.run", run),
                    kv("trafficgen.user", "alice-dev"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// Sends `reqs` to `endpoint` with `token` (if any) as the trafficgen header, `conc`
/// at a time; returns how many were answered at all (accepted or refused).
fn send(endpoint: &str, reqs: Vec<ExportMetricsServiceRequest>, token: Option<&str>, conc: usize) -> usize {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let client = MetricsServiceClient::connect(endpoint.to_string()).await.expect("the receiver answers");
        let queue = std::sync::Arc::new(std::sync::Mutex::new(reqs));
        let mut tasks = Vec::new();
        for _ in 0..conc {
            let (mut c, q, token) = (client.clone(), queue.clone(), token.map(String::from));
            tasks.push(tokio::spawn(async move {
                let mut answered = 0;
                loop {
                    let Some(r) = q.lock().unwrap().pop() else { break };
                    let mut req = tonic::Request::new(r);
                    if let Some(t) = &token {
                        req.metadata_mut().insert("x-trafficgen-token", t.parse().unwrap());
                    }
                    match tokio::time::timeout(Duration::from_secs(10), c.export(req)).await {
                        Ok(Ok(_)) => answered += 1,
                        Ok(Err(s)) if s.code() == tonic::Code::Unauthenticated => answered += 1,
                        _ => {}
                    }
                }
                answered
            }));
        }
        let mut n = 0;
        for t in tasks {
            n += t.await.unwrap();
        }
        n
    })
}

fn finish(child: Child) -> Output {
    wait_bounded(child, Duration::from_secs(180))
}

fn telemetry(sb: &Sandbox) -> Value {
    let t = sb.summary()["telemetry"].clone();
    assert!(t.is_object(), "no telemetry in the summary");
    t
}

#[test]
fn forged_exports_for_the_runs_children_are_foreign_and_change_no_verdict() {
    let test = "forged_exports_for_the_runs_children_are_foreign_and_change_no_verdict";
    let Some(py) = exporter_python(test) else { return };
    // The profile's own collector, with headers of its own for it.
    let collector = Collector::start(&py, &tempfile::tempdir().unwrap().keep());
    let endpoint_line = format!(
        "OTEL_EXPORTER_OTLP_ENDPOINT = \"http://127.0.0.1:{}\"\n\
         OTEL_EXPORTER_OTLP_HEADERS = \"authorization=Bearer%20collector-s3cret,x-team=blue\"",
        collector.port
    );
    let sb = Sandbox::new(&[("OTEL_EXPORTER_OTLP_ENDPOINT = \"http://127.0.0.1:4317\"", &endpoint_line)]);
    let child = verified_run(&sb, &py, 20, "0.1");
    let (endpoint, run) = spy(&sb);
    // Every child this run will have, claiming 100 of everything: no token, a made-up
    // token, and a token of the right shape for another id.
    let mut reqs: Vec<_> = (1..=200).map(|n| forged(&format!("{run}-{n}"), &run, 100)).collect();
    let answered = send(&endpoint, reqs.split_off(100), None, 4);
    let fake = format!("{run}-1.{}", "0".repeat(32));
    let answered = answered + send(&endpoint, reqs, Some(&fake), 4);
    assert_eq!(answered, 200, "every forged export was answered");
    let out = finish(child);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "the forgeries changed the verdict:\n{err}");
    let t = telemetry(&sb);
    assert_eq!(t["mismatches"], 0, "{t}");
    assert_eq!(t["foreign_requests"], 200, "{t}");
    assert!(t["foreign_instance_ids"].as_u64().unwrap() >= 100, "{t}");
    let d = &t["families"]["downloads_total"];
    assert_eq!(d["reported"], d["expected"], "{t}");
    assert!(err.contains("foreign: 200 export requests without a valid token"), "{err}");
    let ours = t["export_requests"].as_u64().unwrap();
    assert!(ours <= t["children_ended"].as_u64().unwrap() + t["children_killed"].as_u64().unwrap(), "{t}");

    // The collector got the children's exports with the profile's headers, never our
    // token, and none of the forgeries.
    let got = collector.requests();
    assert!(!got.is_empty() && got.len() as u64 <= ours, "{} forwarded of {ours}", got.len());
    for r in &got {
        let h = &r["headers"];
        assert_eq!(h["authorization"], "Bearer collector-s3cret", "{r}");
        assert_eq!(h["x-team"], "blue", "{r}");
        assert!(h.get("x-trafficgen-token").is_none(), "our token went to the collector: {r}");
        for res in r["resources"].as_array().unwrap() {
            assert_ne!(res["metrics"]["operations_total"], 100, "a forgery was forwarded: {r}");
        }
    }

    // Each child had its own token, in its environment only: never in any command
    // line, the log, the summary or trafficgen's output.
    let calls = sb.calls();
    let tokens: Vec<String> = calls
        .iter()
        .filter_map(|c| env_of(c, "OTEL_EXPORTER_OTLP_HEADERS"))
        .filter_map(|h| h.split(',').find_map(|kv| kv.strip_prefix("x-trafficgen-token=")))
        .map(|t| t.rsplit_once('.').unwrap().1.to_string())
        .collect();
    assert!(tokens.len() > 20, "children got no token: {calls:?}");
    assert_eq!(tokens.iter().collect::<BTreeSet<_>>().len(), tokens.len(), "one token per child");
    let argv: String = calls.iter().map(|c| c.split('\t').next().unwrap()).collect::<Vec<_>>().join("\n");
    let shown = [argv, sb.log(), std::fs::read_to_string(sb.path("summary.json")).unwrap(), stdout(&out), err];
    for mac in tokens.iter().map(String::as_str).chain(["collector-s3cret"]) {
        for (i, text) in shown.iter().enumerate() {
            assert!(!text.contains(mac), "a secret in output {i}");
        }
    }
}

/// The profile's own collector: tests/tools/otlp_receiver.py, one JSON line per
/// request (its resources and headers). Killed on drop.
struct Collector {
    child: Child,
    port: u16,
    requests: PathBuf,
}

impl Collector {
    fn start(py: &std::path::Path, dir: &std::path::Path) -> Collector {
        use std::io::BufRead as _;
        let requests = dir.join("collector-requests.jsonl");
        let mut child = std::process::Command::new(py)
            .arg(repo().join("tests/tools/otlp_receiver.py"))
            .arg(dir.join("collector-names.txt"))
            .arg(&requests)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the OTLP receiver starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let mut c = Collector { child, port: 0, requests };
        c.port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).expect("the receiver's port");
        c
    }

    fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.requests).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmHWM (peak resident set) of a live process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn thirty_thousand_forged_instance_ids_keep_memory_bounded() {
    let test = "thirty_thousand_forged_instance_ids_keep_memory_bounded";
    let Some(py) = exporter_python(test) else { return };
    let sb = Sandbox::new(&[]);
    // Long enough for any machine to take 30,000 requests; stopped once they are in.
    let child = verified_run(&sb, &py, 900, "0.05");
    let pid = child.id();
    let (endpoint, run) = spy(&sb);
    let reqs: Vec<_> = (0..30_000).map(|n| forged(&format!("{run}-forged-{n}"), &run, 1)).collect();
    let started = Instant::now();
    let answered = send(&endpoint, reqs, None, 16);
    eprintln!("sent {answered} in {:.1?}", started.elapsed());
    let peak = peak_kib(pid);
    eprintln!("30,000 forged exports in {:.1?}; trafficgen's peak RSS {} MiB", started.elapsed(), peak / 1024);
    let _ = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
    let out = finish(child);
    assert_eq!(answered, 30_000, "the run ended before the forger did: {}", stderr(&out));
    // Idle it is about 20 MB; remembering every forged id took over 300 MB.
    assert!(peak < 120 * 1024, "peak RSS {} MiB", peak / 1024);
    let t = telemetry(&sb);
    assert_eq!(t["foreign_requests"], 30_000, "{t}");
    assert_eq!(t["foreign_instance_ids"], 1024, "a fixed cap on the ids remembered: {t}");
    assert_eq!(t["foreign_ids_capped"], true, "{t}");
    assert_eq!(t["mismatches"], 0, "{t}");
}

/// Markup that would run, or break out of an attribute, if written unescaped.
const MARKUP: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>x\" onmouseover=\"alert(3)";
/// Terminal escapes: retitle the window, clear the screen, colour, ring the bell.
const ESCAPES: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mred\u{9b}1m\r";

/// Objects whose keys are names from the profile or the server (users, personas, kinds,
/// S3 APIs…), not field names. The keys of `ops`, `latency_ms`, `failures_by_class`,
/// `integrity` and the like are trafficgen's own words: the typed reader refuses any
/// other word there (a refused word is tested apart), so only their values carry a payload.
const NAMED: &[&str] = &["personas", "families", "users", "apis", "kinds", "size_bands", "by_user"];

/// Fields whose strings are a closed vocabulary (`duration`, `PASS`, `ratio`, `match`…):
/// the typed reader refuses any other word there, so only free text and names carry a
/// payload (a refused word is tested apart).
const VOCABULARY: &[&str] = &["stopped_by", "split", "verdict", "unit", "class", "status", "result", "party"];

/// `v` with `payload` added to every free-text string and to every name a summary holds.
fn poison(v: &Value, payload: &str, named: bool) -> Value {
    match v {
        Value::String(s) => Value::String(format!("{s}{payload}")),
        Value::Array(a) => Value::Array(a.iter().map(|x| poison(x, payload, false)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let key = if named { format!("{k}{payload}") } else { k.clone() };
                    if x.is_string() && VOCABULARY.contains(&k.as_str()) {
                        return (key, x.clone());
                    }
                    (key, poison(x, payload, NAMED.contains(&k.as_str())))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A real summary of a short run with the fake client, some commands failing.
fn real_summary(sb: &Sandbox) -> Value {
    let mut cmd = sb.cmd(SHORT);
    cmd.env("FAKE_OBSCTL_FAIL_PCT", "10");
    let out = run_bounded(cmd, Duration::from_secs(120));
    assert!(sb.path("summary.json").exists(), "no summary: {}", stderr(&out));
    sb.summary()
}

#[test]
fn a_hostile_summary_puts_no_markup_in_the_report_and_a_typed_field_must_be_typed() {
    let sb = Sandbox::new(&[]);
    let mut s = poison(&real_summary(&sb), MARKUP, false);
    // Names the run did not have but a summary can hold: the telemetry section too.
    // Whole sections (the summary is read typed); every free text and name in them hostile.
    s["telemetry"] = serde_json::json!({
        "client": format!("obsctl{MARKUP}"),
        "children_ended": 1, "children_reported": 1, "lost_exports": 0, "children_killed": 0,
        "late_exports": 0, "peak_live_children": 1, "unattributed_requests": 0, "export_requests": 1,
        "foreign_requests": 1, "foreign_instance_ids": 1, "foreign_ids_capped": false,
        "foreign_examples": [MARKUP], "dropped_series": 0, "forwarded": 0, "forward_failures": 0,
        "mismatches": 0,
        "families": {format!("uploads_total{MARKUP}"): {"expected": 1, "reported": 1, "diff": 0,
            "verdict": "match", "note": MARKUP}},
        "out_of_contract": [{"metric": MARKUP, "attributes": MARKUP, "total": 1}],
        "foreign_requests": 1, "foreign_examples": [MARKUP],
        "children_ended": 0, "children_reported": 0, "lost_exports": 0, "children_killed": 0, "late_exports": 0,
        "peak_live_children": 0, "unattributed_requests": 0, "export_requests": 0, "foreign_instance_ids": 1,
        "foreign_ids_capped": false, "dropped_series": 0, "forwarded": 0, "forward_failures": 0, "mismatches": 0,
        "users": {}, "commands": {}, "windows": [],
    });
    s["server_metrics"] = serde_json::json!({"url": MARKUP, "commands": 1, "apis": {MARKUP: {"server": 1.0,
        "server_errors": 0.0, "trafficgen": null, "amplification": null, "per_command": 1.0}}});
    s["verdict"]["exit_code"] = Value::String(format!("3{MARKUP}"));
    let input = sb.path("hostile.json");
    std::fs::write(&input, s.to_string()).unwrap();
    let page = sb.path("page.html");
    let report = |input: &std::path::Path| {
        let mut c = sb.cmd(&["report"]);
        c.arg(input).arg("--html").arg(&page);
        run_bounded(c, Duration::from_secs(60))
    };
    // A word of trafficgen's own that it never writes (an operation named with markup)
    // is refused, naming it, and nothing is drawn.
    let mut renamed = s.clone();
    let ops = renamed["ops"].as_object_mut().unwrap();
    let upload = ops.remove("upload").unwrap();
    ops.insert(format!("upload{MARKUP}"), upload);
    std::fs::write(&input, renamed.to_string()).unwrap();
    let out = report(&input);
    assert_eq!(out.status.code(), Some(2), "an unknown operation is refused: {}", stderr(&out));
    assert!(stderr(&out).contains("is no name trafficgen writes"), "{}", stderr(&out));
    assert!(!page.exists(), "nothing written for a refused summary");

    std::fs::write(&input, s.to_string()).unwrap();
    let out = report(&input);
    assert_eq!(out.status.code(), Some(2), "an exit code that is no number is refused: {}", stderr(&out));
    assert!(stderr(&out).contains("exit_code"), "{}", stderr(&out));
    assert!(!page.exists(), "nothing written for a refused summary");

    s["verdict"]["exit_code"] = Value::from(3);
    std::fs::write(&input, s.to_string()).unwrap();
    let out = report(&input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)"), "the hostile text is in the page, escaped");
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a script element from the summary");
    assert!(!lower.contains("<img"), "an img element from the summary");
    assert!(!lower.contains("\" onmouseover=\""), "an attribute broken out of");
    assert!(lower.contains("exit code 3"), "the exit code, as a number");
}

#[test]
fn compare_and_merge_print_no_escape_sequence_from_a_summary() {
    let sb = Sandbox::new(&[]);
    let real = real_summary(&sb);
    let s = poison(&real, ESCAPES, false);
    let (a, b) = (sb.path("a.json"), sb.path("b.json"));
    std::fs::write(&a, s.to_string()).unwrap();
    std::fs::write(&b, s.to_string()).unwrap();
    let mut c = sb.cmd(&["compare"]);
    c.arg(&a).arg(&b);
    let out = run_bounded(c, Duration::from_secs(60));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("red"), "the names are shown: {text:?}");
    for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\r'] {
        assert!(!text.contains(bad), "{bad:?} reached the terminal: {text:?}");
    }
    // merge refuses any name or threshold its profile lacks (quoting it escaped); what
    // it prints of its own is the files' names, here with escapes in them.
    let m = sb.path("m\u{1b}]0;pwned\u{7}.json");
    let mut limited = real.clone();
    limited["host"]["warning"] = Value::String(format!("saturated{ESCAPES}"));
    std::fs::write(&m, limited.to_string()).unwrap();
    let mut c = sb.cmd(&["merge"]);
    c.arg(&m);
    let out = run_bounded(c, Duration::from_secs(60));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("merged (1 summaries)") && text.contains("HOST LIMITED"), "merge ran: {text:?}");
    for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\r'] {
        assert!(!text.contains(bad), "{bad:?} reached the terminal from merge: {text:?}");
    }
}

#[test]
fn a_clients_escape_sequences_never_reach_the_log() {
    let sb = Sandbox::new(&[]);
    let mut cmd = sb.cmd(SHORT);
    cmd.env("FAKE_OBSCTL_MODE", "fail").env("FAKE_OBSCTL_ERROR", "Error: \\033]0;pwned\\007\\033[2Jboom\\rgone");
    let out = run_bounded(cmd, Duration::from_secs(120));
    let log = sb.log();
    assert!(log.contains("Error: boomgone"), "the first stderr line, cleaned: {log}");
    for (name, text) in [("log", &log), ("stderr", &stderr(&out)), ("stdout", &stdout(&out))] {
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "an escape in the {name}");
    }
    let summary = std::fs::read_to_string(sb.path("summary.json")).unwrap();
    assert!(!summary.contains("\\u001b"), "an escape in the summary");
}

#[test]
fn check_refuses_names_that_carry_markup_or_escapes() {
    for (from, to, field) in [
        ("[kinds.code]", "[kinds.\"co<b>de\"]", "kinds.co<b>de"),
        ("[kinds.code]", "[kinds.\"code\\u001b[2J\"]", "kinds.code\\u{1b}[2J"),
        ("role = \"Software Developer\"", "role = \"Dev<script>\"", "users[0].role"),
        ("role = \"Software Developer\"", "role = \"Dev\\u001b]0;x\\u0007\"", "users[0].role"),
        (
            "[thresholds]",
            "[telemetry.allow.\"0.3\\u001b[2J\"]\nuploads_total = \"x\"\n\n[thresholds]",
            "telemetry.allow.0.3",
        ),
    ] {
        let sb = Sandbox::new(&[(from, to)]);
        let out = run_bounded(sb.cmd(&["check"]), Duration::from_secs(30));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{to}: {err}");
        assert!(err.contains("profiles.toml:") && err.contains(field), "{to}: located, field named: {err}");
        assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{to}: an escape reached the terminal");
    }
    // Free text check shows (an env value) is shown without its escapes.
    let sb = Sandbox::new(&[("OTEL_SERVICE_NAME = \"obsctl\"", "OTEL_SERVICE_NAME = \"obs\\u001b]0;x\\u0007ctl\"")]);
    let out = run_bounded(sb.cmd(&["check"]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("OTEL_SERVICE_NAME=obsctl"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "an escape reached the terminal");
}

#[test]
fn credentials_in_the_environment_show_nowhere() {
    let secrets = ["s3cr3t-bearer-4242", "pa55w0rd-9911", "tok-abcdef-7777", "minioadmin123"];
    let env = "OTEL_SERVICE_NAME = \"obsctl\"\n\
               OTEL_EXPORTER_OTLP_HEADERS = \"authorization=Bearer%20s3cr3t-bearer-4242,x-team=blue\"\n\
               COLLECTOR_URL = \"https://ops:pa55w0rd-9911@collector.invalid/\"\n\
               EXTRA_OPTIONS = \"region=eu,token=tok-abcdef-7777\"\n";
    let sb = Sandbox::new(&[("OTEL_SERVICE_NAME = \"obsctl\"\n", env)]);
    let out = run_bounded(sb.cmd(&["check"]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(shown.contains("OTEL_EXPORTER_OTLP_HEADERS=***"), "{shown}");
    for s in secrets {
        assert!(!shown.contains(s), "check showed {s}: {shown}");
    }
    // A run whose failing client prints its secrets and headers on stderr.
    let mut cmd = sb.cmd(SHORT);
    cmd.env("FAKE_OBSCTL_MODE", "fail").env("FAKE_OBSCTL_LEAK", "1");
    let out = run_bounded(cmd, Duration::from_secs(120));
    let log = sb.log();
    assert!(log.contains("signature mismatch for ***"), "the leaking line is there: {log}");
    let summary = std::fs::read_to_string(sb.path("summary.json")).unwrap();
    for (name, text) in [("log", &log), ("summary", &summary), ("stderr", &stderr(&out)), ("stdout", &stdout(&out))] {
        for s in secrets {
            assert!(!text.contains(s), "{s} in the {name}");
        }
    }
}
