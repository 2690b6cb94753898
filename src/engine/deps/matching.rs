//! Which advisories affect one resolved package, and how aliases fold
//! several records of one vulnerability (a GHSA and the RUSTSEC it copies,
//! a PYSEC and its CVE) into one group, reported once at its highest
//! severity.

use super::model::Package;
use super::version;
use crate::advisories::{Advisory, Index};
use crate::engine::Severity;
use std::collections::BTreeSet;

/// One advisory that affects a package version.
#[derive(Debug, Clone)]
pub struct Hit<'a> {
    /// The advisory.
    pub advisory: &'a Advisory,
    /// `fixed` versions above the package's version, from its ranges.
    pub fixed: Vec<String>,
    /// Set when a range could not be evaluated (counted as affected).
    pub undecided: Option<String>,
}

/// Advisories folded by alias.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The id reported (and the rule id).
    pub primary: String,
    /// Every other id of the group, sorted.
    pub aliases: Vec<String>,
    /// The hits.
    pub hits: Vec<Hit<'a>>,
}

impl Group<'_> {
    /// Every id and alias of the group, each once.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The highest severity any record states.
    pub fn severity(&self) -> Option<Severity> {
        self.hits.iter().filter_map(|h| h.advisory.severity).max()
    }

    /// The first summary given.
    pub fn summary(&self) -> &str {
        self.hits
            .iter()
            .map(|h| h.advisory.summary.as_str())
            .find(|s| !s.is_empty())
            .unwrap_or("")
    }

    /// The first CWE given.
    pub fn cwe(&self) -> Option<String> {
        self.hits.iter().find_map(|h| h.advisory.cwe.clone())
    }
}

/// Advisories affecting `package`, folded into groups.
pub fn groups<'a>(index: &'a Index, package: &Package) -> Vec<Group<'a>> {
    group(hits(index, package))
}

fn hits<'a>(index: &'a Index, package: &Package) -> Vec<Hit<'a>> {
    let eco = package.ecosystem;
    let parsed = version::parse(eco, &package.version);
    let mut found = Vec::new();
    for entry in index.affected(eco, &package.name) {
        let Some(advisory) = index.advisory(entry.advisory) else {
            continue;
        };
        let prepared = entry.parsed(eco);
        let listed = prepared.listed.contains(parsed.as_ref(), &package.version);
        let mut undecided = None;
        let mut in_a_range = false;
        if let Some(v) = &parsed {
            for range in &prepared.ranges {
                match range.contains(v) {
                    Ok(inside) => in_a_range |= inside,
                    Err(reason) => undecided = Some(reason.to_owned()),
                }
            }
        }
        if !(listed || in_a_range || undecided.is_some()) {
            // Most entries of a package name other versions: no hit, no
            // fixes to gather.
            continue;
        }
        let mut fixed: Vec<String> = Vec::new();
        if let Some(v) = &parsed {
            for f in prepared
                .ranges
                .iter()
                .flat_map(|range| range.fixed_above(v))
            {
                if !fixed.iter().any(|known| known == f) {
                    fixed.push(f.to_owned());
                }
            }
        }
        found.push(Hit {
            advisory,
            fixed,
            undecided,
        });
    }
    found
}

/// Rank of an id as the one to report: the ecosystem databases' own ids
/// before CVE numbers.
fn rank(id: &str) -> u8 {
    ["GHSA-", "RUSTSEC-", "PYSEC-", "GO-"]
        .iter()
        .position(|p| id.starts_with(p))
        .map_or(if id.starts_with("CVE-") { 5 } else { 4 }, |p| p as u8)
}

/// The ids and aliases of `hits`' records (repeats included).
fn ids_of<'h>(hits: &'h [Hit<'_>]) -> impl Iterator<Item = &'h str> {
    hits.iter().flat_map(|h| {
        std::iter::once(h.advisory.id.as_str()).chain(h.advisory.aliases.iter().map(String::as_str))
    })
}

fn group(hits: Vec<Hit<'_>>) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for hit in hits {
        let ids: BTreeSet<&str> = std::iter::once(hit.advisory.id.as_str())
            .chain(hit.advisory.aliases.iter().map(String::as_str))
            .collect();
        // Every existing group sharing an id joins this one.
        let (joined, mut rest): (Vec<Group<'_>>, Vec<Group<'_>>) = groups
            .into_iter()
            .partition(|g| ids_of(&g.hits).any(|id| ids.contains(id)));
        let mut merged: Vec<Hit<'_>> = joined.into_iter().flat_map(|g| g.hits).collect();
        merged.push(hit);
        rest.push(Group {
            primary: String::new(),
            aliases: Vec::new(),
            hits: merged,
        });
        groups = rest;
    }
    for group in &mut groups {
        let ids: BTreeSet<&str> = ids_of(&group.hits).collect();
        // Among the records' own ids first (an alias may name a record not
        // in the database), the best-ranked.
        let own: BTreeSet<&str> = group.hits.iter().map(|h| h.advisory.id.as_str()).collect();
        let primary = own
            .iter()
            .min_by_key(|id| (rank(id), **id))
            .map(|id| (*id).to_owned())
            .unwrap_or_default();
        group.aliases = ids
            .into_iter()
            .filter(|id| *id != primary)
            .map(str::to_owned)
            .collect();
        group.primary = primary;
    }
    groups.sort_by(|a, b| a.primary.cmp(&b.primary));
    groups
}
