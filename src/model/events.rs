//! The run's vocabulary (operations, the client commands they run, size and failure
//! classes, shortfall and host reasons, each named once by strum) and the plain records
//! that workers send to the stats thread. Workers never format output; whoever
//! consumes these decides what to show.

use std::time::Duration;

use strum::{EnumCount, EnumString, IntoStaticStr, VariantArray};

/// strum's `VARIANTS` (every variant, in declaration order) as the array the tables
/// keep per variant are sized by (`ALL` of each enum here).
const fn all<T: Copy, const N: usize>(variants: &[T]) -> [T; N] {
    *variants.first_chunk().expect("an enum's COUNT is the length of its VARIANTS")
}

/// The client command obsctl is asked to run: what its telemetry reports on, and the
/// word both the stats and the telemetry tables print for it.
///
/// A command is not an operation (`OpType`): one command serves several operations
/// (`head_object` is a head-object slot, an upload's confirmation and a missing key's
/// probe), and an operation is counted and judged on its own. The ten operations that
/// run just their command (upload, download, delete, ls, head_object, du, presign, sync,
/// mb, rb) have that command's name, so a command reads the same in every report.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumCount, EnumString, IntoStaticStr, VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Cmd {
    Version,
    Upload,
    Download,
    Delete,
    /// `ls` of any form (bucket checks are `ls s3://B/` in the obsctl flavor).
    #[strum(serialize = "ls")]
    List,
    HeadObject,
    Du,
    Presign,
    Sync,
    #[strum(serialize = "mb")]
    MakeBucket,
    #[strum(serialize = "rb")]
    RemoveBucket,
}

impl Cmd {
    pub const ALL: [Cmd; Cmd::COUNT] = all(Cmd::VARIANTS);

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn from_name(name: &str) -> Option<Cmd> {
        name.parse().ok()
    }
}

/// Every operation a run does, each counted and timed on its own: the commands of the
/// mix, the confirmations that check the client's word, and the expected failures.
/// Its command is `cmd()`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumCount, EnumString, IntoStaticStr, VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum OpType {
    Upload,
    Download,
    Delete,
    /// `ls --recursive` of the user's bucket.
    #[strum(serialize = "ls")]
    List,
    HeadObject,
    Du,
    /// `presign`, then a plain HTTP GET of the URL whose bytes are checked.
    Presign,
    /// `sync` of a small local folder to a prefix, then listed and checked.
    Sync,
    #[strum(serialize = "mb")]
    MakeBucket,
    #[strum(serialize = "rb")]
    RemoveBucket,
    /// `head-object` after an upload: is the object there, with its size?
    ConfirmUpload,
    /// `head-object` after a delete: is the object gone?
    ConfirmDelete,
    // Expected failures: commands that must fail. Success = the client failed.
    MissingKeyDownload,
    MissingBucketUpload,
    MissingBucketDelete,
    MissingLocalUpload,
    MissingKeyHead,
    WrongCredentials,
}

impl OpType {
    pub const ALL: [OpType; OpType::COUNT] = all(OpType::VARIANTS);

    pub const EXPECTED_FAILURES: [OpType; 6] = [
        OpType::MissingKeyDownload,
        OpType::MissingBucketUpload,
        OpType::MissingBucketDelete,
        OpType::MissingLocalUpload,
        OpType::MissingKeyHead,
        OpType::WrongCredentials,
    ];

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn from_name(name: &str) -> Option<OpType> {
        name.parse().ok()
    }

    /// The client command this operation runs (its first, for those that run more).
    pub fn cmd(self) -> Cmd {
        match self {
            OpType::Upload | OpType::MissingBucketUpload | OpType::MissingLocalUpload => Cmd::Upload,
            OpType::Download | OpType::MissingKeyDownload => Cmd::Download,
            OpType::Delete | OpType::MissingBucketDelete => Cmd::Delete,
            // Wrong credentials are tried on a bucket check, an `ls`.
            OpType::List | OpType::WrongCredentials => Cmd::List,
            OpType::HeadObject | OpType::ConfirmUpload | OpType::ConfirmDelete | OpType::MissingKeyHead => {
                Cmd::HeadObject
            }
            OpType::Du => Cmd::Du,
            OpType::Presign => Cmd::Presign,
            OpType::Sync => Cmd::Sync,
            OpType::MakeBucket => Cmd::MakeBucket,
            OpType::RemoveBucket => Cmd::RemoveBucket,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// What an expected failure tried, for messages.
    pub fn describe_expected(self) -> &'static str {
        match self {
            OpType::MissingKeyDownload => "download of a missing key",
            OpType::MissingBucketUpload => "upload to a missing bucket",
            OpType::MissingBucketDelete => "delete in a missing bucket",
            OpType::MissingLocalUpload => "upload of a missing local file",
            OpType::MissingKeyHead => "head-object of a missing key",
            OpType::WrongCredentials => "request with wrong credentials",
            _ => "expected failure",
        }
    }

    /// A command that must fail; its failure is its success.
    pub fn is_expected_failure(self) -> bool {
        OpType::EXPECTED_FAILURES.contains(&self)
    }

    /// Started on a schedule slot (deletes and confirmations follow from other work).
    pub fn is_scheduled(self) -> bool {
        !matches!(self, OpType::Delete | OpType::ConfirmUpload | OpType::ConfirmDelete | OpType::RemoveBucket)
    }
}

/// obsctl's own size classes (its `files_{small,medium,large,xlarge}_total`), so our
/// latency by size lines up with its dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumCount, EnumString, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum SizeClass {
    Small,
    Medium,
    Large,
    #[strum(serialize = "xlarge")]
    XLarge,
}

impl SizeClass {
    pub const ALL: [SizeClass; SizeClass::COUNT] = all(SizeClass::VARIANTS);

    /// This class's place in `ALL`, for tables kept per class.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn of(bytes: u64) -> SizeClass {
        const MIB: u64 = 1 << 20;
        match bytes {
            b if b < MIB => SizeClass::Small,
            b if b < 100 * MIB => SizeClass::Medium,
            b if b < 1024 * MIB => SizeClass::Large,
            _ => SizeClass::XLarge,
        }
    }

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn from_name(name: &str) -> Option<SizeClass> {
        name.parse().ok()
    }

    pub fn label(self) -> &'static str {
        match self {
            SizeClass::Small => "< 1 MiB",
            SizeClass::Medium => "1-100 MiB",
            SizeClass::Large => "100 MiB-1 GiB",
            SizeClass::XLarge => ">= 1 GiB",
        }
    }
}

/// Failure classes, as reported in stats and the JSON summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumCount, EnumString, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum FailClass {
    /// The client exited non-zero.
    Failed,
    /// Killed after the command timeout.
    TimedOut,
    /// Ended by a signal it was not sent.
    Crashed,
    /// Could not be started (missing binary, no permission, …).
    SpawnError,
    /// Bytes read back differ from what was uploaded (size or content).
    Mismatch,
    /// The client said an upload succeeded, but the object is missing or of another size.
    PhantomUpload,
    /// The client said a delete succeeded, but the object is still there.
    PhantomDelete,
    /// A command that must fail (missing key, bucket, file; wrong credentials) succeeded.
    UnexpectedSuccess,
    /// The local file could not be written.
    LocalIo,
    /// Killed at shutdown after the grace period.
    Cancelled,
}

impl FailClass {
    pub const ALL: [FailClass; FailClass::COUNT] = all(FailClass::VARIANTS);

    pub const INTEGRITY: [FailClass; 4] =
        [FailClass::PhantomUpload, FailClass::PhantomDelete, FailClass::Mismatch, FailClass::UnexpectedSuccess];

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn from_name(name: &str) -> Option<FailClass> {
        name.parse().ok()
    }

    /// The client's word and the server's state disagree: a defect, not an outage.
    pub fn is_integrity(self) -> bool {
        FailClass::INTEGRITY.contains(&self)
    }
}

/// Why a scheduled operation did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumCount, EnumString, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Shortfall {
    UserCap,
    GlobalCap,
    Memory,
    Disk,
    /// This machine was saturated (see `work::host`): the slot was held back.
    Host,
    /// The slot's start lag passed the bound (trafficgen was stopped or starved): started
    /// late it would be a burst, not the schedule.
    Late,
    /// The state journal could not be written: an upload nobody could clean up after a
    /// crash is not started.
    Journal,
}

impl Shortfall {
    pub const ALL: [Shortfall; Shortfall::COUNT] = all(Shortfall::VARIANTS);

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn from_name(name: &str) -> Option<Shortfall> {
        name.parse().ok()
    }

    /// This reason's place in `ALL`, and in a `ShortfallCounts`: `ALL` is the variants
    /// in declaration order, so reordering them cannot misfile a count.
    fn slot(self) -> usize {
        self as usize
    }
}

/// Why this machine held slots back (`work::host`), the reasons behind
/// `Shortfall::Host`, as the summary's `host.by_reason` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumCount, EnumString, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum HostReason {
    Cpu,
    Latency,
    Memory,
    #[strum(serialize = "file_descriptors")]
    Fds,
    /// Not saturated now, but the in-flight cap set while it was holds slots back.
    InFlightCap,
}

impl HostReason {
    pub const ALL: [HostReason; HostReason::COUNT] = all(HostReason::VARIANTS);

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn from_name(name: &str) -> Option<HostReason> {
        name.parse().ok()
    }
}

/// A count per shortfall reason (slots that could not start, by why).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShortfallCounts([u64; Shortfall::COUNT]);

impl ShortfallCounts {
    pub fn add(&mut self, reason: Shortfall) {
        self.0[reason.slot()] += 1;
    }

    pub fn get(&self, reason: Shortfall) -> u64 {
        self.0[reason.slot()]
    }

    /// Every reason with its count, in the order of `Shortfall::ALL`.
    pub fn iter(&self) -> impl Iterator<Item = (Shortfall, u64)> + '_ {
        Shortfall::ALL.into_iter().map(|r| (r, self.get(r)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    Ttl,
    Cleanup,
}

/// How an independent check of the client's word ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The server agrees with the client.
    Confirmed,
    /// The check itself could not decide (it timed out, or the server was unreachable).
    Unconfirmed,
}

/// One finished command.
#[derive(Debug, Clone)]
pub struct OpRecord {
    pub user: usize,
    pub op: OpType,
    pub result: Result<(), FailClass>,
    pub exit_code: Option<i32>,
    pub key: String,
    pub bytes: u64,
    pub large: bool,
    /// A local file was written for this upload.
    pub file_created: bool,
    /// Wall offset (seconds since the run's clock started) at which the command started.
    pub at: f64,
    /// Time the client ran (synthesis excluded).
    pub duration: Duration,
    /// First stderr line (or what our check found), secrets removed.
    pub error: Option<String>,
    pub delete_reason: Option<DeleteReason>,
    /// For deletes: the object was a certain (counted-live) one.
    pub was_live: bool,
    /// For uploads and deletes: what an independent check decided (None = not checked).
    pub confirmation: Option<Confirmation>,
    /// The user's schedule slot this command belongs to (0 for cleanup deletes).
    pub seq: u64,
    /// Objects a successful sync stored (uploads count one each by themselves).
    pub stored: u64,
    /// A later command of a started operation (a confirmation, the listing after a
    /// sync, the rb after an mb): counted and timed, but not a new operation.
    pub follow_up: bool,
}

impl OpRecord {
    pub fn new(user: usize, op: OpType, key: &str, bytes: u64, at: f64) -> OpRecord {
        OpRecord {
            user,
            op,
            result: Ok(()),
            exit_code: None,
            key: key.to_string(),
            bytes,
            large: false,
            file_created: false,
            at,
            duration: Duration::ZERO,
            error: None,
            delete_reason: None,
            was_live: false,
            confirmation: None,
            seq: 0,
            stored: 0,
            follow_up: false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    /// A command started; `lag` is how late it started against its slot (scheduled
    /// operations only). `kind` and `band` say what an upload drew.
    Started {
        user: usize,
        op: OpType,
        lag: Option<Duration>,
        upload: Option<(usize, usize)>,
    },
    Finished(Box<OpRecord>),
    /// `count` scheduled operations did not start, for `reason`.
    Shortfall {
        user: usize,
        reason: Shortfall,
        count: u64,
    },
    /// A download (or another read) slot found no object to read and uploaded instead;
    /// the read is owed and made up once objects exist.
    NoObject {
        user: usize,
        op: OpType,
    },
    /// A user re-created its bucket after repeated failures.
    BucketEnsured {
        user: usize,
        ok: bool,
        error: Option<String>,
    },
}

/// Files in one `sync` command's folder: each may become a live object.
pub const SYNC_FILES: usize = 3;

/// Under `ab`: which of the two client builds ran an operation (A outside `ab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Build {
    #[default]
    A,
    B,
}

impl Build {
    pub fn name(self) -> &'static str {
        match self {
            Build::A => "A",
            Build::B => "B",
        }
    }
    /// The first path part of this build's keys.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Build::A => "a/",
            Build::B => "b/",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_follow_all() {
        for (i, r) in Shortfall::ALL.into_iter().enumerate() {
            assert_eq!(r.slot(), i, "{}", r.name());
        }
        for (i, c) in SizeClass::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i, "{}", c.name());
        }
    }

    #[test]
    fn a_command_has_one_spelling_in_the_stats_and_the_telemetry() {
        // Every command the mix runs by itself is also an operation, spelled the same:
        // the stats tables print the operation's name, the telemetry tables the command's.
        for cmd in Cmd::ALL.into_iter().filter(|c| *c != Cmd::Version) {
            let op = OpType::from_name(cmd.name()).unwrap_or_else(|| panic!("no operation is spelled {}", cmd.name()));
            assert_eq!(op.cmd(), cmd, "{}", cmd.name());
        }
        for op in OpType::ALL {
            if Cmd::from_name(op.name()).is_some() {
                assert_eq!(op.cmd().name(), op.name());
            }
        }
        // The words users' saved summaries and thresholds (`p95_latency_ms{op=ls}`) read.
        let ops: Vec<&str> = OpType::ALL.into_iter().map(OpType::name).collect();
        assert_eq!(
            ops,
            [
                "upload",
                "download",
                "delete",
                "ls",
                "head_object",
                "du",
                "presign",
                "sync",
                "mb",
                "rb",
                "confirm_upload",
                "confirm_delete",
                "missing_key_download",
                "missing_bucket_upload",
                "missing_bucket_delete",
                "missing_local_upload",
                "missing_key_head",
                "wrong_credentials",
            ]
        );
        assert_eq!(Cmd::Version.name(), "version");
        assert_eq!(OpType::ConfirmDelete.cmd(), Cmd::HeadObject);
        assert_eq!(OpType::WrongCredentials.cmd(), Cmd::List);
    }

    #[test]
    fn names_round_trip() {
        for c in Cmd::ALL {
            assert_eq!(Cmd::from_name(c.name()), Some(c));
        }
        for o in OpType::ALL {
            assert_eq!(OpType::from_name(o.name()), Some(o));
        }
        for c in SizeClass::ALL {
            assert_eq!(SizeClass::from_name(c.name()), Some(c));
        }
        for c in FailClass::ALL {
            assert_eq!(FailClass::from_name(c.name()), Some(c));
        }
        for r in Shortfall::ALL {
            assert_eq!(Shortfall::from_name(r.name()), Some(r));
        }
        for r in HostReason::ALL {
            assert_eq!(HostReason::from_name(r.name()), Some(r));
        }
        let names = |v: &[&'static str]| v.join(" ");
        assert_eq!(names(&SizeClass::ALL.map(SizeClass::name)), "small medium large xlarge");
        assert_eq!(
            names(&FailClass::ALL.map(FailClass::name)),
            "failed timed_out crashed spawn_error mismatch phantom_upload phantom_delete unexpected_success \
             local_io cancelled"
        );
        assert_eq!(names(&Shortfall::ALL.map(Shortfall::name)), "user_cap global_cap memory disk host late journal");
        assert_eq!(names(&HostReason::ALL.map(HostReason::name)), "cpu latency memory file_descriptors in_flight_cap");
        // The other spellings of old are no names.
        for old in ["list", "make_bucket", "remove_bucket", "List", "x_large"] {
            assert!(OpType::from_name(old).is_none() && Cmd::from_name(old).is_none(), "{old}");
            assert!(SizeClass::from_name(old).is_none(), "{old}");
        }
    }

    #[test]
    fn shortfall_counts_per_reason() {
        let mut c = ShortfallCounts::default();
        c.add(Shortfall::Late);
        c.add(Shortfall::Late);
        c.add(Shortfall::Journal);
        assert_eq!(c.get(Shortfall::Late), 2);
        assert_eq!(c.get(Shortfall::Journal), 1);
        assert_eq!(c.get(Shortfall::UserCap), 0);
        let all: Vec<(Shortfall, u64)> = c.iter().collect();
        assert_eq!(all.len(), Shortfall::ALL.len());
        assert_eq!(all[5], (Shortfall::Late, 2));
        assert_eq!(std::mem::take(&mut c), ShortfallCounts([0, 0, 0, 0, 0, 2, 1]));
        assert_eq!(c, ShortfallCounts::default());
    }
}
