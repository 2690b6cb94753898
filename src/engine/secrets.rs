//! Secret detection over the lines a change adds, in every text file.
//!
//! Rules are data (`rules/secrets/*.yml`): a provider regex, keywords that
//! must appear in a line before the regex runs, and for loose formats an
//! entropy floor. All keywords go into one Aho-Corasick automaton, so a line
//! is read once and only the rules whose keywords it holds run their regex;
//! the `regex` crate matches in linear time, so no rule can be made to take
//! exponential time on hostile input.
//!
//! The scan asks the file's deadline at every line and every match: when it
//! passes, the findings of the lines read so far are kept (`partial`).
//!
//! A found value is never echoed: messages, snippets and fingerprints carry
//! the provider, the place and a masked form; the fingerprint hashes the
//! value with a key (HMAC-SHA256), so the same secret moved elsewhere is
//! recognised without the value being stored anywhere.

use super::fingerprint;
use super::literals::LiteralIndex;
use super::{
    Analyzer, AnalyzerKind, ChangeKind, ChangedFile, Confidence, Deadline, FileOutcome, Finding,
    Position, RawFinding, Severity, Skipped,
};
use crate::rules::{self, RuleSource};
use hmac::{Hmac, Mac};
use regex::Regex;
use serde::Deserialize;
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap, HashSet};
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

    /// Finds secrets on the given 1-based lines of `lines`, into `hits`.
    /// Returns `false` when `deadline` passed before every line was read.
    fn scan_lines<'r>(
        &'r self,
        lines: &[&str],
        wanted: impl Iterator<Item = u32>,
        deadline: &Deadline,
        hits: &mut Vec<Hit<'r>>,
    ) -> bool {
        let mut candidates: Vec<usize> = Vec::new();
        // The values already reported on the current line, start ─▶ end.
        // They never overlap, so the one starting last before a new value's
        // end is the only one that can overlap it: a look-up, where a scan
        // of the line's hits made a line of many matches quadratic.
        let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
        for number in wanted {
            if deadline.expired() {
                return false;
            }
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
            taken.clear();
            for rule in candidates.iter().map(|&index| &self.rules.rules[index]) {
                for captures in rule.regex.captures_iter(line) {
                    // A long line can hold a great many matches.
                    if deadline.expired() {
                        return false;
                    }
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
                    let overlaps = taken
                        .range(..shown.end())
                        .next_back()
                        .is_some_and(|(_, &end)| shown.start() < end);
                    if overlaps {
                        continue; // a more specific rule already reported this value
                    }
                    // An empty span overlaps nothing: kept out, it cannot
                    // hide a span that starts where it is.
                    if shown.start() < shown.end() {
                        taken.insert(shown.start(), shown.end());
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
        true
    }

    /// `columns`: the character columns of the hit's start and end.
    fn to_finding(
        &self,
        path: &str,
        line_text: &str,
        hit: &Hit,
        paired: bool,
        columns: (u32, u32),
    ) -> RawFinding {
        let rule = hit.rule;
        let masked = if hit.whole {
            mask_whole(&line_text[hit.start..hit.end])
        } else {
            mask(&hit.value)
        };
        // At most 200 characters, built without copying a long line whole.
        let mut snippet: String = line_text[..hit.start]
            .chars()
            .chain(masked.chars())
            .chain(line_text[hit.end..].chars())
            .take(201)
            .collect();
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
                    column: columns.0,
                },
                end: Position {
                    line: hit.end_line,
                    column: if hit.end_line == hit.line {
                        columns.1
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
        let mut findings = Vec::new();
        self.findings_until(path, text, added, &Deadline::none(), &mut findings);
        findings
    }

    /// [`findings_in`](Self::findings_in) into `findings`, stopping when
    /// `deadline` passes; returns `false` then (what was found is there).
    fn findings_until(
        &self,
        path: &str,
        text: &str,
        added: Option<&std::collections::BTreeSet<u32>>,
        deadline: &Deadline,
        findings: &mut Vec<RawFinding>,
    ) -> bool {
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let mut hits = Vec::new();
        let done = match added {
            Some(added) => self.scan_lines(&lines, added.iter().copied(), deadline, &mut hits),
            None => self.scan_lines(
                &lines,
                1..=u32::try_from(lines.len()).unwrap_or(u32::MAX),
                deadline,
                &mut hits,
            ),
        };
        // What was found is kept, also when the deadline stopped the scan:
        // what follows is linear in the lines that hold a value.
        let found: HashSet<&str> = hits.iter().map(|h| h.rule.id.as_str()).collect();
        for (hit, columns) in hits.iter().zip(columns(&lines, &hits)) {
            let paired = hit
                .rule
                .pairs_with
                .as_deref()
                .is_some_and(|other| found.contains(other));
            let line_text = lines.get(hit.line as usize - 1).copied().unwrap_or("");
            findings.push(self.to_finding(path, line_text, hit, paired, columns));
        }
        done
    }
}

/// The 1-based character columns of each hit's start and end, in one pass
/// over each line that holds hits: counting from the line's start for every
/// hit made a long line of many values quadratic.
fn columns(lines: &[&str], hits: &[Hit]) -> Vec<(u32, u32)> {
    let mut wanted: Vec<(u32, usize, usize, bool)> = Vec::with_capacity(hits.len() * 2);
    for (index, hit) in hits.iter().enumerate() {
        wanted.push((hit.line, hit.start, index, false));
        wanted.push((hit.line, hit.end, index, true));
    }
    wanted.sort_unstable();
    let mut out = vec![(1, 1); hits.len()];
    let (mut line, mut byte, mut chars) = (0, 0, 0);
    for (at_line, at_byte, index, is_end) in wanted {
        if at_line != line {
            (line, byte, chars) = (at_line, 0, 0);
        }
        let text = lines
            .get((line as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("");
        chars += text.get(byte..at_byte).map_or(0, |s| s.chars().count());
        byte = byte.max(at_byte);
        let column = u32::try_from(chars + 1).unwrap_or(u32::MAX);
        if is_end {
            out[index].1 = column;
        } else {
            out[index].0 = column;
        }
    }
    out
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
        // One line, bounded by the caller: no deadline.
        let mut hits = Vec::new();
        self.scan_lines(&[line], std::iter::once(1), &Deadline::none(), &mut hits);
        hits.into_iter()
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
        let added = Some(&file.diff.lines.added);
        if !self.findings_until(path, head, added, &out.deadline, &mut out.findings) {
            let skipped = out.deadline.skipped(path, AnalyzerKind::Secrets, true);
            out.skipped.push(skipped);
        }
    }

    fn secret_finder(&self) -> Option<&dyn super::redact::SecretFinder> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Content;

    fn analyze(head: &str, deadline: Deadline) -> FileOutcome {
        let rules = SecretRules::load(None).expect("embedded rules load");
        let analyzer = SecretsAnalyzer::new(
            rules,
            DEFAULT_FINGERPRINT_KEY.to_vec(),
            SecretsOptions::default(),
        );
        let file =
            crate::local::changed_file("app.env", Content::Absent, Content::Text(head.into()))
                .expect("diffable");
        let mut out = FileOutcome {
            deadline,
            ..FileOutcome::default()
        };
        analyzer.analyze(&file, head, &mut out);
        out
    }

    #[test]
    fn a_deadline_passing_during_the_scan_keeps_the_lines_read_before() {
        let head = "AWS_ACCESS_KEY_ID=AKIAZ7Q4XW2M9RT3LPKE\n".repeat(40);
        let complete = analyze(&head, Deadline::none());
        assert_eq!(complete.findings.len(), 40);
        let stopped = analyze(&head, Deadline::after_questions(20));
        let found = stopped.findings.len();
        assert!(found > 0 && found < 40, "{found} findings");
        assert_eq!(stopped.skipped.len(), 1, "{:?}", stopped.skipped);
        let skipped = &stopped.skipped[0];
        assert_eq!(
            (skipped.analyzer, skipped.partial),
            (Some(AnalyzerKind::Secrets), true)
        );
        assert!(skipped.reason.contains("deadline"), "{}", skipped.reason);
    }

    #[test]
    fn many_values_on_one_line_are_each_reported_once() {
        // The overlap check is a look-up per value; the result is the same
        // as comparing with every value before it on the line.
        let line = (0..300)
            .map(|index| format!("AKIAZ7Q4XW2M9RT3{index:04}"))
            .collect::<Vec<_>>()
            .join(" ");
        let out = analyze(&line, Deadline::none());
        assert_eq!(out.findings.len(), 300);
        let mut columns: Vec<u32> = out
            .findings
            .iter()
            .map(|f| f.finding.start.column)
            .collect();
        columns.dedup();
        assert_eq!(columns.len(), 300);
    }
}
