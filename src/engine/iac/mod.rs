//! IaC: Terraform, Kubernetes, Dockerfiles and GitHub Actions workflows,
//! compared base against head.
//!
//! Each changed IaC file is parsed on both sides into subjects with line
//! spans ([`model`]); the policies ([`policy`], data in `rules/<format>/`)
//! run on both; findings are matched across the change by policy, subject
//! key (resource type + name, kind + namespace + name, stage, job + step) and
//! evidence, and each leftover is classified:
//!
//! - in head only, on a subject the base did not have (or a new list item):
//!   **new** — the engine still requires it to touch an added line;
//! - in head only, on a subject the base had: **regression**, with the old
//!   and new value in the message (the first piece of evidence whose value
//!   differs between the versions: changed, removed or newly set); also
//!   when the finding's own lines are unchanged but a list item the change
//!   added (a trigger) or a block it deleted made it apply — placed on the
//!   added item, or near the deletion;
//! - in base only: **fixed**, credited in summaries;
//! - a subject deleted by the change that a `removed: true` policy protects
//!   (a public access block, an encryption configuration): **regression**.
//!
//! A finding present on both sides is the base's problem, not the change's,
//! and is not reported — even on a line the change touched.
//!
//! A file that does not parse is skipped with the parser's reason (a Helm
//! template is skipped as a template): nothing is guessed from it. When only
//! the base does not parse, head findings are reported as new where they
//! touch added lines, and the file is flagged as partly analysed.
//!
//! The file's deadline is asked while parsing (YAML event by event), while
//! policies run (subject by subject) and at every finding the comparison
//! classifies. Findings leave the comparison finished (suppression markers
//! applied), so when the deadline passes during classification what was
//! classified is kept (`partial`); when it passes before (while a version
//! is parsed or evaluated, or the versions' hits are matched) nothing is
//! reported: half of one version compared with the other would call the
//! unread half's problems "fixed".

pub mod actions;
pub mod dockerfile;
pub mod kubernetes;
pub mod model;
pub mod policy;
pub mod suppress;
pub mod terraform;
pub mod yaml;

use self::model::{Model, Node, ReadError, Span, Subject, Translated, Translator, deepest, lookup};
use self::policy::{IacKind, Policies, Policy, Report};
use super::{
    Analyzer, AnalyzerKind, ChangeKind, ChangedFile, ComparedFinding, Content, Deadline,
    FileOutcome, Finding, Position, RawFinding, Skipped,
};
use crate::diff::FileStatus;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The format of a path, from its name alone (a YAML file is only a
/// Kubernetes manifest if its content says so).
pub fn detect(path: &str) -> Option<IacKind> {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    if name.ends_with(".tf") || name.ends_with(".tf.json") {
        return Some(IacKind::Terraform);
    }
    if name == "dockerfile"
        || name.starts_with("dockerfile.")
        || name.ends_with(".dockerfile")
        || name == "containerfile"
        || name.starts_with("containerfile.")
    {
        return Some(IacKind::Dockerfile);
    }
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    if !yaml {
        return None;
    }
    let parent = lower.rsplit_once('/').map_or("", |(dir, _)| dir);
    if parent == ".github/workflows" || parent.ends_with("/.github/workflows") {
        return Some(IacKind::GithubActions);
    }
    Some(IacKind::Kubernetes)
}

/// A side of a file, parsed.
enum Parsed {
    Model(Model),
    /// Not an IaC file after all (a YAML file that holds no manifest).
    NotIac,
    /// Cannot be read without guessing; the reason.
    Unreadable(String),
    /// The file's deadline passed while it was read.
    OutOfTime,
}

impl From<ReadError> for Parsed {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Invalid(reason) => Parsed::Unreadable(reason),
            ReadError::OutOfTime => Parsed::OutOfTime,
        }
    }
}

fn is_helm_template(path: &str, text: &str) -> bool {
    text.contains("{{") && (path.contains("/templates/") || path.starts_with("templates/"))
}

fn parse(kind: IacKind, path: &str, text: &str, deadline: &Deadline) -> Parsed {
    match kind {
        IacKind::Terraform if path.to_ascii_lowercase().ends_with(".json") => {
            match terraform::parse_json(text, deadline) {
                Ok(model) => Parsed::Model(model),
                Err(e) => e.into(),
            }
        }
        IacKind::Terraform => match terraform::parse_until(text, deadline) {
            Ok(model) => Parsed::Model(model),
            Err(e) => e.into(),
        },
        IacKind::Dockerfile => Parsed::Model(dockerfile::parse(text)),
        IacKind::GithubActions => match yaml::parse_until(text, false, deadline) {
            Ok(docs) => match actions::model(&docs) {
                Ok(model) => Parsed::Model(model),
                Err(reason) => Parsed::Unreadable(reason),
            },
            Err(e) => e.into(),
        },
        IacKind::Kubernetes => {
            if is_helm_template(path, text) {
                return Parsed::Unreadable(
                    "Helm chart template: its values are only known once rendered (`helm template`), so it is skipped rather than misread".into(),
                );
            }
            match yaml::parse_until(text, true, deadline) {
                Ok(docs) if docs.iter().any(kubernetes::is_manifest) => {
                    Parsed::Model(kubernetes::model(&docs))
                }
                Ok(_) => Parsed::NotIac,
                Err(ReadError::OutOfTime) => Parsed::OutOfTime,
                Err(ReadError::Invalid(error)) if text.contains("{{") || text.contains("{%") => {
                    Parsed::Unreadable(format!(
                        "template syntax (`{{{{ }}}}`) that does not parse as YAML, skipped rather than misread ({error})"
                    ))
                }
                Err(ReadError::Invalid(error))
                    if text.contains("apiVersion") && text.contains("kind") =>
                {
                    Parsed::Unreadable(error)
                }
                Err(ReadError::Invalid(_)) => Parsed::NotIac,
            }
        }
    }
}

/// Above this many findings on the two versions of one file, the file is
/// not compared: its head findings are reported as new. Matching is linear,
/// but a worker must not spend seconds on one generated file.
pub const MAX_COMPARED_HITS: usize = 20_000;

/// One policy matching one subject.
struct Hit<'m> {
    policy: usize,
    subject: &'m Subject,
    /// Concrete paths and nodes of every test that held; the last is primary.
    evidence: Vec<(String, Option<&'m Node>)>,
}

impl Hit<'_> {
    fn primary(&self) -> (&str, Option<&Node>) {
        self.evidence
            .last()
            .map_or(("", Some(&self.subject.node)), |(p, n)| (p.as_str(), *n))
    }

    fn primary_value(&self) -> String {
        self.primary()
            .1
            .map_or_else(|| "(unset)".into(), Node::display)
    }

    /// Where the finding points.
    fn span(&self) -> Span {
        match self.primary() {
            (_, Some(node)) => node.span,
            (path, None) => deepest(&self.subject.node, path).span.first_line(),
        }
    }
}

/// The IaC analyzer.
#[derive(Clone)]
pub struct IacAnalyzer {
    policies: Arc<Policies>,
}

/// Every hit of `policies` on `model`; `None` when `deadline` passed first.
fn evaluate<'m>(
    policies: &[&Policy],
    model: &'m Model,
    removed_only: bool,
    deadline: &Deadline,
) -> Option<Vec<Hit<'m>>> {
    let mut hits = Vec::new();
    for subject in &model.subjects {
        if deadline.expired() {
            return None;
        }
        for (index, policy) in policies.iter().enumerate() {
            if policy.removed != removed_only || !policy.applies_to(subject) {
                continue;
            }
            let mut seen = HashSet::new();
            for found in policy.when.eval(&subject.node, "") {
                let evidence: Vec<(String, Option<&Node>)> =
                    found.into_iter().map(|e| (e.path, e.node)).collect();
                let primary = evidence.last().map(|(p, _)| p.clone()).unwrap_or_default();
                if seen.insert(primary) {
                    hits.push(Hit {
                        policy: index,
                        subject,
                        evidence,
                    });
                }
            }
        }
    }
    Some(hits)
}

/// Why a comparison did not cover the whole file.
enum Incomplete {
    /// Too many findings to compare; the reason.
    TooManyHits(String),
    /// The deadline passed; `partial` when findings were classified before.
    OutOfTime { partial: bool },
}

/// Finishes findings as the comparison produces them: new ones off the
/// added lines are dropped (the engine would drop them), the others get
/// their suppression (not fixed ones, and not when the file was removed),
/// so every finding out of the comparison is complete when the deadline
/// stops it.
struct Sink<'a> {
    lines: &'a crate::diff::LineSets,
    suppressor: Option<Suppressor<'a>>,
    found: Vec<ComparedFinding>,
}

impl Sink<'_> {
    fn push(&mut self, mut item: ComparedFinding) {
        let finding = &item.raw.finding;
        if item.change == ChangeKind::New
            && !self
                .lines
                .intersects_added(finding.start.line, finding.end.line)
        {
            return;
        }
        if item.change != ChangeKind::Fixed
            && let Some(suppressor) = &self.suppressor
        {
            suppressor.apply(&mut item);
        }
        self.found.push(item);
    }
}

/// What suppression needs of the head version, indexed once: a generated
/// file can hold thousands of findings.
struct Suppressor<'a> {
    markers: suppress::IacMarkers,
    trees: Vec<&'a Node>,
    policies: HashMap<&'a str, &'a Policy>,
    subjects: HashMap<&'a str, &'a Subject>,
}

impl<'a> Suppressor<'a> {
    fn new(policies: &'a Policies, kind: IacKind, head_text: &str, head_model: &'a Model) -> Self {
        let syntax = match kind {
            IacKind::Terraform => suppress::Syntax::Hcl,
            IacKind::Kubernetes | IacKind::GithubActions => suppress::Syntax::Yaml,
            IacKind::Dockerfile => suppress::Syntax::Dockerfile,
        };
        Self {
            markers: suppress::IacMarkers::scan(head_text, syntax),
            trees: head_model.subjects.iter().map(|s| &s.node).collect(),
            policies: policies.of(kind).map(|p| (p.id.as_str(), p)).collect(),
            subjects: head_model
                .subjects
                .iter()
                .map(|s| (s.key.as_str(), s))
                .collect(),
        }
    }

    /// Sets the suppression of one head finding.
    fn apply(&self, item: &mut ComparedFinding) {
        let Some(policy) = self
            .policies
            .get(item.raw.finding.rule_id.as_str())
            .copied()
        else {
            return;
        };
        let key = item.raw.identity.split('|').next().unwrap_or("");
        let Some(subject) = self.subjects.get(key).copied() else {
            return;
        };
        let finding = &item.raw.finding;
        let span = Span::new(
            finding.start.line,
            finding.start.column,
            finding.end.line,
            finding.end.column,
        );
        item.raw.finding.suppression = self
            .markers
            .suppression_for(policy, span, &subject.node, &self.trees)
            .or_else(|| {
                suppress::annotation_suppression(
                    policy,
                    &subject.skips,
                    subject.node.span.start.line,
                )
            });
    }
}

/// What changed in the evidence of a regression.
enum Change {
    Changed {
        path: String,
        from: String,
        to: String,
    },
    Removed {
        path: String,
        was: String,
    },
    Set {
        path: String,
        to: String,
    },
    /// A list item the change added that makes the finding apply.
    Added {
        path: String,
        value: String,
    },
    Deleted,
    Other,
}

impl Change {
    fn describe(&self, label: &str, sensitive: bool) -> String {
        match self {
            Change::Changed { path, .. } if sensitive => format!("`{path}` changed"),
            Change::Removed { path, .. } if sensitive => format!("`{path}` removed"),
            Change::Set { path, .. } if sensitive => format!("`{path}` set"),
            Change::Added { path, .. } if sensitive => format!("`{path}` added"),
            Change::Changed { path, from, to } => {
                format!("`{path}` changed from `{from}` to `{to}`")
            }
            Change::Removed { path, was } => format!("`{path}` removed (was `{was}`)"),
            Change::Set { path, to } => format!("`{path}` set to `{to}` (was unset)"),
            Change::Added { path, value } => {
                // `workflow_triggers[1]` ─▶ `workflow_triggers`: the list it joined.
                let list = match path.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
                    Some((list, _)) if !list.is_empty() => list,
                    _ => path,
                };
                format!("`{value}` added to `{list}` by this change")
            }
            Change::Deleted => format!("`{label}` deleted by this change"),
            Change::Other => "made worse by this change".into(),
        }
    }
}

fn fill(template: &str, label: &str, path: &str, value: &str) -> String {
    template
        .replace("{label}", label)
        .replace("{path}", if path.is_empty() { label } else { path })
        .replace("{value}", value)
}

/// A version's lines, split once per file (finding positions and snippets
/// are per finding; re-splitting the text each time was quadratic), with
/// their lengths in characters, which positions are clamped to (counting
/// them per finding was quadratic on a long line too).
struct Rows<'t> {
    lines: Vec<&'t str>,
    chars: Vec<usize>,
}

impl<'t> Rows<'t> {
    fn new(text: &'t str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let chars = lines.iter().map(|l| l.chars().count()).collect();
        Self { lines, chars }
    }
}

fn position(rows: &Rows, line: u32, column: u32) -> Position {
    let length = rows
        .chars
        .get((line as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0);
    Position {
        line,
        column: column
            .min(u32::try_from(length + 1).unwrap_or(u32::MAX))
            .max(1),
    }
}

fn snippet(rows: &[&str], span: Span, sensitive: bool, kind: IacKind) -> String {
    let lines = rows
        .iter()
        .copied()
        .skip((span.start.line as usize).saturating_sub(1))
        .take(span.end.line.saturating_sub(span.start.line) as usize + 1);
    if sensitive {
        return mask(lines, kind);
    }
    // Long lines (a minified `.tf.json`) are cut to a window around the
    // finding's column.
    lines
        .take(5)
        .enumerate()
        .map(|(index, line)| {
            let focus = if index == 0 {
                let column = (span.start.column as usize).saturating_sub(1);
                line.char_indices()
                    .nth(column)
                    .map_or(line.len(), |(at, _)| at)
            } else {
                0
            };
            crate::engine::snippet::clip(line, focus)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A credential's snippet: the first line up to where the value starts,
/// then only the length of everything the value spans — a PEM block under
/// `value: |`, the continuation lines of an `ENV` — never any of its text:
/// `ENV TOKEN= …(12 chars)`.
fn mask<'t>(mut lines: impl Iterator<Item = &'t str>, kind: IacKind) -> String {
    let Some(first) = lines.next() else {
        return String::new();
    };
    let cut = value_start(first, kind);
    let hidden = first[cut..].trim().chars().count()
        + lines.map(|l| l.trim().chars().count()).sum::<usize>();
    let shown = first[..cut].trim_end();
    if shown.is_empty() {
        format!("…({hidden} chars)")
    } else {
        format!("{shown} …({hidden} chars)")
    }
}

/// The credential a sensitive finding's lines hold, as [`mask`] hides it:
/// the first line from where the value starts, and every further line, with
/// quotes taken off. The engine masks these values in every other finding of
/// the file too.
fn sensitive_values(rows: &[&str], span: Span, kind: IacKind) -> Vec<String> {
    let mut lines = rows
        .iter()
        .copied()
        .skip((span.start.line as usize).saturating_sub(1))
        .take(span.end.line.saturating_sub(span.start.line) as usize + 1);
    let Some(first) = lines.next() else {
        return Vec::new();
    };
    let unquote = |value: &str| value.trim().trim_matches(['"', '\'']).trim().to_owned();
    std::iter::once(unquote(&first[value_start(first, kind)..]))
        .chain(lines.map(unquote))
        .filter(|value| !value.is_empty())
        .collect()
}

/// The byte offset where a credential's value starts on its first line.
/// Dockerfiles: after `KEYWORD NAME=`, or after `KEYWORD NAME` in the legacy
/// `ENV NAME value` form (which has no `=`). Elsewhere: after the line's
/// first `=` or `:` (`key = "…"`, `value: …`); with neither, nothing is shown.
fn value_start(line: &str, kind: IacKind) -> usize {
    if kind == IacKind::Dockerfile {
        let indent = line.len() - line.trim_start().len();
        let after_keyword = line[indent..]
            .find(char::is_whitespace)
            .map_or(line.len(), |at| indent + at);
        let rest = &line[after_keyword..];
        let name_at = after_keyword + (rest.len() - rest.trim_start().len());
        let name_end = line[name_at..]
            .find(|c: char| c.is_whitespace() || c == '=')
            .map_or(line.len(), |at| name_at + at);
        return if line[name_end..].starts_with('=') {
            name_end + 1
        } else {
            name_end
        };
    }
    line.find(['=', ':']).map_or(0, |at| at + 1)
}

impl IacAnalyzer {
    /// An analyzer over these policies.
    pub fn new(policies: Policies) -> Self {
        Self {
            policies: Arc::new(policies),
        }
    }

    /// The policies it runs.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    fn raw(
        &self,
        policy: &Policy,
        hit: &Hit,
        span: Span,
        text: &Rows,
        message: String,
        path: &str,
    ) -> RawFinding {
        RawFinding {
            finding: Finding {
                rule_id: policy.id.clone(),
                analyzer: AnalyzerKind::Iac,
                severity: policy.severity,
                confidence: policy.confidence,
                cwe: Some(policy.cwe.clone()),
                path: path.to_owned(),
                start: position(text, span.start.line, span.start.column),
                end: position(text, span.end.line, span.end.column),
                message,
                remediation: Some(policy.remediation.clone()),
                fix: None,
                fingerprint: String::new(),
                change: ChangeKind::New,
                suppression: None,
                snippet: snippet(&text.lines, span, policy.sensitive, policy.kind),
            },
            anchor_first_line: false,
            masked: policy.sensitive,
            // A subject's key can hold a credential (a Dockerfile ENV line's
            // key is its arguments): a sensitive finding is identified by
            // where it is and which name it sets, never by the value.
            identity: if policy.sensitive {
                format!(
                    "{}|{}|{}",
                    hit.subject.label,
                    hit.primary().0,
                    hit.primary_value()
                )
            } else {
                format!("{}|{}", hit.subject.key, hit.primary().0)
            },
            // A sensitive policy's value is a credential (a password in a
            // provider block, a token in an ENV line).
            secrets: if policy.sensitive {
                sensitive_values(&text.lines, span, policy.kind)
            } else {
                Vec::new()
            },
        }
    }

    fn message(&self, policy: &Policy, hit: &Hit) -> String {
        // Sensitive policies point their primary evidence at a name, never
        // at the credential; their snippets and regression texts are masked.
        fill(
            &policy.message,
            &hit.subject.label,
            hit.primary().0,
            &hit.primary_value(),
        )
    }

    /// Compares the two versions of one file and reports what the change
    /// did, into `out`. `Some` when the file was only partly compared.
    #[allow(clippy::too_many_arguments)] // each is one distinct input of the comparison
    fn compare(
        &self,
        kind: IacKind,
        path: &str,
        base: Option<(&str, &Model)>,
        head: (&str, &Model),
        lines: &crate::diff::LineSets,
        deadline: &Deadline,
        out: &mut Sink,
    ) -> Option<Incomplete> {
        const NOTHING_KEPT: Option<Incomplete> = Some(Incomplete::OutOfTime { partial: false });
        const SOME_KEPT: Option<Incomplete> = Some(Incomplete::OutOfTime { partial: true });
        let policies: Vec<&Policy> = self.policies.of(kind).collect();
        let (head_text, head_model) = head;
        let Some(head_hits) = evaluate(&policies, head_model, false, deadline) else {
            return NOTHING_KEPT;
        };
        let (base_text, base_hits, base_model) = match base {
            Some((text, model)) => match evaluate(&policies, model, false, deadline) {
                Some(hits) => (text, hits, Some(model)),
                None => return NOTHING_KEPT,
            },
            None => ("", Vec::new(), None),
        };
        let head_rows = Rows::new(head_text);
        let base_rows = Rows::new(base_text);
        let base_subjects: HashMap<&str, &Subject> = base_model
            .map(|m| m.subjects.iter().map(|s| (s.key.as_str(), s)).collect())
            .unwrap_or_default();
        let head_keys: HashSet<&str> = head_model.subjects.iter().map(|s| s.key.as_str()).collect();

        // Too many findings to compare within the worker's time: report the
        // head's as new (the engine keeps those on added lines) and say so.
        let total = head_hits.len().saturating_add(base_hits.len());
        if base_model.is_some() && total > MAX_COMPARED_HITS {
            for hit in &head_hits {
                if deadline.expired() {
                    return SOME_KEPT;
                }
                let policy = policies[hit.policy];
                if policy.report == Report::Any {
                    let message = self.message(policy, hit);
                    out.push(ComparedFinding {
                        raw: self.raw(policy, hit, hit.span(), &head_rows, message, path),
                        change: ChangeKind::New,
                        base_lines: None,
                    });
                }
            }
            return Some(Incomplete::TooManyHits(format!(
                "{total} findings on the two versions, over the {MAX_COMPARED_HITS} compared per file: findings on added lines are reported as new, without comparison"
            )));
        }

        // Each head hit's primary path in base terms (lists aligned once per
        // list), and each hit's value, computed once.
        let mut translators: HashMap<&str, Translator> = HashMap::new();
        let mut head_base_paths: Vec<Translated> = Vec::with_capacity(head_hits.len());
        for h in &head_hits {
            // Aligning a long list is the costliest step of one hit.
            if deadline.expired() {
                return NOTHING_KEPT;
            }
            let key = h.subject.key.as_str();
            head_base_paths.push(match base_subjects.get(key) {
                Some(base_subject) => translators
                    .entry(key)
                    .or_insert_with(|| Translator::new(&h.subject.node, &base_subject.node))
                    .translate(h.primary().0),
                None => Translated::Path(h.primary().0.to_owned()),
            });
        }
        let head_values: Vec<String> = head_hits.iter().map(Hit::primary_value).collect();
        let base_values: Vec<String> = base_hits.iter().map(Hit::primary_value).collect();

        // Match head hits with base hits: same place and value, then the same
        // value moved inside the subject, then the same place with another
        // (still bad) value, then a subject renamed with its content. Each
        // pass indexes the base hits left, so matching is linear.
        let mut base_taken = vec![false; base_hits.len()];
        let mut head_taken = vec![false; head_hits.len()];
        for pass in 0..4 {
            if deadline.expired_now() {
                return NOTHING_KEPT;
            }
            type Key<'k> = (usize, &'k str, &'k str, &'k str);
            let base_key = |bi: usize| -> Key<'_> {
                let b = &base_hits[bi];
                match pass {
                    0 => (b.policy, &b.subject.key, b.primary().0, &base_values[bi]),
                    1 => (b.policy, &b.subject.key, "", &base_values[bi]),
                    2 => (b.policy, &b.subject.key, b.primary().0, ""),
                    _ => (b.policy, &b.subject.kind, b.primary().0, &base_values[bi]),
                }
            };
            let mut index: HashMap<Key, std::collections::VecDeque<usize>> = HashMap::new();
            for bi in 0..base_hits.len() {
                if base_taken[bi]
                    || (pass == 3 && head_keys.contains(base_hits[bi].subject.key.as_str()))
                {
                    continue;
                }
                index.entry(base_key(bi)).or_default().push_back(bi);
            }
            for (hi, h) in head_hits.iter().enumerate() {
                if head_taken[hi] {
                    continue;
                }
                let base_path = match &head_base_paths[hi] {
                    Translated::Path(p) => p.as_str(),
                    // An inserted item is nowhere in the base.
                    Translated::Inserted if pass != 1 => continue,
                    Translated::Inserted => "",
                };
                let key: Key = match pass {
                    0 => (h.policy, &h.subject.key, base_path, &head_values[hi]),
                    1 => (h.policy, &h.subject.key, "", &head_values[hi]),
                    2 => (h.policy, &h.subject.key, base_path, ""),
                    _ => {
                        if base_subjects.contains_key(h.subject.key.as_str()) {
                            continue;
                        }
                        (h.policy, &h.subject.kind, h.primary().0, &head_values[hi])
                    }
                };
                if let Some(bi) = index
                    .get_mut(&key)
                    .and_then(std::collections::VecDeque::pop_front)
                {
                    base_taken[bi] = true;
                    head_taken[hi] = true;
                }
            }
        }

        for (hi, (hit, _)) in head_hits
            .iter()
            .zip(&head_taken)
            .enumerate()
            .filter(|(_, (_, taken))| !**taken)
        {
            if deadline.expired() {
                return SOME_KEPT;
            }
            let policy = policies[hit.policy];
            let Some(base_subject) = base_subjects.get(hit.subject.key.as_str()) else {
                if policy.report == Report::Any {
                    let message = self.message(policy, hit);
                    out.push(ComparedFinding {
                        raw: self.raw(policy, hit, hit.span(), &head_rows, message, path),
                        change: ChangeKind::New,
                        base_lines: None,
                    });
                }
                continue;
            };
            let translator = translators
                .entry(hit.subject.key.as_str())
                .or_insert_with(|| Translator::new(&hit.subject.node, &base_subject.node));
            let (change, span, base_span) = classify(hit, base_subject, translator);
            let change = match change {
                Some(change) => change,
                None if policy.report == Report::Any => {
                    let span = hit.span();
                    if lines.intersects_added(span.start.line, span.end.line) {
                        let message = self.message(policy, hit);
                        out.push(ComparedFinding {
                            raw: self.raw(policy, hit, span, &head_rows, message, path),
                            change: ChangeKind::New,
                            base_lines: None,
                        });
                        continue;
                    }
                    // It newly applies to a subject the base had, but its
                    // own lines are unchanged: something else the change did
                    // made it apply (a `pull_request_target` trigger added
                    // above an existing checkout of the head; a job's
                    // `permissions` deleted). Report it as a regression, on
                    // the added evidence when there is one, else near the
                    // lines the change deleted in the subject.
                    let added = hit.evidence.iter().rev().find_map(|(p, node)| {
                        node.filter(|n| lines.intersects_added(n.span.start.line, n.span.end.line))
                            .map(|n| (p.as_str(), n))
                    });
                    let (change, span, base_lines) = match added {
                        Some((evidence, node)) => (
                            Change::Added {
                                path: evidence.to_owned(),
                                value: node.display(),
                            },
                            node.span,
                            None,
                        ),
                        None => (
                            Change::Added {
                                path: hit.primary().0.to_owned(),
                                value: head_values[hi].clone(),
                            },
                            span,
                            Some(base_subject.node.span),
                        ),
                    };
                    let message = format!(
                        "{}: {}",
                        self.message(policy, hit),
                        change.describe(&hit.subject.label, policy.sensitive)
                    );
                    out.push(ComparedFinding {
                        raw: self.raw(policy, hit, span, &head_rows, message, path),
                        change: ChangeKind::Regression,
                        base_lines: base_lines.map(|s| (s.start.line, s.end.line)),
                    });
                    continue;
                }
                None => continue,
            };
            let message = format!(
                "{}: {}",
                self.message(policy, hit),
                change.describe(&hit.subject.label, policy.sensitive)
            );
            out.push(ComparedFinding {
                raw: self.raw(policy, hit, span, &head_rows, message, path),
                change: ChangeKind::Regression,
                base_lines: base_span.map(|s| (s.start.line, s.end.line)),
            });
        }

        for (hit, _) in base_hits
            .iter()
            .zip(&base_taken)
            .filter(|(_, taken)| !**taken)
        {
            if deadline.expired() {
                return SOME_KEPT;
            }
            let policy = policies[hit.policy];
            let message = self.message(policy, hit);
            out.push(ComparedFinding {
                raw: self.raw(policy, hit, hit.span(), &base_rows, message, path),
                change: ChangeKind::Fixed,
                base_lines: None,
            });
        }

        // Protective subjects the change deleted.
        if let Some(base_model) = base_model {
            let (Some(removed_hits), Some(head_removed_hits)) = (
                evaluate(&policies, base_model, true, deadline),
                evaluate(&policies, head_model, true, deadline),
            ) else {
                return SOME_KEPT;
            };
            let mut reported = HashSet::new();
            for hit in removed_hits {
                if deadline.expired() {
                    return SOME_KEPT;
                }
                if head_keys.contains(hit.subject.key.as_str())
                    || !reported.insert((hit.policy, hit.subject.key.clone()))
                {
                    continue;
                }
                // Renamed rather than deleted: a new subject of the same kind satisfies the policy.
                let renamed = head_removed_hits.iter().any(|h| {
                    h.policy == hit.policy
                        && h.subject.kind == hit.subject.kind
                        && !base_subjects.contains_key(h.subject.key.as_str())
                });
                if renamed {
                    continue;
                }
                let policy = policies[hit.policy];
                let span = hit.subject.node.span;
                let message = format!(
                    "{}: {}",
                    self.message(policy, &hit),
                    Change::Deleted.describe(&hit.subject.label, false)
                );
                // Positioned on the base lines; the engine moves it onto the
                // nearest changed line of the head when the file still exists.
                let mut raw = self.raw(policy, &hit, span.first_line(), &base_rows, message, path);
                raw.identity = format!("{}|deleted", hit.subject.key);
                out.push(ComparedFinding {
                    raw,
                    change: ChangeKind::Regression,
                    base_lines: Some((span.start.line, span.end.line)),
                });
            }
        }
        None
    }
}

/// For a head hit on a subject the base had: what changed, where to point,
/// and the base lines of the old value. `None`: the hit is on a list item
/// the base did not have (a new item: a new finding, not a regression).
fn classify(
    hit: &Hit,
    base: &Subject,
    translator: &mut Translator,
) -> (Option<Change>, Span, Option<Span>) {
    if translator.translate(hit.primary().0) == Translated::Inserted {
        return (None, hit.span(), None);
    }
    for (path, head_node) in hit.evidence.iter().rev() {
        let base_path = match translator.translate(path) {
            Translated::Path(base_path) => base_path,
            // Evidence in an item the head inserted: new, not worse.
            Translated::Inserted => return (None, hit.span(), None),
        };
        let base_node = if path.is_empty() {
            Some(&base.node)
        } else {
            lookup(&base.node, &base_path)
        };
        match (head_node, base_node) {
            (Some(h), Some(b)) if h.display() == b.display() => continue,
            (Some(h), Some(b)) => {
                let change = Change::Changed {
                    path: path.clone(),
                    from: b.display(),
                    to: h.display(),
                };
                return (Some(change), h.span, Some(b.span));
            }
            (None, Some(b)) => {
                let span = deepest(&hit.subject.node, path).span.first_line();
                let change = Change::Removed {
                    path: path.clone(),
                    was: b.display(),
                };
                return (Some(change), span, Some(b.span));
            }
            (Some(h), None) => {
                if model::missing_part_has_item(&base.node, &base_path) {
                    // A new list item (a new volume, a new ingress block): new, not worse.
                    return (None, h.span, None);
                }
                let change = Change::Set {
                    path: path.clone(),
                    to: h.display(),
                };
                return (
                    Some(change),
                    h.span,
                    Some(deepest(&base.node, &base_path).span.first_line()),
                );
            }
            (None, None) => continue,
        }
    }
    (Some(Change::Other), hit.span(), None)
}

impl Analyzer for IacAnalyzer {
    fn kind(&self) -> AnalyzerKind {
        AnalyzerKind::Iac
    }

    fn handles(&self, path: &str) -> bool {
        detect(path).is_some()
    }

    fn needs_base(&self, path: &str) -> bool {
        detect(path).is_some()
    }

    fn analyze(&self, file: &ChangedFile, head: &str, out: &mut FileOutcome) {
        let path = &file.diff.path;
        let Some(kind) = detect(path) else {
            return;
        };
        let skip = |reason: String, partial: bool| Skipped {
            path: path.clone(),
            analyzer: Some(AnalyzerKind::Iac),
            reason,
            partial,
        };
        let deadline = &out.deadline;
        let out_of_time = |partial| deadline.skipped(path, AnalyzerKind::Iac, partial);
        let removed = file.diff.status == FileStatus::Removed;
        let head_parsed = if removed {
            Parsed::Model(Model::default())
        } else {
            parse(kind, path, head, deadline)
        };
        let head_model = match head_parsed {
            Parsed::Model(model) => model,
            Parsed::NotIac => return,
            Parsed::Unreadable(reason) => return out.skipped.push(skip(reason, false)),
            Parsed::OutOfTime => return out.skipped.push(out_of_time(false)),
        };
        let base_path = file.diff.old_path.as_deref().unwrap_or(path);
        let base_text = match &file.base {
            Content::Text(text) => Some(text.as_str()),
            Content::Absent => None,
            Content::Binary => {
                out.skipped.push(skip(
                    "the base version is binary: findings are reported as new, without comparison"
                        .into(),
                    true,
                ));
                None
            }
            Content::TooLarge(bytes) => {
                out.skipped.push(skip(format!("the base version is {bytes} bytes, over the limit: findings are reported as new, without comparison"), true));
                None
            }
            Content::Unreadable(reason) => {
                if !removed {
                    out.skipped.push(skip(format!("the base version was not read ({reason}): findings are reported as new, without comparison"), true));
                }
                None
            }
        };
        let base_model = match base_text.map(|text| parse(kind, base_path, text, deadline)) {
            Some(Parsed::Model(model)) => Some(model),
            Some(Parsed::NotIac) | None => None,
            Some(Parsed::OutOfTime) => return out.skipped.push(out_of_time(false)),
            Some(Parsed::Unreadable(reason)) => {
                let what = if removed {
                    ""
                } else {
                    ": findings are reported as new, without comparison"
                };
                out.skipped.push(skip(
                    format!("the base version cannot be read ({reason}){what}"),
                    !removed,
                ));
                None
            }
        };
        if removed && base_model.is_none() {
            return;
        }
        let mut sink = Sink {
            lines: &file.diff.lines,
            // A removed file has no head to hold a marker.
            suppressor: (!removed)
                .then(|| Suppressor::new(&self.policies, kind, head, &head_model)),
            found: Vec::new(),
        };
        let base = base_text.zip(base_model.as_ref());
        let incomplete = self.compare(
            kind,
            path,
            base,
            (head, &head_model),
            &file.diff.lines,
            deadline,
            &mut sink,
        );
        let found = sink.found;
        match incomplete {
            None => {}
            Some(Incomplete::TooManyHits(reason)) => out.skipped.push(skip(reason, true)),
            Some(Incomplete::OutOfTime { partial }) => out.skipped.push(out_of_time(partial)),
        }
        out.compared.extend(found);
    }
}

impl From<&Policy> for crate::report::RuleDoc {
    fn from(policy: &Policy) -> Self {
        crate::report::RuleDoc {
            id: policy.id.clone(),
            summary: policy
                .message
                .replace("{label}", "the resource")
                .replace("{path}", "the setting")
                .replace("{value}", "the value"),
            help: Some(policy.remediation.clone()),
            severity: policy.severity,
            confidence: policy.confidence,
            cwe: Some(policy.cwe.clone()),
            references: policy.references.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(head: &str, deadline: Deadline) -> FileOutcome {
        let analyzer = IacAnalyzer::new(Policies::load(None).expect("embedded IaC rules load"));
        let file = crate::local::changed_file("db.tf", Content::Absent, Content::Text(head.into()))
            .expect("diffable");
        let mut out = FileOutcome {
            deadline,
            ..FileOutcome::default()
        };
        analyzer.analyze(&file, head, &mut out);
        out
    }

    /// 40 public databases: one finding each.
    fn forty_public_databases() -> String {
        (0..40)
            .map(|i| {
                format!(
                    "resource \"aws_db_instance\" \"db{i}\" {{\n  publicly_accessible = true\n}}\n"
                )
            })
            .collect()
    }

    fn public_databases(out: &FileOutcome) -> usize {
        out.compared
            .iter()
            .filter(|f| f.raw.finding.rule_id == "terraform.aws-rds-publicly-accessible")
            .count()
    }

    #[test]
    fn a_deadline_passing_while_findings_are_classified_keeps_those_classified() {
        let head = forty_public_databases();
        assert_eq!(public_databases(&analyze(&head, Deadline::none())), 40);
        // The model is built (40 questions), evaluated (40), each of the 80
        // hits (public and unencrypted) translated (80), the hits matched
        // (4 passes); then half the hits are classified.
        let stopped = analyze(&head, Deadline::after_questions(40 + 40 + 80 + 4 + 40));
        let found = public_databases(&stopped);
        assert!(found > 0 && found < 40, "{found} findings");
        assert_eq!(stopped.skipped.len(), 1, "{:?}", stopped.skipped);
        assert_eq!(
            (stopped.skipped[0].analyzer, stopped.skipped[0].partial),
            (Some(AnalyzerKind::Iac), true)
        );
        assert!(stopped.skipped[0].reason.contains("deadline"));
    }

    #[test]
    fn a_deadline_passing_before_the_comparison_reports_nothing() {
        let head = forty_public_databases();
        for questions in [0, 20, 60] {
            let stopped = analyze(&head, Deadline::after_questions(questions));
            assert!(stopped.compared.is_empty(), "after {questions} questions");
            assert_eq!(stopped.skipped.len(), 1, "{:?}", stopped.skipped);
            assert!(!stopped.skipped[0].partial);
            assert!(stopped.skipped[0].reason.contains("deadline"));
        }
    }

    #[test]
    fn credential_snippets_show_the_name_and_only_the_length_of_the_value() {
        let cases: [(&str, IacKind, &str); 6] = [
            (
                "ENV API_TOKEN=tok_9f8e7d",
                IacKind::Dockerfile,
                "ENV API_TOKEN= …(10 chars)",
            ),
            (
                "ENV API_TOKEN ghp:abc def",
                IacKind::Dockerfile,
                "ENV API_TOKEN …(11 chars)",
            ),
            (
                "ENV TOKEN \\\n    sk_live_1234",
                IacKind::Dockerfile,
                "ENV TOKEN …(13 chars)",
            ),
            (
                "  access_key = \"AKIA1234\"",
                IacKind::Terraform,
                "  access_key = …(10 chars)",
            ),
            (
                "value: |\n  -----BEGIN KEY-----\n  MIIE\n",
                IacKind::Kubernetes,
                "value: …(24 chars)",
            ),
            ("  - s3cr3t", IacKind::Kubernetes, "…(8 chars)"),
        ];
        for (text, kind, expected) in cases {
            let lines = u32::try_from(text.lines().count()).unwrap_or(1);
            let span = Span::new(1, 1, lines, 1);
            let rows: Vec<&str> = text.lines().collect();
            assert_eq!(snippet(&rows, span, true, kind), expected, "{text}");
        }
    }
}
