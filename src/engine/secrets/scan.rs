//! The line scan: the keyword prefilter picks the rules a line can match,
//! their regexes find candidates, and each candidate is judged (entropy
//! floor, placeholders, documentation samples) before it becomes a hit or a
//! dropped candidate with its reason.
//!
//! The scan asks the file's deadline at every line and every match: when it
//! passes, the hits of the lines read so far are kept.

use super::super::Deadline;
use super::entropy::shannon_entropy;
use super::mask::{mask, mask_whole};
use super::placeholder::{self, DropReason};
use super::rules::{SecretRule, SecretRules};
use crate::engine::lazy_regex::LazyRegex;
use regex::Regex;
use std::collections::BTreeMap;

/// The longest block a multi-line rule (PEM keys) may span.
const MAX_BLOCK_LINES: usize = 200;

/// Dropped candidates kept per file: enough to explain a file, bounded
/// whatever a hostile file holds.
pub const MAX_DROPPED_PER_FILE: usize = 200;

/// A value found on one line, before it becomes a finding.
pub(super) struct Hit<'r> {
    pub rule: &'r SecretRule,
    pub line: u32,
    /// Byte range of the value in its line.
    pub start: usize,
    pub end: usize,
    pub end_line: u32,
    pub value: String,
    /// The rule's `mask` group matched: the whole span (`start..end`, wider
    /// than the value) is hidden, no prefix shown. A Slack webhook's path
    /// or a URL's `user:password` say too much in any part.
    pub whole: bool,
}

/// A candidate a rule matched and a check turned down.
pub(super) struct DroppedHit<'r> {
    pub rule: &'r SecretRule,
    pub line: u32,
    /// Byte offset of the value in its line.
    pub start: usize,
    /// The value, masked as a finding would mask it.
    pub masked: String,
    pub reason: DropReason,
}

/// How a file is read: documentation files get stricter example checks.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FileKind {
    /// `.md`, `.rst` and the like: prose whose values are mostly examples.
    pub documentation: bool,
}

/// Why `rule`'s candidate `value` (within the match `whole_match`) is not
/// reported, if it is not.
fn judge(
    rule: &SecretRule,
    value: &str,
    whole_match: &str,
    name: Option<&str>,
    kind: FileKind,
) -> Option<DropReason> {
    if let Some(name) = name {
        let lower = name.to_ascii_lowercase();
        if rule.name_excludes.iter().any(|word| lower.contains(word)) {
            return Some(DropReason::NameNotACredential);
        }
    }
    // Placeholders before the entropy floor: `ghp_xxxx…` is low in entropy
    // too, and "a run of `x`" tells the reader more than a number.
    if let Some(reason) = placeholder::common(value) {
        return Some(reason);
    }
    // `EXAMPLE_API_KEY = …`, `user:pass@db.example.com`: the match says it.
    if whole_match.len() != value.len() && whole_match.to_ascii_lowercase().contains("example") {
        return Some(DropReason::Placeholder {
            what: "the match names an example",
        });
    }
    let hex = value.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(floor) = rule.entropy_hex.filter(|_| hex).or(rule.entropy) {
        let entropy = shannon_entropy(value);
        if entropy < floor {
            return Some(DropReason::LowEntropy { entropy, floor });
        }
    }
    if rule.placeholders {
        if let Some(reason) = placeholder::generic(value) {
            return Some(reason);
        }
        if kind.documentation && placeholder::obvious_example(value) {
            return Some(DropReason::DocumentationExample);
        }
    }
    None
}

/// Finds secrets on the given 1-based lines of `lines`, into `hits` (and
/// the candidates turned down into `dropped`, when given). Returns `false`
/// when `deadline` passed before every line was read.
pub(super) fn scan_lines<'r>(
    rules: &'r SecretRules,
    lines: &[&str],
    wanted: impl Iterator<Item = u32>,
    deadline: &Deadline,
    kind: FileKind,
    hits: &mut Vec<Hit<'r>>,
    mut dropped: Option<&mut Vec<DroppedHit<'r>>>,
) -> bool {
    let mut candidates: Vec<usize> = Vec::new();
    // The values already reported on the current line, start ─▶ end.
    // They never overlap, so the one starting last before a new value's
    // end is the only one that can overlap it: a look-up, where a scan
    // of the line's hits made a line of many matches quadratic.
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    for number in wanted {
        if deadline.expired() {
            return false;
        }
        let Some(line) = usize::try_from(number)
            .ok()
            .and_then(|n| lines.get(n.wrapping_sub(1)))
        else {
            continue;
        };
        candidates.clear();
        rules
            .prefilter
            .owners_in(line, |rule| candidates.push(rule));
        if candidates.is_empty() {
            continue;
        }
        // Rule order is priority order (specific before generic), and so is index order.
        candidates.sort_unstable();
        candidates.dedup();
        taken.clear();
        for rule in candidates.iter().map(|&index| &rules.rules[index]) {
            // Built here, the first time a line holds one of its keywords.
            let Some(regex) = rule.regex.get() else {
                continue;
            };
            for captures in regex.captures_iter(line) {
                // A long line can hold a great many matches.
                if deadline.expired() {
                    return false;
                }
                let Some(value) = captures
                    .name("secret")
                    .or_else(|| captures.get(1))
                    .or_else(|| captures.get(0))
                else {
                    continue;
                };
                let text = value.as_str();
                if text.is_empty() {
                    continue;
                }
                let shown = captures.name("mask").unwrap_or(value);
                let whole = captures.name("mask").is_some();
                let whole_match = captures.get(0).map_or(text, |m| m.as_str());
                let name = captures.name("name").map(|m| m.as_str());
                // A key block's value is its armour line; its body says
                // whether it is a key or a stand-in (`<your key>`, `xxxx`, `...`).
                let block = rule
                    .multiline_end
                    .as_ref()
                    .and_then(LazyRegex::get)
                    .map(|end| block_end(lines, number, end));
                let verdict = judge(rule, text, whole_match, name, kind).or_else(|| {
                    // The block starts with this line: the body starts where the value ends.
                    let (_, block_text) = block.as_ref()?;
                    placeholder_body(block_text.get(value.end()..)?)
                });
                if let Some(reason) = verdict {
                    if let Some(dropped) = dropped.as_deref_mut()
                        && dropped.len() < MAX_DROPPED_PER_FILE
                        && !dropped
                            .iter()
                            .rev()
                            .take_while(|d| d.line == number)
                            .any(|d| d.start == value.start())
                    {
                        dropped.push(DroppedHit {
                            rule,
                            line: number,
                            start: value.start(),
                            masked: if whole {
                                mask_whole(shown.as_str())
                            } else {
                                mask(text)
                            },
                            reason,
                        });
                    }
                    continue;
                }
                let overlaps = taken
                    .range(..shown.end())
                    .next_back()
                    .is_some_and(|(_, &end)| shown.start() < end);
                if overlaps {
                    continue; // a more specific rule already reported this value
                }
                // An empty span overlaps nothing: kept out, it cannot
                // hide a span that starts where it is.
                if shown.start() < shown.end() {
                    taken.insert(shown.start(), shown.end());
                }
                let (end_line, value) = block.unwrap_or_else(|| (number, text.to_owned()));
                hits.push(Hit {
                    rule,
                    line: number,
                    start: shown.start(),
                    end: shown.end(),
                    whole,
                    end_line,
                    value,
                });
            }
        }
    }
    true
}

/// The 1-based character columns of each `(line, start byte, end byte)`,
/// in one pass over each line that holds them: counting from the line's
/// start for every hit made a long line of many values quadratic.
pub(super) fn columns(lines: &[&str], spans: &[(u32, usize, usize)]) -> Vec<(u32, u32)> {
    let mut wanted: Vec<(u32, usize, usize, bool)> = Vec::with_capacity(spans.len() * 2);
    for (index, &(line, start, end)) in spans.iter().enumerate() {
        wanted.push((line, start, index, false));
        wanted.push((line, end, index, true));
    }
    wanted.sort_unstable();
    let mut out = vec![(1, 1); spans.len()];
    let (mut line, mut byte, mut chars) = (0, 0, 0);
    for (at_line, at_byte, index, is_end) in wanted {
        if at_line != line {
            (line, byte, chars) = (at_line, 0, 0);
        }
        let text = lines
            .get((line as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("");
        chars += text.get(byte..at_byte).map_or(0, |s| s.chars().count());
        byte = byte.max(at_byte);
        let column = u32::try_from(chars + 1).unwrap_or(u32::MAX);
        if is_end {
            out[index].1 = column;
        } else {
            out[index].0 = column;
        }
    }
    out
}

/// Why a key block's body (what follows its armour line) is no key: a
/// template, a filler or a run of masking characters where base64 would be.
/// Random base64 holds none of them but with negligible probability.
fn placeholder_body(body: &str) -> Option<DropReason> {
    placeholder::common(body).map(|reason| match reason {
        DropReason::Placeholder { .. } => DropReason::Placeholder {
            what: "the key's body is a template or filler",
        },
        other => other,
    })
}

/// The line that closes a block opened on `start` (1-based), and the block's text.
fn block_end(lines: &[&str], start: u32, end: &Regex) -> (u32, String) {
    let first = start as usize - 1;
    let last = (first + MAX_BLOCK_LINES).min(lines.len());
    for index in first..last {
        if end.is_match(lines[index]) {
            return (
                u32::try_from(index + 1).unwrap_or(start),
                lines[first..=index].join("\n"),
            );
        }
    }
    (start, lines[first].to_owned())
}
