//! Pure scheduling: peak windows, the rate model and open-loop arrival times.
//!
//! Rate model: a user's target is
//! `base_ops_per_min × activity × (peak_multiplier | offpeak_multiplier) × rate_scale`
//! operations per *wall* minute, where peak or off-peak is decided by the simulated UTC
//! hour. Arrivals form a Poisson process whose rate changes at simulated hour
//! boundaries; they are computed ahead of time and never wait for earlier operations.

use crate::model::clock::TimeMap;
use crate::model::error::Error;

/// Hours of the day at which a user is at peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeakWindow {
    /// `24/7`: always at peak.
    Always,
    /// `start-end`: `start <= hour < end`, wrapping past midnight when `start > end`
    /// (`22-6` is 22:00 to 05:59).
    Hours { start: u32, end: u32 },
}

impl PeakWindow {
    pub fn parse(text: &str) -> Result<PeakWindow, Error> {
        let t = text.trim();
        if t == "24/7" {
            return Ok(PeakWindow::Always);
        }
        let bad = || Error::Usage(format!("{text:?} is not a peak window (examples: \"9-17\", \"22-6\", \"24/7\")"));
        let (a, b) = t.split_once('-').ok_or_else(bad)?;
        let start: u32 = a.trim().parse().map_err(|_| bad())?;
        let end: u32 = b.trim().parse().map_err(|_| bad())?;
        if start > 23 || end > 24 {
            return Err(Error::Usage(format!("{text:?}: hours must be 0-23 for the start and 0-24 for the end")));
        }
        if start == end % 24 {
            if (start, end) == (0, 24) {
                return Ok(PeakWindow::Always);
            }
            return Err(Error::Usage(format!("{text:?}: start and end are the same hour; use \"24/7\" for always")));
        }
        Ok(PeakWindow::Hours { start, end: end % 24 })
    }

    pub fn contains(&self, hour: u32) -> bool {
        match *self {
            PeakWindow::Always => true,
            PeakWindow::Hours { start, end } if start < end => start <= hour && hour < end,
            PeakWindow::Hours { start, end } => hour >= start || hour < end,
        }
    }

    pub fn label(&self) -> String {
        match *self {
            PeakWindow::Always => "24/7".into(),
            PeakWindow::Hours { start, end } => format!("{start}-{end}"),
        }
    }
}

/// The rate model's numbers, as plain values so this module depends on nothing above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateModel {
    pub base_ops_per_min: f64,
    pub peak_multiplier: f64,
    pub offpeak_multiplier: f64,
    /// `--rate-scale`.
    pub scale: f64,
}

pub fn target_ops_per_min(m: RateModel, activity: f64, peak: PeakWindow, hour: u32) -> f64 {
    let factor = if peak.contains(hour) { m.peak_multiplier } else { m.offpeak_multiplier };
    m.base_ops_per_min * activity * factor * m.scale
}

/// Wall offset of the next simulated hour boundary strictly after `wall`.
/// Time of the next arrival after `from` (wall seconds), given `budget`, a draw from
/// Exp(1). The budget is spent against the piecewise-constant rate, so a gap that spans
/// an hour boundary uses the right rate on each side. `rate_per_min(hour)` is the
/// user's target at that hour. Returns None when every hour's rate is zero.
pub fn next_arrival(map: &TimeMap, rate_per_min: impl Fn(u32) -> f64, from: f64, budget: f64) -> Option<f64> {
    if (0..24).all(|h| rate_per_min(h) <= 0.0) {
        return None;
    }
    let mut t = from;
    let mut left = budget;
    // A day has 24 boundaries; a budget can only outlast a few days at absurd draws.
    for _ in 0..24 * 400 {
        let per_sec = rate_per_min(map.hour_at(t)).max(0.0) / 60.0;
        let boundary = map.next_hour(t);
        if per_sec > 0.0 {
            let at = t + left / per_sec;
            if at <= boundary {
                return Some(at);
            }
            left -= per_sec * (boundary - t);
        }
        t = boundary;
    }
    None
}

/// The floor of the late bound, in wall seconds: a thread wake-up on a busy machine is
/// late by milliseconds, a stopped or starved process by seconds.
pub const LATE_FLOOR_S: f64 = 1.0;
/// The late bound in mean inter-arrival times, so a slow user (one slot a minute) is
/// not judged late for a gap its own schedule makes look small.
pub const LATE_GAPS: f64 = 3.0;

/// How late (wall seconds) a slot may start and still be the schedule:
/// max(1 s, 3 mean inter-arrival times at `rate_per_min`). A slot later than this is
/// shortfall `late`, never started: after a SIGSTOP, a starved thread or a suspended VM,
/// starting every missed slot at once would be a burst the profile never asked for, and
/// would score the run as if it had kept its schedule.
pub fn late_bound(rate_per_min: f64) -> f64 {
    if rate_per_min > 0.0 && rate_per_min.is_finite() {
        LATE_FLOOR_S.max(LATE_GAPS * 60.0 / rate_per_min)
    } else {
        LATE_FLOOR_S
    }
}

/// Whether the slot due at wall offset `at`, looked at `now`, is too late to start.
pub fn is_late(at: f64, now: f64, rate_per_min: f64) -> bool {
    now - at > late_bound(rate_per_min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> RateModel {
        RateModel { base_ops_per_min: 40.0, peak_multiplier: 2.0, offpeak_multiplier: 0.2, scale: 1.0 }
    }

    #[test]
    fn daytime_window_is_half_open() {
        let w = PeakWindow::parse("9-17").unwrap();
        assert!(!w.contains(8));
        assert!(w.contains(9));
        assert!(w.contains(16));
        assert!(!w.contains(17));
    }

    #[test]
    fn window_crossing_midnight() {
        let w = PeakWindow::parse("22-6").unwrap();
        let peak: Vec<u32> = (0..24).filter(|h| w.contains(*h)).collect();
        assert_eq!(peak, vec![0, 1, 2, 3, 4, 5, 22, 23]);
    }

    #[test]
    fn always_windows() {
        assert_eq!(PeakWindow::parse("24/7").unwrap(), PeakWindow::Always);
        assert_eq!(PeakWindow::parse("0-24").unwrap(), PeakWindow::Always);
        assert!((0..24).all(|h| PeakWindow::Always.contains(h)));
        assert_eq!(PeakWindow::parse("18-24").unwrap(), PeakWindow::Hours { start: 18, end: 0 });
        assert!(PeakWindow::parse("18-24").unwrap().contains(23));
        assert!(!PeakWindow::parse("18-24").unwrap().contains(0));
    }

    #[test]
    fn bad_windows_are_refused() {
        for bad in ["9", "9-", "25-3", "9-9", "nine-five", "24-6"] {
            assert!(PeakWindow::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn peak_window_follows_the_simulated_clock() {
        // david-backup (22-6) at 960x starting 20:00: peak begins after 7.5 wall seconds.
        let map = TimeMap { sim_start: 20.0 * 3600.0, scale: 960.0 };
        let w = PeakWindow::parse("22-6").unwrap();
        assert!(!w.contains(map.hour_at(7.4)));
        assert!(w.contains(map.hour_at(7.6)));
        assert!(w.contains(map.hour_at(37.4))); // 05:58
        assert!(!w.contains(map.hour_at(37.6))); // 06:01
    }

    #[test]
    fn rate_model_multiplies_activity_and_hour_factor() {
        let w = PeakWindow::parse("9-17").unwrap();
        assert_eq!(target_ops_per_min(rates(), 2.0, w, 10), 160.0);
        assert!((target_ops_per_min(rates(), 2.0, w, 3) - 16.0).abs() < 1e-9);
        let mut r = rates();
        r.scale = 0.5;
        assert_eq!(target_ops_per_min(r, 2.0, w, 10), 80.0);
    }

    #[test]
    fn arrivals_match_the_rate_across_hour_boundaries() {
        // 60 ops/min off-peak and 600 at peak, 1 wall second = 1 simulated hour.
        let map = TimeMap { sim_start: 0.0, scale: 3600.0 };
        let w = PeakWindow::parse("12-24").unwrap();
        let rate = |h: u32| if w.contains(h) { 600.0 } else { 60.0 };
        // Deterministic budgets of exactly 1: arrivals are evenly spaced by 1/rate.
        let mut t = 0.0;
        let mut n = 0;
        while let Some(next) = next_arrival(&map, rate, t, 1.0) {
            if next >= 24.0 {
                break;
            }
            t = next;
            n += 1;
        }
        // 12 s at 1 op/s + 12 s at 10 op/s.
        assert!((n as i64 - 132).abs() <= 1, "{n} arrivals");
        assert!((map.expected_ops(rate, 0.0, 24.0) - 132.0).abs() < 1e-6);
    }

    #[test]
    fn a_slot_is_late_past_a_second_or_three_gaps() {
        // Fast users: the 1 s floor.
        assert_eq!(late_bound(600.0), 1.0);
        assert_eq!(late_bound(180.0), 1.0);
        // Slower users: three mean gaps (80/min = 0.75 s gaps = 2.25 s).
        assert!((late_bound(80.0) - 2.25).abs() < 1e-12);
        assert_eq!(late_bound(6.0), 30.0);
        // No rate: the floor, never infinite.
        assert_eq!(late_bound(0.0), 1.0);
        assert_eq!(late_bound(f64::NAN), 1.0);
        // On time, a little late, too late.
        assert!(!is_late(10.0, 10.0, 600.0));
        assert!(!is_late(10.0, 10.9, 600.0));
        assert!(!is_late(10.0, 11.0, 600.0), "at the bound is still on schedule");
        assert!(is_late(10.0, 11.01, 600.0));
        // 20 s stopped: every slot but the last few seconds' is late.
        let due: Vec<f64> = (0..200).map(|i| 100.0 + i as f64 * 0.1).collect();
        let started = due.iter().filter(|at| !is_late(**at, 120.0, 600.0)).count();
        assert!(started <= 11, "{started} of 200 would start at once");
    }

    #[test]
    fn zero_rate_everywhere_means_no_arrivals() {
        let map = TimeMap { sim_start: 0.0, scale: 1.0 };
        assert_eq!(next_arrival(&map, |_| 0.0, 0.0, 1.0), None);
    }

    #[test]
    fn zero_rate_hours_are_skipped_not_stalled() {
        let map = TimeMap { sim_start: 0.0, scale: 3600.0 };
        let rate = |h: u32| if h == 5 { 60.0 } else { 0.0 };
        let t = next_arrival(&map, rate, 0.0, 0.5).unwrap();
        assert!((t - 5.5).abs() < 1e-9, "{t}");
    }
}
