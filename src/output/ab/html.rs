//! `ab --html`: the run's HTML report with the section "A against B"; the page is
//! `output::html::render_ab`'s, this only fits it to the other formats.

use crate::model::error::Error;
use crate::output::ab::{Exporter, Findings};

pub struct Html;

impl Exporter for Html {
    fn serialize(&self, f: &Findings) -> Result<String, Error> {
        let s = f.summary;
        crate::output::html::render_ab(s.run.as_ref(), &s.ab, f.curves)
            .map_err(|e| Error::Failed(format!("cannot make the HTML report: {e}")))
    }
}
