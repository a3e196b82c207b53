//! The server's own counters as a witness: its Prometheus metrics are read at the start
//! and the end of a run, and the requests it counted per S3 API are set beside what
//! trafficgen knows it asked the client to do. The ratio is the client's request
//! amplification (obsctl 0.3.0 lists the whole bucket after every upload, download and
//! delete, so ListObjectsV2 runs far above one per operation).
//!
//! Garage serves `api_s3_request_counter{api_endpoint="PutObject"}` (and
//! `api_s3_error_counter{api_endpoint,status_code}`) on its admin port's `/metrics`;
//! MinIO serves `minio_s3_requests_total{api="putobject"}` (and
//! `minio_s3_requests_errors_total`) on `/minio/v2/metrics/cluster`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::counts::{Name, OpCount};
use crate::model::error::Error;
use crate::model::server::{ApiRow, Report, Window};

/// (request family, error family, label that names the API).
const FAMILIES: [(&str, &str, &str); 2] = [
    ("api_s3_request_counter", "api_s3_error_counter", "api_endpoint"),
    ("minio_s3_requests_total", "minio_s3_requests_errors_total", "api"),
];

/// Requests and errors per S3 API (canonical names such as `PutObject`) at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub requests: BTreeMap<String, f64>,
    pub errors: BTreeMap<String, f64>,
}

/// MinIO names APIs in lower case; Garage as S3 does. One spelling for both.
fn canonical(api: &str) -> String {
    const KNOWN: [&str; 12] = [
        "PutObject",
        "GetObject",
        "DeleteObject",
        "HeadObject",
        "ListObjectsV2",
        "ListObjects",
        "CreateBucket",
        "DeleteBucket",
        "HeadBucket",
        "ListBuckets",
        "CopyObject",
        "DeleteObjects",
    ];
    KNOWN.iter().find(|k| k.eq_ignore_ascii_case(api)).map_or_else(|| api.to_string(), |k| k.to_string())
}

/// The server's counters could not be read: its URL does not answer, or not with S3
/// request counters. Given as `--server-metrics`, that is bad input (exit 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(String);

impl From<Unreadable> for Error {
    fn from(e: Unreadable) -> Error {
        Error::Usage(e.0)
    }
}

/// Parses Prometheus text (with the prometheus-parse crate) into per-API counts.
pub fn parse(text: &str) -> Result<Counts, Unreadable> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).map_err(|e| Unreadable(format!("not Prometheus text: {e}")))?;
    let mut c = Counts::default();
    let mut seen = false;
    for s in &scrape.samples {
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v)
            | prometheus_parse::Value::Gauge(v) => v,
            _ => continue,
        };
        for (req, err, label) in FAMILIES {
            let into = if s.metric == req {
                &mut c.requests
            } else if s.metric == err {
                &mut c.errors
            } else {
                continue;
            };
            seen = true;
            if let Some(api) = s.labels.get(label) {
                *into.entry(canonical(api)).or_default() += value;
            }
        }
    }
    if !seen {
        return Err(Unreadable(format!(
            "no S3 request counters ({} or {}) in the metrics",
            FAMILIES[0].0, FAMILIES[1].0
        )));
    }
    Ok(c)
}

/// Said when a URL answers 403 or 404, or with no counters: the likeliest cause is
/// `scripts/local-s3`'s moto (whose S3 port answers `/metrics` with 403), and "http
/// status: 403" alone did not say so.
const WHERE_COUNTERS_ARE: &str = "moto serves no request counters (only Garage from scripts/local-s3 does, at its admin port, e.g. http://127.0.0.1:9003/metrics for S3 on 9000; Garage needs its admin token for anything but /metrics and /health)";

/// Reads and parses the metrics at `url` (plain HTTP).
pub fn scrape(url: &str) -> Result<Counts, Unreadable> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(true)
        .build()
        .into();
    let text = agent
        .get(url)
        .call()
        .map_err(|e| match e {
            ureq::Error::StatusCode(403 | 404) => Unreadable(format!("reading {url}: {e}; {WHERE_COUNTERS_ARE}")),
            e => Unreadable(format!("reading {url}: {e}")),
        })?
        .into_body()
        .read_to_string()
        .map_err(|e| Unreadable(format!("reading {url}: {e}")))?;
    parse(&text).map_err(|e| Unreadable(format!("{url}: {e}; {WHERE_COUNTERS_ARE}")))
}

/// The S3 API a command of kind `op` needs, and how many requests of it: ground truth
/// from what trafficgen ran, whatever the client or the server said about it.
pub fn needs(op: &str, sync_files: u64) -> Option<(&'static str, u64)> {
    Some(match op {
        "upload" | "missing_bucket_upload" => ("PutObject", 1),
        "sync" => ("PutObject", sync_files),
        "download" | "missing_key_download" | "presign" => ("GetObject", 1),
        "delete" | "missing_bucket_delete" => ("DeleteObject", 1),
        "head_object" | "confirm_upload" | "confirm_delete" | "missing_key_head" => ("HeadObject", 1),
        "mb" => ("CreateBucket", 1),
        "rb" => ("DeleteBucket", 1),
        _ => return None,
    })
}

/// Requests per S3 API that the commands `ops` need (every API `needs` names, zero
/// where none ran).
pub fn expected(ops: &BTreeMap<crate::model::counts::Name, OpCount>, sync_files: u64) -> BTreeMap<&'static str, u64> {
    let mut out: BTreeMap<&'static str, u64> =
        ["PutObject", "GetObject", "DeleteObject", "HeadObject", "CreateBucket", "DeleteBucket"].map(|a| (a, 0)).into();
    for (op, c) in ops {
        if let Some((api, n)) = needs(op, sync_files) {
            *out.entry(api).or_default() += (c.ok + c.failed) * n;
        }
    }
    out
}

pub fn report(
    url: &str,
    start: &Counts,
    end: &Counts,
    ops: &BTreeMap<crate::model::counts::Name, OpCount>,
    sync_files: u64,
) -> Report {
    let commands: u64 = ops.values().map(|c| c.ok + c.failed).sum();
    let want = expected(ops, sync_files);
    let delta = |m: &BTreeMap<String, f64>, s: &BTreeMap<String, f64>, k: &str| {
        (m.get(k).copied().unwrap_or(0.0) - s.get(k).copied().unwrap_or(0.0)).max(0.0)
    };
    let mut names: Vec<String> = end.requests.keys().cloned().collect();
    names.extend(want.keys().map(|k| k.to_string()));
    names.sort();
    names.dedup();
    let mut apis = BTreeMap::new();
    for name in names {
        let server = delta(&end.requests, &start.requests, &name);
        let trafficgen = want.get(name.as_str()).copied();
        if server == 0.0 && trafficgen.unwrap_or(0) == 0 {
            continue;
        }
        let row = ApiRow {
            server,
            server_errors: delta(&end.errors, &start.errors, &name),
            trafficgen,
            amplification: trafficgen.filter(|t| *t > 0).map(|t| round2(server / t as f64)),
            per_command: if commands == 0 { 0.0 } else { round2(server / commands as f64) },
        };
        apis.insert(name, row);
    }
    Report { url: url.to_string(), commands, apis, windows: Vec::new() }
}

/// The server's counters and trafficgen's ended commands by kind at one moment of the
/// run, taken at simulated hour boundaries by the stats thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Simulated UNIX seconds.
    pub sim_unix: f64,
    pub counts: Counts,
    pub ops: BTreeMap<Name, OpCount>,
}

/// The windows between consecutive snapshots: each the same rows as the whole run's
/// report, over the commands that ended between its two readings.
pub fn windows(snaps: &[Snapshot], sync_files: u64) -> Vec<Window> {
    snaps
        .windows(2)
        .map(|pair| {
            let (a, b) = (&pair[0], &pair[1]);
            let ops: BTreeMap<Name, OpCount> = b
                .ops
                .iter()
                .map(|(k, n)| {
                    let before = a.ops.get(k).copied().unwrap_or_default();
                    let d =
                        OpCount { ok: n.ok.saturating_sub(before.ok), failed: n.failed.saturating_sub(before.failed) };
                    (*k, d)
                })
                .collect();
            let r = report("", &a.counts, &b.counts, &ops, sync_files);
            Window { start_unix: a.sim_unix as i64, end_unix: b.sim_unix as i64, commands: r.commands, apis: r.apis }
        })
        .collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The table at the end of a run.
pub fn render(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = format!("server's own counters ({}), during the run:\n", r.url);
    let _ = writeln!(
        out,
        "{:<16}{:>10}{:>10}{:>12}{:>15}{:>13}",
        "S3 API", "server", "errors", "trafficgen", "amplification", "per command"
    );
    for (name, a) in &r.apis {
        let t = a.trafficgen.map_or("-".to_string(), |t| t.to_string());
        let amp = a.amplification.map_or("-".to_string(), |x| format!("{x:.2}x"));
        let _ = writeln!(
            out,
            "{name:<16}{:>10.0}{:>10.0}{t:>12}{amp:>15}{:>13.2}",
            a.server, a.server_errors, a.per_command
        );
    }
    let _ = write!(out, "({} commands; amplification = server requests per command that needs one)", r.commands);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::events::OpType;

    const GARAGE: &str = r#"# HELP api_s3_request_counter Number of API calls to the various S3 API endpoints
# TYPE api_s3_request_counter counter
api_s3_error_counter{api_endpoint="HeadObject",status_code="404"} 2
api_s3_request_counter{api_endpoint="CreateBucket"} 1
api_s3_request_counter{api_endpoint="DeleteObject"} 4
api_s3_request_counter{api_endpoint="HeadObject"} 6
api_s3_request_counter{api_endpoint="ListObjectsV2"} 30
api_s3_request_counter{api_endpoint="PutObject"} 10
api_s3_request_duration_bucket{api_endpoint="CreateBucket",le="0.001"} 0
"#;

    #[test]
    fn garage_and_minio_text_parse_to_the_same_names() {
        let g = parse(GARAGE).unwrap();
        assert_eq!(g.requests["PutObject"], 10.0);
        assert_eq!(g.requests["ListObjectsV2"], 30.0);
        assert_eq!(g.errors["HeadObject"], 2.0);
        let m = parse(
            "# TYPE minio_s3_requests_total counter\nminio_s3_requests_total{api=\"putobject\",server=\"127.0.0.1:9000\"} 7\n",
        )
        .unwrap();
        assert_eq!(m.requests["PutObject"], 7.0);
        assert!(parse("# just a comment\nother_metric 1\n").unwrap_err().0.contains("no S3 request counters"));
    }

    #[test]
    fn amplification_is_server_requests_per_command() {
        let start = parse(GARAGE).unwrap();
        let mut end = start.clone();
        *end.requests.get_mut("PutObject").unwrap() += 20.0;
        *end.requests.get_mut("ListObjectsV2").unwrap() += 60.0;
        let ops = BTreeMap::from([
            (OpType::Upload.into(), OpCount { ok: 18, failed: 2 }),
            (OpType::Sync.into(), OpCount { ok: 0, failed: 0 }),
        ]);
        let r = report("u", &start, &end, &ops, 3);
        assert_eq!(r.apis["PutObject"].server, 20.0);
        assert_eq!(r.apis["PutObject"].trafficgen, Some(20));
        assert_eq!(r.apis["PutObject"].amplification, Some(1.0));
        assert_eq!(r.apis["ListObjectsV2"].trafficgen, None);
        assert_eq!(r.apis["ListObjectsV2"].per_command, 3.0);
        assert!(!r.apis.contains_key("CreateBucket"), "nothing happened there during the run");
        assert!(render(&r).contains("PutObject"));
    }

    #[test]
    fn windows_count_each_stretch_apart() {
        let c0 = parse(GARAGE).unwrap();
        let mut c1 = c0.clone();
        *c1.requests.get_mut("PutObject").unwrap() += 10.0;
        let mut c2 = c1.clone();
        *c2.requests.get_mut("PutObject").unwrap() += 30.0;
        let ops = |ok: u64| BTreeMap::from([(Name::from(OpType::Upload), OpCount { ok, failed: 0 })]);
        let snaps = [
            Snapshot { sim_unix: 3600.0, counts: c0, ops: ops(0) },
            Snapshot { sim_unix: 7200.0, counts: c1, ops: ops(10) },
            // The second hour: 30 requests for 15 uploads, the server's view drifted.
            Snapshot { sim_unix: 10_800.0, counts: c2, ops: ops(25) },
        ];
        let w = windows(&snaps, 3);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].start_unix, w[0].end_unix, w[0].commands), (3600, 7200, 10));
        assert_eq!(w[0].apis["PutObject"].amplification, Some(1.0));
        assert_eq!((w[1].start_unix, w[1].commands), (7200, 15));
        assert_eq!(w[1].apis["PutObject"].amplification, Some(2.0));
        assert!(windows(&snaps[..1], 3).is_empty(), "one reading is no window");
    }
}
