//! The HTML report: written by a real run (`--html`) and by `trafficgen report` from the
//! run's summary, self-contained, with every chart drawn; the timeline it is drawn from
//! adds up to the run's totals; and, when Chromium is installed, a real browser renders
//! it to a PNG that is not blank and keeps every chart in its DOM.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `SHORT` with a stats interval a second (a timeline of a few points).
const SHORT_TIMELINE: &[&str] = &["--stats-interval", "1s", "-q"];
const LIMIT: Duration = Duration::from_secs(90);

/// A short run against the fake client with `--html report.html`.
fn run_with_html() -> Sandbox {
    let sb = Sandbox::new(&[]);
    let mut args = SHORT.to_vec();
    args.extend_from_slice(SHORT_TIMELINE);
    args.extend_from_slice(&["--html", "report.html"]);
    let out = run_bounded(sb.cmd(&args), LIMIT);
    // 0, 3 from the shipped profile's thresholds on a noisy 4 s run, or 4 when its
    // misses are within chance at this size; never integrity.
    assert!(matches!(out.status.code(), Some(0) | Some(3) | Some(4)), "{}", stderr(&out));
    assert_eq!(sb.summary()["integrity_failures"], 0);
    sb
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

/// A series drawn in the chart: a line of two points or more, or a bar.
fn draws_data(svg: &str) -> bool {
    let line = svg.split("<polyline").skip(1).any(|p| {
        let tag = p.split('>').next().unwrap();
        let points = tag.split("points=\"").nth(1).map_or(0, |s| s.split_whitespace().count());
        tag.contains("stroke-width=\"2\"") && points >= 2
    });
    line || svg.contains("<rect") && svg.contains("fill=\"#1F77B4\"")
}

/// Nothing the page would fetch or run: no scripts, no linked resources.
fn assert_self_contained(page: &str) {
    let lower = page.to_lowercase();
    for bad in ["<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "<object", "<embed"] {
        assert!(!lower.contains(bad), "the page has {bad:?}");
    }
    // The only address is the SVG namespace, which names and fetches nothing.
    let addresses = lower.matches("http://").count() + lower.matches("https://").count();
    let namespaces = lower.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(addresses, namespaces, "addresses besides the SVG namespace");
}

/// The page without its SVG bodies (the text, tables and figure ids).
fn without_svg(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(i) = rest.find("<svg") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find("</svg>").expect("closed svg") + i + "</svg>".len();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_run_writes_a_self_contained_report_and_the_report_command_makes_the_same_from_its_summary() {
    let sb = run_with_html();
    let s = sb.summary();

    // The timeline adds up to the run: each count is the interval's own.
    let tl = s["timeline"].as_array().unwrap();
    assert!(tl.len() >= 4, "one point a second of a 4 s run: {}", tl.len());
    let sum = |key: &str| tl.iter().map(|p| f(&p[key])).sum::<f64>();
    assert_eq!(sum("scheduled"), f(&s["achieved_ops"]));
    assert!((sum("target") - f(&s["target_ops"])).abs() < 0.5, "{} vs {}", sum("target"), s["target_ops"]);
    let t = &s["totals"];
    assert_eq!(sum("started"), f(&t["started"]) + f(&t["started_deletes"]));
    assert_eq!(sum("failed"), f(&t["failures"]));
    let (sim_start, sim_end) = (f(&s["sim_start_unix"]), f(&s["sim_end_unix"]));
    for p in tl {
        let sim = f(&p["sim_unix"]);
        assert!(sim > sim_start && sim <= sim_end + 7200.0, "{p}");
        // Ten personas (the shipped profile's users), each with its share of the interval.
        let personas = p["personas"].as_object().unwrap();
        assert_eq!(personas.len(), 10, "{p}");
        let scheduled: f64 = personas.values().map(|v| f(&v["scheduled"])).sum();
        assert_eq!(scheduled, f(&p["scheduled"]), "{p}");
        let target: f64 = personas.values().map(|v| f(&v["target"])).sum();
        assert!((target - f(&p["target"])).abs() < 0.01, "{p}");
    }
    for (op, l) in s["latency_ms"].as_object().unwrap() {
        let counted: f64 = tl.iter().filter_map(|p| p["latency_ms"][op]["count"].as_f64()).sum();
        assert_eq!(counted, f(&l["count"]), "{op}: the intervals' latency counts add up");
    }

    // The page: self-contained, every chart drawn.
    let page = std::fs::read_to_string(sb.path("report.html")).expect("report.html written");
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
    assert_self_contained(&page);
    let figs = figures(&page);
    let ids: Vec<&str> = figs.iter().map(|(id, _)| id.as_str()).collect();
    for want in ["throughput-fleet", "failures", "shortfall", "mix-operations", "mix-kinds", "mix-size-bands"] {
        assert!(ids.contains(&want), "{want} not in {ids:?}");
    }
    assert_eq!(ids.iter().filter(|id| id.starts_with("throughput-persona-")).count(), 10, "{ids:?}");
    assert!(ids.contains(&"latency-0-confirm_upload") || ids.iter().any(|id| id.ends_with("-upload")), "{ids:?}");
    for (id, body) in &figs {
        assert!(body.contains("<svg") && body.contains("<figcaption>"), "{id}");
        assert!(draws_data(body), "{id} draws no series");
    }
    assert!(
        page.contains("PASSED") || page.contains("FAILED") || page.contains("INCONCLUSIVE"),
        "the verdict is on the page"
    );

    // `trafficgen report` on the saved summary: the same page (its charts may differ in
    // the last digit of a coordinate, as the JSON file holds rounded floats).
    let out = run_bounded(sb.cmd(&["report", "summary.json", "--html", "again.html"]), LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = std::fs::read_to_string(sb.path("again.html")).unwrap();
    assert_eq!(without_svg(&again), without_svg(&page));
    let again_figs = figures(&again);
    assert_eq!(again_figs.len(), figs.len());
    for ((id, a), (id2, b)) in figs.iter().zip(&again_figs) {
        assert_eq!(id, id2);
        assert_eq!(a.matches("<polyline").count(), b.matches("<polyline").count(), "{id}");
    }
}

#[test]
fn the_report_command_refuses_bad_input_and_bad_paths_naming_them() {
    let sb = Sandbox::new(&[]);
    std::fs::write(sb.path("broken.json"), "{\"ops\": ").unwrap();
    std::fs::write(sb.path("other.json"), "{\"name\": \"not a summary\"}").unwrap();
    // A whole summary (report reads only those) with nothing in it: no ops, no timeline.
    let mut empty: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("tests/fixtures/summary-v1.json")).unwrap()).unwrap();
    empty["ops"] = serde_json::json!({});
    empty["timeline"] = serde_json::json!([]);
    std::fs::write(sb.path("ok.json"), empty.to_string()).unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["report", "missing.json", "--html", "r.html"], "cannot read missing.json"),
        (&["report", "broken.json", "--html", "r.html"], "broken.json is not valid JSON"),
        (&["report", "other.json", "--html", "r.html"], "other.json: this is not a trafficgen summary"),
        (&["report", "ok.json", "--html", "no/such/dir/r.html"], "--html no/such/dir/r.html"),
        (&["report", "ok.json"], "--html"),
    ];
    for (args, message) in cases {
        let out = run_bounded(sb.cmd(args), LIMIT);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    // A summary with nothing in it still makes a page, that says so.
    let out = run_bounded(sb.cmd(&["report", "ok.json", "--html", "r.html"]), LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read_to_string(sb.path("r.html")).unwrap().contains("no data"));
    // A run refuses an HTML path it could not write before any traffic.
    let out = run_bounded(sb.cmd(&["--duration", "1m", "--html", "no/such/dir/r.html"]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--html no/such/dir/r.html: the directory"), "{}", stderr(&out));
    assert!(sb.calls().is_empty(), "the client ran: {:?}", sb.calls());
}

/// Chromium on PATH, or None with a SKIP line (a failure when it is required).
fn chromium() -> Option<String> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|name| {
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
    });
    if found.is_none() {
        assert!(
            std::env::var("TRAFFICGEN_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "TRAFFICGEN_REQUIRE_CHROMIUM=1 but neither chromium nor chromium-browser is on PATH"
        );
        println!("SKIP: the HTML report's browser test (no chromium or chromium-browser on PATH)");
    }
    found.map(String::from)
}

/// Runs headless Chromium on `page` with `args`; kills its whole process group if it
/// hangs. Returns stdout.
fn headless(browser: &str, profile: &Path, page: &Path, args: &[&str]) -> String {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(browser);
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd.spawn().expect("chromium starts");
    // Both pipes are drained while it runs: a DOM dump is larger than a pipe holds.
    let out = wait_bounded_with(child, Duration::from_secs(60), |c| {
        // SAFETY: signals the process group this test started (its own pid).
        unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) };
    });
    assert!(out.status.success(), "chromium {args:?} exited {}: {}", out.status, stderr(&out));
    stdout(&out)
}

/// (width, height, pixels that are not near-white) of a PNG.
fn png_ink(path: &Path) -> (u32, u32, u64) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let samples = info.color_type.samples();
    let mut ink = 0;
    for row in buf[..info.line_size * info.height as usize].chunks(info.line_size) {
        for px in row[..info.width as usize * samples].chunks(samples) {
            let color = if samples >= 3 { &px[..3] } else { &px[..1] };
            if color.iter().any(|c| *c < 200) {
                ink += 1;
            }
        }
    }
    (info.width, info.height, ink)
}

#[test]
fn a_real_browser_renders_the_report_with_its_charts() {
    let Some(browser) = chromium() else { return };
    let sb = run_with_html();
    let page = sb.path("report.html");
    let charts = figures(&std::fs::read_to_string(&page).unwrap()).len();
    let profile = sb.path("chromium-profile");

    let png = sb.path("report.png");
    headless(
        &browser,
        &profile,
        &page,
        &[&format!("--screenshot={}", png.display()), "--window-size=1280,4000", "--virtual-time-budget=5000"],
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let (w, h, ink) = png_ink(&png);
    assert_eq!((w, h), (1280, 4000));
    // Dark pixels: none on a blank page, about 0.4% on the page of an empty summary (text
    // only), about 3% with a 4 s run's 20 charts.
    let share = ink as f64 / f64::from(w * h);
    assert!(share > 0.01, "{ink} dark pixels of {} ({:.3}%): a blank page?", w * h, share * 100.0);

    // The parsed DOM keeps every chart, each with its SVG.
    let dom = headless(&browser, &profile, &page, &["--dump-dom", "--virtual-time-budget=5000"]);
    assert_eq!(dom.matches("<figure class=\"chart\"").count(), charts, "{}", &dom[..dom.len().min(2000)]);
    assert!(dom.matches("<svg").count() >= charts);
    println!("chromium rendered {charts} charts; {:.1}% of the screenshot is ink", share * 100.0);
}
