//! Secret detection over the lines a change adds, in every text file.
//!
//! Rules are data (`rules/secrets/*.yml`): a provider regex, keywords that
//! must appear in a line before the regex runs, and for loose formats an
//! entropy floor. All keywords go into one Aho-Corasick automaton, so a line
//! is read once and only the rules whose keywords it holds run their regex;
//! the `regex` crate matches in linear time, so no rule can be made to take
//! exponential time on hostile input.
//!
//! A found value is never echoed: messages, snippets and fingerprints carry
//! the provider, the place and a masked form; the fingerprint hashes the
//! value with a key (HMAC-SHA256), so the same secret moved elsewhere is
//! recognised without the value being stored anywhere.

use super::fingerprint;
use super::literals::LiteralIndex;
use super::{
    Analyzer, AnalyzerKind, ChangeKind, ChangedFile, Confidence, FileOutcome, Finding, Position,
    RawFinding, Severity, Skipped,
};
use crate::rules::{self, RuleSource};
use hmac::{Hmac, Mac};
use regex::Regex;
use serde::Deserialize;
use sha2::Sha256;
use std::collections::HashMap;
use std::path::Path;

/// The key used for fingerprints when none is configured. A deployment
/// sets its own (`HUNKSCAN_FINGERPRINT_KEY`), so fingerprints from
/// different deployments cannot be compared against each other.
pub const DEFAULT_FINGERPRINT_KEY: &[u8] = b"hunkscan-local-fingerprint-key-v1";

/// The longest block a multi-line rule (PEM keys) may span.
const MAX_BLOCK_LINES: usize = 200;

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
    rotation: Option<String>,
    #[serde(default)]
    pairs_with: Option<String>,
    #[serde(default)]
    multiline_end: Option<String>,
    #[serde(default)]
    placeholders: bool,
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
    regex: Regex,
    /// Keywords of the prefilter.
    pub keywords: Vec<String>,
    entropy: Option<f64>,
    /// The provider's page on revoking or rotating it.
    pub rotation: Option<String>,
    pairs_with: Option<String>,
    multiline_end: Option<Regex>,
    placeholders: bool,
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
    let regex_error = |field, e: regex::Error| SecretRuleError::Regex {
        origin: source.origin.clone(),
        id: file.id.clone(),
        field,
        message: e.to_string(),
    };
    let regex = Regex::new(&file.regex).map_err(|e| regex_error("regex", e))?;
    let multiline_end = file
        .multiline_end
        .as_deref()
        .map(Regex::new)
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
        rotation: file.rotation,
        pairs_with: file.pairs_with,
        multiline_end,
        placeholders: file.placeholders,
        examples: file.examples,
        origin: source.origin.clone(),
    })
}

impl SecretRule {
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
}

/// The compiled secret rules and their keyword prefilter.
pub struct SecretRules {
    rules: Vec<SecretRule>,
    prefilter: LiteralIndex,
}

impl SecretRules {
    /// The embedded rules, with `overrides` (a folder laid out like
    /// `rules/`) adding rules or replacing embedded ones of the same id.
    pub fn load(overrides: Option<&Path>) -> Result<Self, SecretRuleError> {
        let mut sources = rules::embedded(&rules::SECRET_FOLDERS);
        if let Some(dir) = overrides {
            sources.extend(rules::from_dir(dir, &rules::SECRET_FOLDERS)?);
        }
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut compiled: Vec<SecretRule> = Vec::new();
        for source in &sources {
            let rule = compile(source)?;
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

/// Which generated files the analyzer leaves out.
#[derive(Debug, Clone, Copy)]
pub struct SecretsOptions {
    /// Skip lock files (`Cargo.lock`, `package-lock.json`, …): their hashes look like secrets.
    pub skip_lock_files: bool,
    /// Skip minified assets (`*.min.js`, source maps).
    pub skip_minified: bool,
}

impl Default for SecretsOptions {
    fn default() -> Self {
        Self {
            skip_lock_files: true,
            skip_minified: true,
        }
    }
}

const LOCK_FILES: [&str; 12] = [
    "Cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "Pipfile.lock",
    "composer.lock",
    "Gemfile.lock",
    "go.sum",
    "uv.lock",
    "pdm.lock",
];

fn generated_kind(path: &str, options: SecretsOptions) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if options.skip_lock_files && LOCK_FILES.contains(&name) {
        return Some("lock file");
    }
    let minified = [".min.js", ".min.css", ".js.map", ".css.map"]
        .iter()
        .any(|ext| name.ends_with(ext));
    if options.skip_minified && minified {
        return Some("minified asset");
    }
    None
}

/// Shannon entropy in bits per character.
pub fn shannon_entropy(value: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    let mut total = 0usize;
    for c in value.chars() {
        *counts.entry(c).or_default() += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    let total = total as f64;
    counts
        .values()
        .map(|&n| n as f64 / total)
        .map(|p| -p * p.log2())
        .sum()
}

/// Values that name a secret rather than being one: templates, environment
/// look-ups, documentation fillers and obvious test values.
pub fn looks_like_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let trimmed = lower.trim_matches(|c: char| c == '"' || c == '\'' || c == '`');
    const FILLERS: [&str; 23] = [
        "changeme",
        "change_me",
        "change-me",
        "xxx",
        "example",
        "placeholder",
        "dummy",
        "redacted",
        "your_",
        "your-",
        "yourtoken",
        "yourpassword",
        "<",
        "${",
        "{{",
        "%(",
        "os.environ",
        "getenv",
        "process.env",
        "env(",
        "env[",
        "secretsmanager",
        "sk_test_",
    ];
    if FILLERS.iter().any(|f| trimmed.contains(f)) {
        return true;
    }
    const TEST_VALUES: [&str; 12] = [
        "password",
        "passw0rd",
        "secret",
        "test",
        "testing",
        "foobar",
        "12345678",
        "123456789",
        "1234567890",
        "qwerty",
        "letmein",
        "admin",
    ];
    if TEST_VALUES
        .iter()
        .any(|t| trimmed == *t || trimmed.starts_with("test") || trimmed.starts_with("fake"))
    {
        return true;
    }
    let mut chars = trimmed.chars();
    match chars.next() {
        Some(first) => chars.all(|c| c == first || c == '*' || c == '.'),
        None => true,
    }
}

/// Providers publish sample credentials marked as such (AWS's
/// `AKIAIOSFODNN7EXAMPLE`); they are in every tutorial and never live.
fn is_documentation_value(value: &str) -> bool {
    value.contains("EXAMPLE")
}

/// The masked form shown instead of a value: a short prefix (none for short
/// values), an ellipsis and the length, e.g. `ghp_…(40 chars)`.
pub fn mask(value: &str) -> String {
    let length = value.chars().count();
    let shown = match length {
        0..8 => 0,
        8..16 => 2,
        _ => 4,
    };
    let prefix: String = value.chars().take(shown).collect();
    format!("{prefix}…({length} chars)")
}

/// The secrets analyzer.
pub struct SecretsAnalyzer {
    rules: SecretRules,
    key: Vec<u8>,
    options: SecretsOptions,
}

/// A value found on one line, before it becomes a finding.
struct Hit<'r> {
    rule: &'r SecretRule,
    line: u32,
    /// Byte range of the value in its line.
    start: usize,
    end: usize,
    end_line: u32,
    value: String,
    /// The rule's `mask` group matched: the whole span (`start..end`, wider
    /// than the value) is hidden, no prefix shown. A Slack webhook's path
    /// or a URL's `user:password` say too much in any part.
    whole: bool,
}

/// The masked form of a span that shows nothing of itself.
pub fn mask_whole(span: &str) -> String {
    format!("…({} chars)", span.chars().count())
}

impl SecretsAnalyzer {
    /// An analyzer over `rules`, hashing values with `key`.
    pub fn new(rules: SecretRules, key: Vec<u8>, options: SecretsOptions) -> Self {
        Self {
            rules,
            key,
            options,
        }
    }

    /// The rules it runs.
    pub fn rules(&self) -> &SecretRules {
        &self.rules
    }

    fn keyed_hash(&self, value: &str) -> String {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(value.as_bytes());
        fingerprint::hex(&mac.finalize().into_bytes())
    }

    /// Finds secrets on the given 1-based lines of `lines`.
    fn scan_lines<'r>(&'r self, lines: &[&str], wanted: impl Iterator<Item = u32>) -> Vec<Hit<'r>> {
        let mut hits: Vec<Hit<'r>> = Vec::new();
        let mut candidates: Vec<usize> = Vec::new();
        for number in wanted {
            let Some(line) = usize::try_from(number)
                .ok()
                .and_then(|n| lines.get(n.wrapping_sub(1)))
            else {
                continue;
            };
            candidates.clear();
            self.rules
                .prefilter
                .owners_in(line, |rule| candidates.push(rule));
            if candidates.is_empty() {
                continue;
            }
            // Rule order is priority order (specific before generic), and so is index order.
            candidates.sort_unstable();
            candidates.dedup();
            let first_on_line = hits.len();
            for rule in candidates.iter().map(|&index| &self.rules.rules[index]) {
                for captures in rule.regex.captures_iter(line) {
                    let Some(value) = captures
                        .name("secret")
                        .or_else(|| captures.get(1))
                        .or_else(|| captures.get(0))
                    else {
                        continue;
                    };
                    let text = value.as_str();
                    if text.is_empty()
                        || is_documentation_value(text)
                        || rule
                            .entropy
                            .is_some_and(|floor| shannon_entropy(text) < floor)
                        || (rule.placeholders && looks_like_placeholder(text))
                    {
                        continue;
                    }
                    let shown = captures.name("mask").unwrap_or(value);
                    let overlaps = hits[first_on_line..]
                        .iter()
                        .any(|h| shown.start() < h.end && h.start < shown.end());
                    if overlaps {
                        continue; // a more specific rule already reported this value
                    }
                    let (end_line, full_value) = match &rule.multiline_end {
                        Some(end) => block_end(lines, number, end),
                        None => (number, text.to_owned()),
                    };
                    hits.push(Hit {
                        rule,
                        line: number,
                        start: shown.start(),
                        end: shown.end(),
                        whole: captures.name("mask").is_some(),
                        end_line,
                        value: if rule.multiline_end.is_some() {
                            full_value
                        } else {
                            text.to_owned()
                        },
                    });
                }
            }
        }
        hits
    }

    fn to_finding(&self, path: &str, line_text: &str, hit: &Hit, paired: bool) -> RawFinding {
        let rule = hit.rule;
        let masked = if hit.whole {
            mask_whole(&line_text[hit.start..hit.end])
        } else {
            mask(&hit.value)
        };
        let column =
            |byte: usize| u32::try_from(line_text[..byte].chars().count() + 1).unwrap_or(u32::MAX);
        let mut snippet = format!(
            "{}{}{}",
            &line_text[..hit.start],
            masked,
            &line_text[hit.end..]
        );
        if snippet.chars().count() > 200 {
            snippet = snippet.chars().take(200).collect::<String>() + "…";
        }
        let rotate = match &rule.rotation {
            Some(url) => format!("Revoke and rotate it now: {url}"),
            None if rule.is_generic() => "Revoke and rotate it now.".to_owned(),
            None => format!("Revoke and rotate it with {} now.", rule.provider),
        };
        let message = format!(
            "{} `{masked}` is added here. Removing the line does not help: the value stays in git history. {rotate}",
            rule.display_title()
        );
        let confidence = if paired {
            Confidence::High
        } else {
            rule.confidence
        };
        RawFinding {
            finding: Finding {
                rule_id: rule.id.clone(),
                analyzer: AnalyzerKind::Secrets,
                severity: rule.severity,
                confidence,
                cwe: Some("CWE-798".into()),
                path: path.to_owned(),
                start: Position {
                    line: hit.line,
                    column: column(hit.start),
                },
                end: Position {
                    line: hit.end_line,
                    column: if hit.end_line == hit.line {
                        column(hit.end)
                    } else {
                        1
                    },
                },
                message,
                remediation: Some(format!(
                    "Revoke the credential{}, issue a new one, and load it from a secret store or environment variable. \
                     Deleting the line or force-pushing does not remove it from clones, forks and caches.",
                    if rule.is_generic() {
                        String::new()
                    } else {
                        format!(" at {}", rule.provider)
                    }
                )),
                fix: None,
                fingerprint: String::new(),
                change: ChangeKind::New,
                suppression: None,
                snippet,
            },
            anchor_first_line: true,
            masked: true,
            identity: self.keyed_hash(&hit.value),
            secrets: if hit.whole {
                vec![hit.value.clone(), line_text[hit.start..hit.end].to_owned()]
            } else {
                vec![hit.value.clone()]
            },
        }
    }

    /// Findings for `text`, treating the given lines as added (all lines when `None`).
    pub fn findings_in(
        &self,
        path: &str,
        text: &str,
        added: Option<&std::collections::BTreeSet<u32>>,
    ) -> Vec<RawFinding> {
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let hits = match added {
            Some(added) => self.scan_lines(&lines, added.iter().copied()),
            None => self.scan_lines(&lines, 1..=u32::try_from(lines.len()).unwrap_or(u32::MAX)),
        };
        let found: Vec<&str> = hits.iter().map(|h| h.rule.id.as_str()).collect();
        hits.iter()
            .map(|hit| {
                let paired = hit
                    .rule
                    .pairs_with
                    .as_deref()
                    .is_some_and(|other| found.contains(&other));
                let line_text = lines.get(hit.line as usize - 1).copied().unwrap_or("");
                self.to_finding(path, line_text, hit, paired)
            })
            .collect()
    }
}

/// The line that closes a block opened on `start` (1-based), and the block's text.
fn block_end(lines: &[&str], start: u32, end: &Regex) -> (u32, String) {
    let first = start as usize - 1;
    let last = (first + MAX_BLOCK_LINES).min(lines.len());
    for index in first..last {
        if end.is_match(lines[index]) {
            return (
                u32::try_from(index + 1).unwrap_or(start),
                lines[first..=index].join("\n"),
            );
        }
    }
    (start, lines[first].to_owned())
}

impl super::redact::SecretFinder for SecretsAnalyzer {
    fn secret_spans(&self, line: &str) -> Vec<super::redact::SecretSpan> {
        self.scan_lines(&[line], std::iter::once(1))
            .into_iter()
            .map(|hit| super::redact::SecretSpan {
                range: hit.start..hit.end,
                whole: hit.whole,
            })
            .collect()
    }
}

impl Analyzer for SecretsAnalyzer {
    fn kind(&self) -> AnalyzerKind {
        AnalyzerKind::Secrets
    }

    fn handles(&self, _path: &str) -> bool {
        // Credentials end up in every kind of text file.
        true
    }

    fn analyze(&self, file: &ChangedFile, head: &str, out: &mut FileOutcome) {
        let path = &file.diff.path;
        if let Some(kind) = generated_kind(path, self.options) {
            out.skipped.push(Skipped {
                path: path.clone(),
                analyzer: Some(AnalyzerKind::Secrets),
                reason: format!(
                    "{kind}: not scanned for secrets by default (its hashes look like secrets)"
                ),
                partial: false,
            });
            return;
        }
        out.findings
            .extend(self.findings_in(path, head, Some(&file.diff.lines.added)));
    }

    fn secret_finder(&self) -> Option<&dyn super::redact::SecretFinder> {
        Some(self)
    }
}
