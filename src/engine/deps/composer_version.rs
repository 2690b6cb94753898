//! Composer's version ordering, written here because no maintained crate
//! implements it: Composer normalises a version (`VersionParser::normalize`)
//! and then compares with PHP's `version_compare`, whose stability words
//! rank differently from SemVer pre-releases and whose `patch`/`pl`
//! releases sort *after* the plain release.
//!
//! A version is normalised to four numeric parts (`v1.2` is `1.2.0.0`), then
//! an optional stability with its number (`-beta2`, `RC1`, `.patch3`) and an
//! optional `-dev` suffix. Order: the four parts, then the stability (`dev`
//! < `alpha`/`a` < `beta`/`b` < `RC` < stable < `patch`/`pl`/`p`), its
//! number, and a `-dev` of that stability before the stability itself.
//! Branch names (`dev-main`, `1.x-dev`) are not versions and do not parse.

use std::cmp::Ordering;

/// Longest version text accepted.
const MAX_LEN: usize = 64;

/// Stability ranks, in PHP's `version_compare` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stability {
    Dev,
    Alpha,
    Beta,
    Rc,
    Stable,
    Patch,
}

/// A parsed Composer version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposerVersion {
    numbers: [u64; 4],
    stability: Stability,
    /// The numbers after the stability word (`beta2.1`: `[2, 1]`).
    stability_numbers: Vec<u64>,
    /// `-dev` after a stability or release (`1.0.0-beta2-dev`).
    dev: bool,
}

impl ComposerVersion {
    /// Parses `text` as Composer normalises a version; `None` for a branch
    /// name or anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() > MAX_LEN {
            return None;
        }
        // Build metadata does not order (`1.0.0+build`).
        let text = text.split_once('+').map_or(text, |(v, _)| v);
        let text = text
            .strip_prefix('v')
            .or_else(|| text.strip_prefix('V'))
            .unwrap_or(text);
        let core_end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (core, mut rest) = text.split_at(core_end);
        let core = core.strip_suffix('.').unwrap_or(core);
        if core.is_empty() {
            return None;
        }
        let mut numbers = [0u64; 4];
        for (count, part) in core.split('.').enumerate() {
            if count == 4 || part.is_empty() {
                return None;
            }
            numbers[count] = part.parse().ok()?;
        }
        // A trailing `dev` (`-dev`, `.dev`, `dev`) is a development snapshot.
        let dev = rest.to_ascii_lowercase().ends_with("dev");
        if dev {
            rest = rest[..rest.len() - 3].trim_end_matches(['-', '.', '_']);
        }
        let rest = rest.trim_start_matches(['-', '.', '_']);
        let (stability, stability_numbers) = if rest.is_empty() {
            let bare = if dev {
                Stability::Dev
            } else {
                Stability::Stable
            };
            (bare, Vec::new())
        } else {
            let word_end = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            let (word, tail) = rest.split_at(word_end);
            let stability = match word.to_ascii_lowercase().as_str() {
                "stable" => Stability::Stable,
                "rc" => Stability::Rc,
                "beta" | "b" => Stability::Beta,
                "alpha" | "a" => Stability::Alpha,
                "patch" | "pl" | "p" => Stability::Patch,
                _ => return None,
            };
            let mut parts = Vec::new();
            for part in tail.split(['.', '-']).filter(|p| !p.is_empty()) {
                if parts.len() == 4 {
                    return None;
                }
                parts.push(part.parse().ok()?);
            }
            (stability, parts)
        };
        // A bare `-dev` is the development stability itself (`1.0.0-dev` <
        // `1.0.0-alpha1`); after a stability word it marks that word's
        // development snapshot.
        let dev = dev && stability != Stability::Dev;
        Some(Self {
            numbers,
            stability,
            stability_numbers,
            dev,
        })
    }
}

impl Ord for ComposerVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let numbers = |v: &Self| {
            let mut n = v.stability_numbers.clone();
            while n.last() == Some(&0) {
                n.pop();
            }
            n
        };
        self.numbers
            .cmp(&other.numbers)
            .then(self.stability.cmp(&other.stability))
            .then_with(|| numbers(self).cmp(&numbers(other)))
            // A development snapshot comes before what it leads to.
            .then(other.dev.cmp(&self.dev))
    }
}

impl PartialOrd for ComposerVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> ComposerVersion {
        ComposerVersion::parse(text).unwrap_or_else(|| panic!("{text} parses"))
    }

    #[test]
    fn normalised_to_four_parts_with_or_without_v() {
        assert_eq!(v("v1.2"), v("1.2.0.0"));
        assert_eq!(v("7.4.5"), v("v7.4.5.0"));
        assert!(v("1.10.0") > v("1.9.9.9"));
        assert!(v("1.0.0.1") > v("1.0.0"));
    }

    #[test]
    fn stabilities_rank_dev_alpha_beta_rc_stable_patch() {
        let order = [
            "1.0.0-dev",
            "1.0.0-alpha1",
            "1.0.0-a2",
            "1.0.0-beta1",
            "1.0.0-b2",
            "1.0.0-RC1",
            "1.0.0RC2",
            "1.0.0",
            "1.0.0-patch1",
            "1.0.0-pl2",
            "1.0.1-alpha1",
        ];
        for pair in order.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0.0-stable"), v("1.0.0"));
        assert_eq!(v("1.0.0-alpha1"), v("1.0.0-a1"));
        assert_eq!(v("1.0.0-rc1"), v("1.0.0-RC1"));
    }

    #[test]
    fn a_dev_snapshot_of_a_stability_sorts_before_it() {
        assert!(v("1.0.0-beta2-dev") < v("1.0.0-beta2"));
        assert!(v("1.0.0-beta2-dev") > v("1.0.0-beta1"));
        assert!(v("1.0.0-beta") < v("1.0.0-beta1"), "no number is 0");
    }

    #[test]
    fn branches_and_junk_do_not_parse() {
        for bad in [
            "dev-main",
            "1.x-dev",
            "",
            "v",
            "1.2.3.4.5",
            "1.0.0-gamma",
            "abc",
            "1..2",
        ] {
            assert!(ComposerVersion::parse(bad).is_none(), "{bad:?}");
        }
    }
}
