//! Fingerprints that survive unrelated edits.
//!
//! A fingerprint is a hash of the rule id, the path, the matched text with
//! white space folded, and the occurrence index of that same text for that
//! rule in the file. Line numbers are left out on purpose: inserting lines
//! above a finding must not make the bot comment on it again.

use super::{Finding, RawFinding};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Folds every run of white space to one space, so re-indenting or
/// re-wrapping a statement keeps its fingerprint.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Gives each raw finding of one file its fingerprint, in position order.
pub fn assign(path: &str, mut raw: Vec<RawFinding>) -> Vec<Finding> {
    raw.sort_by(|a, b| {
        (a.finding.start, &a.finding.rule_id).cmp(&(b.finding.start, &b.finding.rule_id))
    });
    let mut seen: HashMap<(String, String), u32> = HashMap::new();
    raw.into_iter()
        .map(|raw| {
            let identity = normalise(&raw.identity);
            let occurrence = seen
                .entry((raw.finding.rule_id.clone(), identity.clone()))
                .or_insert(0);
            let mut finding = raw.finding;
            finding.fingerprint = compute(&finding.rule_id, path, &identity, *occurrence);
            *occurrence += 1;
            finding
        })
        .collect()
}

/// The fingerprint itself: 32 hex digits of SHA-256.
pub fn compute(rule_id: &str, path: &str, normalised_text: &str, occurrence: u32) -> String {
    let mut hasher = Sha256::new();
    for part in [rule_id, path, normalised_text] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.update(occurrence.to_le_bytes());
    hex(&hasher.finalize()[..16])
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
