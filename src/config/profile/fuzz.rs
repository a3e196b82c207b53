//! Mutated profiles, fed to the loader: it never panics, and every refusal is a located,
//! named message written for people.

use super::mutate::{SEEDS, cases, mutated, runner};
use super::*;
use proptest::test_runner::TestCaseError;
use proptest::{prop_assert, prop_assert_eq};

/// What every refusal must be: the file, a line and column inside it, a field, and no
/// serde internals.
fn judge(path: &Path, bytes: &[u8], r: Result<Plan, ProfileError>) -> Result<(), TestCaseError> {
    let Err(e) = r else { return Ok(()) };
    let shown = e.to_string();
    prop_assert_eq!(&e.path, path, "{}", shown);
    prop_assert!(shown.starts_with(&path.display().to_string()), "{}", shown);
    let Some((line, col)) = e.at else {
        return Err(TestCaseError::fail(format!("no line:col: {shown}")));
    };
    let text = String::from_utf8_lossy(bytes);
    let lines = text.split('\n').count();
    prop_assert!(line >= 1 && line <= lines && col >= 1, "{} is outside the file's {} lines", shown, lines);
    prop_assert!(!e.field.trim().is_empty(), "no field: {}", shown);
    for internal in ["did not match any variant", "untagged", "Spanned"] {
        prop_assert!(!shown.contains(internal), "serde internals ({}): {}", internal, shown);
    }
    Ok(())
}

#[test]
fn mutated_profiles_never_panic_and_every_refusal_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    runner(1000)
        .run(&cases(), |(s, muts)| {
            let (name, bytes) = mutated(s, &muts);
            let path = dir.path().join(name);
            let r = match std::str::from_utf8(&bytes) {
                Ok(text) => parse(&path, text),
                Err(_) => {
                    std::fs::write(&path, &bytes).unwrap();
                    load(&path)
                }
            };
            judge(&path, &bytes, r)
        })
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
}

/// The defects the mutations found, each pinned by its smallest example.
#[test]
fn refusals_the_mutations_found_are_named_and_located() {
    let shipped = SEEDS[0].1;
    let line = |needle: &str| shipped.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let refuse = |from: &str, to: &str| {
        let text = shipped.replacen(from, to, 1);
        parse(Path::new("p.toml"), &text).expect_err("refused")
    };
    // A header that names no table, or a table inside one that takes none, named
    // itself (it was blamed on the table above it, or named nothing).
    let e = refuse("[run]\n", "[runx]\n");
    assert_eq!((e.field.as_str(), e.at.map(|a| a.0)), ("runx", Some(line("[run]"))), "{e}");
    let e = refuse("[lifecycle]", "[lifecycle.x]");
    assert_eq!(e.field, "lifecycle.x", "{e}");
    let e = refuse("[run]\n", "[run]\nfoo = 1\n");
    assert_eq!(e.field, "run.foo", "{e}");
    let e = refuse("# trafficgen profile", "bogus = 3\n#");
    assert_eq!((e.field.as_str(), e.at), ("bogus", Some((1, 1))), "{e}");
    // A grace period beyond what the clock can add crashed the run at its end.
    let e = refuse("grace_period = \"30s\"", "grace_period = \"500000000000y\"");
    assert_eq!(e.field, "run.grace_period");
    assert!(e.message.contains("at most 366d"), "{e}");
    let e = refuse("wait = \"5s\"", "wait = \"500000000000y\"");
    assert_eq!(e.field, "telemetry.wait", "{e}");
    // Empty tables that must hold something are located.
    let users = shipped.find("[[users]]").unwrap();
    let e = parse(Path::new("p.toml"), &format!("users = []\n{}", &shipped[..users])).unwrap_err();
    assert_eq!((e.field.as_str(), e.at), ("users", Some((1, 1))), "{e}");
    // Bytes that are not UTF-8 name the key they sit in.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, shipped.replacen("\"24h\"", "\"24\u{0}h\"", 1).replace('\u{0}', "\u{fffd}")).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(3).position(|w| w == "\u{fffd}".as_bytes()).unwrap();
    bytes.splice(at..at + 3, [0xff]);
    std::fs::write(&path, bytes).unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!((e.field.as_str(), e.at), ("run.duration", Some((line("duration = \"24h\""), 15))), "{e}");
}
