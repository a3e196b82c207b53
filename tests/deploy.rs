//! The deployment files in scripts/deploy: the Kubernetes manifests pass the Kubernetes
//! schemas offline (scripts/deploy/validate, kubernetes-validate from the venv) and the
//! validator rejects broken copies; the Job makes N distinct shards; the Job's and the
//! systemd unit's command lines run (against the fake client); the unit passes
//! `systemd-analyze verify`; the Dockerfile copies only what its context sends.
//! Without the validator in the venv the Kubernetes tests print a SKIP line, unless
//! TRAFFICGEN_REQUIRE_S3 is set (scripts/test, CI); without systemd-analyze the unit's
//! verification prints one.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn deploy() -> PathBuf {
    repo().join("scripts/deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// True when the venv's python has kubernetes-validate; else a SKIP line, or a panic
/// under TRAFFICGEN_REQUIRE_S3.
fn validator(test: &str) -> bool {
    let py = s3::venv().join("bin/python");
    let usable = py.exists() && {
        let mut c = Command::new(&py);
        c.args(["-c", "import kubernetes_validate, yaml"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        run_bounded(c, Duration::from_secs(30)).status.success()
    };
    if usable {
        return true;
    }
    if std::env::var_os("TRAFFICGEN_REQUIRE_S3").is_some() {
        panic!("{test}: kubernetes-validate is not in {}; run scripts/local-s3 install", s3::venv().display());
    }
    eprintln!("SKIP {test}: kubernetes-validate is not in {} (scripts/local-s3 install)", s3::venv().display());
    false
}

fn validate(args: &[&str]) -> Output {
    let mut c = Command::new(deploy().join("validate"));
    c.args(args).env("TRAFFICGEN_VENV", s3::venv()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    run_bounded(c, LIMIT)
}

/// A copy of scripts/deploy/kubernetes with (file, from, to) edits; each `from` must occur.
fn broken_copy(edits: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("tg-k8s-").tempdir().unwrap();
    for e in std::fs::read_dir(deploy().join("kubernetes")).unwrap().flatten() {
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    for (file, from, to) in edits {
        let path = dir.path().join(file);
        let text = read(&path);
        assert!(text.contains(from), "{from:?} not in {file}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
    dir
}

/// Runs the validator on a broken copy: it must fail, with `expected` in its errors.
fn rejects(edits: &[(&str, &str, &str)], expected: &str) {
    let dir = broken_copy(edits);
    let out = validate(&[dir.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "accepted {edits:?}\nstdout:\n{}\nstderr:\n{err}", stdout(&out));
    assert!(err.contains(expected), "{edits:?}: expected {expected:?} in:\n{err}");
}

fn rendered() -> Vec<Value> {
    let out = validate(&["--render-json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} rendered"))
}

fn env_var<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("env {name} not set in {container}"))
}

#[test]
fn kubernetes_manifests_pass_the_schemas_offline_in_strict_mode() {
    if !validator("kubernetes_manifests_pass_the_schemas_offline_in_strict_mode") {
        return;
    }
    let out = validate(&[]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "stdout:\n{o}\nstderr:\n{e}");
    for resource in [
        "Job/trafficgen",
        "ConfigMap/trafficgen-profile",
        "ConfigMap/trafficgen-params",
        "PersistentVolumeClaim/trafficgen-results",
        "Secret/trafficgen-s3",
        "Pod/trafficgen-collect",
    ] {
        assert!(o.contains(&format!("ok {resource} (")), "{resource} not validated:\n{o}");
    }
    assert!(o.contains("strict, Kubernetes 1.33, 1.37"), "{o}");
    // Where kubectl is installed, the renderer is checked against kustomize itself.
    if which("kubectl").is_some() {
        assert!(o.contains("ok kubectl kustomize renders the same manifests"), "{o}");
    } else {
        eprintln!("SKIP the comparison with kubectl kustomize: kubectl is not installed");
    }
}

#[test]
fn the_validator_rejects_manifests_the_api_server_would_refuse() {
    if !validator("the_validator_rejects_manifests_the_api_server_would_refuse") {
        return;
    }
    // A number written as a string.
    rejects(
        &[("job.yaml", "  completions: 1\n", "  completions: \"1\"\n")],
        "spec.completions: '2' is not of type 'integer'",
    );
    // A misspelled field: only strict mode refuses unknown fields.
    rejects(
        &[("job.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true")],
        "'readOnlyRootFileSystem' was unexpected",
    );
    // A required field missing (onPodConditions needs its status).
    rejects(&[("job.yaml", "            status: \"True\"\n", "")], "'status' is a required property");
    // The files outside the kustomization are checked too.
    rejects(&[("secret.example.yaml", "stringData:", "stringdata:")], "'stringdata' was unexpected");
    rejects(&[("collect.yaml", "readOnly: true", "readonly: true")], "'readonly' was unexpected");
}

#[test]
fn the_validator_rejects_a_job_that_does_not_make_n_distinct_shards() {
    if !validator("the_validator_rejects_a_job_that_does_not_make_n_distinct_shards") {
        return;
    }
    // parallelism no longer follows TRAFFICGEN_SHARDS.
    rejects(
        &[("kustomization.yaml", "          - spec.parallelism\n", "")],
        "TRAFFICGEN_SHARDS (2), completions (2) and parallelism (1) must be the same N",
    );
    // Every pod would run the same share.
    rejects(
        &[("job.yaml", "            - --quiet\n", "            - --quiet\n            - --shard=0/2\n")],
        "--shard 0/2",
    );
    // Every pod would write the same summary.
    rejects(
        &[(
            "job.yaml",
            "--summary-json=/results/summary-$(JOB_COMPLETION_INDEX).json",
            "--summary-json=/results/summary.json",
        )],
        "--summary-json /results/summary.json does not contain $(JOB_COMPLETION_INDEX)",
    );
    // A 48 h run under a 25 h deadline.
    rejects(
        &[("kustomization.yaml", "TRAFFICGEN_DURATION=24h", "TRAFFICGEN_DURATION=48h")],
        "activeDeadlineSeconds (90000) must exceed the duration (172800 s)",
    );
    // SIGKILL before trafficgen's own 30 s grace period is over.
    rejects(
        &[("job.yaml", "terminationGracePeriodSeconds: 90", "terminationGracePeriodSeconds: 30")],
        "terminationGracePeriodSeconds (30) must leave trafficgen its grace period (30 s)",
    );
    // Not an Indexed Job: no JOB_COMPLETION_INDEX.
    rejects(&[("job.yaml", "completionMode: Indexed", "completionMode: NonIndexed")], "completionMode must be Indexed");
    // Something kustomize would do that the renderer does not: refused, not ignored.
    rejects(&[("kustomization.yaml", "resources:", "namePrefix: x-\nresources:")], "namePrefix not supported");
}

/// Read independently of the validator's own checks: the rendered Job, parsed here.
#[test]
fn the_job_runs_n_shards_of_the_profile_with_credentials_from_the_secret() {
    if !validator("the_job_runs_n_shards_of_the_profile_with_credentials_from_the_secret") {
        return;
    }
    let docs = rendered();
    let params = &find(&docs, "ConfigMap", "trafficgen-params")["data"];
    let job = find(&docs, "Job", "trafficgen");
    let spec = &job["spec"];
    let n: u64 = params["TRAFFICGEN_SHARDS"].as_str().unwrap().parse().unwrap();
    assert!(n >= 1);
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], n, "{spec}");
    assert_eq!(spec["parallelism"], n, "{spec}");
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
    assert!(spec["backoffLimit"].as_u64().is_some() && spec["backoffLimitPerIndex"].as_u64().is_some(), "{spec}");
    let c = &spec["template"]["spec"]["containers"][0];
    assert_eq!(c["name"], "trafficgen");
    assert_eq!(
        env_var(c, "JOB_COMPLETION_INDEX")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let shards = &env_var(c, "TRAFFICGEN_SHARDS")["valueFrom"]["configMapKeyRef"];
    assert_eq!(
        (&shards["name"], &shards["key"]),
        (&Value::from("trafficgen-params"), &Value::from("TRAFFICGEN_SHARDS"))
    );
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(!args.iter().any(|a| a.starts_with("--shard")), "the index and count come from the environment: {args:?}");
    for flag in ["--summary-json=", "--junit=", "--log-file="] {
        let a = args.iter().find(|a| a.starts_with(flag)).unwrap_or_else(|| panic!("{flag} in {args:?}"));
        assert!(a.starts_with(&format!("{flag}/results/")) && a.contains("$(JOB_COMPLETION_INDEX)"), "{a}");
    }
    // Credentials: from the Secret, never in a ConfigMap.
    for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert_eq!(env_var(c, key)["valueFrom"]["secretKeyRef"]["name"], "trafficgen-s3");
    }
    for cm in docs.iter().filter(|d| d["kind"] == "ConfigMap") {
        let text = cm["data"].to_string();
        assert!(!text.contains("AWS_SECRET_ACCESS_KEY="), "a credential in {}", cm["metadata"]["name"]);
    }
    assert!(!docs.iter().any(|d| d["kind"] == "Secret"), "apply -k must not overwrite the real Secret");
}

/// The edits the Kubernetes profile makes to the shipped one; anything else is drift.
const KUBERNETES_PROFILE_EDITS: &[(&str, &str)] = &[
    (
        "# trafficgen profile: the ten default users of the obsctl traffic generator.\n",
        "# trafficgen profile for scripts/deploy/kubernetes: the shipped profiles.toml, except that\n\
         # obsctl's OTLP endpoint comes from the pod's environment (trafficgen-params).\n\
         # tests/deploy.rs keeps the two in step.\n",
    ),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT = \"http://127.0.0.1:4317\"",
        "OTEL_EXPORTER_OTLP_ENDPOINT = \"${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:4317}\"",
    ),
];

#[test]
fn the_kubernetes_profile_is_the_shipped_one_with_its_edits_and_checks() {
    let ours = read(&deploy().join("kubernetes/profiles.toml"));
    let expected = edit_profile(&shipped_profile(), KUBERNETES_PROFILE_EDITS);
    assert!(
        ours == expected,
        "scripts/deploy/kubernetes/profiles.toml drifted from profiles.toml: make it profiles.toml with the edits in \
         tests/deploy.rs (KUBERNETES_PROFILE_EDITS)"
    );
    let mut c = Command::new(bin());
    c.args(["check", "--profiles"])
        .arg(deploy().join("kubernetes/profiles.toml"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.monitoring:4317")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_bounded(c, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Runs `args` (a deployment's command line) with its paths moved into `sb` by
/// `paths` (prefix, replacement), the fake client, and a short, time-warped run.
fn run_command_line(sb: &Sandbox, args: &[String], paths: &[(&str, PathBuf)], env: &[(&str, &str)]) -> Output {
    let mut mapped = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        // `--flag=value` and `--flag value` alike.
        let (flag, value) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None if a.starts_with("--") && it.peek().is_some_and(|n| !n.starts_with("--")) => {
                (a.clone(), it.next().cloned())
            }
            None => (a.clone(), None),
        };
        mapped.push(flag.clone());
        let Some(mut v) = value else { continue };
        if flag == "--duration" {
            v = "8h".into(); // 4 s at the time scale below
        } else if flag == "--obsctl" {
            v = fake_obsctl().to_string_lossy().into_owned();
        } else if flag == "--endpoint" {
            v = "http://127.0.0.1:9".into();
        } else if let Some((prefix, to)) = paths.iter().find(|(p, _)| v == *p || v.starts_with(&format!("{p}/"))) {
            v = format!("{}{}", to.display(), &v[prefix.len()..]);
        }
        mapped.push(v);
    }
    let mut c = Command::new(bin());
    c.args(&mapped)
        .args(["--time-scale", "7200", "--start-at", "06:00", "--rate-scale", "0.5", "--max-file-size", "16KiB"])
        .args(["--seed", "7"])
        .current_dir(sb.dir.path())
        .env("FAKE_S3_DIR", sb.path("store"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("TRAFFICGEN_SHARDS")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_bounded(c, LIMIT)
}

/// A run that went to its end: 0, or 3 from the shipped thresholds (a 4 s run's
/// achieved ratio is noisy), never an integrity failure; its summary is `summary`.
fn finished(out: &Output, summary: &Path) -> Value {
    assert!(matches!(out.status.code(), Some(0) | Some(3) | Some(4)), "{}", stderr(out));
    let s: Value = serde_json::from_str(&read(summary)).unwrap();
    assert_eq!(s["integrity_failures"], 0, "{}", s["verdict"]);
    assert!(s["totals"]["uploads"].as_u64().unwrap() > 0, "{s}");
    s
}

fn has_log(dir: &Path, prefix: &str) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        n.starts_with(prefix) && n.ends_with(".log")
    })
}

#[test]
fn the_jobs_command_line_runs_and_writes_the_files_of_its_index() {
    if !validator("the_jobs_command_line_runs_and_writes_the_files_of_its_index") {
        return;
    }
    let docs = rendered();
    let params = &find(&docs, "ConfigMap", "trafficgen-params")["data"];
    let profile = find(&docs, "ConfigMap", "trafficgen-profile")["data"]["profiles.toml"].as_str().unwrap();
    let c = &find(&docs, "Job", "trafficgen")["spec"]["template"]["spec"]["containers"][0];
    // Kubernetes expands $(VAR) from the container's environment: pod 1 of the Job.
    let index = "1";
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut a = a.as_str().unwrap().replace("$(JOB_COMPLETION_INDEX)", index);
            for key in ["TRAFFICGEN_DURATION", "S3_ENDPOINT"] {
                a = a.replace(&format!("$({key})"), params[key].as_str().unwrap());
            }
            assert!(!a.contains("$("), "an argument the pod cannot expand: {a}");
            a
        })
        .collect();
    let sb = Sandbox::with_profile(profile);
    for d in ["results", "state"] {
        std::fs::create_dir_all(sb.path(d)).unwrap();
    }
    let paths = [
        ("/etc/trafficgen/profiles.toml", sb.path("profiles.toml")),
        ("/results", sb.path("results")),
        ("/var/lib/trafficgen", sb.path("state")),
        ("/tmp", sb.path("temp")),
    ];
    let shards = params["TRAFFICGEN_SHARDS"].as_str().unwrap();
    let out = run_command_line(&sb, &args, &paths, &[("JOB_COMPLETION_INDEX", index), ("TRAFFICGEN_SHARDS", shards)]);
    finished(&out, &sb.path("results/summary-1.json"));
    assert!(read(&sb.path("results/junit-1.xml")).contains("<testsuite"), "junit-1.xml");
    assert!(has_log(&sb.path("results"), "trafficgen-1"), "no trafficgen-1*.log in results");
}

/// The unit's ExecStart= as arguments (continuation lines joined).
fn unit_exec_start(unit: &str) -> Vec<String> {
    let joined = unit.replace("\\\n", " ");
    let line = joined.lines().find(|l| l.starts_with("ExecStart=")).expect("ExecStart=");
    line["ExecStart=".len()..].split_whitespace().map(String::from).collect()
}

fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    unit.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{key}= not in the unit"))
}

#[test]
fn the_units_command_line_runs_and_writes_its_summary_where_the_unit_says() {
    let unit = read(&deploy().join("trafficgen.service"));
    let exec = unit_exec_start(&unit);
    assert_eq!(exec[0], "/usr/local/bin/trafficgen");
    let sb = Sandbox::new(&[]);
    for d in ["state", "logs"] {
        std::fs::create_dir_all(sb.path(d)).unwrap();
    }
    let paths = [
        ("/etc/trafficgen/profiles.toml", sb.path("profiles.toml")),
        ("/var/lib/trafficgen", sb.path("state")),
        ("/var/log/trafficgen", sb.path("logs")),
        ("/var/tmp", sb.path("temp")),
    ];
    let out = run_command_line(&sb, &exec[1..], &paths, &[]);
    finished(&out, &sb.path("logs/summary.json"));
    assert!(read(&sb.path("logs/junit.xml")).contains("<testsuite"), "junit.xml");
    assert!(read(&sb.path("logs/report.html")).contains("<figure class=\"chart\""), "report.html");
    assert!(has_log(&sb.path("logs"), "trafficgen"), "no trafficgen*.log in the logs directory");
    // The files are where the unit's directories are.
    assert_eq!(unit_value(&unit, "StateDirectory"), "trafficgen");
    assert_eq!(unit_value(&unit, "LogsDirectory"), "trafficgen");
}

#[test]
fn the_unit_stops_cleanly_and_does_not_restart_a_finished_run() {
    let unit = read(&deploy().join("trafficgen.service"));
    assert_eq!(unit_value(&unit, "Restart"), "on-failure");
    let prevent: Vec<&str> = unit_value(&unit, "RestartPreventExitStatus").split_whitespace().collect();
    for code in ["2", "3", "4"] {
        assert!(prevent.contains(&code), "exit {code} must not restart: {prevent:?}");
    }
    assert!(!prevent.contains(&"1"), "exit 1 (the run could not proceed) is the one worth retrying");
    assert_eq!(unit_value(&unit, "KillSignal"), "SIGTERM");
    // SIGTERM to trafficgen alone, so in-flight children get the grace period.
    assert_eq!(unit_value(&unit, "KillMode"), "mixed");
    let stop = humantime::parse_duration(unit_value(&unit, "TimeoutStopSec")).unwrap();
    let profile = shipped_profile();
    let grace = profile.lines().find_map(|l| l.strip_prefix("grace_period = ")).unwrap();
    let grace = humantime::parse_duration(grace.split('"').nth(1).unwrap()).unwrap();
    assert!(stop >= grace + Duration::from_secs(30), "TimeoutStopSec {stop:?} vs grace period {grace:?}");
}

/// `systemd-analyze verify` on `unit` (its ExecStart pointed at this build: verify
/// insists the program exists); Some(warnings) or None with a SKIP line.
fn systemd_verify(test: &str, unit: &str) -> Option<String> {
    let Some(tool) = which("systemd-analyze") else {
        eprintln!("SKIP {test}: systemd-analyze is not installed");
        return None;
    };
    let dir = tempfile::Builder::new().prefix("tg-unit-").tempdir().unwrap();
    let path = dir.path().join("trafficgen.service");
    let unit = unit.replacen("ExecStart=/usr/local/bin/trafficgen", &format!("ExecStart={}", bin().display()), 1);
    std::fs::write(&path, unit).unwrap();
    let mut c = Command::new(tool);
    c.arg("verify").arg(&path).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = run_bounded(c, LIMIT);
    Some(
        format!("{}{}", stdout(&out), stderr(&out)).trim().to_string()
            + if out.status.success() { "" } else { "\n(failed)" },
    )
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

#[test]
fn the_unit_passes_systemd_analyze_verify_and_a_misspelled_key_does_not() {
    let test = "the_unit_passes_systemd_analyze_verify_and_a_misspelled_key_does_not";
    let unit = read(&deploy().join("trafficgen.service"));
    let Some(report) = systemd_verify(test, &unit) else { return };
    // verify exits 0 on unknown keys and bad values; its warnings are the verdict.
    assert_eq!(report, "", "systemd-analyze verify:\n{report}");
    let typo = systemd_verify(test, &unit.replacen("\nKillMode=mixed", "\nKillMod=mixed", 1)).unwrap();
    assert!(typo.contains("Unknown key 'KillMod'"), "{typo}");
    let bad = systemd_verify(test, &unit.replacen("\nRestart=on-failure", "\nRestart=sometimes", 1)).unwrap();
    assert!(bad.contains("Failed to parse service restart specifier"), "{bad}");
}

#[test]
fn the_dockerfile_copies_only_what_its_context_sends() {
    let dockerfile = read(&deploy().join("Dockerfile"));
    let ignore = read(&deploy().join("Dockerfile.dockerignore"));
    let allowed: Vec<&str> = ignore.lines().filter_map(|l| l.strip_prefix('!')).collect();
    assert!(ignore.lines().any(|l| l.trim() == "*"), "the ignore file must start from nothing");
    let mut sources = 0;
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ")) {
        let words: Vec<&str> = line.split_whitespace().skip(1).filter(|w| !w.starts_with("--chmod")).collect();
        if words[0].starts_with("--from=") {
            continue;
        }
        for src in &words[..words.len() - 1] {
            assert!(repo().join(src).exists(), "COPY {src}: not in the repository");
            assert!(allowed.contains(src), "COPY {src}: not sent by Dockerfile.dockerignore ({allowed:?})");
            sources += 1;
        }
    }
    assert!(sources >= 4, "{dockerfile}");
    // obsctl comes from the user, never from the repository or a download.
    assert!(dockerfile.contains("COPY --from=obsctl"), "obsctl from the named build context");
    assert!(!dockerfile.contains("curl") && !dockerfile.contains("wget") && !dockerfile.contains("git clone"));
}
