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
mod compare;
pub mod dockerfile;
mod hits;
pub mod kubernetes;
pub mod model;
pub mod moved;
pub mod policy;
mod sink;
mod snippet;
mod split_across;
mod supersede;
pub mod suppress;
pub mod terraform;
pub mod yaml;

pub use self::compare::MAX_COMPARED_HITS;
use self::compare::{Incomplete, fill};
use self::hits::Hit;
use self::model::{Model, ReadError, Span};
use self::policy::{IacKind, Policies, Policy};
use self::sink::{Sink, Suppressor};
use self::snippet::{Rows, position, sensitive_values, snippet};
use super::{
    Analyzer, AnalyzerKind, ChangeKind, ChangedFile, Content, Deadline, FileOutcome, Finding,
    RawFinding, Skipped,
};
use crate::diff::FileStatus;
use std::sync::{Arc, OnceLock};

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

/// The IaC analyzer.
#[derive(Clone)]
pub struct IacAnalyzer {
    /// Empty until first needed when the analyzer runs the embedded
    /// policies ([`IacAnalyzer::embedded`]).
    policies: Arc<OnceLock<Policies>>,
}

impl IacAnalyzer {
    /// An analyzer over these policies.
    pub fn new(policies: Policies) -> Self {
        Self {
            policies: Arc::new(OnceLock::from(policies)),
        }
    }

    /// An analyzer over the embedded policies, read and compiled the first
    /// time a change holds an IaC file (or [`Self::policies`] is asked):
    /// reading the 400 policies was a third of `hunkscan scan`'s start-up,
    /// paid by every change, most of which hold no IaC file.
    pub fn embedded() -> Self {
        Self {
            policies: Arc::new(OnceLock::new()),
        }
    }

    /// Whether its policies have been read (an analyzer over the embedded
    /// policies reads them for the first IaC file).
    pub fn policies_read(&self) -> bool {
        self.policies.get().is_some()
    }

    /// The policies it runs.
    pub fn policies(&self) -> &Policies {
        self.policies.get_or_init(|| {
            // The embedded policies are part of the binary, and the tests
            // load every one of them: a failure here is a build defect.
            Policies::load(None).expect("embedded IaC policies load")
        })
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
                flow: Vec::new(),
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

    fn across_files(&self, files: &mut [(&ChangedFile, &mut FileOutcome)]) {
        // Only IaC files hold subjects: other changes leave the policies unread.
        if files.iter().any(|(_, out)| out.iac_subjects.is_some()) {
            split_across::fold(self.policies(), files);
        }
        moved::reconcile(files);
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
            Content::Binary | Content::Sealed(_) => {
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
        // Whether the base's subjects are known (none, when it is absent or
        // holds no manifest): what the change-set step may trust.
        let mut base_known = matches!(file.base, Content::Absent);
        let base_model = match base_text.map(|text| parse(kind, base_path, text, deadline)) {
            Some(Parsed::Model(model)) => Some(model),
            Some(Parsed::NotIac) => {
                base_known = true;
                None
            }
            None => None,
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
        if let Some(reason) = &head_model.partial {
            out.skipped.push(skip(reason.clone(), true));
        }
        let empty = Model::default();
        let known_base = base_model.as_ref().or(base_known.then_some(&empty));
        out.iac_subjects = moved::FileSubjects::new(
            self.policies(),
            kind,
            path,
            known_base,
            &head_model,
            deadline,
        );
        let mut sink = Sink {
            lines: &file.diff.lines,
            // A removed file has no head to hold a marker.
            suppressor: (!removed)
                .then(|| Suppressor::new(self.policies(), kind, head, &head_model)),
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
        let mut found = sink.found;
        supersede::drop_superseded(self.policies(), &mut found);
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
        // The model is built (40 questions), read for the change-set step
        // (40), evaluated (40), each of the 80 hits (public and
        // unencrypted) translated (80), the hits matched (4 passes); then
        // half the hits are classified.
        let stopped = analyze(&head, Deadline::after_questions(40 + 40 + 40 + 80 + 4 + 40));
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
}
