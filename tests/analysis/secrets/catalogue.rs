//! The peers' rule names our rules answer to are real names: each alias is
//! in the peer's own catalogue (fixtures/secrets/catalogues), so a
//! `hunkscan:ignore <their id>` or a `.gitleaksignore` line written for
//! the peer lines up with one of our rules.

use hunkscan::engine::secrets::SecretRules;
use std::collections::BTreeSet;

fn catalogue(name: &str) -> BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/secrets/catalogues")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("catalogue");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_peer_alias_names_a_real_rule() {
    let gitleaks = catalogue("gitleaks-rule-ids.txt");
    let detect_secrets = catalogue("detect-secrets-plugins.txt");
    let trufflehog = catalogue("trufflehog-detectors.txt");
    // The lists are the tools' own, not a handful typed to make this pass.
    assert!(gitleaks.len() >= 200, "{}", gitleaks.len());
    assert!(detect_secrets.len() >= 25, "{}", detect_secrets.len());
    assert!(trufflehog.len() >= 1000, "{}", trufflehog.len());
    let rules = SecretRules::load(None).expect("rules");
    let mut unknown = Vec::new();
    let mut checked = 0;
    for rule in rules.rules() {
        for (tool, names, known) in [
            ("gitleaks", &rule.aliases.gitleaks, &gitleaks),
            (
                "detect-secrets",
                &rule.aliases.detect_secrets,
                &detect_secrets,
            ),
            ("trufflehog", &rule.aliases.trufflehog, &trufflehog),
        ] {
            for name in names {
                checked += 1;
                if !known.contains(name) {
                    unknown.push(format!("{}: {tool} `{name}`", rule.id));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "aliases no peer defines:\n{}",
        unknown.join("\n")
    );
    assert!(checked >= 300, "{checked} aliases");
}

#[test]
fn the_peers_most_used_rules_are_all_answered() {
    // The ids teams most often write in their suppressions: each is an
    // alias of some rule, so none of those suppressions is lost.
    let rules = SecretRules::load(None).expect("rules");
    for id in [
        "aws-access-token",
        "github-pat",
        "generic-api-key",
        "private-key",
        "slack-webhook-url",
        "stripe-access-token",
        "AWSKeyDetector",
        "KeywordDetector",
        "Base64HighEntropyString",
        "PrivateKeyDetector",
        "AWS",
        "Github",
        "PrivateKey",
        "URI",
        "JDBC",
    ] {
        assert!(
            rules.rules().iter().any(|rule| rule.answers_to(id)),
            "no rule answers to {id}"
        );
    }
}
