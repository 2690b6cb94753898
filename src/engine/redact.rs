//! A secret value never leaves the process: every text a finding carries out
//! of the engine (snippet, message, fix, suppression reason) is masked here,
//! for every analyzer at once, before any reporter sees it.
//!
//! Analyzers mask what they know of their own findings, but a line can hold
//! more than one problem: a SAST match on a line that also holds a token, two
//! tokens on one line, a hard-coded key that a SAST rule reports while the
//! secrets analyzer masks it. So the engine gathers, per file, every value an
//! analyzer declared secret ([`super::RawFinding::secrets`]) and asks the
//! secrets detector about every line it is about to show, whether or not the
//! repository switched secret findings off, and masks them all everywhere.

use super::Finding;
use super::secrets::{mask, mask_whole};
use std::ops::Range;

/// Finds credential values in one line (the secrets analyzer is one).
pub trait SecretFinder: Send + Sync {
    /// Where the credentials in `line` are.
    fn secret_spans(&self, line: &str) -> Vec<SecretSpan>;
}

/// A credential's place in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpan {
    /// Byte range in the line.
    pub range: Range<usize>,
    /// Hide all of it (no prefix): a webhook path, a URL's `user:password`.
    pub whole: bool,
}

/// Values shorter than this are not replaced by value across texts: they
/// occur in ordinary words and would garble messages (a four-character
/// "secret" is not one an attacker needs to see masked anywhere but in the
/// line itself, where the detector masks it by position).
const MIN_VALUE_CHARS: usize = 4;

/// The secret values of one file, found in one pass over any text (an
/// Aho-Corasick automaton: a hostile file can declare thousands of values,
/// and one search per value per text was quadratic), and the detector.
pub struct Redactor<'a> {
    values: Vec<String>,
    automaton: Option<aho_corasick::AhoCorasick>,
    finder: Option<&'a dyn SecretFinder>,
    /// Whether a line of the file holds a secret, by line index: findings
    /// share lines, and a line can be a megabyte long.
    line_holds: std::cell::RefCell<std::collections::HashMap<usize, bool>>,
}

impl<'a> Redactor<'a> {
    /// From the values the analyzers declared secret (multi-line values,
    /// such as private keys, count line by line) and the detector, if any.
    pub fn new<'v>(
        declared: impl IntoIterator<Item = &'v String>,
        finder: Option<&'a dyn SecretFinder>,
    ) -> Self {
        let mut values: Vec<String> = declared
            .into_iter()
            .flat_map(|value| value.lines())
            .map(str::trim)
            .filter(|piece| piece.chars().count() >= MIN_VALUE_CHARS)
            .map(str::to_owned)
            .collect();
        values.sort_unstable();
        values.dedup();
        // Leftmost-longest: a value that contains another is masked whole.
        let automaton = (!values.is_empty())
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                    .build(&values)
                    .inspect_err(|error| {
                        tracing::warn!(%error, "cannot index the declared secret values; masking by detection only");
                    })
                    .ok()
            })
            .flatten();
        Self {
            values,
            automaton,
            finder,
            line_holds: std::cell::RefCell::default(),
        }
    }

    /// `text` with every known and every detected secret masked; `true`
    /// when something was.
    pub fn mask(&self, text: &str) -> (String, bool) {
        let mut changed = false;
        let mut out = match &self.automaton {
            Some(automaton) if automaton.is_match(text) => {
                changed = true;
                let mut out = String::with_capacity(text.len());
                automaton.replace_all_with(text, &mut out, |found, _, dst| {
                    let value = &self.values[found.pattern().as_usize()];
                    dst.push_str(&mask(value));
                    true
                });
                out
            }
            _ => text.to_owned(),
        };
        if let Some(finder) = self.finder {
            let mut lines = Vec::new();
            for line in out.split('\n') {
                let mut spans = finder.secret_spans(line);
                if spans.is_empty() {
                    lines.push(line.to_owned());
                    continue;
                }
                changed = true;
                spans.sort_by_key(|span| std::cmp::Reverse(span.range.start));
                let mut masked = line.to_owned();
                let mut floor = usize::MAX;
                for SecretSpan { range, whole } in spans {
                    // Overlapping or out-of-bounds ranges: keep the first cut.
                    if range.end > floor || range.end > masked.len() {
                        continue;
                    }
                    if let Some(value) = masked.get(range.clone()) {
                        let replacement = if whole {
                            mask_whole(value)
                        } else {
                            mask(value)
                        };
                        masked.replace_range(range.clone(), &replacement);
                        floor = range.start;
                    }
                }
                lines.push(masked);
            }
            out = lines.join("\n");
        }
        (out, changed)
    }

    /// Whether line `index` (0-based) of the file, `line`, holds a secret;
    /// asked once per line whatever the number of findings on it.
    fn line_holds_secret(&self, index: usize, line: &str) -> bool {
        if let Some(known) = self.line_holds.borrow().get(&index) {
            return *known;
        }
        let holds = self
            .automaton
            .as_ref()
            .is_some_and(|automaton| automaton.is_match(line))
            || self
                .finder
                .is_some_and(|finder| !finder.secret_spans(line).is_empty());
        self.line_holds.borrow_mut().insert(index, holds);
        holds
    }

    /// Masks every text of `finding` that leaves the process. `lines` are
    /// the lines of the file the finding points into; a fix on a line that
    /// holds a secret is dropped rather than offered.
    pub fn apply(&self, finding: &mut Finding, file_lines: &[&str]) {
        finding.snippet = self.mask(&finding.snippet).0;
        finding.message = self.mask(&finding.message).0;
        if let Some(remediation) = &mut finding.remediation {
            *remediation = self.mask(remediation).0;
        }
        for step in &mut finding.flow {
            step.message = self.mask(&step.message).0;
        }
        if let Some(suppression) = &mut finding.suppression
            && let Some(reason) = &mut suppression.reason
        {
            *reason = self.mask(reason).0;
        }
        if finding.fix.is_none() {
            return;
        }
        let first = (finding.start.line.saturating_sub(1) as usize).min(file_lines.len());
        let last = (finding.end.line.max(finding.start.line) as usize).min(file_lines.len());
        let line_leaks =
            (first..last).any(|index| self.line_holds_secret(index, file_lines[index]));
        let fix_leaks = finding
            .fix
            .as_ref()
            .is_some_and(|fix| self.mask(&fix.replacement).1);
        if fix_leaks || line_leaks {
            finding.fix = None;
        }
    }
}

/// The contents of the string literals in `code` (`"…"` and `'…'`, with
/// backslash escapes): what a rule that reports a hard-coded credential
/// declares secret.
pub fn string_literals(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut chars = code.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c != '"' && c != '\'' {
            continue;
        }
        let mut escaped = false;
        let mut end = None;
        for (index, inner) in chars.by_ref() {
            match inner {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                q if q == c => {
                    end = Some(index);
                    break;
                }
                '\n' => break,
                _ => {}
            }
        }
        if let Some(end) = end
            && let Some(value) = code.get(start + 1..end)
            && !value.is_empty()
        {
            found.push(value.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ghp;
    impl SecretFinder for Ghp {
        fn secret_spans(&self, line: &str) -> Vec<SecretSpan> {
            line.match_indices("ghp_")
                .map(|(at, _)| SecretSpan {
                    range: at..(at + 40).min(line.len()),
                    whole: false,
                })
                .collect()
        }
    }

    #[test]
    fn known_and_detected_values_are_masked() {
        let token = format!("ghp_{}", "a".repeat(36));
        let redactor = Redactor::new(&["s3cr3t-value-xyz".to_owned()], Some(&Ghp));
        let (text, changed) = redactor.mask(&format!("k = 's3cr3t-value-xyz'; t = '{token}'"));
        assert!(changed);
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(!text.contains(&token[..8]), "{text}");
        assert!(text.contains("s3cr…(16 chars)"), "{text}");
    }

    #[test]
    fn literals_are_read_with_escapes() {
        assert_eq!(
            string_literals(r#"KEY = "a\"b" + 'c'"#),
            vec![r#"a\"b"#.to_owned(), "c".to_owned()]
        );
        assert!(string_literals("x = 1").is_empty());
    }
}
