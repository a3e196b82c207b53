//! `--ops-log PATH`: one JSON line per finished command, for analysis after the run
//! (warp's `--benchdata` idea). Written by the stats thread, which already receives every
//! record, through a buffer: never on a worker's path.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::model::clock::{TimeMap, civil};
use crate::model::events::OpRecord;
use crate::model::roster::Roster;

#[derive(Serialize)]
struct Line<'a> {
    /// Wall seconds since the run's clock started, when the command started.
    t_s: f64,
    /// Simulated UTC time at that moment.
    sim: String,
    user: &'a str,
    /// The user's schedule slot (0 for cleanup deletes).
    seq: u64,
    op: &'static str,
    key: &'a str,
    bytes: u64,
    duration_ms: f64,
    /// "ok" or the failure class.
    outcome: &'static str,
    exit_code: Option<i32>,
    error: Option<&'a str>,
}

pub struct OpsLog {
    out: BufWriter<File>,
}

impl OpsLog {
    /// Opens (and empties) the log: called once the run is about to start, never at the
    /// check of the paths, so a run refused before leaves an earlier log whole. The log
    /// streams (it can be followed during the run), so it is written in place, not renamed
    /// at the end; a symbolic link at the path is refused, never followed.
    pub fn create(path: &Path) -> std::io::Result<OpsLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        Ok(OpsLog { out: BufWriter::with_capacity(256 * 1024, file) })
    }

    pub fn write(&mut self, roster: &Roster, map: &TimeMap, r: &OpRecord) {
        let c = civil(map.sim_at(r.at));
        let line = Line {
            t_s: (r.at * 1000.0).round() / 1000.0,
            sim: format!("{}T{:02}:{:02}:{:02}Z", c.date(), c.hour, c.minute, c.second),
            user: &roster.users[r.user].id,
            seq: r.seq,
            op: r.op.name(),
            key: &r.key,
            bytes: r.bytes,
            duration_ms: (r.duration.as_secs_f64() * 1e5).round() / 100.0,
            outcome: match r.result {
                Ok(()) => "ok",
                Err(c) => c.name(),
            },
            exit_code: r.exit_code,
            error: r.error.as_deref(),
        };
        // A full disk must not stop the run; the summary still tells the story.
        if serde_json::to_writer(&mut self.out, &line).is_ok() {
            let _ = self.out.write_all(b"\n");
        }
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}
