//! A real S3 server (moto, from the repository's virtualenv, started by
//! scripts/moto-server.py) per test, on a free loopback port, stopped on drop even when
//! the test fails; plus an independent client (boto3) to see what is really on the server.

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

fn free_port() -> u16 {
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
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), self.key.0.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.key.1.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
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

    fn python(&self, script: &str, args: &[&str]) -> String {
        let out = Command::new(self.venv.join("bin/python"))
            .arg("-c")
            .arg(script)
            .arg(self.endpoint())
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &self.key.0)
            .env("AWS_SECRET_ACCESS_KEY", &self.key.1)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("python runs");
        assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every bucket and its objects as (key, size), listed with boto3 (with `access_key()`).
    pub fn listing(&self) -> std::collections::BTreeMap<String, Vec<(String, u64)>> {
        let json = self.python(
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

    /// Downloads one object with boto3 (with `access_key()`).
    pub fn download(&self, bucket: &str, key: &str, to: &Path) {
        self.python(
            r#"
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
s3.download_file(sys.argv[2], sys.argv[3], sys.argv[4])
"#,
            &[bucket, key, to.to_str().unwrap()],
        );
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
