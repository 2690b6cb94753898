//! Calls into other changed files of the same change set (Python, Rust).
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
//!
//! Imports are read from the text, per language ([`python`], [`rust`]),
//! and only between files of one language.

mod python;
mod rust;

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
pub(crate) const MAX_IMPORT_LINES: usize = 2_000;
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

impl ParameterSummary {
    /// What a summary of the file at `path` says, its steps located by
    /// `locator` for findings in other files. `None` (a parameter that is
    /// a pattern, a summary cut by a limit) is an unknown function's: the
    /// value comes back, with no step of its own.
    pub fn located(
        summary: Option<&super::core::Summary>,
        path: &Arc<str>,
        locator: &super::report::Locator,
    ) -> Self {
        let Some(summary) = summary else {
            return Self {
                returns: Some(ForeignPath {
                    steps: Vec::new(),
                    cleared: 0,
                    truncated: false,
                }),
                sinks: Vec::new(),
            };
        };
        let located = |taint: &Taint| ForeignPath {
            steps: taint
                .path
                .iter()
                .map(|step| {
                    foreign_step(
                        path,
                        step.range,
                        step.row,
                        locator.position_of(step.range.0),
                        locator.position_of(step.range.1),
                        locator.code(step),
                    )
                })
                .collect(),
            cleared: taint.cleared,
            truncated: taint.truncated,
        };
        Self {
            returns: summary.returns.as_ref().map(located),
            sinks: summary
                .sinks
                .iter()
                .map(|hit| (hit.rule, located(&hit.taint)))
                .collect(),
        }
    }
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

impl ExportedFile {
    /// The summaries of a file's `functions` (name, function), at most
    /// [`MAX_FUNCTIONS`] of them in name order (the limit said when there
    /// are more); `summarise` gives one function's, or `None` when the
    /// analysis has stopped.
    pub fn of<F>(
        path: &str,
        mut functions: Vec<(String, F)>,
        mut summarise: impl FnMut(F) -> Option<ExternalFunction>,
    ) -> Self {
        functions.sort_by(|a, b| a.0.cmp(&b.0));
        let mut exported = Self {
            functions: HashMap::new(),
            limit: (functions.len() > MAX_FUNCTIONS).then(|| {
                format!(
                    "taint analysis: `{path}` defines more than {MAX_FUNCTIONS} functions; calls of the others were treated as unknown functions"
                )
            }),
        };
        functions.truncate(MAX_FUNCTIONS);
        for (name, function) in functions {
            let Some(summarised) = summarise(function) else {
                break;
            };
            exported.functions.insert(name, summarised);
        }
        exported
    }

    /// Records the limit an analysis of the file stopped at, unless one
    /// is said already.
    pub fn note_limit(&mut self, path: &str, limit: Option<super::Limit>) {
        if self.limit.is_none()
            && let Some(limit) = limit
        {
            self.limit = Some(format!("in `{path}`: {}", limit.reason()));
        }
    }
}

/// The language whose imports a path's file is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Python,
    Rust,
}

impl Language {
    fn of(path: &str) -> Option<Self> {
        if path.ends_with(".py") {
            Some(Self::Python)
        } else if path.ends_with(".rs") {
            Some(Self::Rust)
        } else {
            None
        }
    }
}

/// The modules the file at `path` imports (none for other languages).
fn imports_of(path: &str, text: &str) -> Vec<ImportedModule> {
    match Language::of(path) {
        Some(Language::Python) => python::imported_modules(path, text),
        Some(Language::Rust) => rust::imported_modules(path, text),
        None => Vec::new(),
    }
}

/// The summaries of every changed file another changed file imports.
#[derive(Debug, Default)]
pub struct Exports {
    /// By path.
    pub files: HashMap<String, ExportedFile>,
}

impl ExportedFile {
    /// Whether a parameter of one of its functions reaches a sink.
    pub fn has_sinks(&self) -> bool {
        self.rules() != 0
    }

    /// The rules (bit set by index, in the file's language) some summarised
    /// sink belongs to: they run in an importing file even when its own
    /// text does not name the sink.
    pub fn rules(&self) -> u64 {
        let mut rules = 0u64;
        for function in self.functions.values() {
            for summary in &function.summaries {
                for (rule, _) in &summary.sinks {
                    rules |= u32::try_from(*rule)
                        .ok()
                        .and_then(|rule| 1u64.checked_shl(rule))
                        .unwrap_or(0);
                }
            }
        }
        rules
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
            && imports_of(path, head)
                .iter()
                .any(|m| resolve(m, &changed).is_some_and(|found| found != path))
    }
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
    /// `from … import name as alias`, `use m::{name as alias}`: (imported
    /// name, local name).
    pub names: Vec<(String, String)>,
    /// Absolute Python imports: a changed file whose path ends with a
    /// candidate counts too (the repository may keep its code under `src/`).
    pub anywhere: bool,
    /// `from m import *`, `use m::*`: every function of the module.
    pub glob: bool,
}

/// Resolves `module`'s candidate files against the changed files: an exact
/// path, or (where `anywhere` says so) a changed path ending with it.
pub fn resolve<'p>(module: &ImportedModule, changed: &'p HashSet<String>) -> Option<&'p str> {
    for candidate in &module.files {
        if let Some(found) = changed.get(candidate) {
            return Some(found.as_str());
        }
    }
    if module.anywhere {
        for candidate in &module.files {
            let suffix = format!("/{candidate}");
            if let Some(found) = changed.iter().find(|p| p.ends_with(&suffix)) {
                return Some(found.as_str());
            }
        }
    }
    None
}

/// The changed files other changed files of their language import, at
/// most [`MAX_FILES`], in a stable order.
pub fn imported_files(files: &[(&str, &str)]) -> Vec<String> {
    let mut wanted: Vec<String> = Vec::new();
    for language in [Language::Python, Language::Rust] {
        let changed: HashSet<String> = files
            .iter()
            .filter(|(path, _)| Language::of(path) == Some(language))
            .map(|(path, _)| (*path).to_owned())
            .collect();
        if changed.len() < 2 {
            continue;
        }
        for (path, text) in files {
            if Language::of(path) != Some(language) {
                continue;
            }
            wanted_by(path, text, &changed, &mut wanted);
        }
    }
    wanted.sort();
    wanted.truncate(MAX_FILES);
    wanted
}

/// Adds to `wanted` the changed files `text` (at `path`) imports.
fn wanted_by(path: &str, text: &str, changed: &HashSet<String>, wanted: &mut Vec<String>) {
    for module in imports_of(path, text) {
        if let Some(found) = resolve(&module, changed)
            && found != path
            && !wanted.iter().any(|w| w == found)
        {
            wanted.push(found.to_owned());
        }
    }
}

/// What a file's names refer to in other changed files.
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
        for module in imports_of(path, text) {
            let Some(file) = resolve(&module, &changed) else {
                continue;
            };
            if file == path {
                continue;
            }
            for name in &module.module_names {
                table.modules.insert(name.clone(), file.to_owned());
            }
            if module.glob
                && let Some(exported) = exports.files.get(file)
            {
                for name in exported.functions.keys() {
                    let target = (file.to_owned(), name.clone());
                    table.functions.entry(name.clone()).or_insert(target);
                }
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

    /// The rules the summarised files this table refers to reach.
    pub fn rules(&self, exports: &Exports) -> u64 {
        self.files()
            .into_iter()
            .filter_map(|file| exports.files.get(file))
            .fold(0, |rules, file| rules | file.rules())
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
