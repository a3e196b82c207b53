//! The simulated clock: the only place that reads "now".
//!
//! Wall time drives the load (rates are real operations per wall minute); simulated
//! time decides which hour of the day it is, when objects expire and when the run ends.
//! `TimeMap` is the pure part (wall offset ↔ simulated instant), so every schedule and
//! TTL computation can be tested without sleeping.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::model::error::Error;

/// Maps seconds since the run started (wall) to simulated UNIX seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeMap {
    /// Simulated UNIX time at wall offset 0.
    pub sim_start: f64,
    /// Simulated seconds per wall second (`--time-scale`).
    pub scale: f64,
}

impl TimeMap {
    pub fn sim_at(&self, wall: f64) -> f64 {
        self.sim_start + wall * self.scale
    }

    /// Wall offset at which the simulated clock shows `sim`.
    pub fn wall_at(&self, sim: f64) -> f64 {
        (sim - self.sim_start) / self.scale
    }

    /// The wall offset of the next simulated hour boundary after `wall`.
    pub fn next_hour(&self, wall: f64) -> f64 {
        let sim = self.sim_at(wall);
        let next = (sim.div_euclid(3600.0) + 1.0) * 3600.0;
        let b = self.wall_at(next);
        // Guard against a boundary that rounds back onto `wall`.
        if b > wall { b } else { wall + 1e-9 }
    }

    /// Expected number of arrivals between two wall offsets: the integral of a rate
    /// that is constant within each simulated hour (`rate_per_min(hour)`).
    pub fn expected_ops(&self, rate_per_min: impl Fn(u32) -> f64, from: f64, to: f64) -> f64 {
        let mut t = from;
        let mut sum = 0.0;
        while t < to {
            let b = self.next_hour(t).min(to);
            sum += rate_per_min(self.hour_at(t)) / 60.0 * (b - t);
            t = b;
        }
        sum
    }

    /// UTC hour of day (0..24) at a wall offset.
    pub fn hour_at(&self, wall: f64) -> u32 {
        hour_of(self.sim_at(wall))
    }
}

pub fn hour_of(sim: f64) -> u32 {
    (sim.div_euclid(3600.0) as i64).rem_euclid(24) as u32
}

/// The running clock: a `TimeMap` anchored to a monotonic instant.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub started: Instant,
    pub map: TimeMap,
}

impl Clock {
    pub fn start(map: TimeMap) -> Self {
        Clock { started: Instant::now(), map }
    }

    /// Wall seconds since the run started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn sim_now(&self) -> f64 {
        self.map.sim_at(self.elapsed())
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Simulated start for `--start-at HH:MM`: that time of the current UTC day.
pub fn start_at_today(hhmm: &str, now_unix: f64) -> Result<f64, Error> {
    let err = || Error::Usage(format!("--start-at {hhmm:?}: expected HH:MM in UTC, for example 06:00"));
    let (h, m) = hhmm.trim().split_once(':').ok_or_else(err)?;
    let h: u32 = h.parse().map_err(|_| err())?;
    let m: u32 = m.parse().map_err(|_| err())?;
    if h > 23 || m > 59 {
        return Err(err());
    }
    let day = now_unix.div_euclid(86_400.0) * 86_400.0;
    Ok(day + f64::from(h * 3600 + m * 60))
}

/// Calendar fields of a UNIX time in UTC (days-from-civil algorithm by H. Hinnant),
/// used for `{date}`-style key placeholders and report headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Day of the year, 1-based.
    pub yday: u32,
}

pub fn civil(unix: f64) -> Civil {
    let secs = unix.floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(month - 1) as usize] + day + u32::from(leap && month > 2);
    Civil { year, month, day, hour: rem / 3600, minute: rem % 3600 / 60, second: rem % 60, yday }
}

impl Civil {
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
    pub fn hhmm(&self) -> String {
        format!("{:02}:{:02}", self.hour, self.minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scale_compresses_the_day_not_the_load() {
        let map = TimeMap { sim_start: 6.0 * 3600.0, scale: 960.0 };
        // 30 wall seconds at 960x is 8 simulated hours: 06:00 → 14:00.
        assert_eq!(map.sim_at(30.0), 14.0 * 3600.0);
        assert_eq!(map.hour_at(0.0), 6);
        assert_eq!(map.hour_at(29.9), 13);
        assert_eq!(map.wall_at(14.0 * 3600.0), 30.0);
    }

    #[test]
    fn hours_wrap_at_midnight() {
        let map = TimeMap { sim_start: 23.5 * 3600.0, scale: 3600.0 };
        assert_eq!(map.hour_at(0.0), 23);
        assert_eq!(map.hour_at(1.0), 0);
        assert_eq!(map.hour_at(2.0), 1);
    }

    #[test]
    fn start_at_uses_todays_utc_date() {
        let now = 1_764_289_566.0; // 2025-11-28 00:26:06 UTC
        let s = start_at_today("06:30", now).unwrap();
        let c = civil(s);
        assert_eq!((c.year, c.month, c.day, c.hour, c.minute), (2025, 11, 28, 6, 30));
        assert!(start_at_today("25:00", now).is_err());
        assert!(start_at_today("6am", now).is_err());
    }

    #[test]
    fn civil_dates_are_right() {
        let c = civil(0.0);
        assert_eq!((c.year, c.month, c.day, c.yday), (1970, 1, 1, 1));
        let c = civil(951_782_400.0); // 2000-02-29
        assert_eq!((c.year, c.month, c.day, c.yday), (2000, 2, 29, 60));
        let c = civil(1_751_415_012.0); // 2025-07-02 00:10:12
        assert_eq!(c.date(), "2025-07-02");
        assert_eq!((c.hour, c.minute, c.second), (0, 10, 12));
    }
}
