//! What the documentation (README.md and docs/*.md) shows of the binary is what the
//! binary does: its option tables and `--help` (every long flag of `trafficgen --help`
//! and of each subcommand's `--help` has its row and every row its flag, where one
//! states a default the other states the same one, and a variable `--help` reads an
//! option from is named in its row), and its validation example; and
//! every relative link between the pages leads to a file, and to a heading there.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const SUBCOMMANDS: [&str; 7] = ["check", "plan", "synth", "compare", "cleanup", "merge", "ab"];

/// README.md, then every docs/*.md in name order: (path, text).
fn doc_pages() -> Vec<(PathBuf, String)> {
    let mut paths = vec![common::repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(common::repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths.into_iter().map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap())).collect()
}

/// `--flag` → its `[default: …]` text and its `[env: NAME=…]` variable ("" when none),
/// from one `--help` output.
fn help_flags(args: &[&str]) -> BTreeMap<String, (String, String)> {
    let out = std::process::Command::new(common::bin()).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{args:?} --help");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut flags = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut finish = |c: Option<(String, String)>| {
        if let Some((flag, block)) = c {
            let default = block
                .split_once("[default: ")
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(d, _)| d.trim().to_string())
                .unwrap_or_default();
            let env = block
                .split_once("[env: ")
                .and_then(|(_, rest)| rest.split_once('='))
                .map(|(name, _)| name.to_string())
                .unwrap_or_default();
            flags.insert(flag, (default, env));
        }
    };
    for line in text.lines() {
        let t = line.trim_start();
        let t = if t.len() > 4 && t.starts_with('-') && t.as_bytes()[2] == b',' { t[4..].trim_start() } else { t };
        if line.starts_with("  ") && t.starts_with("--") {
            finish(current.take());
            let flag: String = t.chars().take_while(|c| *c == '-' || c.is_ascii_alphanumeric()).collect();
            current = Some((flag, t.to_string()));
        } else if let Some((_, block)) = current.as_mut() {
            if line.starts_with(' ') || line.is_empty() {
                block.push(' ');
                block.push_str(line.trim());
            } else {
                finish(current.take());
            }
        }
    }
    finish(current);
    for builtin in ["--help", "--version"] {
        flags.remove(builtin);
    }
    flags
}

/// (subcommand or "", flag) → the row's text, from the option tables wherever they are
/// (README.md or a docs page).
fn readme_rows() -> BTreeMap<(String, String), String> {
    let pages = doc_pages();
    let mut rows = BTreeMap::new();
    let mut table = None;
    for line in pages.iter().flat_map(|(_, text)| text.lines().chain(std::iter::once(""))) {
        if line.starts_with("| run option |") {
            table = Some(false);
            continue;
        }
        if line.starts_with("| subcommand option |") {
            table = Some(true);
            continue;
        }
        let Some(sub_table) = table else { continue };
        if !line.starts_with('|') {
            table = None;
            continue;
        }
        if line.starts_with("|--") {
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let (first, meaning) = (cells[0], cells[1..].join(" | "));
        let sub = if sub_table {
            let s = first.trim_start_matches(['|', ' ', '`']).split_whitespace().next().unwrap_or("");
            assert!(SUBCOMMANDS.contains(&s), "{line}: a subcommand option's row starts with its subcommand");
            s.to_string()
        } else {
            String::new()
        };
        for (i, _) in first.match_indices("--") {
            let flag: String =
                first[i..].chars().take_while(|c| *c == '-' || c.is_ascii_alphanumeric()).collect::<String>();
            let flag = flag.trim_end_matches('-').to_string();
            rows.insert((sub.clone(), flag), meaning.clone());
        }
    }
    assert!(
        rows.len() > 20,
        "the option tables (`| run option |`, `| subcommand option |`) not found in README.md or docs/*.md"
    );
    rows
}

/// What a row says the default is: the text after "default" (to the end of the row).
fn readme_default(row: &str) -> Option<&str> {
    row.find("(default").map(|i| &row[i..])
}

/// The default `--help` states agrees with the row's: the profile keys it names appear
/// there, and a literal default appears there as written.
fn agree(help: &str, row: &str) -> Result<(), String> {
    match (help.is_empty(), readme_default(row)) {
        (true, None) => Ok(()),
        (true, Some(d)) => Err(format!("README states a default ({d}), --help none")),
        (false, None) => Err(format!("--help states the default {help:?}, README none")),
        (false, Some(d)) => {
            let keys: Vec<&str> = help
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .filter(|w| w.contains('.') && w.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .filter(|w| ["run.", "obsctl.", "rates.", "telemetry."].iter().any(|p| w.starts_with(p)))
                .collect();
            let missing: Vec<&&str> = keys.iter().filter(|k| !d.contains(**k)).collect();
            if !keys.is_empty() {
                return if missing.is_empty() { Ok(()) } else { Err(format!("README's default lacks {missing:?}")) };
            }
            let literal = help.trim_start_matches("the profile's ");
            if d.contains(literal) { Ok(()) } else { Err(format!("--help says {help:?}, README {d:?}")) }
        }
    }
}

#[test]
fn readme_option_tables_match_help() {
    let rows = readme_rows();
    let top = help_flags(&[]);
    let mut problems = Vec::new();
    let mut documented = Vec::new();
    let mut check = |sub: &str, flag: &str, (help, env): &(String, String)| {
        // A subcommand's flag is documented in its own row, or (a global flag) in the
        // run options' row.
        let key = (sub.to_string(), flag.to_string());
        let key = if rows.contains_key(&key) { key } else { (String::new(), flag.to_string()) };
        match rows.get(&key) {
            None => problems.push(format!("{sub} {flag}: in --help, not in README")),
            Some(row) => {
                if let Err(e) = agree(help, row) {
                    problems.push(format!("{sub} {flag}: {e}"));
                }
                // A variable that stands for the option is named in its row.
                if !env.is_empty() && !row.contains(&format!("`{env}`")) {
                    problems.push(format!("{sub} {flag}: --help reads it from {env}, README does not say so"));
                }
                documented.push(key);
            }
        }
    };
    for (flag, help) in &top {
        check("", flag, help);
    }
    for sub in SUBCOMMANDS {
        for (flag, help) in help_flags(&[sub]) {
            check(sub, &flag, &help);
        }
    }
    for key in rows.keys() {
        if !documented.contains(key) {
            problems.push(format!("{} {}: in README, not in --help", key.0, key.1));
        }
    }
    assert!(problems.is_empty(), "README and --help disagree:\n{}", problems.join("\n"));
}

#[test]
fn readme_validation_example_is_what_check_prints() {
    let pages = doc_pages();
    let is_example = |l: &str| l.trim().starts_with("$ sed 's/\"carol-analytics\"/");
    let (_, page) = pages.iter().find(|(_, text)| text.lines().any(is_example)).expect("the example");
    let lines: Vec<&str> = page.lines().map(str::trim).collect();
    let at = lines.iter().position(|l| is_example(l)).unwrap();
    let (from, to) = (r#""carol-analytics""#, r#""Carol_Analytics""#);
    assert!(lines[at].contains(&format!("s/{from}/{to}/")), "{}", lines[at]);
    assert_eq!(lines[at + 1], "$ trafficgen --profiles broken.toml check; echo \"exit $?\"");
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(common::repo().join("profiles.toml")).unwrap();
    std::fs::write(dir.path().join("broken.toml"), shipped.replace(from, to)).unwrap();
    let out = std::process::Command::new(common::bin())
        .current_dir(dir.path())
        .args(["--profiles", "broken.toml", "check"])
        .output()
        .unwrap();
    assert_eq!(common::stderr(&out).trim_end(), lines[at + 2]);
    assert_eq!(format!("exit {}", out.status.code().unwrap()), lines[at + 3]);
}

/// A heading's anchor as GitHub makes it: lower case, punctuation other than `-` and
/// `_` dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a markdown text's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            code = !code;
        } else if !code && line.starts_with('#') {
            let heading = line.trim_start_matches('#');
            if heading.starts_with(' ') {
                out.insert(anchor(heading));
            }
        }
    }
    out
}

/// Every `](TARGET)` link outside code blocks: (line number, target).
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut code = false;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            code = !code;
            continue;
        }
        if code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            if let Some(end) = rest.find(')') {
                out.push((n + 1, rest[..end].to_string()));
            }
        }
    }
    out
}

#[test]
fn relative_links_resolve() {
    let pages = doc_pages();
    let repo = common::repo();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (path, text) in &pages {
        let dir = path.parent().unwrap();
        let name = path.strip_prefix(&repo).unwrap().display().to_string();
        for (line, target) in links(text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, fragment) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let file_path: PathBuf = if file.is_empty() { path.clone() } else { dir.join(file) };
            if !file_path.exists() {
                problems.push(format!("{name}:{line}: {target}: no such file"));
                continue;
            }
            if let Some(fragment) = fragment {
                let is_md = file_path.extension().is_some_and(|x| x == "md");
                let target_text = std::fs::read_to_string(&file_path).unwrap_or_default();
                if is_md && !anchors(&target_text).contains(fragment) {
                    problems.push(format!("{name}:{line}: {target}: no heading with that anchor"));
                }
            }
        }
    }
    assert!(checked > 20, "hardly any links found ({checked})");
    assert!(problems.is_empty(), "broken links:\n{}", problems.join("\n"));
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(anchor(" HTML report (`--html`, `trafficgen report`)"), "html-report---html-trafficgen-report");
    assert_eq!(
        anchor(" Correctness and capacity: a busy runner is not an obsctl defect"),
        "correctness-and-capacity-a-busy-runner-is-not-an-obsctl-defect"
    );
}
