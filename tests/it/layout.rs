//! The house rule of `docs/design.md` ("Where things live"): commands sit side by side on
//! shared floors. A command is a module `src/bin/stickerlake.rs` dispatches to; every other
//! module of `src/lib.rs` is a floor. No command's code names another command, and no floor
//! names a command. Test code (from a file's `#[cfg(test)]` on) may borrow from anywhere,
//! e.g. the generator's events to check the parser.

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

/// The modules named as `crate::<module>` in a file's code before its tests.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    code.match_indices("crate::")
        .map(|(i, _)| {
            code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect()
        })
        .collect()
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
            for named in named_modules(&source(&file)) {
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
        "move what they share down to a floor (docs/design.md, \"Where things live\"):\n{}",
        broken.join("\n")
    );
}
