//! What obsctl *should* report for each command it ran: the contract, written from each
//! metric's name and description as a dashboard user reads them ("Total number of upload
//! operations": one successful upload command is one upload; "Total number of errors":
//! one failed command is one error), never from what obsctl's code happens to do. Where
//! the code disagrees, that is the finding the reconciliation reports.
//!
//! | metric | moved by | by |
//! |---|---|---|
//! | operations_total | every command that ran to its end, failed or not | 1 |
//! | operation_duration_seconds | every command that ran to its end | 1 sample |
//! | errors_total | every command that failed (exit ≠ 0) | 1 |
//! | errors_bucket_total | a failure caused by a missing bucket | 1 |
//! | errors_file_total | a failure caused by a missing local file | 1 |
//! | errors_auth_total | a failure caused by wrong credentials | 1 |
//! | errors_service_total | a failure the S3 service answered (missing key) | 1 |
//! | uploads_total | a successful `cp` upload | 1 |
//! | downloads_total | a successful `cp` download | 1 |
//! | deletes_total | a successful `rm` | 1 |
//! | lists_total | a successful `ls` | 1 |
//! | sync_operations_total | a successful `sync` | 1 |
//! | files_uploaded_total | a successful upload; a sync | 1; its files |
//! | files_downloaded_total | a successful download | 1 |
//! | files_deleted_total | a successful `rm` | 1 |
//! | bytes_uploaded_total | a successful upload; a sync | its bytes |
//! | bytes_downloaded_total | a successful download | its bytes |
//! | files_{small,medium,large,xlarge}_total | each file uploaded or downloaded, by size (< 1 MiB, < 100 MiB, < 1 GiB, more) | 1 |
//! | file_size_bytes | each file uploaded or downloaded | 1 sample of its size |
//! | transfer_rate_kbps | each file uploaded or downloaded | 1 sample |
//!
//! Error classes are only judged when every failure's cause is known (the expected
//! failures); a real failure's cause is not trafficgen's to know.

use crate::model::events::{Cmd, OpType, SizeClass};

/// One child that ran, with the ground truth of how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildFact {
    /// Its `service.instance.id`.
    pub id: String,
    pub user: Option<usize>,
    pub cmd: Cmd,
    /// The expected failure it was, if any (its cause is then known).
    pub expected: Option<OpType>,
    /// It exited by itself (not killed at a timeout or shutdown): it had its chance to export.
    pub exited: bool,
    pub ok: bool,
    /// Bytes transferred (uploads, downloads; a sync's total).
    pub bytes: u64,
    /// Files a sync uploaded, with their sizes.
    pub files: Vec<u64>,
    /// Under `ab`: the build that ran it.
    pub build: Option<crate::model::events::Build>,
}

/// Whoever follows each child from its start to its end: the telemetry ledger. The
/// client (exec) reports to it and the analysis implements it, so neither imports the
/// other.
pub trait ChildWatch: Send + Sync {
    /// A child is about to start (before it can export).
    fn started(&self, id: &str);
    /// A child ended, with the ground truth of how.
    fn ended(&self, fact: ChildFact);
}

/// A family's expected movement: counters use `value`; histograms `count` (and `value`
/// as the sum of the samples when the sum is meaningful to us).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Expect {
    pub value: f64,
    pub count: u64,
}

/// The families of the contract, in table order; `true` = a histogram.
pub const FAMILIES: &[(&str, bool)] = &[
    ("operations_total", false),
    ("operation_duration_seconds", true),
    ("errors_total", false),
    ("errors_bucket_total", false),
    ("errors_file_total", false),
    ("errors_auth_total", false),
    ("errors_service_total", false),
    ("uploads_total", false),
    ("downloads_total", false),
    ("deletes_total", false),
    ("lists_total", false),
    ("sync_operations_total", false),
    ("files_uploaded_total", false),
    ("files_downloaded_total", false),
    ("files_deleted_total", false),
    ("bytes_uploaded_total", false),
    ("bytes_downloaded_total", false),
    ("files_small_total", false),
    ("files_medium_total", false),
    ("files_large_total", false),
    ("files_xlarge_total", false),
    ("file_size_bytes", true),
    ("transfer_rate_kbps", true),
];

/// Error-class families, judged only when every failure's cause is known.
pub const ERROR_CLASSES: &[&str] =
    &["errors_bucket_total", "errors_file_total", "errors_auth_total", "errors_service_total"];

fn size_family(bytes: u64) -> &'static str {
    match SizeClass::of(bytes) {
        SizeClass::Small => "files_small_total",
        SizeClass::Medium => "files_medium_total",
        SizeClass::Large => "files_large_total",
        SizeClass::XLarge => "files_xlarge_total",
    }
}

/// The contract for one child: (family, movement) pairs.
pub fn expected(f: &ChildFact) -> Vec<(&'static str, Expect)> {
    let one = Expect { value: 1.0, count: 0 };
    let sample = |v: f64| Expect { value: v, count: 1 };
    let mut out = Vec::new();
    if !f.exited || f.cmd == Cmd::Version {
        return out;
    }
    out.push(("operations_total", one));
    out.push(("operation_duration_seconds", Expect { value: 0.0, count: 1 }));
    if !f.ok {
        out.push(("errors_total", one));
        let class = match f.expected {
            Some(OpType::MissingBucketUpload | OpType::MissingBucketDelete) => Some("errors_bucket_total"),
            Some(OpType::MissingLocalUpload) => Some("errors_file_total"),
            Some(OpType::WrongCredentials) => Some("errors_auth_total"),
            Some(OpType::MissingKeyDownload | OpType::MissingKeyHead) => Some("errors_service_total"),
            _ => None,
        };
        if let Some(c) = class {
            out.push((c, one));
        }
        return out;
    }
    let file = |out: &mut Vec<(&'static str, Expect)>, bytes: u64| {
        out.push((size_family(bytes), one));
        out.push(("file_size_bytes", sample(bytes as f64)));
        out.push(("transfer_rate_kbps", Expect { value: 0.0, count: 1 }));
    };
    match f.cmd {
        Cmd::Upload => {
            out.push(("uploads_total", one));
            out.push(("files_uploaded_total", one));
            out.push(("bytes_uploaded_total", Expect { value: f.bytes as f64, count: 0 }));
            file(&mut out, f.bytes);
        }
        Cmd::Download => {
            out.push(("downloads_total", one));
            out.push(("files_downloaded_total", one));
            out.push(("bytes_downloaded_total", Expect { value: f.bytes as f64, count: 0 }));
            file(&mut out, f.bytes);
        }
        Cmd::Delete => {
            out.push(("deletes_total", one));
            out.push(("files_deleted_total", one));
        }
        Cmd::List => out.push(("lists_total", one)),
        Cmd::Sync => {
            out.push(("sync_operations_total", one));
            out.push(("files_uploaded_total", Expect { value: f.files.len() as f64, count: 0 }));
            out.push(("bytes_uploaded_total", Expect { value: f.bytes as f64, count: 0 }));
            for b in &f.files {
                file(&mut out, *b);
            }
        }
        Cmd::HeadObject | Cmd::Du | Cmd::Presign | Cmd::MakeBucket | Cmd::RemoveBucket | Cmd::Version => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(cmd: Cmd, ok: bool) -> ChildFact {
        ChildFact {
            build: None,
            id: "r-1".into(),
            user: Some(0),
            cmd,
            expected: None,
            exited: true,
            ok,
            bytes: 2 << 20,
            files: vec![],
        }
    }

    fn get(v: &[(&str, Expect)], name: &str) -> Option<Expect> {
        v.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
    }

    #[test]
    fn a_successful_upload_moves_what_its_names_promise() {
        let e = expected(&fact(Cmd::Upload, true));
        for name in ["operations_total", "uploads_total", "files_uploaded_total", "files_medium_total"] {
            assert_eq!(get(&e, name).unwrap().value, 1.0, "{name}");
        }
        assert_eq!(get(&e, "bytes_uploaded_total").unwrap().value, (2 << 20) as f64);
        assert_eq!(get(&e, "file_size_bytes").unwrap(), Expect { value: (2 << 20) as f64, count: 1 });
        assert_eq!(get(&e, "operation_duration_seconds").unwrap().count, 1);
        assert!(get(&e, "errors_total").is_none() && get(&e, "downloads_total").is_none());
    }

    #[test]
    fn a_failed_command_is_one_operation_and_one_error_of_its_known_class() {
        let mut f = fact(Cmd::Download, false);
        f.expected = Some(OpType::MissingKeyDownload);
        let e = expected(&f);
        assert_eq!(get(&e, "operations_total").unwrap().value, 1.0);
        assert_eq!(get(&e, "errors_total").unwrap().value, 1.0);
        assert_eq!(get(&e, "errors_service_total").unwrap().value, 1.0);
        assert!(get(&e, "downloads_total").is_none() && get(&e, "bytes_downloaded_total").is_none());
    }

    #[test]
    fn a_killed_child_promises_nothing() {
        let mut f = fact(Cmd::Upload, false);
        f.exited = false;
        assert!(expected(&f).is_empty());
    }

    #[test]
    fn a_sync_counts_its_files() {
        let mut f = fact(Cmd::Sync, true);
        f.files = vec![10, 20, 30];
        f.bytes = 60;
        let e = expected(&f);
        assert_eq!(get(&e, "files_uploaded_total").unwrap().value, 3.0);
        assert!(get(&e, "uploads_total").is_none(), "a sync is a sync operation, not an upload command");
        assert_eq!(e.iter().filter(|(n, _)| *n == "files_small_total").count(), 3);
    }
}
