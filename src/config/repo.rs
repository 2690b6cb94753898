//! A repository's `.github/hunkscan.yml`, read from the pull request's BASE
//! ref so a pull request cannot switch its own scan off.
//!
//! A bad file never stops a scan: the defaults apply and every problem is
//! reported with the file, line and key, for the check run's summary.

use crate::engine::{AnalyzerKind, Severity};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// Where the file lives in a repository.
pub const CONFIG_PATH: &str = ".github/hunkscan.yml";

/// Inline comments per analysis when the file does not say.
pub const DEFAULT_MAX_COMMENTS: usize = 25;

/// What a draft pull request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftPolicy {
    /// Analysed like any other pull request (the default).
    Analyze,
    /// Not analysed until it is marked ready for review.
    Skip,
}

/// The check run's conclusion when the job itself fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorConclusion {
    /// Passes a required check, visibly marked (the default).
    Neutral,
    /// Blocks the merge until a re-run succeeds.
    Failure,
    /// Passes.
    Success,
}

impl ErrorConclusion {
    /// GitHub's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorConclusion::Neutral => "neutral",
            ErrorConclusion::Failure => "failure",
            ErrorConclusion::Success => "success",
        }
    }
}

/// The severity at or above which the check fails, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Fail on a new unsuppressed finding at or above this severity.
    AtLeast(Severity),
    /// Report only.
    Never,
}

/// The effective configuration of one repository.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// Analyzers that run.
    pub sast: bool,
    /// See `sast`.
    pub iac: bool,
    /// See `sast`.
    pub secrets: bool,
    /// See `sast` (dependency review).
    pub deps: bool,
    /// When the check concludes `failure`.
    pub fail_on: FailOn,
    ignore: GlobSet,
    /// The ignore globs as written, for the summary.
    pub ignore_patterns: Vec<String>,
    /// Rules that do not report.
    pub disabled_rules: Vec<String>,
    /// Opt-in rules switched on (off by default: they fire on most
    /// ordinary files).
    pub enabled_rules: Vec<String>,
    /// Rules re-levelled.
    pub severity_overrides: BTreeMap<String, Severity>,
    /// Inline comments per analysis at most; the rest go to annotations.
    pub max_comments: usize,
    /// Draft handling.
    pub drafts: DraftPolicy,
    /// Conclusion on internal error.
    pub on_error: ErrorConclusion,
    /// Whether writers may dismiss findings by replying `/hunkscan …` to
    /// the bot's comments (`triage: false` switches it off).
    pub triage: bool,
    /// The base's `.gitleaksignore` fingerprints, applied to secret findings.
    pub gitleaks_ignore: crate::engine::secrets::GitleaksIgnore,
    /// Licence policy for the packages a change adds (`licenses:`); `None`:
    /// licences are not reviewed.
    pub licenses: Option<std::sync::Arc<crate::engine::deps::license::Policy>>,
}

impl Default for RepoConfig {
    fn default() -> Self {
        Self {
            sast: true,
            iac: true,
            secrets: true,
            deps: true,
            fail_on: FailOn::AtLeast(Severity::High),
            ignore: GlobSet::empty(),
            ignore_patterns: Vec::new(),
            disabled_rules: Vec::new(),
            enabled_rules: Vec::new(),
            severity_overrides: BTreeMap::new(),
            max_comments: DEFAULT_MAX_COMMENTS,
            drafts: DraftPolicy::Analyze,
            on_error: ErrorConclusion::Neutral,
            triage: true,
            gitleaks_ignore: Default::default(),
            licenses: None,
        }
    }
}

/// One problem with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// The key, when known (`paths.ignore`).
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{CONFIG_PATH}")?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The file as written; every key optional, unknown keys rejected (a typo
/// must not silently do nothing).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    analyzers: Option<AnalyzersSection>,
    fail_on: Option<Spanned<String>>,
    paths: Option<PathsSection>,
    rules: Option<RulesSection>,
    comments: Option<CommentsSection>,
    drafts: Option<DraftPolicy>,
    on_error: Option<ErrorConclusion>,
    triage: Option<bool>,
    licenses: Option<Spanned<LicensesSection>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicensesSection {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    fail_on_unknown: bool,
    #[serde(default)]
    exceptions: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyzersSection {
    sast: Option<bool>,
    iac: Option<bool>,
    secrets: Option<bool>,
    deps: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PathsSection {
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesSection {
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    enable: Vec<String>,
    #[serde(default)]
    severity: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentsSection {
    max: Option<usize>,
}

impl RepoConfig {
    /// Parses the file. With any problem the defaults apply as a whole (a
    /// half-applied file surprises more than an ignored one) and the problems
    /// say why.
    pub fn parse(text: &str) -> (RepoConfig, Vec<ConfigProblem>) {
        if text.trim().is_empty() {
            return (RepoConfig::default(), Vec::new());
        }
        let file: ConfigFile = match serde_saphyr::from_str(text) {
            Ok(file) => file,
            Err(error) => return (RepoConfig::default(), vec![syntax_problem(&error)]),
        };
        let mut problems = Vec::new();
        let config = Self::from_file(file, &mut problems);
        if problems.is_empty() {
            (config, problems)
        } else {
            (RepoConfig::default(), problems)
        }
    }

    fn from_file(file: ConfigFile, problems: &mut Vec<ConfigProblem>) -> RepoConfig {
        let mut config = RepoConfig::default();
        if let Some(analyzers) = file.analyzers {
            config.sast = analyzers.sast.unwrap_or(true);
            config.iac = analyzers.iac.unwrap_or(true);
            config.secrets = analyzers.secrets.unwrap_or(true);
            config.deps = analyzers.deps.unwrap_or(true);
        }
        if let Some(fail_on) = file.fail_on {
            match fail_on.value.as_str() {
                "never" => config.fail_on = FailOn::Never,
                other => match other.parse::<Severity>() {
                    Ok(severity) => config.fail_on = FailOn::AtLeast(severity),
                    Err(_) => problems.push(ConfigProblem {
                        line: Some(fail_on.referenced.line()),
                        key: Some("fail_on".into()),
                        message: format!(
                            "{other:?} is not one of critical, high, medium, low, info, never"
                        ),
                    }),
                },
            }
        }
        if let Some(paths) = file.paths {
            let mut builder = GlobSetBuilder::new();
            for pattern in &paths.ignore {
                match Glob::new(&pattern.value) {
                    Ok(glob) => {
                        builder.add(glob);
                        config.ignore_patterns.push(pattern.value.clone());
                    }
                    Err(error) => problems.push(ConfigProblem {
                        line: Some(pattern.referenced.line()),
                        key: Some("paths.ignore".into()),
                        message: format!(
                            "{:?} is not a valid glob: {}",
                            pattern.value,
                            error.kind()
                        ),
                    }),
                }
            }
            match builder.build() {
                Ok(set) => config.ignore = set,
                Err(error) => problems.push(ConfigProblem {
                    line: None,
                    key: Some("paths.ignore".into()),
                    message: error.to_string(),
                }),
            }
        }
        if let Some(rules) = file.rules {
            config.disabled_rules = rules.disable;
            config.enabled_rules = rules.enable;
            for (rule, level) in rules.severity {
                match level.value.parse::<Severity>() {
                    Ok(severity) => {
                        config.severity_overrides.insert(rule, severity);
                    }
                    Err(_) => problems.push(ConfigProblem {
                        line: Some(level.referenced.line()),
                        key: Some(format!("rules.severity.{rule}")),
                        message: format!(
                            "{:?} is not one of critical, high, medium, low, info",
                            level.value
                        ),
                    }),
                }
            }
        }
        if let Some(comments) = file.comments {
            config.max_comments = comments.max.unwrap_or(DEFAULT_MAX_COMMENTS);
        }
        if let Some(drafts) = file.drafts {
            config.drafts = drafts;
        }
        if let Some(on_error) = file.on_error {
            config.on_error = on_error;
        }
        if let Some(triage) = file.triage {
            config.triage = triage;
        }
        if let Some(licenses) = file.licenses {
            let line = licenses.referenced.line();
            let section = licenses.value;
            match crate::engine::deps::license::Policy::new(
                &section.allow,
                &section.deny,
                section.fail_on_unknown,
                &section.exceptions,
            ) {
                Ok(policy) => config.licenses = Some(std::sync::Arc::new(policy)),
                Err(found) => {
                    problems.extend(found.into_iter().map(|(key, message)| ConfigProblem {
                        line: Some(line),
                        key: Some(key),
                        message,
                    }))
                }
            }
        }
        config
    }

    /// Whether a path is excluded by `paths.ignore`.
    pub fn ignores(&self, path: &str) -> bool {
        self.ignore.is_match(path)
    }

    /// Whether an analyzer runs.
    pub fn runs(&self, analyzer: AnalyzerKind) -> bool {
        match analyzer {
            AnalyzerKind::Sast => self.sast,
            AnalyzerKind::Iac => self.iac,
            AnalyzerKind::Secrets => self.secrets,
            AnalyzerKind::Deps => self.deps,
        }
    }

    /// Whether a finding at this severity fails the check.
    pub fn fails(&self, severity: Severity) -> bool {
        match self.fail_on {
            FailOn::AtLeast(threshold) => severity >= threshold,
            FailOn::Never => false,
        }
    }
}

/// serde-saphyr's message carries the line, column and the offending key
/// ("unknown field `ignroe`, expected ..."); keep it on one line.
fn syntax_problem(error: &serde_saphyr::Error) -> ConfigProblem {
    let text = error.to_string();
    let line = error.location().map(|location| location.line());
    let message = text
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .trim()
        .to_owned();
    ConfigProblem {
        line,
        key: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_missing_file_gives_defaults() {
        let (config, problems) = RepoConfig::parse("");
        assert!(problems.is_empty());
        assert_eq!(config.fail_on, FailOn::AtLeast(Severity::High));
        assert_eq!(config.max_comments, 25);
        assert_eq!(config.drafts, DraftPolicy::Analyze);
        assert_eq!(config.on_error, ErrorConclusion::Neutral);
        assert!(config.triage);
    }

    #[test]
    fn every_documented_key_is_read() {
        let text = "\
analyzers:
  secrets: false
  deps: false
fail_on: medium
paths:
  ignore: [\"vendor/**\", \"**/*_test.py\"]
rules:
  disable: [python.flask-debug]
  enable: [kubernetes.automount-service-account-token]
  severity:
    python.md5-for-security: low
comments:
  max: 3
drafts: skip
on_error: failure
triage: false
";
        let (config, problems) = RepoConfig::parse(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(config.sast && config.iac && !config.secrets && !config.deps);
        assert!(config.fails(Severity::Medium) && !config.fails(Severity::Low));
        assert!(config.ignores("vendor/lib/a.py"));
        assert!(config.ignores("app/db_test.py"));
        assert!(!config.ignores("app/db.py"));
        assert_eq!(config.disabled_rules, vec!["python.flask-debug"]);
        assert_eq!(
            config.enabled_rules,
            vec!["kubernetes.automount-service-account-token"]
        );
        assert_eq!(
            config.severity_overrides.get("python.md5-for-security"),
            Some(&Severity::Low)
        );
        assert_eq!(config.max_comments, 3);
        assert_eq!(config.drafts, DraftPolicy::Skip);
        assert_eq!(config.on_error, ErrorConclusion::Failure);
        assert!(!config.triage);
    }

    #[test]
    fn licence_policy_is_read_and_bad_entries_are_named() {
        let (config, problems) = RepoConfig::parse(
            "licenses:\n  allow: [MIT, Apache-2.0]\n  deny: [GPL-3.0-only]\n  fail_on_unknown: true\n  exceptions: [\"pkg:npm/left-pad@1.3.0\"]\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let policy = config.licenses.expect("policy");
        assert!(policy.fail_on_unknown);
        assert_eq!((policy.allow.len(), policy.deny.len()), (2, 1));
        assert_eq!(policy.exceptions.len(), 1);
        assert!(
            RepoConfig::default().licenses.is_none(),
            "off unless configured"
        );

        let (config, problems) =
            RepoConfig::parse("fail_on: low\nlicenses:\n  deny: [\"Not-A-Licence-9\"]\n");
        assert!(config.licenses.is_none(), "defaults apply");
        assert_eq!(problems.len(), 1, "{problems:?}");
        let shown = problems[0].to_string();
        assert!(
            shown.contains("`licenses.deny`") && shown.contains("Not-A-Licence-9"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_key_is_reported_with_its_line_and_defaults_apply() {
        let (config, problems) = RepoConfig::parse("fail_on: low\npaths:\n  ignroe: [x]\n");
        assert_eq!(
            config.fail_on,
            FailOn::AtLeast(Severity::High),
            "defaults apply"
        );
        assert_eq!(problems.len(), 1);
        let shown = problems[0].to_string();
        assert!(shown.starts_with(".github/hunkscan.yml:3"), "{shown}");
        assert!(shown.contains("ignroe"), "{shown}");
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let (config, problems) =
            RepoConfig::parse("fail_on: severe\npaths:\n  ignore:\n    - \"a/[b\"\n");
        assert_eq!(config.fail_on, FailOn::AtLeast(Severity::High));
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with(".github/hunkscan.yml:1: `fail_on`: \"severe\""),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with(".github/hunkscan.yml:4: `paths.ignore`"),
            "{shown:?}"
        );
    }

    #[test]
    fn wrong_type_and_broken_yaml_are_problems_not_panics() {
        for text in [
            "comments:\n  max: lots\n",
            "fail_on: [\n",
            "- a\n- b\n",
            "drafts: maybe\n",
        ] {
            let (_, problems) = RepoConfig::parse(text);
            assert_eq!(problems.len(), 1, "{text:?}");
            assert!(problems[0].line.is_some(), "{text:?}: {:?}", problems[0]);
        }
    }
}
