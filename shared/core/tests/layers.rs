//! The core's two architecture invariants, checked on every `make test`:
//!
//! - it does no I/O of its own, so nothing in its dependency tree may be the AWS SDK, an async
//!   runtime or an HTTP stack (`cargo tree`, as the crate builds on its own);
//! - its modules stand in layers: the graph of `crate::` paths between its top-level modules
//!   (outside tests) has no circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates (or crate-name prefixes) the core must never depend on, with why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("aws-sdk-", "the AWS SDK belongs in lakeline-aws"),
    ("aws-config", "the AWS SDK belongs in lakeline-aws"),
    ("aws-smithy-", "the AWS SDK belongs in lakeline-aws"),
    ("tokio", "an async runtime means I/O"),
    ("async-std", "an async runtime means I/O"),
    ("mio", "an event loop means I/O"),
    ("hyper", "an HTTP stack means I/O"),
    ("reqwest", "an HTTP stack means I/O"),
    ("rustls", "a TLS stack means I/O"),
    (
        "lambda_runtime",
        "the Lambda runtime belongs in the functions",
    ),
];

#[test]
fn no_io_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", "lakeline-core", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let names: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains("lakeline-core") && names.contains("serde"),
        "{tree}"
    );
    let bad: Vec<String> = names
        .iter()
        .flat_map(|n| {
            FORBIDDEN
                .iter()
                .filter(move |(p, _)| n == p || (p.ends_with('-') && n.starts_with(p)))
                .map(move |(_, why)| format!("{n}: {why}"))
        })
        .collect();
    assert!(bad.is_empty(), "lakeline-core depends on: {bad:#?}");
}

/// The top-level module a source file belongs to (`registry/job.rs` → `registry`); `None` for
/// the crate root.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(m) => Some(m.to_string()),
        None => Some(first),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a piece of code names through `crate::`, in `use` lines and paths
/// alike (`crate::a::b`, `crate::{a, b::c}`). Comments are skipped: a doc link is no
/// dependency.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    let name = name.split_whitespace().next().unwrap_or("");
                    if !name.is_empty() && name != "self" {
                        out.insert(name.to_string());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// The module graph of the core's non-test code: module → modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(m) = module_of(&src, f) else {
            continue;
        };
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue; // a test module, like the `#[cfg(test)]` tails cut off below
        }
        let text = std::fs::read_to_string(f).unwrap();
        let code = text.split("\n#[cfg(test)]").next().unwrap();
        let deps = g.entry(m.clone()).or_default();
        for n in named_modules(code) {
            // `crate::Error` and `crate::error_names` are the root's re-exports of `error`.
            let n = if n == "Error" || n == "error_names" {
                "error".to_string()
            } else {
                n
            };
            if n != m && modules.contains(&n) {
                deps.insert(n);
            }
        }
    }
    g
}

/// A circle through the graph, if there is one.
fn find_circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut circle = path[i..].to_vec();
            circle.push(n.to_string());
            return Some(circle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

#[test]
fn modules_stand_in_layers() {
    let g = graph();
    // The graph is real: the registry is read by the decisions, and stands below them.
    assert!(g["validate"].contains("registry"), "{g:#?}");
    assert!(g["jobs"].contains("registry"), "{g:#?}");
    if let Some(c) = find_circle(&g) {
        panic!(
            "the core's modules import each other in a circle: {}\n{g:#?}",
            c.join(" → ")
        );
    }
    // The declarations use no decision module.
    for decision in [
        "validate",
        "curate",
        "jobs",
        "compaction",
        "sla",
        "alert",
        "failure",
    ] {
        assert!(
            !g["registry"].contains(decision),
            "registry → {decision}: declarations stand below decisions"
        );
    }
}

#[test]
fn the_circle_finder_finds_circles() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_circle(&g).unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(
        named_modules("use crate::{a::X, b};\nlet x = crate::c::f(); // crate::d"),
        ["a", "b", "c"].map(String::from).into()
    );
}
