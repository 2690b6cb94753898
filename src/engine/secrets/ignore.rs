//! Suppressions a team wrote for another secret scanner, kept when it moves
//! to hunkscan:
//!
//! - `.gitleaksignore`: one Gitleaks fingerprint a line, `file:rule:line`
//!   (`gitleaks dir`, `--no-git`) or `commit:file:rule:line` (`gitleaks
//!   git`). The rule is a Gitleaks rule id, mapped to ours through the
//!   rules' declared `gitleaks` aliases; the line is the secret's 1-based
//!   line. A change is judged at its head, where one commit of the pull
//!   request may not be the one the fingerprint names: the commit part is
//!   read and left out of the match (same file, same rule, same line).
//! - `trufflehog:ignore` on the secret's own line (TruffleHog takes no rule
//!   id and no other line).
//!
//! The ignore file is read from the change's base, like the configuration
//! (a pull request cannot silence its own secret by adding a line to it).

use super::super::{AnalyzerKind, ChangeKind, Finding, Suppression, SuppressionSource};
use super::SecretRules;
use std::collections::HashMap;

/// Each secret rule's Gitleaks ids, by rule id: what a `.gitleaksignore`
/// line's rule is matched through.
#[derive(Debug, Clone, Default)]
pub struct GitleaksAliases(HashMap<String, Vec<String>>);

impl GitleaksAliases {
    /// The aliases `rules` declare.
    pub fn of(rules: &SecretRules) -> Self {
        Self(
            rules
                .rules()
                .iter()
                .filter(|rule| !rule.aliases.gitleaks.is_empty())
                .map(|rule| (rule.id.clone(), rule.aliases.gitleaks.clone()))
                .collect(),
        )
    }
}

/// Lines of a `.gitleaksignore` read at most: a bound on what a
/// repository's file costs, far above what teams keep (one per accepted finding).
pub const MAX_IGNORE_LINES: usize = 20_000;

/// Where the ignore file lives in a repository.
pub const GITLEAKS_IGNORE_PATH: &str = ".gitleaksignore";

/// One fingerprint of a `.gitleaksignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Its line in `.gitleaksignore`.
    at: u32,
    rule: String,
}

/// A repository's `.gitleaksignore`, by file and line of the secret.
#[derive(Debug, Clone, Default)]
pub struct GitleaksIgnore {
    by_place: HashMap<(String, u32), Vec<Entry>>,
}

impl GitleaksIgnore {
    /// Reads the file; lines that are no fingerprint are listed with why,
    /// for a note (the rest still applies).
    pub fn parse(text: &str) -> (Self, Vec<String>) {
        let mut ignore = Self::default();
        let mut problems = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let at = u32::try_from(index + 1).unwrap_or(u32::MAX);
            if index >= MAX_IGNORE_LINES {
                problems.push(format!(
                    "{GITLEAKS_IGNORE_PATH}: only the first {MAX_IGNORE_LINES} lines are read"
                ));
                break;
            }
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match fingerprint(line) {
                Some((path, rule, number)) => ignore
                    .by_place
                    .entry((path.to_owned(), number))
                    .or_default()
                    .push(Entry {
                        at,
                        rule: rule.to_owned(),
                    }),
                None => problems.push(format!(
                    "{GITLEAKS_IGNORE_PATH} line {at}: not a fingerprint (`file:rule:line` or `commit:file:rule:line`)"
                )),
            }
        }
        (ignore, problems)
    }

    /// Number of fingerprints read.
    pub fn len(&self) -> usize {
        self.by_place.values().map(Vec::len).sum()
    }

    /// True when no fingerprint was read.
    pub fn is_empty(&self) -> bool {
        self.by_place.is_empty()
    }

    /// Suppresses the new secret findings a fingerprint names (same file,
    /// same line, a Gitleaks id the finding's rule answers to) that no
    /// marker suppressed already.
    pub fn apply(&self, aliases: &GitleaksAliases, findings: &mut [Finding]) {
        if self.is_empty() {
            return;
        }
        for finding in findings {
            if finding.analyzer == AnalyzerKind::Secrets
                && finding.change != ChangeKind::Fixed
                && finding.suppression.is_none()
            {
                let ids = aliases
                    .0
                    .get(&finding.rule_id)
                    .map_or(&[][..], Vec::as_slice);
                finding.suppression = self.suppression_for(finding, ids);
            }
        }
    }

    /// The suppression of `finding`, whose rule answers to the Gitleaks ids
    /// `ids`, when a fingerprint names its file, its line and one of them.
    fn suppression_for(&self, finding: &Finding, ids: &[String]) -> Option<Suppression> {
        let entries = self
            .by_place
            .get(&(finding.path.clone(), finding.start.line))?;
        let entry = entries
            .iter()
            .find(|entry| ids.iter().any(|id| id.eq_ignore_ascii_case(&entry.rule)))?;
        Some(Suppression {
            source: SuppressionSource::GitleaksIgnore,
            reason: Some(format!(
                "fingerprint on line {} of {GITLEAKS_IGNORE_PATH} (Gitleaks rule `{}`)",
                entry.at, entry.rule
            )),
            line: finding.start.line,
        })
    }
}

/// `[commit:]file:rule:line` ─▶ (file, rule, line). Read from the right: a
/// path may hold a colon, a rule id and a line number do not.
fn fingerprint(line: &str) -> Option<(&str, &str, u32)> {
    let (rest, number) = line.rsplit_once(':')?;
    let number: u32 = number.trim().parse().ok().filter(|n| *n > 0)?;
    let (rest, rule) = rest.rsplit_once(':')?;
    if rule.is_empty() || rule.contains(char::is_whitespace) {
        return None;
    }
    let path = match rest.split_once(':') {
        Some((commit, path)) if is_commit(commit) => path,
        _ => rest,
    };
    let path = path.strip_prefix("./").unwrap_or(path);
    (!path.is_empty()).then_some((path, rule, number))
}

/// A full or abbreviated git object id.
fn is_commit(text: &str) -> bool {
    (7..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `trufflehog:ignore` on the finding's own line.
pub(super) fn trufflehog_suppression(line_text: &str, line: u32) -> Option<Suppression> {
    line_text
        .contains("trufflehog:ignore")
        .then(|| Suppression {
            source: SuppressionSource::Trufflehog,
            reason: Some("trufflehog:ignore comment".to_owned()),
            line,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_with_and_without_a_commit() {
        assert_eq!(
            fingerprint("config/app.env:github-pat:3"),
            Some(("config/app.env", "github-pat", 3))
        );
        assert_eq!(
            fingerprint("4c1f0d9e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d:src/a:b.py:aws-access-token:12"),
            Some(("src/a:b.py", "aws-access-token", 12))
        );
        assert_eq!(
            fingerprint("./deploy.sh:generic-api-key:1"),
            Some(("deploy.sh", "generic-api-key", 1))
        );
        for bad in [
            "just-a-path",
            "a.py:github-pat",
            "a.py:github-pat:x",
            "a.py:github pat:3",
            ":github-pat:3",
            "a.py:github-pat:0",
        ] {
            assert_eq!(fingerprint(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_lines_are_named_and_the_rest_applies() {
        let (ignore, problems) = GitleaksIgnore::parse(
            "# reviewed 2026-03\n\na.py:github-pat:3\nnonsense\nb.env:slack-bot-token:9\n",
        );
        assert_eq!(ignore.len(), 2);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("line 4"), "{problems:?}");
    }

    #[test]
    fn a_huge_file_is_read_to_its_bound() {
        let text = "a.py:github-pat:1\n".repeat(MAX_IGNORE_LINES + 5);
        let (ignore, problems) = GitleaksIgnore::parse(&text);
        assert_eq!(ignore.len(), MAX_IGNORE_LINES);
        assert_eq!(problems.len(), 1);
    }
}
