//! The one shape every analyzer produces and every reporter consumes.

use serde::Serialize;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, never blocking.
    Info,
    /// Low risk.
    Low,
    /// Medium risk.
    Medium,
    /// High risk: blocks by default.
    High,
    /// Critical risk.
    Critical,
}

impl Severity {
    /// All severities, most severe first.
    pub const ALL_DESCENDING: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The lowercase name used in rules, flags and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: table output (`rules list`) gives a width.
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity `{other}` (expected critical, high, medium, low or info)"
            )),
        }
    }
}

/// How sure the rule is that a match is a real problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Often a false positive; needs a human look.
    Low,
    /// Usually right.
    Medium,
    /// Almost always right.
    High,
}

impl Confidence {
    /// The lowercase name used in rules and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// Which analyzer produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalyzerKind {
    /// Source-code rules over syntax trees.
    Sast,
    /// Infrastructure-as-code policies.
    Iac,
    /// Credential detection.
    Secrets,
    /// Dependency review: vulnerable packages a lockfile change introduces.
    Deps,
}

impl AnalyzerKind {
    /// The lowercase name used in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            AnalyzerKind::Sast => "sast",
            AnalyzerKind::Iac => "iac",
            AnalyzerKind::Secrets => "secrets",
            AnalyzerKind::Deps => "deps",
        }
    }
}

/// Whether the change introduced, worsened or removed the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// The change adds the problem on a changed line.
    New,
    /// The change made an existing setting worse.
    Regression,
    /// The change removed a problem the base had.
    Fixed,
}

impl ChangeKind {
    /// The lowercase name used in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::New => "new",
            ChangeKind::Regression => "regression",
            ChangeKind::Fixed => "fixed",
        }
    }
}

/// A 1-based line and column (columns count characters, as SARIF expects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// One place on a finding's data-flow path: the source, the steps the
/// value went through, the sink (SARIF's `threadFlowLocation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowStep {
    /// Repository-relative path, `/`-separated.
    pub path: String,
    /// Where the step starts.
    pub start: Position,
    /// Where it ends.
    pub end: Position,
    /// What happens there ("source: HTTP request data", the code of a step).
    pub message: String,
}

/// A replacement for the finding's matched range that removes the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// The text that replaces `start..end` of the finding.
    pub replacement: String,
}

/// Which comment marker silenced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SuppressionSource {
    /// `hunkscan:ignore <rule-id> -- <reason>`.
    Hunkscan,
    /// Semgrep's `nosemgrep`.
    Nosemgrep,
    /// Bandit's `# nosec`.
    Nosec,
    /// Gitleaks' `gitleaks:allow` (secrets only).
    Gitleaks,
    /// detect-secrets' `pragma: allowlist secret` / `pragma: allowlist nextline secret` (secrets only).
    DetectSecrets,
    /// Checkov's `checkov:skip=<ID>:<reason>` comment or `checkov.io/skip*` annotation (IaC).
    Checkov,
    /// tfsec's `tfsec:ignore:<ID>` (IaC).
    Tfsec,
    /// Trivy's `trivy:ignore:<ID>` (IaC).
    Trivy,
    /// KICS' `kics-scan ignore-line` / `ignore-block` / `ignore` (IaC).
    Kics,
    /// zizmor's `zizmor: ignore[<ID>]` (GitHub Actions).
    Zizmor,
    /// ast-grep's `ast-grep-ignore` / `ast-grep-ignore: <id>, <id>` (SAST).
    #[serde(rename = "ast-grep")]
    AstGrep,
    /// TruffleHog's `trufflehog:ignore` on the secret's line (secrets only).
    Trufflehog,
    /// A fingerprint line of the repository's `.gitleaksignore` (secrets only).
    GitleaksIgnore,
}

impl SuppressionSource {
    /// The marker as users write it.
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionSource::Hunkscan => "hunkscan:ignore",
            SuppressionSource::Nosemgrep => "nosemgrep",
            SuppressionSource::Nosec => "nosec",
            SuppressionSource::Gitleaks => "gitleaks:allow",
            SuppressionSource::DetectSecrets => "pragma: allowlist secret",
            SuppressionSource::Checkov => "checkov:skip",
            SuppressionSource::Tfsec => "tfsec:ignore",
            SuppressionSource::Trivy => "trivy:ignore",
            SuppressionSource::Kics => "kics-scan",
            SuppressionSource::Zizmor => "zizmor: ignore",
            SuppressionSource::AstGrep => "ast-grep-ignore",
            SuppressionSource::Trufflehog => "trufflehog:ignore",
            SuppressionSource::GitleaksIgnore => ".gitleaksignore",
        }
    }
}

/// Why a finding is not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppression {
    /// The marker that silenced it.
    pub source: SuppressionSource,
    /// The reason the author gave, if any.
    pub reason: Option<String>,
    /// The line of the comment.
    pub line: u32,
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule identifier, e.g. `python.yaml-load`.
    pub rule_id: String,
    /// The analyzer that produced it.
    pub analyzer: AnalyzerKind,
    /// How bad it is.
    pub severity: Severity,
    /// How sure the rule is.
    pub confidence: Confidence,
    /// CWE identifier, e.g. `CWE-502`.
    pub cwe: Option<String>,
    /// Repository-relative path, `/`-separated.
    pub path: String,
    /// Start of the matched range.
    pub start: Position,
    /// End of the matched range (inclusive line, exclusive column).
    pub end: Position,
    /// What is wrong, for a human.
    pub message: String,
    /// What to do instead (Markdown), if the rule says.
    pub remediation: Option<String>,
    /// A replacement for the matched range, if the rule has one.
    pub fix: Option<Fix>,
    /// Identifies the finding across pushes; does not depend on line numbers.
    pub fingerprint: String,
    /// New, regression or fixed.
    pub change: ChangeKind,
    /// Set when a comment marker silenced the finding; it is kept for reports.
    pub suppression: Option<Suppression>,
    /// The source line(s) of the match, for display (secrets are masked by their analyzer).
    pub snippet: String,
    /// For a data-flow finding, its path from source to sink; empty else.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flow: Vec<FlowStep>,
}

impl Finding {
    /// True when no marker silenced it.
    pub fn is_active(&self) -> bool {
        self.suppression.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::Severity;

    #[test]
    fn a_severity_fills_the_width_a_table_asks_for() {
        assert_eq!(format!("{:<8}|", Severity::Low), "low     |");
        assert_eq!(format!("{:>8}|", Severity::Critical), "critical|");
    }
}
