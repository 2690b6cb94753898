//! Suppression comments: hunkscan's own, and the ones teams already wrote
//! for Semgrep and Bandit, so moving to hunkscan keeps their triage.
//!
//! A marker applies to findings that start on its line or on the line just
//! below it. Markers are found by text, whatever the comment syntax of the
//! language, so the same rule works for Python, Rust, YAML and the rest.
//!
//! - `hunkscan:ignore <rule-id>[, <rule-id>…] -- <reason>` silences those
//!   rules; with no id it silences every rule on the line.
//! - `nosemgrep` and `nosec`, with or without ids, silence every finding on
//!   the line: their ids name Semgrep or Bandit rules, which cannot be mapped
//!   one to one onto hunkscan's, and the line was triaged by a human.
//! - `gitleaks:allow`, `pragma: allowlist secret` and `pragma: allowlist
//!   nextline secret` (Gitleaks, detect-secrets) silence secret findings only.
//! - `ast-grep-ignore` silences every SAST finding on the line;
//!   `ast-grep-ignore: <id>, <id>` only the rules with those ids. hunkscan's
//!   SAST rules are ast-grep rules, so a team that ran them with ast-grep
//!   wrote the same ids; an id hunkscan does not know leaves the finding
//!   visible. As in ast-grep, the marker must be the first word of a comment
//!   (prose that mentions it is not a marker), a colon with no id silences
//!   nothing, and a marker alone on the first line, followed by a blank
//!   line, covers the whole file. Unlike ast-grep, a marker after the last
//!   line of a statement that spans several lines does not reach back to
//!   the statement's first line, where its finding starts.
//!
//! A suppressed finding stays in the results with its marker and reason.

use super::{AnalyzerKind, Finding, Suppression, SuppressionSource};
use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

static HUNKSCAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"hunkscan:ignore(?P<ids>[^\n]*?)(?:\s--\s*(?P<reason>.*?))?\s*(?:\*/|-->)?\s*$")
        .expect("static regex")
});
static NOSEMGREP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bnosemgrep\b(?::\s*(?P<ids>[\w.\-, ]+))?").expect("static regex")
});
static SECRET_ALLOW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?P<gitleaks>gitleaks:allow)|(?P<pragma>pragma:\s*allowlist(?:\s+nextline)?\s+secret)",
    )
    .expect("static regex")
});
static AST_GREP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:#|//|/\*)[^A-Za-z\n]*ast-grep-ignore(?P<list>\s*:(?P<ids>.*))?")
        .expect("static regex")
});
static NOSEC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bnosec\b(?:\s+(?P<ids>[\w\-, ]+))?").expect("static regex"));

#[derive(Debug, Clone)]
struct Marker {
    source: SuppressionSource,
    /// Empty: every rule.
    rule_ids: Vec<String>,
    reason: Option<String>,
    line: u32,
    /// Set for markers of a tool that only looks for one kind of problem.
    only: Option<AnalyzerKind>,
}

/// The suppression markers of one file, by line.
#[derive(Debug, Default)]
pub struct Markers {
    by_line: HashMap<u32, Vec<Marker>>,
    /// Markers that cover the whole file (ast-grep's first-line form).
    whole_file: Vec<Marker>,
}

impl Markers {
    /// Finds every marker in `text`.
    pub fn scan(text: &str) -> Self {
        let mut by_line: HashMap<u32, Vec<Marker>> = HashMap::new();
        let mut whole_file = Vec::new();
        let mut lines = text.lines().peekable();
        if let Some(first) = lines.next() {
            // ast-grep: a marker alone on line 1 with a blank line after it covers the file.
            let own_line = ["#", "//", "/*"]
                .iter()
                .any(|opener| first.trim_start().starts_with(opener));
            let then_blank = lines.peek().is_none_or(|next| next.trim().is_empty());
            if own_line && then_blank {
                whole_file.extend(ast_grep_marker(first, 1));
            }
        }
        for (index, line) in text.lines().enumerate() {
            // Cheap prefilter: almost no line holds a marker.
            if !(line.contains("hunkscan:ignore")
                || line.contains("nosemgrep")
                || line.contains("nosec")
                || line.contains("gitleaks:allow")
                || line.contains("allowlist")
                || line.contains("ast-grep-ignore"))
            {
                continue;
            }
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let markers = parse_line(line, number);
            if !markers.is_empty() {
                by_line.entry(number).or_default().extend(markers);
            }
        }
        Self {
            by_line,
            whole_file,
        }
    }

    /// The suppression that applies to `finding`, if any: a marker on its
    /// first line wins over one on the line above.
    pub fn suppression_for(&self, finding: &Finding) -> Option<Suppression> {
        let line = finding.start.line;
        [line, line.saturating_sub(1)]
            .into_iter()
            .filter(|&l| l > 0)
            .flat_map(|l| self.by_line.get(&l).into_iter().flatten())
            .chain(&self.whole_file)
            .find(|marker| {
                marker.only.is_none_or(|kind| kind == finding.analyzer)
                    && (marker.rule_ids.is_empty()
                        || marker.rule_ids.iter().any(|id| id == &finding.rule_id))
            })
            .map(|marker| Suppression {
                source: marker.source,
                reason: marker.reason.clone(),
                line: marker.line,
            })
    }
}

/// The rule ids (empty: every rule) and reason of a `hunkscan:ignore`
/// marker on `line`, if it holds one. Analyzers that know block structure
/// (IaC) use it to apply a marker above a block to the whole block.
pub fn hunkscan_marker(line: &str) -> Option<(Vec<String>, Option<String>)> {
    if !line.contains("hunkscan:ignore") {
        return None;
    }
    let caps = HUNKSCAN.captures(line)?;
    let reason = caps
        .name("reason")
        .map(|r| r.as_str().trim().to_owned())
        .filter(|r| !r.is_empty());
    let ids = caps
        .name("ids")
        .map(|ids| split_ids(ids.as_str()))
        .unwrap_or_default();
    Some((ids, reason))
}

/// ast-grep's marker on `line`, read as ast-grep reads it: no list
/// silences every rule; after a colon, ids separated by commas, each ending
/// at the first space (so `/* ast-grep-ignore: id */` is the id `id`); a
/// colon with no id silences nothing.
fn ast_grep_marker(line: &str, number: u32) -> Option<Marker> {
    let caps = AST_GREP.captures(line)?;
    let rule_ids: Vec<String> = match caps.name("ids") {
        Some(ids) => ids
            .as_str()
            .split(',')
            .filter_map(|id| id.split_whitespace().next())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    if caps.name("list").is_some() && rule_ids.is_empty() {
        return None;
    }
    Some(Marker {
        source: SuppressionSource::AstGrep,
        reason: Some(if rule_ids.is_empty() {
            "ast-grep-ignore comment".to_owned()
        } else {
            format!("ast-grep-ignore comment for {}", rule_ids.join(", "))
        }),
        rule_ids,
        line: number,
        only: Some(AnalyzerKind::Sast),
    })
}

fn split_ids(ids: &str) -> Vec<String> {
    ids.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_line(line: &str, number: u32) -> Vec<Marker> {
    let mut markers = Vec::new();
    if let Some(caps) = HUNKSCAN.captures(line) {
        let reason = caps
            .name("reason")
            .map(|r| r.as_str().trim().to_owned())
            .filter(|r| !r.is_empty());
        markers.push(Marker {
            source: SuppressionSource::Hunkscan,
            rule_ids: caps
                .name("ids")
                .map(|ids| split_ids(ids.as_str()))
                .unwrap_or_default(),
            reason,
            line: number,
            only: None,
        });
    }
    for (regex, source, tool) in [
        (&*NOSEMGREP, SuppressionSource::Nosemgrep, "nosemgrep"),
        (&*NOSEC, SuppressionSource::Nosec, "nosec"),
    ] {
        if let Some(caps) = regex.captures(line) {
            let ids = caps
                .name("ids")
                .map(|ids| split_ids(ids.as_str()))
                .unwrap_or_default();
            let reason = if ids.is_empty() {
                format!("{tool} comment")
            } else {
                format!("{tool} comment for {}", ids.join(", "))
            };
            markers.push(Marker {
                source,
                rule_ids: Vec::new(),
                reason: Some(reason),
                line: number,
                only: None,
            });
        }
    }
    markers.extend(ast_grep_marker(line, number));
    if let Some(caps) = SECRET_ALLOW.captures(line) {
        let (source, text) = match caps.name("gitleaks") {
            Some(m) => (SuppressionSource::Gitleaks, m.as_str()),
            None => (
                SuppressionSource::DetectSecrets,
                caps.get(0).map_or("", |m| m.as_str()),
            ),
        };
        markers.push(Marker {
            source,
            rule_ids: Vec::new(),
            reason: Some(format!("{text} comment")),
            line: number,
            only: Some(AnalyzerKind::Secrets),
        });
    }
    markers
}
