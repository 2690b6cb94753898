//! Versions with each ecosystem's ordering, and OSV's range evaluation.
//!
//! crates.io, npm and Go order by SemVer 2.0 (the `semver` crate: a
//! pre-release sorts before its release, build metadata never decides).
//! Go writes a `v` and may add `+incompatible`; a pseudo-version
//! (`v1.2.4-0.20210101000000-abcdef123456`) is by construction a SemVer
//! pre-release of the next patch, so it sorts after `v1.2.3` and before
//! `v1.2.4`, which is what Go itself means by it. PyPI orders by PEP 440
//! (`pep440_rs`: epochs, pre/post/dev releases, local versions). RubyGems
//! and Packagist have their own orderings, in [`super::gem_version`] and
//! [`super::composer_version`].
//!
//! A range is evaluated as the OSV schema describes: events sorted by
//! version (`introduced: "0"` first), a version is affected after an
//! `introduced` it reaches until a `fixed` it reaches or a `last_affected`
//! it passes. An event whose version does not parse makes the whole range
//! undecidable: the caller counts it as affected rather than silently clean.

use super::model::Ecosystem;
use std::cmp::Ordering;
use std::str::FromStr;

/// A parsed version of one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// crates.io, npm, Go.
    Semver(semver::Version),
    /// PyPI.
    Pep440(pep508_rs::pep440_rs::Version),
    /// RubyGems.
    Gem(super::gem_version::GemVersion),
    /// Packagist.
    Composer(super::composer_version::ComposerVersion),
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Version::Semver(a), Version::Semver(b)) => Some(a.cmp(b)),
            (Version::Pep440(a), Version::Pep440(b)) => Some(a.cmp(b)),
            (Version::Gem(a), Version::Gem(b)) => Some(a.cmp(b)),
            (Version::Composer(a), Version::Composer(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// Parses `text` with `ecosystem`'s rules; `None` when it is not a version
/// there (a git URL, a path, a malformed string).
pub fn parse(ecosystem: Ecosystem, text: &str) -> Option<Version> {
    let text = text.trim();
    match ecosystem {
        Ecosystem::PyPI => pep508_rs::pep440_rs::Version::from_str(text)
            .ok()
            .map(Version::Pep440),
        Ecosystem::Go => {
            let bare = text.strip_prefix('v').unwrap_or(text);
            lenient_semver(bare).map(Version::Semver)
        }
        Ecosystem::CratesIo | Ecosystem::Npm => lenient_semver(text).map(Version::Semver),
        Ecosystem::RubyGems => super::gem_version::GemVersion::parse(text).map(Version::Gem),
        Ecosystem::Packagist => {
            super::composer_version::ComposerVersion::parse(text).map(Version::Composer)
        }
    }
}

/// SemVer, also accepting the `1.2` and `v1.2.3` some advisories write
/// (completed with zeros, as npm's and Go's tools read them).
fn lenient_semver(text: &str) -> Option<semver::Version> {
    if let Ok(version) = semver::Version::parse(text) {
        return Some(version);
    }
    let text = text.strip_prefix('v').unwrap_or(text);
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(split);
    let parts = core.split('.').count();
    if parts == 0 || parts >= 3 || core.is_empty() {
        return semver::Version::parse(text).ok();
    }
    let padded = format!("{core}{}{rest}", ".0".repeat(3 - parts));
    semver::Version::parse(&padded).ok()
}

/// One event of an OSV range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Affected from this version on (`"0"`: from the first).
    Introduced(String),
    /// Not affected from this version on.
    Fixed(String),
    /// Affected up to and including this version.
    LastAffected(String),
}

/// A range with its event versions parsed and sorted once, to test many
/// versions against it: parsing is most of a range check's cost (a PEP 440
/// version takes about as long to parse as the whole comparison loop).
#[derive(Debug, Clone)]
pub struct SortedRange {
    /// (bound, event) by ascending bound, for the events that parse;
    /// `None` is introduced "0".
    bounds: Vec<(Option<Version>, Event)>,
    /// Why the range cannot be decided: its first event version that does
    /// not parse. Its fixes that parse still name fixed versions.
    unparseable: Option<String>,
}

impl SortedRange {
    /// Parses and sorts `events`.
    pub fn new(ecosystem: Ecosystem, events: &[Event]) -> SortedRange {
        let mut bounds: Vec<(Option<Version>, Event)> = Vec::with_capacity(events.len());
        let mut unparseable = None;
        for event in events {
            let text = event.version();
            let bound = if matches!(event, Event::Introduced(v) if v == "0") {
                None
            } else if let Some(version) = parse(ecosystem, text) {
                Some(version)
            } else {
                unparseable.get_or_insert_with(|| format!("unparseable range version {text:?}"));
                continue;
            };
            bounds.push((bound, event.clone()));
        }
        bounds.sort_by(|(a, _), (b, _)| match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        });
        SortedRange {
            bounds,
            unparseable,
        }
    }

    /// Whether `version` falls in the range; `Err` names an event version
    /// that does not parse.
    pub fn contains(&self, version: &Version) -> Result<bool, &str> {
        if let Some(reason) = &self.unparseable {
            return Err(reason);
        }
        let mut affected = false;
        for (bound, event) in &self.bounds {
            let at_or_after = bound.as_ref().is_none_or(|b| version >= b);
            match event {
                Event::Introduced(_) if at_or_after => affected = true,
                Event::Fixed(_) if at_or_after => affected = false,
                Event::LastAffected(_) if bound.as_ref().is_some_and(|b| version > b) => {
                    affected = false
                }
                _ => {}
            }
        }
        Ok(affected)
    }

    /// The texts of the range's `fixed` versions above `version`, lowest
    /// first (of those that parse).
    pub fn fixed_above<'a>(&'a self, version: &'a Version) -> impl Iterator<Item = &'a str> {
        self.bounds
            .iter()
            .filter_map(move |(bound, event)| match (bound, event) {
                (Some(b), Event::Fixed(text)) if b > version => Some(text.as_str()),
                _ => None,
            })
    }
}

impl Event {
    /// The version the event names.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) => v,
        }
    }
}

/// Whether `version` falls in the range `events` describes. `Err` names an
/// event version that does not parse.
pub fn in_range(ecosystem: Ecosystem, version: &Version, events: &[Event]) -> Result<bool, String> {
    SortedRange::new(ecosystem, events)
        .contains(version)
        .map_err(str::to_owned)
}

/// An advisory's explicit `versions`, parsed once.
#[derive(Debug, Clone)]
pub struct Listed {
    versions: Vec<(String, Option<Version>)>,
}

impl Listed {
    /// Parses `versions` with `ecosystem`'s rules.
    pub fn new(ecosystem: Ecosystem, versions: &[String]) -> Listed {
        Listed {
            versions: versions
                .iter()
                .map(|text| (text.clone(), parse(ecosystem, text)))
                .collect(),
        }
    }

    /// Whether `raw` (parsed: `version`) is one of them, compared as versions
    /// (so PEP 440's `1.0` equals `1.0.0`), as text when unparseable.
    pub fn contains(&self, version: Option<&Version>, raw: &str) -> bool {
        self.versions.iter().any(|(text, parsed)| {
            text == raw
                || matches!((parsed, version), (Some(p), Some(v)) if p.partial_cmp(v) == Some(Ordering::Equal))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ecosystem: Ecosystem, version: &str, events: &[Event]) -> bool {
        let v = parse(ecosystem, version).expect("version parses");
        in_range(ecosystem, &v, events).expect("range parses")
    }

    fn i(v: &str) -> Event {
        Event::Introduced(v.into())
    }
    fn f(v: &str) -> Event {
        Event::Fixed(v.into())
    }
    fn l(v: &str) -> Event {
        Event::LastAffected(v.into())
    }

    #[test]
    fn introduced_is_inclusive_and_fixed_exclusive() {
        let range = [i("1.2.0"), f("1.4.1")];
        let eco = Ecosystem::CratesIo;
        assert!(!check(eco, "1.1.9", &range));
        assert!(
            check(eco, "1.2.0", &range),
            "introduced version is affected"
        );
        assert!(check(eco, "1.4.0", &range));
        assert!(!check(eco, "1.4.1", &range), "fixed version is not");
        assert!(!check(eco, "2.0.0", &range));
    }

    #[test]
    fn last_affected_is_inclusive() {
        let range = [i("0"), l("2.3.4")];
        assert!(check(Ecosystem::Npm, "0.0.1", &range));
        assert!(check(Ecosystem::Npm, "2.3.4", &range));
        assert!(!check(Ecosystem::Npm, "2.3.5", &range));
    }

    #[test]
    fn pre_releases_sit_before_their_release() {
        let range = [i("2.0.0"), f("2.1.0")];
        let eco = Ecosystem::Npm;
        assert!(!check(eco, "2.0.0-rc.1", &range), "before introduced");
        assert!(
            check(eco, "2.1.0-beta.1", &range),
            "a pre-release of the fix is still affected"
        );
    }

    #[test]
    fn several_intervals_in_one_range() {
        let range = [i("1.0.0"), f("1.0.5"), i("1.1.0"), f("1.1.2")];
        let eco = Ecosystem::CratesIo;
        assert!(check(eco, "1.0.4", &range));
        assert!(!check(eco, "1.0.7", &range));
        assert!(check(eco, "1.1.1", &range));
        assert!(!check(eco, "1.1.2", &range));
    }

    #[test]
    fn pep440_epochs_local_versions_and_pre_releases() {
        let eco = Ecosystem::PyPI;
        let range = [i("0"), f("2.0")];
        assert!(check(eco, "1.9.post1", &range));
        assert!(check(eco, "2.0rc1", &range), "rc before final");
        assert!(check(eco, "2.0.dev3", &range), "dev before final");
        assert!(!check(eco, "2.0", &range));
        assert!(
            !check(eco, "1!1.0", &range),
            "epoch 1 sorts after every epoch-0 version"
        );
        let epoch_range = [i("1!0"), f("1!1.5")];
        assert!(check(eco, "1!1.4", &epoch_range));
        assert!(!check(eco, "9.0", &epoch_range));
        assert!(
            check(eco, "1.9+ubuntu1", &range),
            "a local version of an affected release"
        );
        assert!(!check(eco, "2.0+local", &range), "a local build of the fix");
        let v = parse(eco, "1.0").expect("1.0");
        assert!(
            Listed::new(eco, &["1.0.0".into()]).contains(Some(&v), "1.0"),
            "1.0 == 1.0.0 in PEP 440"
        );
    }

    #[test]
    fn a_sorted_range_gives_the_fixes_above_a_version_in_order() {
        let eco = Ecosystem::CratesIo;
        // Written out of order, as some databases do.
        let range = SortedRange::new(eco, &[f("1.4.1"), i("1.0.0"), f("1.2.3"), i("1.3.0")]);
        let v = parse(eco, "1.1.0").expect("1.1.0");
        assert_eq!(range.contains(&v), Ok(true));
        assert_eq!(
            range.fixed_above(&v).collect::<Vec<_>>(),
            ["1.2.3", "1.4.1"]
        );
        let fixed = parse(eco, "1.2.3").expect("1.2.3");
        assert_eq!(
            range.contains(&fixed),
            Ok(false),
            "the fix itself is not affected"
        );
        assert_eq!(range.fixed_above(&fixed).collect::<Vec<_>>(), ["1.4.1"]);
        // Undecidable with a bad bound, but its good fixes are still named.
        let broken = SortedRange::new(eco, &[i("0"), f("not a version"), f("2.0.0")]);
        assert!(broken.contains(&v).is_err());
        assert_eq!(broken.fixed_above(&v).collect::<Vec<_>>(), ["2.0.0"]);
        assert!(Listed::new(eco, &["not a version".into()]).contains(None, "not a version"));
    }

    #[test]
    fn go_pseudo_versions_and_incompatible() {
        let eco = Ecosystem::Go;
        let range = [i("0"), f("1.2.4")];
        assert!(check(eco, "v1.2.3", &range));
        assert!(
            check(eco, "v1.2.4-0.20210101000000-abcdef123456", &range),
            "a pseudo-version after v1.2.3 is before v1.2.4"
        );
        assert!(!check(eco, "v1.2.4", &range));
        assert!(!check(
            eco,
            "v0.0.0-20240101000000-abcdef123456",
            &[i("0.1.0")]
        ));
        assert!(check(eco, "v2.0.0+incompatible", &[i("2.0.0"), f("2.0.1")]));
    }

    #[test]
    fn rubygems_ranges_at_their_edges() {
        let eco = Ecosystem::RubyGems;
        let range = [i("1.13.0"), f("1.13.10")];
        assert!(!check(eco, "1.12.5", &range));
        assert!(check(eco, "1.13.0", &range), "introduced is affected");
        assert!(check(eco, "1.13", &range), "1.13 is 1.13.0");
        assert!(check(eco, "1.13.9", &range));
        assert!(
            check(eco, "1.13.10.rc1", &range),
            "a pre-release of the fix is still affected"
        );
        assert!(!check(eco, "1.13.10", &range), "fixed is not");
        assert!(!check(eco, "1.13.10.0", &range), "nor its zero-padded form");
        assert!(
            !check(eco, "1.13.0.rc2", &range),
            "a pre-release before introduced"
        );
        let last = [i("0"), l("6.1.7.2")];
        assert!(check(eco, "6.1.7.2", &last));
        assert!(!check(eco, "6.1.7.3", &last));
        assert!(!check(eco, "6.1.10", &last), "numeric, not textual");
    }

    #[test]
    fn packagist_ranges_at_their_edges() {
        let eco = Ecosystem::Packagist;
        let range = [i("7.0.0"), f("7.4.5")];
        assert!(!check(eco, "6.5.8", &range));
        assert!(check(eco, "v7.0.0", &range), "a v prefix changes nothing");
        assert!(check(eco, "7.4.4", &range));
        assert!(
            check(eco, "7.4.5-RC1", &range),
            "an RC of the fix is affected"
        );
        assert!(!check(eco, "7.4.5", &range));
        assert!(!check(eco, "v7.4.5.0", &range));
        assert!(
            !check(eco, "7.4.5-patch1", &range),
            "a patch release sorts after its release"
        );
        assert!(!check(eco, "7.0.0-beta1", &range), "before introduced");
        assert!(
            parse(eco, "dev-main").is_none(),
            "a branch is not a version: matched only by explicit listing"
        );
    }

    #[test]
    fn unparseable_bounds_are_errors_not_clean() {
        let v = parse(Ecosystem::CratesIo, "1.0.0").expect("version");
        assert!(in_range(Ecosystem::CratesIo, &v, &[i("0"), f("not a version")]).is_err());
        assert_eq!(
            lenient_semver("1.2").map(|v| v.to_string()),
            Some("1.2.0".into())
        );
    }
}
