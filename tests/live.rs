//! The live status: redrawn on a terminal (checked under a pseudo-terminal), absent in a
//! pipe, where the periodic tables are the output.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

// Small files: the drain of a large upload in a debug build would double the run.
const ARGS: &[&str] = &["--duration", "4s", "--stats-interval", "2s", "--rate-scale", "3", "--max-file-size", "1MiB"];

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn the_live_status_shows_on_a_terminal_and_stays_off_in_a_pipe() {
    // A 4-second Poisson run's achieved ratio is noise; judge something it always meets.
    let sb = Sandbox::new(&[("achieved_ratio = \">=0.8\"", "\"upload.count\" = \">=1\"")]);
    // In a pipe (as every test runs): the periodic tables, no live block.
    let out = run_bounded(sb.cmd(ARGS), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let piped = stderr(&out);
    assert!(piped.contains("statistics ("), "no periodic table in a pipe: {piped}");
    assert!(!piped.contains("rates over the last"), "a live block in a pipe: {piped}");
    assert!(!piped.contains('\u{1b}'), "terminal escapes in a pipe");

    // Under a pseudo-terminal (util-linux `script`): the block is redrawn in place.
    if Command::new("script").arg("--version").output().is_err() {
        println!("SKIP: no `script` (util-linux) to make a pseudo-terminal");
        return;
    }
    // A terminal that names its capabilities: the block is redrawn in place.
    let screen = under_script(&sb, Some("xterm-256color"));
    let blocks = screen.matches("rates over the last").count();
    assert!(blocks >= 3, "the block should be redrawn about once a second, seen {blocks} times: {screen}");
    for persona in ["alice-dev", "jack-mobile", "TOTAL", "target/m", "shortfall:"] {
        assert!(screen.contains(persona), "{persona} missing from the live block");
    }
    // Redrawn in place (cursor moves up), and the periodic tables are left to the log.
    assert!(screen.contains("\u{1b}["), "no cursor movement: not redrawn in place");
    assert!(!screen.contains("statistics ("), "periodic tables under the live block");
    assert!(screen.contains("verdict: PASSED"), "the final report must still show");
    assert!(sb.log().contains("statistics ("), "the log file keeps the periodic tables");

    // A pseudo-terminal without TERM (as on many CI runners) cannot redraw: the periodic
    // tables are the output, as in a pipe, never a silent run.
    for term in [None, Some("dumb")] {
        let screen = under_script(&sb, term);
        assert!(screen.contains("statistics ("), "TERM={term:?}: no periodic table on the console: {screen}");
        assert!(!screen.contains("rates over the last"), "TERM={term:?}: a live block that cannot be drawn");
        assert!(screen.contains("verdict: PASSED"), "TERM={term:?}: the final report must show: {screen}");
    }
}

/// The run's console under a pseudo-terminal (util-linux `script`), with `TERM` as given.
fn under_script(sb: &Sandbox, term: Option<&str>) -> String {
    let cmd = sb.cmd(ARGS);
    let mut line = vec![shell_quote(&bin().display().to_string())];
    line.extend(cmd.get_args().map(|a| shell_quote(&a.to_string_lossy())));
    let mut tty = Command::new("script");
    tty.current_dir(sb.dir.path())
        .args(["-qfec", &line.join(" "), "/dev/null"])
        .env("FAKE_S3_DIR", sb.path("store"))
        .env("FAKE_OBSCTL_LOG", sb.path("calls.log"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    match term {
        Some(t) => tty.env("TERM", t),
        None => tty.env_remove("TERM"),
    };
    let out = run_bounded(tty, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "TERM={term:?}: {}", stderr(&out));
    stdout(&out)
}

/// The harness itself: a run that writes more than a pipe holds still ends. (Before the
/// pipes were drained while waiting, a chatty run under `script` blocked on its console.)
#[test]
fn a_run_louder_than_a_pipe_still_ends() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = run_bounded(cmd, Duration::from_secs(20));
    assert_eq!((out.stdout.len(), out.stderr.len()), (300_000, 200_000));
}
