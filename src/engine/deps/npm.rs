//! `package-lock.json`, lockfile versions 1 to 3.
//!
//! v2 and v3 list every installed package under `packages`, keyed by its
//! `node_modules/…` path, with `dev` flags; the root entry (`""`) names the
//! direct dependencies. v1 nests `dependencies` by installation folder and
//! records neither the root's requests nor dev-ness beyond `dev: true`.
//!
//! `serde_json` keeps no positions, so an entry's lines are found again in
//! the text: npm writes each key as `"key": {` on its own line with the
//! `version` a few lines below. The search walks forward in document order
//! (keys are unique under `packages`; v1's nested names are found after
//! their parent's), falling back to the first occurrence.

use super::model::{Ecosystem, LineIndex, Package, ReadError, Resolved};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Nesting depth of v1 `dependencies` read at most.
const MAX_DEPTH: usize = 64;
/// Lines below an entry's key in which its `version` is looked for.
const VERSION_WITHIN_LINES: usize = 12;

/// Reads a `package-lock.json` (or `npm-shrinkwrap.json`).
///
/// Deserialised into typed entries that keep only what the review needs
/// (no `resolved`, `integrity`, `engines`…), rather than a `Value` tree: a
/// 50 MB lockfile then costs a fraction of its size in memory. v2 keeps a
/// v1 `dependencies` copy for old npm; it is skipped unread when
/// `packages` is there.
pub fn read(text: &str) -> Result<Resolved, ReadError> {
    let error = |error: serde_json::Error| ReadError {
        line: u32::try_from(error.line()).ok(),
        reason: error.to_string(),
    };
    let modern: Modern = serde_json::from_str(text).map_err(error)?;
    let lines = LineIndex::new(text);
    let mut locator = Locator {
        text,
        lines: &lines,
        cursor: 0,
    };
    if let Some(packages) = modern.packages {
        return Ok(read_packages(&packages.0, &mut locator));
    }
    let legacy: Legacy = serde_json::from_str(text).map_err(error)?;
    if let Some(dependencies) = legacy.dependencies {
        let mut resolved = Resolved::default();
        read_v1(&dependencies.0, 0, &mut locator, &mut resolved);
        let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
        collect_v1_requires(&dependencies.0, 0, &mut parents_of);
        for package in &mut resolved.packages {
            package.parents = parents_of.remove(&package.name).unwrap_or_default();
        }
        return Ok(resolved);
    }
    Err(ReadError {
        line: None,
        reason: "neither `packages` nor `dependencies`: not a package-lock.json".into(),
    })
}

/// A JSON object's members in document order (the locator walks forward).
#[derive(Debug)]
pub(super) struct Ordered<T>(pub(super) Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    out.push((key, value));
                }
                Ok(Ordered(out))
            }
        }
        deserializer.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// The names of an object, its values skipped unread.
type Names = Ordered<IgnoredAny>;

#[derive(Deserialize)]
struct Modern {
    packages: Option<Ordered<Entry>>,
}

#[derive(Deserialize)]
struct Legacy {
    dependencies: Option<Ordered<V1Entry>>,
}

/// A `packages` entry (v2, v3).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Entry {
    name: Option<String>,
    version: Option<String>,
    dev: Option<bool>,
    link: Option<bool>,
    license: Option<Value>,
    licenses: Option<Value>,
    dependencies: Option<Names>,
    dev_dependencies: Option<Names>,
    optional_dependencies: Option<Names>,
    peer_dependencies: Option<Names>,
}

impl Entry {
    fn dependency_names(&self) -> impl Iterator<Item = &String> {
        [
            &self.dependencies,
            &self.dev_dependencies,
            &self.optional_dependencies,
            &self.peer_dependencies,
        ]
        .into_iter()
        .flatten()
        .flat_map(|names| names.0.iter().map(|(name, _)| name))
    }
}

/// A v1 `dependencies` entry, nested by installation folder.
#[derive(Deserialize, Default)]
struct V1Entry {
    version: Option<String>,
    dev: Option<bool>,
    requires: Option<Names>,
    dependencies: Option<Ordered<V1Entry>>,
}

fn read_packages(packages: &[(String, Entry)], locator: &mut Locator) -> Resolved {
    let direct: HashSet<&str> = packages
        .iter()
        .find(|(key, _)| key.is_empty())
        .map(|(_, root)| root.dependency_names().map(String::as_str).collect())
        .unwrap_or_default();
    let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
    let mut resolved = Resolved::default();
    for (key, entry) in packages {
        let Some(at) = key.rfind("node_modules/") else {
            // The root and workspace folders are the project, not dependencies.
            continue;
        };
        let folder_name = &key[at + "node_modules/".len()..];
        let name = entry.name.clone().unwrap_or_else(|| folder_name.to_owned());
        let parent = folder_name_of(&key[..at]).unwrap_or_default();
        for child in entry.dependency_names() {
            parents_of
                .entry(child.clone())
                .or_default()
                .push(name.clone());
        }
        let lines = locator.find(key);
        if entry.link == Some(true) {
            continue;
        }
        let Some(version) = &entry.version else {
            continue;
        };
        let top_level = parent.is_empty();
        resolved.packages.push(Package {
            direct: Some(top_level && direct.contains(name.as_str())),
            dev: Some(entry.dev == Some(true)),
            lines,
            parents: Vec::new(),
            pinned: false,
            license: license_from(entry.license.as_ref(), entry.licenses.as_ref()),
            version: version.clone(),
            ecosystem: Ecosystem::Npm,
            name,
        });
    }
    for package in &mut resolved.packages {
        package.parents = parents_of.get(&package.name).cloned().unwrap_or_default();
    }
    resolved
}

/// Longest licence text kept from an entry: an SPDX expression is short,
/// and the text reaches messages.
const MAX_LICENSE_CHARS: usize = 256;

/// An entry's `license`: npm writes the package's own field, a string;
/// very old packages published `{ "type": "MIT" }` or a `licenses` list
/// of those, which npm copies as is.
pub(crate) fn license_of(entry: &Value) -> Option<String> {
    license_from(entry.get("license"), entry.get("licenses"))
}

fn license_from(license: Option<&Value>, licenses: Option<&Value>) -> Option<String> {
    let text = match license {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Object(object)) => object.get("type")?.as_str()?.to_owned(),
        _ => {
            let types: Vec<&str> = licenses?
                .as_array()?
                .iter()
                .filter_map(|l| l.get("type").and_then(Value::as_str))
                .collect();
            if types.is_empty() {
                return None;
            }
            // A list meant "any of these" (the dual licensing of the day).
            types.join(" OR ")
        }
    };
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(MAX_LICENSE_CHARS).collect())
}

/// `node_modules/a/node_modules/` → `a`; `` → `None`.
fn folder_name_of(prefix: &str) -> Option<&str> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    let at = trimmed.rfind("node_modules/")?;
    Some(&trimmed[at + "node_modules/".len()..])
}

fn read_v1(deps: &[(String, V1Entry)], depth: usize, locator: &mut Locator, out: &mut Resolved) {
    if depth > MAX_DEPTH {
        out.notes.push(format!(
            "dependencies nested deeper than {MAX_DEPTH} levels not read"
        ));
        return;
    }
    for (name, entry) in deps {
        let lines = locator.find(name);
        if let Some(version) = &entry.version {
            // A `file:`/`git+` version is not a registry release.
            if !version.contains(':') {
                out.packages.push(Package {
                    direct: None,
                    dev: Some(entry.dev == Some(true)),
                    lines,
                    parents: Vec::new(),
                    pinned: false,
                    // v1 entries carry no licence.
                    license: None,
                    version: version.clone(),
                    ecosystem: Ecosystem::Npm,
                    name: name.clone(),
                });
            }
        }
        if let Some(nested) = &entry.dependencies {
            read_v1(&nested.0, depth + 1, locator, out);
        }
    }
}

fn collect_v1_requires(
    deps: &[(String, V1Entry)],
    depth: usize,
    parents_of: &mut HashMap<String, Vec<String>>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for (name, entry) in deps {
        for (child, _) in entry.requires.iter().flat_map(|r| r.0.iter()) {
            parents_of
                .entry(child.clone())
                .or_default()
                .push(name.clone());
        }
        if let Some(nested) = &entry.dependencies {
            collect_v1_requires(&nested.0, depth + 1, parents_of);
        }
    }
}

struct Locator<'a> {
    text: &'a str,
    lines: &'a LineIndex,
    cursor: usize,
}

impl Locator<'_> {
    /// The lines of the entry keyed `key`: its key line to its version line.
    fn find(&mut self, key: &str) -> (u32, u32) {
        let Ok(quoted) = serde_json::to_string(key) else {
            return (1, 1);
        };
        let needle = format!("{quoted}: {{");
        let found = self
            .text
            .get(self.cursor..)
            .and_then(|rest| rest.find(&needle).map(|i| i + self.cursor))
            .or_else(|| self.text.find(&needle));
        let Some(at) = found else {
            return (1, 1);
        };
        self.cursor = at + needle.len();
        self.lines
            .json_entry(self.text, at, self.cursor, VERSION_WITHIN_LINES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: &str = r#"{
  "name": "web",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "web",
      "version": "1.0.0",
      "dependencies": {
        "express": "^4.17.0"
      },
      "devDependencies": {
        "mocha": "^10.0.0"
      }
    },
    "node_modules/express": {
      "version": "4.17.1",
      "resolved": "https://registry.npmjs.org/express/-/express-4.17.1.tgz",
      "dependencies": {
        "qs": "6.7.0"
      }
    },
    "node_modules/mocha": {
      "version": "10.0.0",
      "dev": true
    },
    "node_modules/qs": {
      "version": "6.7.0"
    }
  }
}
"#;

    #[test]
    fn v3_direct_dev_transitive_and_lines() {
        let resolved = read(V3).expect("reads");
        type Row<'a> = (&'a str, Option<bool>, Option<bool>, (u32, u32));
        let got: Vec<Row<'_>> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.direct, p.dev, p.lines))
            .collect();
        assert_eq!(
            got,
            vec![
                ("express", Some(true), Some(false), (17, 18)),
                ("mocha", Some(true), Some(true), (24, 25)),
                ("qs", Some(false), Some(false), (28, 29)),
            ]
        );
        assert_eq!(
            resolved.path_to(2),
            Some(vec!["express".into(), "qs".into()])
        );
    }

    #[test]
    fn v1_nested_entries_are_found_after_their_parent() {
        let text = r#"{
  "lockfileVersion": 1,
  "dependencies": {
    "a": {
      "version": "1.0.0",
      "requires": { "b": "^2.0.0" },
      "dependencies": {
        "b": {
          "version": "2.0.0"
        }
      }
    },
    "b": {
      "version": "3.0.0",
      "dev": true
    }
  }
}"#;
        let resolved = read(text).expect("reads");
        type Row<'a> = (&'a str, &'a str, (u32, u32), Option<bool>);
        let got: Vec<Row<'_>> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.lines, p.dev))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "1.0.0", (4, 5), Some(false)),
                ("b", "2.0.0", (8, 9), Some(false)),
                ("b", "3.0.0", (13, 14), Some(true)),
            ]
        );
    }

    #[test]
    fn truncated_json_names_its_line() {
        let error = read(&V3[..V3.find("node_modules/qs").expect("cut")]).expect_err("cut");
        assert!(error.line.is_some_and(|l| l >= 28), "{error}");
    }
}
