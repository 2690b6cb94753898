//! Fingerprints that survive unrelated edits.
//!
//! A fingerprint is a keyed MAC (HMAC-SHA-256 under the deployment's
//! fingerprint key) of the rule id, the path, the matched text with white
//! space folded, and the occurrence index of that same text for that rule in
//! the file. Line numbers are left out on purpose: inserting lines above a
//! finding must not make the bot comment on it again. The key is what makes
//! the fingerprints in the bot's comments unforgeable: without it nobody can
//! compute the fingerprint a future finding will have, and the matched text
//! (which may hold a credential) cannot be tested against a fingerprint.

use super::{Finding, RawFinding};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;

/// Folds every run of white space to one space, so re-indenting or
/// re-wrapping a statement keeps its fingerprint.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Gives each raw finding of one file its fingerprint, in position order.
pub fn assign(key: &[u8], path: &str, mut raw: Vec<RawFinding>) -> Vec<Finding> {
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
            finding.fingerprint = compute(key, &finding.rule_id, path, &identity, *occurrence);
            *occurrence += 1;
            finding
        })
        .collect()
}

/// The fingerprint itself: 32 hex digits of HMAC-SHA-256 under `key`.
pub fn compute(
    key: &[u8],
    rule_id: &str,
    path: &str,
    normalised_text: &str,
    occurrence: u32,
) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    for part in [rule_id, path, normalised_text] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    mac.update(&occurrence.to_le_bytes());
    hex(&mac.finalize().into_bytes()[..16])
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
