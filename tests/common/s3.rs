//! A real S3 server per test, on free loopback ports, stopped on drop even when the
//! test fails: Garage (a real object store, started by scripts/local-s3 with its own
//! state folder) or moto (from the repository's virtualenv, started by
//! scripts/moto-server.py); `Server` is either, chosen by TRAFFICGEN_TEST_SERVER. Plus an
//! independent client (boto3) to see what is really on the server.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::repo;

pub fn venv() -> PathBuf {
    std::env::var_os("TRAFFICGEN_VENV").map(PathBuf::from).unwrap_or_else(|| repo().join(".venv"))
}

/// The venv's tools, or None (with a skip line) when they are not installed. With
/// TRAFFICGEN_REQUIRE_S3 set (scripts/test, CI) a missing venv is a failure instead.
pub fn tools(test: &str) -> Option<PathBuf> {
    let v = venv();
    if v.join("bin/moto_server").exists() && v.join("bin/aws").exists() {
        return Some(v);
    }
    if std::env::var_os("TRAFFICGEN_REQUIRE_S3").is_some() {
        panic!("{test}: moto server and the AWS CLI are not in {}; run scripts/local-s3 install", v.display());
    }
    eprintln!("SKIP {test}: no moto server in {} (run scripts/test, or scripts/local-s3 install)", v.display());
    None
}

/// The real obsctl, when OBSCTL points at one.
pub fn obsctl(test: &str) -> Option<PathBuf> {
    match std::env::var_os("OBSCTL").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        Some(p) => panic!("{test}: OBSCTL={} does not exist", p.display()),
        None => {
            eprintln!("SKIP {test} with the obsctl flavor: OBSCTL is not set to an obsctl binary");
            None
        }
    }
}

/// What a child needs to reach a server: its endpoint, a key pair and a region.
fn aws_env(endpoint: String, key: &(String, String)) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), endpoint),
        ("AWS_ACCESS_KEY_ID".into(), key.0.clone()),
        ("AWS_SECRET_ACCESS_KEY".into(), key.1.clone()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ]
}

/// A moto server on a free loopback port, started by scripts/moto-server.py: an IAM user
/// allowed s3:* holds the access key pair `access_key()` from the server's first
/// request on (the same pair after `restart()`).
///
/// - `start_auth`: IAM authentication on. A wrong key id fails with 403
///   InvalidAccessKeyId, a wrong secret with 403 SignatureDoesNotMatch; presigned URLs
///   (SigV2 and SigV4) are checked too. Children need `env()` (the four AWS_* variables).
/// - `start` / `start_open`: any credentials accepted (moto's default), the behaviour the
///   end-to-end tests were written against; `env()` still names a usable pair.
pub struct Moto {
    child: Option<Child>,
    pub port: u16,
    venv: PathBuf,
    auth: bool,
    key: (String, String),
}

/// A loopback port nothing listens on now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `n` characters of `alphabet` from /dev/urandom.
fn random_text(alphabet: &[u8], n: usize) -> String {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).expect("/dev/urandom");
    bytes.iter().map(|b| alphabet[*b as usize % alphabet.len()] as char).collect()
}

/// A fresh pair in AWS form: `AKIA` + 16 upper-case alphanumerics, a 40-character secret.
fn new_key() -> (String, String) {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (format!("AKIA{}", random_text(UPPER, 16)), random_text(ALNUM, 40))
}

impl Moto {
    /// Any credentials accepted (as before authentication existed); see `start_auth`.
    pub fn start(venv: &Path) -> Moto {
        Moto::launch(venv, false)
    }

    /// Same as `start`: any credentials accepted.
    pub fn start_open(venv: &Path) -> Moto {
        Moto::launch(venv, false)
    }

    /// Credentials checked: only `access_key()` is accepted.
    pub fn start_auth(venv: &Path) -> Moto {
        Moto::launch(venv, true)
    }

    fn launch(venv: &Path, auth: bool) -> Moto {
        let mut m = Moto { child: None, port: free_port(), venv: venv.to_path_buf(), auth, key: new_key() };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(self.venv.join("bin/python"));
        cmd.arg(repo().join("scripts/moto-server.py")).args(["--port", &self.port.to_string()]);
        if !self.auth {
            cmd.arg("--open");
        }
        // The pair goes through the environment, not the command line.
        let mut child = cmd
            .env("MOTO_ACCESS_KEY_ID", &self.key.0)
            .env("MOTO_SECRET_ACCESS_KEY", &self.key.1)
            .env_remove("INITIAL_NO_AUTH_ACTION_COUNT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scripts/moto-server.py starts");
        let start = Instant::now();
        // The user and its key exist before the port answers.
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "moto server exited ({status}) before answering on port {}; try {} {} --port {}",
                    self.port,
                    self.venv.join("bin/python").display(),
                    repo().join("scripts/moto-server.py").display(),
                    self.port
                );
            }
            assert!(start.elapsed() < Duration::from_secs(60), "moto did not answer on port {}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child = Some(child);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The access key id and secret the server accepts (with `start_auth`, the only ones).
    pub fn access_key(&self) -> (String, String) {
        self.key.clone()
    }

    /// Whether credentials are checked (`start_auth`).
    pub fn authenticating(&self) -> bool {
        self.auth
    }

    /// AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION for a child.
    pub fn env(&self) -> Vec<(String, String)> {
        aws_env(self.endpoint(), &self.key)
    }

    /// Kills the server (all its objects are gone with it).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A fresh, empty server on the same port, accepting the same key pair.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Every bucket and its objects as (key, size), listed with boto3 (with `access_key()`).
    pub fn listing(&self) -> Listing {
        listing(&self.venv, &self.endpoint(), &self.key)
    }

    /// Downloads one object with boto3 (with `access_key()`).
    pub fn download(&self, bucket: &str, key: &str, to: &Path) {
        download(&self.venv, &self.endpoint(), &self.key, bucket, key, to)
    }
}

/// Buckets and their objects as (key, size).
pub type Listing = std::collections::BTreeMap<String, Vec<(String, u64)>>;

/// Runs a boto3 script with the venv's python: argv[1] is the endpoint, the key pair is
/// in the environment (never on the command line).
fn boto3(venv: &Path, endpoint: &str, key: &(String, String), script: &str, args: &[&str]) -> String {
    let out = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(script)
        .arg(endpoint)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("python runs");
    assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every bucket the pair can see and its objects, listed with boto3.
fn listing(venv: &Path, endpoint: &str, key: &(String, String)) -> Listing {
    let json = boto3(
        venv,
        endpoint,
        key,
        r#"
import boto3, json, os, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
out = {}
for b in s3.list_buckets()["Buckets"]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b["Name"]):
        keys += [[o["Key"], o["Size"]] for o in page.get("Contents", [])]
    out[b["Name"]] = keys
print(json.dumps(out))
"#,
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(b, keys)| {
            let keys = keys
                .as_array()
                .unwrap()
                .iter()
                .map(|k| (k[0].as_str().unwrap().to_string(), k[1].as_u64().unwrap()))
                .collect();
            (b.clone(), keys)
        })
        .collect()
}

/// Downloads one object with boto3.
fn download(venv: &Path, endpoint: &str, key: &(String, String), bucket: &str, object: &str, to: &Path) {
    boto3(
        venv,
        endpoint,
        key,
        r#"
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
s3.download_file(sys.argv[2], sys.argv[3], sys.argv[4])
"#,
        &[bucket, object, to.to_str().unwrap()],
    );
}

/// Where scripts/local-s3 installs Garage:
/// ${TRAFFICGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trafficgen}/garage-2.5.0/bin/garage.
pub fn garage_binary() -> PathBuf {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let cache = set("TRAFFICGEN_CACHE").unwrap_or_else(|| {
        set("XDG_CACHE_HOME")
            .unwrap_or_else(|| set("HOME").unwrap_or_else(|| PathBuf::from("/root")).join(".cache"))
            .join("trafficgen")
    });
    cache.join("garage-2.5.0/bin/garage")
}

/// A single-node Garage 2.5.0 started by `scripts/local-s3 start --server garage --port N`
/// with its own state folder (TRAFFICGEN_LOCAL_S3_STATE, a temporary directory): S3 on
/// N, RPC on N+1, the admin API (/health, /metrics) on N+3, all on 127.0.0.1; layout
/// applied, region us-east-1, and an imported key pair allowed to create buckets, the
/// only credentials it accepts. Stopped on drop, its folder deleted.
pub struct Garage {
    state: tempfile::TempDir,
    pub port: u16,
    venv: PathBuf,
    key: (String, String),
    /// The AWS CLI config that makes `aws s3 presign` sign with SigV4.
    aws_config: String,
    metrics: String,
    running: bool,
}

/// A free port N (at most 65532) whose N+1 and N+3 are free too.
fn free_garage_port() -> u16 {
    loop {
        let p = free_port();
        if p <= 65532 && [p + 1, p + 3].iter().all(|q| TcpListener::bind(("127.0.0.1", *q)).is_ok()) {
            return p;
        }
    }
}

impl Garage {
    pub fn start(venv: &Path) -> Garage {
        let state = tempfile::Builder::new().prefix("tg-garage-").tempdir().unwrap();
        let mut g = Garage {
            state,
            port: 0,
            venv: venv.to_path_buf(),
            key: Default::default(),
            aws_config: String::new(),
            metrics: String::new(),
            running: false,
        };
        // Another process may take a port between the check and Garage's bind: retry.
        for attempt in 1..=3 {
            g.port = free_garage_port();
            let out = g.local_s3(&["start"]);
            if out.status.success() {
                g.running = true;
                break;
            }
            let said = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(attempt < 3 && said.contains("busy"), "{}", g.failure("scripts/local-s3 start", &out));
        }
        // The exports scripts/local-s3 prints for this server (the key pair it made).
        let out = g.local_s3(&["env"]);
        assert!(out.status.success(), "{}", g.failure("scripts/local-s3 env", &out));
        let text = String::from_utf8(out.stdout).unwrap();
        let var = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("scripts/local-s3 env printed no {name}"))
                .to_string()
        };
        g.key = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"));
        g.aws_config = var("AWS_CONFIG_FILE");
        g.metrics = var("TRAFFICGEN_SERVER_METRICS");
        g
    }

    fn local_s3(&self, args: &[&str]) -> std::process::Output {
        Command::new(repo().join("scripts/local-s3"))
            .args(args)
            .args(["--server", "garage", "--port", &self.port.to_string()])
            .env("TRAFFICGEN_LOCAL_S3_STATE", self.state.path())
            .env("TRAFFICGEN_VENV", &self.venv)
            .stdin(Stdio::null())
            .output()
            .expect("scripts/local-s3 runs")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.state.path().join(format!("garage-{}.log", self.port)));
        let log = log.unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn failure(&self, what: &str, out: &std::process::Output) -> String {
        format!(
            "{what} failed ({}) for Garage on port {}:\n{}{}\nlast lines of Garage's log:\n{}",
            out.status,
            self.port,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        )
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The key pair Garage accepts (the only one).
    pub fn access_key(&self) -> (String, String) {
        self.key.clone()
    }

    /// The admin API's Prometheus text (no token needed).
    pub fn metrics_url(&self) -> String {
        self.metrics.clone()
    }

    /// AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
    /// AWS_CONFIG_FILE (SigV4 presigned URLs: Garage refuses the AWS CLI's default SigV2).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = aws_env(self.endpoint(), &self.key);
        env.push(("AWS_CONFIG_FILE".into(), self.aws_config.clone()));
        env
    }

    /// Stops the server (its objects stay on disk until `restart()` wipes them).
    pub fn kill(&mut self) {
        if self.running {
            let out = self.local_s3(&["stop"]);
            assert!(out.status.success(), "{}", self.failure("scripts/local-s3 stop", &out));
            self.running = false;
        }
    }

    /// Stopped, its data wiped, started again empty on the same ports, accepting the
    /// same key pair (re-imported into the new node).
    pub fn restart(&mut self) {
        self.kill();
        let out = self.local_s3(&["stop", "--wipe"]);
        assert!(out.status.success(), "{}", self.failure("scripts/local-s3 stop --wipe", &out));
        let out = self.local_s3(&["start"]);
        assert!(out.status.success(), "{}", self.failure("scripts/local-s3 start", &out));
        self.running = true;
    }

    /// Every bucket the key pair can see and its objects, listed with boto3.
    pub fn listing(&self) -> Listing {
        listing(&self.venv, &self.endpoint(), &self.key)
    }

    /// Downloads one object with boto3.
    pub fn download(&self, bucket: &str, key: &str, to: &Path) {
        download(&self.venv, &self.endpoint(), &self.key, bucket, key, to)
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("Garage on port {}, last lines of its log:\n{}", self.port, self.log_tail());
        }
        if self.running {
            let _ = self.local_s3(&["stop"]);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Garage,
    Moto,
}

/// The server the end-to-end tests run against: TRAFFICGEN_TEST_SERVER=garage|moto,
/// by default Garage when it is installed, else moto (with a note). None, with a skip
/// line, when Garage is asked for and missing; with TRAFFICGEN_REQUIRE_S3 set that is a
/// failure instead.
pub fn server_kind(test: &str) -> Option<Kind> {
    let garage = garage_binary();
    let install = "scripts/local-s3 install --server garage (10-15 minutes the first time)";
    match std::env::var("TRAFFICGEN_TEST_SERVER").unwrap_or_default().as_str() {
        "moto" => Some(Kind::Moto),
        "garage" if garage.exists() => Some(Kind::Garage),
        "garage" if std::env::var_os("TRAFFICGEN_REQUIRE_S3").is_some() => {
            panic!(
                "{test}: TRAFFICGEN_TEST_SERVER=garage but Garage is not installed at {}; run {install}",
                garage.display()
            )
        }
        "garage" => {
            eprintln!(
                "SKIP {test}: TRAFFICGEN_TEST_SERVER=garage but no Garage at {}; to install it: {install}",
                garage.display()
            );
            None
        }
        "" if garage.exists() => Some(Kind::Garage),
        "" => {
            eprintln!(
                "NOTE {test}: runs on moto: Garage is not installed at {}; to install it: {install}",
                garage.display()
            );
            Some(Kind::Moto)
        }
        other => panic!("{test}: TRAFFICGEN_TEST_SERVER={other:?}: it is garage or moto"),
    }
}

/// Garage or moto (with credentials checked), behind one surface.
pub enum Server {
    Garage(Garage),
    Moto(Moto),
}

impl Server {
    pub fn start(kind: Kind, venv: &Path) -> Server {
        match kind {
            Kind::Garage => Server::Garage(Garage::start(venv)),
            Kind::Moto => Server::Moto(Moto::start_auth(venv)),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Server::Garage(_) => "garage",
            Server::Moto(_) => "moto",
        }
    }

    pub fn endpoint(&self) -> String {
        match self {
            Server::Garage(g) => g.endpoint(),
            Server::Moto(m) => m.endpoint(),
        }
    }

    pub fn access_key(&self) -> (String, String) {
        match self {
            Server::Garage(g) => g.access_key(),
            Server::Moto(m) => m.access_key(),
        }
    }

    /// What a child needs to reach the server (see `Garage::env`, `Moto::env`).
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Server::Garage(g) => g.env(),
            Server::Moto(m) => m.env(),
        }
    }

    /// The server's own Prometheus metrics, when it has them (Garage).
    pub fn metrics_url(&self) -> Option<String> {
        match self {
            Server::Garage(g) => Some(g.metrics_url()),
            Server::Moto(_) => None,
        }
    }

    /// The server stops answering.
    pub fn kill(&mut self) {
        match self {
            Server::Garage(g) => g.kill(),
            Server::Moto(m) => m.kill(),
        }
    }

    /// Back on the same port, empty, with the same key pair.
    pub fn restart(&mut self) {
        match self {
            Server::Garage(g) => g.restart(),
            Server::Moto(m) => m.restart(),
        }
    }

    pub fn listing(&self) -> Listing {
        match self {
            Server::Garage(g) => g.listing(),
            Server::Moto(m) => m.listing(),
        }
    }

    pub fn download(&self, bucket: &str, key: &str, to: &Path) {
        match self {
            Server::Garage(g) => g.download(bucket, key, to),
            Server::Moto(m) => m.download(bucket, key, to),
        }
    }
}

/// tests/tools/otlp_receiver.py: an OTLP/gRPC collector that records metric names.
pub struct Otlp {
    child: Child,
    pub port: u16,
    names: PathBuf,
}

impl Otlp {
    pub fn start(venv: &Path, dir: &Path) -> Otlp {
        use std::io::{BufRead, BufReader};
        let names = dir.join("metric-names.txt");
        let mut child = Command::new(venv.join("bin/python"))
            .arg(repo().join("tests/tools/otlp_receiver.py"))
            .arg(&names)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the OTLP receiver starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok());
        let port = port.unwrap_or_else(|| panic!("OTLP receiver said {line:?}"));
        Otlp { child, port, names }
    }

    pub fn metric_names(&self) -> std::collections::BTreeSet<String> {
        std::fs::read_to_string(&self.names).unwrap_or_default().lines().map(String::from).collect()
    }
}

impl Drop for Otlp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}
