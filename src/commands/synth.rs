//! `trafficgen synth`: one synthetic file, written the way uploads write it.

use std::path::Path;
use std::time::Instant;

use super::{EXIT_RUN_FAILED, EXIT_USAGE};
use crate::{synth, units};

pub fn run(path: &Path, size: &str, ext: &str, seed: u64, key: Option<&str>) -> i32 {
    // A key fixes both: its extension decides the format, its hash the content.
    let (ext, seed) = match key {
        Some(k) => (synth::ext_of(k), synth::seed_for_key(k)),
        None => (ext, seed),
    };
    let size = match units::parse_size(size) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --size: {e}");
            return EXIT_USAGE;
        }
    };
    let started = Instant::now();
    match synth::write_file(path, ext, size, seed) {
        Ok(()) => {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "wrote {} ({size} bytes) in {secs:.3}s: {:.0} MB/s",
                path.display(),
                size as f64 / 1e6 / secs.max(1e-9)
            );
            0
        }
        Err(e) => {
            eprintln!("error: writing {}: {e}", path.display());
            EXIT_RUN_FAILED
        }
    }
}
