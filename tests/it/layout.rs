//! The house rule of `docs/design.md` ("The map of the code"): commands sit side by side on
//! shared floors. A command is a module `src/bin/stickerlake.rs` dispatches to; every other
//! module of `src/lib.rs` is a floor. No command's code names another command, and no floor
//! names a command: by `crate::x`, by a group `crate::{x::…}`, or by `super::`s that climb to
//! the crate root. Test items (each `#[cfg(test)]` item) may borrow from anywhere, e.g. the
//! generator's events to check the parser; the code after them may not.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn source(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The modules the binary dispatches to: it imports them as `use stickerlake::{a, b, …};`
/// (and `use stickerlake::x;` for one behind a feature).
fn commands(root: &Path) -> BTreeSet<String> {
    let bin = source(&root.join("src/bin/stickerlake.rs"));
    let list = bin
        .split_once("use stickerlake::{")
        .and_then(|(_, rest)| rest.split_once('}'))
        .expect("src/bin/stickerlake.rs imports its commands as `use stickerlake::{…}`")
        .0;
    let single = bin.lines().filter_map(|l| {
        let name = l.strip_prefix("use stickerlake::")?.strip_suffix(';')?;
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c == '_')
            .then_some(name)
    });
    list.split(',')
        .chain(single)
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

fn modules(root: &Path) -> BTreeSet<String> {
    source(&root.join("src/lib.rs"))
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_owned())
        .collect()
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// `text` without its test items: each `#[cfg(test)]` and the item after it (a `mod tests
/// { … }`, a function, a `use …;`), found by matching braces. Code after a test item stays.
fn without_test_items(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find('{'), item.find(';')) {
            (Some(open), semi) if semi.is_none_or(|s| open < s) => {
                let mut depth = 0usize;
                let mut end = item.len();
                for (i, c) in item[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (_, Some(semi)) => semi + 1,
            _ => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The first segment of each path in a `{…}` group (`{jobs::X, status}` → jobs, status).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                heads.push(group[start..i].to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    heads.push(group[start..].to_owned());
    heads
        .iter()
        .map(|item| {
            item.trim()
                .split("::")
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|head| !head.is_empty() && head != "self")
        .collect()
}

/// The top-level modules a file's code (its test items left out) names: `crate::x`,
/// `crate::{x::…, y}`, and `super::…::x` where the `super`s climb to the crate root from
/// `module_path` (the file's module, e.g. `["report", "daily"]`).
fn named_modules(text: &str, module_path: &[&str]) -> BTreeSet<String> {
    let code = without_test_items(text);
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    let mut named = BTreeSet::new();
    let after_root = |rest: &str, named: &mut BTreeSet<String>| match rest.strip_prefix('{') {
        Some(group) => {
            let mut depth = 1usize;
            let end = group
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            named.extend(group_heads(&group[..end]));
        }
        None => {
            named.insert(ident(rest));
        }
    };
    for (i, _) in code.match_indices("crate::") {
        after_root(&code[i + 7..], &mut named);
    }
    for (i, _) in code.match_indices("super::") {
        // Only the first of a run of `super::`s.
        if code[..i].ends_with("super::") {
            continue;
        }
        let mut rest = &code[i..];
        let mut climbs = 0;
        while let Some(next) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = next;
        }
        if climbs == module_path.len() {
            after_root(rest, &mut named);
        }
    }
    named.retain(|n| !n.is_empty());
    named
}

/// A source file's module path under `src/`: `src/report/daily.rs` → `["report", "daily"]`,
/// `src/report/mod.rs` → `["report"]`.
fn module_path(root: &Path, file: &Path) -> Vec<String> {
    let relative = file
        .strip_prefix(root.join("src"))
        .unwrap()
        .with_extension("");
    let mut path: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

#[test]
fn no_command_imports_another_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let commands = commands(root);
    let modules = modules(root);
    for needed in [
        "tailer", "jobs", "status", "report", "search", "dialect", "query",
    ] {
        assert!(
            commands.contains(needed),
            "{needed} not found among {commands:?}"
        );
    }
    let mut broken = Vec::new();
    for module in &modules {
        let mut files = Vec::new();
        rust_files(&root.join("src").join(module), &mut files);
        rust_files(&root.join("src").join(format!("{module}.rs")), &mut files);
        for file in files {
            let path = module_path(root, &file);
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            for named in named_modules(&source(&file), &path) {
                if named != *module && commands.contains(&named) {
                    let kind = if commands.contains(module) {
                        "command"
                    } else {
                        "floor"
                    };
                    broken.push(format!(
                        "{}: the {kind} `{module}` uses the command `{named}`",
                        file.strip_prefix(root).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "move what they share down to a floor (docs/design.md, \"The map of the code\"):\n{}",
        broken.join("\n")
    );
}

/// Each way the rule could be dodged is seen: a fixture per way, which it must reject.
#[test]
fn the_rule_cannot_be_dodged() {
    let commands = |text: &str, path: &[&str]| named_modules(text, path);
    // A grouped import.
    let grouped = "use crate::{jobs::runner::Pace, status};\nfn f() {}";
    assert_eq!(
        commands(grouped, &["report"]),
        BTreeSet::from(["jobs".into(), "status".into()])
    );
    // Production code after a test item.
    let after_tests = "fn a() {}\n#[cfg(test)]\nmod tests {\n    use crate::generate::Catalog;\n    fn t() { let s = \"{}\"; }\n}\npub struct Reconciler;\nimpl Reconciler { fn f() { crate::jobs::run(); } }";
    assert_eq!(
        commands(after_tests, &["audit", "reconcile"]),
        BTreeSet::from(["jobs".into()])
    );
    // `super::super::` climbing to the crate root from `src/report/daily.rs`.
    let climbing = "use super::super::jobs::Pace;\nuse super::Daily;";
    assert_eq!(
        commands(climbing, &["report", "daily"]),
        BTreeSet::from(["jobs".into()])
    );
    assert!(commands("use super::Daily;", &["report", "daily"]).is_empty());
    // Each fixture, in a floor, is a broken rule.
    let floor_names = |text: &str, path: &[&str]| commands(text, path).contains("jobs");
    assert!(floor_names(grouped, &["engine"]));
    assert!(floor_names(after_tests, &["engine", "x"]));
    assert!(floor_names(climbing, &["engine", "x"]));
}
