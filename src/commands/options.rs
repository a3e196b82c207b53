//! Parsed arguments → a validated plan and run options. Nothing here starts anything.

use std::path::PathBuf;

use crate::cli::{Cli, ClientArgs, RunArgs};
use crate::config::plan::Plan;
use crate::config::profile;
use crate::config::profile::MAX_DURATION;
use crate::config::shard;
use crate::config::threshold;
use crate::exec::client::{Exec, Outcome};
use crate::model::clock::{self, TimeMap};
use crate::model::error::Error;
use crate::model::units;
use crate::model::url;
use crate::output::export::Exports;

/// The profile with the options every subcommand shares.
pub fn load(cli: &Cli) -> Result<Plan, Error> {
    let mut plan = profile::load(&cli.profiles).map_err(|e| Error::Usage(e.to_string()))?;
    if !(cli.rate_scale.is_finite() && cli.rate_scale > 0.0) {
        return Err(Error::Usage(format!("--rate-scale {}: must be a positive number", cli.rate_scale)));
    }
    plan.rates.scale = cli.rate_scale;
    plan.expand_replicas = cli.expand_replicas;
    // The profile keeps each user under the maximum; the scale must not lift it over.
    for u in &plan.users {
        let busiest = (0..24).map(|h| plan.user_rate(u, h)).fold(0.0, f64::max);
        if busiest > profile::MAX_USER_OPS_PER_MIN {
            return Err(Error::Usage(format!(
                "--rate-scale {}: {} would ask for {busiest:.0} operations a minute; at most {:.0} per user",
                cli.rate_scale,
                u.id,
                profile::MAX_USER_OPS_PER_MIN
            )));
        }
    }
    if let Some(ids) = &cli.users {
        let known = |id: &str| plan.users.iter().any(|u| u.id == id || u.persona == id);
        if let Some(bad) = ids.iter().find(|id| !known(id)) {
            let mut personas: Vec<&str> = plan.users.iter().map(|u| u.persona.as_str()).collect();
            personas.dedup();
            return Err(Error::Usage(format!(
                "--users: no user {bad:?} in {} (known: {})",
                cli.profiles.display(),
                personas.join(", ")
            )));
        }
        plan.users.retain(|u| ids.contains(&u.id) || ids.contains(&u.persona));
        let mut selected = ids.clone();
        selected.sort();
        selected.dedup();
        plan.selected_users = Some(selected);
    }
    let shard = match &cli.shard {
        Some(text) => Some(shard::parse(text)?),
        None => shard::from_env(|k| std::env::var(k).ok())?,
    };
    if let Some((index, count)) = shard {
        shard::apply(&mut plan, index, count);
    }
    Ok(plan)
}

/// The environment variable that names the endpoint when `--endpoint` does not.
const ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL";

/// The fastest clock: a year (`MAX_DURATION`) in as little as 5 minutes.
pub const MAX_TIME_SCALE: f64 = 100_000.0;

/// Run-only settings that are not part of the plan.
pub struct RunOpts {
    pub seed: u64,
    pub seed_was_random: bool,
    pub map: TimeMap,
    pub temp_dir: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub exports: Exports,
    pub cleanup: bool,
    pub quiet: bool,
    /// Show the live status when stderr is a terminal.
    pub live: bool,
    /// Under `ab`: two builds interleaved (see `work::ab`).
    pub ab: Option<std::sync::Arc<crate::work::ab::Split>>,
}

/// The run options over the plan, validated, and the run's own settings.
pub fn apply_run_args(mut plan: Plan, a: &RunArgs) -> Result<(Plan, RunOpts), Error> {
    apply_client(&mut plan, &a.target)?;
    apply_settings(&mut plan, a)?;
    require_telemetry_rule(&mut plan)?;
    check_durations(&plan, a)?;
    let opts = run_opts(&plan, a)?;
    Ok((plan, opts))
}

/// `--obsctl`, `--client`, `--endpoint`, `--region`: for a run, and for `cleanup`.
pub fn apply_client(plan: &mut Plan, a: &ClientArgs) -> Result<(), Error> {
    apply_client_with(plan, a, |name| std::env::var(name).ok())
}

/// As `apply_client`, reading the environment through `env`.
fn apply_client_with(plan: &mut Plan, a: &ClientArgs, env: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
    if let Some(p) = &a.obsctl {
        plan.client.binary = p.clone();
    }
    if let Some(f) = a.client.map(crate::config::plan::Flavor::from) {
        plan.client.flavor = f;
        // `--client aws` alone means the AWS CLI, not the profile's `obsctl`.
        if a.obsctl.is_none()
            && f == crate::config::plan::Flavor::Aws
            && plan.client.binary == std::path::Path::new("obsctl")
        {
            plan.client.binary = "aws".into();
        }
    }
    if let Some(e) = &a.endpoint {
        let e = e.trim();
        if !(e.is_empty() || url::is_http(e)) {
            return Err(Error::Usage(format!(
                "--endpoint {e:?}: must start with http:// or https:// (or be \"\" for the client's own)"
            )));
        }
        plan.client.endpoint = (!e.is_empty()).then(|| e.to_string());
        plan.client.endpoint_from = "--endpoint";
    } else if let Some(e) = env(ENDPOINT_VAR).filter(|e| !e.trim().is_empty()) {
        // The AWS CLI's own order: its flag, then this variable (which `scripts/local-s3
        // env` exports), then its configuration.
        let e = e.trim();
        if !url::is_http(e) {
            return Err(Error::Usage(format!(
                "{ENDPOINT_VAR} {:?}: must start with http:// or https:// (or be unset or empty, for obsctl.endpoint)",
                crate::model::secrets::scrub(e)
            )));
        }
        plan.client.endpoint = Some(e.to_string());
        plan.client.endpoint_from = ENDPOINT_VAR;
    }
    if let Some(r) = &a.region {
        if r.trim().is_empty() {
            return Err(Error::Usage("--region: must not be empty (obsctl would fall back to ru-moscow-1)".into()));
        }
        plan.client.region = r.clone();
    }
    Ok(())
}

/// The endpoint as the first lines say it, with where it came from (its password, if it
/// carries one, hidden): `http://127.0.0.1:9000 (from AWS_ENDPOINT_URL)`.
pub fn endpoint_text(client: &crate::config::plan::ClientPlan) -> String {
    match &client.endpoint {
        Some(e) => format!("{} (from {})", crate::model::secrets::scrub(e), client.endpoint_from),
        None => format!("(client default; {} is empty)", client.endpoint_from),
    }
}

/// Why the client's `--version` failed, as a run, `ab` and `cleanup` say it. A client
/// that could not even be started (no such file, not executable) gets `fix`, the options
/// that name another: "No such file or directory" alone leaves the reader guessing which
/// file.
pub fn cannot_run(plan: &Plan, binary: &std::path::Path, version: &Exec, fix: &str) -> String {
    let mut text = format!(
        "cannot run `{} --version` ({} flavor): {}",
        binary.display(),
        plan.client.flavor.name(),
        crate::work::ops::describe(version)
    );
    if matches!(version.outcome, Outcome::SpawnError(_)) {
        text.push_str("; ");
        text.push_str(fix);
    }
    text
}

/// The fix `cannot_run` names for a run's or `cleanup`'s client.
pub const CLIENT_FIX: &str =
    "give the client with --obsctl PATH (or obsctl.binary in the profile), or --client aws --obsctl .venv/bin/aws";

/// The other options the plan holds: rates, intervals, limits, server metrics,
/// telemetry verification, thresholds.
fn apply_settings(plan: &mut Plan, a: &RunArgs) -> Result<(), Error> {
    if let Some(d) = a.duration {
        plan.duration = d.into();
    }
    if let Some(k) = a.arrivals.map(crate::config::plan::Arrivals::from) {
        plan.rates.arrivals = k;
    }
    if let Some(d) = a.stats_interval {
        plan.stats_interval = d.into();
    }
    if let Some(p) = &a.log_file {
        plan.log_file = p.clone();
    }
    if let Some(d) = a.grace_period {
        plan.grace_period = d.into();
    }
    if let Some(d) = a.command_timeout {
        plan.command_timeout = d.into();
    }
    if let Some(s) = &a.max_file_size {
        plan.limits.max_file_size = Some(units::parse_size(s).map_err(|e| e.context("--max-file-size"))?);
    }
    if let Some(u) = &a.server_metrics {
        if !(u.is_empty() || url::is_http(u)) {
            return Err(Error::Usage(format!("--server-metrics {u:?}: must start with http:// or https://")));
        }
        plan.server_metrics = (!u.is_empty()).then(|| u.clone());
    }
    if a.verify_telemetry {
        plan.telemetry.verify = true;
    }
    for expr in &a.thresholds {
        let t = threshold::parse(expr, threshold::unit_of).map_err(|e| Error::Usage(format!("--threshold: {e}")))?;
        plan.thresholds.push(t);
    }
    Ok(())
}

/// Telemetry verification only where the client exports OTLP, and never without a rule
/// on its outcome.
fn require_telemetry_rule(plan: &mut Plan) -> Result<(), Error> {
    if plan.telemetry.verify && plan.client.flavor != crate::config::plan::Flavor::Obsctl {
        // The AWS CLI exports no OTLP metrics: nothing to verify, and saying so beats
        // failing a run that is otherwise fine.
        eprintln!(
            "note: telemetry verification is off: the {} flavor exports no OTLP metrics",
            plan.client.flavor.name()
        );
        plan.telemetry.verify = false;
    }
    if plan.telemetry.verify {
        // Verification without a rule on its outcome would verify nothing: any
        // mismatching family fails the run unless a threshold says otherwise.
        if !plan.thresholds.iter().any(|t| t.metric == "telemetry_mismatches") {
            let rule = threshold::parse("telemetry_mismatches==0", threshold::unit_of)?;
            plan.thresholds.push(rule);
        }
    }
    Ok(())
}

/// Every duration above zero (the grace period may be zero) and within a year, the
/// stats interval at least 1 s, the time scale within bounds.
fn check_durations(plan: &Plan, a: &RunArgs) -> Result<(), Error> {
    for (name, d) in [
        ("--duration", plan.duration),
        ("--stats-interval", plan.stats_interval),
        ("--command-timeout", plan.command_timeout),
        ("--grace-period", plan.grace_period),
    ] {
        if d.is_zero() && name != "--grace-period" {
            return Err(Error::Usage(format!("{name}: must be longer than zero")));
        }
        crate::config::profile::check_max_duration(d).map_err(|m| Error::Usage(format!("{name}: {m}")))?;
    }
    if plan.stats_interval < crate::config::profile::MIN_STATS_INTERVAL {
        return Err(Error::Usage("--stats-interval: must be at least 1s".into()));
    }
    if plan.duration > MAX_DURATION {
        return Err(Error::Usage(format!(
            "--duration: at most {} (simulated)",
            humantime::format_duration(MAX_DURATION)
        )));
    }
    if !(a.time_scale.is_finite() && a.time_scale > 0.0 && a.time_scale <= MAX_TIME_SCALE) {
        return Err(Error::Usage(format!(
            "--time-scale {}: must be a number above 0 and at most {MAX_TIME_SCALE}",
            a.time_scale
        )));
    }
    Ok(())
}

/// The settings of this run that are not part of the plan: seed, clock, paths, outputs.
fn run_opts(plan: &Plan, a: &RunArgs) -> Result<RunOpts, Error> {
    let now = clock::unix_now();
    let sim_start = match &a.start_at {
        Some(s) => clock::start_at_today(s, now)?,
        None => now,
    };
    let (seed, seed_was_random) = match a.seed.or(plan.seed) {
        Some(s) => (s, false),
        None => (rand::random::<u64>() >> 12, true),
    };
    Ok(RunOpts {
        seed,
        seed_was_random,
        map: TimeMap { sim_start, scale: a.time_scale },
        temp_dir: a.temp_dir.clone(),
        state_dir: a.state_dir.clone().unwrap_or_else(|| shard::default_state_dir(plan.shard)),
        exports: Exports {
            summary_json: a.summary_json.clone(),
            html: a.html.clone(),
            junit: a.junit.clone(),
            ops_log: a.ops_log.clone(),
        },
        cleanup: a.cleanup,
        quiet: a.quiet,
        live: !a.no_live,
        ab: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(flag: Option<&str>, var: Option<&str>) -> Result<(Option<String>, &'static str), Error> {
        let mut plan = crate::config::profile::shipped();
        let a = ClientArgs { obsctl: None, client: None, endpoint: flag.map(String::from), region: None };
        apply_client_with(&mut plan, &a, |name| (name == "AWS_ENDPOINT_URL").then(|| var.map(String::from)).flatten())?;
        Ok((plan.client.endpoint, plan.client.endpoint_from))
    }

    #[test]
    fn the_endpoint_comes_from_the_flag_then_the_environment_then_the_profile() {
        let profile = Some("http://127.0.0.1:9000".to_string());
        assert_eq!(endpoint(None, None), Ok((profile.clone(), "obsctl.endpoint")));
        assert_eq!(endpoint(None, Some(" ")), Ok((profile, "obsctl.endpoint")), "empty is unset");
        assert_eq!(
            endpoint(None, Some("http://10.0.0.1:9000")),
            Ok((Some("http://10.0.0.1:9000".into()), "AWS_ENDPOINT_URL"))
        );
        assert_eq!(
            endpoint(Some("https://s3.example"), Some("http://10.0.0.1:9000")),
            Ok((Some("https://s3.example".into()), "--endpoint"))
        );
        // The flag wins even over a variable that is not a URL; "" is the client's own.
        assert_eq!(endpoint(Some(""), Some("nonsense")), Ok((None, "--endpoint")));
        let e = endpoint(None, Some("127.0.0.1:9000")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with("AWS_ENDPOINT_URL \"127.0.0.1:9000\": must start with http://"), "{e}");
        let e = endpoint(None, Some("s3://user:hunter22@host")).unwrap_err();
        assert!(!e.to_string().contains("hunter22"), "{e}");
    }
}
