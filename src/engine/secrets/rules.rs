//! The secret rule format (`rules/secrets/*.yml`) and its compiled form.
//!
//! Two phases, as for the other analyzers: serde data that refuses unknown
//! keys, compiled into checked regexes and one keyword prefilter for all
//! rules. A compile error names the file, the rule and the field.

use super::super::literals::LiteralIndex;
use super::super::{Confidence, Severity};
use crate::engine::lazy_regex::LazyRegex;
use crate::rules::{self, RuleSource};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// What a rule's examples must show.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretExamples {
    /// Lines that must be found.
    #[serde(default)]
    pub positive: Vec<String>,
    /// Near misses that must not be found.
    #[serde(default)]
    pub negative: Vec<String>,
}

/// The names other secret scanners give the same detector, so a team's
/// `hunkscan:ignore <their id>` and their reports line up with ours.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretAliases {
    /// Gitleaks rule ids (`github-pat`).
    #[serde(default)]
    pub gitleaks: Vec<String>,
    /// detect-secrets plugin names (`GitHubTokenDetector`).
    #[serde(default, rename = "detect-secrets")]
    pub detect_secrets: Vec<String>,
    /// TruffleHog detector names (`Github`).
    #[serde(default)]
    pub trufflehog: Vec<String>,
}

impl SecretAliases {
    /// Every alias, whatever the tool.
    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.gitleaks
            .iter()
            .chain(&self.detect_secrets)
            .chain(&self.trufflehog)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRuleFile {
    id: String,
    provider: String,
    title: String,
    severity: Severity,
    confidence: Confidence,
    regex: String,
    keywords: Vec<String>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    entropy_hex: Option<f64>,
    #[serde(default)]
    name_excludes: Vec<String>,
    #[serde(default)]
    rotation: Option<String>,
    #[serde(default)]
    pairs_with: Option<String>,
    #[serde(default)]
    multiline_end: Option<String>,
    #[serde(default)]
    placeholders: bool,
    #[serde(default)]
    aliases: SecretAliases,
    #[serde(default)]
    examples: SecretExamples,
}

/// One compiled provider rule.
#[derive(Debug, Clone)]
pub struct SecretRule {
    /// Rule id, `secrets.<slug>`.
    pub id: String,
    /// The service the credential belongs to.
    pub provider: String,
    /// What the credential is.
    pub title: String,
    /// Severity of a finding.
    pub severity: Severity,
    /// Confidence of a finding.
    pub confidence: Confidence,
    /// Built the first time a line holds one of its keywords.
    pub(super) regex: LazyRegex,
    /// Keywords of the prefilter.
    pub keywords: Vec<String>,
    pub(super) entropy: Option<f64>,
    /// The floor for values made only of hex digits (16 symbols carry at
    /// most 4 bits each, so base64's floor would drop every hex secret).
    pub(super) entropy_hex: Option<f64>,
    /// Words that, in the regex's `name` group, say the value is no
    /// credential (`public_key`, `cache_key`, `key_id`), lower case.
    pub(super) name_excludes: Vec<String>,
    /// The provider's page on revoking or rotating it.
    pub rotation: Option<String>,
    pub(super) pairs_with: Option<String>,
    pub(super) multiline_end: Option<LazyRegex>,
    /// A generic rule: its values also go through the stricter placeholder
    /// and word checks (every rule goes through the common ones).
    pub(super) placeholders: bool,
    /// Other scanners' names for this detector.
    pub aliases: SecretAliases,
    /// The rule's own examples.
    pub examples: SecretExamples,
    /// Where it was read from.
    pub origin: String,
}

/// A secret rule that cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SecretRuleError {
    /// The rule folder cannot be read.
    #[error(transparent)]
    Source(#[from] rules::RuleSourceError),
    /// The YAML does not fit the format.
    #[error("{origin}: {message}")]
    Format {
        /// The file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A regex that does not compile.
    #[error("{origin}: rule `{id}`: bad {field}: {message}")]
    Regex {
        /// The file.
        origin: String,
        /// The rule id.
        id: String,
        /// `regex` or `multiline_end`.
        field: &'static str,
        /// The regex crate's error.
        message: String,
    },
    /// A rule with no keyword would run its regex on every line.
    #[error("{origin}: rule `{id}` has no keywords")]
    NoKeywords {
        /// The file.
        origin: String,
        /// The rule id.
        id: String,
    },
    /// The keyword automaton cannot be built.
    #[error("cannot build the keyword prefilter: {0}")]
    Prefilter(String),
}

fn compile(source: &RuleSource) -> Result<SecretRule, SecretRuleError> {
    let file: SecretRuleFile =
        ast_grep_config::from_str(&source.text).map_err(|e| SecretRuleError::Format {
            origin: source.origin.clone(),
            message: e.to_string(),
        })?;
    let regex_error = |field, message: String| SecretRuleError::Regex {
        origin: source.origin.clone(),
        id: file.id.clone(),
        field,
        message,
    };
    let regex = LazyRegex::new(&file.regex).map_err(|e| regex_error("regex", e))?;
    let multiline_end = file
        .multiline_end
        .as_deref()
        .map(LazyRegex::new)
        .transpose()
        .map_err(|e| regex_error("multiline_end", e))?;
    if file.keywords.iter().all(|k| k.is_empty()) {
        return Err(SecretRuleError::NoKeywords {
            origin: source.origin.clone(),
            id: file.id,
        });
    }
    Ok(SecretRule {
        id: file.id,
        provider: file.provider,
        title: file.title,
        severity: file.severity,
        confidence: file.confidence,
        regex,
        keywords: file
            .keywords
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect(),
        entropy: file.entropy,
        entropy_hex: file.entropy_hex,
        name_excludes: file
            .name_excludes
            .iter()
            .map(|word| word.to_ascii_lowercase())
            .collect(),
        rotation: file.rotation,
        pairs_with: file.pairs_with,
        multiline_end,
        placeholders: file.placeholders,
        aliases: file.aliases,
        examples: file.examples,
        origin: source.origin.clone(),
    })
}

impl SecretRule {
    /// Builds its regexes now (they are built on first use otherwise, see
    /// [`LazyRegex`]): the first that cannot be built.
    pub fn build_regexes(&self) -> Result<(), SecretRuleError> {
        let regexes = [
            ("regex", Some(&self.regex)),
            ("multiline_end", self.multiline_end.as_ref()),
        ];
        for (field, regex) in regexes {
            if let Some(regex) = regex {
                regex.force().map_err(|message| SecretRuleError::Regex {
                    origin: self.origin.clone(),
                    id: self.id.clone(),
                    field,
                    message: message.to_owned(),
                })?;
            }
        }
        Ok(())
    }

    /// A rule for no provider in particular (a password assignment, a
    /// connection string): "Generic" is not someone to rotate it with.
    pub fn is_generic(&self) -> bool {
        self.provider.eq_ignore_ascii_case("generic")
    }

    /// The title with the provider when the title does not already name it:
    /// "AWS access key ID (AWS)" says AWS twice.
    pub fn display_title(&self) -> String {
        if self.is_generic()
            || self
                .title
                .to_ascii_lowercase()
                .contains(&self.provider.to_ascii_lowercase())
        {
            self.title.clone()
        } else {
            format!("{} ({})", self.title, self.provider)
        }
    }

    /// Whether `id` names this rule: its own id or another scanner's name for it.
    pub fn answers_to(&self, id: &str) -> bool {
        id == self.id
            || self
                .aliases
                .all()
                .any(|alias| alias.eq_ignore_ascii_case(id))
    }
}

/// The compiled secret rules and their keyword prefilter.
pub struct SecretRules {
    pub(super) rules: Vec<SecretRule>,
    pub(super) prefilter: LiteralIndex,
}

impl SecretRules {
    /// The embedded rules, with `overrides` (a folder laid out like
    /// `rules/`) adding rules or replacing embedded ones of the same id.
    pub fn load(overrides: Option<&Path>) -> Result<Self, SecretRuleError> {
        let mut sources = rules::embedded(&rules::SECRET_FOLDERS);
        let embedded = sources.len();
        if let Some(dir) = overrides {
            sources.extend(rules::from_dir(dir, &rules::SECRET_FOLDERS)?);
        }
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut compiled: Vec<SecretRule> = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let rule = compile(source)?;
            if index >= embedded {
                // A user's rule is built whole now, so that a regex too big
                // to build is refused at start-up, naming its file.
                rule.build_regexes()?;
            }
            match by_id.get(&rule.id) {
                Some(&index) => compiled[index] = rule,
                None => {
                    by_id.insert(rule.id.clone(), compiled.len());
                    compiled.push(rule);
                }
            }
        }
        // Specific provider rules first, generic ones (placeholder-filtered) last:
        // where both match the same value, the specific one is reported.
        compiled.sort_by_key(|rule| (rule.placeholders, rule.id.clone()));
        Self::new(compiled)
    }

    fn new(rules: Vec<SecretRule>) -> Result<Self, SecretRuleError> {
        let entries = rules
            .iter()
            .enumerate()
            .flat_map(|(index, rule)| rule.keywords.iter().map(move |k| (index, k.as_str())));
        let prefilter = LiteralIndex::new(entries, true)
            .map_err(|e| SecretRuleError::Prefilter(e.to_string()))?;
        Ok(Self { rules, prefilter })
    }

    /// The rules, specific ones first.
    pub fn rules(&self) -> &[SecretRule] {
        &self.rules
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
