//! Everything the receiver keeps between exports, behind one lock: the exports of the
//! children not folded yet, what came from elsewhere, and the ledger that folds them.
//! The receiver (`receiver.rs`) writes it, the client reports each child's start and
//! end to it (`model::contract::ChildWatch`), the report reads it.

use std::collections::HashMap;
use std::time::Instant;

use super::exports::ChildExports;
use super::ledger::Ledger;
use crate::model::contract::ChildFact;

#[derive(Debug, Default)]
pub struct Store {
    /// By the instance id the child's token proves: exports of children the ledger has
    /// not folded yet (still running, or not followed by it).
    pub children: HashMap<String, ChildExports>,
    /// Resources that a genuine child exported under another instance id (or none):
    /// by that id ("" for none), at most `MAX_FOREIGN_IDS`; never attributed.
    pub mislabelled: HashMap<String, ChildExports>,
    /// Series not kept because a child had too many, and resources not kept because
    /// the mislabelled map was full.
    pub dropped_series: u64,
    /// Mislabelled resources not kept (the map was full): still unattributed requests.
    pub mislabelled_overflow: u64,
    /// Exports without a genuine token.
    pub foreign: Foreign,
    /// The children it follows, reconciled as they end (`ledger.rs`).
    pub ledger: Ledger,
}

/// What is remembered of exports that carried no genuine token.
#[derive(Debug, Default, Clone)]
pub struct Foreign {
    pub requests: u64,
    /// Distinct instance ids seen, up to `MAX_FOREIGN_IDS` (cut to `MAX_ID_CHARS`).
    pub ids: std::collections::BTreeSet<String>,
    /// Whether more distinct ids came than are remembered.
    pub ids_capped: bool,
}

/// The client reports each child here (`model::contract::ChildWatch`).
impl crate::model::contract::ChildWatch for std::sync::Mutex<Store> {
    fn started(&self, id: &str) {
        self.lock().unwrap_or_else(|e| e.into_inner()).child_started(id);
    }

    fn ended(&self, fact: ChildFact) {
        self.lock().unwrap_or_else(|e| e.into_inner()).child_ended(fact, Instant::now());
    }
}

impl Store {
    /// A child the ledger follows is about to start (before it can export).
    pub fn child_started(&mut self, id: &str) {
        self.ledger.child_started(id);
    }

    /// A child ended, with the ground truth of how (see `Ledger::child_ended`).
    pub fn child_ended(&mut self, fact: ChildFact, now: Instant) {
        self.ledger.child_ended(&mut self.children, fact, now);
    }

    /// An export of the child `id` has been absorbed (see `Ledger::export_arrived`).
    pub fn export_arrived(&mut self, id: &str, now: Instant) {
        self.ledger.export_arrived(&mut self.children, id, now);
    }

    /// Folds, as lost, the exited children whose export deadline has passed.
    pub fn sweep(&mut self, now: Instant) {
        self.ledger.sweep(now);
    }

    /// At the end: every record still open is settled (see `Ledger::settle_all`).
    pub fn settle_all(&mut self) {
        self.ledger.settle_all(&mut self.children);
    }

    /// Puts a child's exports in place as `absorb` would (tests of the ledger).
    #[cfg(test)]
    pub fn absorb_exports(&mut self, id: &str, c: ChildExports) {
        self.children.insert(id.to_string(), c);
    }
}
