//! Fingerprints that survive unrelated edits.
//!
//! A fingerprint is a keyed MAC (HMAC-SHA-256 under the deployment's
//! fingerprint key) of the rule id, the path and the analyzer's identity of
//! the match: the matched text with white space folded and its enclosing
//! scope (the function or class for SAST, the resource for IaC; for secrets
//! a keyed hash of the value). Line numbers and occurrence counts are left
//! out on purpose: inserting lines, moving code, or adding the same pattern
//! elsewhere must not change an existing finding's identity. Two findings
//! may therefore share one (the same code twice in one function): the bot
//! tells them apart by where its comments are (`app::threads`), and SARIF
//! numbers them. The key is what makes
//! the fingerprints in the bot's comments unforgeable: without it nobody can
//! compute the fingerprint a future finding will have, and the matched text
//! (which may hold a credential) cannot be tested against a fingerprint.

use super::{Finding, RawFinding};
use hmac::{Hmac, Mac};
use sha2::Sha256;

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
    raw.into_iter()
        .map(|raw| {
            let identity = normalise(&raw.identity);
            let mut finding = raw.finding;
            finding.fingerprint = compute(key, &finding.rule_id, path, &identity);
            finding
        })
        .collect()
}

/// The fingerprint itself: 32 hex digits of HMAC-SHA-256 under `key`.
pub fn compute(key: &[u8], rule_id: &str, path: &str, normalised_identity: &str) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    // Version 2 of the recipe (scope, no occurrence): never equal to a
    // version 1 fingerprint of the same finding.
    mac.update(b"v2\0");
    for part in [rule_id, path, normalised_identity] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    hex(&mac.finalize().into_bytes()[..16])
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
