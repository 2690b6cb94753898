//! IaC policies are data (`rules/terraform/`, `rules/kubernetes/`,
//! `rules/dockerfile/`, `rules/github-actions/`): which subjects a policy
//! is about, and a condition over their tree.
//!
//! The condition language is deliberately small — paths, a handful of
//! tests, `all`/`any`/`not`, and `each` to tie several tests to one list
//! item (the same ingress block, the same IAM statement) — so that a new
//! policy never needs Rust code as long as it is "this value, here". A path
//! walks lists by itself: `ingress.cidr_blocks` reaches every CIDR of every
//! ingress block. Values the file only knows at run time (`var.cidr`,
//! `${{ inputs.x }}`, `$VAR`) never equal a literal, so they cannot be
//! misread as a problem.
//!
//! Every match carries its evidence: the concrete path and node of each
//! test that held. The last one is the primary evidence (where the finding
//! points); all of them are what the base/head comparison looks at to say
//! what changed.

mod condition;

pub use self::condition::{Condition, ConditionSpec, Evidence, Lit, Match, TestBox};
use super::model::Subject;
use crate::engine::{Confidence, Severity};
use crate::rules::{self, RuleSource};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// The IaC formats, one rule folder each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IacKind {
    /// `*.tf`, `*.tf.json`.
    Terraform,
    /// YAML manifests with `apiVersion` and `kind`.
    Kubernetes,
    /// `Dockerfile`, `*.dockerfile`, `Containerfile`.
    Dockerfile,
    /// `.github/workflows/*.yml`.
    GithubActions,
}

impl IacKind {
    /// The rule folder, which is also the rule id prefix.
    pub fn folder(self) -> &'static str {
        match self {
            IacKind::Terraform => "terraform",
            IacKind::Kubernetes => "kubernetes",
            IacKind::Dockerfile => "dockerfile",
            IacKind::GithubActions => "github-actions",
        }
    }

    fn from_folder(folder: &str) -> Option<Self> {
        match folder {
            "terraform" => Some(IacKind::Terraform),
            "kubernetes" => Some(IacKind::Kubernetes),
            "dockerfile" => Some(IacKind::Dockerfile),
            "github-actions" => Some(IacKind::GithubActions),
            _ => None,
        }
    }

    /// The subject targets this format produces.
    pub fn targets(self) -> &'static [&'static str] {
        match self {
            IacKind::Terraform => &["resource", "data", "provider", "module"],
            IacKind::Kubernetes => &["manifest", "pod", "container"],
            IacKind::Dockerfile => &["stage", "instruction"],
            IacKind::GithubActions => &["workflow", "job", "step"],
        }
    }
}

/// Which changes a policy reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Report {
    /// New findings and regressions (the default).
    #[default]
    Any,
    /// Only when an existing subject is made worse: for conditions that are
    /// too common to flag on new code (a missing optional block) but that
    /// are a clear regression when the change deletes them.
    Regression,
}

/// Other tools' ids for the same check, so their suppression comments
/// silence exactly this policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aliases {
    /// Checkov ids (`CKV_AWS_20`).
    #[serde(default)]
    pub checkov: Vec<String>,
    /// tfsec ids (`aws-s3-block-public-acls`).
    #[serde(default)]
    pub tfsec: Vec<String>,
    /// Trivy ids (`AVD-AWS-0086`); tfsec's long ids are accepted too.
    #[serde(default)]
    pub trivy: Vec<String>,
    /// KICS query ids.
    #[serde(default)]
    pub kics: Vec<String>,
    /// zizmor audit names (`template-injection`).
    #[serde(default)]
    pub zizmor: Vec<String>,
}

/// One example: a file (its head), or a base/head pair for a change.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Example {
    /// The file as added by the change.
    File(String),
    /// A change from `base` to `head`.
    Change {
        /// Before.
        base: String,
        /// After.
        head: String,
    },
}

/// What a policy's examples must show.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    /// Must be reported by this policy (a file: as new; a change: as new or regression).
    #[serde(default)]
    pub positive: Vec<Example>,
    /// Must not be reported by this policy.
    #[serde(default)]
    pub negative: Vec<Example>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    id: String,
    severity: Severity,
    #[serde(default = "default_confidence")]
    confidence: Confidence,
    cwe: String,
    message: String,
    remediation: String,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    aliases: Aliases,
    target: OneOrMany,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    report: Report,
    #[serde(default)]
    removed: bool,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    opt_in: bool,
    #[serde(default)]
    supersedes: Vec<String>,
    when: ConditionSpec,
    #[serde(default)]
    examples: Examples,
}

fn default_confidence() -> Confidence {
    Confidence::High
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A compiled IaC policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Rule id, `<folder>.<slug>`.
    pub id: String,
    /// Which format.
    pub kind: IacKind,
    /// Severity of its findings.
    pub severity: Severity,
    /// How sure a match is a real problem.
    pub confidence: Confidence,
    /// `CWE-<n>`.
    pub cwe: String,
    /// Message template: `{label}`, `{path}`, `{value}` are filled in.
    pub message: String,
    /// What to do instead (Markdown).
    pub remediation: String,
    /// Links for the reader.
    pub references: Vec<String>,
    /// Other tools' ids for this check.
    pub aliases: Aliases,
    /// Subject targets it looks at.
    pub targets: Vec<String>,
    /// Subject types (resource types, kinds, keywords); empty: all.
    pub types: Vec<String>,
    /// Which changes it reports.
    pub report: Report,
    /// Fires when a subject that satisfied `when` in the base is deleted.
    pub removed: bool,
    /// Matched values are credentials: messages never show them and
    /// snippets are masked.
    pub sensitive: bool,
    /// Off unless a repository enables it (`rules: enable: [id]` in
    /// `.github/hunkscan.yml`): for checks that fire on most ordinary files
    /// and are worth it only to teams that asked for them.
    pub opt_in: bool,
    /// Policies of the same format whose finding on the same subject and
    /// list item this one's finding replaces: the same problem seen more
    /// narrowly (`*` verbs on Secrets are a wildcard grant) or more weakly
    /// (an unset default that the change removed).
    pub supersedes: Vec<String>,
    /// The condition.
    pub when: Condition,
    /// Its examples.
    pub examples: Examples,
    /// Where it was read from.
    pub origin: String,
}

impl Policy {
    /// Whether the policy looks at this subject.
    pub fn applies_to(&self, subject: &Subject) -> bool {
        self.targets.iter().any(|t| t == subject.target)
            && (self.types.is_empty() || self.types.contains(&subject.kind))
    }
}

/// A policy file that cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The rule folder cannot be read.
    #[error(transparent)]
    Source(#[from] rules::RuleSourceError),
    /// The YAML does not fit the format, or a condition is malformed.
    #[error("{origin}: {message}")]
    Format {
        /// The file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Two files of the same origin define one id.
    #[error("rule id `{id}` is defined twice: {first} and {second}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The first file.
        first: String,
        /// The second file.
        second: String,
    },
}

fn compile(source: &RuleSource) -> Result<Policy, PolicyError> {
    let format = |message: String| PolicyError::Format {
        origin: source.origin.clone(),
        message,
    };
    let file: PolicyFile =
        ast_grep_config::from_str(&source.text).map_err(|e| format(e.to_string()))?;
    let kind = IacKind::from_folder(&source.folder)
        .ok_or_else(|| format(format!("`{}` is not an IaC rule folder", source.folder)))?;
    let prefix = format!("{}.", kind.folder());
    if !file.id.starts_with(&prefix) {
        return Err(format(format!(
            "rule id `{}` must start with `{prefix}`",
            file.id
        )));
    }
    let targets = match file.target {
        OneOrMany::One(t) => vec![t],
        OneOrMany::Many(t) => t,
    };
    for target in &targets {
        if !kind.targets().contains(&target.as_str()) {
            return Err(format(format!(
                "rule `{}`: target `{target}` is not one of {:?}",
                file.id,
                kind.targets()
            )));
        }
    }
    let when = file
        .when
        .compile()
        .map_err(|e| format(format!("rule `{}`: when: {e}", file.id)))?;
    Ok(Policy {
        id: file.id,
        kind,
        severity: file.severity,
        confidence: file.confidence,
        cwe: file.cwe,
        message: file.message,
        remediation: file.remediation,
        references: file.references,
        aliases: file.aliases,
        targets,
        types: file.types,
        report: file.report,
        removed: file.removed,
        sensitive: file.sensitive,
        opt_in: file.opt_in,
        supersedes: file.supersedes,
        when,
        examples: file.examples,
        origin: source.origin.clone(),
    })
}

/// The compiled IaC policies.
#[derive(Debug, Default)]
pub struct Policies {
    policies: Vec<Policy>,
}

impl Policies {
    /// The embedded policies, with `overrides` (a folder laid out like
    /// `rules/`) adding policies or replacing embedded ones of the same id.
    pub fn load(overrides: Option<&Path>) -> Result<Self, PolicyError> {
        let mut sources = rules::embedded(&rules::IAC_FOLDERS);
        let embedded = sources.len();
        if let Some(dir) = overrides {
            sources.extend(rules::from_dir(dir, &rules::IAC_FOLDERS)?);
        }
        // id ─▶ (index in `policies`, index of its source)
        let mut by_id: HashMap<String, (usize, usize)> = HashMap::new();
        let mut policies: Vec<Policy> = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let policy = compile(source)?;
            if index >= embedded {
                // A user's policy is built whole now, so that a regex too
                // big to build is refused at start-up, naming its file.
                policy
                    .when
                    .build_regexes()
                    .map_err(|message| PolicyError::Format {
                        origin: source.origin.clone(),
                        message: format!("rule `{}`: when: {message}", policy.id),
                    })?;
            }
            match by_id.get(&policy.id).copied() {
                Some((at, earlier)) => {
                    // Same origin twice is a mistake; a run-time file replacing an embedded one is the point.
                    if (index < embedded) == (earlier < embedded) {
                        return Err(PolicyError::DuplicateId {
                            id: policy.id.clone(),
                            first: policies[at].origin.clone(),
                            second: policy.origin,
                        });
                    }
                    by_id.insert(policy.id.clone(), (at, index));
                    policies[at] = policy;
                }
                None => {
                    by_id.insert(policy.id.clone(), (policies.len(), index));
                    policies.push(policy);
                }
            }
        }
        policies.sort_by(|a, b| a.id.cmp(&b.id));
        for policy in &policies {
            for id in &policy.supersedes {
                let known = policies
                    .iter()
                    .any(|p| &p.id == id && p.kind == policy.kind);
                if !known || id == &policy.id {
                    return Err(PolicyError::Format {
                        origin: policy.origin.clone(),
                        message: format!(
                            "rule `{}`: supersedes `{id}`, which is no other {} policy",
                            policy.id,
                            policy.kind.folder()
                        ),
                    });
                }
            }
        }
        Ok(Self { policies })
    }

    /// The same set without its opt-in policies: what a repository gets
    /// when its configuration enables none of them.
    pub fn without_opt_in(mut self) -> Self {
        self.policies.retain(|p| !p.opt_in);
        self
    }

    /// Every policy, sorted by id.
    pub fn all(&self) -> &[Policy] {
        &self.policies
    }

    /// The policies of one format.
    pub fn of(&self, kind: IacKind) -> impl Iterator<Item = &Policy> {
        self.policies.iter().filter(move |p| p.kind == kind)
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The ids a tool's published package defines (see
    /// `fixtures/iac/catalogues/extract.sh`), without comment lines.
    fn catalogue(text: &str) -> HashSet<&str> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }

    /// Embedded policies build their regexes on first use; every one of
    /// them must build.
    #[test]
    fn every_embedded_policy_builds_its_regexes() {
        let policies = Policies::load(None).expect("embedded IaC rules load");
        let broken: Vec<String> = policies
            .all()
            .iter()
            .filter_map(|p| {
                p.when
                    .build_regexes()
                    .err()
                    .map(|e| format!("{}: {e}", p.id))
            })
            .collect();
        assert!(policies.len() > 100, "{}", policies.len());
        assert!(broken.is_empty(), "{broken:#?}");
    }

    #[test]
    fn a_users_policy_whose_regex_cannot_be_built_is_refused_at_load() {
        let dir = crate::rules::folder_with_rule(
            "terraform",
            "huge.yml",
            "id: terraform.huge-regex\nseverity: low\ncwe: CWE-1\nmessage: m\nremediation: r\ntarget: resource\nwhen: {path: name, matches: '\\w{1000}\\w{1000}\\w{1000}'}\n",
        );
        let error = Policies::load(Some(dir.path())).expect_err("refused");
        let text = error.to_string();
        assert!(
            text.contains("huge.yml") && text.contains("terraform.huge-regex"),
            "{text}"
        );
        assert!(text.contains("size limit"), "{text}");
    }

    /// A user's `checkov:skip=CKV_AWS_20` or `zizmor: ignore[...]` only
    /// silences a policy whose alias is that tool's real id.
    #[test]
    fn aliases_name_real_checks() {
        let checkov = catalogue(include_str!(
            "../../../../fixtures/iac/catalogues/checkov-ids.txt"
        ));
        let zizmor = catalogue(include_str!(
            "../../../../fixtures/iac/catalogues/zizmor-audits.txt"
        ));
        assert!(checkov.len() > 1_000 && zizmor.len() > 30);
        let policies = Policies::load(None).expect("embedded IaC rules load");
        let mut wrong = Vec::new();
        for policy in policies.all() {
            for id in &policy.aliases.checkov {
                if !checkov.contains(id.as_str()) {
                    wrong.push(format!("{}: checkov {id}", policy.id));
                }
            }
            for id in &policy.aliases.zizmor {
                if !zizmor.contains(id.as_str()) {
                    wrong.push(format!("{}: zizmor {id}", policy.id));
                }
            }
            // Trivy's ids have one shape; the catalogue itself is not on PyPI.
            for id in &policy.aliases.trivy {
                let shaped = id
                    .strip_prefix("AVD-")
                    .and_then(|rest| rest.split_once('-'));
                let ok = shaped.is_some_and(|(provider, number)| {
                    !provider.is_empty()
                        && provider.bytes().all(|b| b.is_ascii_uppercase())
                        && number.len() == 4
                        && number.bytes().all(|b| b.is_ascii_digit())
                });
                if !ok {
                    wrong.push(format!("{}: trivy {id}", policy.id));
                }
            }
        }
        assert!(wrong.is_empty(), "aliases naming no real check: {wrong:#?}");
    }

    #[test]
    fn a_made_up_alias_is_caught() {
        let checkov = catalogue(include_str!(
            "../../../../fixtures/iac/catalogues/checkov-ids.txt"
        ));
        assert!(checkov.contains("CKV_AWS_20"));
        assert!(!checkov.contains("CKV_AWS_99999"));
    }
}
