//! Byte sizes, durations and percentages as people write them in `profiles.toml` and on
//! the command line.

use std::time::Duration;

use crate::model::error::Error;

/// Parses `"512"`, `"100B"`, `"10K"`/`"10KiB"` (1024), `"10KB"` (1000), and the same for
/// M, G and T. Binary units are the default because the old generator's bands were
/// written in KiB/MiB; decimal ones are accepted so `"11GB"` means what it says.
pub fn parse_size(text: &str) -> Result<u64, Error> {
    let s = text.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num = num.replace('_', "");
    let value: f64 = num
        .parse()
        .map_err(|_| Error::Usage(format!("{text:?} is not a size (examples: 512, 100B, 10KiB, 1.5GiB, 11GB)")))?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "K" | "KiB" => 1024.0,
        "M" | "MiB" => 1024.0 * 1024.0,
        "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TiB" => 1024f64.powi(4),
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        other => {
            return Err(Error::Usage(format!(
                "{text:?} has unknown unit {other:?} (use B, KiB, MiB, GiB, TiB, K, M, G, KB, MB, GB)"
            )));
        }
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(Error::Usage(format!("{text:?} is out of range")));
    }
    Ok(bytes.round() as u64)
}

/// Parses a humantime duration such as `"3h"`, `"60m"`, `"1h 30m"`, `"250ms"`.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    humantime::parse_duration(text.trim())
        .map_err(|e| Error::Usage(format!("{text:?} is not a duration ({e}; examples: 30s, 60m, 3h, 1h 30m)")))
}

/// `1536` → `"1.5 KiB"`: for reports, never for parsing.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[i]) }
}

/// A percentage as the command line gives it (`10%`, `12.5 %`; the `%` is required, so
/// `0.1` is never read as either 0.1 % or 10 %). clap parses it (`FromStr`), so a bad
/// value is a usage error naming the flag. Held both as written and as a fraction, each
/// scaled in the decimal text: `7%` is the double nearest 0.07, not 7/100 one ulp off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent {
    percent: f64,
    fraction: f64,
}

impl Percent {
    /// `0.1` for `10%`.
    pub fn fraction(self) -> f64 {
        self.fraction
    }

    /// `10` for `10%`.
    pub fn percent(self) -> f64 {
        self.percent
    }
}

impl std::str::FromStr for Percent {
    type Err = Error;

    fn from_str(text: &str) -> Result<Percent, Error> {
        let hint = "give a percentage such as 20%";
        let Some(number) = text.trim().strip_suffix('%').map(str::trim) else {
            return Err(Error::Usage(format!("{text:?} has no %; {hint}")));
        };
        let percent: f64 = number.parse().map_err(|_| Error::Usage(format!("{text:?} is not a percentage; {hint}")))?;
        if !percent.is_finite() || percent < 0.0 {
            return Err(Error::Usage(format!("{text:?} must be a finite percentage of 0% or more")));
        }
        let fraction = format!("{number}e-2").parse().unwrap_or(percent / 100.0);
        Ok(Percent { percent, fraction })
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%", self.percent)
    }
}

/// A fraction as a percentage: `0.1234` → `12%`, `0.0123` → `1.2%` (one decimal below
/// 10 %, where a tenth of a point still tells builds apart); `-` when not finite. The
/// one spelling of a share in every output (`output::units` re-exports it) and in the
/// findings `analysis` words for people.
pub fn pct(fraction: f64) -> String {
    if !fraction.is_finite() {
        return "-".into();
    }
    let v = fraction * 100.0;
    if v.abs() >= 10.0 { format!("{v:.0}%") } else { format!("{v:.1}%") }
}

/// A percentage that may be missing.
pub fn pct_of(fraction: Option<f64>) -> String {
    fraction.map_or_else(|| "-".into(), pct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_and_decimal_units() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("100B").unwrap(), 100);
        assert_eq!(parse_size("10K").unwrap(), 10 * 1024);
        assert_eq!(parse_size("10KiB").unwrap(), 10 * 1024);
        assert_eq!(parse_size("1.5GiB").unwrap(), 1024 * 1024 * 1024 * 3 / 2);
        assert_eq!(parse_size("11GB").unwrap(), 11_000_000_000);
        assert_eq!(parse_size("500M").unwrap(), 500 * 1024 * 1024);
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        assert!(parse_size("ten").unwrap_err().to_string().contains("not a size"));
        assert!(parse_size("10XB").unwrap_err().to_string().contains("unknown unit"));
    }

    #[test]
    fn durations_parse_and_fail_clearly() {
        assert_eq!(parse_duration("60m").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("soon").unwrap_err().to_string().contains("not a duration"));
    }

    #[test]
    fn percentages_need_their_sign_and_keep_the_decimal_fraction() {
        let p: Percent = " 12.5 % ".parse().unwrap();
        assert_eq!((p.percent(), p.fraction(), p.to_string()), (12.5, 0.125, "12.5%".to_string()));
        assert_eq!("7%".parse::<Percent>().unwrap().fraction(), 0.07);
        assert_eq!("0%".parse::<Percent>().unwrap().fraction(), 0.0);
        assert!("20".parse::<Percent>().unwrap_err().to_string().contains("has no %; give a percentage such as 20%"));
        assert!("0.1".parse::<Percent>().is_err(), "a bare fraction is ambiguous");
        assert!("lots%".parse::<Percent>().unwrap_err().to_string().contains("not a percentage"));
        for bad in ["-5%", "inf%", "NaN%"] {
            assert!(
                bad.parse::<Percent>().unwrap_err().to_string().contains("finite percentage of 0% or more"),
                "{bad}"
            );
        }
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
