//! Rust's imports, read from a file's text: `use` declarations (paths,
//! `as`, `{…}` groups, `self`, `*`), `mod name;` and paths written in full
//! at a call (`crate::util::run(x)`, `super::util::run(x)`), resolved to
//! the files of the same crate they may be.
//!
//! Read from the text rather than the tree because the prepare step looks
//! at every changed file's imports before any file is parsed, and only the
//! files some other file imports are parsed then. The grammar of a `use` is
//! small; what this reader does not follow (a path through a re-export, a
//! `#[path]` attribute) leaves the call unknown, as before.

use super::{ImportedModule, MAX_IMPORT_LINES};

/// Depth of nested `{…}` groups followed in one `use`.
const MAX_GROUP_DEPTH: usize = 8;
/// Paths one `use` expands to, at most.
const MAX_USE_PATHS: usize = 256;
/// Paths written in full (`crate::…`, `super::…`, `self::…`) read at most
/// per file.
const MAX_INLINE_PATHS: usize = 2_000;
/// Lines one `use` may span.
const MAX_USE_LINES: usize = 200;

/// Where a file sits in its crate.
#[derive(Debug, PartialEq, Eq)]
struct Place {
    /// The crate's source folder (`crates/x/src`; `""`: the repository root).
    root: String,
    /// The file's module path (`["a", "b"]` for `src/a/b.rs` or
    /// `src/a/b/mod.rs`; empty for `src/lib.rs` and `src/main.rs`).
    module: Vec<String>,
}

impl Place {
    /// The crate's source folder is the last `src` folder above the file;
    /// a file outside any (`build.rs`, `tests/x.rs`) is a root of its own.
    fn of(path: &str) -> Option<Self> {
        let stem = path.strip_suffix(".rs")?;
        let parts: Vec<&str> = stem.split('/').collect();
        let (file, folders) = parts.split_last()?;
        let (root, relative): (&[&str], Vec<&str>) =
            match folders.iter().rposition(|part| *part == "src") {
                Some(src) => {
                    let mut relative = folders[src + 1..].to_vec();
                    relative.push(file);
                    (&folders[..=src], relative)
                }
                None => (folders, Vec::new()),
            };
        let mut module: Vec<String> = relative.iter().map(|s| (*s).to_owned()).collect();
        match module.last().map(String::as_str) {
            Some("mod") => {
                module.pop();
            }
            Some("lib" | "main") if module.len() == 1 => module.clear(),
            _ => {}
        }
        Some(Self {
            root: root.join("/"),
            module,
        })
    }

    /// The module a path names from this file (`crate::a`, `super::a`,
    /// `self::a`, or `a` declared in this module); `None` when it climbs
    /// above the crate.
    fn resolve(&self, segments: &[String]) -> Option<Vec<String>> {
        let (mut module, rest) = match segments.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &segments[1..]),
            Some("self") => (self.module.clone(), &segments[1..]),
            Some("super") => {
                let mut module = self.module.clone();
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    module.pop()?;
                    rest = &rest[1..];
                }
                (module, rest)
            }
            _ => (self.module.clone(), segments),
        };
        for segment in rest {
            if matches!(segment.as_str(), "crate" | "self" | "super") {
                return None;
            }
            module.push(segment.clone());
        }
        Some(module)
    }

    /// The files module `module` of this crate may be.
    fn files(&self, module: &[String]) -> Vec<String> {
        let prefix = if self.root.is_empty() {
            String::new()
        } else {
            format!("{}/", self.root)
        };
        if module.is_empty() {
            return vec![format!("{prefix}lib.rs"), format!("{prefix}main.rs")];
        }
        let base = format!("{prefix}{}", module.join("/"));
        vec![format!("{base}.rs"), format!("{base}/mod.rs")]
    }
}

/// What a `use` tree's leaf brings in.
#[derive(Debug, PartialEq, Eq)]
enum Leaf {
    /// A name, under this local name.
    Name(String),
    /// `*`.
    Glob,
}

/// The tokens of a `use` declaration's tree.
fn tokens(tree: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = tree;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if let Some(after) = rest.strip_prefix("::") {
            out.push("::");
            rest = after;
        } else if c.is_alphanumeric() || c == '_' {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = &rest[end..];
        } else {
            out.push(&rest[..c.len_utf8()]);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Expands the `use` tree at `tokens[*at..]` under `prefix` into its paths.
fn expand(
    tokens: &[&str],
    at: &mut usize,
    prefix: &[String],
    depth: usize,
    out: &mut Vec<(Vec<String>, Leaf)>,
) -> Option<()> {
    if depth > MAX_GROUP_DEPTH || out.len() >= MAX_USE_PATHS {
        return None;
    }
    let mut path = prefix.to_vec();
    if tokens.get(*at) == Some(&"::") {
        *at += 1;
    }
    loop {
        match *tokens.get(*at)? {
            "{" => {
                *at += 1;
                loop {
                    if tokens.get(*at) == Some(&"}") {
                        *at += 1;
                        return Some(());
                    }
                    expand(tokens, at, &path, depth + 1, out)?;
                    match *tokens.get(*at)? {
                        "," => *at += 1,
                        "}" => {}
                        _ => return None,
                    }
                }
            }
            "*" => {
                *at += 1;
                out.push((path, Leaf::Glob));
                return Some(());
            }
            word if word.starts_with(|c: char| c.is_alphanumeric() || c == '_') => {
                *at += 1;
                path.push(word.to_owned());
                match tokens.get(*at).copied() {
                    Some("::") => *at += 1,
                    Some("as") => {
                        let alias = *tokens.get(*at + 1)?;
                        *at += 2;
                        out.push((path, Leaf::Name(alias.to_owned())));
                        return Some(());
                    }
                    _ => {
                        let name = if word == "self" {
                            path.pop();
                            path.last()?.clone()
                        } else {
                            word.to_owned()
                        };
                        out.push((path, Leaf::Name(name)));
                        return Some(());
                    }
                }
            }
            _ => return None,
        }
    }
}

/// The paths one `use` declaration (without `use` and `;`) brings in.
fn use_paths(tree: &str) -> Vec<(Vec<String>, Leaf)> {
    let tokens = tokens(tree);
    let mut out = Vec::new();
    let mut at = 0;
    // A malformed tree keeps the paths read before the fault.
    let _ = expand(&tokens, &mut at, &[], 0, &mut out);
    out
}

/// The module a leaf's path names, and the name in it, as imports.
fn imports_of_path(place: &Place, path: &[String], leaf: Leaf, out: &mut Vec<ImportedModule>) {
    match leaf {
        Leaf::Glob => {
            if let Some(module) = place.resolve(path) {
                out.push(ImportedModule {
                    written: path.join("::"),
                    files: place.files(&module),
                    glob: true,
                    ..ImportedModule::default()
                });
            }
        }
        Leaf::Name(local) => {
            // `use a::b::f`: `f` may be a function of `a::b`…
            if let Some((name, parent)) = path.split_last()
                && !parent.is_empty()
                && let Some(module) = place.resolve(parent)
            {
                out.push(ImportedModule {
                    written: parent.join("::"),
                    files: place.files(&module),
                    names: vec![(name.clone(), local.clone())],
                    ..ImportedModule::default()
                });
            }
            // …or a module, called as `f::run(x)`.
            if let Some(module) = place.resolve(path) {
                out.push(ImportedModule {
                    written: path.join("::"),
                    files: place.files(&module),
                    module_names: vec![local],
                    ..ImportedModule::default()
                });
            }
        }
    }
}

/// The declaration a line starts, without its visibility: `use …` or
/// `mod name;`.
fn declaration(line: &str) -> Option<&str> {
    let mut line = line.trim_start();
    if let Some(rest) = line.strip_prefix("pub") {
        let rest = rest.trim_start();
        line = match rest.strip_prefix('(') {
            Some(inner) => inner.split_once(')')?.1.trim_start(),
            None => rest,
        };
    }
    (line.starts_with("use ") || line.starts_with("mod ")).then_some(line)
}

/// The imports of a Rust file, read from its text.
pub fn imported_modules(path: &str, text: &str) -> Vec<ImportedModule> {
    let Some(place) = Place::of(path) else {
        return Vec::new();
    };
    let mut modules = Vec::new();
    let mut lines = text.lines().take(100_000);
    let mut seen = 0usize;
    while let Some(line) = lines.next() {
        let Some(declaration) = declaration(line) else {
            continue;
        };
        seen += 1;
        if seen > MAX_IMPORT_LINES {
            break;
        }
        if let Some(name) = declaration.strip_prefix("mod ") {
            // `mod util;` (not `mod util { … }`): the file `util.rs` beside.
            if let Some(name) = name.trim().strip_suffix(';') {
                let name = name.trim().to_owned();
                let path = [name.clone()];
                imports_of_path(&place, &path, Leaf::Name(name), &mut modules);
            }
            continue;
        }
        let mut statement = declaration["use ".len()..].to_owned();
        let mut joined = 0;
        while !statement.contains(';') {
            let Some(next) = lines.next() else { break };
            joined += 1;
            if joined > MAX_USE_LINES {
                break;
            }
            statement.push(' ');
            statement.push_str(next.split("//").next().unwrap_or_default());
        }
        let tree = statement.split(';').next().unwrap_or_default();
        for (path, leaf) in use_paths(tree) {
            imports_of_path(&place, &path, leaf, &mut modules);
        }
    }
    inline_paths(&place, text, &mut modules);
    modules
}

/// Paths written in full at a use (`crate::util::run(x)`): their module,
/// under the name the call writes it by.
fn inline_paths(place: &Place, text: &str, out: &mut Vec<ImportedModule>) {
    let mut seen = std::collections::HashSet::new();
    let starts = ["crate::", "super::", "self::"]
        .into_iter()
        .flat_map(|start| text.match_indices(start).map(|(at, _)| at));
    for at in starts.take(MAX_INLINE_PATHS) {
        let before = text[..at].chars().next_back();
        // `$crate::`, `my_crate::`, `a::crate::`: not a path's start.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
            continue;
        }
        let rest = &text[at..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let segments: Vec<String> = rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        // The module of `crate::util::run`: all but the function's name.
        let Some((_, module)) = segments.split_last() else {
            continue;
        };
        let written = module.join("::");
        if module.is_empty() || !seen.insert(written.clone()) {
            continue;
        }
        if let Some(resolved) = place.resolve(module) {
            out.push(ImportedModule {
                files: place.files(&resolved),
                module_names: vec![written.clone()],
                written,
                ..ImportedModule::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{imported_files, resolve};
    use super::*;
    use std::collections::HashSet;

    fn changed(paths: &[&str]) -> HashSet<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn a_file_knows_its_crate_and_module() {
        let place = |p| Place::of(p).map(|p| (p.root, p.module.join("::")));
        assert_eq!(place("src/lib.rs"), Some(("src".into(), String::new())));
        assert_eq!(
            place("crates/web/src/a/mod.rs"),
            Some(("crates/web/src".into(), "a".into()))
        );
        assert_eq!(place("src/a/b.rs"), Some(("src".into(), "a::b".into())));
        assert_eq!(place("build.rs"), Some((String::new(), String::new())));
        assert_eq!(place("README.md"), None);
    }

    #[test]
    fn use_trees_expand_to_paths_and_local_names() {
        let paths = use_paths("crate::{util::{self, run as r}, shell::*, db}");
        let shown: Vec<(String, Leaf)> = paths
            .into_iter()
            .map(|(path, leaf)| (path.join("::"), leaf))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("crate::util".into(), Leaf::Name("util".into())),
                ("crate::util::run".into(), Leaf::Name("r".into())),
                ("crate::shell".into(), Leaf::Glob),
                ("crate::db".into(), Leaf::Name("db".into())),
            ]
        );
        // Malformed: what was read before the fault stays.
        assert_eq!(use_paths("crate::a, }{").len(), 1);
        // Hostile nesting stops at the depth bound instead of recursing on.
        let deep = format!("a::{}b{}", "{x::".repeat(10_000), "}".repeat(10_000));
        assert!(use_paths(&deep).is_empty());
    }

    #[test]
    fn uses_mods_and_full_paths_resolve_to_changed_files() {
        let files = changed(&[
            "src/util.rs",
            "src/shell/mod.rs",
            "src/handlers/admin.rs",
            "src/handlers/common.rs",
        ]);
        let text = "use std::process::Command;\n\
                    pub(crate) use crate::util::run_cmd as rc;\n\
                    use super::common;\n\
                    mod nested;\n\
                    fn f() { crate::shell::exec(x); $crate::ignored::m(); }\n";
        let modules = imported_modules("src/handlers/admin.rs", text);
        let resolved: Vec<(String, &str)> = modules
            .iter()
            .filter_map(|m| Some((m.written.clone(), resolve(m, &files)?)))
            .collect();
        assert_eq!(
            resolved,
            vec![
                ("crate::util".to_owned(), "src/util.rs"),
                ("super::common".to_owned(), "src/handlers/common.rs"),
                // The `use` line's path, read again as a full path.
                ("crate::util".to_owned(), "src/util.rs"),
                ("crate::shell".to_owned(), "src/shell/mod.rs"),
            ]
        );
        let util = modules.iter().find(|m| m.written == "crate::util");
        assert_eq!(
            util.map(|m| m.names.clone()),
            Some(vec![("run_cmd".to_owned(), "rc".to_owned())])
        );
        let common = modules.iter().find(|m| m.written == "super::common");
        assert_eq!(
            common.map(|m| m.module_names.clone()),
            Some(vec!["common".to_owned()])
        );
        let shell = modules.iter().find(|m| m.written == "crate::shell");
        assert_eq!(
            shell.map(|m| m.module_names.clone()),
            Some(vec!["crate::shell".to_owned()])
        );
    }

    #[test]
    fn mod_declarations_name_the_file_beside_and_other_crates_stay_apart() {
        let files = changed(&["src/main.rs", "src/util.rs", "other/src/util.rs"]);
        let modules = imported_modules("src/main.rs", "mod util;\nmod inline { }\n");
        let found: Vec<&str> = modules.iter().filter_map(|m| resolve(m, &files)).collect();
        assert_eq!(found, vec!["src/util.rs"]);
        let wanted = imported_files(&[
            ("src/main.rs", "mod util;\n"),
            ("src/util.rs", "pub fn run() {}\n"),
            ("other/src/util.rs", "pub fn run() {}\n"),
            ("app/x.py", "from app import util\n"),
        ]);
        assert_eq!(wanted, vec!["src/util.rs".to_owned()]);
    }
}
