//! Test support: the modules of one layer must not import each other in a
//! cycle (each should be readable knowing only those it builds on). The
//! graph is read from `super::name` paths in the modules' sources.

use std::collections::BTreeMap;

/// The sibling modules `source` names through `super::`.
fn imports<'a>(source: &'a str, modules: &[&'a str]) -> Vec<&'a str> {
    let mut found = Vec::new();
    for (at, _) in source.match_indices("super::") {
        let rest = &source[at + "super::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(list) => list
                .split('}')
                .next()
                .unwrap_or("")
                .split(',')
                .map(|item| item.trim().split("::").next().unwrap_or(""))
                .collect(),
            None => vec![rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("")],
        };
        for name in names {
            if let Some(module) = modules.iter().find(|m| **m == name) {
                if !found.contains(module) {
                    found.push(*module);
                }
            }
        }
    }
    found
}

/// Panics with the cycle if `modules` (name, source) import each other in one.
pub fn assert_acyclic(modules: &[(&str, &str)]) {
    let names: Vec<&str> = modules.iter().map(|(name, _)| *name).collect();
    let graph: BTreeMap<&str, Vec<&str>> = modules
        .iter()
        .map(|(name, source)| (*name, imports(source, &names)))
        .collect();
    for start in &names {
        let mut path = vec![*start];
        visit(&graph, &mut path);
    }
}

fn visit<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>, path: &mut Vec<&'a str>) {
    let last = path[path.len() - 1];
    for next in graph.get(last).into_iter().flatten() {
        if path.contains(next) {
            panic!("import cycle: {} -> {next}", path.join(" -> "));
        }
        path.push(next);
        visit(graph, path);
        path.pop();
    }
}

#[test]
fn a_cycle_is_found() {
    let result = std::panic::catch_unwind(|| {
        assert_acyclic(&[
            ("a", "use super::b::X;"),
            ("b", "use super::{c, d::Y};"),
            ("c", "use super::a;"),
            ("d", ""),
        ])
    });
    assert!(result.is_err());
    assert_acyclic(&[
        ("a", "use super::b::X;"),
        ("b", "use super::{c, d::Y};"),
        ("c", ""),
        ("d", ""),
    ]);
}
