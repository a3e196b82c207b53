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
use crate::model::summary::{Shard, Split};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// obsctl: `obsctl --debug error --endpoint E --region R cp SRC DST`
    Obsctl,
    /// The AWS CLI: `aws s3 cp SRC DST --endpoint-url E --region R --only-show-errors`
    Aws,
}

impl Flavor {
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

/// How arrival times are spread at a given rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arrivals {
    /// Random (exponential gaps), like real users
    Poisson,
    /// Evenly spaced, like k6's constant-arrival-rate (steadier for short runs)
    Uniform,
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
    /// Known deviations: client version (a substring of `--version`) → metric → reason.
    pub allow: BTreeMap<String, BTreeMap<String, String>>,
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
        self.roster().persona_groups()
    }

    pub fn columns(&self) -> Vec<(String, Vec<usize>)> {
        self.roster().columns()
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What `trafficgen plan` prints: per UTC hour, each user's target and the fleet total.
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

/// Eighths of a character cell, for bars and sparklines.
const BLOCKS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per hour, scaled to `max`.
fn sparkline(values: &[f64], max: f64) -> String {
    values
        .iter()
        .map(
            |v| if max <= 0.0 || *v <= 0.0 { BLOCKS[1] } else { BLOCKS[((v / max * 8.0).ceil() as usize).clamp(1, 8)] },
        )
        .collect()
}

/// The fleet's target per hour as a bar chart `height` rows tall, two columns per hour.
fn day_chart(totals: &[f64], height: usize) -> String {
    let max = totals.iter().copied().fold(0.0, f64::max);
    let mut out = String::new();
    for row in (0..height).rev() {
        let label = if row == height - 1 {
            format!("{max:>8.1} ")
        } else if row == 0 {
            format!("{:>8} ", 0)
        } else {
            " ".repeat(9)
        };
        out.push_str(&label);
        out.push('│');
        for v in totals {
            let eighths = if max > 0.0 { (v / max * (height * 8) as f64).round() as usize } else { 0 };
            let cell = eighths.saturating_sub(row * 8).min(8);
            let c = BLOCKS[cell];
            out.push(c);
            out.push(c);
        }
        out.push('\n');
    }
    out.push_str(&format!("{:>9}└{}\n", "", "─".repeat(totals.len() * 2)));
    out.push_str(&format!("{:>10}00    03    06    09    12    15    18    21  UTC\n", ""));
    out
}

impl HourlyTable {
    pub fn render(&self, plan: &Plan) -> String {
        let cols = plan.columns();
        let mut out = String::new();
        if let Some(s) = self.shard {
            out.push_str(&format!("shard {} of {} (counted from 0): ", s.index, s.count));
            out.push_str(match s.split {
                Split::Users => "its share of the users, each at its full rate\n",
                Split::Rate => "every user at 1/N of its rate\n",
            });
        }
        out.push_str("target operations per wall-clock minute, by UTC hour (* = peak)\n");
        out.push_str("hour ");
        let heads: Vec<String> = cols
            .iter()
            .map(|(name, members)| {
                let short = name.split('-').next().unwrap_or(name);
                if members.len() > 1 { format!("{short}x{}", members.len()) } else { short.to_string() }
            })
            .collect();
        let w = heads.iter().map(|h| h.len() + 1).max().unwrap_or(0).max(9);
        for head in &heads {
            out.push_str(&format!("{head:>w$}"));
        }
        out.push_str(&format!("{:>9}\n", "TOTAL"));
        for row in &self.hours {
            out.push_str(&format!("{:02}   ", row.hour));
            for (_, members) in &cols {
                let first = &plan.users[members[0]];
                let mark = if first.peak.contains(row.hour) { '*' } else { ' ' };
                let v: f64 = members.iter().map(|&i| row.users[&plan.users[i].id]).sum();
                out.push_str(&format!("{v:>width$.1}{mark}", width = w - 1));
            }
            out.push_str(&format!("{:>9.1}\n", row.total));
        }
        let totals: Vec<f64> = self.hours.iter().map(|h| h.total).collect();
        let min = totals.iter().copied().fold(f64::INFINITY, f64::min);
        let max = totals.iter().copied().fold(0.0, f64::max);
        out.push_str(&format!("fleet total: {min:.1} to {max:.1} ops/min\n\n"));
        out.push_str("fleet target ops/min over the day\n");
        out.push_str(&day_chart(&totals, 6));
        out.push_str("\nper persona, 00-23 UTC (each scaled to its own peak)\n");
        let width = cols.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(8);
        for (name, members) in &cols {
            let values: Vec<f64> =
                self.hours.iter().map(|h| members.iter().map(|&i| h.users[&plan.users[i].id]).sum()).collect();
            let peak = values.iter().copied().fold(0.0, f64::max);
            out.push_str(&format!("{name:<width$} {} peak {peak:.1}\n", sparkline(&values, peak)));
        }
        out
    }
}

impl Plan {
    /// The one-screen summary `trafficgen check` prints. Secret env values are hidden.
    pub fn describe(&self) -> String {
        use crate::model::units::human_bytes;
        use std::fmt::Write as _;
        let mut o = String::new();
        let table = self.hourly_table();
        let min = table.hours.iter().map(|h| h.total).fold(f64::INFINITY, f64::min);
        let max = table.hours.iter().map(|h| h.total).fold(0.0, f64::max);
        let _ = writeln!(o, "{}: OK", self.source.display());
        let _ = writeln!(
            o,
            "client   {} `{}`, endpoint {}, region {}",
            self.client.flavor.name(),
            self.client.binary.display(),
            self.client.endpoint.as_deref().map_or("(client default)".into(), crate::model::secrets::scrub),
            self.client.region
        );
        let env: Vec<String> = self
            .client
            .env
            .iter()
            .map(|(k, v)| if crate::model::secrets::is_secret(k, v) { format!("{k}=***") } else { format!("{k}={v}") })
            .collect();
        let _ = writeln!(o, "env      {}", if env.is_empty() { "(none)".into() } else { env.join(" ") });
        let _ = writeln!(
            o,
            "run      {} (simulated), command timeout {}, grace {}, stats every {}, log {}",
            humantime::format_duration(self.duration),
            humantime::format_duration(self.command_timeout),
            humantime::format_duration(self.grace_period),
            humantime::format_duration(self.stats_interval),
            self.log_file.display()
        );
        let _ = writeln!(
            o,
            "rates    {:.0}-{:.0} ops/min for the fleet; {:.0}% downloads, {:.0}% expected failures, {} arrivals",
            min,
            max,
            self.rates.download_share * 100.0,
            self.rates.error_share * 100.0,
            match self.rates.arrivals {
                Arrivals::Poisson => "poisson",
                Arrivals::Uniform => "uniform",
            }
        );
        let pct = |list: &[(OpType, f64)], scale: f64| -> String {
            let total: f64 = list.iter().map(|(_, w)| w).sum();
            let parts: Vec<String> = list
                .iter()
                .map(|(op, w)| {
                    format!("{} {:.1}%", op.name(), if scale > 0.0 { w / total * scale } else { *w } * 100.0)
                })
                .collect();
            if parts.is_empty() { "none".into() } else { parts.join(", ") }
        };
        if self.rates.error_share > 0.0 {
            let _ = writeln!(o, "expected {}", pct(&self.rates.expected_failures, self.rates.error_share));
        }
        let _ = writeln!(o, "mix      {} (of operations; the rest are uploads)", pct(&self.rates.extras, 0.0));
        let _ = writeln!(
            o,
            "verify   head-object after {:.0}% of uploads and {:.0}% of TTL deletes; downloads and presigned GETs byte for byte",
            self.verify.confirm_uploads * 100.0,
            self.verify.confirm_deletes * 100.0
        );
        if self.telemetry.verify {
            let known: Vec<String> = self
                .telemetry
                .allow
                .iter()
                .map(|(v, m)| format!("{v}: {}", m.keys().cloned().collect::<Vec<_>>().join(", ")))
                .collect();
            let _ = writeln!(
                o,
                "telemetry obsctl's metrics verified against what ran{}",
                if known.is_empty() {
                    String::new()
                } else {
                    format!("; known deviations allowed for {}", known.join("; "))
                }
            );
        }
        if let Some(url) = &self.server_metrics {
            let url = crate::model::secrets::scrub(url);
            let _ = writeln!(o, "server   its own counters from {url}, read at the start and the end");
        }
        let list: Vec<&str> = self.thresholds.iter().map(|t| t.text.as_str()).collect();
        let _ = writeln!(
            o,
            "verdict  exit 3 on any integrity failure{}{}",
            if list.is_empty() { "" } else { " or failed threshold: " },
            list.join(", ")
        );
        let _ = writeln!(
            o,
            "limits   {} in flight per user, {} in all, {} of uploads in memory, keep {} disk free",
            self.limits.max_in_flight_per_user,
            self.limits.max_in_flight,
            human_bytes(self.limits.upload_memory_budget),
            human_bytes(self.limits.min_free_disk)
        );
        let _ = writeln!(
            o,
            "ttl      {} ({} above {})",
            humantime::format_duration(self.lifecycle.ttl),
            humantime::format_duration(self.lifecycle.large_ttl),
            human_bytes(self.lifecycle.large_threshold)
        );
        for k in &self.kinds {
            let lo = k.bands.iter().map(|b| b.min).min().unwrap_or(0);
            let hi = k.bands.iter().map(|b| b.max).max().unwrap_or(0);
            let _ = writeln!(
                o,
                "kind     {:<10} {} to {}, {} extensions",
                k.name,
                human_bytes(lo),
                human_bytes(hi),
                k.extensions.len()
            );
        }
        let w =
            self.columns().iter().map(|(n, m)| n.len() + if m.len() > 1 { 6 } else { 0 }).max().unwrap_or(0).max(16);
        let _ = writeln!(o, "{:<w$} {:<22} {:<22} {:>6} {:>8}  kinds", "user", "role", "bucket", "peak", "activity");
        // One row per column of the plan table: a persona's replicas share their row.
        for (name, members) in self.columns() {
            let u = &self.users[members[0]];
            let name = if members.len() > 1 { format!("{name} x{}", members.len()) } else { name };
            let total: f64 = u.kind_weights.iter().sum();
            let mut ks: Vec<(f64, &str)> = u
                .kind_weights
                .iter()
                .zip(&self.kinds)
                .filter(|(w, _)| **w > 0.0)
                .map(|(w, k)| (*w, k.name.as_str()))
                .collect();
            ks.sort_by(|a, b| b.0.total_cmp(&a.0));
            let kinds: Vec<String> = ks.iter().map(|(w, n)| format!("{n} {:.0}%", w / total * 100.0)).collect();
            let _ = writeln!(
                o,
                "{:<w$} {:<22} {:<22} {:>6} {:>8.1}  {}",
                name,
                u.role,
                u.bucket,
                u.peak.label(),
                u.activity,
                kinds.join(", ")
            );
        }
        o
    }
}
