//! The validated, resolved profile: everything a run needs, in the units it needs.
//! Nothing here can be wrong any more; `profile.rs` is the only way to build one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::config::schedule::{self, PeakWindow};
use crate::config::threshold::Threshold;
use crate::model::events::OpType;
use crate::model::roster::{Member, PersonaGroup, Roster};
use crate::model::summary::Shard;

#[derive(Debug, Clone)]
pub struct Plan {
    /// The profile file this came from (for messages).
    pub source: PathBuf,
    /// `sha256:HEX` of the profile file's bytes: which profile a summary was run with, so
    /// `merge` only combines runs of one profile.
    pub profile_digest: String,
    /// `--users` as given (sorted); None = every user of the profile.
    pub selected_users: Option<Vec<String>>,
    /// How long the run lasts on the simulated clock.
    pub duration: Duration,
    pub command_timeout: Duration,
    pub grace_period: Duration,
    pub stats_interval: Duration,
    pub log_file: PathBuf,
    pub seed: Option<u64>,
    /// The server's Prometheus metrics URL, read at the start and end of a run.
    pub server_metrics: Option<String>,
    pub client: ClientPlan,
    pub rates: Rates,
    pub limits: Limits,
    pub lifecycle: Lifecycle,
    pub verify: Verify,
    /// Verdict rules; any failed one makes the run exit 3.
    pub thresholds: Vec<Threshold>,
    pub telemetry: TelemetryPlan,
    pub kinds: Vec<Kind>,
    pub words: BTreeMap<String, Vec<String>>,
    pub users: Vec<UserPlan>,
    /// `--shard I/N`: this instance's part of the profile.
    pub shard: Option<Shard>,
    /// Tables show each replica on its own row (`--expand-replicas`), not one per persona.
    pub expand_replicas: bool,
}

/// Which client runs the commands. The command line's `--client` has its own enum
/// (`cli::ClientFlavor`) that maps onto this one: configuration owes nothing to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// obsctl: `obsctl --debug error --endpoint E --region R cp SRC DST`
    Obsctl,
    /// The AWS CLI: `aws s3 cp SRC DST --endpoint-url E --region R --only-show-errors`
    Aws,
}

impl Flavor {
    /// Every flavor by its name in the profile (`obsctl.flavor`) and on the command line.
    pub const ALL: [(&'static str, Flavor); 2] = [("obsctl", Flavor::Obsctl), ("aws", Flavor::Aws)];

    pub fn name(self) -> &'static str {
        match self {
            Flavor::Obsctl => "obsctl",
            Flavor::Aws => "aws",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientPlan {
    pub flavor: Flavor,
    pub binary: PathBuf,
    pub endpoint: Option<String>,
    /// Where `endpoint` came from, as the log names it: `--endpoint`, `AWS_ENDPOINT_URL`
    /// or `obsctl.endpoint` (the profile).
    pub endpoint_from: &'static str,
    pub region: String,
    /// Passed to every child on top of trafficgen's own environment.
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Rates {
    /// Operations per wall minute for a user of activity 1.0 before the hour factor.
    pub base_ops_per_min: f64,
    pub peak_multiplier: f64,
    pub offpeak_multiplier: f64,
    /// Share of a user's operations that are downloads (0.2 = the seed's 80/20 mix).
    pub download_share: f64,
    /// Share of operations that are expected failures, split by `expected_failures`.
    pub error_share: f64,
    /// Relative weights of the expected-failure kinds within `error_share`.
    pub expected_failures: Vec<(OpType, f64)>,
    /// Shares of the other commands (ls, head-object, du, presign, sync, mb+rb); what
    /// no share claims is uploads.
    pub extras: Vec<(OpType, f64)>,
    /// `--rate-scale`: multiplies every target.
    pub scale: f64,
    /// This shard's share of every user's rate (1 unless shards split rates).
    pub shard_share: f64,
    pub arrivals: Arrivals,
}

/// How arrival times are spread at a given rate. `--arrivals` maps onto it from its own
/// enum (`cli::ArrivalProcess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrivals {
    /// Random (exponential gaps), like real users
    Poisson,
    /// Evenly spaced, like k6's constant-arrival-rate (steadier for short runs)
    Uniform,
}

impl Arrivals {
    /// Every process by its name in the profile (`rates.arrivals`) and on the command line.
    pub const ALL: [(&'static str, Arrivals); 2] = [("poisson", Arrivals::Poisson), ("uniform", Arrivals::Uniform)];

    pub fn name(self) -> &'static str {
        match self {
            Arrivals::Poisson => "poisson",
            Arrivals::Uniform => "uniform",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_in_flight_per_user: u32,
    pub max_in_flight: u32,
    /// Bytes of upload files that may be in flight at once (obsctl reads each whole file
    /// into memory while uploading it).
    pub upload_memory_budget: u64,
    /// Uploads stop (counted as shortfall) while the temp dir's disk has less free.
    pub min_free_disk: u64,
    /// `--max-file-size`: caps every drawn size (for smoke runs); None = the bands decide.
    pub max_file_size: Option<u64>,
    /// Admission control: hold new slots back while this machine is saturated.
    pub host_guard: bool,
}

/// obsctl's telemetry: per-child identity, and verification against the contract.
#[derive(Debug, Clone, Default)]
pub struct TelemetryPlan {
    /// Run the OTLP receiver and reconcile every metric family at the end.
    pub verify: bool,
    /// Give each child its own `service.instance.id` and trafficgen attributes.
    pub identity: bool,
    /// How long the end of a run waits for exports of children that already ended.
    pub wait: Duration,
    /// Known deviations, per version key (`config::versions`), in the profile's order.
    pub allow: Vec<crate::config::versions::KnownDeviations>,
}

/// Independent checks of the client's word.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verify {
    /// Share of uploads confirmed with head-object (present, right size).
    pub confirm_uploads: f64,
    /// Share of TTL deletes confirmed with head-object (gone).
    pub confirm_deletes: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct Lifecycle {
    /// Simulated time an object lives before the janitor deletes it.
    pub ttl: Duration,
    /// TTL for files above `large_threshold`.
    pub large_ttl: Duration,
    pub large_threshold: u64,
}

impl Lifecycle {
    pub fn ttl_for(&self, size: u64) -> Duration {
        if size > self.large_threshold { self.large_ttl.min(self.ttl) } else { self.ttl }
    }
}

#[derive(Debug, Clone)]
pub struct Kind {
    pub name: String,
    pub extensions: Vec<String>,
    pub bands: Vec<Band>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub min: u64,
    pub max: u64,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct UserPlan {
    pub id: String,
    /// The profile's user this one was built from: its id, or for a replica
    /// (`users[].replicas`) the id without the `-NNN` suffix. Tables group by it.
    pub persona: String,
    pub role: String,
    pub bucket: String,
    pub peak: PeakWindow,
    pub activity: f64,
    /// Indexed like `Plan::kinds`; zero for kinds the user never writes.
    pub kind_weights: Vec<f64>,
    pub subfolders: Vec<Template>,
    /// This user's place in the whole profile (replicas expanded): its random streams
    /// derive from it, so a shard running a subset of the users runs them exactly as the
    /// whole profile would.
    pub stream: usize,
}

/// A parsed subfolder template such as `projects/{project}/src`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub text: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    /// A word list from `[words]`.
    Word(String),
    /// A calendar field of the simulated clock.
    Date(DateField),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    Date,
    Year,
    Month,
    Day,
    Hour,
    Week,
}

impl DateField {
    pub const ALL: [(&'static str, DateField); 6] = [
        ("date", DateField::Date),
        ("year", DateField::Year),
        ("month", DateField::Month),
        ("day", DateField::Day),
        ("hour", DateField::Hour),
        ("week", DateField::Week),
    ];
}

impl Plan {
    /// Target operations per wall minute for one user at a UTC hour.
    pub fn user_rate(&self, user: &UserPlan, hour: u32) -> f64 {
        let r = &self.rates;
        let model = schedule::RateModel {
            base_ops_per_min: r.base_ops_per_min,
            peak_multiplier: r.peak_multiplier,
            offpeak_multiplier: r.offpeak_multiplier,
            scale: r.scale * r.shard_share,
        };
        schedule::target_ops_per_min(model, user.activity, user.peak, hour)
    }

    pub fn hourly_table(&self) -> HourlyTable {
        let groups = self.columns();
        let hours = (0..24)
            .map(|hour| {
                let users: BTreeMap<String, f64> =
                    self.users.iter().map(|u| (u.id.clone(), round2(self.user_rate(u, hour)))).collect();
                let personas: BTreeMap<String, f64> = if groups.iter().all(|(_, m)| m.len() == 1) {
                    BTreeMap::new()
                } else {
                    let mut p: BTreeMap<String, f64> = BTreeMap::new();
                    for u in &self.users {
                        *p.entry(u.persona.clone()).or_default() += self.user_rate(u, hour);
                    }
                    p.into_iter().map(|(k, v)| (k, round2(v))).collect()
                };
                let total = round2(self.users.iter().map(|u| self.user_rate(u, hour)).sum());
                HourRow { hour, users, personas, total }
            })
            .collect();
        HourlyTable { hours, shard: self.shard }
    }

    /// Every bucket once, sorted: a persona's replicas share theirs.
    pub fn buckets(&self) -> Vec<&str> {
        let mut buckets: Vec<&str> = self.users.iter().map(|u| u.bucket.as_str()).collect();
        buckets.sort_unstable();
        buckets.dedup();
        buckets
    }

    /// The users as the tables see them: names, personas, buckets, hourly targets.
    pub fn roster(&self) -> Roster {
        let users = self
            .users
            .iter()
            .map(|u| Member {
                id: u.id.clone(),
                persona: u.persona.clone(),
                bucket: u.bucket.clone(),
                hourly: std::array::from_fn(|h| self.user_rate(u, h as u32)),
            })
            .collect();
        Roster { users, expand_replicas: self.expand_replicas }
    }

    pub fn persona_groups(&self) -> Vec<PersonaGroup> {
        crate::model::roster::persona_groups(self.users.iter().map(|u| u.persona.as_str()))
    }

    pub fn columns(&self) -> Vec<(String, Vec<usize>)> {
        crate::model::roster::columns(
            self.users.iter().map(|u| (u.id.as_str(), u.persona.as_str())),
            self.expand_replicas,
        )
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What `trafficgen plan` shows, as data: per UTC hour, each user's target and the fleet
/// total (`plan --json` prints it as it is; the text is rendered by the command).
#[derive(Debug, Serialize)]
pub struct HourlyTable {
    pub hours: Vec<HourRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

#[derive(Debug, Serialize)]
pub struct HourRow {
    pub hour: u32,
    pub users: BTreeMap<String, f64>,
    /// Per persona, replicas summed (only when the profile has replicas).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub personas: BTreeMap<String, f64>,
    pub total: f64,
}
