//! The layout's rules, read from the source (ARCHITECTURE.md, "Layers"): the
//! top-level modules of `src/` import one another in one direction only, with
//! the shared model below them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without comments and test modules (`#[cfg(test)] mod … {` to the end,
/// and `tests.rs` files): tests may reach across layers.
fn code(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    let mut cut = text.len();
    for (i, _) in text.match_indices("#[cfg(test)]") {
        let rest = text[i + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod ") && rest.lines().next().is_some_and(|l| l.ends_with('{')) {
            cut = cut.min(i);
        }
    }
    // Comments aside (a doc link names a layer without importing it).
    text[..cut]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level module → the top-level modules its code names as `crate::m`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let code = code(&path);
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                graph.entry(module.clone()).or_default().insert(name);
            }
        }
    }
    graph
}

/// A path from `from` back to `to`, if there is one.
fn path_back(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    to: &str,
) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        if at == to {
            return Some(path);
        }
        if !seen.insert(at.clone()) {
            continue;
        }
        for next in graph.get(&at).into_iter().flatten() {
            let mut p = path.clone();
            p.push(next.clone());
            stack.push((next.clone(), p));
        }
    }
    None
}

#[test]
fn modules_import_one_another_in_one_direction_only() {
    let graph = imports();
    let mut cycles = vec![];
    for (module, uses) in &graph {
        for used in uses {
            if let Some(back) = path_back(&graph, used, module) {
                cycles.push(format!("{module} -> {}", back.join(" -> ")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles in src/: {cycles:#?}");
}

#[test]
fn the_shared_model_and_the_transport_stand_below_the_vendors() {
    let graph = imports();
    for low in ["model", "http", "units", "conceal", "output"] {
        let uses = graph.get(low).cloned().unwrap_or_default();
        for high in ["services", "cli", "config_file", "run", "engine", "report"] {
            assert!(!uses.contains(high), "{low} imports {high}: {uses:?}");
        }
    }
}

/// Whether `word` stands in `line` as a word of its own (not inside a longer one).
fn names(line: &str, word: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.match_indices(word).any(|(i, _)| {
        let before = lower[..i].chars().next_back();
        let after = lower[i + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// What a vendor is lives in its own file under `src/services/`: no code
/// elsewhere names one of the registry's vendors (comments and tests aside).
#[test]
fn no_vendor_is_named_outside_src_services() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    sources(&src, &mut files);
    let words: Vec<&str> = purge::services::REGISTRY
        .iter()
        .map(|e| e.name.split('-').next().unwrap())
        .collect();
    assert!(words.len() >= 4, "{words:?}");
    let mut found = vec![];
    for path in files
        .iter()
        .filter(|p| !p.starts_with(src.join("services")))
    {
        for (i, line) in code(path).lines().enumerate() {
            for word in words.iter().filter(|w| names(line, w)) {
                found.push(format!(
                    "{}:{} names {word}: {}",
                    path.display(),
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// No function of `src/` (tests aside) is over 80 lines: long orchestration
/// is named steps. A function runs from its `fn` line to the `}` at its indent.
#[test]
fn no_function_in_src_is_over_80_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    sources(&src, &mut files);
    let mut long = vec![];
    for path in &files {
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut start: Option<(usize, usize)> = None;
        for (i, line) in code.lines().enumerate() {
            let indent = line.len() - line.trim_start().len();
            let t = line.trim_start();
            let opens = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
                "async fn ",
                "pub async fn ",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            match start {
                None if opens => start = Some((i, indent)),
                Some((s, at)) if t == "}" && indent == at => {
                    if i - s > 80 {
                        long.push(format!("{}:{} ({} lines)", path.display(), s + 1, i - s));
                    }
                    start = None;
                }
                _ => {}
            }
        }
    }
    assert!(long.is_empty(), "functions over 80 lines: {long:#?}");
}
