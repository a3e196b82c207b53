//! A synthetic OTLP/gRPC metrics exporter (and sink) for `scripts/bench`: measures how
//! many export requests per second a receiver absorbs.
//!
//!   otlp_load send ENDPOINT SECONDS CONCURRENCY   export obsctl-shaped requests (each
//!                                                 with its own service.instance.id) as
//!                                                 fast as answered; prints JSON
//!   otlp_load sink                                a receiver that accepts and drops;
//!                                                 prints `PORT n` and serves until killed
//!
//! `send` attaches `OTEL_EXPORTER_OTLP_HEADERS` (comma-separated `key=value`) as gRPC
//! metadata, as an OTLP exporter does: trafficgen's receiver counts only requests that
//! carry a child's token (`x-trafficgen-token`), so a benchmark hands it one child's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

/// One child's export, shaped like obsctl's after an upload: 20 counters, 3 histograms.
fn request(id: u64) -> ExportMetricsServiceRequest {
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
    let hist = |name: &str| Metric {
        name: name.into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("operation", "upload")],
                count: 1,
                sum: Some(2.5),
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
    let mut metrics: Vec<Metric> = [
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
    .map(|n| counter(n, 1))
    .collect();
    metrics.extend(["operation_duration_seconds", "transfer_rate_kbps", "file_size_bytes"].iter().map(|n| hist(n)));
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "obsctl"),
                    kv("service.instance.id", &format!("bench-{id}")),
                    kv("trafficgen.user", "alice-dev"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

struct Sink;

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        _r: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sink") => {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            println!("PORT {}", l.local_addr().unwrap().port());
            tonic::transport::Server::builder()
                .add_service(MetricsServiceServer::new(Sink))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
                .await
                .expect("serve");
        }
        Some("send") if args.len() == 5 => {
            let endpoint = args[2].clone();
            let seconds: f64 = args[3].parse().expect("SECONDS");
            let conc: usize = args[4].parse().expect("CONCURRENCY");
            let sent = Arc::new(AtomicU64::new(0));
            let failed = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let end = start + Duration::from_secs_f64(seconds);
            let headers: Vec<(String, String)> = std::env::var("OTEL_EXPORTER_OTLP_HEADERS")
                .unwrap_or_default()
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().replace("%20", " ")))
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .collect();
            let mut tasks = Vec::new();
            for w in 0..conc {
                let headers = headers.clone();
                let (endpoint, sent, failed) = (endpoint.clone(), sent.clone(), failed.clone());
                tasks.push(tokio::spawn(async move {
                    let mut c = MetricsServiceClient::connect(endpoint).await.expect("connect");
                    let mut i = w as u64;
                    while Instant::now() < end {
                        let mut req = tonic::Request::new(request(i));
                        for (k, v) in &headers {
                            if let (Ok(k), Ok(v)) = (
                                k.parse::<tonic::metadata::MetadataKey<tonic::metadata::Ascii>>(),
                                v.parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>(),
                            ) {
                                req.metadata_mut().insert(k, v);
                            }
                        }
                        match c.export(req).await {
                            Ok(_) => sent.fetch_add(1, Ordering::Relaxed),
                            Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                        };
                        i += conc as u64;
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            let secs = start.elapsed().as_secs_f64();
            let n = sent.load(Ordering::Relaxed);
            println!(
                "{{\"requests\": {n}, \"failed\": {}, \"seconds\": {secs:.3}, \"per_second\": {:.1}}}",
                failed.load(Ordering::Relaxed),
                n as f64 / secs
            );
        }
        _ => {
            eprintln!("usage: otlp_load send ENDPOINT SECONDS CONCURRENCY | otlp_load sink");
            std::process::exit(2);
        }
    }
}
