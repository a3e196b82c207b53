//! A simulated day of obsctl children through trafficgen's own telemetry receiver and
//! ledger, for `scripts/bench` ("otlp day"): whether verification can run for a whole
//! day in bounded memory. No obsctl process can be started two million times on a small
//! machine, so this drives the same code (src/telemetry, compiled in here) the way a
//! run does: each child is recorded as started, sends obsctl-shaped export requests
//! over gRPC with its own `service.instance.id` and its own token in the
//! `x-trafficgen-token` header, and is recorded as ended with its facts; the receiver
//! verifies the token, absorbs the export and the ledger folds the child.
//!
//!   otlp_day CHILDREN CONCURRENCY [REQUESTS_PER_CHILD]
//!
//! Prints one JSON object: RSS at 10 %, 50 % and 100 % of the children, peak RSS, CPU
//! per child of the receiver's runtime (where trafficgen's telemetry work runs; the
//! synthetic exporters have a runtime and threads of their own) and of the whole
//! process, and the reconciliation (lost exports, mismatches, peak live records).

#![allow(dead_code)]

// The crate's own files, and its module tree as far as the telemetry code reaches, so
// that the same paths (`crate::model::…`, `crate::config::token`, `crate::analysis::…`)
// resolve here. `model` comes whole: it imports nothing outside itself
// (tests/layering.rs), so it compiles on its own. (`#[path]` inside an inline module
// would look in examples/otlp_day/, hence the aliases.)
#[path = "../src/analysis/telemetry/mod.rs"]
mod analysis_telemetry;
#[path = "../src/config/token.rs"]
mod config_token;
#[path = "../src/model/mod.rs"]
mod model;

mod config {
    pub(crate) use super::config_token as token;
}
mod analysis {
    pub(crate) use super::analysis_telemetry as telemetry;
}

use analysis::telemetry;
use model::clock;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use model::contract::ChildFact;
use model::events::Cmd;

const USERS: [&str; 10] = [
    "alice-dev",
    "bob-marketing",
    "carol-data",
    "david-backup",
    "eve-design",
    "frank-research",
    "grace-sales",
    "henry-ops",
    "iris-content",
    "jack-mobile",
];
/// Each child uploads a file of this many bytes.
const BYTES: u64 = 4096;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

/// One upload child's export, as obsctl 0.3.0 shapes it and honest to the contract:
/// 20 counters (those an upload moves at their value, the others at 0), 3 histograms.
fn request(id: &str, user: &str) -> ExportMetricsServiceRequest {
    let counter = |name: &str, v: i64| Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                value: Some(number_data_point::Value::AsInt(v)),
                time_unix_nano: 1,
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let hist = |name: &str, sum: f64| Metric {
        name: name.into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("operation", "upload")],
                count: 1,
                sum: Some(sum),
                bucket_counts: vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                explicit_bounds: vec![
                    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
                    10000.0,
                ],
                time_unix_nano: 1,
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let moved = ["operations_total", "uploads_total", "files_uploaded_total", "files_small_total"];
    let mut metrics: Vec<Metric> = [
        "operations_total",
        "uploads_total",
        "downloads_total",
        "deletes_total",
        "lists_total",
        "sync_operations_total",
        "files_uploaded_total",
        "files_downloaded_total",
        "files_deleted_total",
        "errors_total",
        "errors_bucket_total",
        "errors_file_total",
        "errors_auth_total",
        "errors_service_total",
        "files_small_total",
        "files_medium_total",
        "files_large_total",
        "files_xlarge_total",
        "bytes_downloaded_total",
    ]
    .iter()
    .map(|n| counter(n, i64::from(moved.contains(n))))
    .collect();
    metrics.push(counter("bytes_uploaded_total", BYTES as i64));
    metrics.push(hist("operation_duration_seconds", 0.05));
    metrics.push(hist("transfer_rate_kbps", 800.0));
    metrics.push(hist("file_size_bytes", BYTES as f64));
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "obsctl"),
                    kv("service.instance.id", id),
                    kv("trafficgen.user", user),
                    kv("trafficgen.op", "upload"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// CPU seconds (user + system) of this process's threads, those named `prefix` only
/// when one is given.
fn cpu_s(prefix: Option<&str>) -> f64 {
    // SAFETY: sysconf(3) reads a constant of the system.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut total = 0u64;
    for t in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map_or("", |(_, n)| n);
        if prefix.is_some_and(|p| !name.starts_with(p)) {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        total += f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    }
    total as f64 / tick
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: otlp_day CHILDREN CONCURRENCY [REQUESTS_PER_CHILD]");
        std::process::exit(2);
    }
    let n: u64 = args[1].parse().expect("CHILDREN");
    let conc: u64 = args[2].parse().expect("CONCURRENCY");
    let per_child: u64 = args.get(3).map_or(2, |x| x.parse().expect("REQUESTS_PER_CHILD"));
    // trafficgen's runtime, as src/commands/run/mod.rs builds it; the exporters get their own.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("trafficgen-io")
        .enable_all()
        .build()
        .expect("runtime");
    let senders = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("exporter")
        .enable_all()
        .build()
        .expect("runtime");
    let key = config::token::Key::random();
    let receiver = rt.block_on(telemetry::receiver::Receiver::start(None, None, key.clone())).expect("receiver");
    // The children of one simulated day, spread evenly over it.
    let day_start = 1_767_225_600.0;
    let scale = 86_400.0 / (n as f64 / 3000.0);
    {
        let mut s = receiver.store.lock().expect("store");
        s.ledger = telemetry::ledger::Ledger::new(Duration::from_secs(5), day_start);
        s.ledger.set_clock(clock::Clock::start(clock::TimeMap { sim_start: day_start, scale }));
    }
    let endpoint = receiver.endpoint();
    let store = receiver.store.clone();
    let next = Arc::new(AtomicU64::new(1));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let rss_at: Arc<std::sync::Mutex<Vec<(u64, u64)>>> = Default::default();
    let (cpu0, cpu_all0) = (cpu_s(Some("trafficgen-io")), cpu_s(None));
    let t0 = Instant::now();
    let handle = rt.handle().clone();
    senders.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..conc {
            let (endpoint, store, next, done, failed, key, handle, rss_at) = (
                endpoint.clone(),
                store.clone(),
                next.clone(),
                done.clone(),
                failed.clone(),
                key.clone(),
                handle.clone(),
                rss_at.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut c = MetricsServiceClient::connect(endpoint).await.expect("connect");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i > n {
                        break;
                    }
                    let id = format!("0000beef-{i}");
                    let user = (i % USERS.len() as u64) as usize;
                    // The ledger's work runs on trafficgen's runtime, as in a run.
                    let (s, id2) = (store.clone(), id.clone());
                    let _ = handle
                        .spawn(async move { s.lock().unwrap_or_else(|e| e.into_inner()).child_started(&id2) })
                        .await;
                    let token = key.token(&id);
                    for _ in 0..per_child {
                        let mut req = tonic::Request::new(request(&id, USERS[user]));
                        req.metadata_mut().insert(config::token::HEADER, token.parse().expect("a token is ASCII"));
                        if c.export(req).await.is_err() {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let fact = ChildFact {
                        id,
                        user: Some(user),
                        cmd: Cmd::Upload,
                        expected: None,
                        exited: true,
                        ok: true,
                        bytes: BYTES,
                        files: vec![],
                        build: None,
                    };
                    let s = store.clone();
                    let _ =
                        handle
                            .spawn(async move {
                                s.lock().unwrap_or_else(|e| e.into_inner()).child_ended(fact, Instant::now())
                            })
                            .await;
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if d == n / 10 || d == n / 2 || d == n {
                        rss_at.lock().unwrap_or_else(|e| e.into_inner()).push((d, status_kb("VmRSS:") * 1024));
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let (cpu1, cpu_all1) = (cpu_s(Some("trafficgen-io")), cpu_s(None));
    let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
    s.sweep(Instant::now() + Duration::from_secs(10));
    s.settle_all();
    let counts = (receiver.counters.requests.load(Ordering::Relaxed), 0, 0);
    let users: Vec<String> = USERS.iter().map(|u| u.to_string()).collect();
    let r = telemetry::reconcile("otlp_day", &s, counts, &users, &Default::default());
    let mut rss = rss_at.lock().unwrap_or_else(|e| e.into_inner()).clone();
    rss.sort_unstable();
    let rss: Vec<String> = rss.iter().map(|(d, b)| format!("[{d}, {b}]")).collect();
    println!(
        "{{\"children\": {n}, \"concurrency\": {conc}, \"requests_per_child\": {per_child}, \"seconds\": {secs:.1}, \
         \"children_per_second\": {:.0}, \"failed_requests\": {}, \"rss_bytes_at\": [{}], \"vm_hwm_bytes\": {}, \
         \"receiver_cpu_ms_per_child\": {:.4}, \"process_cpu_ms_per_child\": {:.4}, \"export_requests\": {}, \
         \"children_ended\": {}, \"children_reported\": {}, \"lost_exports\": {}, \"late_exports\": {}, \
         \"unattributed_requests\": {}, \"foreign_requests\": {}, \"mismatches\": {}, \"peak_live_children\": {}, \
         \"windows\": {}}}",
        n as f64 / secs,
        failed.load(Ordering::Relaxed),
        rss.join(", "),
        status_kb("VmHWM:") * 1024,
        (cpu1 - cpu0) * 1000.0 / n as f64,
        (cpu_all1 - cpu_all0) * 1000.0 / n as f64,
        r.export_requests,
        r.children_ended,
        r.children_reported,
        r.lost_exports,
        r.late_exports,
        r.unattributed_requests,
        r.foreign_requests,
        r.mismatches,
        r.peak_live_children,
        r.windows.len()
    );
}
