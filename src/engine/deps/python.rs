//! Python: pinned `requirements*.txt` and `poetry.lock`.
//!
//! A requirements line is parsed by `pep508_rs` once pip's own syntax is
//! taken off it (comments, `--hash` options, `\` continuations); only a
//! pin (`==`/`===` one version) names a version to check, other lines are
//! counted in a note. pip-compile's `# via` comments say who pulled a
//! package in: `-r file` or nothing means direct, package names mean
//! transitive with those parents.
//!
//! `poetry.lock` is TOML read with `toml::Spanned` for the entry lines;
//! dev-ness is `category = "dev"` (Poetry 1.0–1.4) or `groups` without
//! `main` (Poetry 2).

use super::model::{Ecosystem, LineIndex, Package, ReadError, Resolved};
use pep508_rs::{Requirement, VersionOrUrl};
use serde::Deserialize;
use std::collections::HashMap;
use std::str::FromStr;
use toml::Spanned;

/// Reads a `requirements*.txt`.
pub fn read_requirements(text: &str) -> Result<Resolved, ReadError> {
    let mut resolved = Resolved::default();
    let mut unpinned = 0usize;
    // The requirement a following `# via` block describes.
    let mut last: Option<usize> = None;
    let mut via_open = false;
    let mut logical = String::new();
    let mut logical_start = 0u32;
    for (index, raw) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let trimmed = raw.trim();
        if logical.is_empty() && trimmed.starts_with('#') {
            let comment = trimmed.trim_start_matches('#').trim();
            if let Some(package) = last.and_then(|i| resolved.packages.get_mut(i)) {
                if let Some(rest) = comment.strip_prefix("via") {
                    via_open = true;
                    // Transitive unless a `-r` line of the block says otherwise.
                    package.direct = Some(false);
                    add_via(package, rest.trim());
                    continue;
                }
                if via_open && raw.starts_with("    #   ") {
                    add_via(package, comment);
                    continue;
                }
            }
            via_open = false;
            continue;
        }
        via_open = false;
        if trimmed.is_empty() {
            continue;
        }
        if logical.is_empty() {
            logical_start = number;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            logical.push_str(continued);
            logical.push(' ');
            continue;
        }
        logical.push_str(trimmed);
        let line = std::mem::take(&mut logical);
        last = None;
        // Options (`-r`, `-e`, `--index-url`) are not requirements.
        if line.starts_with('-') {
            continue;
        }
        let spec = strip_pip_syntax(&line);
        if spec.is_empty() {
            continue;
        }
        let requirement =
            Requirement::<pep508_rs::VerbatimUrl>::from_str(spec).map_err(|error| ReadError {
                line: Some(logical_start),
                reason: error.message.to_string(),
            })?;
        let pinned = match &requirement.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => {
                let mut iter = specifiers.iter();
                match (iter.next(), iter.next()) {
                    (Some(only), None)
                        if matches!(
                            only.operator(),
                            pep508_rs::pep440_rs::Operator::Equal
                                | pep508_rs::pep440_rs::Operator::ExactEqual
                        ) =>
                    {
                        Some(only.version().to_string())
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let Some(version) = pinned else {
            unpinned += 1;
            continue;
        };
        last = Some(resolved.packages.len());
        resolved.packages.push(Package {
            name: requirement.name.to_string(),
            version,
            ecosystem: Ecosystem::PyPI,
            direct: Some(true),
            dev: None,
            lines: (logical_start, number),
            parents: Vec::new(),
            pinned: true,
            license: None,
        });
    }
    if unpinned > 0 {
        resolved.notes.push(format!(
            "{unpinned} requirement{} without an exact `==` pin not checked",
            if unpinned == 1 { "" } else { "s" }
        ));
    }
    Ok(resolved)
}

/// pip's comment and per-requirement options, which PEP 508 does not know.
fn strip_pip_syntax(line: &str) -> &str {
    let without_comment = match line.find(" #") {
        Some(at) => &line[..at],
        None => line,
    };
    let end = without_comment.find(" --").unwrap_or(without_comment.len());
    without_comment[..end].trim()
}

fn add_via(package: &mut Package, via: &str) {
    if via.is_empty() {
        return;
    }
    if via.starts_with("-r") || via.starts_with("-c") || via.contains(".in") {
        package.direct = Some(true);
        return;
    }
    for name in via.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        package.parents.push(name.to_owned());
    }
}

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryEntry>,
}

#[derive(Deserialize)]
struct PoetryEntry {
    name: Spanned<String>,
    version: Spanned<String>,
    category: Option<String>,
    groups: Option<Vec<String>>,
    #[serde(default)]
    dependencies: HashMap<String, toml::Value>,
}

/// Reads a `poetry.lock`.
pub fn read_poetry(text: &str) -> Result<Resolved, ReadError> {
    let lines = LineIndex::new(text);
    let lock: PoetryLock =
        toml::from_str(text).map_err(|error| ReadError::from_toml(&lines, &error))?;
    let eco = Ecosystem::PyPI;
    let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
    for entry in &lock.package {
        for child in entry.dependencies.keys() {
            parents_of
                .entry(eco.normalise_name(child))
                .or_default()
                .push(entry.name.get_ref().clone());
        }
    }
    let packages = lock
        .package
        .iter()
        .map(|entry| {
            let dev = match (&entry.category, &entry.groups) {
                (Some(category), _) => Some(category == "dev"),
                (None, Some(groups)) => Some(!groups.iter().any(|g| g == "main")),
                (None, None) => None,
            };
            let name_line = lines.line_of(entry.name.span().start);
            let header = name_line.saturating_sub(1).max(1);
            Package {
                name: entry.name.get_ref().clone(),
                version: entry.version.get_ref().clone(),
                ecosystem: eco,
                direct: None,
                dev,
                lines: (header, lines.line_of(entry.version.span().start)),
                parents: parents_of
                    .get(&eco.normalise_name(entry.name.get_ref()))
                    .cloned()
                    .unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_hashes_continuations_and_via_comments() {
        let text = "\
# generated by pip-compile
--index-url https://pypi.org/simple
requests==2.19.0 \\
    --hash=sha256:abc
    # via -r requirements.in
urllib3==1.24.1
    # via
    #   requests
Django>=3.0  # not pinned
pyyaml===5.3 ; python_version >= \"3.8\"
";
        let resolved = read_requirements(text).expect("reads");
        type Row<'a> = (&'a str, &'a str, (u32, u32), Option<bool>);
        let got: Vec<Row<'_>> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.lines, p.direct))
            .collect();
        assert_eq!(
            got,
            vec![
                ("requests", "2.19.0", (3, 4), Some(true)),
                ("urllib3", "1.24.1", (6, 6), Some(false)),
                ("pyyaml", "5.3", (10, 10), Some(true)),
            ]
        );
        assert_eq!(resolved.packages[1].parents, vec!["requests".to_owned()]);
        assert_eq!(resolved.notes.len(), 1, "{:?}", resolved.notes);
    }

    #[test]
    fn a_broken_requirement_names_its_line() {
        let error = read_requirements("flask==2.0.0\nreq uests==1.0\n").expect_err("bad");
        assert_eq!(error.line, Some(2), "{error}");
    }

    #[test]
    fn poetry_dev_from_category_or_groups() {
        let text = r#"
[[package]]
name = "jinja2"
version = "2.10"
category = "main"

[package.dependencies]
MarkupSafe = ">=0.23"

[[package]]
name = "markupsafe"
version = "1.1.1"
groups = ["main"]

[[package]]
name = "pytest"
version = "7.0.0"
category = "dev"
"#;
        let resolved = read_poetry(text).expect("reads");
        let got: Vec<(&str, Option<bool>, (u32, u32))> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.dev, p.lines))
            .collect();
        assert_eq!(
            got,
            vec![
                ("jinja2", Some(false), (2, 4)),
                ("markupsafe", Some(false), (10, 12)),
                ("pytest", Some(true), (15, 17)),
            ]
        );
        assert_eq!(resolved.packages[1].parents, vec!["jinja2".to_owned()]);
    }
}
