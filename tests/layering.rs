//! The house's one-way rule (docs/design.md, "Layers"), read from the code itself: every
//! path in `src/` (outside `#[cfg(test)]` modules) that starts at `crate::`, `self::`,
//! `super::` or one of the file's own child modules, in a `use` line or inline, is an
//! edge from its file to the file that defines the path. An edge a layer
//! may not take fails with the file and the import; so does any circle between files.
//!
//! | layer       | may import                              |
//! |-------------|-----------------------------------------|
//! | `model`     | nothing of the crate                    |
//! | `config`    | `model`                                 |
//! | `exec`      | `model`, `config`                       |
//! | `work`      | `model`, `config`, `exec`               |
//! | `analysis`  | `model`, `config`                       |
//! | `output`    | `model`, `analysis`                     |
//! | `cli`       | `model`, `config`                       |
//! | `commands`  | everything but `main`                   |
//!
//! Nothing outside `commands` (and `main`) imports `commands`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers each layer may import, besides itself.
fn allowed(layer: &str) -> &'static [&'static str] {
    match layer {
        "model" => &[],
        "config" => &["model"],
        "exec" => &["model", "config"],
        "work" => &["model", "config", "exec"],
        "analysis" => &["model", "config"],
        "output" => &["model", "analysis"],
        "cli" => &["model", "config"],
        "commands" => &["model", "config", "exec", "work", "analysis", "output", "cli"],
        "main" => &["cli", "commands"],
        _ => &[],
    }
}

/// A file's layer: its first directory under `src/`, or its stem for a top-level file.
fn layer_of(rel: &str) -> String {
    let first = rel.split('/').next().unwrap_or("");
    first.trim_end_matches(".rs").to_string()
}

/// The file's text without `#[cfg(test)]` items: tests may build fixtures from any layer.
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            // Skip the next item: a one-line `mod x;` or a braced block.
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The module path of a file relative to `src/`: `analysis/telemetry/mod.rs` is
/// `["analysis", "telemetry"]`, `output/html/page.rs` is `["output", "html", "page"]`.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file.trim_end_matches(".rs").split('/').map(String::from).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every crate path a file names, made absolute (without the leading `crate::`): from
/// `crate::…`, `super::…` (any depth) and `self::…` paths, in `use` groups (expanded) and
/// inline, and from paths that start at one of the file's own child modules
/// (`ledger::Ledger` in `telemetry/mod.rs`). Comments are skipped. `children` are the
/// names of the file's child modules.
fn crate_paths(file: &str, text: &str, children: &BTreeSet<String>) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|l| match l.trim_start().starts_with("//") {
            true => "",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let module = module_of(file);
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let Some(pos) = code[i..].find("::") else { break };
        let colons = i + pos;
        // The identifier just before `::`, and what stands before it.
        let start = code[..colons].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |k| k + 1);
        let ident = &code[start..colons];
        let before = if start == 0 { b' ' } else { bytes[start - 1] };
        i = colons + 2;
        // Only a path's first segment anchors it; `a::b::c` is read once, at `a`.
        if ident.is_empty() || before == b':' {
            continue;
        }
        let base: Vec<String> = match ident {
            "crate" => vec![],
            "self" => module.clone(),
            "super" => {
                let mut m = module.clone();
                m.pop();
                let mut rest = &code[i..];
                while let Some(r) = rest.strip_prefix("super::") {
                    m.pop();
                    rest = r;
                    i += "super::".len();
                }
                m
            }
            child if children.contains(child) => {
                let mut m = module.clone();
                m.push(child.to_string());
                m
            }
            _ => continue,
        };
        let prefix = if base.is_empty() { String::new() } else { format!("{}::", base.join("::")) };
        expand(&prefix, &code[i..], &mut out);
    }
    out
}

/// The child modules a file declares (`mod x;` or `pub mod x;`, not inline `mod x { }`).
fn children_of(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").or_else(|| l.strip_prefix("pub(crate) ")).unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Expands the path at the start of `rest` (after `crate::` and `prefix`), with braces.
fn expand(prefix: &str, rest: &str, out: &mut Vec<String>) {
    let ident: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
    let after = &rest[ident.len()..];
    let path = format!("{prefix}{ident}");
    if after.starts_with('{') && (path.is_empty() || path.ends_with("::")) {
        // A group: split at top-level commas.
        let mut depth = 0;
        let mut item_start = 1;
        for (k, c) in after.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        expand_item(&path, &after[item_start..k], out);
                        return;
                    }
                }
                ',' if depth == 1 => {
                    expand_item(&path, &after[item_start..k], out);
                    item_start = k + 1;
                }
                _ => {}
            }
        }
    } else {
        out.push(path.trim_end_matches(':').to_string());
    }
}

fn expand_item(prefix: &str, item: &str, out: &mut Vec<String>) {
    let item = item.trim();
    if item.is_empty() {
        return;
    }
    if item == "self" {
        out.push(prefix.trim_end_matches(':').to_string());
        return;
    }
    expand(prefix, item, out);
}

/// The file (relative to `src/`) that defines a `crate::` path: its longest prefix that
/// is a module file.
fn file_of(path: &str, files: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    for k in (1..=parts.len()).rev() {
        let base = parts[..k].join("/");
        for candidate in [format!("{base}.rs"), format!("{base}/mod.rs")] {
            if files.contains(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

#[derive(Debug, PartialEq)]
struct Violation {
    file: String,
    import: String,
    why: String,
}

/// The forbidden edges and the circles of a tree given as (file relative to src/, text).
fn check(tree: &BTreeMap<String, String>) -> Vec<Violation> {
    let files: BTreeSet<String> = tree.keys().cloned().collect();
    let mut bad = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in tree {
        let from = layer_of(file);
        let code = without_tests(text);
        for path in crate_paths(file, &code, &children_of(&code)) {
            let Some(target) = file_of(&path, &files) else { continue };
            if &target == file {
                continue;
            }
            let to = layer_of(&target);
            graph.entry(file.clone()).or_default().insert(target.clone());
            if to == from {
                continue;
            }
            if to == "commands" && from != "main" {
                bad.push(Violation {
                    file: file.clone(),
                    import: format!("crate::{path}"),
                    why: "nothing imports commands".into(),
                });
            } else if !allowed(&from).contains(&to.as_str()) {
                bad.push(Violation {
                    file: file.clone(),
                    import: format!("crate::{path}"),
                    why: format!("{from} may import only {:?}, not {to}", allowed(&from)),
                });
            }
        }
    }
    for cycle in circles(&graph) {
        bad.push(Violation { file: cycle[0].clone(), import: cycle.join(", "), why: "an import circle".into() });
    }
    bad
}

/// Strongly connected components of more than one file (Tarjan), each as a path of files.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(edges) = t.g.get(v) {
            for w in edges {
                if !t.index.contains_key(w.as_str()) {
                    visit(t, w);
                    let l = t.low[w.as_str()].min(t.low[v]);
                    t.low.insert(v, l);
                } else if t.on.contains(w.as_str()) {
                    let l = t.index[w.as_str()].min(t.low[v]);
                    t.low.insert(v, l);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        next: 0,
        out: vec![],
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn read_tree(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p: PathBuf = entry.unwrap().path();
        if p.is_dir() {
            read_tree(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&p).unwrap());
        }
    }
}

fn src_tree() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut tree = BTreeMap::new();
    read_tree(&root, &root, &mut tree);
    tree
}

#[test]
fn every_import_runs_down_the_layers_and_no_file_imports_in_a_circle() {
    let tree = src_tree();
    assert!(tree.len() > 40, "the source tree was read ({} files)", tree.len());
    let bad = check(&tree);
    let text: Vec<String> = bad.iter().map(|v| format!("{}: {} ({})", v.file, v.import, v.why)).collect();
    assert!(bad.is_empty(), "{} forbidden imports:\n{}", bad.len(), text.join("\n"));
}

#[test]
fn every_layer_directory_is_one_the_rules_know() {
    for file in src_tree().keys() {
        let layer = layer_of(file);
        assert!(
            !allowed(&layer).is_empty() || layer == "model",
            "{file}: layer {layer:?} has no rule in tests/layering.rs and docs/design.md"
        );
    }
}

/// The test of the test: the real tree with one forbidden edge added fails, naming the
/// file and the import; a circle inside one layer fails too.
#[test]
fn an_upward_import_or_a_circle_is_caught_and_named() {
    let mut tree = src_tree();
    let clock = tree.get_mut("model/clock.rs").unwrap();
    clock.insert_str(0, "use crate::work::fleet::Fleet;\n");
    let bad = check(&tree);
    assert_eq!(
        bad[0],
        Violation {
            file: "model/clock.rs".into(),
            import: "crate::work::fleet::Fleet".into(),
            why: "model may import only [], not work".into(),
        },
        "the added edge is named first"
    );
    // The upward edge closes a circle through the files that import the clock: that
    // circle is named too, and nothing else is.
    for v in &bad[1..] {
        assert!(v.why == "an import circle" && v.import.contains("model/clock.rs"), "{v:?}");
    }

    let mut tree = src_tree();
    tree.get_mut("output/live.rs").unwrap().insert_str(0, "use crate::{commands::run, config::plan::Plan};\n");
    let bad = check(&tree);
    let named: Vec<(&str, &str)> = bad.iter().take(2).map(|v| (v.file.as_str(), v.import.as_str())).collect();
    assert_eq!(
        named,
        vec![("output/live.rs", "crate::commands::run"), ("output/live.rs", "crate::config::plan::Plan")]
    );

    let mut small = BTreeMap::new();
    small.insert("model/a.rs".to_string(), "use crate::model::b::X;\n".to_string());
    small.insert("model/b.rs".to_string(), "pub fn f() { crate::model::a::g() }\n".to_string());
    small.insert("model/c.rs".to_string(), "#[cfg(test)]\nmod tests {\n    use crate::work::x;\n}\n".to_string());
    let bad = check(&small);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].import, "model/a.rs, model/b.rs");

    // Circles through `super::`, `self::` and a parent's child-module paths are circles
    // too: a parent that re-exports its child while the child reads the parent, and two
    // siblings that name each other through their parent.
    let mut rel = BTreeMap::new();
    rel.insert("model/d/mod.rs".to_string(), "pub mod e;\npub mod f;\npub use e::X;\npub struct Y;\n".to_string());
    rel.insert("model/d/e.rs".to_string(), "use super::Y;\npub struct X;\n".to_string());
    rel.insert("model/d/f.rs".to_string(), "use super::{g::Z, self::W};\npub struct W;\n".to_string());
    rel.insert("model/d/g.rs".to_string(), "pub struct Z(super::f::W);\n".to_string());
    rel.insert("model/h.rs".to_string(), "use self::super::d::e::X;\n".to_string());
    let bad = check(&rel);
    let named: Vec<&str> = bad.iter().map(|v| v.import.as_str()).collect();
    assert_eq!(named, vec!["model/d/e.rs, model/d/mod.rs", "model/d/f.rs, model/d/g.rs"], "{bad:?}");

    // An upward import through `super::super::` is named with its absolute path.
    let mut up = BTreeMap::new();
    up.insert("model/x/y.rs".to_string(), "use super::super::super::work::fleet::Fleet;\n".to_string());
    up.insert("work/fleet.rs".to_string(), String::new());
    let bad = check(&up);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].import, "crate::work::fleet::Fleet");
}
