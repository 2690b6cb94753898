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
use serde::Deserialize;
use std::collections::BTreeMap;
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
    let manifest: Manifest = toml::from_str(text).map_err(|error| {
        ReadError::at_offset(
            &lines,
            error.span().map(|s| s.start),
            error.message().to_owned(),
        )
    })?;
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
