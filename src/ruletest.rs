//! `hunkscan rules test`: every rule against its own examples.
//!
//! As in ast-grep's rule tests, each rule is reported Validated, Noisy (a
//! `valid` snippet matched: a false positive) or Missing (an `invalid`
//! snippet did not match: a false negative). The snippets run through the
//! same parse and scan path as real files, so a rule that passes here
//! behaves the same in a scan.

use crate::engine::iac::IacAnalyzer;
use crate::engine::iac::policy::{Example, IacKind, Policy, Report};
use crate::engine::sast::{self, RuleInfo, SastAnalyzer};
use crate::engine::secrets::{DropReason, SecretRule, SecretsAnalyzer};
use crate::engine::{ChangeKind, ChangeSet, Content, Engine};
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

/// Checks every SAST, secret and IaC rule against its examples and metadata, sorted by id.
pub fn run(
    analyzer: &SastAnalyzer,
    secrets: &SecretsAnalyzer,
    iac: &IacAnalyzer,
) -> Vec<RuleResult> {
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
    let engine = Engine::new(vec![Box::new(iac.clone())]);
    results.extend(iac.policies().all().iter().map(|policy| RuleResult {
        id: policy.id.clone(),
        origin: policy.origin.clone(),
        verdict: check_policy(&engine, policy),
    }));
    results.sort_by(|a, b| a.id.cmp(&b.id));
    results
}

/// The path an IaC example is scanned as.
fn example_path(kind: IacKind) -> &'static str {
    match kind {
        IacKind::Terraform => "main.tf",
        IacKind::Kubernetes => "manifest.yaml",
        IacKind::Dockerfile => "Dockerfile",
        IacKind::GithubActions => ".github/workflows/example.yml",
    }
}

/// The kinds of change this policy reported on one example, through the
/// engine (so base/head comparison, added-line filtering and suppressions
/// apply exactly as in a scan), or the reason the example could not be read.
fn example_changes(
    engine: &Engine,
    policy: &Policy,
    example: &Example,
) -> Result<Vec<ChangeKind>, String> {
    let (base, head) = match example {
        Example::File(head) => (Content::Absent, Content::Text(head.clone())),
        Example::Change { base, head } => {
            (Content::Text(base.clone()), Content::Text(head.clone()))
        }
    };
    let file = crate::local::changed_file(example_path(policy.kind), base, head)
        .map_err(|e| e.to_string())?;
    let report = engine.scan(&ChangeSet { files: vec![file] });
    if let Some(skipped) = report.skipped.iter().find(|s| !s.partial) {
        return Err(format!("not analysed: {}", skipped.reason));
    }
    Ok(report
        .findings
        .iter()
        .filter(|f| f.rule_id == policy.id && f.change != ChangeKind::Fixed)
        .map(|f| f.change)
        .collect())
}

/// Each positive example must be reported by the policy (a plain file as
/// new, a base/head change as new or regression); each negative example
/// must not be reported by it.
fn check_policy(engine: &Engine, policy: &Policy) -> Verdict {
    let mut problems = Vec::new();
    let cwe_ok = policy
        .cwe
        .strip_prefix("CWE-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !cwe_ok {
        problems.push(format!(
            "cwe `{}` is not of the form CWE-<number>",
            policy.cwe
        ));
    }
    if policy.message.trim().is_empty() || policy.remediation.trim().is_empty() {
        problems.push("message and remediation must not be empty".into());
    }
    if policy.references.is_empty() {
        problems.push("references is empty".into());
    }
    if policy.examples.positive.is_empty() || policy.examples.negative.is_empty() {
        problems.push("needs `examples.positive` and `examples.negative`".into());
    }
    if !policy
        .examples
        .positive
        .iter()
        .any(|e| matches!(e, Example::Change { .. }))
    {
        problems.push(
            "needs a `base`/`head` pair among `examples.positive` (a change that makes it worse)"
                .into(),
        );
    }
    let regression_only = policy.removed || policy.report == Report::Regression;
    for (index, example) in policy.examples.positive.iter().enumerate() {
        if regression_only && matches!(example, Example::File(_)) {
            problems.push(format!(
                "positive[{index}]: this policy only reports regressions; give a `base`/`head` pair"
            ));
            continue;
        }
        match example_changes(engine, policy, example) {
            Ok(changes) if changes.is_empty() => {
                problems.push(format!("Missing: positive[{index}] not reported"))
            }
            Ok(_) => {}
            Err(reason) => problems.push(format!("positive[{index}]: {reason}")),
        }
    }
    for (index, example) in policy.examples.negative.iter().enumerate() {
        match example_changes(engine, policy, example) {
            Ok(changes) if !changes.is_empty() => problems.push(format!(
                "Noisy: negative[{index}] reported ({})",
                changes
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Ok(_) => {}
            Err(reason) => problems.push(format!("negative[{index}]: {reason}")),
        }
    }
    if problems.is_empty() {
        Verdict::Validated
    } else {
        Verdict::Failed { problems }
    }
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
    // One negative must be a stand-in the rule's own regex takes and the
    // placeholder checks turn down (`<your-token>`, a run of `x`, a
    // provider's documentation sample): the check every rule relies on.
    let has_placeholder = rule.examples.negative.iter().any(|line| {
        analyzer
            .dropped_in("example.txt", line)
            .iter()
            .any(|dropped| {
                dropped.rule_id == rule.id
                    && matches!(
                        dropped.reason,
                        DropReason::Placeholder { .. } | DropReason::DocumentationSample
                    )
            })
    });
    if !has_placeholder {
        problems.push(
            "needs a placeholder negative: a line the rule matches whose value the placeholder checks drop (`<your-token>`, a run of `x`, `EXAMPLE`)".into(),
        );
    }
    if problems.is_empty() {
        Verdict::Validated
    } else {
        Verdict::Failed { problems }
    }
}

/// A taint rule's examples go through the whole analyzer as new files:
/// parse, alias resolution, prefilter and the taint engine, as in a scan.
/// An `invalid` example must be reported by the rule, a `valid` one not.
fn check_taint_rule(analyzer: &SastAnalyzer, info: &RuleInfo) -> Verdict {
    use crate::engine::{Analyzer, FileOutcome};
    let mut problems = check_metadata(info);
    let path = match info.language.to_string().to_ascii_lowercase().as_str() {
        "rust" => "example.rs",
        _ => "example.py",
    };
    for (kind, snippets, want_match) in [
        ("valid", &info.valid, false),
        ("invalid", &info.invalid, true),
    ] {
        for (index, snippet) in snippets.iter().enumerate() {
            let file = match crate::local::changed_file(
                path,
                Content::Absent,
                Content::Text(snippet.clone()),
            ) {
                Ok(file) => file,
                Err(error) => {
                    problems.push(format!("{kind}[{index}]: {error}"));
                    continue;
                }
            };
            let mut out = FileOutcome::default();
            analyzer.analyze(&file, snippet, &mut out);
            if let Some(skipped) = out.skipped.first() {
                problems.push(format!(
                    "{kind}[{index}]: not fully analysed: {}",
                    skipped.reason
                ));
            }
            let hits = out
                .findings
                .iter()
                .filter(|f| f.finding.rule_id == info.id)
                .count();
            match (want_match, hits) {
                (false, n) if n > 0 => {
                    problems.push(format!("Noisy: {kind}[{index}] reported {n} flow(s)"))
                }
                (true, 0) => problems.push(format!("Missing: {kind}[{index}] reported no flow")),
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

fn check_rule(analyzer: &SastAnalyzer, info: &RuleInfo) -> Verdict {
    if info.taint {
        return check_taint_rule(analyzer, info);
    }
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
            let resolved = sast::resolved_text(&root);
            let selected = analyzer.rules().passes_prefilter(&info.id, &resolved);
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
