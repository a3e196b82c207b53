//! The semantic checks of a parsed profile, one function per TOML section, run in the
//! order the sections are checked since the start: when a profile has several
//! problems, the one reported first stays the same. Every error names the section's own
//! span and dotted field, so each message points where it always has.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::users::Shape;
use super::{
    Cx, ExpectedSection, KindSection, LifecycleSection, LimitsSection, MixSection, NAME_RULE, ProfileError,
    ProfileFile, RatesSection, RunSection, TelemetrySection, VerifySection, check_max_duration, digest, expand_env,
    is_name, valid_ident,
};
use crate::config::plan::{
    Arrivals, Band, ClientPlan, DateField, Flavor, Kind, Lifecycle, Limits, Plan, Rates, TelemetryPlan, Verify,
};
use crate::config::threshold::{self, Threshold};
use crate::config::versions::{KnownDeviations, VersionSpec};
use crate::model::events::OpType;
use crate::model::units::parse_duration;

/// `[run]`, resolved: everything of it but the log file and seed, which need no check
/// beyond the one here.
struct RunTimes {
    duration: Duration,
    command_timeout: Duration,
    grace_period: Duration,
    stats_interval: Duration,
    server_metrics: Option<String>,
}

impl Cx<'_> {
    pub(super) fn validate(&self, f: ProfileFile) -> Result<Plan, ProfileError> {
        let run = self.run(&f.run)?;
        let client = self.client(&f.obsctl)?;
        let mut rates = self.rates(&f.rates)?;
        rates.extras = self.mix(f.mix.as_ref(), rates.download_share + rates.error_share)?;
        rates.expected_failures = self.expected_failures(f.expected_failures.as_ref(), rates.error_share)?;
        let verify = self.verify(f.verify.as_ref())?;
        let thresholds = self.thresholds(&f.thresholds)?;
        let telemetry = self.telemetry(f.telemetry.as_ref())?;
        let limits = self.limits(&f.limits)?;
        let lifecycle = self.lifecycle(&f.lifecycle)?;
        let kinds = self.kinds(&f.kinds, limits.upload_memory_budget)?;
        let words = self.words(&f.words)?;
        let shape = Shape { rates: &rates, kinds: &kinds, words: &words };
        let users = self.users(&f.users, &shape)?;

        Ok(Plan {
            source: self.path.to_path_buf(),
            profile_digest: digest(self.text.as_bytes()),
            selected_users: None,
            duration: run.duration,
            command_timeout: run.command_timeout,
            grace_period: run.grace_period,
            stats_interval: run.stats_interval,
            log_file: PathBuf::from(f.run.log_file.get_ref()),
            seed: f.run.seed,
            server_metrics: run.server_metrics,
            client,
            rates,
            limits,
            lifecycle,
            verify,
            thresholds,
            telemetry,
            kinds,
            words,
            users,
            shard: None,
            expand_replicas: false,
        })
    }

    /// `[run]`: durations, the log file, the server's metrics URL.
    fn run(&self, run: &RunSection) -> Result<RunTimes, ProfileError> {
        let duration = self.duration(&run.duration, "run.duration")?;
        let command_timeout = self.duration(&run.command_timeout, "run.command_timeout")?;
        let grace_period = self.duration(&run.grace_period, "run.grace_period")?;
        let stats_interval = self.duration(&run.stats_interval, "run.stats_interval")?;
        if stats_interval < super::MIN_STATS_INTERVAL {
            return Err(self.err(run.stats_interval.span(), "run.stats_interval", "must be at least 1s"));
        }
        if run.log_file.get_ref().trim().is_empty() {
            return Err(self.err(run.log_file.span(), "run.log_file", "must name a file"));
        }
        let server_metrics = match &run.server_metrics {
            None => None,
            Some(v) => {
                let url = expand_env(v.get_ref(), |name| std::env::var(name).ok())
                    .map_err(|m| self.err(v.span(), "run.server_metrics", m))?;
                let url = url.trim().to_string();
                if !(url.is_empty() || crate::model::url::is_http(&url)) {
                    return Err(self.err(
                        v.span(),
                        "run.server_metrics",
                        format!("{url:?} must start with http:// or https://"),
                    ));
                }
                (!url.is_empty()).then_some(url)
            }
        };
        Ok(RunTimes { duration, command_timeout, grace_period, stats_interval, server_metrics })
    }

    /// `[obsctl]` and `[obsctl.env]`: which client, where, and its environment.
    fn client(&self, c: &super::ClientSection) -> Result<ClientPlan, ProfileError> {
        let flavor = self.choice(&c.flavor, "obsctl.flavor", "a client flavor", &Flavor::ALL)?;
        if c.binary.get_ref().trim().is_empty() {
            return Err(self.err(c.binary.span(), "obsctl.binary", "must name a program"));
        }
        let endpoint = match &c.endpoint {
            Some(e) if e.get_ref().trim().is_empty() => None,
            Some(e) => {
                let v = e.get_ref().trim();
                if !crate::model::url::is_http(v) {
                    return Err(self.err(
                        e.span(),
                        "obsctl.endpoint",
                        format!("{v:?} must start with http:// or https://"),
                    ));
                }
                Some(v.to_string())
            }
            None => None,
        };
        let region = c.region.get_ref().trim().to_string();
        if region.is_empty() {
            // obsctl's own default region (ru-moscow-1) breaks local servers: insist.
            return Err(self.err(c.region.span(), "obsctl.region", "must be set (obsctl otherwise uses ru-moscow-1)"));
        }
        let mut env = Vec::new();
        for (k, v) in &c.env {
            let field = format!("obsctl.env.{k}");
            if k.is_empty() || k.contains('=') {
                return Err(self.err(v.span(), field, "is not a valid environment variable name"));
            }
            let value =
                expand_env(v.get_ref(), |name| std::env::var(name).ok()).map_err(|m| self.err(v.span(), field, m))?;
            env.push((k.clone(), value));
        }
        Ok(ClientPlan {
            flavor,
            binary: PathBuf::from(c.binary.get_ref()),
            endpoint,
            endpoint_from: "obsctl.endpoint",
            region,
            env,
        })
    }

    /// `[rates]`: the base rate, the hour multipliers, the shares, the arrival process.
    /// The `[mix]` and `[expected_failures]` lists are filled by their own sections.
    fn rates(&self, r: &RatesSection) -> Result<Rates, ProfileError> {
        let base = self.positive(&r.base_ops_per_min, "rates.base_ops_per_min")?;
        let peak_mult = self.positive(&r.peak_multiplier, "rates.peak_multiplier")?;
        let off = self.positive(&r.offpeak_multiplier, "rates.offpeak_multiplier")?;
        let share = *r.download_share.get_ref();
        if !(0.0..=1.0).contains(&share) {
            return Err(self.err(
                r.download_share.span(),
                "rates.download_share",
                format!("must be between 0 and 1, got {share}"),
            ));
        }

        let error_share = match &r.error_share {
            Some(e) if !(0.0..=1.0).contains(e.get_ref()) || *e.get_ref() + share > 1.0 => {
                return Err(self.err(
                    e.span(),
                    "rates.error_share",
                    format!("must be between 0 and 1 - download_share, got {}", e.get_ref()),
                ));
            }
            Some(e) => *e.get_ref(),
            None => 0.0,
        };
        let arrivals = self.choice(&r.arrivals, "rates.arrivals", "an arrival process", &Arrivals::ALL)?;
        Ok(Rates {
            base_ops_per_min: base,
            peak_multiplier: peak_mult,
            offpeak_multiplier: off,
            download_share: share,
            error_share,
            expected_failures: Vec::new(),
            extras: Vec::new(),
            scale: 1.0,
            shard_share: 1.0,
            arrivals,
        })
    }

    /// A share between 0 and 1; absent is 0.
    fn share(&self, v: &Option<Spanned<f64>>, field: &str) -> Result<f64, ProfileError> {
        match v {
            None => Ok(0.0),
            Some(x) if (0.0..=1.0).contains(x.get_ref()) => Ok(*x.get_ref()),
            Some(x) => Err(self.err(x.span(), field, format!("must be between 0 and 1, got {}", x.get_ref()))),
        }
    }

    /// `[mix]`: the shares of the other commands; with `taken` (downloads and expected
    /// failures) they must leave room for uploads.
    fn mix(&self, mix: Option<&Spanned<MixSection>>, taken: f64) -> Result<Vec<(OpType, f64)>, ProfileError> {
        let mut extras = Vec::new();
        let Some(m) = mix else { return Ok(extras) };
        let mm = m.get_ref();
        for (op, v, name) in [
            (OpType::List, &mm.ls, "ls"),
            (OpType::HeadObject, &mm.head_object, "head_object"),
            (OpType::Du, &mm.du, "du"),
            (OpType::Presign, &mm.presign, "presign"),
            (OpType::Sync, &mm.sync, "sync"),
            (OpType::MakeBucket, &mm.mb_rb, "mb_rb"),
        ] {
            let s = self.share(v, &format!("mix.{name}"))?;
            if s > 0.0 {
                extras.push((op, s));
            }
        }
        let total = taken + extras.iter().map(|(_, s)| s).sum::<f64>();
        if total > 1.0 + 1e-9 {
            return Err(self.err(
                m.span(),
                "mix",
                format!(
                    "download_share + error_share + the [mix] shares is {total:.3}; they must leave room for uploads (at most 1)"
                ),
            ));
        }
        Ok(extras)
    }

    /// `[expected_failures]`: the relative weights of the kinds of expected failure.
    fn expected_failures(
        &self,
        section: Option<&Spanned<ExpectedSection>>,
        error_share: f64,
    ) -> Result<Vec<(OpType, f64)>, ProfileError> {
        // Without the table, every expected failure is the classic one.
        let Some(e) = section else { return Ok(vec![(OpType::MissingKeyDownload, 1.0)]) };
        let mut expected_failures = Vec::new();
        let ee = e.get_ref();
        for (op, v) in [
            (OpType::MissingKeyDownload, &ee.missing_key_download),
            (OpType::MissingBucketUpload, &ee.missing_bucket_upload),
            (OpType::MissingBucketDelete, &ee.missing_bucket_delete),
            (OpType::MissingLocalUpload, &ee.missing_local_upload),
            (OpType::MissingKeyHead, &ee.missing_key_head),
            (OpType::WrongCredentials, &ee.wrong_credentials),
        ] {
            let field = format!("expected_failures.{}", op.name());
            if let Some(w) = v {
                let x = *w.get_ref();
                if !(x.is_finite() && x >= 0.0) {
                    return Err(self.err(w.span(), field, format!("must be a weight of 0 or more, got {x}")));
                }
                if x > 0.0 {
                    expected_failures.push((op, x));
                }
            }
        }
        if error_share > 0.0 && expected_failures.is_empty() {
            return Err(self.err(
                e.span(),
                "expected_failures",
                "rates.error_share is above 0, so at least one kind needs a positive weight",
            ));
        }
        Ok(expected_failures)
    }

    /// `[verify]`: the shares of uploads and deletes confirmed with head-object.
    fn verify(&self, v: Option<&VerifySection>) -> Result<Verify, ProfileError> {
        Ok(match v {
            None => Verify::default(),
            Some(v) => Verify {
                confirm_uploads: self.share(&v.confirm_uploads, "verify.confirm_uploads")?,
                confirm_deletes: self.share(&v.confirm_deletes, "verify.confirm_deletes")?,
            },
        })
    }

    /// `[thresholds]`: metric = condition, each parsed like `--threshold`.
    fn thresholds(&self, t: &BTreeMap<String, Spanned<String>>) -> Result<Vec<Threshold>, ProfileError> {
        let mut thresholds = Vec::new();
        for (metric, cond) in t {
            let t = threshold::parse_pair(metric, cond.get_ref(), threshold::unit_of)
                .map_err(|m| self.err(cond.span(), format!("thresholds.{metric}"), m))?;
            thresholds.push(t);
        }
        Ok(thresholds)
    }

    /// `[telemetry]`: identity, verification, the wait at the end, known deviations.
    fn telemetry(&self, t: Option<&TelemetrySection>) -> Result<TelemetryPlan, ProfileError> {
        let mut telemetry = TelemetryPlan { identity: true, wait: Duration::from_secs(5), ..Default::default() };
        let Some(t) = t else { return Ok(telemetry) };
        telemetry.verify = t.verify.unwrap_or(false);
        telemetry.identity = t.identity.unwrap_or(true);
        if let Some(w) = &t.wait {
            telemetry.wait = parse_duration(w.get_ref())
                .map_err(|e| e.to_string())
                .and_then(|d| check_max_duration(d).map(|()| d).map_err(|e| e.0))
                .map_err(|m| self.err(w.span(), "telemetry.wait", m))?;
        }
        telemetry.allow = self.telemetry_allow(&t.allow)?;
        Ok(telemetry)
    }

    /// `[telemetry.allow."KEY"]`: a client version, requirement, list or `*`
    /// (`config::versions`) → metric of the contract → reason.
    fn telemetry_allow(
        &self,
        allow: &BTreeMap<String, BTreeMap<String, Spanned<String>>>,
    ) -> Result<Vec<KnownDeviations>, ProfileError> {
        let families: Vec<&str> = crate::model::contract::FAMILIES.iter().map(|(n, _)| *n).collect();
        let mut out = Vec::new();
        for (key, metrics) in allow {
            let at = metrics.values().next().map_or(self.table_span("telemetry"), |w| w.span());
            // Shown by `check`: a key's charset (no markup, no escapes), then its meaning.
            let ok = (1..=64).contains(&key.len())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || "._+-<>=^~*|, ".contains(c));
            if !ok {
                return Err(self.err(
                    at,
                    format!("telemetry.allow.{key}"),
                    format!(
                        "{key:?}: a version or requirement uses letters, digits, spaces and . _ + - < > = ^ ~ * | , (1-64 chars)"
                    ),
                ));
            }
            let spec = VersionSpec::parse(key).map_err(|m| self.err(at, format!("telemetry.allow.{key}"), m))?;
            let mut m = BTreeMap::new();
            for (metric, why) in metrics {
                if !families.contains(&metric.as_str()) {
                    return Err(self.err(
                        why.span(),
                        format!("telemetry.allow.{key}.{metric}"),
                        format!("not a metric of the contract ({})", families.join(", ")),
                    ));
                }
                m.insert(metric.clone(), why.get_ref().clone());
            }
            out.push(KnownDeviations { key: key.clone(), spec, families: m });
        }
        Ok(out)
    }

    /// `[limits]`: commands in flight, upload memory, free disk, the host guard.
    fn limits(&self, l: &LimitsSection) -> Result<Limits, ProfileError> {
        let per_user = *l.max_in_flight_per_user.get_ref();
        let global = *l.max_in_flight.get_ref();
        if per_user == 0 {
            return Err(self.err(
                l.max_in_flight_per_user.span(),
                "limits.max_in_flight_per_user",
                "must be at least 1",
            ));
        }
        if global == 0 {
            return Err(self.err(l.max_in_flight.span(), "limits.max_in_flight", "must be at least 1"));
        }
        let budget = self.size(&l.upload_memory_budget, "limits.upload_memory_budget")?;
        if budget == 0 {
            return Err(self.err(
                l.upload_memory_budget.span(),
                "limits.upload_memory_budget",
                "must be larger than zero",
            ));
        }
        let min_free_disk = self.size(&l.min_free_disk, "limits.min_free_disk")?;
        Ok(Limits {
            max_in_flight_per_user: per_user,
            max_in_flight: global,
            upload_memory_budget: budget,
            min_free_disk,
            max_file_size: None,
            host_guard: l.host_guard.unwrap_or(true),
        })
    }

    /// `[lifecycle]`: how long objects live before the janitor deletes them.
    fn lifecycle(&self, lc: &LifecycleSection) -> Result<Lifecycle, ProfileError> {
        Ok(Lifecycle {
            ttl: self.duration(&lc.ttl, "lifecycle.ttl")?,
            large_ttl: self.duration(&lc.large_ttl, "lifecycle.large_ttl")?,
            large_threshold: self.size(&lc.large_threshold, "lifecycle.large_threshold")?,
        })
    }

    /// `[kinds.NAME]`: at least one kind; each band must fit the upload memory `budget`.
    fn kinds(&self, kinds: &BTreeMap<String, Spanned<KindSection>>, budget: u64) -> Result<Vec<Kind>, ProfileError> {
        let mut out = Vec::new();
        for (name, ks) in kinds {
            out.push(self.kind(name, ks, budget)?);
        }
        if out.is_empty() {
            return Err(self.err(self.table_span("kinds"), "kinds", "at least one file kind is needed"));
        }
        Ok(out)
    }

    /// One `[kinds.NAME]`: its name, extensions and size bands.
    fn kind(&self, name: &str, ks: &Spanned<KindSection>, budget: u64) -> Result<Kind, ProfileError> {
        let field = format!("kinds.{name}");
        if !is_name(name) {
            return Err(self.err(ks.span(), field, format!("{name:?}: {NAME_RULE}")));
        }
        let k = ks.get_ref();
        if k.extensions.is_empty() {
            return Err(self.err(ks.span(), format!("{field}.extensions"), "needs at least one extension"));
        }
        let mut extensions = Vec::new();
        for e in &k.extensions {
            let v = e.get_ref();
            let ok = v.len() >= 2
                && v.starts_with('.')
                && v[1..].chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
                && !v.contains("..");
            if !ok {
                return Err(self.err(
                    e.span(),
                    format!("{field}.extensions"),
                    format!("{v:?} is not an extension like \".pdf\" or \".tar.gz\""),
                ));
            }
            extensions.push(v.clone());
        }
        if k.bands.is_empty() {
            return Err(self.err(ks.span(), format!("{field}.bands"), "needs at least one size band"));
        }
        let mut bands = Vec::new();
        for (i, b) in k.bands.iter().enumerate() {
            let bf = format!("{field}.bands[{i}]");
            let bs = b.get_ref();
            let min = self.size_text(&bs.min, &format!("{bf}.min"))?;
            let max = self.size_text(&bs.max, &format!("{bf}.max"))?;
            if min == 0 || min > max {
                return Err(self.err(b.span(), bf, format!("needs 0 < min <= max, got min {min} and max {max}")));
            }
            let weight = self.positive(&bs.weight, &format!("{bf}.weight"))?;
            if min > budget {
                // Every file of this band would wait forever for upload memory.
                return Err(self.err(
                    b.span(),
                    bf,
                    format!(
                        "its smallest file ({min} bytes) is larger than limits.upload_memory_budget ({budget} bytes), so no upload from it could ever start"
                    ),
                ));
            }
            bands.push(Band { min, max, weight });
        }
        Ok(Kind { name: name.to_string(), extensions, bands })
    }

    /// `[words]`: the placeholder word lists of subfolder templates.
    fn words(
        &self,
        words: &BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    ) -> Result<BTreeMap<String, Vec<String>>, ProfileError> {
        let mut out = BTreeMap::new();
        for (name, list) in words {
            let field = format!("words.{name}");
            if DateField::ALL.iter().any(|(n, _)| n == name) {
                return Err(self.err(
                    list.span(),
                    field,
                    format!("{{{name}}} is a date placeholder filled from the simulated clock; pick another name"),
                ));
            }
            if !valid_ident(name) {
                return Err(self.err(list.span(), field, "placeholder names use a-z, 0-9 and _"));
            }
            if list.get_ref().is_empty() {
                return Err(self.err(list.span(), field, "needs at least one word"));
            }
            let mut vals = Vec::new();
            for w in list.get_ref() {
                let v = w.get_ref();
                let ok = !v.is_empty()
                    && v != "."
                    && v != ".."
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if !ok {
                    return Err(self.err(w.span(), field, format!("{v:?}: words fill key segments, so they use letters, digits, '-', '_' and '.' and are never '.' or '..'")));
                }
                vals.push(v.clone());
            }
            out.insert(name.clone(), vals);
        }
        Ok(out)
    }
}
