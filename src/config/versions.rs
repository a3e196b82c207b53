//! Which client versions a known telemetry deviation is allowed for: the keys of
//! `[telemetry.allow."KEY"]`, and the allowances that follow for one client's
//! `--version` line.
//!
//! A key is `"*"` (any version), a bare version (`"0.3.0"`: that version exactly), a
//! semver requirement (`">=0.2.0, <0.4.0"`, `"^0.3"`, `"~0.3.1"`), or alternatives of
//! these joined by `||` (`"0.2.0 || 0.3.0"`). Parsed with the `semver` crate, never by
//! substring: `"0.3.0"` no longer covers `10.3.0`. A pre-release or build of a version
//! (`0.4.0-dev`, `0.3.0+abc`) is matched as that version too: obsctl's own builds between
//! releases carry such suffixes, and their telemetry code is the release's.
//!
//! A deviation the profile allows only for earlier versions still counts as allowed
//! for a newer client, with the note "known since V": a release that keeps an old,
//! known defect is not a regression, and the run warns once so the profile can be
//! brought up to date. A deviation no key covers for this or any earlier version is a
//! mismatch.

use std::collections::BTreeMap;

use semver::{Op, Version, VersionReq};

use crate::config::Invalid;

/// One alternative of a key.
#[derive(Debug, Clone, PartialEq)]
enum Alt {
    Any,
    Exact(Version),
    Req(VersionReq),
}

/// A parsed `[telemetry.allow]` key.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSpec {
    alts: Vec<Alt>,
}

impl VersionSpec {
    /// Parses a key; the error says what a key may be.
    pub fn parse(text: &str) -> Result<VersionSpec, Invalid> {
        let mut alts = Vec::new();
        for part in text.split("||").map(str::trim) {
            let alt = if part == "*" {
                Alt::Any
            } else if let Ok(v) = Version::parse(part.trim_start_matches(['v', '='])) {
                // A bare version means that version, not semver's caret range.
                if part.starts_with('=') || !part.contains(['<', '>', '^', '~', ',', '*']) {
                    Alt::Exact(v)
                } else {
                    Alt::Req(VersionReq::parse(part).map_err(|e| Self::explain(part, &e.to_string()))?)
                }
            } else {
                Alt::Req(VersionReq::parse(part).map_err(|e| Self::explain(part, &e.to_string()))?)
            };
            alts.push(alt);
        }
        Ok(VersionSpec { alts })
    }

    fn explain(part: &str, why: &str) -> Invalid {
        Invalid(format!(
            "{part:?} is not a version or a version requirement ({why}); give \"0.3.0\", \">=0.2.0, <0.4.0\", \"0.2.0 || 0.3.0\" or \"*\""
        ))
    }

    /// Whether a client of version `v` is covered (a pre-release or build of a version
    /// counts as that version).
    pub fn matches(&self, v: &Version) -> bool {
        let plain = release(v);
        self.alts.iter().any(|a| match a {
            Alt::Any => true,
            Alt::Exact(x) => x == v || release(x) == plain,
            Alt::Req(r) => r.matches(v) || r.matches(&plain),
        })
    }

    /// The lowest version the key names (None for `*` or a key with no lower bound):
    /// what "known since" says of a deviation it lists.
    pub fn since(&self) -> Option<Version> {
        let mut low: Option<Version> = None;
        for a in &self.alts {
            let v = match a {
                Alt::Any => return None,
                Alt::Exact(x) => release(x),
                Alt::Req(r) => lower_bound(r)?,
            };
            low = Some(match low {
                Some(l) if l <= v => l,
                _ => v,
            });
        }
        low
    }
}

/// `v` without pre-release and build metadata.
fn release(v: &Version) -> Version {
    Version::new(v.major, v.minor, v.patch)
}

/// The lowest version a requirement admits, when it has a lower bound.
fn lower_bound(r: &VersionReq) -> Option<Version> {
    r.comparators
        .iter()
        .filter(|c| matches!(c.op, Op::Exact | Op::Greater | Op::GreaterEq | Op::Tilde | Op::Caret | Op::Wildcard))
        .map(|c| Version::new(c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)))
        .max()
}

/// The client's version from its `--version` line: the first word that reads as a
/// semver version (`obsctl 0.3.0`, `aws-cli/1.45.11 Python/3.11`, `v0.4.0-dev`).
pub fn version_of(line: &str) -> Option<Version> {
    line.split(|c: char| c.is_whitespace() || c == '/' || c == ',' || c == '(' || c == ')')
        .map(|w| w.trim_start_matches('v'))
        .find_map(|w| Version::parse(w).ok())
}

/// One `[telemetry.allow."KEY"]` table: the key as written, parsed, and its families.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownDeviations {
    pub key: String,
    pub spec: VersionSpec,
    /// Metric → reason.
    pub families: BTreeMap<String, String>,
}

/// A known deviation that applies to one client: metric → reason (with "known since
/// V: " in front when only an earlier version's key lists it).
pub type Allowances = BTreeMap<String, String>;

/// The deviations `allow` (key → metric → reason) allows for a client whose
/// `--version` says `line`, and the families taken only as "known since" an earlier
/// version (for a warning). A client whose version cannot be read gets only `*` keys.
pub fn allowances(allow: &[KnownDeviations], line: &str) -> (Allowances, Vec<String>) {
    let version = version_of(line);
    let mut out = Allowances::new();
    let mut since: BTreeMap<String, (Version, String)> = BTreeMap::new();
    for KnownDeviations { spec, families, .. } in allow {
        let direct = match &version {
            Some(v) => spec.matches(v),
            None => spec.alts.contains(&Alt::Any),
        };
        if direct {
            for (m, why) in families {
                out.insert(m.clone(), why.clone());
            }
            continue;
        }
        let (Some(v), Some(low)) = (&version, spec.since()) else { continue };
        if low < release(v) {
            for (m, why) in families {
                let keep = since.get(m).is_none_or(|(l, _)| low < *l);
                if keep {
                    since.insert(m.clone(), (low.clone(), why.clone()));
                }
            }
        }
    }
    let mut known_since = Vec::new();
    for (m, (low, why)) in since {
        if !out.contains_key(&m) {
            out.insert(m.clone(), format!("known since {low}: {why}"));
            known_since.push(m);
        }
    }
    (out, known_since)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn keys_are_versions_requirements_lists_or_any() {
        let exact = VersionSpec::parse("0.3.0").unwrap();
        assert!(exact.matches(&v("0.3.0")));
        // A bare version is that version, not semver's caret range, and not a substring.
        assert!(!exact.matches(&v("0.3.1")));
        assert!(!exact.matches(&v("10.3.0")));
        // Pre-releases and builds of it count as it.
        assert!(exact.matches(&v("0.3.0-fake")) && exact.matches(&v("0.3.0+abc")));
        let range = VersionSpec::parse(">=0.2.0, <0.4.0").unwrap();
        assert!(range.matches(&v("0.2.0")) && range.matches(&v("0.3.9")) && range.matches(&v("0.3.0-dev")));
        assert!(!range.matches(&v("0.4.0")) && !range.matches(&v("0.1.9")));
        let list = VersionSpec::parse("0.2.0 || 0.3.0").unwrap();
        assert!(list.matches(&v("0.2.0")) && list.matches(&v("0.3.0")) && !list.matches(&v("0.2.5")));
        assert!(VersionSpec::parse("*").unwrap().matches(&v("99.0.0")));
        assert!(VersionSpec::parse("^0.3").unwrap().matches(&v("0.3.7")));
        for bad in ["", "0.3", "latest", ">=0.2.0 <<0.4", "0.3.0 ||"] {
            let e = VersionSpec::parse(bad).err();
            // "0.3" is a valid requirement (^0.3): only the others fail.
            if bad == "0.3" {
                assert!(e.is_none(), "{bad:?}");
                continue;
            }
            assert!(e.is_some_and(|m| m.0.contains("version requirement")), "{bad:?}");
        }
    }

    #[test]
    fn the_version_comes_from_the_version_line() {
        assert_eq!(version_of("obsctl 0.3.0"), Some(v("0.3.0")));
        assert_eq!(version_of("obsctl 0.3.0-fake"), Some(v("0.3.0-fake")));
        assert_eq!(version_of("aws-cli/1.45.11 Python/3.11.2 Linux/6.1"), Some(v("1.45.11")));
        assert_eq!(version_of("obsctl v0.4.0"), Some(v("0.4.0")));
        assert_eq!(version_of("obsctl (unknown build)"), None);
        assert_eq!(VersionSpec::parse(">=0.2.0, <0.4.0").unwrap().since(), Some(v("0.2.0")));
        assert_eq!(VersionSpec::parse("0.3.0 || 0.2.1").unwrap().since(), Some(v("0.2.1")));
        assert_eq!(VersionSpec::parse("<0.4.0").unwrap().since(), None);
        assert_eq!(VersionSpec::parse("*").unwrap().since(), None);
    }

    fn allow(keys: &[(&str, &[&str])]) -> Vec<KnownDeviations> {
        keys.iter()
            .map(|(k, fams)| KnownDeviations {
                key: k.to_string(),
                spec: VersionSpec::parse(k).unwrap(),
                families: fams.iter().map(|f| (f.to_string(), format!("why {f}"))).collect(),
            })
            .collect()
    }

    #[test]
    fn each_version_gets_its_own_allowances_and_older_ones_as_known_since() {
        let a = allow(&[(">=0.2.0, <0.4.0", &["operations_total", "lists_total"]), ("0.1.0", &["uploads_total"])]);
        // Inside the range: allowed as written.
        let (got, since) = allowances(&a, "obsctl 0.2.0");
        assert_eq!(got["operations_total"], "why operations_total");
        // 0.1.0's deviation, still there in 0.2.0: known since 0.1.0.
        assert_eq!(got["uploads_total"], "known since 0.1.0: why uploads_total");
        assert_eq!(since, ["uploads_total"]);
        // A newer release: every earlier deviation is known since its first version.
        let (got, since) = allowances(&a, "obsctl 0.4.0");
        assert_eq!(got["operations_total"], "known since 0.2.0: why operations_total");
        assert_eq!(since, ["lists_total", "operations_total", "uploads_total"]);
        // An older client than any key: nothing is allowed.
        let (got, _) = allowances(&a, "obsctl 0.0.9");
        assert!(got.is_empty());
        // A version line that names no version: only "*".
        let (got, _) = allowances(&a, "obsctl dev build");
        assert!(got.is_empty());
        let any = allow(&[("*", &["errors_total"])]);
        assert_eq!(allowances(&any, "obsctl dev build").0["errors_total"], "why errors_total");
        // A substring is no match any more: 10.3.0 is not 0.3.0 (nor newer than it only by text).
        let exact = allow(&[("0.3.0", &["errors_total"])]);
        let (got, since) = allowances(&exact, "obsctl 10.3.0");
        assert_eq!(got["errors_total"], "known since 0.3.0: why errors_total");
        assert_eq!(since, ["errors_total"]);
    }
}
