//! obsctl's telemetry reconciled against what really ran, as the summary carries it:
//! per metric family, per user, per command kind, per simulated hour.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a family's reported count stands against the expected one. Ordered from the
/// mildest to the worst, so a merge keeps the worst of its parts.
/// Spelled once per variant, by serde for the summary and by strum for `name()`; a
/// test holds the two the same.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
pub enum Agreement {
    #[serde(rename = "match")]
    #[strum(serialize = "match")]
    Match,
    /// Error classes when some failure's cause is unknown: not judged.
    #[serde(rename = "n/a")]
    #[strum(serialize = "n/a")]
    NotApplicable,
    /// A known deviation of this obsctl version (the profile's allow list).
    #[serde(rename = "allowed")]
    #[strum(serialize = "allowed")]
    Allowed,
    #[serde(rename = "MISMATCH")]
    #[strum(serialize = "MISMATCH")]
    Mismatch,
}

impl Agreement {
    /// As the summary spells it.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// One exporting child's movement of a family, as `ab` compares the builds on it:
/// (stratum: its command kind, expected failure and outcome; expected; reported).
pub type ChildMovement = (u16, f64, f64);

/// One family's reconciliation.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Family {
    pub expected: f64,
    pub reported: f64,
    pub diff: f64,
    pub verdict: Agreement,
    /// The server's count of the matching S3 API, when its counters were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<f64>,
    /// Why it is allowed (from the profile's allow list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A series whose metric the contract does not cover (a dashboard that sums the family
/// counts it too).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Stray {
    pub metric: String,
    pub attributes: String,
    pub total: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Report {
    pub client: String,
    /// Children that exited by themselves (they had their chance to export).
    pub children_ended: u64,
    /// …of which exported at least once.
    pub children_reported: u64,
    /// Ended children whose export never arrived.
    pub lost_exports: u64,
    /// Children killed (timeout, shutdown) before they could export: not expected.
    pub children_killed: u64,
    /// Export requests that came after their child's record was closed (its deadline,
    /// exit + `telemetry.wait`, had passed, or it was killed): not reconciled.
    pub late_exports: u64,
    /// The most child records alive at once (children in flight plus those awaiting
    /// their export): what the ledger's memory follows, not the run's length.
    pub peak_live_children: u64,
    /// Export requests of this run's children that named an instance id no child of
    /// this run had (or none at all).
    pub unattributed_requests: u64,
    /// Export requests that carried a child's token.
    pub export_requests: u64,
    /// Export requests without a valid token (another local process): ignored.
    pub foreign_requests: u64,
    /// Distinct instance ids those named (at most `receiver::MAX_FOREIGN_IDS` are
    /// remembered: `foreign_ids_capped` says when more came).
    pub foreign_instance_ids: u64,
    pub foreign_ids_capped: bool,
    /// A few of them (control characters removed, cut short), to find the sender by.
    pub foreign_examples: Vec<String>,
    /// Series of this run's children not kept because a per-child cap was reached.
    pub dropped_series: u64,
    pub forwarded: u64,
    pub forward_failures: u64,
    /// Families that disagree (allowed ones not counted).
    pub mismatches: u64,
    pub families: BTreeMap<String, Family>,
    pub users: BTreeMap<String, BTreeMap<String, Family>>,
    /// Under `ab`: the families per build ("A", "B"), reconciled apart, so a family that
    /// one build gets wrong shows whatever the other does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub builds: BTreeMap<String, BTreeMap<String, Family>>,
    /// Under `ab`, per build and family: each exporting child's (stratum, expected,
    /// reported) movement, for the children that should have moved the family or did (a
    /// uniform sample of at most 10,000). The stratum is the child's command kind and
    /// outcome. `ab` judges the builds' difference on them; never written.
    #[serde(skip)]
    pub build_samples: BTreeMap<String, BTreeMap<String, Vec<ChildMovement>>>,
    /// Under `ab`, per build: (children ended, of which exported). Never written.
    #[serde(skip)]
    pub build_children: BTreeMap<String, (u64, u64)>,
    /// Children by command kind.
    pub commands: BTreeMap<String, CommandKind>,
    /// By simulated hour the children started in, oldest first: when the client's
    /// numbers drifted.
    pub windows: Vec<Window>,
    pub out_of_contract: Vec<Stray>,
}

/// Children of one command kind.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct CommandKind {
    pub children_ended: u64,
    pub children_reported: u64,
    pub lost_exports: u64,
}

/// One simulated hour of the reconciliation.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct Window {
    /// Simulated UNIX seconds the hour starts at.
    pub start_unix: i64,
    pub children_ended: u64,
    pub children_reported: u64,
    pub lost_exports: u64,
    /// Families that disagree in this hour (allowed ones not counted).
    pub mismatches: u64,
    /// The families that moved in this hour.
    pub families: BTreeMap<String, Family>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn an_agreement_is_named_as_the_summary_spells_it() {
        for a in Agreement::VARIANTS {
            assert_eq!(serde_json::to_value(a).unwrap(), a.name());
        }
    }
}
