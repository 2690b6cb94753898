//! `Cargo.toml`: the exact pins (`"=1.6.0"`) of a crate's
//! `[dependencies]`, `[dev-dependencies]` and `[build-dependencies]`
//! (also under `[target.'…'.…]`) and of a workspace's
//! `[workspace.dependencies]`. As for `pyproject.toml`, only an exact pin
//! names one version; a requirement such as `"1.6"` is a range that
//! `Cargo.lock` resolves and is checked there. A pin is what the author
//! edits, so a vulnerable one gets the fixed version as a suggestion.
//!
//! Every entry is direct; `dev-dependencies` are dev. A renamed
//! dependency (`package = "…"`) is checked under the crate's real name.

use super::model::{Ecosystem, LineIndex, Package, ReadError, Resolved};
use crate::diff::FileStatus;
use crate::engine::{ChangedFile, Content};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use toml::Spanned;

type Table = BTreeMap<String, Spanned<toml::Value>>;

#[derive(Deserialize, Default)]
struct Manifest {
    #[serde(default)]
    dependencies: Table,
    #[serde(default, rename = "dev-dependencies")]
    dev_dependencies: Table,
    #[serde(default, rename = "build-dependencies")]
    build_dependencies: Table,
    #[serde(default)]
    target: BTreeMap<String, Target>,
    #[serde(default)]
    workspace: Workspace,
}

#[derive(Deserialize, Default)]
struct Target {
    #[serde(default)]
    dependencies: Table,
    #[serde(default, rename = "dev-dependencies")]
    dev_dependencies: Table,
    #[serde(default, rename = "build-dependencies")]
    build_dependencies: Table,
}

#[derive(Deserialize, Default)]
struct Workspace {
    #[serde(default)]
    dependencies: Table,
}

/// Reads a `Cargo.toml`.
pub fn read(text: &str) -> Result<Resolved, ReadError> {
    let lines = LineIndex::new(text);
    let manifest: Manifest =
        toml::from_str(text).map_err(|error| ReadError::from_toml(&lines, &error))?;
    let mut resolved = Resolved::default();
    let mut tables: Vec<(&Table, Option<bool>)> = vec![
        (&manifest.dependencies, Some(false)),
        (&manifest.dev_dependencies, Some(true)),
        (&manifest.build_dependencies, Some(false)),
    ];
    for target in manifest.target.values() {
        tables.push((&target.dependencies, Some(false)));
        tables.push((&target.dev_dependencies, Some(true)));
        tables.push((&target.build_dependencies, Some(false)));
    }
    // Shared by members that may use them as dev or not: the root cannot say.
    tables.push((&manifest.workspace.dependencies, None));
    for (table, dev) in tables {
        for (key, value) in table {
            if let Some(package) = pin(text, &lines, key, value, dev) {
                resolved.packages.push(package);
            }
        }
    }
    resolved.packages.sort_by_key(|p| p.lines);
    Ok(resolved)
}

/// The package an entry pins exactly, if it does.
fn pin(
    text: &str,
    lines: &LineIndex,
    key: &str,
    value: &Spanned<toml::Value>,
    dev: Option<bool>,
) -> Option<Package> {
    let (name, requirement) = match value.get_ref() {
        toml::Value::String(requirement) => (key, requirement.as_str()),
        toml::Value::Table(table) => (
            table
                .get("package")
                .and_then(toml::Value::as_str)
                .unwrap_or(key),
            table.get("version")?.as_str()?,
        ),
        _ => return None,
    };
    let exact = requirement.trim().strip_prefix('=')?.trim();
    // `=1.6` still allows every 1.6.x: only a full version is one version.
    semver::Version::parse(exact).ok()?;
    // The requirement's own line: the entry's, or in a
    // `[dependencies.name]` table (whose span is its header) the
    // `version = …` line below it, before the next table.
    let start = value.span().start;
    let at = text
        .get(start..)
        .and_then(|rest| {
            let end = rest.find("\n[").unwrap_or(rest.len());
            rest[..end].find(requirement.trim())
        })
        .map_or(start, |i| start + i);
    let line = lines.line_of(at);
    Some(Package {
        name: name.to_owned(),
        version: exact.to_owned(),
        ecosystem: Ecosystem::CratesIo,
        direct: Some(true),
        dev,
        lines: (line, line),
        parents: Vec::new(),
        pinned: true,
        license: None,
    })
}

/// The head `Cargo.toml` files of a change: (directory, text).
pub fn changed_manifests<'a>(
    files: impl Iterator<Item = &'a ChangedFile>,
) -> Vec<(String, &'a str)> {
    files
        .filter(|f| f.diff.status != FileStatus::Removed)
        .filter_map(|f| {
            let path = f.diff.path.as_str();
            let dir = match path.rsplit_once('/') {
                Some((dir, "Cargo.toml")) => dir,
                None if path == "Cargo.toml" => "",
                _ => return None,
            };
            match &f.head {
                Content::Text(text) => Some((dir.to_owned(), text.as_str())),
                _ => None,
            }
        })
        .collect()
}

/// The crates that the manifests of the workspace of the `Cargo.lock` at
/// `lock_path` (its folder and below) list only as dev-dependencies;
/// `None` when no such manifest changed or one does not parse (nothing is
/// then claimed).
pub fn dev_only_for(lock_path: &str, manifests: &[(String, &str)]) -> Option<HashSet<String>> {
    let dir = lock_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut normal = HashSet::new();
    let mut dev = HashSet::new();
    let mut any = false;
    for (manifest_dir, text) in manifests {
        let inside = dir.is_empty()
            || manifest_dir == dir
            || manifest_dir
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'));
        if !inside {
            continue;
        }
        let manifest: Manifest = toml::from_str(text).ok()?;
        any = true;
        let mut tables = vec![
            (&manifest.dependencies, false),
            (&manifest.build_dependencies, false),
            (&manifest.dev_dependencies, true),
        ];
        for target in manifest.target.values() {
            tables.push((&target.dependencies, false));
            tables.push((&target.build_dependencies, false));
            tables.push((&target.dev_dependencies, true));
        }
        for (table, is_dev) in tables {
            for (key, value) in table {
                let name = match value.get_ref() {
                    toml::Value::Table(t) => t.get("package").and_then(toml::Value::as_str),
                    _ => None,
                }
                .unwrap_or(key);
                if is_dev {
                    dev.insert(name.to_owned());
                } else {
                    normal.insert(name.to_owned());
                }
            }
        }
    }
    any.then(|| dev.difference(&normal).cloned().collect())
}

/// `side` with its direct packages marked dev or not by `dev_only`.
pub fn mark_dev(side: &Resolved, dev_only: &HashSet<String>) -> Resolved {
    let mut marked = side.clone();
    for package in &mut marked.packages {
        if package.direct == Some(true) {
            package.dev = Some(dev_only.contains(&package.name));
        }
    }
    marked
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"[package]
name = "ledger"
version = "0.1.0"

[dependencies]
smallvec = "=1.6.0"
serde = { version = "1.0", features = ["derive"] }
time = { version = "= 0.1.45" }
fast = { package = "hashbrown", version = "=0.9.0" }
loose = "=1.2"

[dev-dependencies]
proptest = "=1.0.0"

[target.'cfg(unix)'.dependencies]
libc = "=0.2.150"

[dependencies.regex]
features = ["unicode"]
version = "=1.5.4"
"#;

    #[test]
    fn exact_pins_with_their_lines_and_tables() {
        let resolved = read(MANIFEST).expect("reads");
        let got: Vec<(&str, &str, Option<bool>, u32)> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.dev, p.lines.0))
            .collect();
        assert_eq!(
            got,
            vec![
                ("smallvec", "1.6.0", Some(false), 6),
                ("time", "0.1.45", Some(false), 8),
                ("hashbrown", "0.9.0", Some(false), 9),
                ("proptest", "1.0.0", Some(true), 13),
                ("libc", "0.2.150", Some(false), 16),
                ("regex", "1.5.4", Some(false), 20),
            ],
            "ranges (`1.0`, `=1.2`) are left to Cargo.lock"
        );
        assert!(
            resolved
                .packages
                .iter()
                .all(|p| p.pinned && p.direct == Some(true))
        );
    }

    #[test]
    fn dev_only_crates_of_the_lockfiles_workspace() {
        let root = "[workspace]\nmembers = [\"app\"]\n";
        let app = "[dependencies]\nserde = \"1\"\n\n[dev-dependencies]\nproptest = \"1\"\nserde = \"1\"\n\n[target.'cfg(unix)'.dev-dependencies]\nfast = { package = \"hashbrown\", version = \"0.9\" }\n";
        let manifests = [
            (String::new(), root),
            ("app".to_owned(), app),
            (
                "elsewhere".to_owned(),
                "[dev-dependencies]\nregex = \"1\"\n",
            ),
        ];
        let mut got: Vec<String> = dev_only_for("Cargo.lock", &manifests[..2])
            .expect("manifests")
            .into_iter()
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec!["hashbrown", "proptest"],
            "serde is also a normal dependency"
        );
        assert_eq!(
            dev_only_for("app/Cargo.lock", &manifests[2..]),
            None,
            "a manifest outside the lockfile's folder says nothing of it"
        );
        assert_eq!(
            dev_only_for("Cargo.lock", &[(String::new(), "[broken")]),
            None
        );
    }

    #[test]
    fn workspace_pins_and_bad_toml() {
        let resolved = read(
            "[workspace]\nmembers = [\"a\"]\n\n[workspace.dependencies]\nring = \"=0.16.20\"\n",
        )
        .expect("reads");
        assert_eq!(resolved.packages.len(), 1);
        assert_eq!(resolved.packages[0].lines, (5, 5));
        assert_eq!(resolved.packages[0].dev, None);
        let error = read("[dependencies]\nsmallvec = \"=1.6.0\n").expect_err("unterminated");
        assert_eq!(error.line, Some(2), "{error}");
    }
}
