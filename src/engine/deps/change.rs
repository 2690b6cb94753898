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
        let versions = |side: &Resolved| {
            let mut map: HashMap<Key, Vec<String>> = HashMap::new();
            for p in &side.packages {
                let list = map.entry(key(p)).or_default();
                if !list.contains(&p.version) {
                    list.push(p.version.clone());
                }
            }
            map
        };
        let (before, after) = (versions(base), versions(head));
        let introduced: Vec<usize> = head
            .packages
            .iter()
            .enumerate()
            .filter(|(_, p)| !before.get(&key(p)).is_some_and(|v| v.contains(&p.version)))
            .map(|(i, _)| i)
            .collect();
        let gone: Vec<usize> = base
            .packages
            .iter()
            .enumerate()
            .filter(|(_, p)| !after.get(&key(p)).is_some_and(|v| v.contains(&p.version)))
            .map(|(i, _)| i)
            .collect();
        let previous = introduced
            .iter()
            .filter_map(|&i| {
                let k = key(&head.packages[i]);
                before.get(&k).map(|v| (k, v.clone()))
            })
            .collect();
        let now = gone
            .iter()
            .filter_map(|&i| {
                let k = key(&base.packages[i]);
                after.get(&k).map(|v| (k, v.clone()))
            })
            .collect();
        Change {
            introduced,
            gone,
            previous,
            now,
        }
    }
}
