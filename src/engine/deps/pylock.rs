//! Python lockfiles beyond `poetry.lock`: `uv.lock`, `pdm.lock` (TOML, read
//! with `toml::Spanned` for the entry lines, like `poetry.lock`) and
//! `Pipfile.lock` (JSON).
//!
//! - `uv.lock`: the project is the entry whose `source` is `editable` or
//!   `virtual`; its `dependencies` are direct, its `dev-dependencies` (or
//!   `[package.dev-dependencies]` groups) make what only they pull in dev.
//! - `pdm.lock`: `groups` without `default` means dev; `dependencies` are
//!   PEP 508 strings whose names give the parents.
//! - `Pipfile.lock`: `default` and `develop` sections; a package only in
//!   `develop` is dev. It records no parents and no direct/transitive.

use super::model::{Ecosystem, LineIndex, Package, ReadError, Resolved};
use super::npm::Ordered;
use serde::Deserialize;
use std::collections::{HashMap, HashSet, VecDeque};
use toml::Spanned;

const PYPI: Ecosystem = Ecosystem::PyPI;

/// The `[[package]]` header line above an entry's `name` (TOML writers put
/// `name` first).
fn header_of(name_line: u32) -> u32 {
    name_line.saturating_sub(1).max(1)
}

#[derive(Deserialize)]
struct UvLock {
    #[serde(default)]
    package: Vec<UvEntry>,
}

#[derive(Deserialize)]
struct UvEntry {
    name: Spanned<String>,
    version: Option<Spanned<String>>,
    #[serde(default)]
    source: HashMap<String, toml::Value>,
    #[serde(default)]
    dependencies: Vec<UvDependency>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: HashMap<String, Vec<UvDependency>>,
    #[serde(default, rename = "dev-dependencies")]
    dev_dependencies: HashMap<String, Vec<UvDependency>>,
}

#[derive(Deserialize)]
struct UvDependency {
    name: String,
}

/// Everything reachable from `roots` through `children` (bounded by the
/// number of names, each visited once).
fn closure(roots: Vec<String>, children: &HashMap<String, Vec<String>>) -> HashSet<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<String> = roots.into_iter().collect();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        for child in children.get(&name).into_iter().flatten() {
            if !seen.contains(child) {
                queue.push_back(child.clone());
            }
        }
    }
    seen
}

/// Reads a `uv.lock`.
pub fn read_uv(text: &str) -> Result<Resolved, ReadError> {
    let lines = LineIndex::new(text);
    let lock: UvLock = toml::from_str(text).map_err(|e| ReadError::from_toml(&lines, &e))?;
    let project = |entry: &UvEntry| {
        entry.source.contains_key("editable") || entry.source.contains_key("virtual")
    };
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
    let (mut runtime_roots, mut dev_roots) = (Vec::new(), Vec::new());
    for entry in &lock.package {
        let name = PYPI.normalise_name(entry.name.get_ref());
        let runtime: Vec<String> = entry
            .dependencies
            .iter()
            .chain(entry.optional_dependencies.values().flatten())
            .map(|d| PYPI.normalise_name(&d.name))
            .collect();
        let dev: Vec<String> = entry
            .dev_dependencies
            .values()
            .flatten()
            .map(|d| PYPI.normalise_name(&d.name))
            .collect();
        for child in runtime.iter().chain(&dev) {
            parents_of
                .entry(child.clone())
                .or_default()
                .push(entry.name.get_ref().clone());
        }
        if project(entry) {
            runtime_roots.extend(runtime.iter().cloned());
            dev_roots.extend(dev);
        }
        children.entry(name).or_default().extend(runtime);
    }
    let direct: HashSet<String> = runtime_roots.iter().chain(&dev_roots).cloned().collect();
    let runtime = closure(runtime_roots, &children);
    let dev = closure(dev_roots, &children);
    let mut resolved = Resolved::default();
    for entry in lock.package.iter().filter(|e| !project(e)) {
        // A package without a version comes from a path or URL: not a release.
        let Some(version) = &entry.version else {
            continue;
        };
        let name = PYPI.normalise_name(entry.name.get_ref());
        let name_line = lines.line_of(entry.name.span().start);
        resolved.packages.push(Package {
            name: entry.name.get_ref().clone(),
            version: version.get_ref().clone(),
            ecosystem: PYPI,
            direct: Some(direct.contains(&name)),
            dev: Some(dev.contains(&name) && !runtime.contains(&name)),
            lines: (header_of(name_line), lines.line_of(version.span().start)),
            parents: parents_of.get(&name).cloned().unwrap_or_default(),
            pinned: false,
            license: None,
        });
    }
    Ok(resolved)
}

#[derive(Deserialize)]
struct PdmLock {
    #[serde(default)]
    package: Vec<PdmEntry>,
}

#[derive(Deserialize)]
struct PdmEntry {
    name: Spanned<String>,
    version: Spanned<String>,
    groups: Option<Vec<String>>,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// The distribution name a PEP 508 string starts with (`requests[socks]>=2`
/// → `requests`): a name is letters, digits, `-`, `_` and `.`.
fn requirement_name(requirement: &str) -> &str {
    let trimmed = requirement.trim_start();
    let end = trimmed
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(trimmed.len());
    &trimmed[..end]
}

/// Reads a `pdm.lock`.
pub fn read_pdm(text: &str) -> Result<Resolved, ReadError> {
    let lines = LineIndex::new(text);
    let lock: PdmLock = toml::from_str(text).map_err(|e| ReadError::from_toml(&lines, &e))?;
    let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
    for entry in &lock.package {
        for dependency in &entry.dependencies {
            let child = requirement_name(dependency);
            if !child.is_empty() {
                parents_of
                    .entry(PYPI.normalise_name(child))
                    .or_default()
                    .push(entry.name.get_ref().clone());
            }
        }
    }
    let packages = lock
        .package
        .iter()
        .map(|entry| {
            let name_line = lines.line_of(entry.name.span().start);
            let parents = parents_of
                .get(&PYPI.normalise_name(entry.name.get_ref()))
                .cloned()
                .unwrap_or_default();
            Package {
                name: entry.name.get_ref().clone(),
                version: entry.version.get_ref().clone(),
                ecosystem: PYPI,
                // pdm records requests only in pyproject.toml.
                direct: None,
                dev: entry
                    .groups
                    .as_ref()
                    .map(|groups| !groups.iter().any(|g| g == "default")),
                lines: (
                    header_of(name_line),
                    lines.line_of(entry.version.span().start),
                ),
                parents,
                pinned: false,
                license: None,
            }
        })
        .collect();
    Ok(Resolved {
        packages,
        notes: Vec::new(),
    })
}

#[derive(Deserialize)]
struct PipfileLock {
    #[serde(default)]
    default: Ordered<PipfileEntry>,
    #[serde(default)]
    develop: Ordered<PipfileEntry>,
}

#[derive(Deserialize)]
struct PipfileEntry {
    version: Option<String>,
}

/// Reads a `Pipfile.lock`.
pub fn read_pipfile(text: &str) -> Result<Resolved, ReadError> {
    let lock: PipfileLock = serde_json::from_str(text).map_err(|error| ReadError {
        line: u32::try_from(error.line()).ok(),
        reason: error.to_string(),
    })?;
    let lines = LineIndex::new(text);
    let runtime: HashSet<String> = lock
        .default
        .0
        .iter()
        .map(|(n, _)| PYPI.normalise_name(n))
        .collect();
    let mut resolved = Resolved::default();
    let mut unpinned = 0usize;
    for (section_key, entries, dev) in [
        ("default", &lock.default.0, false),
        ("develop", &lock.develop.0, true),
    ] {
        // Entries are found in the text after their section's key, in order.
        let mut cursor = text.find(&format!("\"{section_key}\"")).unwrap_or(0);
        for (name, entry) in entries {
            if dev && runtime.contains(&PYPI.normalise_name(name)) {
                continue;
            }
            let Some(version) = entry.version.as_deref().and_then(|v| v.strip_prefix("==")) else {
                unpinned += 1;
                continue;
            };
            let needle = match serde_json::to_string(name) {
                Ok(quoted) => format!("{quoted}: {{"),
                Err(_) => continue,
            };
            let at = text
                .get(cursor..)
                .and_then(|rest| rest.find(&needle))
                .map(|i| i + cursor);
            let (first, last) = match at {
                Some(at) => {
                    cursor = at + needle.len();
                    let first = lines.line_of(at);
                    let last = text[cursor..]
                        .lines()
                        .take(64)
                        .position(|l| l.trim_start().starts_with("\"version\":"))
                        .map_or(first, |n| first + u32::try_from(n).unwrap_or(0));
                    (first, last)
                }
                None => (1, 1),
            };
            resolved.packages.push(Package {
                name: name.clone(),
                version: version.trim().to_owned(),
                ecosystem: PYPI,
                direct: None,
                dev: Some(dev),
                lines: (first, last),
                parents: Vec::new(),
                pinned: false,
                license: None,
            });
        }
    }
    if unpinned > 0 {
        resolved.notes.push(format!(
            "{unpinned} entr{} without an `==` version (a VCS or path source) not checked",
            if unpinned == 1 { "y" } else { "ies" }
        ));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(resolved: &Resolved) -> Vec<crate::engine::deps::model::TestRow<'_>> {
        resolved.test_rows()
    }

    #[test]
    fn uv_lock_direct_transitive_and_dev() {
        let text = r#"version = 1
requires-python = ">=3.11"

[[package]]
name = "certifi"
version = "2024.2.2"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "inventory"
version = "0.3.0"
source = { editable = "." }
dependencies = [
    { name = "requests" },
]

[package.dev-dependencies]
dev = [
    { name = "pytest" },
]

[[package]]
name = "pytest"
version = "8.0.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "requests"
version = "2.31.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "certifi" },
]
"#;
        let resolved = read_uv(text).expect("reads");
        assert_eq!(
            rows(&resolved),
            vec![
                ("certifi", "2024.2.2", Some(false), Some(false), (4, 6)),
                ("pytest", "8.0.0", Some(true), Some(true), (22, 24)),
                ("requests", "2.31.0", Some(true), Some(false), (27, 29)),
            ]
        );
        assert_eq!(
            resolved.path_to(0),
            Some(vec!["requests".into(), "certifi".into()])
        );
    }

    #[test]
    fn pdm_lock_groups_and_parents() {
        let text = r#"[metadata]
groups = ["default", "test"]

[[package]]
name = "idna"
version = "3.6"
groups = ["default"]

[[package]]
name = "pytest-mock"
version = "3.12.0"
groups = ["test"]
dependencies = [
    "pytest>=6.2.5",
]

[[package]]
name = "httpx"
version = "0.27.0"
groups = ["default"]
dependencies = [
    "idna",
    "sniffio; python_version < \"3.12\"",
]
"#;
        let resolved = read_pdm(text).expect("reads");
        assert_eq!(
            rows(&resolved),
            vec![
                ("idna", "3.6", None, Some(false), (4, 6)),
                ("pytest-mock", "3.12.0", None, Some(true), (9, 11)),
                ("httpx", "0.27.0", None, Some(false), (17, 19)),
            ]
        );
        assert_eq!(resolved.packages[0].parents, vec!["httpx".to_owned()]);
    }

    #[test]
    fn pipfile_lock_sections_and_lines() {
        let text = r#"{
    "_meta": {
        "hash": {"sha256": "aa"},
        "pipfile-spec": 6
    },
    "default": {
        "django": {
            "hashes": [
                "sha256:00"
            ],
            "index": "pypi",
            "version": "==3.2.0"
        },
        "mylib": {
            "editable": true,
            "path": "."
        }
    },
    "develop": {
        "pytest": {
            "hashes": [],
            "version": "==7.0.0"
        }
    }
}
"#;
        let resolved = read_pipfile(text).expect("reads");
        assert_eq!(
            rows(&resolved),
            vec![
                ("django", "3.2.0", None, Some(false), (7, 12)),
                ("pytest", "7.0.0", None, Some(true), (20, 22)),
            ]
        );
        assert_eq!(resolved.notes.len(), 1, "the editable path entry is noted");
        let error = read_pipfile("{\n  \"default\": {\n").expect_err("truncated");
        assert!(error.line.is_some(), "{error}");
    }
}
