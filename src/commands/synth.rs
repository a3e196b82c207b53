//! `trafficgen synth`: one synthetic file, written the way uploads write it.

use std::path::Path;
use std::time::Instant;

use crate::model::error::Error;
use crate::model::units;
use crate::model::verdict::Judgement;
use crate::work::synth;

pub fn run(path: &Path, size: &str, ext: &str, seed: u64, key: Option<&str>) -> Result<Judgement, Error> {
    // A key fixes both: its extension decides the format, its hash the content.
    let (ext, seed) = match key {
        Some(k) => (synth::ext_of(k), synth::seed_for_key(k)),
        None => (ext, seed),
    };
    let size = units::parse_size(size).map_err(|e| e.context("--size"))?;
    // As every output: a link or a folder at PATH is refused, and the file is written
    // beside it and renamed, so a failed write (a full disk) leaves an earlier file whole.
    crate::output::export::check_outputs(&Default::default(), &[("synth", path)])?;
    let started = Instant::now();
    crate::output::export::write_with("synth", path, |f| synth::write_content(f, ext, size, seed))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("wrote {} ({size} bytes) in {secs:.3}s: {:.0} MB/s", path.display(), size as f64 / 1e6 / secs.max(1e-9));
    Ok(Judgement::Pass)
}
