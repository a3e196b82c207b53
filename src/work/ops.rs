//! Driving the client for one operation: write the file, run the command, check the
//! result independently, clean the local file, and describe what happened as
//! `OpRecord`s (one per command run).
//!
//! Nothing the client says is taken on trust: downloads and presigned GETs are compared
//! byte for byte with the upload (content derives from the key), a share of uploads and
//! deletes is confirmed with head-object, and expected failures must fail.
//!
//! Every operation takes the fleet's `Runner` (what running a command needs); those that
//! store or delete objects also take its `Reporter`, whose journal records them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exec::client::{Action, Client, Exec, Outcome, Tag};
use crate::model::events::{Confirmation, DeleteReason, FailClass, OpRecord, OpType};
use crate::work::fleet::{Reporter, Runner};
use crate::work::inventory::Object;
use crate::work::state::JournalFailed;
use crate::work::synth;
use crate::work::workload::FileChoice;

fn classify(o: &Outcome) -> Result<(), FailClass> {
    match o {
        Outcome::Ok => Ok(()),
        Outcome::Failed(_) => Err(FailClass::Failed),
        Outcome::TimedOut => Err(FailClass::TimedOut),
        Outcome::Crashed(_) => Err(FailClass::Crashed),
        Outcome::SpawnError(_) => Err(FailClass::SpawnError),
        Outcome::Cancelled => Err(FailClass::Cancelled),
    }
}

/// The record of one command, started `at` (wall offset).
fn record(runner: &Runner, user: usize, op: OpType, key: &str, bytes: u64, at: f64, exec: &Exec) -> OpRecord {
    let mut r = OpRecord::new(user, op, key, bytes, at);
    r.result = classify(&exec.outcome);
    r.exit_code = match exec.outcome {
        Outcome::Failed(c) => Some(c),
        Outcome::Ok => Some(0),
        _ => None,
    };
    r.duration = exec.duration;
    r.large = bytes > runner.plan.lifecycle.large_threshold;
    r.error = exec.stderr_line.clone().or_else(|| match &exec.outcome {
        Outcome::TimedOut => Some("killed at the command timeout".into()),
        Outcome::Crashed(sig) => Some(format!("killed by signal {sig}")),
        Outcome::Failed(c) => Some(format!("exit code {c}, no stderr")),
        _ => None,
    });
    r
}

/// Runs one command and records it.
async fn run(runner: &Runner, user: usize, op: OpType, key: &str, bytes: u64, action: Action<'_>) -> (OpRecord, Exec) {
    let at = runner.clock.elapsed();
    runner.host.command_started();
    let exec =
        runner.client.run_with(action, Tag { user: Some(user), op: Some(op), build: crate::work::ab::current() }).await;
    runner.host.command_ended(exec.duration);
    (record(runner, user, op, key, bytes, at, &exec), exec)
}

pub async fn upload(
    runner: &Runner,
    reporter: &Reporter,
    user: usize,
    key: &str,
    file: &FileChoice,
    local: &Path,
    confirm: bool,
) -> Vec<OpRecord> {
    let b = runner.bucket(user);
    let at = runner.clock.elapsed();
    let mut out = Vec::new();
    let journaled = reporter.journal_put(runner, user, key, file.size).await.map_err(not_journaled);
    let mut rec = match async {
        journaled?;
        write_local(local, &file.ext, file.size, synth::seed_for_key(key)).await
    }
    .await
    {
        Ok(()) => {
            let (mut r, _) =
                run(runner, user, OpType::Upload, key, file.size, Action::Upload { local, bucket: b, key }).await;
            r.file_created = true;
            r
        }
        Err(e) => local_failure(runner, user, OpType::Upload, key, at, e),
    };
    release_local(local);
    if confirm && rec.result.is_ok() {
        out.push(confirm_upload(runner, user, &mut rec, file.size).await);
    }
    out.insert(0, rec);
    out
}

/// Asks the server (through head-object) whether an upload the client reported is there
/// with its size. A missing object is a phantom upload only when the bucket itself
/// answers, so an outage is never mistaken for a client defect.
async fn confirm_upload(runner: &Runner, user: usize, up: &mut OpRecord, size: u64) -> OpRecord {
    let b = runner.bucket(user);
    let key = up.key.clone();
    let (mut check, exec) =
        run(runner, user, OpType::ConfirmUpload, &key, 0, Action::HeadObject { bucket: b, key: &key }).await;
    check.follow_up = true;
    match exec.outcome {
        Outcome::Ok => {
            check.result = Ok(());
            match head_size(&exec.stdout) {
                Some(n) if n == size => up.confirmation = Some(Confirmation::Confirmed),
                Some(n) => {
                    up.result = Err(FailClass::PhantomUpload);
                    up.error = Some(format!("head-object after the upload says {n} bytes; {size} were uploaded"));
                }
                None => {
                    up.confirmation = Some(Confirmation::Unconfirmed);
                    check.error = Some("head-object printed no object size".into());
                }
            }
        }
        Outcome::Failed(_) if bucket_answers(runner, user, b).await => {
            check.result = Ok(());
            up.result = Err(FailClass::PhantomUpload);
            up.error = Some(format!(
                "the client reported success, but head-object finds no object: {}",
                exec.stderr_line.as_deref().unwrap_or("no error text")
            ));
        }
        _ => up.confirmation = Some(Confirmation::Unconfirmed),
    }
    check
}

/// The bucket is reachable with the run's own credentials.
async fn bucket_answers(runner: &Runner, user: usize, bucket: &str) -> bool {
    let tag = Tag { user: Some(user), op: None, build: crate::work::ab::current() };
    runner.client.run_with(Action::BucketExists { bucket }, tag).await.outcome == Outcome::Ok
}

/// The object size in head-object output: obsctl prints `Content-Length: N`, the AWS
/// CLI prints JSON with `"ContentLength": N`.
pub fn head_size(stdout: &str) -> Option<u64> {
    for marker in ["Content-Length:", "\"ContentLength\":"] {
        if let Some(i) = stdout.find(marker) {
            let digits: String =
                stdout[i + marker.len()..].trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(n) = digits.parse() {
                return Some(n);
            }
        }
    }
    None
}

async fn write_local(path: &Path, ext: &str, size: u64, seed: u64) -> Result<(), String> {
    let (p, e) = (path.to_path_buf(), ext.to_string());
    // Writing a large file takes a while: keep it off the runtime's worker threads.
    match tokio::task::spawn_blocking(move || synth::write_file(&p, &e, size, seed)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("writing {}: {e}", path.display())),
        Err(e) => Err(format!("writing {}: {e}", path.display())),
    }
}

/// Regenerates the uploaded bytes from the key and compares them with a local file.
async fn verify_bytes(path: &Path, obj: &Object) -> Result<(), String> {
    let (path, key, size) = (path.to_path_buf(), obj.key.clone(), obj.size);
    tokio::task::spawn_blocking(move || {
        let len = std::fs::metadata(&path).map(|m| m.len());
        match len {
            Ok(n) if n != size => Err(format!("got {n} bytes, expected {size}")),
            Err(e) => Err(format!("no downloaded file: {e}")),
            Ok(_) => match synth::matches(&path, synth::ext_of(&key), size, synth::seed_for_key(&key)) {
                Ok(true) => Ok(()),
                Ok(false) => Err("the bytes differ from the upload".to_string()),
                Err(e) => Err(format!("reading the download: {e}")),
            },
        }
    })
    .await
    .unwrap_or_else(|e| Err(format!("checking the download: {e}")))
}

pub async fn download(runner: &Runner, user: usize, obj: &Object, local: &Path) -> OpRecord {
    let b = runner.bucket(user);
    let (mut rec, _) =
        run(runner, user, OpType::Download, &obj.key, obj.size, Action::Download { bucket: b, key: &obj.key, local })
            .await;
    if rec.result.is_ok() {
        // An exit code is not proof: compare with what was uploaded.
        if let Err(msg) = verify_bytes(local, obj).await {
            rec.result = Err(FailClass::Mismatch);
            rec.error = Some(format!("download: {msg}"));
        }
    }
    release_local(local);
    rec
}

/// head-object of a live object: it must be there with its size.
pub async fn head_object(runner: &Runner, user: usize, obj: &Object) -> OpRecord {
    let b = runner.bucket(user);
    let (mut rec, exec) =
        run(runner, user, OpType::HeadObject, &obj.key, obj.size, Action::HeadObject { bucket: b, key: &obj.key })
            .await;
    if rec.result.is_ok() {
        match head_size(&exec.stdout) {
            Some(n) if n == obj.size => {}
            Some(n) => {
                rec.result = Err(FailClass::Mismatch);
                rec.error = Some(format!("head-object says {n} bytes; {} were uploaded", obj.size));
            }
            None => {
                rec.result = Err(FailClass::Mismatch);
                rec.error = Some("head-object printed no object size".into());
            }
        }
    }
    rec
}

/// presign, then a plain HTTP GET of the URL: the bytes must be the upload's.
pub async fn presign(runner: &Runner, user: usize, obj: &Object, local: &Path) -> OpRecord {
    let b = runner.bucket(user);
    let (mut rec, exec) =
        run(runner, user, OpType::Presign, &obj.key, obj.size, Action::Presign { bucket: b, key: &obj.key }).await;
    if rec.result.is_ok() {
        let url = exec.stdout.lines().map(str::trim).find(|l| crate::model::url::is_http(l));
        // A URL that does not work is a failed presign; one that serves other bytes than
        // were uploaded is a mismatch.
        let checked = match url {
            None => Err((FailClass::Failed, "presign printed no URL".to_string())),
            Some(url) => match http_get(runner, url.to_string(), local.to_path_buf()).await {
                Ok(()) => verify_bytes(local, obj)
                    .await
                    .map_err(|m| (FailClass::Mismatch, format!("GET of the presigned URL: {m}"))),
                Err(Get::Cancelled) => Err((
                    FailClass::Cancelled,
                    "GET of the presigned URL cut at the end of the grace period".to_string(),
                )),
                Err(Get::TimedOut) => Err((
                    FailClass::TimedOut,
                    format!(
                        "GET of the presigned URL cut at the command timeout ({})",
                        humantime::format_duration(runner.plan.command_timeout)
                    ),
                )),
                Err(Get::Failed(e)) => Err((FailClass::Failed, format!("GET of the presigned URL failed: {e}"))),
            },
        };
        if let Err((class, msg)) = checked {
            rec.result = Err(class);
            rec.error = Some(runner.client.redact(&msg));
        }
    }
    release_local(local);
    rec
}

/// How a presigned GET did not succeed.
enum Get {
    /// Still running at the command timeout, as a client command would be killed.
    TimedOut,
    /// Still running when the grace period ended (the run kills its children then).
    Cancelled,
    Failed(String),
}

/// How often a GET in progress looks at whether the grace period has ended.
const GET_POLL: Duration = Duration::from_millis(100);

/// Fetches a URL into a file (blocking HTTP on the blocking pool), bounded like a client
/// command: by `--command-timeout`, and cut when the run's grace period ends. A fixed
/// 60 s of its own once kept a run going 65 s past its grace period.
async fn http_get(runner: &Runner, url: String, to: PathBuf) -> Result<(), Get> {
    let timeout = runner.plan.command_timeout;
    let mut get = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(true).build().into();
        let resp = agent.get(&url).call().map_err(|e| e.to_string())?;
        let mut body = resp.into_body().into_reader();
        let mut f = std::fs::File::create(&to).map_err(|e| e.to_string())?;
        std::io::copy(&mut body, &mut f).map_err(|e| e.to_string())?;
        Ok(())
    });
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        tokio::select! {
            r = &mut get => {
                return match r {
                    Ok(Ok(())) => Ok(()),
                    // ureq's own timeout fires at the same moment as ours.
                    Ok(Err(_)) if tokio::time::Instant::now() + GET_POLL >= deadline => Err(Get::TimedOut),
                    Ok(Err(e)) => Err(Get::Failed(e)),
                    Err(e) => Err(Get::Failed(e.to_string())),
                };
            }
            _ = tokio::time::sleep(GET_POLL) => {
                // The blocking thread ends by itself at the timeout; the operation does
                // not wait for it.
                if runner.client.children.refusing() {
                    return Err(Get::Cancelled);
                }
                if tokio::time::Instant::now() >= deadline + GET_POLL {
                    return Err(Get::TimedOut);
                }
            }
        }
    }
}

pub async fn list(runner: &Runner, user: usize) -> OpRecord {
    let b = runner.bucket(user);
    run(runner, user, OpType::List, "", 0, Action::List { bucket: b, prefix: "" }).await.0
}

pub async fn du(runner: &Runner, user: usize) -> OpRecord {
    let b = runner.bucket(user);
    run(runner, user, OpType::Du, "", 0, Action::Du { bucket: b, prefix: "" }).await.0
}

/// One file of a synced folder.
pub struct SyncFile {
    pub name: String,
    pub ext: String,
    pub size: u64,
}

/// `sync` of a small folder to `prefix`, then a listing of the prefix: every file must
/// be there. Returns the records and the keys (with sizes) now stored.
pub async fn sync(
    runner: &Runner,
    reporter: &Reporter,
    user: usize,
    dir: &Path,
    prefix: &str,
    files: &[SyncFile],
) -> (Vec<OpRecord>, Vec<(String, u64)>) {
    let b = runner.bucket(user);
    let at = runner.clock.elapsed();
    let total: u64 = files.iter().map(|f| f.size).sum();
    let mut written = Ok(());
    if let Err(e) = std::fs::create_dir_all(dir) {
        written = Err(format!("creating {}: {e}", dir.display()));
    }
    for f in files {
        if written.is_ok() {
            let key = format!("{prefix}{}", f.name);
            written = write_local(&dir.join(&f.name), &f.ext, f.size, synth::seed_for_key(&key)).await;
        }
    }
    let mut stored = Vec::new();
    let mut records = Vec::new();
    for f in files {
        if written.is_ok()
            && let Err(e) = reporter.journal_put(runner, user, &format!("{prefix}{}", f.name), f.size).await
        {
            written = Err(not_journaled(e));
        }
    }
    let mut rec = match written {
        Err(e) => local_failure(runner, user, OpType::Sync, prefix, at, e),
        Ok(()) => {
            let (mut r, _) =
                run(runner, user, OpType::Sync, prefix, total, Action::Sync { local: dir, bucket: b, prefix }).await;
            r.file_created = true;
            r
        }
    };
    if rec.result.is_ok() {
        let (mut check, exec) = run(runner, user, OpType::List, prefix, 0, Action::List { bucket: b, prefix }).await;
        check.follow_up = true;
        if check.result.is_ok() {
            let missing: Vec<&str> = files
                .iter()
                .filter(|f| !exec.stdout.contains(&format!("{prefix}{}", f.name)))
                .map(|f| f.name.as_str())
                .collect();
            if missing.is_empty() {
                stored = files.iter().map(|f| (format!("{prefix}{}", f.name), f.size)).collect();
                rec.stored = files.len() as u64;
            } else {
                rec.result = Err(FailClass::PhantomUpload);
                rec.error = Some(format!("sync exited 0 but the listing lacks {}", missing.join(", ")));
            }
        } else {
            check.error = check.error.map(|e| format!("listing after sync: {e}"));
        }
        records.push(check);
    }
    let _ = std::fs::remove_dir_all(dir);
    records.insert(0, rec);
    (records, stored)
}

/// mb, then rb, of a scratch bucket.
pub async fn bucket_cycle(runner: &Runner, user: usize, scratch: &str) -> Vec<OpRecord> {
    let (mb, _) = run(runner, user, OpType::MakeBucket, scratch, 0, Action::MakeBucket { bucket: scratch }).await;
    if mb.result.is_err() {
        return vec![mb];
    }
    let (mut rb, _) =
        run(runner, user, OpType::RemoveBucket, scratch, 0, Action::RemoveBucket { bucket: scratch }).await;
    rb.follow_up = true;
    vec![mb, rb]
}

/// An expected failure: a command that must fail. Its failure counts as success; a
/// success is a client defect (`unexpected_success`).
pub async fn expected_failure(runner: &Runner, user: usize, op: OpType, key: &str, local: &Path) -> OpRecord {
    let b = runner.bucket(user);
    let missing = runner.missing_bucket.as_str();
    let at = runner.clock.elapsed();
    let mut bytes = 0;
    let action = match op {
        OpType::MissingKeyDownload => Action::Download { bucket: b, key, local },
        OpType::MissingBucketUpload => {
            bytes = 1024;
            if let Err(e) = write_local(local, synth::ext_of(key), bytes, synth::seed_for_key(key)).await {
                return local_failure(runner, user, op, key, at, e);
            }
            Action::Upload { local, bucket: missing, key }
        }
        OpType::MissingBucketDelete => Action::Delete { bucket: missing, key },
        // `local` names a file that is never written.
        OpType::MissingLocalUpload => Action::Upload { local, bucket: b, key },
        OpType::MissingKeyHead => Action::HeadObject { bucket: b, key },
        OpType::WrongCredentials => Action::BucketExists { bucket: b },
        other => unreachable!("{} is not an expected failure", other.name()),
    };
    let exec =
        runner.client.run_with(action, Tag { user: Some(user), op: Some(op), build: crate::work::ab::current() }).await;
    let mut rec = record(runner, user, op, key, bytes, at, &exec);
    rec.result = match exec.outcome {
        Outcome::Failed(_) => Ok(()),
        Outcome::Ok => {
            rec.error = Some(format!("{}: the command succeeded but must fail", op.describe_expected()));
            Err(FailClass::UnexpectedSuccess)
        }
        _ => rec.result,
    };
    if op != OpType::MissingLocalUpload {
        release_local(local);
    }
    rec
}

/// Deletes an object; with `confirm`, head-object then checks it is gone (obsctl's rm
/// exits 0 for a key that does not exist, so its exit code proves nothing).
pub async fn delete(
    runner: &Runner,
    reporter: &Reporter,
    user: usize,
    obj: &Object,
    reason: DeleteReason,
    confirm: bool,
) -> Vec<OpRecord> {
    let b = runner.bucket(user);
    let (mut rec, _) =
        run(runner, user, OpType::Delete, &obj.key, obj.size, Action::Delete { bucket: b, key: &obj.key }).await;
    rec.delete_reason = Some(reason);
    rec.was_live = !obj.uncertain;
    if !(confirm && rec.result.is_ok()) {
        if rec.result.is_ok() {
            reporter.journal_del(b, &obj.key);
        }
        return vec![rec];
    }
    let (mut check, exec) =
        run(runner, user, OpType::ConfirmDelete, &obj.key, 0, Action::HeadObject { bucket: b, key: &obj.key }).await;
    check.follow_up = true;
    match exec.outcome {
        Outcome::Ok => {
            check.result = Ok(());
            rec.result = Err(FailClass::PhantomDelete);
            rec.error = Some("rm exited 0, but head-object still finds the object".into());
        }
        Outcome::Failed(_) if bucket_answers(runner, user, b).await => {
            check.result = Ok(());
            rec.confirmation = Some(Confirmation::Confirmed);
        }
        _ => rec.confirmation = Some(Confirmation::Unconfirmed),
    }
    if rec.result.is_ok() {
        reporter.journal_del(b, &obj.key);
    }
    vec![rec, check]
}

/// Empties a local file once its child has ended. The worker reuses the name for a
/// later file: on some filesystems (ext4 without a journal) every create after many
/// deletes scans the freed inodes, which made create+delete the dispatcher's largest
/// cost. Emptying frees the space just the same; the temp dirs go at exit.
fn release_local(path: &Path) {
    if std::fs::OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(0)).is_err() {
        let _ = std::fs::remove_file(path);
    }
}

/// A bucket that could not be found or made, with how the client's last try ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NoBucket(pub String);

/// Makes sure a bucket exists: list it, create it if that fails, list again if the
/// create fails (another process may have won the race). Errors carry the client's
/// first stderr line.
pub async fn ensure_bucket(client: &Client, bucket: &str) -> Result<(), NoBucket> {
    let (exists, check) = client.run_pending(Action::BucketExists { bucket }, Tag::default()).await;
    if exists.outcome == Outcome::Ok {
        check.settle(None);
        return Ok(());
    }
    let made = client.run(Action::MakeBucket { bucket }).await;
    // obsctl's `service error` does not say why the check failed; the `mb` that then
    // succeeds does: the bucket was missing. The failure's class is then known (a
    // bucket error), and obsctl's error families stay judged from a run's first hour.
    check.settle((made.outcome == Outcome::Ok).then_some(OpType::MissingBucketDelete));
    if made.outcome == Outcome::Ok {
        return Ok(());
    }
    if client.run(Action::BucketExists { bucket }).await.outcome == Outcome::Ok {
        return Ok(());
    }
    Err(NoBucket(describe(&made)))
}

/// `exit 1: Error: ... service error` or `timed out` for messages.
pub fn describe(exec: &Exec) -> String {
    let what = match &exec.outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::Failed(c) => format!("exit {c}"),
        Outcome::TimedOut => format!("timed out after {:.1}s", exec.duration.as_secs_f64()),
        Outcome::Crashed(s) => format!("killed by signal {s}"),
        Outcome::SpawnError(e) => return e.clone(),
        Outcome::Cancelled => "cancelled".into(),
    };
    match &exec.stderr_line {
        Some(l) => format!("{what}: {l}"),
        None => what,
    }
}

/// Why an upload did not start when the journal could not record it.
fn not_journaled(error: JournalFailed) -> String {
    format!("not started: the state journal cannot record it ({error})")
}

fn local_failure(runner: &Runner, user: usize, op: OpType, key: &str, at: f64, error: String) -> OpRecord {
    let mut r = OpRecord::new(user, op, key, 0, at);
    r.result = Err(FailClass::LocalIo);
    r.error = Some(runner.client.redact(&error));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_sizes_from_both_flavors() {
        assert_eq!(head_size("Key: a/b\nContent-Length: 1234\nETag: \"x\"\n"), Some(1234));
        assert_eq!(head_size("{\n    \"ContentLength\": 77,\n    \"ETag\": \"\\\"x\\\"\"\n}"), Some(77));
        assert_eq!(head_size("Key: a\n"), None);
    }
}
