//! `pyproject.toml`: the project's own requirements (PEP 621
//! `[project] dependencies` and `optional-dependencies`, PEP 735
//! `[dependency-groups]`), each a PEP 508 string parsed by `pep508_rs`.
//! Like `requirements*.txt`, only an exact pin (`==`/`===` one version)
//! names a version to check; a range is left to the lockfile beside the
//! file, which resolves it. Every entry is direct; those
//! of a dependency group named like a development one (`dev`, `test`,
//! `lint`, `docs`, …) are dev.

use super::model::{Ecosystem, LineIndex, Package, ReadError, Resolved};
use pep508_rs::{Requirement, VersionOrUrl};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::str::FromStr;
use toml::Spanned;

#[derive(Deserialize, Default)]
struct PyProject {
    #[serde(default)]
    project: Project,
    #[serde(default, rename = "dependency-groups")]
    dependency_groups: BTreeMap<String, Vec<Spanned<toml::Value>>>,
}

#[derive(Deserialize, Default)]
struct Project {
    #[serde(default)]
    dependencies: Vec<Spanned<String>>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: BTreeMap<String, Vec<Spanned<String>>>,
}

/// Group names that mean development, by convention.
const DEV_GROUPS: [&str; 6] = ["dev", "test", "tests", "lint", "docs", "typing"];

/// Reads a `pyproject.toml`.
pub fn read(text: &str) -> Result<Resolved, ReadError> {
    let lines = LineIndex::new(text);
    let file: PyProject =
        toml::from_str(text).map_err(|error| ReadError::from_toml(&lines, &error))?;
    let mut resolved = Resolved::default();
    let add = |requirement: &Spanned<String>, dev: bool, resolved: &mut Resolved| {
        let Ok(parsed) = Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement.get_ref())
        else {
            resolved.notes.push(format!(
                "requirement {:?} does not parse (PEP 508)",
                requirement.get_ref().chars().take(80).collect::<String>()
            ));
            return;
        };
        let pin = match &parsed.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specifiers)) if specifiers.len() == 1 => {
                specifiers.iter().next().and_then(|s| {
                    matches!(
                        s.operator(),
                        pep508_rs::pep440_rs::Operator::Equal
                            | pep508_rs::pep440_rs::Operator::ExactEqual
                    )
                    .then(|| s.version().to_string())
                })
            }
            _ => None,
        };
        // A range is the lockfile's to resolve: not noted, or every
        // change to the file would carry a line about it.
        let Some(version) = pin else {
            return;
        };
        let line = lines.line_of(requirement.span().start);
        resolved.packages.push(Package {
            name: parsed.name.to_string(),
            version,
            ecosystem: Ecosystem::PyPI,
            direct: Some(true),
            dev: Some(dev),
            lines: (line, line),
            parents: Vec::new(),
            pinned: true,
            license: None,
        });
    };
    for requirement in &file.project.dependencies {
        add(requirement, false, &mut resolved);
    }
    for requirement in file.project.optional_dependencies.values().flatten() {
        add(requirement, false, &mut resolved);
    }
    for (group, entries) in &file.dependency_groups {
        let dev = DEV_GROUPS.contains(&group.as_str());
        for entry in entries {
            // An `{include-group = "…"}` table names another group, read on its own.
            if let toml::Value::String(text) = entry.get_ref() {
                add(
                    &Spanned::new(entry.span(), text.clone()),
                    dev,
                    &mut resolved,
                );
            }
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_pins_are_packages_and_the_rest_is_noted() {
        let text = r#"[project]
name = "ledger"
version = "1.0.0"
dependencies = [
    "requests==2.19.0",
    "Flask>=2.0",
    "urllib3 == 1.24.1 ; python_version >= '3.8'",
]

[project.optional-dependencies]
s3 = ["boto3===1.34.0"]

[dependency-groups]
test = [
    "pytest==8.0.0",
    {include-group = "lint"},
]
lint = ["ruff==0.4.0"]
"#;
        let resolved = read(text).expect("reads");
        let rows: Vec<(&str, &str, u32, Option<bool>)> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.lines.0, p.dev))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("requests", "2.19.0", 5, Some(false)),
                ("urllib3", "1.24.1", 7, Some(false)),
                ("boto3", "1.34.0", 11, Some(false)),
                ("ruff", "0.4.0", 18, Some(true)),
                ("pytest", "8.0.0", 15, Some(true)),
            ]
        );
        assert!(
            resolved
                .packages
                .iter()
                .all(|p| p.pinned && p.direct == Some(true))
        );
        assert!(resolved.notes.is_empty(), "{:?}", resolved.notes);
        let error = read("[project]\ndependencies = [\"a==1\"\n").expect_err("truncated");
        assert!(error.line.is_some(), "{error}");
    }
}
