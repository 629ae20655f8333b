//! No import cycles between jepsen-lite's modules: reads every file under `src/`, collects the
//! modules each one refers to (`crate::a::b` and `super::...` paths anywhere in the file, test
//! code included; `self::` too), and fails on a cycle, both between files (`checker::mrk` -> `checker`) and
//! between top-level modules (`checker` -> `nemesis`). A parent declaring `pub mod child` is
//! not a use; a parent that *uses* its child while the child uses the parent is a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path of a source file: `src/checker/mod.rs` -> `checker`, `src/lib.rs` -> ``.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    if parts == ["main"] {
        return None; // the binary is not part of the library's module tree
    }
    Some(parts.join("::"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and string/char literals (so neither prose nor format strings
/// count as paths or braces).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && i + 2 < chars.len() && (chars[i + 2] == '\'' || next == Some('\\')) {
            // A char literal ('{', '\n'); lifetimes ('a) have no closing quote.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The modules `code` (of module `module`) refers to, resolved against `modules` (longest
/// existing prefix of each path). Inline `mod x { ... }` blocks shift what `super` means.
fn references(module: &str, code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let resolve = |path: &[String]| -> Option<String> {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|m| modules.contains(m))
    };
    let base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_string).collect()
    };
    let mut found = BTreeSet::new();
    // Inline modules open at a brace depth: (depth, name).
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    let mut last_word = String::new();
    let mut pending_mod: Option<String> = None;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            depth += 1;
            if let Some(name) = pending_mod.take() {
                inline.push((depth, name));
            }
            i += 1;
            continue;
        }
        if c == '}' {
            if inline.last().is_some_and(|(d, _)| *d == depth) {
                inline.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == ';' {
            pending_mod = None;
        }
        if !is_ident(c) || (i > 0 && is_ident(chars[i - 1])) {
            i += 1;
            continue;
        }
        // A path starting here: ident(::ident)*
        let mut segments: Vec<String> = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && is_ident(chars[j]) {
                j += 1;
            }
            segments.push(chars[start..j].iter().collect());
            if j + 2 < chars.len()
                && chars[j] == ':'
                && chars[j + 1] == ':'
                && is_ident(chars[j + 2])
            {
                j += 2;
            } else {
                break;
            }
        }
        if last_word == "mod" && segments.len() == 1 {
            pending_mod = Some(segments[0].clone());
        }
        last_word = segments.last().cloned().unwrap_or_default();
        let here: Vec<String> = base
            .iter()
            .cloned()
            .chain(inline.iter().map(|(_, n)| n.clone()))
            .collect();
        let mut path: Option<Vec<String>> = match segments[0].as_str() {
            "crate" => Some(segments[1..].to_vec()),
            "self" => {
                let mut at = here.clone();
                at.extend(segments[1..].iter().cloned());
                Some(at)
            }
            "super" => {
                let mut at = here.clone();
                let mut rest = &segments[..];
                while rest.first().is_some_and(|s| s == "super") {
                    at.pop();
                    rest = &rest[1..];
                }
                at.extend(rest.iter().cloned());
                Some(at)
            }
            _ => None,
        };
        // `use super::{a, b}` / `use crate::x::{y, z}`: each item of the group.
        if let Some(prefix) = path.take() {
            let mut k = j;
            if k + 2 < chars.len() && chars[k] == ':' && chars[k + 1] == ':' && chars[k + 2] == '{'
            {
                k += 3;
                let mut item = String::new();
                let mut nest = 0;
                while k < chars.len() && !(chars[k] == '}' && nest == 0) {
                    match chars[k] {
                        '{' => nest += 1,
                        '}' => nest -= 1,
                        ',' if nest == 0 => {
                            let mut p = prefix.clone();
                            p.extend(item.trim().split("::").map(str::to_string));
                            if let Some(m) = resolve(&p) {
                                found.insert(m);
                            }
                            item.clear();
                        }
                        ch => {
                            if nest == 0 {
                                item.push(ch)
                            }
                        }
                    }
                    k += 1;
                }
                let mut p = prefix.clone();
                p.extend(item.trim().split("::").map(str::to_string));
                if let Some(m) = resolve(&p) {
                    found.insert(m);
                }
            } else if let Some(m) = resolve(&prefix) {
                found.insert(m);
            }
        }
        i = j;
    }
    found.remove(module);
    found
}

/// A cycle in `graph`, if there is one (as the list of modules along it).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(cycle) = visit(next, graph, state, stack) {
                        return Some(cycle);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(cycle) = visit(node, graph, &mut state, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    // `MODULE_GRAPH_SRC` points the check at another source tree (to see it fail on one).
    let src = std::env::var_os("MODULE_GRAPH_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let sources: Vec<(String, String)> = files
        .iter()
        .filter_map(|f| {
            let module = module_of(&src, f)?;
            let text = std::fs::read_to_string(f).expect("readable source");
            Some((module, code_only(&text)))
        })
        .collect();
    let modules: BTreeSet<String> = sources.iter().map(|(m, _)| m.clone()).collect();
    sources
        .iter()
        .map(|(module, code)| (module.clone(), references(module, code, &modules)))
        .collect()
}

#[test]
fn no_cycles_between_files() {
    let graph = graph();
    assert!(graph.contains_key("checker::mrk") && graph.contains_key("runner"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle between modules: {}", cycle.join(" -> "));
    }
}

#[test]
fn no_cycles_between_top_level_modules() {
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let head = |m: &str| m.split("::").next().unwrap_or_default().to_string();
    for (module, uses) in graph() {
        let from = head(&module);
        let entry = top.entry(from.clone()).or_default();
        entry.extend(
            uses.iter()
                .map(|u| head(u))
                .filter(|u| *u != from && !u.is_empty()),
        );
    }
    if let Some(cycle) = find_cycle(&top) {
        panic!(
            "import cycle between top-level modules: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_scanner_sees_uses_and_cycles() {
    let modules: BTreeSet<String> = ["", "a", "a::b", "c"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let code = code_only(
        "use super::{x, b::Y};\n// crate::c::z\nfn f() { let s = \"crate::c\"; crate::c::g(); }\nmod tests { use super::*; }",
    );
    let found = references("a::b", &code, &modules);
    assert_eq!(found, ["a", "c"].iter().map(|s| s.to_string()).collect());
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(find_cycle(&graph).is_some());
}
