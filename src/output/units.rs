//! Numbers as every output shows them (terminal, markdown, JUnit, HTML): one spelling
//! for a share, a latency and a count, as hyperfine's `util/units.rs` keeps one. A value
//! that is missing or not finite shows as `-`.

// A share is also spelled in the sentences `analysis` writes into its findings (an `ab`
// comparison's reason), below this layer: its one spelling lives in `model::units`.
pub use crate::model::units::{pct, pct_of};

/// Seconds as milliseconds, without a unit: `0.8123` → `812`, `0.0123` → `12.3` (one
/// decimal below 100 ms).
pub fn ms(seconds: f64) -> String {
    millis(seconds * 1000.0)
}

/// Milliseconds as they are, without a unit: `812.3` → `812`, `12.34` → `12.3`.
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() {
        return "-".into();
    }
    if ms.abs() >= 100.0 { format!("{ms:.0}") } else { format!("{ms:.1}") }
}

/// Milliseconds that may be missing.
pub fn millis_of(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".into(), millis)
}

/// A number for a table cell: integers as such, others with at most `digits` decimals
/// (trailing zeros dropped).
pub fn number(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.digits$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_latencies_and_numbers_read_the_same_in_every_output() {
        assert_eq!(pct(0.1234), "12%");
        assert_eq!(pct(-0.1234), "-12%");
        assert_eq!(pct(0.0123), "1.2%");
        assert_eq!(pct(f64::NAN), "-");
        assert_eq!(pct_of(None), "-");
        assert_eq!(ms(0.8123), "812");
        assert_eq!(ms(0.01234), "12.3");
        assert_eq!(ms(f64::INFINITY), "-");
        assert_eq!(millis(2500.4), "2500");
        assert_eq!(millis_of(Some(7.25)), "7.2");
        assert_eq!(millis_of(None), "-");
        assert_eq!(number(3.0, 2), "3");
        assert_eq!(number(2.5, 2), "2.5");
        assert_eq!(number(f64::NAN, 1), "-");
    }
}
