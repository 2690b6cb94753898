//! Reporters: findings in, text out. They know the rules only through
//! [`RuleDoc`], so every analyzer's rules render the same way.

pub mod check_run;
pub mod deps;
pub mod failure;
pub mod json;
pub mod review;
pub mod sarif;
pub mod text;
pub mod triage;

use crate::engine::{Confidence, Severity};

/// What a reporter needs to know about a rule.
#[derive(Debug, Clone)]
pub struct RuleDoc {
    /// Rule id.
    pub id: String,
    /// One-line description (the message template).
    pub summary: String,
    /// Remediation in Markdown.
    pub help: Option<String>,
    /// Default severity.
    pub severity: Severity,
    /// How precise the rule is.
    pub confidence: Confidence,
    /// CWE identifier.
    pub cwe: Option<String>,
    /// Links for the reader.
    pub references: Vec<String>,
}

/// Counts per severity, most severe first, leaving out zeros: "1 high, 2 medium".
pub fn severity_counts<'a>(severities: impl Iterator<Item = &'a Severity>) -> String {
    let mut counts = [0usize; 5];
    for severity in severities {
        counts[*severity as usize] += 1;
    }
    Severity::ALL_DESCENDING
        .iter()
        .filter(|s| counts[**s as usize] > 0)
        .map(|s| format!("{} {}", counts[*s as usize], s))
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<&crate::engine::sast::RuleInfo> for RuleDoc {
    fn from(info: &crate::engine::sast::RuleInfo) -> Self {
        RuleDoc {
            id: info.id.clone(),
            summary: info.message.clone(),
            help: info.note.clone(),
            severity: info.severity,
            confidence: info.metadata.confidence,
            cwe: Some(info.metadata.cwe.clone()),
            references: info.metadata.references.clone(),
        }
    }
}

impl From<&crate::engine::secrets::SecretRule> for RuleDoc {
    fn from(rule: &crate::engine::secrets::SecretRule) -> Self {
        RuleDoc {
            id: rule.id.clone(),
            summary: format!("{} committed in the change", rule.display_title()),
            help: Some(if rule.is_generic() {
                "Revoke and rotate the credential: removing the line does not remove it from git history.".to_owned()
            } else {
                format!(
                    "Revoke and rotate the {} credential: removing the line does not remove it from git history.",
                    rule.provider
                )
            }),
            severity: rule.severity,
            confidence: rule.confidence,
            cwe: Some("CWE-798".into()),
            references: rule.rotation.iter().cloned().collect(),
        }
    }
}
