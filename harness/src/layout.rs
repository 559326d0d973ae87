//! The workspace's shape holds: in every crate, the modules form no import cycle (each
//! module's siblings are used in one direction only), so the pipeline reads bottom-up —
//! `history` under `check`, `load` and `report`, and the engine above them all; and no
//! source file is over 600 lines nor any function over 80 (tests and the data tables
//! named in [`TABLES`] excepted), so each room stays one a newcomer can read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Most lines of a source file.
const MAX_FILE_LINES: usize = 600;
/// Most lines of a function, from its signature to its closing brace.
const MAX_FN_LINES: usize = 80;
/// Data tables exempt from both limits: (file under the workspace, function).
const TABLES: &[(&str, &str)] = &[("harness/src/bdd/steps/table.rs", "build")];

/// Every `.rs` file under `dir`, at any depth.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("source folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// Every module of the crate under `src` with its source (tests and comments left out).
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    for path in rust_files(src) {
        let rel = path
            .strip_prefix(src)
            .expect("under src")
            .with_extension("");
        let mut module: Module = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if module.last().is_some_and(|l| l == "mod") {
            module.pop();
        }
        // Test modules in files of their own (`tests.rs`) are tests, not structure.
        if module.first().is_some_and(|f| f == "bin")
            || module.last().is_some_and(|l| l == "tests")
            || module == ["lib"]
            || module == ["main"]
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        out.insert(module, code);
    }
    out
}

/// The module a path (`check::common::Events`) names: its longest prefix that is one.
fn resolve(modules: &BTreeMap<Module, String>, path: &[String]) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains_key(m))
}

/// For each parent module, the uses between its children: `a -> b` when something in
/// `a` (or below it) names something in its sibling `b` (or below it).
fn sibling_uses(
    modules: &BTreeMap<Module, String>,
) -> BTreeMap<Module, BTreeMap<String, BTreeSet<String>>> {
    let path = regex::Regex::new(r"\b(crate|super)((?:::[a-z_][a-z_0-9]*)*)(?:::\{([^{}]*)\})?")
        .expect("regex");
    let mut out: BTreeMap<Module, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, code) in modules {
        // `crate::a::b` and each entry of `crate::a::{b, c::d}`.
        let named = path.captures_iter(code).flat_map(|c| {
            let head = format!("{}{}", &c[1], &c[2]);
            match c.get(3) {
                None => vec![(c[1].to_string(), head)],
                Some(group) => group
                    .as_str()
                    .split(',')
                    .map(|e| {
                        let e = e.trim().split(' ').next().unwrap_or_default();
                        (c[1].to_string(), format!("{head}::{e}"))
                    })
                    .collect(),
            }
        });
        for (kind, text) in named {
            let mut segs: Vec<String> = text
                .split("::")
                .skip(1)
                .filter(|s| !s.is_empty() && *s != "self")
                .map(str::to_string)
                .collect();
            let mut base: Module = Vec::new();
            if kind == "super" {
                base = from[..from.len().saturating_sub(1)].to_vec();
                while segs.first().is_some_and(|s| s == "super") {
                    base.pop();
                    segs.remove(0);
                }
            }
            base.extend(segs);
            let Some(to) = resolve(modules, &base) else {
                continue;
            };
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue; // a module and its own ancestor or descendant
            }
            out.entry(from[..common].to_vec())
                .or_default()
                .entry(from[common].clone())
                .or_default()
                .insert(to[common].clone());
        }
    }
    out
}

/// A cycle in `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, bool>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), false);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(false) => {
                    let at = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut c = stack[at..].to_vec();
                    c.push(next.clone());
                    return Some(c);
                }
                Some(true) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), true);
        None
    }
    let mut state = BTreeMap::new();
    graph.keys().find_map(|n| {
        if state.contains_key(n) {
            return None;
        }
        visit(n, graph, &mut state, &mut Vec::new())
    })
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

#[test]
fn no_crate_of_the_workspace_has_an_import_cycle() {
    let mut cycles = Vec::new();
    for krate in [
        "contracts",
        "simulators",
        "harness",
        "examples/reference-middleware",
    ] {
        let modules = modules(&crate_src(krate));
        assert!(modules.len() > 3, "{krate}: modules found");
        for (parent, graph) in sibling_uses(&modules) {
            if let Some(c) = cycle(&graph) {
                let parent = if parent.is_empty() {
                    "crate".to_string()
                } else {
                    parent.join("::")
                };
                cycles.push(format!("{krate}: in {parent}: {}", c.join(" -> ")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_passes_a_chain() {
    let g = |edges: &[(&str, &str)]| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            m.entry(a.to_string()).or_default().insert(b.to_string());
        }
        m
    };
    assert_eq!(
        cycle(&g(&[("load", "engine"), ("engine", "load")])),
        Some(vec!["engine".into(), "load".into(), "engine".into()])
    );
    assert_eq!(
        cycle(&g(&[
            ("engine", "check"),
            ("check", "history"),
            ("engine", "history")
        ])),
        None
    );
}

/// The functions of `text` over [`MAX_FN_LINES`] lines, as (name, first line, lines);
/// an inline `mod tests { … }` at the end is left out.
fn long_functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| {
            w[0].starts_with("#[cfg(test)]") && w[1].starts_with("mod ") && w[1].ends_with('{')
        })
        .unwrap_or(lines.len());
    let sig = regex::Regex::new(r"^(\s*)(pub(\([^)]+\))? )?(async )?(const )?(unsafe )?fn (\w+)")
        .expect("regex");
    let mut out = Vec::new();
    let mut i = 0;
    while i < end {
        let Some(c) = sig.captures(lines[i]) else {
            i += 1;
            continue;
        };
        let indent = c.get(1).map_or("", |m| m.as_str());
        let mut j = i;
        while j < end && !lines[j].trim_end().ends_with('{') && !lines[j].trim_end().ends_with(';')
        {
            j += 1;
        }
        if j >= end || lines[j].trim_end().ends_with(';') {
            i = j + 1;
            continue;
        }
        let close = format!("{indent}}}");
        let k = (j + 1..end).find(|&k| lines[k] == close).unwrap_or(end);
        let n = k - i + 1;
        if n > MAX_FN_LINES {
            out.push((c[7].to_string(), i + 1, n));
        }
        i = k + 1;
    }
    out
}

#[test]
fn no_file_or_function_of_the_crates_is_too_long_to_read() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut problems = Vec::new();
    for krate in ["contracts", "simulators", "harness"] {
        for path in rust_files(&root.join(krate).join("src")) {
            if path.ends_with("tests.rs") {
                continue;
            }
            let rel = path
                .strip_prefix(&root)
                .expect("under the workspace")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("source");
            let table = |f: &str| {
                TABLES
                    .iter()
                    .any(|(file, name)| *file == rel && (f.is_empty() || *name == f))
            };
            let n = text.lines().count();
            if n > MAX_FILE_LINES && !table("") {
                problems.push(format!("{rel}: {n} lines (most {MAX_FILE_LINES})"));
            }
            for (name, line, n) in long_functions(&text) {
                if !table(&name) {
                    problems.push(format!(
                        "{rel}:{line}: fn {name} is {n} lines (most {MAX_FN_LINES})"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "split these into named steps:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_long_function_is_found_and_a_test_module_is_not() {
    let body = "    x();\n".repeat(MAX_FN_LINES);
    let text = format!(
        "fn short() {{\n}}\n\npub(crate) fn long() {{\n{body}}}\n\n#[cfg(test)]\nmod tests {{\n    fn also_long() {{\n{body}    }}\n}}\n"
    );
    let found = long_functions(&text);
    assert_eq!(found, vec![("long".to_string(), 4, MAX_FN_LINES + 2)]);
}
