//! Mutated profiles: the shipped profiles are the seeds, and the mutations are the
//! edits a hurried person (or a broken pipeline) makes to them. Shared by the loader's
//! property test and the test of `trafficgen check` (tests/profile_fuzz.rs).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

pub const SEEDS: [(&str, &str); 2] = [
    ("profiles.toml", include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles.toml"))),
    ("ci-smoke.toml", include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ci-smoke.toml"))),
];

/// Values that break parsers: wrong types, extremes, NaN-likes, unicode, empty things.
const VALUES: &[&str] = &[
    "\"\"",
    "\"x\"",
    "\"ü𝄞\u{202e}\"",
    "\"\\u0000\"",
    "0",
    "-1",
    "-9223372036854775808",
    "9223372036854775807",
    "18446744073709551616",
    "1e308",
    "1e400",
    "-1e308",
    "5e-324",
    "nan",
    "+inf",
    "-inf",
    "\"NaN\"",
    "\"inf\"",
    "-0.0",
    "true",
    "[]",
    "[1, \"a\"]",
    "{}",
    "{ a = 1 }",
    "1979-05-27T07:32:00Z",
    "\"99999999999999999999h\"",
    "\"18446744073709551615B\"",
    "\"1e30GiB\"",
    "\"-5s\"",
    "\"0\"",
    "\"24/7\"",
    "\"${UNSET_TRAFFICGEN_FUZZ_VAR}\"",
    "\"{date}\"",
    "'''\nmulti\n'''",
];

#[derive(Debug, Clone)]
pub enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    /// Replace the value of the n-th `key = value` line.
    Value(usize, Value),
    Truncate(usize),
    /// Bytes that are never UTF-8, at a position.
    InvalidUtf8(usize, Vec<u8>),
    /// Swap the bodies of two tables (headers stay where they are).
    SwapTables(usize, usize),
    /// Swap the headers of two tables (bodies stay where they are).
    SwapHeaders(usize, usize),
}

#[derive(Debug, Clone)]
pub enum Value {
    Fixed(usize),
    Text(String),
    Int(i64),
    Float(f64),
}

impl Value {
    fn toml(&self) -> String {
        match self {
            Value::Fixed(i) => VALUES[*i % VALUES.len()].to_string(),
            Value::Text(s) => {
                // A TOML basic string (Rust's escapes are not TOML's).
                let mut out = String::from('"');
                for c in s.chars() {
                    match c {
                        '"' | '\\' => out.extend(['\\', c]),
                        c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            }
            Value::Int(n) => n.to_string(),
            Value::Float(x) if x.is_finite() => format!("{x:?}"),
            Value::Float(_) => "nan".into(),
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![
        4 => any::<usize>().prop_map(Value::Fixed),
        2 => ".{0,12}".prop_map(Value::Text),
        1 => any::<i64>().prop_map(Value::Int),
        1 => any::<f64>().prop_map(Value::Float),
    ];
    prop_oneof![
        2 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        10 => (any::<usize>(), value).prop_map(|(i, v)| Mutation::Value(i, v)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), prop::collection::vec(0x80u8..=0xff, 1..3)).prop_map(|(i, b)| Mutation::InvalidUtf8(i, b)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapTables(a, b)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapHeaders(a, b)),
    ]
}

/// Lines split after each '\n', so joining them gives the text back.
fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

fn is_header(line: &[u8]) -> bool {
    line.trim_ascii_start().starts_with(b"[")
}

pub fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let mut ls = lines(bytes);
    if ls.is_empty() {
        return;
    }
    let n = ls.len();
    match m {
        Mutation::DeleteLine(i) => {
            ls.remove(i % n);
        }
        Mutation::DuplicateLine(i) => {
            let l = ls[i % n].clone();
            ls.insert(i % n, l);
        }
        Mutation::Value(i, v) => {
            let assignments: Vec<usize> =
                (0..n).filter(|j| !is_header(&ls[*j]) && !ls[*j].starts_with(b"#") && ls[*j].contains(&b'=')).collect();
            if let Some(&j) = assignments.get(i % assignments.len().max(1)) {
                let eq = ls[j].iter().position(|b| *b == b'=').unwrap_or(0);
                let mut l = ls[j][..=eq].to_vec();
                l.extend_from_slice(format!(" {}\n", v.toml()).as_bytes());
                ls[j] = l;
            }
        }
        Mutation::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
        Mutation::InvalidUtf8(at, b) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::SwapTables(a, b) | Mutation::SwapHeaders(a, b) => {
            let headers: Vec<usize> = (0..n).filter(|j| is_header(&ls[*j])).collect();
            if headers.len() < 2 {
                return;
            }
            let (a, b) = (headers[a % headers.len()], headers[b % headers.len()]);
            if a == b {
                return;
            }
            if let Mutation::SwapHeaders(..) = m {
                ls.swap(a, b);
            } else {
                // A table's body: the lines after its header, up to the next header.
                let body = |h: usize| {
                    let end = (h + 1..n).find(|j| is_header(&ls[*j])).unwrap_or(n);
                    h + 1..end
                };
                let (ra, rb) = (body(a), body(b));
                let (first, second) = if ra.start < rb.start { (ra, rb) } else { (rb, ra) };
                let mut out = ls[..first.start].to_vec();
                out.extend_from_slice(&ls[second.clone()]);
                out.extend_from_slice(&ls[first.end..second.start]);
                out.extend_from_slice(&ls[first.clone()]);
                out.extend_from_slice(&ls[second.end..]);
                ls = out;
            }
        }
    }
    if !matches!(m, Mutation::Truncate(_) | Mutation::InvalidUtf8(..)) {
        *bytes = ls.concat();
    }
}

/// The profile made from seed `s` by `muts`.
pub fn mutated(s: usize, muts: &[Mutation]) -> (&'static str, Vec<u8>) {
    let (name, text) = SEEDS[s % SEEDS.len()];
    let mut bytes = text.as_bytes().to_vec();
    for m in muts {
        apply(&mut bytes, m);
    }
    (name, bytes)
}

pub fn runner(cases: u32) -> TestRunner {
    let mut config = Config { cases, failure_persistence: None, ..Config::default() };
    // The same cases in every CI run unless PROPTEST_RNG_SEED asks for others.
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(20_261_128);
    }
    TestRunner::new(config)
}

pub fn cases() -> impl Strategy<Value = (usize, Vec<Mutation>)> {
    (0..SEEDS.len(), prop::collection::vec(mutation(), 1..4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mutations_do_what_they_say() {
        let mut b = b"[a]\nx = 1\n[b]\ny = 2\n".to_vec();
        apply(&mut b, &Mutation::SwapTables(0, 1));
        assert_eq!(b, b"[a]\ny = 2\n[b]\nx = 1\n");
        apply(&mut b, &Mutation::SwapHeaders(0, 1));
        assert_eq!(b, b"[b]\ny = 2\n[a]\nx = 1\n");
        apply(&mut b, &Mutation::Value(1, Value::Fixed(4)));
        assert_eq!(b, b"[b]\ny = 2\n[a]\nx = 0\n");
        apply(&mut b, &Mutation::DeleteLine(0));
        assert_eq!(b, b"y = 2\n[a]\nx = 0\n");
        apply(&mut b, &Mutation::Truncate(5));
        assert_eq!(b, b"y = 2");
    }
}
