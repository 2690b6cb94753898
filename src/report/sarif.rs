//! SARIF 2.1.0, in the subset GitHub code scanning reads: rules with help
//! text and `security-severity`, results with a repository-relative
//! `physicalLocation`, `partialFingerprints`, and in-source suppressions.
//!
//! The change kind is SARIF's own `baselineState`: `new` for new findings,
//! `updated` for regressions (an existing resource made worse), `absent`
//! for fixed ones. A fixed result is also `kind: "pass"` with level `none`,
//! so a consumer that ignores `baselineState` does not raise it as a
//! problem; its region is in the base version of the file.

use super::RuleDoc;
use crate::engine::{AnalyzerKind, ChangeKind, Finding, ScanReport, Severity};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The key under `partialFingerprints`; bump the version if the fingerprint
/// recipe changes. v2: the identity is the enclosing scope, not an
/// occurrence index, so several results may share a fingerprint; SARIF's is
/// made unique per result with an occurrence suffix (`:1`, `:2`, …, in
/// position order) that lives only here.
pub const FINGERPRINT_KEY: &str = "hunkscan/v2";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub maps this number to its own critical/high/medium/low labels.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// A rule's message template as a description: its metavariables (`$F`,
/// `$$$ARGS`), which a finding fills with code, read as `…`.
fn describe(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$'
            && chars
                .peek()
                .is_some_and(|n| *n == '$' || n.is_ascii_uppercase())
        {
            while chars.peek() == Some(&'$') {
                chars.next();
            }
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_uppercase() || n.is_ascii_digit() || *n == '_')
            {
                chars.next();
            }
            out.push('…');
        } else {
            out.push(c);
        }
    }
    out
}

/// A repository-relative path as a URI reference: SARIF's `uri` is one, and
/// code scanning rejects a path with a space or `#` written raw.
fn uri(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

fn rule_descriptor(rule: &RuleDoc) -> Value {
    let summary = describe(&rule.summary);
    let mut help = rule.help.clone().unwrap_or_else(|| summary.clone());
    if !rule.references.is_empty() {
        help.push_str("\n\nReferences:\n");
        for reference in &rule.references {
            help.push_str(&format!("- {reference}\n"));
        }
    }
    let mut tags = vec!["security".to_owned()];
    tags.extend(rule.cwe.iter().cloned());
    let mut descriptor = json!({
        "id": rule.id,
        "name": rule.id,
        "shortDescription": { "text": summary },
        "fullDescription": { "text": summary },
        "help": { "text": help, "markdown": help },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": {
            "tags": tags,
            "precision": rule.confidence.as_str(),
            "security-severity": security_severity(rule.severity),
        },
    });
    // `helpUri` must be a URI when present: a rule without references has
    // none (null fails the schema, and a code-scanning upload with it).
    if let Some(reference) = rule.references.first() {
        descriptor["helpUri"] = json!(reference);
    }
    descriptor
}

/// An advisory as a rule: dependency review's rule ids are advisory ids
/// from the database, described by osv.dev (which resolves every OSV id
/// and alias). An id with characters an OSV id never has gets no link.
fn advisory_descriptor(finding: &Finding) -> Value {
    use crate::engine::deps::license;
    let id = &finding.rule_id;
    // The licence policy's own rules are not advisories.
    let licence = match id.as_str() {
        license::RULE_DENIED => Some("Dependency under a licence the policy denies"),
        license::RULE_NOT_ALLOWED => Some("Dependency under a licence outside the allow-list"),
        license::RULE_UNKNOWN => Some("Dependency whose licence is unknown"),
        _ => None,
    };
    let text = match licence {
        Some(text) => text.to_owned(),
        None => format!("Dependency affected by advisory {id}"),
    };
    let mut descriptor = json!({
        "id": id,
        "name": id,
        "shortDescription": { "text": text },
        "fullDescription": { "text": text },
        "help": { "text": finding.remediation.clone().unwrap_or_else(|| text.clone()) },
        "defaultConfiguration": { "level": level(finding.severity) },
        "properties": {
            "tags": ["security", "dependency"],
            "precision": "high",
            "security-severity": security_severity(finding.severity),
        },
    });
    if licence.is_some() {
        descriptor["properties"]["tags"] = json!(["dependency", "license"]);
        descriptor["helpUri"] = json!("https://spdx.org/licenses/");
    } else if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        descriptor["helpUri"] = json!(format!("https://osv.dev/vulnerability/{id}"));
    }
    descriptor
}

fn result(finding: &Finding, rule_index: Option<usize>, occurrence: usize) -> Value {
    let mut result = json!({
        "ruleId": finding.rule_id,
        "level": level(finding.severity),
        "message": { "text": finding.message },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri(&finding.path), "uriBaseId": "%SRCROOT%" },
                "region": {
                    "startLine": finding.start.line,
                    "startColumn": finding.start.column,
                    "endLine": finding.end.line,
                    "endColumn": finding.end.column,
                    "snippet": { "text": finding.snippet },
                },
            },
        }],
        "partialFingerprints": { FINGERPRINT_KEY: format!("{}:{occurrence}", finding.fingerprint) },
        "properties": {
            "analyzer": finding.analyzer.as_str(),
            "change": finding.change,
            "confidence": finding.confidence,
            "severity": finding.severity,
        },
    });
    result["baselineState"] = json!(match finding.change {
        ChangeKind::New => "new",
        ChangeKind::Regression => "updated",
        ChangeKind::Fixed => "absent",
    });
    if finding.change == ChangeKind::Fixed {
        result["kind"] = json!("pass");
        result["level"] = json!("none");
    }
    if let Some(index) = rule_index {
        result["ruleIndex"] = json!(index);
    }
    if !finding.flow.is_empty() {
        result["codeFlows"] = code_flows(finding);
    }
    if let Some(suppression) = &finding.suppression {
        // A `.gitleaksignore` line lives outside the file it silences.
        let kind = match suppression.source {
            crate::engine::SuppressionSource::GitleaksIgnore => "external",
            _ => "inSource",
        };
        result["suppressions"] = json!([{
            "kind": kind,
            "justification": suppression.reason.clone().unwrap_or_default(),
        }]);
    }
    result
}

/// A data-flow finding's path as one `codeFlow` of one thread: the source,
/// each step, the sink, in order.
fn code_flows(finding: &Finding) -> Value {
    let locations: Vec<Value> = finding
        .flow
        .iter()
        .enumerate()
        .map(|(index, step)| {
            json!({
                "executionOrder": index + 1,
                "location": {
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&step.path), "uriBaseId": "%SRCROOT%" },
                        "region": {
                            "startLine": step.start.line,
                            "startColumn": step.start.column,
                            "endLine": step.end.line,
                            "endColumn": step.end.column,
                        },
                    },
                    "message": { "text": step.message },
                },
            })
        })
        .collect();
    json!([{
        "message": { "text": "data flow from source to sink" },
        "threadFlows": [{ "locations": locations }],
    }])
}

/// The SARIF log for a report. `rules` describes at least the rules that
/// produced findings; a finding of an unknown rule gets a minimal descriptor.
pub fn render(report: &ScanReport, rules: &[RuleDoc]) -> Value {
    let known: BTreeMap<&str, &RuleDoc> = rules.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut used: BTreeMap<&str, Value> = BTreeMap::new();
    for finding in &report.findings {
        used.entry(finding.rule_id.as_str()).or_insert_with(|| match known.get(finding.rule_id.as_str()) {
            Some(rule) => rule_descriptor(rule),
            None if finding.analyzer == AnalyzerKind::Deps => advisory_descriptor(finding),
            None => json!({ "id": finding.rule_id, "shortDescription": { "text": describe(&finding.rule_id) } }),
        });
    }
    let index: BTreeMap<&str, usize> = used.keys().enumerate().map(|(i, id)| (*id, i)).collect();
    // Results sharing a fingerprint are numbered in position order (the
    // change kind apart: a fixed result's position is in the base).
    let mut order: Vec<&Finding> = report.findings.iter().collect();
    order.sort_by(|a, b| {
        (a.change == ChangeKind::Fixed, a.start).cmp(&(b.change == ChangeKind::Fixed, b.start))
    });
    let mut seen: BTreeMap<(&str, bool), usize> = BTreeMap::new();
    let mut occurrences: BTreeMap<*const Finding, usize> = BTreeMap::new();
    for finding in order {
        let n = seen
            .entry((
                finding.fingerprint.as_str(),
                finding.change == ChangeKind::Fixed,
            ))
            .or_insert(0);
        *n += 1;
        occurrences.insert(std::ptr::from_ref(finding), *n);
    }
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let occurrence = occurrences
                .get(&std::ptr::from_ref(f))
                .copied()
                .unwrap_or(1);
            result(f, index.get(f.rule_id.as_str()).copied(), occurrence)
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "hunkscan",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": used.into_values().collect::<Vec<_>>(),
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": report.skipped.iter().map(|s| json!({
                    "level": "note",
                    "message": { "text": format!("{}: {}", s.path, s.reason) },
                    "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri(&s.path), "uriBaseId": "%SRCROOT%" } } }],
                })).collect::<Vec<_>>(),
            }],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metavariables_read_as_ellipses_and_paths_as_uris() {
        assert_eq!(
            describe("`$F` runs a command built from `$$$ARGS`"),
            "`…` runs a command built from `…`"
        );
        assert_eq!(describe("costs $5"), "costs $5");
        assert_eq!(uri("src/my app#1.py"), "src/my%20app%231.py");
    }

    #[test]
    fn results_sharing_an_identity_get_unique_partial_fingerprints() {
        use crate::engine::{AnalyzerKind, Confidence, Position};
        let finding = |line| Finding {
            rule_id: "python.os-system-non-literal".into(),
            analyzer: AnalyzerKind::Sast,
            severity: Severity::High,
            confidence: Confidence::High,
            cwe: None,
            path: "app.py".into(),
            start: Position { line, column: 5 },
            end: Position { line, column: 19 },
            message: "m".into(),
            remediation: None,
            fix: None,
            fingerprint: "ab12".into(),
            change: ChangeKind::New,
            suppression: None,
            snippet: String::new(),
            flow: Vec::new(),
        };
        let report = ScanReport {
            // Listed out of position order: the numbering follows position.
            findings: vec![finding(9), finding(5)],
            skipped: vec![],
            files_analyzed: 1,
        };
        let sarif = render(&report, &[]);
        let prints: Vec<&str> = sarif["runs"][0]["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                r["partialFingerprints"][FINGERPRINT_KEY]
                    .as_str()
                    .expect("print")
            })
            .collect();
        assert_eq!(prints, vec!["ab12:2", "ab12:1"]);
    }
}
