//! The release jobs of docs/deployment.md ("Smoke run for obsctl releases"), read from
//! the page's YAML and run as written: the GitHub job's "Smoke run against moto" and "ab
//! against the previous release" steps with `bash -e -o pipefail`, as Actions runs
//! them, in a folder laid out as the job's checkout (`trafficgen/` this repository,
//! `obsctl/` and `obsctl-prev/` each with a `target/release/obsctl`, `trafficgen` on
//! PATH), and the GitLab job's script lines the same way. The job's own
//! `scripts/local-s3 start --server moto` starts moto, on a free port of its own
//! (`TRAFFICGEN_LOCAL_S3_PORT`), stopped when the test ends however it ends.
//!
//! Builds are wrappers of the fake client (tests/bin/fake-obsctl), exporting telemetry
//! as the smoke profile's verification wants; `TRAFFICGEN_DURATION=60s` and
//! `TRAFFICGEN_RATE_SCALE=3` make each run 60 s with the profile's 126 operations
//! (a minute, so the objects of the first seconds outlive their 40 s TTL and are deleted
//! while the run still goes, even on a busy machine)
//! (real obsctl, with `OBSCTL` set, runs the steps as written: 3 minutes each).
//! Identical builds pass both steps; a build B whose `cp` is 30 % slower fails the `ab`
//! step; every exit code gets the outcome the page's table gives it, in both steps of
//! both jobs (a stand-in `trafficgen` that exits with it); with `OBSCTL` set, the real
//! obsctl as both builds passes both steps.

mod common;

use common::*;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use yaml_rust2::{Yaml, YamlLoader};

/// One step: a 45 s run, its drain and telemetry wait, with room for a busy machine.
const STEP_LIMIT: Duration = Duration::from_secs(180);
/// A step as written: the smoke profile's 3 minutes, the drain and the telemetry wait.
const FULL_STEP_LIMIT: Duration = Duration::from_secs(360);
const SMOKE_STEP: &str = "Smoke run against moto";
const AB_STEP: &str = "ab against the previous release";
/// The smoke profile's 3 minutes at 42 operations a minute, made in 45 s.
const SHORT: [(&str, &str); 2] = [("TRAFFICGEN_DURATION", "60s"), ("TRAFFICGEN_RATE_SCALE", "3")];

/// One job at a time: `ab` times commands, and two runs side by side on a small machine
/// would add each other's noise. (The stand-in's job takes seconds: it waits its turn
/// too, so no two of these tests' servers ever start at once.)
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The YAML blocks of the page's section "Smoke run for obsctl releases", parsed:
/// (the GitHub workflow, the GitLab CI file).
fn jobs() -> (Yaml, Yaml) {
    let page = std::fs::read_to_string(repo().join("docs/deployment.md")).unwrap();
    let section = page.split_once("## Smoke run for obsctl releases\n").expect("the section").1;
    let section = section.split("\n## ").next().unwrap();
    let (mut github, mut gitlab) = (None, None);
    for block in section.split("```yaml\n").skip(1) {
        let text = block.split_once("\n```").expect("a closed ```yaml block").0;
        let doc = YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("YAML: {e}\n{text}")).remove(0);
        if !doc["jobs"]["smoke"].is_badvalue() {
            github = Some(doc);
        } else if !doc["obsctl-smoke"].is_badvalue() {
            gitlab = Some(doc);
        }
    }
    (github.expect("the GitHub workflow (jobs: smoke:)"), gitlab.expect("the GitLab job (obsctl-smoke:)"))
}

/// The GitHub job's steps.
fn github_steps() -> Vec<Yaml> {
    jobs().0["jobs"]["smoke"]["steps"].as_vec().expect("steps").clone()
}

/// The `run:` text of the GitHub step named `name`.
fn github_step(name: &str) -> String {
    let steps = github_steps();
    let step = steps.iter().find(|s| s["name"].as_str() == Some(name)).unwrap_or_else(|| panic!("no step {name:?}"));
    step["run"].as_str().expect("a run: step").to_string()
}

/// The GitLab job's script lines, as they run once its tools are installed: from
/// `local-s3 start` on, without the lines that need the obsctl repository (fetching its
/// tags, building the previous release), with its absolute paths mapped into `ws`.
/// `with_smoke` false leaves out the smoke run too (to reach the `ab` block alone).
fn gitlab_script(ws: &Workspace, with_smoke: bool) -> String {
    let doc = jobs().1;
    let items: Vec<String> = doc["obsctl-smoke"]["script"]
        .as_vec()
        .expect("script")
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    let start = items.iter().position(|i| i.contains("local-s3 start")).expect("a local-s3 start line");
    let mut lines = Vec::new();
    for item in &items[start..] {
        let needs_repo = item.contains("git fetch") || item.contains("git worktree add");
        let smoke = item.contains("--obsctl target/release/obsctl");
        if needs_repo || (smoke && !with_smoke) {
            continue;
        }
        let mut line = item.clone();
        for (from, to) in [("/opt/trafficgen", ws.path("trafficgen")), ("/tmp/obsctl-prev", ws.path("obsctl-prev"))] {
            line = line.replace(from, to.to_str().unwrap());
        }
        lines.push(line);
    }
    let script = lines.join("\n");
    assert!(script.contains(" ab ") && script.contains("case $code"), "{script}");
    script
}

/// A build: `target/release/obsctl` under `ws/dir`, a script that runs the fake client
/// over `ws`'s store with `env` (telemetry exported honestly), or `real` when given.
fn build(ws: &Workspace, dir: &str, env: &[(&str, &str)], real: Option<&Path>) {
    let mut text = String::from("#!/bin/sh\n");
    match real {
        Some(obsctl) => text += &format!("exec '{}' \"$@\"\n", obsctl.display()),
        None => {
            let python = common::s3::venv().join("bin/python");
            let mut vars = vec![
                ("FAKE_S3_DIR", ws.path("store").display().to_string()),
                ("FAKE_HTTP_PORT", ws.http.port.to_string()),
                ("FAKE_OTEL_MODE", "honest".into()),
                ("FAKE_OTEL_PYTHON", python.display().to_string()),
            ];
            vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
            for (k, v) in vars {
                text += &format!("export {k}='{v}'\n");
            }
            text += &format!("exec '{}' \"$@\"\n", fake_obsctl().display());
        }
    }
    executable(&ws.path(dir).join("target/release/obsctl"), &text);
}

fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The job's workspace: its checkout's layout, its environment, and the moto its steps
/// start, stopped on drop (with the job's own `local-s3 stop`) even when the test fails.
struct Workspace {
    dir: tempfile::TempDir,
    port: u16,
    /// Serves the fake store's files, so the fake's presigned URLs can be fetched.
    http: Http,
    /// The runs shortened (`SHORT`); real obsctl runs the job as written: its 2.5 s
    /// per call and the confirmations of 40 s TTLs do not fit in 60 s.
    short: bool,
    /// With `short`: the rate scale instead of `SHORT`'s, for a test that needs more
    /// commands in the same minute.
    scale: Option<&'static str>,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::Builder::new().prefix("tg-release-job-").tempdir().unwrap();
        let port = common::s3::free_port();
        assert!(port <= 65532, "local-s3 takes ports below 65533");
        std::os::unix::fs::symlink(repo(), dir.path().join("trafficgen")).unwrap();
        for d in ["store", "bin", "data", "local-s3"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::os::unix::fs::symlink(bin(), dir.path().join("bin/trafficgen")).unwrap();
        std::fs::write(dir.path().join("step-summary.md"), "").unwrap();
        let http = Http::serve(&dir.path().join("store"));
        Workspace { dir, port, http, short: true, scale: None }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What the job's steps see: the runner's variables, the local S3 server's state and
    /// port, the shortened runs, and nothing of the developer's shell but PATH and HOME.
    fn env(&self) -> Vec<(String, String)> {
        let path = format!("{}:{}", self.path("bin").display(), std::env::var("PATH").unwrap_or_default());
        let mut env = vec![
            ("PATH".to_string(), path),
            ("HOME".to_string(), std::env::var("HOME").unwrap_or_else(|_| "/root".into())),
            ("GITHUB_STEP_SUMMARY".to_string(), self.path("step-summary.md").display().to_string()),
            ("GITHUB_REF_NAME".to_string(), "v0.4.0".to_string()),
            ("CI_COMMIT_TAG".to_string(), "v0.4.0".to_string()),
            // trafficgen's default state dir, so two tests never share its lock.
            ("XDG_DATA_HOME".to_string(), self.path("data").display().to_string()),
            ("TRAFFICGEN_LOCAL_S3_STATE".to_string(), self.path("local-s3").display().to_string()),
            ("TRAFFICGEN_LOCAL_S3_PORT".to_string(), self.port.to_string()),
            ("TRAFFICGEN_VENV".to_string(), common::s3::venv().display().to_string()),
        ];
        if self.short {
            env.extend(SHORT.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            if let Some(scale) = self.scale {
                env.push(("TRAFFICGEN_RATE_SCALE".to_string(), scale.to_string()));
            }
        }
        env
    }

    /// `script` as a step runs it (`bash -e -o pipefail`), in `cwd` under the workspace,
    /// in its own process group so a step past its limit is killed whole.
    fn run(&self, script: &str, cwd: &str) -> Step {
        let mut cmd = Command::new("bash");
        cmd.args(["-e", "-o", "pipefail", "-c", script])
            .current_dir(self.path(cwd))
            .env_clear()
            .envs(self.env())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let child = cmd.spawn().expect("bash starts");
        let limit = if self.short { STEP_LIMIT } else { FULL_STEP_LIMIT };
        let out = wait_bounded_with(child, limit, |c| {
            // SAFETY: kill(2) of the process group this test started.
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
        });
        Step { out, secs: started.elapsed().as_secs_f64() }
    }

    fn step_summary(&self) -> String {
        std::fs::read_to_string(self.path("step-summary.md")).unwrap()
    }

    fn json(&self, name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let mut cmd = Command::new(self.path("trafficgen/scripts/local-s3"));
        cmd.args(["stop", "--server", "moto"])
            .env_clear()
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Ok(child) = cmd.spawn() {
            let out = wait_bounded_with(child, Duration::from_secs(60), |c| {
                let _ = c.kill();
            });
            eprintln!("local-s3 stop: {}", stderr(&out).trim());
        }
    }
}

struct Step {
    out: Output,
    secs: f64,
}

impl Step {
    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    fn text(&self) -> String {
        format!("{}{}", stdout(&self.out), stderr(&self.out))
    }
}

/// Whether the venv has moto and a python that can export telemetry; if not, a SKIP line
/// (a failure under scripts/test, which sets TRAFFICGEN_REQUIRE_S3).
fn ready(test: &str) -> bool {
    let Some(venv) = common::s3::tools(test) else { return false };
    let mut c = Command::new(venv.join("bin/python"));
    c.args(["-c", "import grpc, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if run_bounded(c, Duration::from_secs(30)).status.success() {
        return true;
    }
    assert!(std::env::var_os("TRAFFICGEN_REQUIRE_S3").is_none(), "{test}: {} lacks grpcio", venv.display());
    eprintln!("SKIP {test}: no python with grpcio and opentelemetry-proto in {}", venv.display());
    false
}

/// What a step decided, for the test's log: its verdict lines, the rows of the `ab`
/// table and the annotations.
fn gist(text: &str) -> String {
    let keep =
        ["verdict:", "ab PASS", "ab FAIL", "ab INCONCLUSIVE", "telemetry ", "::", "upload/small", "download/small"];
    text.lines().filter(|l| keep.iter().any(|k| l.contains(k))).collect::<Vec<_>>().join("\n")
}

/// The smoke step of two identical builds: exit 0 (PASSED, or INCONCLUSIVE with its
/// annotation), the shortened run still the profile's 126 operations and every kind.
fn smoke_passes(ws: &Workspace) {
    let smoke = ws.run(&github_step(SMOKE_STEP), "");
    let all = smoke.text();
    eprintln!("smoke step: exit {:?} after {:.0} s\n{}", smoke.code(), smoke.secs, gist(&all));
    assert_eq!(smoke.code(), Some(0), "{all}");
    let s = ws.json("s.json");
    let result = s["verdict"]["result"].as_str().unwrap_or_default().to_string();
    assert!(result == "PASS" || result == "INCONCLUSIVE", "{result}: {all}");
    assert_eq!(result == "INCONCLUSIVE", all.contains("::warning::smoke run INCONCLUSIVE"), "{all}");
    assert!(ws.path("j.xml").exists(), "no JUnit file: {all}");
    let scale = if ws.short { 3.0 } else { 1.0 };
    assert_eq!(s["rate_scale"], scale, "TRAFFICGEN_RATE_SCALE reached the run, or not");
    let target = s["target_ops"].as_f64().unwrap();
    assert!((120.0..=132.0).contains(&target), "{target} operations scheduled, not the profile's 126");
    let kinds = [
        "upload",
        "download",
        "delete",
        "confirm_upload",
        "confirm_delete",
        "ls",
        "head_object",
        "du",
        "presign",
        "sync",
        "mb",
        "rb",
        "missing_key_download",
        "missing_bucket_upload",
        "missing_bucket_delete",
        "missing_local_upload",
        "missing_key_head",
        "wrong_credentials",
    ];
    for kind in kinds {
        let n = s["ops"][kind]["ok"].as_u64().unwrap_or(0) + s["ops"][kind]["failed"].as_u64().unwrap_or(0);
        assert!(n > 0, "{kind} never ran in the smoke run: {}", s["ops"]);
    }
}

#[test]
fn identical_builds_pass_both_github_steps_with_the_ab_table_in_the_step_summary() {
    let test = "identical_builds_pass_both_github_steps_with_the_ab_table_in_the_step_summary";
    if !ready(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ws = Workspace::new();
    build(&ws, "obsctl-prev", &[], None);
    build(&ws, "obsctl", &[], None);
    smoke_passes(&ws);

    let ab = ws.run(&github_step(AB_STEP), "");
    let all = ab.text();
    eprintln!("ab step: exit {:?} after {:.0} s\n{}", ab.code(), ab.secs, gist(&all));
    assert_eq!(ab.code(), Some(0), "{all}");
    let verdict = ws.json("ab.json")["ab"]["verdict"].as_str().unwrap_or_default().to_string();
    assert!(verdict == "PASS" || verdict == "INCONCLUSIVE", "{verdict}: {all}");
    assert_eq!(verdict == "INCONCLUSIVE", all.contains("::warning::ab INCONCLUSIVE"), "{all}");
    let summary = ws.step_summary();
    assert!(summary.contains(&format!("ab {verdict}: B against A")), "{summary}");
    assert!(summary.contains("| upload/small |") && summary.contains("| download/small |"), "{summary}");
}

#[test]
fn a_build_b_with_a_30_percent_slower_cp_fails_the_ab_step() {
    let test = "a_build_b_with_a_30_percent_slower_cp_fails_the_ab_step";
    if !ready(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Twice the smoke profile's commands in the minute (some 55 uploads a build): on a
    // machine busy with other tests the fake's latency spreads, and the interval of 27
    // uploads a build once still spanned the 10 % tolerance.
    let mut ws = Workspace::new();
    ws.scale = Some("6");
    // The fake's own cost, with a telemetry export per command, is some 200 ms on a busy
    // machine: sleeps long against it, so the 30 % shows through.
    // 4 s against 5.2 s: the spread other tests' load adds stays small beside them.
    build(&ws, "obsctl-prev", &[("FAKE_OBSCTL_CP_SLEEP", "4.0")], None);
    build(&ws, "obsctl", &[("FAKE_OBSCTL_CP_SLEEP", "5.2")], None);
    // The `ab` step reads the server the smoke step started: start it as that step does.
    let start = ws.run("trafficgen/scripts/local-s3 start --server moto", "");
    assert_eq!(start.code(), Some(0), "{}", start.text());

    let ab = ws.run(&github_step(AB_STEP), "");
    let all = ab.text();
    eprintln!("ab step: exit {:?} after {:.0} s\n{}", ab.code(), ab.secs, gist(&all));
    assert_eq!(ab.code(), Some(3), "{all}");
    assert!(all.contains("::error::ab FAIL (exit 3)"), "{all}");
    // Uploads, some 30 a build, show it; the smoke profile's dozen downloads a build may
    // leave theirs INCONCLUSIVE on a busy machine.
    let head = all.lines().find(|l| l.starts_with("ab FAIL")).unwrap_or_else(|| panic!("{all}"));
    assert!(head.contains("upload/small"), "{}", gist(&all));
    // The table reaches the job's summary all the same.
    let summary = ws.step_summary();
    assert!(summary.contains("ab FAIL: B against A") && summary.contains("| upload/small |"), "{summary}");
}

/// (pwd, arguments) of every call the stand-in `trafficgen` logged.
fn shim_calls(ws: &Workspace) -> Vec<(PathBuf, Vec<String>)> {
    let text = std::fs::read_to_string(ws.path("shim.log")).unwrap_or_default();
    let _ = std::fs::remove_file(ws.path("shim.log"));
    text.lines()
        .map(|l| {
            let mut fields = l.split('\t').map(String::from);
            let pwd = PathBuf::from(fields.next().unwrap());
            (pwd, fields.filter(|f| !f.is_empty()).collect())
        })
        .collect()
}

/// A call's arguments with every one that names an existing file made absolute
/// (`obsctl/target/release/obsctl` in one job is `target/release/obsctl` in the other).
fn resolved((pwd, args): &(PathBuf, Vec<String>)) -> Vec<String> {
    args.iter()
        .map(|a| match pwd.join(a).canonicalize() {
            Ok(p) if !a.starts_with('-') => p.display().to_string(),
            _ => a.clone(),
        })
        .collect()
}

#[test]
fn every_exit_code_gets_the_same_outcome_in_both_steps_of_both_jobs() {
    let test = "every_exit_code_gets_the_same_outcome_in_both_steps_of_both_jobs";
    if common::s3::tools(test).is_none() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ws = Workspace::new();
    build(&ws, "obsctl-prev", &[], None);
    build(&ws, "obsctl", &[], None);
    let shim = ws.path("bin/trafficgen");
    std::fs::remove_file(&shim).unwrap();
    let (github_smoke, github_ab) = (github_step(SMOKE_STEP), github_step(AB_STEP));
    let (gitlab_all, gitlab_ab) = (gitlab_script(&ws, true), gitlab_script(&ws, false));
    for code in [0, 1, 2, 3, 4, 130] {
        // A stand-in trafficgen that logs where and how it was called, and exits `code`.
        let log = ws.path("shim.log");
        executable(
            &shim,
            &format!(
                "#!/bin/sh\nprintf '%s\\t' \"$PWD\" \"$@\" >>'{}'\necho >>'{}'\nexit {code}\n",
                log.display(),
                log.display()
            ),
        );
        let passes = code == 0 || code == 4;
        let runs = [
            ("GitHub smoke step", ws.run(&github_smoke, ""), "::warning::smoke run INCONCLUSIVE", 1),
            ("GitHub ab step", ws.run(&github_ab, ""), "::warning::ab INCONCLUSIVE", 1),
            // GitLab runs its script from the obsctl checkout (target/release/obsctl), the
            // smoke block, then (when it passes) the ab block, in one shell.
            (
                "GitLab script",
                ws.run(&gitlab_all, "obsctl"),
                "WARNING: smoke run INCONCLUSIVE",
                if passes { 2 } else { 1 },
            ),
            ("GitLab ab block", ws.run(&gitlab_ab, "obsctl"), "WARNING: ab INCONCLUSIVE", 1),
        ];
        let calls = shim_calls(&ws);
        let mut seen = 0;
        for (what, step, warning, calls_made) in &runs {
            let all = step.text();
            let expected = if passes { 0 } else { code };
            assert_eq!(step.code(), Some(expected), "{what}, trafficgen exit {code}:\n{all}");
            assert_eq!(all.contains(warning), code == 4, "{what}, trafficgen exit {code}: {warning:?}\n{all}");
            if code == 4 && *what == "GitLab script" {
                assert!(
                    all.contains("WARNING: ab INCONCLUSIVE"),
                    "{what}: the ab block ran after the smoke's 4\n{all}"
                );
            }
            if code == 3 {
                assert!(all.contains("FAIL"), "{what}: says FAIL\n{all}");
            }
            seen += calls_made;
        }
        assert_eq!(calls.len(), seen, "trafficgen calls: {calls:?}");
        if code == 0 {
            // Both jobs pass trafficgen the same arguments, paths resolved: smoke, ab.
            assert_eq!(resolved(&calls[0]), resolved(&calls[2]), "the smoke runs differ");
            assert_eq!(resolved(&calls[1]), resolved(&calls[3]), "the ab runs differ");
            assert_eq!(resolved(&calls[1]), resolved(&calls[4]), "the ab runs differ");
            assert!(calls[1].1.contains(&"ab".to_string()), "{calls:?}");
        }
    }
}

#[test]
fn real_obsctl_as_both_builds_passes_both_github_steps() {
    let test = "real_obsctl_as_both_builds_passes_both_github_steps";
    let Some(obsctl) = std::env::var_os("OBSCTL").map(PathBuf::from) else {
        println!("SKIP: {test}: OBSCTL is not set to an obsctl binary; the release job ran with the fake client only");
        return;
    };
    assert!(obsctl.exists(), "OBSCTL={} does not exist", obsctl.display());
    if common::s3::tools(test).is_none() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut ws = Workspace::new();
    ws.short = false;
    // Both builds the one binary: credentials and endpoint from the moto the step starts.
    build(&ws, "obsctl-prev", &[], Some(&obsctl));
    build(&ws, "obsctl", &[], Some(&obsctl));
    smoke_passes(&ws);
    let ab = ws.run(&github_step(AB_STEP), "");
    let all = ab.text();
    eprintln!("ab step (obsctl): exit {:?} after {:.0} s\n{}", ab.code(), ab.secs, gist(&all));
    assert_eq!(ab.code(), Some(0), "{all}");
    assert!(ws.step_summary().contains("| upload/small |"), "{}", ws.step_summary());
}

#[test]
fn the_artifact_and_junit_steps_run_whatever_the_smoke_run_did() {
    let steps = github_steps();
    let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
    let at =
        |name: &str| names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("no step {name:?}: {names:?}"));
    let (smoke, ab) = (at(SMOKE_STEP), at(AB_STEP));
    for keep in ["Keep the summary and the JUnit file", "JUnit report", "Keep the comparison"] {
        let step = steps.iter().find(|s| s["name"].as_str() == Some(keep)).unwrap();
        assert_eq!(step["if"].as_str(), Some("always()"), "{keep}");
        assert!(at(keep) > smoke, "{keep} comes after the smoke run");
    }
    assert!(at("Keep the comparison") > ab);
    let gitlab = jobs().1;
    assert_eq!(gitlab["obsctl-smoke"]["artifacts"]["when"].as_str(), Some("always"));
}
