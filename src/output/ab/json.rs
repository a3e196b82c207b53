//! `ab --summary-json`: the typed `AbSummary` (docs/ab-summary.schema.json), pretty.

use crate::output::ab::{Exporter, Findings};

pub struct Json;

impl Exporter for Json {
    fn serialize(&self, f: &Findings) -> Result<String, String> {
        serde_json::to_string_pretty(f.summary).map_err(|e| format!("cannot make the summary: {e}"))
    }
}
