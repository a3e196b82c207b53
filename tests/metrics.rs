//! Every metric a threshold may name has a value in a real run: one short run against the
//! fake client with every command kind and every expected-failure kind in its mix, and
//! telemetry verified, judged with a `NAME>=0` threshold for every metric name, must
//! measure each of them (no threshold "not measured"). The fake exports no telemetry
//! (its "never" mode: a Python exporter per command would cost more than the rest of the
//! run), so every export is lost and the run fails on telemetry mismatches; the
//! telemetry metrics are measured all the same, which is what this checks.
//!
//! The names are read from docs/thresholds.md's metric list, whose patterns, units and
//! kinds the catalogue's own unit test (src/model/metrics.rs) checks against the
//! catalogue, so this runs exactly the catalogue's names through the binary.
//!
//! The run also keeps tests/fixtures/every-metric-summary.json from going stale: the
//! unit test in src/analysis/verdict/mod.rs reads every metric from that summary with
//! `lookup`, and here a fresh summary must have the fixture's fields. Regenerate it with
//! `TRAFFICGEN_BLESS=1 cargo test --test metrics`.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);
const FIXTURE: &str = "tests/fixtures/every-metric-summary.json";
const BUCKET: &str = "alice-development";

/// The backticked words of `text`.
fn ticked(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(String::from).collect()
}

/// The text between `from` and the next `to` after it.
fn between<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let rest = text.split_once(from).unwrap_or_else(|| panic!("{from:?} not in docs/thresholds.md")).1;
    rest.split_once(to).map_or(rest, |(inside, _)| inside)
}

/// Every metric name docs/thresholds.md lists: the metric table's patterns, each family
/// expanded over the values the docs give its placeholder (`OP`, `KIND`, `CLASS`).
fn documented_names() -> Vec<String> {
    let doc = std::fs::read_to_string(repo().join("docs/thresholds.md")).unwrap();
    let rows: Vec<Vec<&str>> = doc
        .lines()
        .skip_while(|l| !l.starts_with("| metric | unit | value |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    // Prose wraps anywhere: read it with single spaces.
    let prose = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let ops = ticked(between(&prose, "`OP` is a command kind:", ")"));
    let kinds = ticked(between(&prose, "or an expected-failure kind (", ";"));
    let class_row = rows.iter().find(|r| r[1] == "`integrity.CLASS`").expect("the integrity.CLASS row");
    let classes = ticked(class_row[3]);
    let mut names = Vec::new();
    for pattern in rows.iter().flat_map(|r| ticked(r[1])) {
        let parts: Vec<&str> = pattern.split('.').collect();
        let (word, values) = match () {
            _ if parts.contains(&"OP") => ("OP", &ops),
            _ if parts.contains(&"KIND") => ("KIND", &kinds),
            _ if parts.contains(&"CLASS") => ("CLASS", &classes),
            _ => {
                names.push(pattern);
                continue;
            }
        };
        names.extend(values.iter().map(|v| pattern.replacen(word, v, 1)));
    }
    names
}

/// One user at 150 scheduled operations a minute, every subcommand and every expected
/// failure at 5 % of the slots each (the mix is a smooth round robin, so each comes
/// within its first 20 slots), 2 s TTLs so deletes and their checks happen, every
/// upload and delete checked, telemetry verified with a short wait for exports that
/// never come.
fn profile() -> String {
    format!(
        r#"[run]
duration = "16s"
command_timeout = "30s"
grace_period = "10s"
stats_interval = "1h"
log_file = "tg.log"
seed = 11

[obsctl]
flavor = "obsctl"
binary = "obsctl"
endpoint = "http://127.0.0.1:9000"
region = "us-east-1"

[obsctl.env]
AWS_ACCESS_KEY_ID = "AKIATESTTESTTEST0001"
AWS_SECRET_ACCESS_KEY = "test-secret"
OTEL_SERVICE_NAME = "obsctl"

[telemetry]
verify = true
wait = "1s"

[rates]
base_ops_per_min = 150.0
peak_multiplier = 1.0
offpeak_multiplier = 1.0
download_share = 0.2
error_share = 0.3
arrivals = "uniform"

[mix]
ls = 0.05
head_object = 0.05
du = 0.05
presign = 0.05
sync = 0.05
mb_rb = 0.05

[expected_failures]
missing_key_download = 1
missing_bucket_upload = 1
missing_bucket_delete = 1
missing_local_upload = 1
missing_key_head = 1
wrong_credentials = 1

[verify]
confirm_uploads = 1.0
confirm_deletes = 1.0

[limits]
max_in_flight_per_user = 64
max_in_flight = 64
upload_memory_budget = "256MiB"
min_free_disk = "0"

[lifecycle]
ttl = "2s"
large_ttl = "2s"
large_threshold = "100MiB"

[kinds.code]
extensions = [".py", ".rs"]
bands = [{{ min = "100B", max = "4KiB", weight = 0.5 }}, {{ min = "4KiB", max = "16KiB", weight = 0.5 }}]

[kinds.documents]
extensions = [".txt", ".csv"]
bands = [{{ min = "1KiB", max = "32KiB", weight = 1.0 }}]

[words]
project = ["web-app", "api-gateway"]

[[users]]
id = "alice-dev"
role = "Tester"
bucket = "{BUCKET}"
peak_hours = "24/7"
activity = 1.0
kinds = {{ code = 0.5, documents = 0.5 }}
subfolders = ["src/{{project}}"]
"#
    )
}

/// The keys of the object at `path` (empty when it is not an object).
fn keys(v: &Value, path: &[&str]) -> BTreeSet<String> {
    let mut v = v;
    for p in path {
        v = &v[p];
    }
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn every_documented_metric_has_a_value_in_a_real_run_and_the_fixture_has_its_fields() {
    let names = documented_names();
    assert!(names.len() > 200, "docs/thresholds.md's metric list not read: {names:?}");
    let sb = Sandbox::with_profile(&profile());
    std::fs::create_dir_all(sb.path("store").join(BUCKET)).unwrap();
    let http = Http::serve(&sb.path("store"));
    let thresholds: Vec<String> = names.iter().map(|n| format!("{n}>=0")).collect();
    let mut args = vec!["-q"];
    for t in &thresholds {
        args.extend(["--threshold", t.as_str()]);
    }
    let mut cmd = sb.cmd(&args);
    cmd.env("FAKE_HTTP_PORT", http.port.to_string()).env("FAKE_OTEL_MODE", "never");
    for v in ["OTEL_ENABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME"] {
        cmd.env_remove(v);
    }
    let out = run_bounded(cmd, LIMIT);
    drop(http);
    // It ran to its verdict: passed, or failed on the exports that never came.
    assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "{}", stderr(&out));
    let s = sb.summary();

    // Every name judged, and measured: a threshold with no value is "not measured".
    let measured: BTreeMap<&str, &Value> = s["verdict"]["thresholds"]
        .as_array()
        .unwrap_or_else(|| panic!("no verdict: {}", stderr(&out)))
        .iter()
        .map(|o| (o["metric"].as_str().unwrap(), &o["value"]))
        .collect();
    let unmeasured: Vec<&String> = names
        .iter()
        .filter(|n| !measured.get(n.as_str()).is_some_and(|v| v.as_f64().is_some_and(f64::is_finite)))
        .collect();
    assert!(unmeasured.is_empty(), "not measured: {unmeasured:?}\nops: {}\nlog:\n{}", s["ops"], sb.log());
    assert_eq!(s["integrity_failures"], 0, "{}", s["integrity"]);

    let path = repo().join(FIXTURE);
    if std::env::var_os("TRAFFICGEN_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(sb.path("summary.json"), &path).unwrap();
        eprintln!("wrote {FIXTURE}");
    }
    // The fixture has every field a run writes now, in the parts the catalogue reads.
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for part in [&[][..], &["totals"], &["fidelity"], &["start_lag_ms"], &["telemetry"], &["verdict"]] {
        assert_eq!(
            keys(&fixture, part),
            keys(&s, part),
            "{FIXTURE} is stale at {part:?}: regenerate it with TRAFFICGEN_BLESS=1 cargo test --test metrics"
        );
    }
}
