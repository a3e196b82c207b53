//! Baseline for `scripts/bench`: spawns and reaps one program serially, as fast as it
//! can, for a fixed wall time, and prints how many it ran.
//!
//!     cargo run --release --example spawn_loop -- SECONDS PROGRAM [ARGS...]
//!
//! Output (one line, machine-readable): `spawned N in S s: R per s`.
//! Every child gets /dev/null for stdin, stdout and stderr; a child that fails to start
//! or exits non-zero is an error (exit 1), so a wrong path cannot produce a fast,
//! meaningless number.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: spawn_loop SECONDS PROGRAM [ARGS...]");
        std::process::exit(2);
    }
    let secs: f64 = match args[0].parse() {
        Ok(s) if s > 0.0 && f64::is_finite(s) => s,
        _ => {
            eprintln!("spawn_loop: SECONDS must be a positive number, got {:?}", args[0]);
            std::process::exit(2);
        }
    };
    let (program, rest) = (&args[1], &args[2..]);
    let budget = Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut count: u64 = 0;
    while started.elapsed() < budget {
        let status = Command::new(program)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut c| c.wait());
        match status {
            Ok(s) if s.success() => count += 1,
            Ok(s) => {
                eprintln!("spawn_loop: {program} ended with {s}");
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("spawn_loop: cannot run {program}: {e}");
                std::process::exit(1);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("spawned {count} in {elapsed:.3} s: {:.1} per s", count as f64 / elapsed);
}
