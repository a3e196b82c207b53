//! The counts a run keeps and its summary carries: per command kind, per user, per
//! interval of the timeline, latency distributions and the achieved mix. Plain data:
//! `analysis::stats` and `analysis::fidelity` fill them, the outputs and `merge` read them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::events::{FailClass, HostReason, OpType, Shortfall, SizeClass};

/// A key of the summary's maps: a word of one of the program's vocabularies (operations,
/// failure classes, shortfall reasons, size classes, the host's saturation reasons),
/// each an enum that strum names. Two bytes, and nothing is kept for a word read back
/// from a summary: a word that is none of these is refused, since every summary
/// trafficgen writes uses only them.
///
/// One type for every map rather than a map per enum, so the readers of a summary look
/// a key up by its word (`ops.get("upload")`) whatever its vocabulary. Equal, ordered
/// and hashed by the word, as `str` is (what `Borrow<str>` needs): keys keep the
/// alphabetical order a summary's JSON has, and `memory`, a shortfall reason and a host
/// reason both, is one key.
#[derive(Debug, Clone, Copy)]
pub enum Name {
    Op(OpType),
    Fail(FailClass),
    Shortfall(Shortfall),
    Size(SizeClass),
    Host(HostReason),
}

impl Name {
    pub fn as_str(self) -> &'static str {
        match self {
            Name::Op(o) => o.name(),
            Name::Fail(f) => f.name(),
            Name::Shortfall(r) => r.name(),
            Name::Size(c) => c.name(),
            Name::Host(r) => r.name(),
        }
    }

    /// The word in the first vocabulary that has it; None for a word that is in none.
    pub fn from_name(word: &str) -> Option<Name> {
        None.or_else(|| OpType::from_name(word).map(Name::Op))
            .or_else(|| FailClass::from_name(word).map(Name::Fail))
            .or_else(|| Shortfall::from_name(word).map(Name::Shortfall))
            .or_else(|| SizeClass::from_name(word).map(Name::Size))
            .or_else(|| HostReason::from_name(word).map(Name::Host))
    }
}

impl From<OpType> for Name {
    fn from(o: OpType) -> Name {
        Name::Op(o)
    }
}

impl From<FailClass> for Name {
    fn from(f: FailClass) -> Name {
        Name::Fail(f)
    }
}

impl From<Shortfall> for Name {
    fn from(r: Shortfall) -> Name {
        Name::Shortfall(r)
    }
}

impl From<SizeClass> for Name {
    fn from(c: SizeClass) -> Name {
        Name::Size(c)
    }
}

impl From<HostReason> for Name {
    fn from(r: HostReason) -> Name {
        Name::Host(r)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The longest word of an unknown name quoted in the error.
const QUOTED: usize = 64;

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        Name::from_name(&s).ok_or_else(|| {
            let shown: String = s.chars().take(QUOTED).collect();
            let more = if shown.len() < s.len() { "…" } else { "" };
            serde::de::Error::custom(format!("`{shown}{more}` is no name trafficgen writes"))
        })
    }
}

impl schemars::JsonSchema for Name {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "String".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

/// Successful and failed commands of one kind. `ok` includes expected failures that
/// failed as they should.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OpCount {
    pub ok: u64,
    pub failed: u64,
}

/// One user's (or the fleet's) counts. Successful operations only in
/// uploads/downloads/deletes; every failure in `failures`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counters {
    pub uploads: u64,
    pub downloads: u64,
    pub deletes: u64,
    pub ttl_deletes: u64,
    pub cleanup_deletes: u64,
    /// Expected failures (every kind) that failed as they should.
    pub error_probes: u64,
    pub failures: u64,
    pub failures_by_class: BTreeMap<Name, u64>,
    pub failures_by_op: BTreeMap<Name, u64>,
    /// The client's word contradicted by the server: phantom uploads and deletes, byte
    /// mismatches, expected failures that succeeded. Also counted in `failures`.
    pub integrity_failures: u64,
    pub integrity: BTreeMap<Name, u64>,
    /// Per expected-failure kind: failed as it should.
    pub expected_failures: BTreeMap<Name, u64>,
    /// Per expected-failure kind: succeeded although it must fail (a client defect).
    pub unexpected_success: BTreeMap<Name, u64>,
    /// Uploads (and deletes) that head-object confirmed.
    pub confirmed_uploads: u64,
    pub confirmed_deletes: u64,
    /// Checks that could not decide (timed out, or the server did not answer).
    pub unconfirmed: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub files_created: u64,
    pub large_files: u64,
    pub shortfall: u64,
    pub shortfall_by_reason: BTreeMap<Name, u64>,
    /// Read slots (download, head-object, presign) that found no object and uploaded
    /// instead; the read is made up later.
    pub no_object: u64,
    /// Scheduled operations started (deletes and confirmations are not scheduled).
    pub started: u64,
    pub started_by_op: BTreeMap<Name, u64>,
    pub started_deletes: u64,
    pub finished: u64,
    /// Every command that ended, by kind (confirmations and cleanup included).
    pub ops: BTreeMap<Name, OpCount>,
    /// Objects this run uploaded and has not deleted.
    pub live_objects: u64,
    /// Objects that may exist: uploads killed (at the timeout or the end of the grace
    /// period) after they may have stored their object, uploads the server disowned,
    /// and the files of a failed sync; not yet deleted.
    pub maybe_live_objects: u64,
    pub bucket_reensures: u64,
    /// Uploads started, by kind index and by band index within the kind (the profile's
    /// mix is judged against these).
    #[serde(default)]
    pub upload_draws: Vec<Vec<u64>>,
}

impl Counters {
    pub fn in_flight(&self) -> u64 {
        (self.started + self.started_deletes).saturating_sub(self.finished)
    }

    pub fn add(&mut self, o: &Counters) {
        self.uploads += o.uploads;
        self.downloads += o.downloads;
        self.deletes += o.deletes;
        self.ttl_deletes += o.ttl_deletes;
        self.cleanup_deletes += o.cleanup_deletes;
        self.error_probes += o.error_probes;
        self.failures += o.failures;
        self.integrity_failures += o.integrity_failures;
        for (mine, theirs) in [
            (&mut self.failures_by_class, &o.failures_by_class),
            (&mut self.failures_by_op, &o.failures_by_op),
            (&mut self.integrity, &o.integrity),
            (&mut self.expected_failures, &o.expected_failures),
            (&mut self.unexpected_success, &o.unexpected_success),
            (&mut self.shortfall_by_reason, &o.shortfall_by_reason),
            (&mut self.started_by_op, &o.started_by_op),
        ] {
            for (k, v) in theirs {
                *mine.entry(*k).or_default() += v;
            }
        }
        for (k, v) in &o.ops {
            let e = self.ops.entry(*k).or_default();
            e.ok += v.ok;
            e.failed += v.failed;
        }
        self.confirmed_uploads += o.confirmed_uploads;
        self.confirmed_deletes += o.confirmed_deletes;
        self.unconfirmed += o.unconfirmed;
        self.bytes_up += o.bytes_up;
        self.bytes_down += o.bytes_down;
        self.files_created += o.files_created;
        self.large_files += o.large_files;
        self.shortfall += o.shortfall;
        self.no_object += o.no_object;
        self.started += o.started;
        self.started_deletes += o.started_deletes;
        self.finished += o.finished;
        self.live_objects += o.live_objects;
        self.maybe_live_objects += o.maybe_live_objects;
        self.bucket_reensures += o.bucket_reensures;
        if self.upload_draws.len() < o.upload_draws.len() {
            self.upload_draws.resize(o.upload_draws.len(), Vec::new());
        }
        for (mine, theirs) in self.upload_draws.iter_mut().zip(&o.upload_draws) {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), 0);
            }
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
    }

    /// Every key present with 0, so the JSON always has the same shape.
    pub fn zeroed(bands: &[usize]) -> Counters {
        let mut c = Counters::default();
        for f in FailClass::ALL {
            c.failures_by_class.insert(f.into(), 0);
        }
        for f in FailClass::INTEGRITY {
            c.integrity.insert(f.into(), 0);
        }
        for op in OpType::ALL {
            c.failures_by_op.insert(op.into(), 0);
            c.ops.insert(op.into(), OpCount::default());
            if op.is_scheduled() {
                c.started_by_op.insert(op.into(), 0);
            }
        }
        for op in OpType::EXPECTED_FAILURES {
            c.expected_failures.insert(op.into(), 0);
            c.unexpected_success.insert(op.into(), 0);
        }
        for s in Shortfall::ALL {
            c.shortfall_by_reason.insert(s.into(), 0);
        }
        c.upload_draws = bands.iter().map(|n| vec![0; *n]).collect();
        c
    }
}

/// Operations per stats interval, so a run's phases (an outage, a recovery) show, and
/// the HTML report can draw them. Every count is a plain count for this interval (not
/// a running total), so the timelines of several processes add up point by point.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct TimelinePoint {
    /// Wall seconds since start at the end of the interval.
    pub t_s: f64,
    /// Wall seconds this interval covers.
    pub interval_s: f64,
    /// The simulated clock (UNIX seconds) at the end of the interval.
    pub sim_unix: f64,
    /// Every operation started, TTL and cleanup deletes included.
    pub started: u64,
    /// Commands that ended well (or failed as they should) and that failed.
    pub ok: u64,
    pub failed: u64,
    pub shortfall: u64,
    /// Scheduled operations the profile asked for in this interval (fractional).
    pub target: f64,
    /// Scheduled operations started: what `target` asked for.
    pub scheduled: u64,
    /// `target` and `scheduled` by persona (the profile user a run user was built from),
    /// filled in by the summary from `scheduled_by_persona`.
    pub personas: BTreeMap<String, PersonaPoint>,
    /// Scheduled starts by persona index (`Stats::persona_names`): 8 bytes a persona a
    /// point while the run goes on (a day at 60 s of a thousand personas: 11.5 MB).
    #[serde(skip)]
    pub scheduled_by_persona: Vec<u64>,
    /// Failed commands by class, and slots not started by reason (non-zero only).
    pub failures_by_class: BTreeMap<Name, u64>,
    pub shortfall_by_reason: BTreeMap<Name, u64>,
    /// Latency of the commands that succeeded in this interval, by kind (those with any).
    pub latency_ms: BTreeMap<Name, IntervalLatency>,
    /// Unrounded wall offset of the end, for the targets computed at the end of the run.
    #[serde(skip)]
    pub end_s: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct PersonaPoint {
    pub target: f64,
    pub scheduled: u64,
}

/// One interval's latency of one kind of command, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct IntervalLatency {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// A latency distribution in milliseconds (HDR histogram, 3 significant digits).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// The value a threshold names: `min`, `mean`, `p50` … `p99`, `max` (ms), `count`.
    pub fn get(&self, stat: &str) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match stat {
            "count" => self.count as f64,
            "min" => self.min_ms,
            "mean" => self.mean_ms,
            "p50" => self.p50_ms,
            "p90" => self.p90_ms,
            "p95" => self.p95_ms,
            "p99" => self.p99_ms,
            "max" => self.max_ms,
            _ => return None,
        })
    }
}

impl Latency {
    /// No samples: every field 0.
    pub const NONE: Latency = Latency {
        count: 0,
        min_ms: 0.0,
        mean_ms: 0.0,
        p50_ms: 0.0,
        p90_ms: 0.0,
        p95_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
    };
}

/// A histogram as `[value_us, count]` pairs of its recorded buckets: exact to re-record
/// (each value is its bucket's own), so `merge` adds distributions, not percentiles.
pub type Buckets = Vec<(u64, u64)>;

/// Every latency distribution of a run, for `merge`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Histograms {
    pub latency: BTreeMap<String, Buckets>,
    pub by_size: BTreeMap<String, BTreeMap<String, Buckets>>,
    pub start_lag: Buckets,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Share {
    pub target: f64,
    /// None when nothing was counted that this share is a fraction of.
    pub achieved: Option<f64>,
}

impl Share {
    pub fn new(target: f64, part: u64, whole: u64) -> Share {
        let round4 = |x: f64| (x * 10_000.0).round() / 10_000.0;
        Share { target: round4(target), achieved: (whole > 0).then(|| round4(part as f64 / whole as f64)) }
    }

    pub fn error(&self) -> Option<f64> {
        self.achieved.map(|a| (a - self.target).abs())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Fidelity {
    /// Scheduled operations started: the whole that op shares are fractions of.
    pub operations: u64,
    pub download_share: Share,
    /// Expected failures of every kind.
    pub error_share: Share,
    /// The other commands of the mix (ls, head_object, du, presign, sync, mb).
    pub extras: BTreeMap<Name, Share>,
    /// Uploads by file kind.
    pub kinds: BTreeMap<String, Share>,
    /// Uploads of each kind by size band (in the profile's band order).
    pub size_bands: BTreeMap<String, Vec<Share>>,
    /// Largest distance between achieved and target, as a fraction (0.03 = 3 points).
    pub download_share_error: Option<f64>,
    pub error_share_error: Option<f64>,
    pub extras_share_error: Option<f64>,
    pub kind_share_error: Option<f64>,
    pub size_band_error: Option<f64>,
    /// Read slots that found no object (made up later).
    pub no_object: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_a_word_of_the_vocabularies_and_nothing_else() {
        let a: Name = serde_json::from_str("\"upload\"").unwrap();
        assert_eq!(a, Name::from(OpType::Upload));
        assert_eq!(a, "upload");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"upload\"");
        for word in ["ls", "phantom_delete", "late", "xlarge", "file_descriptors", "memory"] {
            let n: Name = serde_json::from_str(&format!("\"{word}\"")).unwrap();
            assert_eq!(n.as_str(), word);
        }
        assert_eq!(Name::from(Shortfall::Memory), Name::from(HostReason::Memory), "one word, one key");
        for word in ["list", "make_bucket", "", "Upload"] {
            let e = serde_json::from_str::<Name>(&format!("\"{word}\"")).unwrap_err().to_string();
            assert!(e.contains("is no name trafficgen writes"), "{e}");
        }
        let long = format!("\"{}\"", "x".repeat(10_000));
        let e = serde_json::from_str::<Name>(&long).unwrap_err().to_string();
        assert!(e.len() < 200, "the error quotes a bounded part: {e}");
        // Keys keep the order of their words, as the summary's JSON has them.
        let keys: Vec<Name> = [OpType::Upload, OpType::List, OpType::Delete].map(Name::from).into();
        let sorted: std::collections::BTreeSet<Name> = keys.into_iter().collect();
        assert_eq!(sorted.iter().map(|n| n.as_str()).collect::<Vec<_>>(), ["delete", "ls", "upload"]);
        assert_eq!(std::mem::size_of::<Name>(), 2);
    }
}
