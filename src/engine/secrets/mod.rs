//! Secret detection over the lines a change adds, in every text file.
//!
//! Rules are data (`rules/secrets/*.yml`, read by [`rules`]): a provider
//! regex, keywords that must appear in a line before the regex runs, and for
//! loose formats an entropy floor. All keywords go into one Aho-Corasick
//! automaton, so a line is read once and only the rules whose keywords it
//! holds run their regex ([`scan`]); the `regex` crate matches in linear
//! time, so no rule can be made to take exponential time on hostile input.
//! Every candidate then goes through the placeholder checks
//! ([`placeholder`]); what they turn down is kept, masked, with its reason,
//! for `--explain-dropped`.
//!
//! The scan asks the file's deadline at every line and every match: when it
//! passes, the findings of the lines read so far are kept (`partial`).
//!
//! A found value is never echoed: messages, snippets and fingerprints carry
//! the provider, the place and a masked form ([`mask`]); the fingerprint
//! hashes the value with a key (HMAC-SHA256), so the same secret moved
//! elsewhere is recognised without the value being stored anywhere.

mod describe;
pub mod entropy;
pub mod files;
pub mod ignore;
mod mask;
pub mod placeholder;
mod rules;
mod scan;
mod sealed_store;
mod spans;

pub use entropy::shannon_entropy;
pub use ignore::{GITLEAKS_IGNORE_PATH, GitleaksAliases, GitleaksIgnore};
pub use mask::{mask, mask_whole};
pub use placeholder::{DropReason, looks_like_placeholder};
pub use rules::{SecretAliases, SecretExamples, SecretRule, SecretRuleError, SecretRules};

use super::fingerprint;
use super::{
    Analyzer, AnalyzerKind, ChangeKind, ChangedFile, Confidence, Deadline, FileOutcome, Finding,
    Position, RawFinding, Skipped, Suppression, SuppressionSource,
};
use describe::Described;
use hmac::{Hmac, Mac};
use scan::{DroppedHit, FileKind};
use serde::Serialize;
use sha2::Sha256;
use spans::Spans;
use std::collections::{BTreeSet, HashSet};

/// The key used for fingerprints when none is configured. A deployment
/// sets its own (`HUNKSCAN_FINGERPRINT_KEY`), so fingerprints from
/// different deployments cannot be compared against each other.
pub const DEFAULT_FINGERPRINT_KEY: &[u8] = b"hunkscan-local-fingerprint-key-v1";

/// A candidate a rule matched on an added line and a check turned down:
/// what `--explain-dropped` lists. The value is masked as a finding's is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dropped {
    /// Repository-relative path.
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based character column of the value.
    pub column: u32,
    /// The rule that matched.
    pub rule_id: String,
    /// The value, masked (`ghp_…(40 chars)`).
    pub value: String,
    /// Why it was not reported: a code and its details.
    #[serde(flatten)]
    pub reason: DropReason,
    /// The reason in words.
    pub explanation: String,
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

/// Documentation files: prose whose values are mostly made-up examples, so
/// findings there are low confidence and obvious examples are dropped.
fn file_kind(path: &str) -> FileKind {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let documentation = [".md", ".markdown", ".rst", ".adoc", ".asciidoc", ".mdx"]
        .iter()
        .any(|ext| name.ends_with(ext));
    FileKind { documentation }
}

/// The secrets analyzer.
pub struct SecretsAnalyzer {
    rules: SecretRules,
    key: Vec<u8>,
    options: SecretsOptions,
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

    /// What reporters need of every rule it reports under: the provider
    /// rules and the credential-file readers.
    pub fn rule_docs(&self) -> Vec<crate::report::RuleDoc> {
        self.rules
            .rules()
            .iter()
            .map(crate::report::RuleDoc::from)
            .chain(files::READERS.iter().map(|reader| (*reader).into()))
            .collect()
    }

    fn keyed_hash(&self, value: &str) -> String {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(value.as_bytes());
        fingerprint::hex(&mac.finalize().into_bytes())
    }

    /// The finding for a value at `span` (byte range in `line_text`, on
    /// lines `lines`), described by `what`; `columns`: the character
    /// columns of the span's start and end.
    #[allow(clippy::too_many_arguments)]
    fn to_finding(
        &self,
        path: &str,
        line_text: &str,
        what: &Described,
        (line, end_line): (u32, u32),
        span: std::ops::Range<usize>,
        value: &str,
        whole: bool,
        confidence: Confidence,
        columns: (u32, u32),
    ) -> RawFinding {
        let masked = if whole {
            mask_whole(&line_text[span.clone()])
        } else {
            mask(value)
        };
        // At most 200 characters, built without copying a long line whole.
        let mut snippet: String = line_text[..span.start]
            .chars()
            .chain(masked.chars())
            .chain(line_text[span.end..].chars())
            .take(201)
            .collect();
        if snippet.chars().count() > 200 {
            snippet = snippet.chars().take(200).collect::<String>() + "…";
        }
        let message = format!(
            "{} `{masked}` is added here. Removing the line does not help: the value stays in git history. {}",
            what.title,
            what.rotate_advice()
        );
        RawFinding {
            finding: Finding {
                rule_id: what.id.to_owned(),
                analyzer: AnalyzerKind::Secrets,
                severity: what.severity,
                confidence,
                cwe: Some("CWE-798".into()),
                path: path.to_owned(),
                start: Position {
                    line,
                    column: columns.0,
                },
                end: Position {
                    line: end_line,
                    column: if end_line == line { columns.1 } else { 1 },
                },
                message,
                remediation: Some(format!(
                    "Revoke the credential{}, issue a new one, and load it from a secret store or environment variable. \
                     Deleting the line or force-pushing does not remove it from clones, forks and caches.",
                    if what.generic {
                        String::new()
                    } else {
                        format!(" at {}", what.provider)
                    }
                )),
                fix: None,
                fingerprint: String::new(),
                change: ChangeKind::New,
                suppression: None,
                snippet,
                flow: Vec::new(),
            },
            anchor_first_line: true,
            masked: true,
            identity: self.keyed_hash(value),
            secrets: if whole {
                vec![value.to_owned(), line_text[span].to_owned()]
            } else {
                vec![value.to_owned()]
            },
        }
    }

    /// Findings for `text`, treating the given lines as added (all lines when `None`).
    pub fn findings_in(
        &self,
        path: &str,
        text: &str,
        added: Option<&BTreeSet<u32>>,
    ) -> Vec<RawFinding> {
        let mut findings = Vec::new();
        self.findings_until(path, text, added, &Deadline::none(), &mut findings, None);
        findings
    }

    /// The candidates the checks turned down in `text` (all lines), with
    /// their reasons: what `--explain-dropped` shows, for tests and tools.
    pub fn dropped_in(&self, path: &str, text: &str) -> Vec<Dropped> {
        let mut findings = Vec::new();
        let mut dropped = Vec::new();
        self.findings_until(
            path,
            text,
            None,
            &Deadline::none(),
            &mut findings,
            Some(&mut dropped),
        );
        dropped
    }

    /// [`findings_in`](Self::findings_in) into `findings`, stopping when
    /// `deadline` passes; returns `false` then (what was found is there).
    fn findings_until(
        &self,
        path: &str,
        text: &str,
        added: Option<&BTreeSet<u32>>,
        deadline: &Deadline,
        findings: &mut Vec<RawFinding>,
        dropped: Option<&mut Vec<Dropped>>,
    ) -> bool {
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let kind = file_kind(path);
        let wanted: Vec<u32> = match added {
            Some(added) => added.iter().copied().collect(),
            None => (1..=u32::try_from(lines.len()).unwrap_or(u32::MAX)).collect(),
        };
        let mut hits = Vec::new();
        let mut dropped_hits: Vec<DroppedHit> = Vec::new();
        let keep_dropped = dropped.is_some().then_some(&mut dropped_hits);
        let mut done = scan::scan_lines(
            &self.rules,
            &lines,
            wanted.iter().copied(),
            deadline,
            kind,
            &mut hits,
            keep_dropped,
        );
        let mut from_files = files::FileFindings::default();
        done = done && files::read(path, &lines, &wanted, deadline, &mut from_files);
        // One finding a value. A provider rule names the provider: it wins
        // over a reader. A reader names the file kind (`.npmrc`, kubeconfig),
        // which says more than a generic rule's "password assignment": it
        // wins over those. A second reader of the same value is dropped (a
        // Docker config is JSON too). Spans are compared line by line.
        // (Not the generic configuration reader's: it knows no more than they do.)
        let file_spans = Spans::of(
            from_files
                .hits
                .iter()
                .filter(|h| h.reader.id != files::CONFIG_PASSWORD.id)
                .map(|h| (h.line, h.start, h.end)),
        );
        hits.retain(|hit| {
            !(hit.rule.placeholders && file_spans.overlaps(hit.line, hit.start, hit.end))
        });
        let rule_spans = Spans::of(hits.iter().map(|h| (h.line, h.start, h.end)));
        let mut taken: HashSet<(u32, usize)> = HashSet::new();
        from_files.hits.retain(|file_hit| {
            let by_rule = rule_spans.overlaps(file_hit.line, file_hit.start, file_hit.end);
            !by_rule && taken.insert((file_hit.line, file_hit.start))
        });
        // What was found is kept, also when the deadline stopped the scan:
        // what follows is linear in the lines that hold a value.
        let found: HashSet<&str> = hits.iter().map(|h| h.rule.id.as_str()).collect();
        let spans: Vec<(u32, usize, usize)> = hits
            .iter()
            .map(|h| (h.line, h.start, h.end))
            .chain(from_files.hits.iter().map(|h| (h.line, h.start, h.end)))
            .collect();
        let mut columns = scan::columns(&lines, &spans).into_iter();
        let line_of = |number: u32| lines.get(number as usize - 1).copied().unwrap_or("");
        for hit in &hits {
            let paired = hit
                .rule
                .pairs_with
                .as_deref()
                .is_some_and(|other| found.contains(other));
            let confidence = if kind.documentation {
                Confidence::Low
            } else if paired {
                Confidence::High
            } else {
                hit.rule.confidence
            };
            let mut raw = self.to_finding(
                path,
                line_of(hit.line),
                &Described::rule(hit.rule),
                (hit.line, hit.end_line),
                hit.start..hit.end,
                &hit.value,
                hit.whole,
                confidence,
                columns.next().unwrap_or((1, 1)),
            );
            raw.finding.suppression = alias_suppression(hit.rule, &lines, hit.line)
                .or_else(|| ignore::trufflehog_suppression(line_of(hit.line), hit.line));
            findings.push(raw);
        }
        for hit in &from_files.hits {
            let text = line_of(hit.line);
            let value = text.get(hit.start..hit.end).unwrap_or_default();
            let mut raw = self.to_finding(
                path,
                text,
                &Described::reader(hit.reader),
                (hit.line, hit.line),
                hit.start..hit.end,
                value,
                false,
                if kind.documentation {
                    Confidence::Low
                } else {
                    hit.confidence
                },
                columns.next().unwrap_or((1, 1)),
            );
            raw.finding.suppression = ignore::trufflehog_suppression(text, hit.line);
            findings.push(raw);
        }
        if let Some(dropped) = dropped {
            let spans: Vec<(u32, usize, usize)> = dropped_hits
                .iter()
                .map(|d| (d.line, d.start, d.start))
                .chain(
                    from_files
                        .dropped
                        .iter()
                        .map(|d| (d.line, d.start, d.start)),
                )
                .collect();
            let mut columns = scan::columns(&lines, &spans).into_iter();
            for hit in dropped_hits {
                dropped.push(Dropped {
                    path: path.to_owned(),
                    line: hit.line,
                    column: columns.next().map_or(1, |c| c.0),
                    rule_id: hit.rule.id.clone(),
                    value: hit.masked,
                    explanation: hit.reason.to_string(),
                    reason: hit.reason,
                });
            }
            for hit in from_files.dropped {
                let value = line_of(hit.line)
                    .get(hit.start..hit.end)
                    .unwrap_or_default();
                dropped.push(Dropped {
                    path: path.to_owned(),
                    line: hit.line,
                    column: columns.next().map_or(1, |c| c.0),
                    rule_id: hit.reader.id.to_owned(),
                    value: mask(value),
                    explanation: hit.reason.to_string(),
                    reason: hit.reason,
                });
            }
        }
        done
    }
}

/// A `hunkscan:ignore` marker on the finding's line or the line above that
/// names the rule by another scanner's id (`hunkscan:ignore github-pat`),
/// as the engine applies the rule's own id. Teams moving from Gitleaks,
/// detect-secrets or TruffleHog keep the ids they wrote.
fn alias_suppression(rule: &SecretRule, lines: &[&str], line: u32) -> Option<Suppression> {
    [line, line.saturating_sub(1)]
        .into_iter()
        .filter(|&l| l > 0)
        .find_map(|l| {
            let text = lines.get(l as usize - 1)?;
            let (ids, reason) = super::suppress::hunkscan_marker(text)?;
            ids.iter()
                .any(|id| id != &rule.id && rule.answers_to(id))
                .then_some(Suppression {
                    source: SuppressionSource::Hunkscan,
                    reason,
                    line: l,
                })
        })
}

impl super::redact::SecretFinder for SecretsAnalyzer {
    fn secret_spans(&self, line: &str) -> Vec<super::redact::SecretSpan> {
        // One line, bounded by the caller: no deadline.
        let mut hits = Vec::new();
        scan::scan_lines(
            &self.rules,
            &[line],
            std::iter::once(1),
            &Deadline::none(),
            FileKind::default(),
            &mut hits,
            None,
        );
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
        if !self.findings_until(
            path,
            head,
            added,
            &out.deadline,
            &mut out.findings,
            Some(&mut out.dropped),
        ) {
            let skipped = out.deadline.skipped(path, AnalyzerKind::Secrets, true);
            out.skipped.push(skipped);
        }
    }

    fn secret_finder(&self) -> Option<&dyn super::redact::SecretFinder> {
        Some(self)
    }

    fn analyze_sealed(&self, file: &ChangedFile, bytes: &[u8], out: &mut FileOutcome) -> bool {
        self.sealed_findings(file, bytes, out);
        true
    }
}

#[cfg(test)]
mod tests;
