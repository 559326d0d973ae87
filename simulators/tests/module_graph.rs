//! The crate's modules depend on each other without a cycle: every `crate::…` reference in
//! `src` (in `use` items, paths and `#[serde(with = "…")]` attributes) is an edge between
//! top-level modules (`core`, `erp`, `persist`…, a directory module and its submodules
//! being one node; `lib.rs` is `crate`, which declares all the others), and the graph they make has no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("src is readable").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `core/middleware/fault.rs` → `core`; `persist.rs` → `persist`; `lib.rs` → `crate`.
fn node_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel
        .components()
        .next()
        .expect("a file")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    match first.strip_suffix(".rs") {
        Some("lib") => "crate".to_string(),
        Some(name) => name.to_string(),
        None => first,
    }
}

/// The source without comments (a `//` to the end of its line).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every path after `crate::`, with `crate::{a, b::c}` groups opened.
fn referenced(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `andon_contracts::…`-like names ending in `crate`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.insert(first_segment(&item));
        } else {
            out.insert(first_segment(rest));
        }
    }
    out.remove("");
    out
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let nodes: BTreeSet<String> = files.iter().map(|f| node_of(&src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let from = node_of(&src, file);
        let text = std::fs::read_to_string(file).expect("readable");
        let edges = graph.entry(from.clone()).or_default();
        for name in referenced(&code_of(&text)) {
            // A name that is not a module is an item of the crate root.
            let to = if nodes.contains(&name) {
                name
            } else {
                "crate".to_string()
            };
            if to != from {
                edges.insert(to);
            }
        }
    }
    // The root declares every module.
    let root = graph.entry("crate".to_string()).or_default();
    root.extend(nodes.into_iter().filter(|n| n != "crate"));
    graph
}

/// A cycle of `graph`, as the nodes along it with the first repeated at the end.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        graph: &Graph,
        node: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut c = path[start..].to_vec();
                c.push(node.to_string());
                return Some(c);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(graph, next, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|n| visit(graph, n, &mut marks, &mut Vec::new()))
}

#[test]
fn the_modules_of_the_crate_depend_on_each_other_without_a_cycle() {
    let graph = graph();
    assert!(graph.contains_key("core") && graph.contains_key("persist"));
    if let Some(c) = cycle(&graph) {
        panic!(
            "the modules depend on each other in a cycle: {}",
            c.join(" -> ")
        );
    }
}

#[test]
fn references_are_read_from_paths_groups_and_attributes() {
    let code = code_of(
        "use crate::core::{Core, Ctx};\nuse crate::{history::History, lots};\n\
         #[serde(with = \"crate::saved::pairs\")]\n// crate::commented\nlet x = andon_crate::y;",
    );
    let names: Vec<_> = referenced(&code).into_iter().collect();
    assert_eq!(names, ["core", "history", "lots", "saved"]);
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    assert_eq!(cycle(&g), Some(vec!["a".into(), "b".into(), "a".into()]));
    g.remove("b");
    assert_eq!(cycle(&g), None);
}
