//! An OTLP/gRPC metrics receiver inside trafficgen, on a free loopback port, built on
//! the official generated types (opentelemetry-proto with its tonic server). It keeps
//! the final value of every series per child (`service.instance.id`) until the ledger
//! (`ledger.rs`) folds the child into its sums, and forwards each
//! export request unchanged to the user's own collector when the profile names one.
//! A slow or dead collector never delays a child: forwards run on their own tasks and
//! are dropped (and counted) beyond a bound.
//!
//! Only a child's own exports count: each request must carry the child's token
//! (`config::token`). One without a genuine token is foreign: counted, a bounded number of its
//! instance ids remembered for the report, never stored with the children's series,
//! never forwarded, never reconciled. Memory stays bounded whoever sends: requests are
//! capped in size, streams per connection in number, and every map here has a cap.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, metric::Data, number_data_point};
use tonic::{Request, Response, Status};
use tracing::warn;

use super::exports::Point;
use super::store::{Foreign, Store};
use crate::config::token::{HEADER, Key, parse_headers};
use crate::model::error::Error;

/// Forwards to the user's collector that may wait at once; more are dropped and counted.
const MAX_FORWARDS_IN_FLIGHT: u64 = 256;
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest export request decoded. obsctl's are a few KiB (about 25 series).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Requests one connection may have in progress at once.
const MAX_STREAMS_PER_CONNECTION: u32 = 32;
/// Series kept per child: far above obsctl's, so an export that somehow had more
/// cannot grow the store without bound (the rest are counted, not kept).
const MAX_SERIES_PER_CHILD: usize = 1024;
/// Foreign instance ids remembered (and the number of mislabelled resources kept).
pub const MAX_FOREIGN_IDS: usize = 1024;
/// Foreign instance ids shown in the report, each cut to this many characters.
const FOREIGN_EXAMPLES: usize = 5;
const MAX_ID_CHARS: usize = 64;

#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub forwarded: AtomicU64,
    pub forward_failures: AtomicU64,
    forwards_in_flight: AtomicU64,
    /// Unix seconds of the last forward-failure log line (once per minute).
    last_failure_log: AtomicU64,
}

#[derive(Clone)]
struct Service {
    store: Arc<Mutex<Store>>,
    counters: Arc<Counters>,
    upstream: Option<MetricsServiceClient<tonic::transport::Channel>>,
    /// The profile's own headers for its collector (ours never among them).
    upstream_headers: Arc<tonic::metadata::MetadataMap>,
    key: Key,
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// `k=v,k=v` with keys sorted: one spelling per attribute set.
pub fn attr_key(attrs: &[KeyValue]) -> String {
    let mut kv: Vec<String> = attrs.iter().map(|a| format!("{}={}", a.key, text(&a.value))).collect();
    kv.sort();
    kv.join(",")
}

/// The instance id a resource names ("" for none).
fn instance_id(rm: &opentelemetry_proto::tonic::metrics::v1::ResourceMetrics) -> String {
    rm.resource
        .as_ref()
        .and_then(|r| r.attributes.iter().find(|a| a.key == "service.instance.id"))
        .map(|a| text(&a.value))
        .unwrap_or_default()
}

impl Foreign {
    fn absorb(&mut self, req: &ExportMetricsServiceRequest) {
        self.requests += 1;
        for rm in &req.resource_metrics {
            let id: String = crate::model::terminal::clean_line(&instance_id(rm)).chars().take(MAX_ID_CHARS).collect();
            if self.ids.len() < MAX_FOREIGN_IDS || self.ids.contains(&id) {
                self.ids.insert(id);
            } else {
                self.ids_capped = true;
            }
        }
    }

    /// A few of the ids, for a person to go looking for the sender.
    pub fn examples(&self) -> Vec<String> {
        self.ids.iter().take(FOREIGN_EXAMPLES).cloned().collect()
    }
}

impl Store {
    /// Takes one export request of the child `child_id` (proved by its token) apart
    /// into its series. A resource that names another instance id is kept apart, as
    /// mislabelled: a child cannot speak for another.
    pub fn absorb(&mut self, child_id: &str, req: &ExportMetricsServiceRequest) {
        for rm in &req.resource_metrics {
            let resource: BTreeMap<String, String> = rm
                .resource
                .as_ref()
                .map(|r| r.attributes.iter().map(|a| (a.key.clone(), text(&a.value))).collect())
                .unwrap_or_default();
            let id = resource.get("service.instance.id").cloned().unwrap_or_default();
            let child = if id == child_id {
                self.children.entry(id).or_default()
            } else if self.mislabelled.len() < MAX_FOREIGN_IDS || self.mislabelled.contains_key(&id) {
                self.mislabelled.entry(id).or_default()
            } else {
                self.dropped_series += 1;
                self.mislabelled_overflow += 1;
                continue;
            };
            child.requests += 1;
            child.resource = resource;
            let dropped = &mut self.dropped_series;
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let Some(data) = &m.data else { continue };
                    let mut put = |attrs: &[KeyValue], value: f64, count: u64, time: u64, delta: bool, hist: bool| {
                        let key = (m.name.clone(), attr_key(attrs));
                        if child.series.len() >= MAX_SERIES_PER_CHILD && !child.series.contains_key(&key) {
                            *dropped += 1;
                            return;
                        }
                        child.histograms.insert(m.name.clone(), hist);
                        let e = child.series.entry(key).or_default();
                        if delta {
                            e.value += value;
                            e.count += count;
                            e.time_unix_nano = e.time_unix_nano.max(time);
                        } else if time >= e.time_unix_nano {
                            *e = Point { value, count, time_unix_nano: time };
                        }
                    };
                    let num = |v: &Option<number_data_point::Value>| match v {
                        Some(number_data_point::Value::AsInt(i)) => *i as f64,
                        Some(number_data_point::Value::AsDouble(d)) => *d,
                        None => 0.0,
                    };
                    match data {
                        Data::Sum(s) => {
                            let delta = s.aggregation_temporality == AggregationTemporality::Delta as i32;
                            for p in &s.data_points {
                                put(&p.attributes, num(&p.value), 0, p.time_unix_nano, delta, false);
                            }
                        }
                        Data::Gauge(g) => {
                            for p in &g.data_points {
                                put(&p.attributes, num(&p.value), 0, p.time_unix_nano, false, false);
                            }
                        }
                        Data::Histogram(h) => {
                            let delta = h.aggregation_temporality == AggregationTemporality::Delta as i32;
                            for p in &h.data_points {
                                put(&p.attributes, p.sum.unwrap_or(0.0), p.count, p.time_unix_nano, delta, true);
                            }
                        }
                        Data::ExponentialHistogram(h) => {
                            let delta = h.aggregation_temporality == AggregationTemporality::Delta as i32;
                            for p in &h.data_points {
                                put(&p.attributes, p.sum.unwrap_or(0.0), p.count, p.time_unix_nano, delta, true);
                            }
                        }
                        Data::Summary(s) => {
                            for p in &s.data_points {
                                put(&p.attributes, p.sum, p.count, p.time_unix_nano, false, true);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[tonic::async_trait]
impl MetricsService for Service {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let child = request
            .metadata()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|t| self.key.verify(t))
            .map(str::to_string);
        let req = request.into_inner();
        let Some(child) = child else {
            self.store.lock().unwrap_or_else(|e| e.into_inner()).foreign.absorb(&req);
            return Err(Status::unauthenticated("no valid trafficgen token"));
        };
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(up) = &self.upstream {
            self.forward(up.clone(), req.clone());
        }
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        store.absorb(&child, &req);
        store.export_arrived(&child, std::time::Instant::now());
        drop(store);
        Ok(Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

impl Service {
    fn forward(&self, mut up: MetricsServiceClient<tonic::transport::Channel>, req: ExportMetricsServiceRequest) {
        let c = self.counters.clone();
        let headers = self.upstream_headers.clone();
        if c.forwards_in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_FORWARDS_IN_FLIGHT {
            c.forwards_in_flight.fetch_sub(1, Ordering::Relaxed);
            failed(&c, "too many forwards waiting on the collector");
            return;
        }
        tokio::spawn(async move {
            let mut request = Request::new(req);
            *request.metadata_mut() = (*headers).clone();
            match tokio::time::timeout(FORWARD_TIMEOUT, up.export(request)).await {
                Ok(Ok(_)) => {
                    c.forwarded.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => failed(&c, e.message()),
                Err(_) => failed(&c, "timed out"),
            }
            c.forwards_in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Counts a forward failure; logs at most one line a minute.
fn failed(c: &Counters, why: &str) {
    let n = c.forward_failures.fetch_add(1, Ordering::Relaxed) + 1;
    let now = crate::model::clock::unix_now() as u64;
    let last = c.last_failure_log.load(Ordering::Relaxed);
    if now >= last + 60 && c.last_failure_log.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    {
        warn!("telemetry: forwarding to the profile's collector failed ({n} so far): {why}");
    }
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    pub store: Arc<Mutex<Store>>,
    pub counters: Arc<Counters>,
}

impl Receiver {
    /// Binds 127.0.0.1 on a free port and serves on the current runtime. `upstream`:
    /// the user's collector to forward every child's request to, with `headers` (the
    /// profile's `OTEL_EXPORTER_OTLP_HEADERS`); `key`: the run's token key.
    pub async fn start(upstream: Option<String>, headers: Option<&str>, key: Key) -> Result<Receiver, Error> {
        let cannot_listen =
            |e: std::io::Error| Error::Failed(format!("telemetry receiver: cannot listen on 127.0.0.1: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(cannot_listen)?;
        let addr = listener.local_addr().map_err(cannot_listen)?;
        let store = Arc::new(Mutex::new(Store::default()));
        let counters = Arc::new(Counters::default());
        let client = match &upstream {
            Some(url) => {
                let ch = tonic::transport::Channel::from_shared(url.clone())
                    .map_err(|e| Error::Failed(format!("telemetry: the profile's collector {url:?}: {e}")))?
                    .connect_timeout(Duration::from_secs(5))
                    .connect_lazy();
                Some(MetricsServiceClient::new(ch))
            }
            None => None,
        };
        let mut metadata = tonic::metadata::MetadataMap::new();
        for (k, v) in parse_headers(headers.unwrap_or("")) {
            // A header tonic cannot carry is left out; its value is never printed.
            match (k.parse::<tonic::metadata::MetadataKey<tonic::metadata::Ascii>>(), v.parse()) {
                (Ok(k), Ok(v)) => {
                    metadata.insert(k, v);
                }
                _ => warn!("telemetry: the profile's OTEL_EXPORTER_OTLP_HEADERS entry {k:?} is not a valid header"),
            }
        }
        let svc = Service {
            store: store.clone(),
            counters: counters.clone(),
            upstream: client,
            upstream_headers: Arc::new(metadata),
            key,
        };
        // Without TCP_NODELAY each short answer waits for the peer's delayed ACK
        // (about 40 ms): the receiver would absorb a hundred or so requests a second.
        let incoming = tokio_stream::StreamExt::map(tokio_stream::wrappers::TcpListenerStream::new(listener), |s| {
            if let Ok(s) = &s {
                let _ = s.set_nodelay(true);
            }
            s
        });
        tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
                .add_service(
                    MetricsServiceServer::new(svc)
                        .max_decoding_message_size(MAX_REQUEST_BYTES)
                        .max_encoding_message_size(64 * 1024),
                )
                .serve_with_incoming(incoming)
                .await;
            if let Err(e) = served {
                warn!("telemetry receiver stopped: {e}");
            }
        });
        Ok(Receiver { addr, store, counters })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Exited children still awaiting their export, after folding those whose
    /// deadline has passed.
    pub fn awaiting(&self) -> usize {
        let mut s = self.store.lock().unwrap_or_else(|e| e.into_inner());
        s.sweep(std::time::Instant::now());
        s.ledger.awaiting()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
            ..Default::default()
        }
    }

    /// One resource named `id` with `n` counters of value 1.
    fn export(id: &str, n: usize) -> ExportMetricsServiceRequest {
        let metrics = (0..n)
            .map(|i| Metric {
                name: format!("m{i}"),
                data: Some(Data::Sum(Sum {
                    data_points: vec![NumberDataPoint {
                        value: Some(number_data_point::Value::AsInt(1)),
                        time_unix_nano: 1,
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })),
                ..Default::default()
            })
            .collect();
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource { attributes: vec![kv("service.instance.id", id)], ..Default::default() }),
                scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn a_child_speaks_only_for_itself_and_every_map_is_capped() {
        let mut s = Store::default();
        s.absorb("r-1", &export("r-1", 3));
        // Child 1 claiming to be child 2: kept apart, never as child 2.
        s.absorb("r-1", &export("r-2", 3));
        assert_eq!(s.children.keys().collect::<Vec<_>>(), ["r-1"]);
        assert_eq!(s.children["r-1"].series.len(), 3);
        assert_eq!(s.mislabelled["r-2"].requests, 1);
        // Too many series for one child: the rest are counted, not kept.
        s.absorb("r-3", &export("r-3", MAX_SERIES_PER_CHILD + 10));
        assert_eq!(s.children["r-3"].series.len(), MAX_SERIES_PER_CHILD);
        assert_eq!(s.dropped_series, 10);
        for i in 0..MAX_FOREIGN_IDS + 5 {
            s.absorb("r-1", &export(&format!("other-{i}"), 1));
        }
        assert_eq!(s.mislabelled.len(), MAX_FOREIGN_IDS);
        assert_eq!(s.mislabelled_overflow, 6);
    }

    #[test]
    fn foreign_exports_are_counted_with_a_bounded_set_of_clean_ids() {
        let mut f = Foreign::default();
        f.absorb(&export(&format!("evil\x1b[2J{}", "x".repeat(200)), 1));
        for i in 0..MAX_FOREIGN_IDS + 100 {
            f.absorb(&export(&format!("f-{i}"), 1));
        }
        assert_eq!(f.requests, MAX_FOREIGN_IDS as u64 + 101);
        assert_eq!(f.ids.len(), MAX_FOREIGN_IDS);
        assert!(f.ids_capped);
        let first = f.ids.iter().find(|i| i.starts_with("evil")).expect("the first id is remembered");
        assert_eq!(first.chars().count(), MAX_ID_CHARS);
        assert!(!first.contains('\x1b'));
        assert_eq!(f.examples().len(), FOREIGN_EXAMPLES);
    }
}
