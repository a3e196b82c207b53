//! `ab --summary-json`: the typed `AbSummary` (docs/ab-summary.schema.json), pretty.

use crate::model::error::Error;
use crate::output::ab::{Exporter, Findings};

pub struct Json;

impl Exporter for Json {
    fn serialize(&self, f: &Findings) -> Result<String, Error> {
        serde_json::to_string_pretty(f.summary).map_err(|e| Error::Failed(format!("cannot make the summary: {e}")))
    }
}
