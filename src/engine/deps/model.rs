//! What every lockfile reader produces: the resolved packages of one side of
//! a file, each with the lines that declare it, so that a finding can sit on
//! the entry (or pinned line) a pull request changed.

use std::collections::{HashMap, HashSet, VecDeque};

/// A package ecosystem, named as OSV names it (`affected[].package.ecosystem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    /// Rust crates (`Cargo.lock`).
    CratesIo,
    /// JavaScript packages (`package-lock.json`, `yarn.lock`).
    Npm,
    /// Python packages (`requirements*.txt`, `poetry.lock`).
    PyPI,
    /// Go modules (`go.mod`).
    Go,
    /// Ruby gems (`Gemfile.lock`).
    RubyGems,
    /// PHP packages (`composer.lock`).
    Packagist,
}

impl Ecosystem {
    /// Every ecosystem the analyzer reads.
    pub const ALL: [Ecosystem; 6] = [
        Ecosystem::CratesIo,
        Ecosystem::Npm,
        Ecosystem::PyPI,
        Ecosystem::Go,
        Ecosystem::RubyGems,
        Ecosystem::Packagist,
    ];

    /// OSV's name, also the folder name in the advisory database.
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Go => "Go",
            Ecosystem::RubyGems => "RubyGems",
            Ecosystem::Packagist => "Packagist",
        }
    }

    /// The ecosystem OSV calls `name` (exactly; OSV's names are case-sensitive).
    pub fn from_osv(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.osv_name() == name)
    }

    /// The name under which a package is looked up: PyPI names are
    /// case-insensitive with `-`, `_` and `.` equivalent (PEP 503);
    /// Packagist's are lower-case by rule (Composer lower-cases what it is
    /// given); the others compare exactly.
    pub fn normalise_name(self, name: &str) -> String {
        match self {
            Ecosystem::PyPI => {
                let mut out = String::with_capacity(name.len());
                let mut separator = false;
                for c in name.trim().chars() {
                    if matches!(c, '-' | '_' | '.') {
                        separator = true;
                    } else {
                        if separator && !out.is_empty() {
                            out.push('-');
                        }
                        separator = false;
                        // ASCII without Unicode's case tables: nearly every
                        // name, and a lookup key of each package reviewed.
                        if c.is_ascii() {
                            out.push(c.to_ascii_lowercase());
                        } else {
                            out.extend(c.to_lowercase());
                        }
                    }
                }
                out
            }
            Ecosystem::Packagist => name.trim().to_ascii_lowercase(),
            _ => name.to_owned(),
        }
    }

    /// Every OSV name, for messages (`crates.io, npm, …`).
    pub fn names() -> String {
        Self::ALL.map(Self::osv_name).join(", ")
    }
}

/// One resolved package on one side of a lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The name as the file writes it.
    pub name: String,
    /// The resolved version as the file writes it (Go's keep their `v`).
    pub version: String,
    /// Which registry it comes from.
    pub ecosystem: Ecosystem,
    /// Whether the project itself asks for it; `None` when the file does not say.
    pub direct: Option<bool>,
    /// Whether only development needs it; `None` when the file does not say.
    pub dev: Option<bool>,
    /// 1-based first and last line of its entry (header to version line).
    pub lines: (u32, u32),
    /// Names of the packages that depend on it, as the file records them.
    pub parents: Vec<String>,
    /// The line pins the version in a manifest the author edits (a
    /// `requirements.txt` line, a `go.mod` require): a fix can be suggested.
    pub pinned: bool,
    /// The licence (an SPDX expression, as written) when the lockfile states
    /// it (npm's `license` field); `None` otherwise.
    pub license: Option<String>,
}

/// One side of a lockfile, read.
#[derive(Debug, Default, Clone)]
pub struct Resolved {
    /// Every package entry, in file order.
    pub packages: Vec<Package>,
    /// Entries the reader left out, with why (a requirement without `==`).
    pub notes: Vec<String>,
}

/// A package as the readers' tests compare it: name, version, direct, dev,
/// lines.
#[cfg(test)]
pub type TestRow<'a> = (&'a str, &'a str, Option<bool>, Option<bool>, (u32, u32));

#[cfg(test)]
impl Resolved {
    /// Each package as a [`TestRow`], in file order.
    pub fn test_rows(&self) -> Vec<TestRow<'_>> {
        self.packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.direct,
                    p.dev,
                    p.lines,
                )
            })
            .collect()
    }
}

/// Why a file could not be read: the parser's line (when it knows it) and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// 1-based line.
    pub line: Option<u32>,
    /// The parser's reason.
    pub reason: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl ReadError {
    /// An error at a byte offset of `text`.
    pub fn at_offset(lines: &LineIndex, offset: Option<usize>, reason: impl Into<String>) -> Self {
        Self {
            line: offset.map(|o| lines.line_of(o)),
            reason: reason.into(),
        }
    }

    /// A TOML parser's error, at the line its span starts on.
    pub fn from_toml(lines: &LineIndex, error: &toml::de::Error) -> Self {
        Self::at_offset(
            lines,
            error.span().map(|s| s.start),
            error.message().to_owned(),
        )
    }
}

/// Byte offset to 1-based line number.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `text`.
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> u32 {
        let index = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        u32::try_from(index + 1).unwrap_or(u32::MAX)
    }

    /// The lines of a JSON lockfile entry whose key is at byte `key` of
    /// `text` and whose body starts at byte `body`: from the key's line to
    /// its `"version":` line, looked for within `within` lines (the key's
    /// line alone when there is none).
    pub fn json_entry(&self, text: &str, key: usize, body: usize, within: usize) -> (u32, u32) {
        let first = self.line_of(key);
        let version = text
            .get(body..)
            .unwrap_or("")
            .lines()
            .take(within)
            .position(|line| line.trim_start().starts_with("\"version\":"));
        let last = version.map_or(first, |n| first + u32::try_from(n).unwrap_or(0));
        (first, last)
    }
}

/// Longest dependency path shown, and the most packages a path search visits.
const MAX_PATH: usize = 8;
const MAX_VISITED: usize = 10_000;

impl Resolved {
    /// The chain of names from a direct dependency down to `index`'s
    /// package; see [`Paths::to`].
    pub fn path_to(&self, index: usize) -> Option<Vec<String>> {
        self.paths().to(index)
    }

    /// A path finder over this side, its name map built once.
    pub fn paths(&self) -> Paths<'_> {
        Paths {
            resolved: self,
            by_name: self.packages.iter().map(|p| (p.name.as_str(), p)).collect(),
        }
    }
}

/// Finds paths from direct dependencies (see [`Resolved::paths`]).
pub struct Paths<'a> {
    resolved: &'a Resolved,
    by_name: HashMap<&'a str, &'a Package>,
}

impl Paths<'_> {
    /// The chain of names from a direct dependency down to `index`'s
    /// package (`["a", "b", "name"]`), following the recorded parents
    /// breadth-first; `None` when the package is direct or the file does not
    /// record enough to tell.
    pub fn to(&self, index: usize) -> Option<Vec<String>> {
        let target = self.resolved.packages.get(index)?;
        if target.direct != Some(false) {
            return None;
        }
        let mut previous: HashMap<&str, &str> = HashMap::new();
        let mut seen: HashSet<&str> = HashSet::from([target.name.as_str()]);
        let mut queue = VecDeque::from([target.name.as_str()]);
        while let Some(name) = queue.pop_front() {
            if seen.len() > MAX_VISITED {
                return None;
            }
            let Some(package) = self.by_name.get(name) else {
                continue;
            };
            if package.direct == Some(true) {
                let mut chain = vec![name.to_owned()];
                let mut at = name;
                while let Some(next) = previous.get(at) {
                    chain.push((*next).to_owned());
                    at = next;
                }
                if chain.len() > MAX_PATH {
                    let last = chain.len() - 1;
                    chain.drain(2..last);
                    chain.insert(2, "…".into());
                }
                return Some(chain);
            }
            for parent in &package.parents {
                if seen.insert(parent.as_str()) {
                    previous.insert(parent.as_str(), name);
                    queue.push_back(parent.as_str());
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, direct: bool, parents: &[&str]) -> Package {
        Package {
            name: name.into(),
            version: "1.0.0".into(),
            ecosystem: Ecosystem::Npm,
            direct: Some(direct),
            dev: None,
            lines: (1, 1),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            pinned: false,
            license: None,
        }
    }

    #[test]
    fn path_runs_from_a_direct_dependency_down_to_the_package() {
        let resolved = Resolved {
            packages: vec![
                package("app-dep", true, &[]),
                package("middle", false, &["app-dep"]),
                package("leaf", false, &["middle", "leaf"]),
            ],
            notes: vec![],
        };
        assert_eq!(
            resolved.path_to(2),
            Some(vec!["app-dep".into(), "middle".into(), "leaf".into()])
        );
        assert_eq!(resolved.path_to(0), None, "direct: no path");
    }

    #[test]
    fn pypi_names_fold_case_and_separators() {
        let e = Ecosystem::PyPI;
        assert_eq!(
            e.normalise_name("Django_REST.framework"),
            "django-rest-framework"
        );
        assert_eq!(e.normalise_name("a--b"), "a-b");
        assert_eq!(Ecosystem::Npm.normalise_name("@Scope/X"), "@Scope/X");
    }

    #[test]
    fn offsets_map_to_lines() {
        let index = LineIndex::new("a\nbc\n\nd");
        assert_eq!(index.line_of(0), 1);
        assert_eq!(index.line_of(2), 2);
        assert_eq!(index.line_of(5), 3);
        assert_eq!(index.line_of(6), 4);
    }
}
