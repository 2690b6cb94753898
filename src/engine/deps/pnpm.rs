//! `pnpm-lock.yaml`, lockfile versions 5 to 9, read with `serde_saphyr`
//! (the YAML parser the configuration already uses).
//!
//! Every installed package is a key of `packages`: `/name/1.0.0` (v5),
//! `/name@1.0.0` (v6) or `name@1.0.0` (v9), a peer-dependency suffix
//! (`_react@18.2.0`, `(react@18.2.0)`) naming the same release. The direct
//! dependencies are the importers' (`importers.<path>` from v6 on in
//! workspaces and always in v9; top-level `dependencies` /
//! `devDependencies` in a single-project v5/v6 lock). Dev-ness is v5/v6's
//! `dev` flag; v9 records none, so it is what only dev roots reach through
//! `snapshots`. The entry's line is its key's (the version is in the key).

use super::model::{Ecosystem, LineIndex, Package, ReadError, Resolved};
use super::npm::Ordered;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::{HashMap, HashSet, VecDeque};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lock {
    #[serde(default)]
    importers: Ordered<Importer>,
    #[serde(flatten)]
    root: Importer,
    #[serde(default)]
    packages: Ordered<Entry>,
    #[serde(default)]
    snapshots: Ordered<Snapshot>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Importer {
    #[serde(default)]
    dependencies: Ordered<IgnoredAny>,
    #[serde(default)]
    optional_dependencies: Ordered<IgnoredAny>,
    #[serde(default)]
    dev_dependencies: Ordered<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Entry {
    dev: Option<bool>,
    #[serde(default)]
    dependencies: Ordered<IgnoredAny>,
    #[serde(default)]
    optional_dependencies: Ordered<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Snapshot {
    #[serde(default)]
    dependencies: Ordered<IgnoredAny>,
    #[serde(default)]
    optional_dependencies: Ordered<IgnoredAny>,
}

/// `/@scope/name@1.0.0(peer@2)` → (`@scope/name`, `1.0.0`); v5's
/// `/name/1.0.0_peer@2` too. `None` for a key that names no registry
/// release (a `link:` or tarball).
fn split_key(key: &str) -> Option<(&str, &str)> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let key = key.split('(').next().unwrap_or(key);
    // v5: `name/1.0.0` or `@scope/name/1.0.0`, peers after `_` (which may
    // hold an `@`): the last segment, before `_`, is a bare version.
    if let Some(slash) = key.rfind('/') {
        let version = key[slash + 1..].split('_').next().unwrap_or_default();
        if !version.contains('@') && version.starts_with(|c: char| c.is_ascii_digit()) {
            let name = &key[..slash];
            return (!name.is_empty()).then_some((name, version));
        }
    }
    // v6/v9: the last `@` not at the start separates the version.
    let at = key.get(1..)?.rfind('@')? + 1;
    let (name, version) = (&key[..at], &key[at + 1..]);
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then_some((name, version))
}

fn names(list: &Ordered<IgnoredAny>) -> impl Iterator<Item = &str> {
    list.0.iter().map(|(name, _)| name.as_str())
}

/// Reads a `pnpm-lock.yaml`.
pub fn read(text: &str) -> Result<Resolved, ReadError> {
    let lock: Lock = serde_saphyr::from_str(text).map_err(|error| ReadError {
        line: error.location().and_then(|l| u32::try_from(l.line()).ok()),
        reason: error
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .to_owned(),
    })?;
    let importers: Vec<&Importer> = if lock.importers.0.is_empty() {
        vec![&lock.root]
    } else {
        lock.importers.0.iter().map(|(_, i)| i).collect()
    };
    let mut runtime_roots: Vec<String> = Vec::new();
    let mut dev_roots: Vec<String> = Vec::new();
    for importer in &importers {
        runtime_roots.extend(
            names(&importer.dependencies)
                .chain(names(&importer.optional_dependencies))
                .map(str::to_owned),
        );
        dev_roots.extend(names(&importer.dev_dependencies).map(str::to_owned));
    }
    let direct: HashSet<&str> = runtime_roots
        .iter()
        .chain(&dev_roots)
        .map(String::as_str)
        .collect();
    // Who depends on whom, by name: v5/v6 in `packages`, v9 in `snapshots`.
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    let edges = lock
        .packages
        .0
        .iter()
        .map(|(k, e)| (k, &e.dependencies, &e.optional_dependencies))
        .chain(
            lock.snapshots
                .0
                .iter()
                .map(|(k, s)| (k, &s.dependencies, &s.optional_dependencies)),
        );
    for (key, dependencies, optional) in edges {
        if let Some((name, _)) = split_key(key) {
            children.entry(name.to_owned()).or_default().extend(
                names(dependencies)
                    .chain(names(optional))
                    .map(str::to_owned),
            );
        }
    }
    let mut parents_of: HashMap<&str, Vec<String>> = HashMap::new();
    for (parent, kids) in &children {
        for kid in kids {
            parents_of
                .entry(kid.as_str())
                .or_default()
                .push(parent.clone());
        }
    }
    let reach = |roots: &[String]| {
        let mut seen: HashSet<String> = HashSet::new();
        let mut queue: VecDeque<&str> = roots.iter().map(String::as_str).collect();
        while let Some(name) = queue.pop_front() {
            if seen.insert(name.to_owned()) {
                queue.extend(children.get(name).into_iter().flatten().map(String::as_str));
            }
        }
        seen
    };
    let (runtime, dev_only) = (reach(&runtime_roots), reach(&dev_roots));
    let lines = LineIndex::new(text);
    let mut cursor = text.find("\npackages:").unwrap_or(0);
    let mut resolved = Resolved::default();
    let mut seen = HashSet::new();
    for (key, entry) in &lock.packages.0 {
        let Some((name, version)) = split_key(key) else {
            continue;
        };
        // Peer variants of one release are one package.
        if !seen.insert((name.to_owned(), version.to_owned())) {
            continue;
        }
        let line = find_key(text, &lines, key, &mut cursor);
        resolved.packages.push(Package {
            name: name.to_owned(),
            version: version.to_owned(),
            ecosystem: Ecosystem::Npm,
            direct: Some(direct.contains(name)),
            dev: Some(match entry.dev {
                Some(dev) => dev,
                None => dev_only.contains(name) && !runtime.contains(name),
            }),
            lines: (line, line),
            parents: parents_of.get(name).cloned().unwrap_or_default(),
            pinned: false,
            license: None,
        });
    }
    Ok(resolved)
}

/// The line of `key:` under `packages:`, searching forward from `cursor`
/// (keys are unique and written in order), quoted or not.
fn find_key(text: &str, lines: &LineIndex, key: &str, cursor: &mut usize) -> u32 {
    for needle in [
        format!("\n  {key}:"),
        format!("\n  '{key}':"),
        format!("\n  \"{key}\":"),
    ] {
        let found = text
            .get(*cursor..)
            .and_then(|rest| rest.find(&needle))
            .map(|i| i + *cursor);
        if let Some(at) = found {
            *cursor = at + needle.len();
            return lines.line_of(at + 1);
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_version_split_into_name_and_version() {
        assert_eq!(split_key("/qs@6.7.0"), Some(("qs", "6.7.0")));
        assert_eq!(split_key("qs@6.7.0"), Some(("qs", "6.7.0")));
        assert_eq!(
            split_key("/@babel/core@7.23.0(supports-color@8.1.1)"),
            Some(("@babel/core", "7.23.0"))
        );
        assert_eq!(split_key("/qs/6.7.0"), Some(("qs", "6.7.0")));
        assert_eq!(
            split_key("/@types/react/18.2.0_react@18.2.0"),
            Some(("@types/react", "18.2.0"))
        );
        assert_eq!(split_key("/7zip-bin@5.2.0"), Some(("7zip-bin", "5.2.0")));
        assert_eq!(split_key("link:../shared"), None);
    }

    #[test]
    fn v9_direct_dev_transitive_and_lines() {
        let text = "lockfileVersion: '9.0'

settings:
  autoInstallPeers: true

importers:

  .:
    dependencies:
      express:
        specifier: ^4.18.2
        version: 4.18.2
    devDependencies:
      jest-lite:
        specifier: ^1.0.0
        version: 1.0.0

packages:

  express@4.18.2:
    resolution: {integrity: sha512-AAAA}

  jest-lite@1.0.0:
    resolution: {integrity: sha512-BBBB}

  qs@6.7.0:
    resolution: {integrity: sha512-CCCC}

  pretty@2.0.0:
    resolution: {integrity: sha512-DDDD}

snapshots:

  express@4.18.2:
    dependencies:
      qs: 6.7.0

  jest-lite@1.0.0:
    dependencies:
      pretty: 2.0.0

  qs@6.7.0: {}

  pretty@2.0.0: {}
";
        let resolved = read(text).expect("reads");
        let rows = resolved.test_rows();
        assert_eq!(
            rows,
            vec![
                ("express", "4.18.2", Some(true), Some(false), (20, 20)),
                ("jest-lite", "1.0.0", Some(true), Some(true), (23, 23)),
                ("qs", "6.7.0", Some(false), Some(false), (26, 26)),
                ("pretty", "2.0.0", Some(false), Some(true), (29, 29)),
            ]
        );
        assert_eq!(
            resolved.path_to(2),
            Some(vec!["express".into(), "qs".into()])
        );
    }

    #[test]
    fn v6_reads_dev_flags_and_top_level_dependencies() {
        let text = "lockfileVersion: '6.0'

dependencies:
  qs:
    specifier: ^6.7.0
    version: 6.7.0

packages:

  /qs@6.7.0:
    resolution: {integrity: sha512-CCCC}
    dev: false

  /minimist@1.2.5:
    resolution: {integrity: sha512-EEEE}
    dev: true
";
        let resolved = read(text).expect("reads");
        type Row<'a> = (&'a str, Option<bool>, Option<bool>, (u32, u32));
        let rows: Vec<Row<'_>> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.direct, p.dev, p.lines))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("qs", Some(true), Some(false), (10, 10)),
                ("minimist", Some(false), Some(true), (14, 14)),
            ]
        );
        let error = read("lockfileVersion: '6.0'\npackages:\n  /qs@6.7.0: [\n").expect_err("bad");
        assert!(error.line.is_some(), "{error}");
    }
}
