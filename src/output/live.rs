//! The live status on a terminal: one block redrawn about once a second (simulated time,
//! per persona target vs achieved ops/min over the last few seconds, in flight, failures,
//! shortfall by reason, bytes, live objects). Off when stderr is not a terminal (CI, a
//! service, a pipe), and on a terminal that names no capabilities (`TERM` unset, empty
//! or `dumb`, as on many CI runners' pseudo-terminals), where the drawing library draws
//! nothing and a block that cannot move the cursor would hide the run: the periodic
//! tables are the output there.
//!
//! While it is on, console log lines are written through it (`Live::writer`), so a line
//! never tears the block; the periodic tables go to the log file only.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::stats::Stats;
use crate::model::clock::{TimeMap, civil};
use crate::model::roster::Roster;
use crate::model::units::human_bytes;

/// Achieved and target rates are measured over this much wall time.
const WINDOW_S: f64 = 10.0;
/// How often the block is redrawn.
pub const TICK: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Live {
    bar: ProgressBar,
}

impl Live {
    /// A live status when stderr is a capable terminal and it was not turned off.
    pub fn start(enabled: bool) -> Option<Live> {
        if !enabled || !std::io::stderr().is_terminal() || !capable(std::env::var_os("TERM").as_deref()) {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
        bar.set_style(ProgressStyle::with_template("{msg}").expect("a static template"));
        bar.set_message("trafficgen: starting");
        Some(Live { bar })
    }

    pub fn show(&self, text: String) {
        self.bar.set_message(text);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// A console writer that prints above the block instead of through it.
    pub fn writer(&self) -> LiveWriter {
        LiveWriter { bar: self.bar.clone() }
    }
}

/// Whether `TERM` names a terminal that can redraw in place: unset, empty and `dumb`
/// cannot (indicatif draws nothing there).
fn capable(term: Option<&std::ffi::OsStr>) -> bool {
    term.is_some_and(|t| !t.is_empty() && t != "dumb")
}

pub struct LiveWriter {
    bar: ProgressBar,
}

impl Write for LiveWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bar.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Keeps the last few seconds of per-user started counts, to show rates as they are now
/// rather than averaged since the start.
#[derive(Default)]
pub struct Window {
    samples: VecDeque<(f64, Vec<u64>)>,
}

impl Window {
    /// Records the counts at wall offset `now`; returns the oldest sample within the window.
    fn push(&mut self, now: f64, started: Vec<u64>) -> (f64, Vec<u64>) {
        self.samples.push_back((now, started));
        while self.samples.len() > 2 && self.samples[1].0 <= now - WINDOW_S {
            self.samples.pop_front();
        }
        self.samples.front().cloned().unwrap_or_default()
    }
}

/// The block for wall offset `now` of a run that dispatches for `dispatch_s`.
pub fn render(roster: &Roster, map: &TimeMap, stats: &Stats, window: &mut Window, now: f64, dispatch_s: f64) -> String {
    let started: Vec<u64> = stats.users.iter().map(|u| u.started).collect();
    let (since, before) = window.push(now, started.clone());
    let span = now - since;
    let minutes = (span / 60.0).max(1e-9);
    let sim = civil(map.sim_at(now));
    let t = stats.totals();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "trafficgen  simulated {} {} UTC (x{})  wall {} of {}  rates over the last {:.0}s",
        sim.date(),
        sim.hhmm(),
        map.scale,
        clock_text(now),
        clock_text(dispatch_s),
        span
    );
    let _ = writeln!(
        o,
        "{:<22}{:>10}{:>10}{:>10}{:>8}{:>8}{:>8}",
        "persona", "target/m", "actual/m", "in flight", "failed", "short", "live"
    );
    let mut total_target = 0.0;
    let mut total_done = 0u64;
    for g in roster.persona_groups() {
        let target: f64 =
            if span > 0.0 { g.users.iter().map(|&i| roster.target_ops(map, i, since, now)).sum() } else { 0.0 };
        let done: u64 = g.users.iter().map(|&i| started[i] - before.get(i).copied().unwrap_or(0)).sum();
        total_target += target;
        total_done += done;
        let sum =
            |f: fn(&crate::model::counts::Counters) -> u64| g.users.iter().map(|&i| f(&stats.users[i])).sum::<u64>();
        let name = if g.users.len() > 1 { format!("{} x{}", g.name, g.users.len()) } else { g.name.clone() };
        let _ = writeln!(
            o,
            "{:<22}{:>10.1}{:>10.1}{:>10}{:>8}{:>8}{:>8}",
            name,
            target / minutes,
            done as f64 / minutes,
            sum(|c| c.in_flight()),
            sum(|c| c.failures),
            sum(|c| c.shortfall),
            sum(|c| c.live_objects)
        );
    }
    let _ = writeln!(
        o,
        "{:<22}{:>10.1}{:>10.1}{:>10}{:>8}{:>8}{:>8}",
        "TOTAL",
        total_target / minutes,
        total_done as f64 / minutes,
        t.in_flight(),
        t.failures,
        t.shortfall,
        t.live_objects
    );
    let reasons: Vec<String> =
        t.shortfall_by_reason.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
    let _ = write!(
        o,
        "sent {}  received {}  shortfall: {}",
        human_bytes(t.bytes_up),
        human_bytes(t.bytes_down),
        if reasons.is_empty() { "none".to_string() } else { reasons.join(", ") }
    );
    o
}

fn clock_text(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_only_the_last_seconds() {
        let mut w = Window::default();
        assert_eq!(w.push(0.0, vec![0]).0, 0.0);
        for t in 1..=30 {
            let (since, before) = w.push(t as f64, vec![t * 2]);
            assert!(t as f64 - since <= WINDOW_S + 1.0, "at {t}: since {since}");
            assert_eq!(before[0], since as u64 * 2);
        }
    }

    #[test]
    fn a_terminal_without_capabilities_gets_no_block() {
        use std::ffi::OsStr;
        assert!(!capable(None));
        assert!(!capable(Some(OsStr::new(""))));
        assert!(!capable(Some(OsStr::new("dumb"))));
        assert!(capable(Some(OsStr::new("xterm-256color"))));
    }

    #[test]
    fn the_block_names_every_persona_and_the_total() {
        let plan = crate::config::profile::shipped();
        let bands: Vec<usize> = plan.kinds.iter().map(|k| k.bands.len()).collect();
        let stats = Stats::new(plan.users.len(), &bands);
        let map = TimeMap { sim_start: 1_750_000_000.0, scale: 720.0 };
        let text = render(&plan.roster(), &map, &stats, &mut Window::default(), 5.0, 120.0);
        for u in &plan.users {
            assert!(text.contains(&u.persona), "{}: {text}", u.persona);
        }
        assert!(text.contains("TOTAL") && text.contains("x720") && text.contains("0:02:00"), "{text}");
    }
}
