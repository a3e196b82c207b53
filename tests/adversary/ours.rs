//! Rule 1, the buckets: `cleanup --all` deletes trafficgen's own objects and never a
//! user's, whatever the user's keys look like (a user id at the start of a name, spaces,
//! a listing longer than one capture). With the fake obsctl (its listing form) and with
//! the AWS CLI against moto (a real server and client).

use crate::common::s3::{self, Moto};
use crate::common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(240);

/// Keys a user wrote that start like trafficgen's (`<user id>_`), with spaces too.
const USER_KEYS: &[(&str, &str)] = &[
    ("alice-dev", "alice-dev_personal-notes.txt"),
    ("alice-dev", "backups/alice-dev_2024/db.sql"),
    ("alice-dev", "My Docs/alice-dev_report.pdf"),
    ("henry-ops", "logs/henry-ops_audit/2024.log"),
];

/// trafficgen's key mark, implemented again here from its definition (FNV-1a 64 of
/// "trafficgen key\0" + the key without the mark, then SplitMix64's finalizer): a key
/// an earlier version made must still be recognised.
fn tag(stem: &str, ext: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"trafficgen key\0".iter().chain(stem.as_bytes()).chain(ext.as_bytes()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("{stem}.tg{z:016x}{ext}")
}

fn bucket_of(user: &str) -> String {
    shipped_users().into_iter().find(|(id, _, _)| id == user).map(|(_, b, _)| b).unwrap()
}

/// `trafficgen cleanup --all` on a fresh state dir (so only `--all` can find anything),
/// with `client` first on PATH as `obsctl` when given.
fn cleanup_all(sb: &Sandbox, fake_as_obsctl: bool, env: &[(String, String)], path: Option<&Path>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.current_dir(sb.dir.path())
        .env("FAKE_S3_DIR", sb.path("store"))
        .env("FAKE_OBSCTL_LOG", sb.path("calls.log"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--profiles")
        .arg(sb.path("profiles.toml"))
        .args(["cleanup", "--all", "--state-dir"])
        .arg(sb.path("fresh-state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut dirs = Vec::new();
    if fake_as_obsctl {
        let bin_dir = sb.path("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        if !bin_dir.join("obsctl").exists() {
            std::os::unix::fs::symlink(fake_obsctl(), bin_dir.join("obsctl")).unwrap();
        }
        dirs.push(bin_dir);
    }
    if let Some(p) = path {
        dirs.push(p.to_path_buf());
    }
    let old = std::env::var("PATH").unwrap_or_default();
    let joined: Vec<String> = dirs.iter().map(|d| d.display().to_string()).chain([old]).collect();
    cmd.env("PATH", joined.join(":"));
    run_bounded(cmd, LIMIT)
}

/// Writes an object straight into the fake store.
fn put_fake(sb: &Sandbox, bucket: &str, key: &str) {
    let p = sb.path("store").join(bucket).join(key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"user data").unwrap();
}

#[test]
fn cleanup_all_with_obsctl_keeps_every_user_key_and_deletes_what_runs_left() {
    let sb = Sandbox::new(&[]);
    // A short run whose deletes do nothing: its objects stay, as after a crash.
    let mut args = SHORT.to_vec();
    args.extend(["--users", "alice-dev,henry-ops"]);
    let mut run = sb.cmd(&args);
    run.env("FAKE_OBSCTL_SKIP_DELETE", "1");
    let out = run_bounded(run, LIMIT);
    assert!(matches!(out.status.code(), Some(0) | Some(3) | Some(4)), "{}", stderr(&out));
    let left = sb.objects();
    assert!(!left.is_empty(), "the run left objects");
    for (user, key) in USER_KEYS {
        put_fake(&sb, &bucket_of(user), key);
    }
    // One of ours under a folder with spaces, and a user's object named like ours but
    // with a mark that is not the hash of its key.
    let alice = bucket_of("alice-dev");
    let spaced = tag("My Docs/alice-dev_code_1_2 final", ".rs");
    put_fake(&sb, &alice, &spaced);
    put_fake(&sb, &alice, "notes/alice-dev_code_1_2.tg0123456789abcdef.rs");

    // Every bucket of the profile exists (obsctl cannot tell a missing one from a failure).
    for (_, bucket, _) in shipped_users() {
        std::fs::create_dir_all(sb.path("store").join(bucket)).unwrap();
    }
    // Only the cleanup's own calls are looked at below.
    let _ = std::fs::remove_file(sb.path("calls.log"));
    let out = cleanup_all(&sb, true, &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let now = sb.objects();
    let mut expected: Vec<String> = USER_KEYS.iter().map(|(u, k)| format!("{}/{k}", bucket_of(u))).collect();
    expected.push(format!("{alice}/notes/alice-dev_code_1_2.tg0123456789abcdef.rs"));
    expected.sort();
    let mut now_sorted = now.clone();
    now_sorted.sort();
    assert_eq!(now_sorted, expected, "only the users' objects stay\n{}", stderr(&out));
    // It said what it would delete before deleting, and listed every key in the file.
    let err = stderr(&out);
    assert!(err.contains("objects with trafficgen's mark to delete"), "{err}");
    let list = std::fs::read_to_string(sb.path("fresh-state/cleanup-all.txt")).unwrap();
    assert_eq!(list.lines().count(), left.len() + 1, "{list}");
    assert!(list.contains(&format!("s3://{alice}/{spaced}")), "{list}");
    // No key was read as its last word, and none was deleted twice.
    let rms: Vec<String> = sb
        .calls()
        .iter()
        .filter_map(|c| c.split('\t').next())
        .filter(|a| a.contains(" rm s3://"))
        .map(|a| a.split(" rm ").nth(1).unwrap().to_string())
        .collect();
    assert!(!rms.iter().any(|r| r.contains("Docs/alice-dev_report.pdf")), "{rms:?}");
    let mut unique = rms.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), rms.len(), "a key deleted twice: {rms:?}");
}

/// Puts objects on moto in one batch (boto3, from a JSON list of [bucket, key]).
fn put_batch(venv: &Path, moto: &Moto, objects: &[(String, String)]) {
    let list = serde_json::to_string(objects).unwrap();
    let script = r#"
import boto3, json, os, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
made = set()
for bucket, key in json.loads(sys.stdin.read()):
    if bucket not in made:
        s3.create_bucket(Bucket=bucket)
        made.add(bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
"#;
    let (id, secret) = moto.access_key();
    let mut child = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(script)
        .arg(moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(list.as_bytes()).unwrap();
    let out = wait_bounded(child, LIMIT);
    assert!(out.status.success(), "boto3: {}", stderr(&out));
}

#[test]
fn cleanup_all_with_the_aws_cli_reads_a_listing_past_64_kib_and_keeps_user_keys() {
    let Some(venv) = s3::tools("cleanup_all_with_the_aws_cli_reads_a_listing_past_64_kib_and_keeps_user_keys") else {
        return;
    };
    let moto = Moto::start(&venv);
    let aws = venv.join("bin/aws");
    let sb = Sandbox::new(&[
        ("flavor = \"obsctl\"", "flavor = \"aws\""),
        ("binary = \"obsctl\"", &format!("binary = {:?}", aws.display().to_string())),
        ("endpoint = \"http://127.0.0.1:9000\"", &format!("endpoint = {:?}", moto.endpoint())),
    ]);
    let alice = bucket_of("alice-dev");
    let henry = bucket_of("henry-ops");
    let mut user: Vec<(String, String)> = USER_KEYS.iter().map(|(u, k)| (bucket_of(u), k.to_string())).collect();
    // 2,000 user keys of about 100 bytes: the listing is some 260 KB, four times the
    // 64 KiB a command's output used to be cut at. They sort before ours.
    for i in 0..2000 {
        let pad = "x".repeat(60);
        user.push((alice.clone(), format!("aaa-archive/{pad}/alice-dev_{i:05}  notes.txt")));
    }
    let mut ours: Vec<(String, String)> = (0..12)
        .map(|i| (alice.clone(), tag(&format!("zz-late/My Docs/alice-dev_code_1751415012000_{i}"), ".py")))
        .collect();
    ours.extend((0..4).map(|i| (henry.clone(), tag(&format!("deployments/henry-ops_config_17_{i}"), ".yaml"))));
    let mut all = user.clone();
    all.extend(ours.iter().cloned());
    put_batch(&venv, &moto, &all);

    let out = cleanup_all(&sb, false, &moto.env(), Some(&venv.join("bin")));
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let listing = moto.listing();
    let on_server: std::collections::BTreeSet<(String, String)> =
        listing.iter().flat_map(|(b, keys)| keys.iter().map(move |(k, _)| (b.clone(), k.clone()))).collect();
    for o in &ours {
        assert!(!on_server.contains(o), "left: {o:?}\n{}", stderr(&out));
    }
    for u in &user {
        assert!(on_server.contains(u), "a user's object was deleted: {u:?}\n{}", stderr(&out));
    }
    assert_eq!(on_server.len(), user.len());
    let err = stderr(&out);
    assert!(err.contains("12 objects with trafficgen's mark to delete"), "{err}");
    assert!(err.contains("16 deleted, 0 failed"), "{err}");
}
