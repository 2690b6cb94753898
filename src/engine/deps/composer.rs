//! `composer.lock` (PHP's Composer): `packages` are what the application
//! runs with, `packages-dev` what only development installs. Each entry
//! states its `name`, `version` (often with a `v`), what it `require`s and
//! its `license` list.
//!
//! The lockfile does not say which packages `composer.json` asks for; a
//! package no locked package requires can only be there because the root
//! asked for it, so it is direct; one that others require may be both, and
//! is left undetermined. A `license` list means any one of them applies
//! (Composer's rule), so it becomes an SPDX `OR` expression.
//!
//! Typed deserialisation keeps only these fields (not `dist`, `autoload`,
//! `description`…). `serde_json` keeps no positions: Composer writes each
//! entry's `"name"` on its own line with `"version"` just below, and the
//! entry is found again in the text walking forward in document order.

use super::model::{Ecosystem, LineIndex, Package, ReadError, Resolved};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Lines below an entry's name in which its `version` is looked for.
const VERSION_WITHIN_LINES: usize = 8;
/// Longest licence text kept (it reaches messages).
const MAX_LICENSE_CHARS: usize = 256;
/// Licences of one package kept at most.
const MAX_LICENSES: usize = 16;

#[derive(Deserialize)]
struct Lock {
    packages: Option<Vec<Entry>>,
    #[serde(rename = "packages-dev", default)]
    packages_dev: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
    #[serde(default)]
    require: BTreeMap<String, IgnoredAny>,
    #[serde(default)]
    license: Option<serde_json::Value>,
}

/// Reads a `composer.lock`.
pub fn read(text: &str) -> Result<Resolved, ReadError> {
    let lock: Lock = serde_json::from_str(text).map_err(|error| ReadError {
        line: u32::try_from(error.line()).ok(),
        reason: error.to_string(),
    })?;
    let Some(runtime) = lock.packages else {
        return Err(ReadError {
            line: None,
            reason: "no `packages` list: not a composer.lock".into(),
        });
    };
    let dev = lock.packages_dev.unwrap_or_default();
    let lines = LineIndex::new(text);
    let mut locator = Locator {
        text,
        lines: &lines,
        cursor: 0,
    };
    let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
    for entry in runtime.iter().chain(&dev) {
        for required in entry.require.keys() {
            parents_of
                .entry(required.to_ascii_lowercase())
                .or_default()
                .push(entry.name.clone());
        }
    }
    let mut packages = Vec::with_capacity(runtime.len() + dev.len());
    let mut seen = HashSet::new();
    for (entries, is_dev) in [(&runtime, false), (&dev, true)] {
        if is_dev && let Some(at) = text.find("\"packages-dev\"") {
            locator.cursor = locator.cursor.max(at);
        }
        for entry in entries {
            let lines = locator.find(&entry.name);
            if !seen.insert(entry.name.to_ascii_lowercase()) {
                continue;
            }
            let parents = parents_of
                .get(&entry.name.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default();
            packages.push(Package {
                direct: parents.is_empty().then_some(true),
                dev: Some(is_dev),
                lines,
                parents,
                pinned: false,
                license: license_of(entry.license.as_ref()),
                version: entry.version.clone(),
                ecosystem: Ecosystem::Packagist,
                name: entry.name.clone(),
            });
        }
    }
    Ok(Resolved {
        packages,
        notes: Vec::new(),
    })
}

/// The `license` list as one SPDX expression: any of them (`OR`), each
/// compound one in parentheses so the `OR` stays outermost.
fn license_of(value: Option<&serde_json::Value>) -> Option<String> {
    let names: Vec<&str> = match value? {
        serde_json::Value::String(one) => vec![one.as_str()],
        serde_json::Value::Array(list) => list
            .iter()
            .take(MAX_LICENSES)
            .filter_map(serde_json::Value::as_str)
            .collect(),
        _ => return None,
    };
    let parts: Vec<String> = names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            if n.contains(' ') && names.len() > 1 {
                format!("({n})")
            } else {
                n.to_owned()
            }
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(parts.join(" OR ").chars().take(MAX_LICENSE_CHARS).collect())
}

struct Locator<'a> {
    text: &'a str,
    lines: &'a LineIndex,
    cursor: usize,
}

impl Locator<'_> {
    /// The lines of the entry named `name`: its name line to its version line.
    fn find(&mut self, name: &str) -> (u32, u32) {
        let Ok(quoted) = serde_json::to_string(name) else {
            return (1, 1);
        };
        // Composer writes slashes unescaped; very old versions escaped them.
        let escaped = quoted.replace('/', "\\/");
        let needles = [
            format!("\"name\": {quoted}"),
            format!("\"name\": {escaped}"),
        ];
        let search = |from: usize| {
            let rest = self.text.get(from..)?;
            needles
                .iter()
                .filter_map(|n| rest.find(n.as_str()).map(|i| (i + from, n.len())))
                .min()
        };
        let Some((at, len)) = search(self.cursor).or_else(|| search(0)) else {
            return (1, 1);
        };
        self.cursor = at + len;
        self.lines
            .json_entry(self.text, at, self.cursor, VERSION_WITHIN_LINES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
    "_readme": [
        "This file locks the dependencies of your project to a known state"
    ],
    "content-hash": "3f1c0e0a3c4b8d1f2e5a6b7c8d9e0f1a",
    "packages": [
        {
            "name": "guzzlehttp/guzzle",
            "version": "7.4.0",
            "require": {
                "guzzlehttp/psr7": "^1.8.3 || ^2.1",
                "php": "^7.2.5 || ^8.0"
            },
            "type": "library",
            "license": [
                "MIT"
            ]
        },
        {
            "name": "guzzlehttp/psr7",
            "version": "2.1.0",
            "license": [
                "MIT",
                "Apache-2.0 AND BSD-3-Clause"
            ]
        }
    ],
    "packages-dev": [
        {
            "name": "phpunit/phpunit",
            "version": "9.5.10",
            "require": {
                "guzzlehttp/psr7": "^2.0"
            },
            "license": [
                "BSD-3-Clause"
            ]
        }
    ],
    "aliases": [],
    "minimum-stability": "stable"
}
"#;

    #[test]
    fn runtime_dev_direct_lines_and_licences() {
        let resolved = read(LOCK).expect("reads");
        let got = resolved.test_rows();
        assert_eq!(
            got,
            vec![
                (
                    "guzzlehttp/guzzle",
                    "7.4.0",
                    Some(true),
                    Some(false),
                    (8, 9)
                ),
                ("guzzlehttp/psr7", "2.1.0", None, Some(false), (20, 21)),
                (
                    "phpunit/phpunit",
                    "9.5.10",
                    Some(true),
                    Some(true),
                    (30, 31)
                ),
            ]
        );
        assert_eq!(resolved.packages[0].license.as_deref(), Some("MIT"));
        assert_eq!(
            resolved.packages[1].license.as_deref(),
            Some("MIT OR (Apache-2.0 AND BSD-3-Clause)")
        );
        assert_eq!(
            resolved.packages[1].parents,
            vec!["guzzlehttp/guzzle".to_owned(), "phpunit/phpunit".to_owned()]
        );
    }

    #[test]
    fn truncated_or_foreign_json_is_an_error_with_its_line() {
        let cut = &LOCK[..LOCK.find("\"packages-dev\"").expect("dev")];
        let error = read(cut).expect_err("truncated");
        assert!(error.line.is_some_and(|l| l >= 27), "{error}");
        let error = read("{\"name\": \"acme/app\"}").expect_err("not a lock");
        assert!(error.reason.contains("not a composer.lock"), "{error}");
        let error = read("{\"packages\": [{\"name\": \"a/b\"}]}").expect_err("no version");
        assert!(error.reason.contains("version"), "{error}");
    }
}
