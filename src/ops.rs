//! Driving the client for one operation: write the file, run the command, check the
//! result, clean the local file, and describe what happened as an `OpRecord`.

use std::path::Path;
use std::time::Duration;

use crate::client::{Action, Client, Exec, Outcome};
use crate::events::{DeleteReason, FailClass, OpRecord, OpType};
use crate::fleet::Fleet;
use crate::inventory::Object;
use crate::synth;
use crate::workload::FileChoice;

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

fn record(user: usize, op: OpType, key: &str, bytes: u64, exec: &Exec) -> OpRecord {
    OpRecord {
        user,
        op,
        result: classify(&exec.outcome),
        exit_code: match exec.outcome {
            Outcome::Failed(c) => Some(c),
            Outcome::Ok => Some(0),
            _ => None,
        },
        key: key.to_string(),
        bytes,
        large: false,
        file_created: false,
        duration: exec.duration,
        error: exec.stderr_line.clone().or_else(|| match &exec.outcome {
            Outcome::TimedOut => Some("killed at the command timeout".into()),
            Outcome::Crashed(sig) => Some(format!("killed by signal {sig}")),
            Outcome::Failed(c) => Some(format!("exit code {c}, no stderr")),
            _ => None,
        }),
        delete_reason: None,
        was_live: false,
    }
}

pub async fn upload(fleet: &Fleet, user: usize, key: &str, file: &FileChoice, local: &Path) -> OpRecord {
    let bucket = &fleet.plan.users[user].bucket;
    let path = local.to_path_buf();
    let ext = file.ext.clone();
    let size = file.size;
    let seed = synth::seed_for_key(key);
    // Writing a large file takes a while: keep it off the runtime's worker threads.
    let written = tokio::task::spawn_blocking(move || synth::write_file(&path, &ext, size, seed)).await;
    let large = file.size > fleet.plan.lifecycle.large_threshold;
    let mut rec = match written {
        Ok(Ok(())) => {
            let exec = fleet.client.run(Action::Upload { local, bucket, key }).await;
            let mut r = record(user, OpType::Upload, key, file.size, &exec);
            r.file_created = true;
            r
        }
        Ok(Err(e)) => local_failure(user, OpType::Upload, key, format!("writing {}: {e}", local.display())),
        Err(e) => local_failure(user, OpType::Upload, key, format!("writing {}: {e}", local.display())),
    };
    rec.large = large;
    release_local(local);
    rec
}

pub async fn download(fleet: &Fleet, user: usize, obj: &Object, local: &Path) -> OpRecord {
    let bucket = &fleet.plan.users[user].bucket;
    let exec = fleet.client.run(Action::Download { bucket, key: &obj.key, local }).await;
    let mut rec = record(user, OpType::Download, &obj.key, obj.size, &exec);
    if rec.result.is_ok() {
        // An exit code is not proof: regenerate the uploaded bytes from the key and
        // compare them with what arrived.
        let (path, key, size) = (local.to_path_buf(), obj.key.clone(), obj.size);
        let checked = tokio::task::spawn_blocking(move || {
            let len = std::fs::metadata(&path).map(|m| m.len());
            match len {
                Ok(n) if n != size => Err(format!("downloaded {n} bytes, expected {size}")),
                Err(e) => Err(format!("no downloaded file: {e}")),
                Ok(_) => match synth::matches(&path, synth::ext_of(&key), size, synth::seed_for_key(&key)) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err("downloaded bytes differ from the upload".to_string()),
                    Err(e) => Err(format!("reading the download: {e}")),
                },
            }
        })
        .await
        .unwrap_or_else(|e| Err(format!("checking the download: {e}")));
        if let Err(msg) = checked {
            rec.result = Err(FailClass::Mismatch);
            rec.error = Some(msg);
        }
    }
    release_local(local);
    rec
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

/// Downloads a key that was never uploaded: the client must fail (obsctl: exit 1,
/// `service error`). A success is a mismatch: something answered for a missing object.
pub async fn probe(fleet: &Fleet, user: usize, key: &str, local: &Path) -> OpRecord {
    let bucket = &fleet.plan.users[user].bucket;
    let exec = fleet.client.run(Action::Download { bucket, key, local }).await;
    let mut rec = record(user, OpType::Probe, key, 0, &exec);
    rec.result = match exec.outcome {
        Outcome::Failed(_) => Ok(()),
        Outcome::Ok => {
            rec.error = Some("the download of a missing key succeeded".into());
            Err(FailClass::Mismatch)
        }
        _ => rec.result,
    };
    release_local(local);
    rec
}

pub async fn delete(fleet: &Fleet, user: usize, obj: &Object, reason: DeleteReason) -> OpRecord {
    let bucket = &fleet.plan.users[user].bucket;
    let exec = fleet.client.run(Action::Delete { bucket, key: &obj.key }).await;
    let mut rec = record(user, OpType::Delete, &obj.key, obj.size, &exec);
    rec.delete_reason = Some(reason);
    rec.was_live = !obj.uncertain;
    rec
}

/// Makes sure a bucket exists: list it, create it if that fails, list again if the
/// create fails (another process may have won the race). Errors carry the client's
/// first stderr line.
pub async fn ensure_bucket(client: &Client, bucket: &str) -> Result<(), String> {
    let exists = client.run(Action::BucketExists { bucket }).await;
    if exists.outcome == Outcome::Ok {
        return Ok(());
    }
    let made = client.run(Action::MakeBucket { bucket }).await;
    if made.outcome == Outcome::Ok {
        return Ok(());
    }
    if client.run(Action::BucketExists { bucket }).await.outcome == Outcome::Ok {
        return Ok(());
    }
    Err(describe(&made))
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

fn local_failure(user: usize, op: OpType, key: &str, error: String) -> OpRecord {
    OpRecord {
        user,
        op,
        result: Err(FailClass::LocalIo),
        exit_code: None,
        key: key.to_string(),
        bytes: 0,
        large: false,
        file_created: false,
        duration: Duration::ZERO,
        error: Some(error),
        delete_reason: None,
        was_live: false,
    }
}
