//! Everything a run writes besides its log: the summary JSON, the HTML report, the JUnit
//! verdict and the operations log. Every path is checked before any traffic starts, so a
//! bad path fails at once instead of after a long run, but nothing is created or emptied
//! then: a run refused later (a state dir in use, a client that does not start) leaves
//! the previous files as they were. At the end each format is written from the run's
//! plain result data into a temp file beside it and renamed over it, so a reader never
//! sees half a file and a failed write leaves the old one. A path that is a symbolic
//! link, or that is also one of the inputs, is refused: trafficgen overwrites only the
//! file it was told to write, never a file a link leads to or the file it reads.
//!
//! The summaries `merge`, `report` and `compare` read are bounded in size
//! ([`MAX_SUMMARY_BYTES`]), so a huge or hostile file is refused before it is parsed.

pub mod junit;
pub mod opslog;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::model::error::Error;
use crate::model::summary::Summary;

/// The largest summary JSON `merge`, `report` and `compare` read. A day of 1,000 users
/// writes about 8 MB (7.6 KB a user and 2 KB a timeline point, pretty-printed, at the
/// default 5-minute stats interval).
pub const MAX_SUMMARY_BYTES: u64 = 64 * 1024 * 1024;

/// Parsed, a summary as written takes about 8 times its size (15 times written without
/// spaces); a file shaped to cost more per byte (millions of `{"a":0}`, 87 times) is
/// refused before it is parsed when its estimate passes this many times its size.
const MAX_PARSE_FACTOR: u64 = 24;

/// What parsing `bytes` into a `serde_json::Value` allocates, estimated from one pass
/// over it: every array element or object member takes a 32-byte value (64 counted, for
/// the growth of vectors and nodes) and every non-empty object a B-tree node of about
/// 640 bytes. Strings are counted by the file's size itself.
fn parse_cost(bytes: &[u8]) -> u64 {
    let (mut cost, mut in_string, mut escaped) = (0u64, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' | b'[' => cost += 64,
            b'{' => {
                cost += 64;
                let next = bytes[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
                if next != Some(&b'}') {
                    cost += 640;
                }
            }
            _ => {}
        }
    }
    cost
}

/// The output files of one run.
#[derive(Debug, Default)]
pub struct Exports {
    pub summary_json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub ops_log: Option<PathBuf>,
}

/// Checks that `path` can be written as a file, without creating or emptying it: its
/// folder exists and takes a new file (one is created there and removed), and the path
/// is not a folder, a symbolic link or a device.
pub fn prepare(flag: &str, path: &Path) -> Result<(), Error> {
    let shown = path.display();
    if path.is_dir() {
        return Err(Error::Usage(format!("{flag} {shown}: is a directory; give a file path")));
    }
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_symlink() {
            return Err(Error::Usage(format!(
                "{flag} {shown}: is a symbolic link; trafficgen writes a new file there and would \
                 replace the link (or, writing through it, a file it was not given): give the real path"
            )));
        }
        if !m.is_file() {
            return Err(Error::Usage(format!("{flag} {shown}: is not a regular file; give a file path")));
        }
    }
    let parent = folder_of(path);
    if !parent.is_dir() {
        return Err(Error::Usage(format!("{flag} {shown}: the directory {} does not exist", parent.display())));
    }
    let probe = tempfile::Builder::new()
        .prefix(".trafficgen-check-")
        .tempfile_in(parent)
        .map_err(|e| Error::Usage(format!("{flag} {shown}: cannot write in {}: {e}", parent.display())))?;
    probe.close().map_err(|e| Error::Usage(format!("{flag} {shown}: cannot write in {}: {e}", parent.display())))
}

/// The folder a path's file is in ("." for a bare name).
fn folder_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Refuses an output that is also an input (the same file, by device and inode, or the
/// same canonical path when one does not exist yet), two outputs that are one file, and
/// standard output redirected into an input (the shell has emptied it already). Each
/// pair is (what it is, e.g. "--summary-json" or "the summary", its path).
pub fn check_distinct(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<(), Error> {
    for (i, (flag, out)) in outputs.iter().enumerate() {
        for (what, input) in inputs {
            if same_file(out, input) {
                return Err(Error::Usage(format!(
                    "{flag} {} is also {what} {}: trafficgen does not write over a file it reads; \
                     give another path",
                    out.display(),
                    input.display()
                )));
            }
        }
        for (other, path) in &outputs[..i] {
            if same_file(out, path) {
                return Err(Error::Usage(format!(
                    "{other} {} and {flag} {} are the same file; give each its own path",
                    path.display(),
                    out.display()
                )));
            }
        }
    }
    if let Some(stdout) = stdout_identity() {
        for (what, input) in inputs {
            if std::fs::metadata(input).is_ok_and(|m| (m.dev(), m.ino()) == stdout) {
                return Err(Error::Usage(format!(
                    "standard output goes to {what} {}, a file trafficgen reads (a `>` redirection \
                     has emptied it already); redirect it to another file",
                    input.display()
                )));
            }
        }
    }
    Ok(())
}

/// What a command reads or keeps, which none of its outputs may be: the files it reads
/// (a profile, summaries, client binaries) and the state dir whose journal and lock it
/// keeps. A run, `ab`, `merge`, `report` and `synth` all check their outputs against it.
#[derive(Debug, Default)]
pub struct Reads<'a> {
    pub files: Vec<(&'a str, &'a Path)>,
    pub state_dir: Option<&'a Path>,
}

/// The files trafficgen keeps in a state dir (`work::state`): the journal of live
/// objects, the journal being rewritten, and the lock.
const STATE_FILES: [(&str, &str); 3] = [
    ("the state dir's journal", "objects.jsonl"),
    ("the state dir's journal", "objects.jsonl.partial"),
    ("the state dir's lock", "lock"),
];

/// The one check of a command's outputs, before anything runs and without creating or
/// emptying a file: each can be written as a regular file (not a folder, a link or a
/// device; its folder exists and takes a new file), none is a file the command reads or
/// a file of its state dir, and no two are one file. A client binary given as a bare
/// name is looked up on PATH, not read from here, so it is not compared.
pub fn check_outputs(reads: &Reads, outputs: &[(&str, &Path)]) -> Result<(), Error> {
    for (flag, p) in outputs {
        prepare(flag, p)?;
    }
    let kept: Vec<(&str, PathBuf)> = reads
        .state_dir
        .map(|d| STATE_FILES.iter().map(|(what, name)| (*what, d.join(name))).collect())
        .unwrap_or_default();
    let mut inputs: Vec<(&str, &Path)> = reads.files.to_vec();
    inputs.extend(kept.iter().map(|(what, p)| (*what, p.as_path())));
    check_distinct(&inputs, outputs)
}

/// The one writer: `text` to `path` atomically ([`write_atomic`]), a failure worded the
/// same for every command's every output.
pub fn write(flag: &str, path: &Path, text: &str) -> Result<(), Error> {
    write_atomic(path, text).map_err(|e| failed(flag, path, &e))
}

/// [`write`] with the content streamed by `fill`.
pub fn write_with(flag: &str, path: &Path, fill: impl FnOnce(&mut File) -> std::io::Result<()>) -> Result<(), Error> {
    write_atomic_with(path, fill).map_err(|e| failed(flag, path, &e))
}

fn failed(flag: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Failed(format!("{flag} {}: cannot write it: {e}", path.display()))
}

/// Whether two paths name one file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        (Err(_), Err(_)) => canonical(a).is_some_and(|x| canonical(b).is_some_and(|y| x == y)),
        _ => false,
    }
}

/// A path that may not exist yet, with its folder made canonical.
fn canonical(p: &Path) -> Option<PathBuf> {
    Some(folder_of(p).canonicalize().ok()?.join(p.file_name()?))
}

/// Standard output's (device, inode) when it is a regular file.
fn stdout_identity() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    let m = File::from(fd).metadata().ok()?;
    m.is_file().then(|| (m.dev(), m.ino()))
}

/// A summary JSON's text, refused unread when it is larger than [`MAX_SUMMARY_BYTES`]
/// (the size is checked before reading, and the read stops past the limit for a file
/// whose size is not known beforehand, such as a pipe).
pub fn read_summary(path: &Path) -> Result<String, Error> {
    let shown = path.display();
    let too_big = |size: String| {
        Error::Usage(format!(
            "{shown}: {size} bytes, more than the {} MiB ({MAX_SUMMARY_BYTES} bytes) a summary may have; \
             a day of 1,000 users writes about 8 MB",
            MAX_SUMMARY_BYTES >> 20
        ))
    };
    let f = File::open(path).map_err(|e| Error::Usage(format!("cannot read {shown}: {e}")))?;
    let size = f.metadata().map_err(|e| Error::Usage(format!("cannot read {shown}: {e}")))?.len();
    if size > MAX_SUMMARY_BYTES {
        return Err(too_big(size.to_string()));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    f.take(MAX_SUMMARY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Usage(format!("cannot read {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_SUMMARY_BYTES {
        return Err(too_big(format!("more than {MAX_SUMMARY_BYTES}")));
    }
    let cost = parse_cost(&bytes);
    if cost > MAX_PARSE_FACTOR * bytes.len() as u64 + (4 << 20) {
        return Err(Error::Usage(format!(
            "{shown}: not shaped like a trafficgen summary: its {} bytes would take about {} MB to read \
             (more than {MAX_PARSE_FACTOR} times its size; a summary takes about 8)",
            bytes.len(),
            cost / 1_000_000
        )));
    }
    String::from_utf8(bytes).map_err(|e| Error::Usage(format!("cannot read {shown}: not UTF-8 text ({e})")))
}

impl Exports {
    /// The outputs given, with their flags.
    pub fn paths(&self) -> Vec<(&'static str, &Path)> {
        [
            ("--summary-json", &self.summary_json),
            ("--html", &self.html),
            ("--junit", &self.junit),
            ("--ops-log", &self.ops_log),
        ]
        .into_iter()
        .filter_map(|(flag, p)| Some((flag, p.as_deref()?)))
        .collect()
    }

    /// Writes the summary, the HTML report and the JUnit file; returns the paths written.
    pub fn finish(&self, s: &Summary) -> Result<Vec<PathBuf>, Error> {
        let mut written = Vec::new();
        if let Some(p) = &self.summary_json {
            let text = serde_json::to_string_pretty(s).map_err(|e| Error::Failed(e.to_string()))? + "\n";
            write("--summary-json", p, &text)?;
            written.push(p.clone());
        }
        if let Some(p) = &self.html {
            let page = crate::output::html::render(s)
                .map_err(|e| Error::Failed(format!("cannot make the HTML report: {e}")))?;
            write("--html", p, &page)?;
            written.push(p.clone());
        }
        if let Some(p) = &self.junit {
            write("--junit", p, &junit::from_summary(s))?;
            written.push(p.clone());
        }
        Ok(written)
    }
}

/// Writes `text` to a new temp file in `path`'s folder, then renames it over `path`: a
/// reader never sees half a file, a failed write leaves the old file whole, and a link at
/// `path` is replaced, never written through. The temp name is unique (pid and random),
/// so no other file is overwritten on the way.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    // Synced before the rename: after a crash the path holds the old file or the new one.
    write_atomic_with(path, |f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
}

/// [`write_atomic`] with the content written by `fill` (a large file, streamed; `fill`
/// syncs it if it must survive a crash).
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut File) -> std::io::Result<()>) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| std::io::Error::other("not a file path"))?;
    let folder = folder_of(path);
    let mut attempt = 0;
    let (tmp, mut f) = loop {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}-{:08x}.partial", std::process::id(), rand::random::<u32>()));
        let tmp = folder.join(tmp_name);
        // A new file only (never an existing one or a link's target), with the usual
        // permissions (0666 less the umask), as a plain create would have.
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let written = fill(&mut f).and_then(|()| {
        drop(f);
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checking_a_path_creates_and_empties_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("s.json");
        std::fs::write(&old, "earlier run").unwrap();
        prepare("--summary-json", &old).unwrap();
        prepare("--html", &dir.path().join("new.html")).unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "earlier run");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, ["s.json"]);
    }

    #[test]
    fn a_link_is_refused_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (target, link) = (dir.path().join("target.json"), dir.path().join("link.json"));
        std::fs::write(&target, "keep me").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = prepare("--summary-json", &link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        // Written anyway (a link made after the check), the link is replaced, never followed.
        write_atomic(&link, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    }

    #[test]
    fn an_output_that_is_an_input_or_another_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("s0.json");
        std::fs::write(&input, "{}").unwrap();
        let via_dot = dir.path().join(".").join("s0.json");
        let err = check_distinct(&[("the summary", &input)], &[("--summary-json", &via_dot)]).unwrap_err().to_string();
        assert!(err.contains("--summary-json") && err.contains("the summary") && err.contains("s0.json"), "{err}");
        let hard = dir.path().join("hard.json");
        std::fs::hard_link(&input, &hard).unwrap();
        assert!(check_distinct(&[("the summary", &input)], &[("--junit", &hard)]).is_err());
        let (a, b) = (dir.path().join("x.json"), dir.path().join("./x.json"));
        let err = check_distinct(&[], &[("--summary-json", &a), ("--html", &b)]).unwrap_err().to_string();
        assert!(err.contains("--summary-json") && err.contains("--html"), "{err}");
        check_distinct(&[("the summary", &input)], &[("--summary-json", &a)]).unwrap();
    }

    #[test]
    fn the_parse_cost_follows_the_shape_not_the_size() {
        assert_eq!(parse_cost(b"{}"), 64);
        assert_eq!(parse_cost(b"{ \"a\": [1, 2] }"), 64 + 640 + 64 + 64);
        // Structure inside strings (escaped quotes too) costs nothing.
        assert_eq!(parse_cost(br#"{"k": "{[,\"{,"}"#), 64 + 640);
        let dir = tempfile::tempdir().unwrap();
        let dense = dir.path().join("dense.json");
        let body = vec!["{\"a\":0}"; 100_000].join(",");
        std::fs::write(&dense, format!("{{\"ops\":{{}},\"x\":[{body}]}}")).unwrap();
        let err = read_summary(&dense).unwrap_err().to_string();
        assert!(err.contains("dense.json") && err.contains("not shaped like"), "{err}");
    }

    #[test]
    fn a_summary_over_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        // Sparse: costs no disk.
        File::create(&big).unwrap().set_len(MAX_SUMMARY_BYTES + 1).unwrap();
        let err = read_summary(&big).unwrap_err().to_string();
        assert!(err.contains("big.json") && err.contains(&(MAX_SUMMARY_BYTES + 1).to_string()), "{err}");
        assert!(err.contains("64 MiB"), "{err}");
        std::fs::write(&big, "{}").unwrap();
        assert_eq!(read_summary(&big).unwrap(), "{}");
    }
}
