//! The page drawn from small typed summaries: every chart and table, hostile text
//! escaped, missing sections said so. The summaries are written as JSON laid over an
//! empty typed summary, so each test names only what it is about.

use serde_json::{Value, json};

use super::charts::clock_label;
use super::render;
use super::timeline::{MAX_PERSONA_CHARTS, Timeline};
use crate::model::counts::{Counters, Fidelity, Histograms, Latency, Share};
use crate::model::host::HostReport;
use crate::model::summary::{ClientInfo, Selection, StopCause, Summary, UserSummary};

/// A summary of nothing: every field there, every section empty or absent.
pub(super) fn empty() -> Summary {
    let none = Share { target: 0.0, achieved: None };
    let fidelity = Fidelity {
        operations: 0,
        download_share: none,
        error_share: none,
        extras: Default::default(),
        kinds: Default::default(),
        size_bands: Default::default(),
        download_share_error: None,
        error_share_error: None,
        extras_share_error: None,
        kind_share_error: None,
        size_band_error: None,
        no_object: 0,
    };
    Summary {
        schema_version: crate::model::summary::SCHEMA_VERSION,
        trafficgen_version: "0.1.0".into(),
        run_id: None,
        profile_digest: "sha256:00".into(),
        selection: Selection { users: None, shards: None, rate_scale: 1.0, time_scale: 1.0, max_file_size: None },
        seed: 0,
        client: ClientInfo { flavor: "obsctl".into(), binary: "obsctl".into(), version: "obsctl 0.3.0".into() },
        duration_s: 0.0,
        dispatch_s: 0.0,
        time_scale: 1.0,
        rate_scale: 1.0,
        max_file_size: None,
        sim_start: "2026-11-28T06:00:00Z".into(),
        sim_end: "2026-11-28T06:00:00Z".into(),
        sim_start_unix: 1_795_845_600.0,
        sim_end_unix: 1_795_845_600.0,
        stopped_by: StopCause::Duration,
        target_ops: 0.0,
        achieved_ops: 0,
        target_ops_per_min: 0.0,
        achieved_ops_per_min: 0.0,
        live_objects_at_exit: 0,
        maybe_live_objects_at_exit: 0,
        failure_rate: 0.0,
        ops: Default::default(),
        latency_ms: Default::default(),
        latency_by_size_ms: Default::default(),
        start_lag_ms: Latency::NONE,
        integrity_failures: 0,
        integrity: Default::default(),
        expected_failures: Default::default(),
        fidelity: fidelity.clone(),
        host: HostReport::default(),
        journal_error: None,
        telemetry: None,
        server_metrics: None,
        verdict: None,
        timeline: Vec::new(),
        totals: UserSummary {
            persona: None,
            target_ops: 0.0,
            achieved_ops: 0,
            counters: Counters::default(),
            in_flight: 0,
            fidelity,
        },
        users: Default::default(),
        personas: Default::default(),
        shard: None,
        merged_from: Vec::new(),
        histograms: Histograms::default(),
    }
}

/// `over` laid over `base`: objects key by key, anything else replaced.
fn lay(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => lay(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The typed summary `over` describes, the rest empty; panics if it does not read back.
fn typed(over: Value) -> Summary {
    let mut v = serde_json::to_value(empty()).expect("a summary serializes");
    lay(&mut v, over);
    serde_json::from_value(v).unwrap_or_else(|e| panic!("not a summary: {e}"))
}

/// A latency distribution in milliseconds (no samples when `count` is 0).
fn latency(count: u64, [min, mean, p50, p90, p95, p99, max]: [f64; 7]) -> Value {
    json!({"count": count, "min_ms": min, "mean_ms": mean, "p50_ms": p50, "p90_ms": p90, "p95_ms": p95,
           "p99_ms": p99, "max_ms": max})
}

/// A telemetry reconciliation with these families, every count as given or 0.
fn telemetry(over: Value) -> Value {
    let mut t = json!({
        "client": "obsctl 0.3.0", "children_ended": 0, "children_reported": 0, "lost_exports": 0,
        "children_killed": 0, "late_exports": 0, "peak_live_children": 0, "unattributed_requests": 0,
        "export_requests": 0, "foreign_requests": 0, "foreign_instance_ids": 0, "foreign_ids_capped": false,
        "foreign_examples": [], "dropped_series": 0, "forwarded": 0, "forward_failures": 0, "mismatches": 0,
        "families": {}, "users": {}, "commands": {}, "windows": [], "out_of_contract": []
    });
    lay(&mut t, over);
    t
}
fn point(t: f64, sim: f64, failed: u64, persona: &str) -> Value {
    json!({
        "t_s": t, "interval_s": 60.0, "sim_unix": sim, "started": 12, "ok": 10, "failed": failed,
        "shortfall": 1, "target": 11.5, "scheduled": 10,
        "personas": {"alice-dev": {"target": 6.0, "scheduled": 5}, persona: {"target": 5.5, "scheduled": 5}},
        "failures_by_class": if failed > 0 { json!({"timed_out": failed}) } else { json!({}) },
        "shortfall_by_reason": {"global_cap": 1},
        "latency_ms": {"upload": {"count": 8, "p50_ms": 40.0, "p95_ms": 90.0, "p99_ms": 120.0},
                       "download": {"count": 2, "p50_ms": 20.0, "p95_ms": 25.0, "p99_ms": 30.0}}
    })
}

/// A small summary with every section the page draws or tabulates.
fn summary(persona: &str, threshold: &str) -> Value {
    let start = 1_795_845_600.0; // 2026-11-28 06:00 UTC
    json!({
        "trafficgen_version": "0.1.0", "seed": 7,
        "client": {"flavor": "obsctl", "binary": "obsctl", "version": "obsctl 0.3.0"},
        "duration_s": 180.0, "dispatch_s": 180.0, "time_scale": 60.0, "rate_scale": 1.0,
        "sim_start": "2026-11-28T06:00:00Z", "sim_end": "2026-11-28T09:00:00Z", "sim_start_unix": start,
        "stopped_by": "duration", "target_ops": 34.5, "achieved_ops": 30, "target_ops_per_min": 11.5,
        "achieved_ops_per_min": 10.0, "failure_rate": 0.02, "live_objects_at_exit": 4,
        "ops": {"upload": {"ok": 24, "failed": 1}, "download": {"ok": 6, "failed": 0}},
        "latency_ms": {
            "upload": {"count": 24, "min_ms": 10.0, "mean_ms": 50.0, "p50_ms": 40.0, "p90_ms": 80.0,
                       "p95_ms": 90.0, "p99_ms": 120.0, "max_ms": 130.0},
            "download": {"count": 6, "min_ms": 5.0, "mean_ms": 20.0, "p50_ms": 20.0, "p90_ms": 24.0,
                         "p95_ms": 25.0, "p99_ms": 30.0, "max_ms": 31.0},
            "ls": latency(0, [0.0; 7])
        },
        "fidelity": {
            "operations": 30, "download_share": {"target": 0.2, "achieved": 0.2},
            "error_share": {"target": 0.02, "achieved": null},
            "extras": {"ls": {"target": 0.04, "achieved": 0.0}},
            "kinds": {"code": {"target": 0.6, "achieved": 0.5}, "media": {"target": 0.4, "achieved": 0.5}},
            "size_bands": {"code": [{"target": 0.9, "achieved": 1.0}, {"target": 0.1, "achieved": 0.0}]},
            "download_share_error": 0.0, "kind_share_error": 0.1, "no_object": 0
        },
        "verdict": {
            "result": "FAIL", "passed": false, "exit_code": 3,
            "thresholds": [{"threshold": threshold, "metric": "failure_rate", "value": 0.02, "limit": 0.01,
                            "unit": "ratio", "class": "correctness", "passed": false, "status": "fail"}],
            "integrity": {"mismatch": 0, "phantom_upload": 0},
            "reasons": ["threshold failed: failure_rate<1%"]
        },
        "telemetry": telemetry(json!({
            "client": "obsctl 0.3.0", "children_ended": 30, "children_reported": 30, "mismatches": 1,
            "families": {"obsctl_operations_total": {"expected": 30.0, "reported": 29.0, "diff": -1.0,
                                                      "verdict": "MISMATCH"}},
            "out_of_contract": []
        })),
        "server_metrics": {"url": "http://127.0.0.1:3903/metrics", "commands": 31,
                           "apis": {"PutObject": {"server": 25.0, "server_errors": 0.0, "trafficgen": 25,
                                                  "amplification": 1.0, "per_command": 0.8}}},
        "timeline": [point(60.0, start + 3600.0, 0, persona), point(120.0, start + 7200.0, 2, persona),
                     point(180.0, start + 10_800.0, 0, persona)]
    })
}

/// (id, body) of every chart figure.
fn figures(page: &str) -> Vec<(String, String)> {
    page.split("<figure class=\"chart\" id=\"")
        .skip(1)
        .map(|rest| {
            let (id, body) = rest.split_once('"').unwrap();
            (id.to_string(), body.split("</figure>").next().unwrap().to_string())
        })
        .collect()
}

/// A drawn series: a line of at least two points in a series width, or a bar.
fn has_data(svg: &str) -> bool {
    let line = svg.split("<polyline").skip(1).any(|p| {
        let tag = p.split('>').next().unwrap();
        let points = tag.split("points=\"").nth(1).map_or(0, |s| s.split('"').next().unwrap().split(' ').count());
        tag.contains("stroke-width=\"2\"") && points >= 3
    });
    line || svg.contains("<rect") && svg.contains("fill=\"#1F77B4\"")
}

#[test]
fn every_chart_is_drawn_from_a_small_summary() {
    let page = render(&typed(summary("bob-marketing", "failure_rate<1%"))).unwrap();
    let ids: Vec<String> = figures(&page).into_iter().map(|(id, _)| id).collect();
    for want in [
        "throughput-fleet",
        "throughput-persona-0-alice-dev",
        "throughput-persona-1-bob-marketing",
        "latency-0-download",
        "latency-1-upload",
        "failures",
        "shortfall",
        "mix-operations",
        "mix-kinds",
        "mix-size-bands",
    ] {
        assert!(ids.iter().any(|id| id == want), "{want} not in {ids:?}");
    }
    assert_eq!(ids.len(), 10, "{ids:?}");
    for (id, body) in figures(&page) {
        assert!(body.contains("<svg") && body.contains("<figcaption>"), "{id}");
        assert!(has_data(&body), "{id} draws no series");
    }
    // The failure class and the shortfall reason have lines of their own.
    let (_, failures) = figures(&page).into_iter().find(|(id, _)| id == "failures").unwrap();
    assert!(failures.contains("\ntimed_out\n"), "{failures}");
    // Tables: verdict, integrity, latency, telemetry, server metrics; ticks on the hour.
    for text in ["FAILED (exit code 3)", "obsctl_operations_total", "MISMATCH", "PutObject", "\n07:00\n", "p99"] {
        assert!(page.contains(text), "{text}");
    }
    // Nothing is fetched and nothing runs.
    assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
    assert!(!page.contains("url(") && !page.contains("@import"));
}

#[test]
fn the_page_names_the_host_party_and_each_thresholds_class() {
    let s = json!({
        "ops": {},
        "timeline": [],
        "host": {"saturated_s": 0.0, "other_busy_s": 14.2, "party": "other", "own_cpu_share": 0.12,
            "others": [{"pid": 7, "name": "moto_server", "share": 0.61}],
            "warning": "this machine is saturated by other work"},
        "verdict": {"result": "INCONCLUSIVE", "passed": false, "exit_code": 4, "party": "other",
            "host": "host busy with other work: moto_server 61 %",
            "thresholds": [{"threshold": "shortfall_rate<5%", "metric": "shortfall_rate", "class": "capacity", "value": 0.1667, "limit": 0.05,
                "unit": "ratio", "passed": false, "status": "inconclusive", "reason": "host busy with other work"}],
            "integrity": {}, "reasons": []},
    });
    let page = render(&typed(s)).unwrap();
    for text in [
        "host party",
        "other work took the CPU (14.2 s): moto_server 61%; trafficgen&#39;s own processes 12%",
        "<p class=\"inconclusive\">host busy with other work: moto_server 61 %</p>",
        "<td>capacity</td>",
        "INCONCLUSIVE (host busy with other work)",
    ] {
        assert!(page.contains(text), "{text} not in the page");
    }
}

#[test]
fn clock_labels_of_a_short_span_carry_seconds() {
    let t = 1_764_655_200.0; // 2025-12-02 06:00:00 UTC
    assert_eq!(clock_label(t + 5.0, 20.0), "06:00:05");
    assert_ne!(clock_label(t, 20.0), clock_label(t + 10.0, 20.0), "a 20 s run's ticks differ");
    assert_eq!(clock_label(t + 5.0, 14_400.0), "06:00");
    assert_eq!(clock_label(t, 3.0 * 86_400.0), "12-02 06:00");
}

#[test]
fn the_hourly_windows_mark_the_hour_that_drifted() {
    let mut s = summary("bob-marketing", "failure_rate<1%");
    s["telemetry"]["windows"] = json!([
        {"start_unix": 1_767_258_000, "children_ended": 10, "children_reported": 10, "lost_exports": 0,
         "mismatches": 0, "families": {"uploads_total": {"expected": 10.0, "reported": 10.0, "diff": 0.0,
                                                         "verdict": "match"}}},
        {"start_unix": 1_767_261_600, "children_ended": 20, "children_reported": 20, "lost_exports": 0,
         "mismatches": 1, "families": {"uploads_total": {"expected": 20.0, "reported": 19.0, "diff": -1.0,
                                                         "verdict": "MISMATCH"}}}
    ]);
    let page = render(&typed(s)).unwrap();
    let at = page.find("<table class=\"windows\">").expect("a windows table");
    let t = &page[at..at + page[at..].find("</table>").unwrap()];
    assert!(t.contains("<th>uploads_total</th>"), "{t}");
    let rows: Vec<&str> = t.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "{t}");
    assert!(rows[0].contains("2026-01-01 09:00") && rows[0].contains("10 / 10") && !rows[0].contains("✗"));
    assert!(rows[1].contains("10:00") && rows[1].contains("class=\"fail\" title=\"MISMATCH\">19 / 20 ✗"));
}

#[test]
fn text_from_the_summary_is_escaped() {
    let page = render(&typed(summary("<img src=x onerror=alert(1)>", "failure_rate<1% & \"x\""))).unwrap();
    assert!(!page.contains("<img"), "raw markup from a persona name");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(page.contains("failure_rate&lt;1% &amp; &quot;x&quot;"));
    // Element ids take only safe characters.
    assert!(page.contains("id=\"throughput-persona-0-_img_src_x_onerror_alert_1__\""), "{page}");
}

#[test]
fn missing_sections_say_no_data() {
    let page = render(&typed(json!({"ops": {}, "timeline": []}))).unwrap();
    assert!(figures(&page).is_empty());
    for what in ["verdict: no data", "timeline: no data", "fidelity: no data", "latency: no data"] {
        assert!(page.contains(what), "{what}");
    }
    assert!(!page.contains("Telemetry reconciliation") && !page.contains("Server metrics"));
    assert!(page.ends_with("</html>\n"));
}

#[test]
fn a_timeline_without_personas_or_latency_draws_what_it_has() {
    // Started ops over time, no persona and no command that succeeded: the fleet's
    // throughput, failures and shortfall, and nothing else.
    let at = |t: f64, started: u64, failed: u64| {
        json!({"t_s": t, "interval_s": 60.0, "sim_unix": 1_795_845_600.0 + t * 60.0, "started": started,
               "ok": started - failed, "failed": failed, "shortfall": 0, "target": 0.0, "scheduled": started,
               "personas": {}, "failures_by_class": {}, "shortfall_by_reason": {}, "latency_ms": {}})
    };
    let s = json!({"time_scale": 60.0, "dispatch_s": 120.0, "timeline": [at(60.0, 5, 0), at(120.0, 7, 1)]});
    let page = render(&typed(s)).unwrap();
    let ids: Vec<String> = figures(&page).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["throughput-fleet", "failures", "shortfall"]);
    assert!(page.contains("\nachieved\n") && page.contains("\ntarget\n"), "the target line is always drawn");
}

#[test]
fn the_short_last_interval_joins_the_one_before() {
    let mut s = summary("bob", "x");
    let mut last = point(181.0, 1_795_845_600.0 + 10_860.0, 1, "bob");
    last["interval_s"] = json!(1.0);
    s["timeline"].as_array_mut().unwrap().push(last);
    let tl = Timeline::read(&typed(s));
    assert_eq!(tl.points.len(), 3);
    let p = &tl.points[2];
    assert_eq!((p.interval, p.achieved, p.failed), (61.0, 20.0, 1.0));
    assert_eq!(p.personas["bob"], (11.0, 10.0));
}

#[test]
fn many_personas_chart_the_busiest_and_table_them_all() {
    let mut s = summary("bob", "x");
    for p in s["timeline"].as_array_mut().unwrap() {
        for i in 0..30 {
            p["personas"][format!("p{i:02}")] = json!({"target": f64::from(i), "scheduled": i});
        }
    }
    let page = render(&typed(s)).unwrap();
    let charts = figures(&page).into_iter().filter(|(id, _)| id.starts_with("throughput-persona-")).count();
    assert_eq!(charts, MAX_PERSONA_CHARTS);
    assert!(page.contains("Charts for the 24 busiest of 32 personas"));
    // The quietest (p00 to p07) are in the table only.
    assert!(page.contains("<td>p00</td>") && !page.contains("throughput-persona-0-p00"));
    assert!(page.contains("id=\"throughput-persona-23-p29\""), "the busiest are drawn");
}

#[test]
fn a_millisecond_threshold_shows_its_unit() {
    let mut s = summary("bob", "x");
    s["verdict"]["thresholds"] = json!([{"threshold": "upload.p95<800ms", "metric": "upload.p95", "value": 912.4,
        "limit": 800.0, "unit": "millis", "class": "capacity", "passed": false, "status": "fail"}]);
    let page = render(&typed(s)).unwrap();
    assert!(page.contains("<td>912.4 ms</td><td>800 ms</td>"), "the unit the summary names");
}

#[test]
fn what_is_not_a_summary_never_reaches_the_page() {
    // The page takes a typed summary: what does not read as one is refused by its reader.
    assert!(serde_json::from_value::<Summary>(json!([1, 2])).is_err());
    assert!(serde_json::from_value::<Summary>(json!({"name": "x"})).is_err());
    let mut s = serde_json::to_value(typed(summary("bob", "x"))).unwrap();
    s["verdict"]["exit_code"] = json!("3<script>");
    assert!(serde_json::from_value::<Summary>(s).is_err(), "an exit code that is no number");
}
