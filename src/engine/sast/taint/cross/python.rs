//! Python's imports, read from a file's text: what other changed files
//! it may refer to.

use super::{ImportedModule, MAX_IMPORT_LINES};

/// The candidate files of a dotted module name relative to a directory
/// (`""`: the repository root).
fn module_files(dir: &str, dotted: &str) -> Vec<String> {
    let relative = dotted.replace('.', "/");
    let base = if dir.is_empty() {
        relative
    } else if relative.is_empty() {
        dir.to_owned()
    } else {
        format!("{dir}/{relative}")
    };
    if base.is_empty() {
        return Vec::new();
    }
    vec![format!("{base}.py"), format!("{base}/__init__.py")]
}

/// The directory of a path, `level - 1` levels up (a relative import's
/// dots); `None` above the root.
fn relative_dir(path: &str, level: usize) -> Option<String> {
    let mut dir: Vec<&str> = path.split('/').collect();
    dir.pop();
    for _ in 1..level {
        dir.pop()?;
    }
    Some(dir.join("/"))
}

/// The imports of a Python file, read from its text (statements at the
/// start of a line; parenthesised name lists may span lines).
pub fn imported_modules(path: &str, text: &str) -> Vec<ImportedModule> {
    if !text.contains("import ") {
        return Vec::new();
    }
    let mut modules = Vec::new();
    let mut lines = text.lines().take(100_000);
    let mut seen = 0usize;
    while let Some(line) = lines.next() {
        let line = line.trim();
        let is_import = line.starts_with("import ") || line.starts_with("from ");
        if !is_import {
            continue;
        }
        seen += 1;
        if seen > MAX_IMPORT_LINES {
            break;
        }
        let mut statement = line.split('#').next().unwrap_or_default().to_owned();
        // `from a import (\n b,\n c)` and `\` continuations.
        let mut joined = 0;
        while (statement.contains('(') && !statement.contains(')')) || statement.ends_with('\\') {
            let Some(next) = lines.next() else { break };
            joined += 1;
            if joined > 200 {
                break;
            }
            statement = statement.trim_end_matches('\\').to_owned();
            statement.push(' ');
            statement.push_str(next.split('#').next().unwrap_or_default().trim());
        }
        modules.extend(parse_import(path, &statement));
    }
    modules
}

fn is_dotted_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// `name` or `name as alias` ─▶ (name, alias or name).
fn split_alias(item: &str) -> Option<(String, String)> {
    let mut words = item.split_whitespace();
    let name = words.next()?;
    let alias = match (words.next(), words.next()) {
        (Some("as"), Some(alias)) => alias,
        (None, _) => name,
        _ => return None,
    };
    Some((name.to_owned(), alias.to_owned()))
}

fn parse_import(path: &str, statement: &str) -> Vec<ImportedModule> {
    let mut out = Vec::new();
    if let Some(rest) = statement.strip_prefix("import ") {
        for item in rest.split(',') {
            let Some((name, alias)) = split_alias(item) else {
                continue;
            };
            if !is_dotted_name(&name) {
                continue;
            }
            let mut module_names = vec![name.clone()];
            if alias != name {
                module_names.push(alias);
            }
            out.push(ImportedModule {
                files: module_files("", &name),
                written: name,
                module_names,
                names: Vec::new(),
                anywhere: true,
                glob: false,
            });
        }
        return out;
    }
    let Some(rest) = statement.strip_prefix("from ") else {
        return out;
    };
    let Some((module, names_text)) = rest.split_once(" import ") else {
        return out;
    };
    let module = module.trim();
    let level = module.chars().take_while(|&c| c == '.').count();
    let dotted = &module[level..];
    if !dotted.is_empty() && !is_dotted_name(dotted) {
        return out;
    }
    let dir = if level == 0 {
        Some(String::new())
    } else {
        relative_dir(path, level)
    };
    let Some(dir) = dir else {
        return out;
    };
    let names: Vec<(String, String)> = names_text
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .filter_map(split_alias)
        .filter(|(name, _)| is_dotted_name(name) && !name.contains('.'))
        .collect();
    if !dotted.is_empty() {
        out.push(ImportedModule {
            written: module.to_owned(),
            files: module_files(&dir, dotted),
            module_names: if level == 0 {
                vec![dotted.to_owned()]
            } else {
                Vec::new()
            },
            names: names.clone(),
            anywhere: level == 0,
            glob: names_text.trim() == "*",
        });
    }
    // `from app import util` / `from . import util`: `util` may be a module.
    for (name, alias) in names {
        let submodule = if dotted.is_empty() {
            name.clone()
        } else {
            format!("{dotted}.{name}")
        };
        let mut module_names = vec![alias];
        if level == 0 {
            module_names.push(submodule.clone());
        }
        out.push(ImportedModule {
            written: format!("{}{submodule}", ".".repeat(level)),
            files: module_files(&dir, &submodule),
            module_names,
            names: Vec::new(),
            anywhere: level == 0,
            glob: false,
        });
    }
    out
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
    fn absolute_relative_and_aliased_imports_resolve_to_changed_files() {
        let files = changed(&["src/app/util.py", "app/views.py", "app/helpers/__init__.py"]);
        let text = "import os\nfrom app.util import run_cmd as rc, other\nfrom .helpers import clean\nfrom . import (\n    util,\n)\nimport app.util as u\n";
        let modules = imported_modules("app/views.py", text);
        let resolved: Vec<(String, Option<&str>)> = modules
            .iter()
            .map(|m| (m.written.clone(), resolve(m, &files)))
            .collect();
        assert_eq!(
            resolved,
            vec![
                ("os".to_owned(), None),
                ("app.util".to_owned(), Some("src/app/util.py")),
                ("app.util.run_cmd".to_owned(), None),
                ("app.util.other".to_owned(), None),
                (".helpers".to_owned(), Some("app/helpers/__init__.py")),
                (".helpers.clean".to_owned(), None),
                (".util".to_owned(), None),
                ("app.util".to_owned(), Some("src/app/util.py")),
            ]
        );
        assert_eq!(
            modules[1].names,
            vec![
                ("run_cmd".to_owned(), "rc".to_owned()),
                ("other".to_owned(), "other".to_owned())
            ]
        );
        assert_eq!(modules[7].module_names, vec!["app.util", "u"]);
    }

    #[test]
    fn only_files_another_changed_file_imports_are_wanted() {
        let files = [
            ("app/views.py", "from .util import run_cmd\n"),
            ("app/util.py", "import os\n"),
            ("app/unrelated.py", "import json\n"),
            ("README.md", "from app.unrelated import x\n"),
        ];
        assert_eq!(imported_files(&files), vec!["app/util.py".to_owned()]);
    }

    #[test]
    fn a_relative_import_above_the_root_resolves_to_nothing() {
        assert!(parse_import("views.py", "from ...x import y").is_empty());
    }
}
