//! Calls into other changed files of the same change set (Python).
//!
//! Files are analysed one at a time, in parallel, so a file cannot look
//! into another's tree. Before any file is analysed, the SAST analyzer's
//! [`prepare`](crate::engine::Analyzer::prepare) step finds the changed
//! Python files another changed file imports, summarises their module-level
//! functions once (what each parameter reaches: a sink, the return value)
//! and hands the summaries, as plain located data, to every file's
//! analysis. A call of an imported function then uses its summary as a
//! call of a local function does; the finding anchors at the call, and its
//! path runs on into the other file.
//!
//! Bounded: [`MAX_FILES`] files are summarised per change set,
//! [`MAX_FUNCTIONS`] functions per file and [`MAX_PARAMETERS`] parameters
//! per function; each file's summaries have their own work budget and time
//! limit ([`SUMMARY_TIME`]), all of them together [`PREPARE_TIME`] (a file
//! left without summaries makes its importers partial, with the reason);
//! summaries do not follow a second file (a
//! function of `b.py` that calls into `c.py` treats that call as unknown).

use super::flow::{Step, Taint};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Changed files summarised at most per change set.
pub const MAX_FILES: usize = 64;
/// Functions summarised at most per file.
pub const MAX_FUNCTIONS: usize = 256;
/// Parameters summarised at most per function.
pub const MAX_PARAMETERS: usize = 16;
/// Import statements read at most per file when looking for imports.
const MAX_IMPORT_LINES: usize = 2_000;
/// Time the summaries of one file may take.
pub const SUMMARY_TIME: Duration = Duration::from_secs(2);
/// Time the summaries of all files of a change set may take together.
pub const PREPARE_TIME: Duration = Duration::from_secs(5);

/// A path from a parameter of another file's function, its steps located
/// in that file.
#[derive(Debug, Clone)]
pub struct ForeignPath {
    /// Parameter first; every step has [`Step::foreign`] set.
    pub steps: Vec<Step>,
    /// Rules it was sanitised for on the way.
    pub cleared: u64,
    /// The path was cut.
    pub truncated: bool,
}

impl ForeignPath {
    /// The path as a taint from parameter `index`, for
    /// [`Taint::after`].
    pub fn taint(&self, index: usize) -> Taint {
        Taint {
            origin: super::flow::Origin::Parameter(index),
            path: std::rc::Rc::new(self.steps.clone()),
            cleared: self.cleared,
            truncated: self.truncated,
        }
    }
}

/// What one parameter of another file's function does.
#[derive(Debug, Clone, Default)]
pub struct ParameterSummary {
    /// The return value carries it.
    pub returns: Option<ForeignPath>,
    /// Sinks it reaches: rule index and path ending at the sink.
    pub sinks: Vec<(usize, ForeignPath)>,
}

/// A module-level function of another changed file.
#[derive(Debug, Clone, Default)]
pub struct ExternalFunction {
    /// Parameter names, in order (keyword arguments are matched by name).
    pub parameters: Vec<String>,
    /// One summary per parameter (fewer past [`MAX_PARAMETERS`]).
    pub summaries: Vec<ParameterSummary>,
}

/// One summarised file.
#[derive(Debug, Clone, Default)]
pub struct ExportedFile {
    /// Its functions by name.
    pub functions: HashMap<String, ExternalFunction>,
    /// Why its summaries are incomplete, if a limit was reached.
    pub limit: Option<String>,
}

/// The summaries of every changed file another changed file imports.
#[derive(Debug, Default)]
pub struct Exports {
    /// By path.
    pub files: HashMap<String, ExportedFile>,
    /// Rules (bit set by index) some summarised sink belongs to: they run
    /// in an importing file even when its own text does not name the sink.
    pub rules: u64,
}

impl ExportedFile {
    /// Whether a parameter of one of its functions reaches a sink.
    pub fn has_sinks(&self) -> bool {
        self.functions
            .values()
            .any(|f| f.summaries.iter().any(|s| !s.sinks.is_empty()))
    }
}

impl Exports {
    /// Whether `head` (at `path`) imports a summarised file with a sink:
    /// the cheap test that makes taint run on a file whose own text names
    /// no sink (where taint runs anyway, every summary is used).
    pub fn imported_by(&self, path: &str, head: &str) -> bool {
        let changed: HashSet<String> = self
            .files
            .iter()
            .filter(|(_, file)| file.has_sinks())
            .map(|(path, _)| path.clone())
            .collect();
        !changed.is_empty()
            && imported_modules(path, head)
                .iter()
                .any(|m| resolve(m, &changed).is_some_and(|found| found != path))
    }
}

/// The Python module file a path is (`app/util.py` is `app.util`).
fn is_python(path: &str) -> bool {
    path.ends_with(".py")
}

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

/// One module an import statement names, and how the importing file refers
/// to it and to the names it takes from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportedModule {
    /// The module as written (`app.util`, `.util`).
    pub written: String,
    /// Files it may be, by path: absolute modules also match a changed file
    /// under a source folder (`src/app/util.py` for `app.util`).
    pub files: Vec<String>,
    /// Names the file refers to the module by (`u` for `import app.util as
    /// u`, `app.util` for `import app.util`).
    pub module_names: Vec<String>,
    /// `from … import name as alias`: (local name, imported name).
    pub names: Vec<(String, String)>,
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
            });
        }
        return out;
    }
    let Some(rest) = statement.strip_prefix("from ") else {
        return out;
    };
    let Some((module, names)) = rest.split_once(" import ") else {
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
    let names: Vec<(String, String)> = names
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
        });
    }
    out
}

/// Resolves `module`'s candidate files against the changed files: an exact
/// path, or (absolute imports only) a changed path ending with it.
pub fn resolve<'p>(module: &ImportedModule, changed: &'p HashSet<String>) -> Option<&'p str> {
    let absolute = !module.written.starts_with('.');
    for candidate in &module.files {
        if let Some(found) = changed.get(candidate) {
            return Some(found.as_str());
        }
    }
    if absolute {
        for candidate in &module.files {
            let suffix = format!("/{candidate}");
            if let Some(found) = changed.iter().find(|p| p.ends_with(&suffix)) {
                return Some(found.as_str());
            }
        }
    }
    None
}

/// The changed Python files other changed Python files import, at most
/// [`MAX_FILES`], in a stable order.
pub fn imported_files(files: &[(&str, &str)]) -> Vec<String> {
    let changed: HashSet<String> = files
        .iter()
        .filter(|(path, _)| is_python(path))
        .map(|(path, _)| (*path).to_owned())
        .collect();
    if changed.len() < 2 {
        return Vec::new();
    }
    let mut wanted: Vec<String> = Vec::new();
    for (path, text) in files {
        if !is_python(path) {
            continue;
        }
        for module in imported_modules(path, text) {
            if let Some(found) = resolve(&module, &changed)
                && found != *path
                && !wanted.iter().any(|w| w == found)
            {
                wanted.push(found.to_owned());
            }
        }
    }
    wanted.sort();
    wanted.truncate(MAX_FILES);
    wanted
}

/// What a Python file's names refer to in other changed files.
#[derive(Debug, Default)]
pub struct ImportTable {
    /// Local name ─▶ (file, function name).
    pub functions: HashMap<String, (String, String)>,
    /// Name a module is referred to by (`app.util`, `u`) ─▶ file.
    pub modules: HashMap<String, String>,
}

impl ImportTable {
    /// The table of `text` at `path` against the summarised files.
    pub fn new(path: &str, text: &str, exports: &Exports) -> Self {
        let changed: HashSet<String> = exports.files.keys().cloned().collect();
        let mut table = Self::default();
        for module in imported_modules(path, text) {
            let Some(file) = resolve(&module, &changed) else {
                continue;
            };
            if file == path {
                continue;
            }
            for name in &module.module_names {
                table.modules.insert(name.clone(), file.to_owned());
            }
            for (name, alias) in &module.names {
                let target = (file.to_owned(), name.clone());
                // Alias resolution may have rewritten `alias` to `name`.
                table.functions.insert(alias.clone(), target.clone());
                table.functions.insert(name.clone(), target);
            }
        }
        table
    }

    /// The function a callee names: `run_cmd` or `util.run_cmd`.
    pub fn function<'e>(
        &self,
        exports: &'e Exports,
        module: Option<&str>,
        name: &str,
    ) -> Option<&'e ExternalFunction> {
        let (file, function) = match module {
            None => {
                let (file, function) = self.functions.get(name)?;
                (file.as_str(), function.as_str())
            }
            Some(module) => (self.modules.get(module)?.as_str(), name),
        };
        exports.files.get(file)?.functions.get(function)
    }

    /// The summarised files this table refers to.
    pub fn files(&self) -> HashSet<&str> {
        self.functions
            .values()
            .map(|(file, _)| file.as_str())
            .chain(self.modules.values().map(String::as_str))
            .collect()
    }
}

/// A located step of another file, shared by the paths through it.
pub fn foreign_step(
    path: &Arc<str>,
    range: (usize, usize),
    row: usize,
    start: crate::engine::Position,
    end: crate::engine::Position,
    code: String,
) -> Step {
    Step {
        range,
        row,
        foreign: Some(Arc::new(super::flow::ForeignStep {
            path: path.clone(),
            start,
            end,
            code,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
