//! Mutated profiles through the binary: `trafficgen check` exits 0 or 2, never
//! anything else (a panic is 101), and a refusal is one located line naming the file.
//! The loader itself takes many more cases in-process (src/config/profile/fuzz.rs).

mod common;
#[allow(dead_code)]
#[path = "../src/config/profile/mutate.rs"]
mod mutate;

use std::time::Duration;

#[test]
fn check_exits_0_or_2_on_mutated_profiles_and_locates_each_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    mutate::runner(60)
        .run(&mutate::cases(), |(s, muts)| {
            let (name, bytes) = mutate::mutated(s, &muts);
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let mut cmd = std::process::Command::new(common::bin());
            cmd.arg("--profiles").arg(&path).arg("check").stdin(std::process::Stdio::null());
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            let out = common::run_bounded(cmd, Duration::from_secs(20));
            let err = common::stderr(&out);
            match out.status.code() {
                Some(0) => ok.set(ok.get() + 1),
                Some(2) => {
                    refused.set(refused.get() + 1);
                    let prefix = format!("error: {}:", path.display());
                    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap_or("");
                    proptest::prop_assert!(line.starts_with(&prefix), "{}", err);
                    let at: Vec<&str> = line[prefix.len()..].splitn(3, ':').collect();
                    let located = at.len() == 3 && at[..2].iter().all(|n| n.parse::<usize>().is_ok_and(|n| n > 0));
                    proptest::prop_assert!(located, "no line:col: {}", err);
                }
                code => proptest::prop_assert!(false, "exit {:?} for {:?}:\n{}", code, muts, err),
            }
            Ok(())
        })
        .unwrap();
    // Both outcomes were exercised, or the test proves little.
    let (ok, refused) = (ok.get(), refused.get());
    assert!(ok > 0 && refused > 0, "{ok} accepted, {refused} refused");
}
