//! An OTLP/gRPC metrics receiver inside trafficgen, on a free loopback port, built on
//! the official generated types (opentelemetry-proto with its tonic server). It keeps
//! the final value of every series per child (`service.instance.id`), and forwards each
//! export request unchanged to the user's own collector when the profile names one.
//! A slow or dead collector never delays a child: forwards run on their own tasks and
//! are dropped (and counted) beyond a bound.

use std::collections::{BTreeMap, HashMap};
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

/// Forwards to the user's collector that may wait at once; more are dropped and counted.
const MAX_FORWARDS_IN_FLIGHT: u64 = 256;
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// One series' latest state for one child.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    /// Sum or gauge value; for histograms, the sum of the samples.
    pub value: f64,
    /// Histograms: the number of samples.
    pub count: u64,
    /// Cumulative points replace an older point; delta points add up.
    time_unix_nano: u64,
}

/// What one child (one `service.instance.id`) reported.
#[derive(Debug, Clone, Default)]
pub struct ChildExports {
    /// Resource attributes (service.name, trafficgen.user, …).
    pub resource: BTreeMap<String, String>,
    /// (metric name, attributes as `k=v,…` sorted) → point.
    pub series: BTreeMap<(String, String), Point>,
    /// Whether each metric is a histogram (count/sum) or a number.
    pub histograms: BTreeMap<String, bool>,
    pub requests: u64,
}

#[derive(Debug, Default)]
pub struct Store {
    /// By `service.instance.id` ("" when an export has none).
    pub children: HashMap<String, ChildExports>,
}

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

impl Store {
    /// Takes one export request apart into per-child series.
    pub fn absorb(&mut self, req: &ExportMetricsServiceRequest) {
        for rm in &req.resource_metrics {
            let resource: BTreeMap<String, String> = rm
                .resource
                .as_ref()
                .map(|r| r.attributes.iter().map(|a| (a.key.clone(), text(&a.value))).collect())
                .unwrap_or_default();
            let id = resource.get("service.instance.id").cloned().unwrap_or_default();
            let child = self.children.entry(id).or_default();
            child.requests += 1;
            child.resource = resource;
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let Some(data) = &m.data else { continue };
                    let mut put = |attrs: &[KeyValue], value: f64, count: u64, time: u64, delta: bool, hist: bool| {
                        child.histograms.insert(m.name.clone(), hist);
                        let e = child.series.entry((m.name.clone(), attr_key(attrs))).or_default();
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
        let req = request.into_inner();
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(up) = &self.upstream {
            self.forward(up.clone(), req.clone());
        }
        self.store.lock().unwrap_or_else(|e| e.into_inner()).absorb(&req);
        Ok(Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

impl Service {
    fn forward(&self, mut up: MetricsServiceClient<tonic::transport::Channel>, req: ExportMetricsServiceRequest) {
        let c = self.counters.clone();
        if c.forwards_in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_FORWARDS_IN_FLIGHT {
            c.forwards_in_flight.fetch_sub(1, Ordering::Relaxed);
            failed(&c, "too many forwards waiting on the collector");
            return;
        }
        tokio::spawn(async move {
            match tokio::time::timeout(FORWARD_TIMEOUT, up.export(req)).await {
                Ok(Ok(_)) => {
                    c.forwarded.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => failed(&c, &e.message().to_string()),
                Err(_) => failed(&c, "timed out"),
            }
            c.forwards_in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Counts a forward failure; logs at most one line a minute.
fn failed(c: &Counters, why: &str) {
    let n = c.forward_failures.fetch_add(1, Ordering::Relaxed) + 1;
    let now = crate::clock::unix_now() as u64;
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
    /// the user's collector to forward every request to.
    pub async fn start(upstream: Option<String>) -> Result<Receiver, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("telemetry receiver: cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let store = Arc::new(Mutex::new(Store::default()));
        let counters = Arc::new(Counters::default());
        let client = match &upstream {
            Some(url) => {
                let ch = tonic::transport::Channel::from_shared(url.clone())
                    .map_err(|e| format!("telemetry: the profile's collector {url:?}: {e}"))?
                    .connect_timeout(Duration::from_secs(5))
                    .connect_lazy();
                Some(MetricsServiceClient::new(ch))
            }
            None => None,
        };
        let svc = Service { store: store.clone(), counters: counters.clone(), upstream: client };
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(MetricsServiceServer::new(svc))
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

    /// Instance ids that have exported so far.
    pub fn reported(&self) -> std::collections::HashSet<String> {
        self.store.lock().unwrap_or_else(|e| e.into_inner()).children.keys().cloned().collect()
    }
}
