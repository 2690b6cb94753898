//! Which packages of a lockfile a change introduced and which it removed,
//! by (ecosystem, normalised name, version).

use super::model::{self, Package, Resolved};
use std::collections::HashMap;

/// A package's name as its ecosystem compares names.
pub type Key = (model::Ecosystem, String);

/// The [`Key`] of `package`.
pub fn key(package: &Package) -> Key {
    (
        package.ecosystem,
        package.ecosystem.normalise_name(&package.name),
    )
}

/// What a change did to the packages of one file.
#[derive(Debug, Default)]
pub struct Change {
    /// Head entries whose version the base did not have.
    pub introduced: Vec<usize>,
    /// Base entries whose version the head no longer has.
    pub gone: Vec<usize>,
    /// For a name the change moved, the base's versions.
    pub previous: HashMap<Key, Vec<String>>,
    /// For a name the change moved, the head's versions.
    pub now: HashMap<Key, Vec<String>>,
}

impl Change {
    /// Compares the two sides by (ecosystem, name, version).
    pub fn between(base: &Resolved, head: &Resolved) -> Change {
        let (before, after) = (versions(base), versions(head));
        let (introduced, previous) = moved(head, &before);
        let (gone, now) = moved(base, &after);
        Change {
            introduced,
            gone,
            previous,
            now,
        }
    }
}

/// Each name's versions on `side`, in file order, each once.
fn versions(side: &Resolved) -> HashMap<Key, Vec<String>> {
    let mut map: HashMap<Key, Vec<String>> = HashMap::new();
    for p in &side.packages {
        let list = map.entry(key(p)).or_default();
        if !list.contains(&p.version) {
            list.push(p.version.clone());
        }
    }
    map
}

/// The entries of `side` whose version the `other` side lacks, and for
/// those whose name it has, its versions of that name.
fn moved(
    side: &Resolved,
    other: &HashMap<Key, Vec<String>>,
) -> (Vec<usize>, HashMap<Key, Vec<String>>) {
    let mut entries = Vec::new();
    let mut theirs = HashMap::new();
    for (i, p) in side.packages.iter().enumerate() {
        let k = key(p);
        let versions = other.get(&k);
        if versions.is_some_and(|v| v.contains(&p.version)) {
            continue;
        }
        entries.push(i);
        if let Some(versions) = versions {
            theirs.insert(k, versions.clone());
        }
    }
    (entries, theirs)
}
