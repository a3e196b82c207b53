//! The summary's shape, held to what is written down: the checked-in JSON Schema
//! (docs/summary.schema.json) is the one the types generate, a real run's summary (and a
//! merge of it) validates against it and reads back whole, and a summary of another
//! schema version is refused by every reader, naming both versions.

mod common;

// The plain-data layer itself, so a real summary is read by the very types the binary
// reads it with (it imports nothing else of the crate: tests/layering.rs).
#[allow(dead_code, unused_imports)]
#[path = "../src/model/mod.rs"]
mod model;

use common::*;
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);
const SCHEMA: &str = "docs/summary.schema.json";
/// `ab --summary-json`'s document (a real one is validated and read back by tests/ab.rs).
const AB_SCHEMA: &str = "docs/ab-summary.schema.json";

fn generated_schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(model::summary::Summary)).unwrap() + "\n"
}

fn generated_ab_schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(model::ab::AbSummary)).unwrap() + "\n"
}

/// Regenerate with `TRAFFICGEN_WRITE_SCHEMA=1 cargo test --test schema`.
#[test]
fn the_checked_in_schema_is_the_one_the_types_generate() {
    let path = repo().join(SCHEMA);
    let generated = generated_schema();
    if std::env::var_os("TRAFFICGEN_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{SCHEMA} differs from the types; regenerate it: TRAFFICGEN_WRITE_SCHEMA=1 cargo test --test schema"
    );
}

/// Regenerate with `TRAFFICGEN_WRITE_SCHEMA=1 cargo test --test schema`.
#[test]
fn the_checked_in_ab_schema_is_the_one_the_types_generate() {
    let path = repo().join(AB_SCHEMA);
    let generated = generated_ab_schema();
    if std::env::var_os("TRAFFICGEN_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{AB_SCHEMA} differs from the types; regenerate it: TRAFFICGEN_WRITE_SCHEMA=1 cargo test --test schema"
    );
}

/// `text` is valid against the checked-in schema, and reads back typed into the same JSON.
fn holds(name: &str, text: &str) {
    let v: Value = serde_json::from_str(text).unwrap();
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(repo().join(SCHEMA)).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{name} does not match {SCHEMA}:\n{}", errors.join("\n"));
    let typed = model::summary::from_json(text).unwrap_or_else(|e| panic!("{}", e.describe(name)));
    assert_eq!(typed.schema_version, model::summary::SCHEMA_VERSION);
    // Every field written is read back: nothing dropped, nothing added, nothing changed.
    assert_eq!(serde_json::to_value(&typed).unwrap(), v, "{name} changed on its way through the types");
}

#[test]
fn a_real_runs_summary_and_its_merge_match_the_schema_and_read_back_whole() {
    let sb = Sandbox::new(&[]);
    let mut args = SHORT.to_vec();
    args.extend_from_slice(&["--stats-interval", "1s", "-q"]);
    let mut cmd = sb.cmd(&args);
    // Failures too, so the failure, integrity and verdict sections carry something.
    cmd.env("FAKE_OBSCTL_FAIL_PCT", "10");
    let out = run_bounded(cmd, LIMIT);
    assert!(matches!(out.status.code(), Some(0) | Some(3) | Some(4)), "{}", stderr(&out));
    let text = std::fs::read_to_string(sb.path("summary.json")).unwrap();
    holds("summary.json", &text);

    let out = run_bounded(sb.cmd(&["merge", "summary.json", "--summary-json", "merged.json"]), LIMIT);
    assert!(matches!(out.status.code(), Some(0) | Some(3) | Some(4)), "{}", stderr(&out));
    holds("merged.json", &std::fs::read_to_string(sb.path("merged.json")).unwrap());

    // The summary the other tests build on is a real run's, and still of this version.
    holds("tests/fixtures/summary-v1.json", &fixture());
}

fn fixture() -> String {
    std::fs::read_to_string(repo().join("tests/fixtures/summary-v1.json")).unwrap()
}

#[test]
fn a_summary_of_another_schema_version_is_refused_by_merge_compare_and_report() {
    let sb = Sandbox::new(&[]);
    let mut newer: Value = serde_json::from_str(&fixture()).unwrap();
    newer["schema_version"] = Value::from(2);
    // A newer schema may rename anything: the version is what it is judged by.
    newer.as_object_mut().unwrap().remove("ops");
    std::fs::write(sb.path("newer.json"), newer.to_string()).unwrap();
    let mut older: Value = serde_json::from_str(&fixture()).unwrap();
    older.as_object_mut().unwrap().remove("schema_version");
    std::fs::write(sb.path("older.json"), older.to_string()).unwrap();
    std::fs::write(sb.path("ok.json"), fixture()).unwrap();
    for (file, said) in [("newer.json", "schema version 2"), ("older.json", "schema version none")] {
        for args in [
            &["merge", file][..],
            &["compare", "ok.json", file],
            &["compare", file, "ok.json"],
            &["report", file, "--html", "r.html"],
        ] {
            let out = run_bounded(sb.cmd(args), LIMIT);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(file) && err.contains(said) && err.contains("reads version 1"), "{args:?}: {err}");
            assert!(!sb.path("r.html").exists());
        }
    }
    // Of this version but with a field of the wrong type: refused, naming the field.
    let mut wrong: Value = serde_json::from_str(&fixture()).unwrap();
    wrong["seed"] = Value::from("seven");
    std::fs::write(sb.path("wrong.json"), wrong.to_string()).unwrap();
    let out = run_bounded(sb.cmd(&["compare", "ok.json", "wrong.json"]), LIMIT);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("wrong.json is not a valid version-1 summary: seed: invalid type"), "{err}");
}
