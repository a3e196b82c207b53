//! `scripts/local-s3` without a server: `TRAFFICGEN_LOCAL_S3_PORT` moves every command to
//! another port (the exports `env` prints, the port `status` looks at), `--port` wins
//! over it, and a value that is not a port is refused by name.

mod common;

use common::*;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `scripts/local-s3 ARGS` with its files in `state` and `port` (if any) in the
/// environment.
fn local_s3(state: &std::path::Path, port: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(repo().join("scripts/local-s3"));
    c.args(args).env("TRAFFICGEN_LOCAL_S3_STATE", state).env_remove("TRAFFICGEN_LOCAL_S3_PORT");
    if let Some(p) = port {
        c.env("TRAFFICGEN_LOCAL_S3_PORT", p);
    }
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    run_bounded(c, Duration::from_secs(30))
}

#[test]
fn the_port_comes_from_trafficgen_local_s3_port_unless_port_is_given() {
    let state = tempfile::tempdir().unwrap();
    // A key pair saved for moto on 9123 and on 9124, as `start` saves it.
    for port in ["9123", "9124"] {
        let pair = "AWS_ACCESS_KEY_ID=AKIATESTTESTTESTTEST\nAWS_SECRET_ACCESS_KEY=secret\n";
        std::fs::write(state.path().join(format!("moto-{port}.env")), pair).unwrap();
    }
    let out = local_s3(state.path(), Some("9123"), &["env", "--server", "moto"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("export AWS_ENDPOINT_URL=http://127.0.0.1:9123\n"), "{}", stdout(&out));

    let out = local_s3(state.path(), Some("9123"), &["env", "--server", "moto", "--port", "9124"]);
    assert!(stdout(&out).contains("export AWS_ENDPOINT_URL=http://127.0.0.1:9124\n"), "{}", stdout(&out));

    let out = local_s3(state.path(), Some("9123"), &["status", "--server", "moto"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "moto: not running on port 9123\n");

    // Unset or empty: 9000, as before.
    let out = local_s3(state.path(), Some(""), &["status", "--server", "moto"]);
    assert_eq!(stdout(&out), "moto: not running on port 9000\n");

    for bad in ["90x0", "0", "65533"] {
        let out = local_s3(state.path(), Some(bad), &["status", "--server", "moto"]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("TRAFFICGEN_LOCAL_S3_PORT must be a number below 65533"), "{}", stderr(&out));
    }
}
