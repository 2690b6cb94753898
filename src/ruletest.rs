//! `hunkscan rules test`: every rule against its own examples.
//!
//! As in ast-grep's rule tests, each rule is reported Validated, Noisy (a
//! `valid` snippet matched: a false positive) or Missing (an `invalid`
//! snippet did not match: a false negative). The snippets run through the
//! same parse and scan path as real files, so a rule that passes here
//! behaves the same in a scan.

use crate::engine::sast::{self, RuleInfo, SastAnalyzer};
use crate::engine::secrets::{SecretRule, SecretsAnalyzer};
use serde::Serialize;

/// The verdict on one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Verdict {
    /// Every example behaved.
    Validated,
    /// Something is wrong; each entry says what.
    Failed {
        /// One line per problem.
        problems: Vec<String>,
    },
}

/// One rule's result.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    /// The rule id.
    pub id: String,
    /// Where it was read from.
    pub origin: String,
    /// Its verdict.
    pub verdict: Verdict,
}

/// Checks every SAST and secret rule against its examples and metadata, sorted by id.
pub fn run(analyzer: &SastAnalyzer, secrets: &SecretsAnalyzer) -> Vec<RuleResult> {
    let mut results: Vec<RuleResult> = analyzer
        .rules()
        .infos()
        .into_iter()
        .map(|info| RuleResult {
            id: info.id.clone(),
            origin: info.origin.clone(),
            verdict: check_rule(analyzer, info),
        })
        .collect();
    results.extend(secrets.rules().rules().iter().map(|rule| RuleResult {
        id: rule.id.clone(),
        origin: rule.origin.clone(),
        verdict: check_secret_rule(secrets, rule),
    }));
    results.sort_by(|a, b| a.id.cmp(&b.id));
    results
}

/// A secret rule's positive lines must be found by that rule, its negative
/// lines by no rule at all, through the analyzer (prefilter, entropy and
/// placeholder list included).
fn check_secret_rule(analyzer: &SecretsAnalyzer, rule: &SecretRule) -> Verdict {
    let mut problems = Vec::new();
    if !rule.id.starts_with("secrets.") {
        problems.push("id should start with `secrets.`".into());
    }
    if rule.examples.positive.is_empty() || rule.examples.negative.is_empty() {
        problems.push("needs `examples.positive` and `examples.negative`".into());
    }
    for (index, line) in rule.examples.positive.iter().enumerate() {
        let found = analyzer.findings_in("example.txt", line, None);
        if !found.iter().any(|f| f.finding.rule_id == rule.id) {
            let others: Vec<_> = found.iter().map(|f| f.finding.rule_id.as_str()).collect();
            problems.push(format!(
                "Missing: positive[{index}] not found (found instead: {others:?})"
            ));
        }
    }
    for (index, line) in rule.examples.negative.iter().enumerate() {
        let found = analyzer.findings_in("example.txt", line, None);
        if let Some(hit) = found.first() {
            problems.push(format!(
                "Noisy: negative[{index}] found by {}",
                hit.finding.rule_id
            ));
        }
    }
    if problems.is_empty() {
        Verdict::Validated
    } else {
        Verdict::Failed { problems }
    }
}

fn check_rule(analyzer: &SastAnalyzer, info: &RuleInfo) -> Verdict {
    let mut problems = check_metadata(info);
    let Some(config) = analyzer.rules().config(&info.id) else {
        problems.push("rule is not compiled".into());
        return Verdict::Failed { problems };
    };
    for (kind, snippets, want_match) in [
        ("valid", &info.valid, false),
        ("invalid", &info.invalid, true),
    ] {
        for (index, snippet) in snippets.iter().enumerate() {
            let root = match sast::parse(snippet, info.language, sast::DEFAULT_PARSE_TIMEOUT) {
                Ok(root) => root,
                Err(error) => {
                    problems.push(format!("{kind}[{index}]: {error}"));
                    continue;
                }
            };
            // The examples go through the prefilter too: a literal list that
            // misses an invalid example is a bug in the rule.
            let selected = analyzer.rules().passes_prefilter(&info.id, snippet);
            if want_match && !selected {
                problems.push(format!(
                    "Missing: {kind}[{index}] is excluded by metadata.prefilter"
                ));
                continue;
            }
            let hits = if selected {
                analyzer.run_rules("example", &root, vec![config]).len()
            } else {
                0
            };
            match (want_match, hits) {
                (false, n) if n > 0 => {
                    problems.push(format!("Noisy: {kind}[{index}] matched {n} time(s)"))
                }
                (true, 0) => problems.push(format!("Missing: {kind}[{index}] did not match")),
                _ => {}
            }
        }
    }
    if problems.is_empty() {
        Verdict::Validated
    } else {
        Verdict::Failed { problems }
    }
}

fn check_metadata(info: &RuleInfo) -> Vec<String> {
    let mut problems = Vec::new();
    let prefix = format!("{}.", info.language.to_string().to_ascii_lowercase());
    if !info.id.starts_with(&prefix) {
        problems.push(format!("id should start with `{prefix}`"));
    }
    let cwe_ok = info
        .metadata
        .cwe
        .strip_prefix("CWE-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !cwe_ok {
        problems.push(format!(
            "metadata.cwe `{}` is not of the form CWE-<number>",
            info.metadata.cwe
        ));
    }
    if info.metadata.references.is_empty() {
        problems.push("metadata.references is empty".into());
    }
    if info.message.trim().is_empty() {
        problems.push("message is empty".into());
    }
    if info.valid.is_empty() {
        problems.push("no `valid` examples (code that must not match)".into());
    }
    if info.invalid.is_empty() {
        problems.push("no `invalid` examples (code that must match)".into());
    }
    problems
}
