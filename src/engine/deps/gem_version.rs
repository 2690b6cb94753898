//! RubyGems' version ordering (`Gem::Version#<=>`), written here because no
//! maintained crate implements it: the generic version crates
//! (`version-compare`, `versions`) split and rank letters their own way,
//! and RubyGems' rule differs from SemVer's (`1.0.a` is a pre-release of
//! `1.0`, `1.0.0` equals `1`, `-` means `.pre.`).
//!
//! As RubyGems does it: `-` is read as `.pre.`; the text is cut into runs
//! of digits and runs of letters (dots only separate); trailing zeros of
//! the release part and of the pre-release part are dropped; segments are
//! then compared in turn, a missing one counting as `0`, numbers
//! numerically, letters as text, and a letter before any number (so a
//! segment with a letter makes a pre-release that sorts before the
//! release).

use std::cmp::Ordering;

/// Longest version text accepted: gem versions are short, and the segments
/// are held per comparison.
const MAX_LEN: usize = 128;

/// One segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Number(u64),
    Letters(String),
}

/// A parsed gem version.
#[derive(Debug, Clone)]
pub struct GemVersion {
    /// The canonical segments (trailing zeros dropped).
    segments: Vec<Segment>,
}

impl GemVersion {
    /// Parses `text` as `Gem::Version.correct?` accepts it (`1`, `1.2.3`,
    /// `1.0.0.rc1`, `2.0.0-beta.2`); `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty()
            || text.len() > MAX_LEN
            || !text.starts_with(|c: char| c.is_ascii_digit())
        {
            return None;
        }
        // Gem::Version's pattern: a numeric first segment, then `.`-separated
        // alphanumeric ones, and an optional `-` suffix of alphanumerics,
        // `-` and `.`.
        let (release, pre) = match text.split_once('-') {
            Some((release, pre)) => (release, Some(pre)),
            None => (text, None),
        };
        let valid_part = |part: &str, extra: &[char]| {
            !part.is_empty()
                && part.split('.').all(|s| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
                })
        };
        if !valid_part(release, &[]) || pre.is_some_and(|p| !valid_part(p, &['-'])) {
            return None;
        }
        let normalised = match pre {
            Some(pre) => format!("{release}.pre.{}", pre.replace('-', ".pre.")),
            None => release.to_owned(),
        };
        let mut raw = Vec::new();
        let mut run = String::new();
        let flush = |run: &mut String, raw: &mut Vec<Segment>| -> Option<()> {
            if run.is_empty() {
                return Some(());
            }
            let segment = if run.starts_with(|c: char| c.is_ascii_digit()) {
                Segment::Number(run.parse().ok()?)
            } else {
                Segment::Letters(std::mem::take(run))
            };
            run.clear();
            raw.push(segment);
            Some(())
        };
        for c in normalised.chars() {
            let switch = run
                .chars()
                .last()
                .is_some_and(|last| last.is_ascii_digit() != c.is_ascii_digit());
            if c == '.' || switch {
                flush(&mut run, &mut raw)?;
            }
            if c != '.' {
                run.push(c);
            }
        }
        flush(&mut run, &mut raw)?;
        // Release part: up to the first letters; each part loses its trailing zeros.
        let split = raw
            .iter()
            .position(|s| matches!(s, Segment::Letters(_)))
            .unwrap_or(raw.len());
        let trim = |part: &[Segment]| {
            let end = part
                .iter()
                .rposition(|s| *s != Segment::Number(0))
                .map_or(0, |i| i + 1);
            part[..end].to_vec()
        };
        let mut segments = trim(&raw[..split]);
        segments.extend(trim(&raw[split..]));
        Some(Self { segments })
    }

    /// Whether a segment has letters: RubyGems' `prerelease?`.
    pub fn is_prerelease(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Letters(_)))
    }
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Segment::Number(0);
        let len = self.segments.len().max(other.segments.len());
        for i in 0..len {
            let a = self.segments.get(i).unwrap_or(&zero);
            let b = other.segments.get(i).unwrap_or(&zero);
            let order = match (a, b) {
                (Segment::Number(a), Segment::Number(b)) => a.cmp(b),
                (Segment::Letters(a), Segment::Letters(b)) => a.cmp(b),
                (Segment::Letters(_), Segment::Number(_)) => Ordering::Less,
                (Segment::Number(_), Segment::Letters(_)) => Ordering::Greater,
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for GemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for GemVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for GemVersion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> GemVersion {
        GemVersion::parse(text).unwrap_or_else(|| panic!("{text} parses"))
    }

    #[test]
    fn trailing_zeros_do_not_count() {
        assert_eq!(v("1"), v("1.0.0"));
        assert_eq!(v("1.0.0.a"), v("1.a"));
        assert!(v("1.0.1") > v("1.0"));
    }

    #[test]
    fn numbers_compare_numerically() {
        assert!(v("1.10") > v("1.9"));
        assert!(v("1.13.10") > v("1.13.9"));
        assert!(v("2") > v("1.99.99"));
    }

    #[test]
    fn a_letter_makes_a_pre_release_before_the_release() {
        assert!(v("1.0.a") < v("1.0"));
        assert!(v("1.0.0.rc1") < v("1.0.0"));
        assert!(v("1.0.0.rc1") > v("1.0.0.beta2"), "letters compare as text");
        assert!(v("1.0.0.rc1") > v("0.9.9"));
        assert!(v("1.0.0.rc2") > v("1.0.0.rc1"));
        assert!(
            v("1.0.0.rc10") > v("1.0.0.rc9"),
            "digits after letters split off"
        );
        assert!(v("1.0.0.rc1").is_prerelease());
        assert!(!v("1.0.0").is_prerelease());
    }

    #[test]
    fn a_dash_means_pre() {
        assert_eq!(v("1.0.0-rc1"), v("1.0.0.pre.rc1"));
        assert!(v("1.0.0-rc1") < v("1.0.0"));
        assert!(v("2.0.0-beta.2") > v("2.0.0-beta.1"));
    }

    #[test]
    fn what_is_not_a_gem_version() {
        for bad in [
            "", "a1.0", "1..0", "1.0.", "1.0 beta", "1.0-", "1.0-x_y", "v1.0",
        ] {
            assert!(GemVersion::parse(bad).is_none(), "{bad:?}");
        }
        assert!(GemVersion::parse(&"1.".repeat(100)).is_none(), "too long");
        assert!(
            GemVersion::parse("1.99999999999999999999999").is_none(),
            "a number past u64 is refused, not wrapped"
        );
    }
}
