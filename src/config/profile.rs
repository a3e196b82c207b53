//! `profiles.toml`: the schema (serde, unknown keys refused) and every semantic check.
//! Each error names the file, the line and column, and the field, so a typo never
//! reaches a running fleet. `load` is the only way to get a `Plan`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::Invalid;
use crate::config::plan::{DateField, Part, Plan, Template};
use crate::model::units::{parse_duration, parse_size};

mod users;
mod validate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    run: RunSection,
    obsctl: ClientSection,
    rates: RatesSection,
    limits: LimitsSection,
    lifecycle: LifecycleSection,
    #[serde(default)]
    mix: Option<Spanned<MixSection>>,
    #[serde(default)]
    expected_failures: Option<Spanned<ExpectedSection>>,
    #[serde(default)]
    verify: Option<VerifySection>,
    #[serde(default)]
    thresholds: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    telemetry: Option<TelemetrySection>,
    kinds: BTreeMap<String, Spanned<KindSection>>,
    #[serde(default)]
    words: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    users: Vec<Spanned<UserSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunSection {
    duration: Spanned<String>,
    command_timeout: Spanned<String>,
    grace_period: Spanned<String>,
    stats_interval: Spanned<String>,
    log_file: Spanned<String>,
    seed: Option<u64>,
    /// The server's Prometheus metrics URL ("" = none); `${VAR}` expands.
    server_metrics: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientSection {
    #[serde(default = "default_flavor")]
    flavor: Spanned<String>,
    binary: Spanned<String>,
    endpoint: Option<Spanned<String>>,
    region: Spanned<String>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
}

fn default_flavor() -> Spanned<String> {
    Spanned::new(0..0, "obsctl".into())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RatesSection {
    base_ops_per_min: Spanned<f64>,
    peak_multiplier: Spanned<f64>,
    offpeak_multiplier: Spanned<f64>,
    download_share: Spanned<f64>,
    #[serde(default)]
    error_share: Option<Spanned<f64>>,
    #[serde(default = "default_arrivals")]
    arrivals: Spanned<String>,
}

fn default_arrivals() -> Spanned<String> {
    Spanned::new(0..0, "poisson".into())
}

/// Shares of the commands beyond cp and rm (0 when absent).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MixSection {
    ls: Option<Spanned<f64>>,
    head_object: Option<Spanned<f64>>,
    du: Option<Spanned<f64>>,
    presign: Option<Spanned<f64>>,
    sync: Option<Spanned<f64>>,
    mb_rb: Option<Spanned<f64>>,
}

/// Relative weights of the expected-failure kinds within `rates.error_share`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedSection {
    missing_key_download: Option<Spanned<f64>>,
    missing_bucket_upload: Option<Spanned<f64>>,
    missing_bucket_delete: Option<Spanned<f64>>,
    missing_local_upload: Option<Spanned<f64>>,
    missing_key_head: Option<Spanned<f64>>,
    wrong_credentials: Option<Spanned<f64>>,
}

/// obsctl's telemetry: identity per child, and verification against the contract.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetrySection {
    verify: Option<bool>,
    identity: Option<bool>,
    wait: Option<Spanned<String>>,
    /// Client versions (a version, semver requirement, `||` list or `*`: `config::versions`) → metric → reason.
    #[serde(default)]
    allow: BTreeMap<String, BTreeMap<String, Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifySection {
    confirm_uploads: Option<Spanned<f64>>,
    confirm_deletes: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    /// Hold new slots back while this machine is saturated (default true).
    host_guard: Option<bool>,
    max_in_flight_per_user: Spanned<u32>,
    max_in_flight: Spanned<u32>,
    upload_memory_budget: Spanned<String>,
    min_free_disk: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LifecycleSection {
    ttl: Spanned<String>,
    large_ttl: Spanned<String>,
    large_threshold: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindSection {
    extensions: Vec<Spanned<String>>,
    bands: Vec<Spanned<BandSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BandSection {
    min: Spanned<SizeText>,
    max: Spanned<SizeText>,
    weight: Spanned<f64>,
}

/// A size written as a number of bytes or as text with a unit.
#[derive(Debug)]
enum SizeText {
    Bytes(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SizeText, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SizeText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size: a number of bytes (512) or text with a unit (\"10KiB\", \"2MB\")")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SizeText, E> {
                Ok(SizeText::Bytes(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SizeText, E> {
                u64::try_from(v).map(SizeText::Bytes).map_err(|_| E::custom(format!("{v}: a size cannot be negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SizeText, E> {
                Ok(SizeText::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSection {
    id: Spanned<String>,
    role: String,
    bucket: Spanned<String>,
    peak_hours: Spanned<String>,
    activity: Spanned<f64>,
    kinds: BTreeMap<String, Spanned<f64>>,
    subfolders: Vec<Spanned<String>>,
    /// Independent users built from this one (`alice-dev-001` …); default 1.
    replicas: Option<Spanned<i64>>,
    /// The old generator's UTC offset; informative only (peak hours are already UTC).
    #[allow(dead_code)]
    tz: Option<f64>,
}

/// Kind names end up in object keys, tables, the HTML report and metrics: a
/// conservative charset, so no markup or terminal escape can ride along.
const NAME_RULE: &str = "names use letters, digits, '.', '-' and '_' (1-64 chars)";

fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A role is shown (plan, tables): words, but no markup or control characters.
fn is_role(s: &str) -> bool {
    (1..=64).contains(&s.chars().count()) && s.chars().all(|c| c.is_alphanumeric() || " -_.,/()+".contains(c))
}

/// Control characters shown as escapes (`\u{1b}`), the rest as it is.
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\n' { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// A profile problem, located in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileError {
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub at: Option<(usize, usize)>,
    /// Dotted path of the offending field, e.g. `users[2].bucket`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((l, c)) = self.at {
            write!(f, ":{l}:{c}")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ProfileError {}

/// `sha256:HEX` of a profile's bytes.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The longest simulated run: a year.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

/// Reads, parses and validates a profile file.
pub fn load(path: &Path) -> Result<Plan, ProfileError> {
    let bytes = std::fs::read(path).map_err(|e| ProfileError {
        path: path.to_path_buf(),
        at: None,
        field: String::new(),
        message: format!("cannot read the profile: {e}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // Point at the first byte that is not UTF-8.
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let text = String::from_utf8_lossy(good);
        let cx = Cx { path, text: &text };
        ProfileError {
            path: path.to_path_buf(),
            at: Some(line_col(&text, text.len())),
            field: cx.field_at(text.len()),
            message: "the profile is not UTF-8 text (TOML must be UTF-8)".into(),
        }
    })?;
    parse(path, &text)
}

/// Parses and validates profile text; `path` is used in messages only.
pub fn parse(path: &Path, text: &str) -> Result<Plan, ProfileError> {
    let cx = Cx { path, text };
    let file: ProfileFile = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
    cx.validate(file)
}

struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn err(&self, span: Range<usize>, field: impl Into<String>, message: impl std::fmt::Display) -> ProfileError {
        let at = if span.start == 0 && span.end == 0 { None } else { Some(line_col(self.text, span.start)) };
        // A field path or message may quote a hostile name: its control characters are
        // shown escaped, never sent to the terminal as they are.
        let (field, message) = (visible(&field.into()), visible(&message.to_string()));
        ProfileError { path: self.path.to_path_buf(), at, field, message }
    }

    /// serde/TOML errors come with a span but without the field's name: take the key
    /// from the line the span points at, and the table from the nearest header above.
    fn toml_error(&self, e: &toml::de::Error) -> ProfileError {
        let message = e.message().trim().to_string();
        let missing = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')).map(str::to_string);
        let span = e.span().filter(|s| !(s.start == 0 && s.end == 0));
        let Some(span) = span else {
            // A whole table is missing: point at the end of the file, where it would go.
            if let Some(name) = missing {
                let end = self.text.len();
                let at = if self.text.is_empty() { 0..0 } else { end..end };
                let mut err = self.err(at, name.clone(), format!("the required table [{name}] is missing"));
                err.at = err.at.or(Some((1, 1)));
                return err;
            }
            return self.err(0..1, TOP_LEVEL, message);
        };
        if let Some(name) = missing {
            // serde points at the table that lacks the key: its header line.
            let lines: Vec<&str> = self.text.lines().collect();
            let (line_no, _) = line_col(self.text, span.start);
            let table = table_of(&lines, line_no).unwrap_or_else(|| TOP_LEVEL.into());
            return self.err(span, table, format!("the required key `{name}` is missing"));
        }
        self.err(span.clone(), self.field_at(span.start), message)
    }

    /// The dotted name of what is written at `offset`: a table header names itself,
    /// otherwise the key on that line under the nearest header above.
    fn field_at(&self, offset: usize) -> String {
        let (line_no, col) = line_col(self.text, offset);
        let lines: Vec<&str> = self.text.lines().collect();
        let line = lines.get(line_no.saturating_sub(1)).copied().unwrap_or("");
        if line.trim_start().starts_with('[') {
            return table_of(&lines, line_no).unwrap_or_else(|| TOP_LEVEL.into());
        }
        let header = table_of(&lines, line_no.saturating_sub(1));
        // The key the span belongs to: the last `key =` before it on its line (inline
        // tables hold several), or the key the span starts at (an unknown key).
        let before: String = line.chars().take(col.saturating_sub(1)).collect();
        let bare = |k: &str| {
            let k = k.trim().trim_matches('"');
            let ok = !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c));
            ok.then(|| k.to_string())
        };
        let key =
            before.rsplit(['{', ',']).next().and_then(|k| k.split_once('=')).and_then(|(k, _)| bare(k)).or_else(|| {
                let rest: String = line.chars().skip(col.saturating_sub(1)).collect();
                rest.split_once('=').filter(|_| before.trim().is_empty()).and_then(|(k, _)| bare(k))
            });
        match (header, key) {
            (Some(h), Some(k)) => format!("{h}.{k}"),
            (Some(h), None) => h,
            (None, Some(k)) => k,
            (None, None) => TOP_LEVEL.into(),
        }
    }

    /// Where a top-level table is defined (its header or `name =` line), else the end
    /// of the file: for checks that need the table as a whole.
    fn table_span(&self, name: &str) -> Range<usize> {
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim_start();
            let key = t.strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('='));
            if key || t.starts_with(&format!("[{name}]")) || t.starts_with(&format!("[[{name}]]")) {
                let start = offset + line.len() - t.len();
                return start..start + t.trim_end().len().max(1);
            }
            offset += line.len();
        }
        self.text.len()..self.text.len().max(1)
    }

    fn duration(&self, v: &Spanned<String>, field: &str) -> Result<std::time::Duration, ProfileError> {
        let d = parse_duration(v.get_ref()).map_err(|m| self.err(v.span(), field, m))?;
        if d.is_zero() {
            return Err(self.err(v.span(), field, "must be longer than zero"));
        }
        check_max_duration(d).map_err(|m| self.err(v.span(), field, m))?;
        Ok(d)
    }

    /// One of a fixed set of `names`; the same names the command line takes.
    fn choice<T: Copy>(
        &self,
        v: &Spanned<String>,
        field: &str,
        what: &str,
        names: &[(&str, T)],
    ) -> Result<T, ProfileError> {
        names.iter().find(|(n, _)| n == v.get_ref()).map(|(_, x)| *x).ok_or_else(|| {
            let names: Vec<String> = names.iter().map(|(n, _)| format!("{n:?}")).collect();
            self.err(v.span(), field, format!("{:?} is not {what} ({})", v.get_ref(), names.join(" or ")))
        })
    }

    fn size(&self, v: &Spanned<String>, field: &str) -> Result<u64, ProfileError> {
        parse_size(v.get_ref()).map_err(|m| self.err(v.span(), field, m))
    }

    fn size_text(&self, v: &Spanned<SizeText>, field: &str) -> Result<u64, ProfileError> {
        match v.get_ref() {
            SizeText::Bytes(b) => Ok(*b),
            SizeText::Text(t) => parse_size(t).map_err(|m| self.err(v.span(), field, m)),
        }
    }

    fn positive(&self, v: &Spanned<f64>, field: &str) -> Result<f64, ProfileError> {
        let x = *v.get_ref();
        if !(x.is_finite() && x > 0.0) {
            return Err(self.err(v.span(), field, format!("must be a positive number, got {x}")));
        }
        Ok(x)
    }
}

/// Expands `${NAME}` and `${NAME:-default}` in a profile value from `lookup` (the
/// environment), so credentials need not be written into the profile. `$` not followed
/// by `{` stays as it is. An unset variable without a default is an error naming it.
pub fn expand_env(value: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, Invalid> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let close = after.find('}').ok_or_else(|| Invalid(format!("\"${{\" without a closing \"}}\" in {value:?}")))?;
        let inner = &after[..close];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Invalid(format!("${{{inner}}}: not a variable name (use ${{NAME}} or ${{NAME:-default}})")));
        }
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(Invalid(format!(
                    "refers to ${{{name}}}, which is not set in trafficgen's environment (set it, or write ${{{name}:-default}})"
                )));
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Every duration, in the profile or on the command line, is at most the longest run
/// (366 days): far beyond it the clock's arithmetic overflows (a grace period of
/// "500000000000y" once crashed a run at its end).
pub fn check_max_duration(d: std::time::Duration) -> Result<(), Invalid> {
    if d > MAX_DURATION {
        return Err(Invalid(format!("at most {}d", MAX_DURATION.as_secs() / 86_400)));
    }
    Ok(())
}

/// The field name of what is not inside any table.
const TOP_LEVEL: &str = "(top level)";

/// The table a line belongs to: the nearest header among the first `upto` lines, with
/// its index for arrays of tables (`[[users]]` → users[2]).
fn table_of(lines: &[&str], upto: usize) -> Option<String> {
    let above = &lines[..upto.min(lines.len())];
    // The name ends at the header's first ']' (a comment may follow); a header cut
    // short before its name names nothing.
    let name_of = |h: &str| h.trim().trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string();
    let (i, h) = above.iter().enumerate().rev().find(|(_, l)| l.trim().starts_with('[') && !name_of(l).is_empty())?;
    let (h, name) = (h.trim(), name_of(h));
    if h.starts_with("[[") {
        let n = above[..i].iter().filter(|l| l.trim() == h).count();
        Some(format!("{name}[{n}]"))
    } else {
        Some(name)
    }
}

/// The shortest statistics interval (flag and profile alike): tables more often than
/// this are noise, and 1ns once printed 60,000 tables in 3 s.
pub const MIN_STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// S3's limit on a key's length, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// Replicas of one persona, and users in a profile: one machine runs a thread per user.
pub const MAX_REPLICAS: usize = 10_000;
pub const MAX_USERS: usize = 10_000;

/// `007` of `alice-dev-007`: at least three digits, more when there are more replicas.
fn replica_suffix(r: usize, of: usize) -> String {
    let width = of.to_string().len().max(3);
    format!("{r:0width$}")
}

/// A user's target may not exceed this many operations per wall minute: far above what
/// one machine can start (about 60,000 a minute in all with a no-op client), and low
/// enough that the schedule's arithmetic stays exact and a worker's loop stays short.
pub const MAX_USER_OPS_PER_MIN: f64 = 100_000.0;

/// The longest text a template can fill to.
fn template_max_len(tpl: &Template, words: &BTreeMap<String, Vec<String>>) -> usize {
    tpl.parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.len(),
            Part::Word(w) => words.get(w).and_then(|l| l.iter().map(String::len).max()).unwrap_or(0),
            Part::Date(DateField::Date) => 10,
            Part::Date(DateField::Year) => 4,
            Part::Date(_) => 2,
        })
        .sum()
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// S3 bucket naming rules: 3-63 chars of a-z, 0-9, '-' and '.', starting and ending
/// with a letter or digit, no "..", and not shaped like an IP address.
pub fn check_bucket(name: &str) -> Result<(), Invalid> {
    let rule = "bucket names are 3-63 characters of a-z, 0-9, '-' and '.', starting and ending with a letter or digit";
    let ok_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len()) || !ok_chars || !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Err(Invalid(format!("{name:?}: {rule}")));
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(Invalid(format!("{name:?}: no '..', '.-' or '-.' in bucket names")));
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err(Invalid(format!("{name:?}: bucket names must not look like an IP address")));
    }
    // Names S3 reserves for its own features.
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(Invalid(format!("{name:?}: S3 reserves bucket names starting with {prefix:?}")));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"] {
        if name.ends_with(suffix) {
            return Err(Invalid(format!("{name:?}: S3 reserves bucket names ending with {suffix:?}")));
        }
    }
    Ok(())
}

/// Parses `projects/{project}/src`. Words never contain '/', so checking the literal
/// text is enough to promise that no filled-in key has "//", ".." or a leading '/'.
pub fn parse_template(text: &str, words: &BTreeMap<String, Vec<String>>) -> Result<Template, Invalid> {
    if text.is_empty() {
        return Err(Invalid("a template cannot be empty".into()));
    }
    if text.starts_with('/') || text.ends_with('/') {
        return Err(Invalid(format!("{text:?}: templates must not start or end with '/'")));
    }
    if text.contains("//") {
        return Err(Invalid(format!("{text:?}: templates must not contain '//'")));
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Lit(rest[..open].to_string()));
        }
        let close = rest[open..].find('}').ok_or_else(|| Invalid(format!("{text:?}: '{{' without '}}'")))? + open;
        let name = &rest[open + 1..close];
        if let Some((_, f)) = DateField::ALL.iter().find(|(n, _)| *n == name) {
            parts.push(Part::Date(*f));
        } else if words.contains_key(name) {
            parts.push(Part::Word(name.to_string()));
        } else {
            let mut known: Vec<String> = DateField::ALL.iter().map(|(n, _)| n.to_string()).collect();
            known.extend(words.keys().cloned());
            return Err(Invalid(format!("{text:?}: unknown placeholder {{{name}}}; known: {}", known.join(", "))));
        }
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err(Invalid(format!("{text:?}: '}}' without '{{'")));
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    for seg in text.split('/') {
        if seg == "." || seg == ".." {
            return Err(Invalid(format!("{text:?}: templates must not contain '.' or '..' segments")));
        }
    }
    if let Some(bad) = text.chars().find(|c| c.is_control() || "\\#?%*\"<>|".contains(*c)) {
        return Err(Invalid(format!("{text:?}: {bad:?} does not belong in an object key")));
    }
    Ok(Template { text: text.to_string(), parts })
}

/// The shipped `profiles.toml`, compiled in: the fixture of unit tests across the
/// crate, independent of the directory a test runs in.
#[cfg(test)]
pub const SHIPPED: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles.toml"));

/// The shipped profile, parsed.
#[cfg(test)]
pub fn shipped() -> Plan {
    parse(Path::new("profiles.toml"), SHIPPED).expect("the shipped profile loads")
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod mutate;
#[cfg(test)]
mod tests;
