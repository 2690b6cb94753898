//! The one pipeline both front ends call: it assembles the analyzers with
//! their rules and applies a repository's `.github/hunkscan.yml` to a change
//! set. `hunkscan scan`, `hunkscan serve`'s worker, the tests and the
//! benchmarks all go through [`Pipeline`], so a developer's local run and
//! the required check judge a change the same way: same analyzers in the
//! same order, same keys, same ignored paths, disabled rules, severity
//! overrides and fail threshold.

use crate::advisories::{Index, SharedIndex};
use crate::config::repo::{ConfigProblem, FailOn, RepoConfig};
use crate::engine::deps::DepsAnalyzer;
use crate::engine::deps::license::{self, LicenseAnalyzer, Licenses, PackageId};
use crate::engine::iac::IacAnalyzer;
use crate::engine::iac::policy::Policies;
use crate::engine::sast::{DEFAULT_PARSE_TIMEOUT, SastAnalyzer, SastRules};
use crate::engine::secrets::{
    DEFAULT_FINGERPRINT_KEY, GitleaksAliases, SecretRules, SecretsAnalyzer, SecretsOptions,
};
use crate::engine::{AnalyzerKind, ChangeSet, DEFAULT_FILE_DEADLINE, Engine, ScanReport, Severity};
use crate::report::RuleDoc;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use thiserror::Error;

/// Where `.github/hunkscan.yml` lives in a repository.
pub const CONFIG_PATH: &str = ".github/hunkscan.yml";

/// How to assemble the analyzers.
#[derive(Debug, Clone)]
pub struct Options {
    /// A folder laid out like `rules/` whose rules add to or replace the embedded ones.
    pub rules_dir: Option<PathBuf>,
    /// Longest time one file may take to parse.
    pub parse_timeout: Duration,
    /// Lock files and minified assets skipped by the secrets analyzer.
    pub secrets: SecretsOptions,
    /// The key of every fingerprint and of secrets' identities.
    pub fingerprint_key: Vec<u8>,
    /// Files scanned at once.
    pub threads: usize,
    /// Time one file may take, all analyzers together
    /// ([`Engine::with_file_deadline`]).
    pub file_deadline: Duration,
    /// The OSV advisories dependency review matches against; `None`:
    /// changed lockfiles are listed as skipped, "not synced".
    pub advisories: Option<Arc<Index>>,
}

impl Default for Options {
    /// What `hunkscan scan` runs without flags (one thread; the CLI asks
    /// for all cores).
    fn default() -> Self {
        Self {
            rules_dir: None,
            parse_timeout: DEFAULT_PARSE_TIMEOUT,
            secrets: SecretsOptions {
                skip_lock_files: true,
                skip_minified: true,
            },
            fingerprint_key: DEFAULT_FINGERPRINT_KEY.to_vec(),
            threads: 1,
            file_deadline: DEFAULT_FILE_DEADLINE,
            advisories: None,
        }
    }
}

/// Why the analyzers could not be assembled (a rule that does not load).
#[derive(Debug, Error)]
pub enum PipelineError {
    /// A SAST rule.
    #[error("loading rules: {0}")]
    Sast(#[from] crate::engine::sast::RuleError),
    /// A secret rule.
    #[error("loading secret rules: {0}")]
    Secrets(#[from] crate::engine::secrets::SecretRuleError),
    /// An IaC policy.
    #[error("loading IaC rules: {0}")]
    Iac(#[from] crate::engine::iac::policy::PolicyError),
}

/// The three analyzers with their rules: what [`Pipeline`] runs, and what
/// `hunkscan rules test` checks against the rules' own examples.
pub struct Analyzers {
    /// Source-code rules.
    pub sast: SastAnalyzer,
    /// Infrastructure-as-code policies.
    pub iac: IacAnalyzer,
    /// Credential detection.
    pub secrets: SecretsAnalyzer,
    /// Dependency review.
    pub deps: DepsAnalyzer,
}

impl Analyzers {
    /// The embedded rules plus `options.rules_dir`.
    pub fn load(options: &Options) -> Result<Self, PipelineError> {
        let dir = options.rules_dir.as_deref();
        Ok(Self {
            sast: SastAnalyzer::new(SastRules::load(dir)?, options.parse_timeout),
            // A user's folder is read whole now, so that its errors show at
            // start-up; the embedded policies wait for the first IaC file.
            iac: match dir {
                Some(_) => IacAnalyzer::new(Policies::load(dir)?),
                None => IacAnalyzer::embedded(),
            },
            secrets: SecretsAnalyzer::new(
                SecretRules::load(dir)?,
                options.fingerprint_key.clone(),
                options.secrets,
            ),
            deps: DepsAnalyzer::new(options.advisories.clone()),
        })
    }

    /// What reporters need to know of every rule.
    pub fn rule_docs(&self) -> Vec<RuleDoc> {
        self.doc_sources().all()
    }

    fn doc_sources(&self) -> DocSources {
        DocSources {
            sast: self.sast.shared_rules(),
            secrets: self.secrets.rule_docs(),
            iac: self.iac.clone(),
        }
    }
}

/// Where the rules' documentation comes from, held apart from the
/// analyzers (which move into the engine) so that documenting every rule
/// can wait until a reporter asks: it compiles every language's SAST rules
/// and reads every IaC policy, which a scan of one language does not.
struct DocSources {
    sast: Arc<SastRules>,
    /// The secret rules are compiled at load anyway; their docs are cheap.
    secrets: Vec<RuleDoc>,
    iac: IacAnalyzer,
}

impl DocSources {
    /// SAST, secrets, IaC, in that order.
    fn all(&self) -> Vec<RuleDoc> {
        let sast = self.sast.infos().into_iter().map(RuleDoc::from);
        let iac = self.iac.policies().all().iter().map(RuleDoc::from);
        sast.chain(self.secrets.iter().cloned())
            .chain(iac)
            .collect()
    }
}

/// The analyzers, assembled once, and what reporters need of their rules.
pub struct Pipeline {
    engine: Engine,
    /// What the licence review's engine is built with (the same as `engine`'s).
    fingerprint_key: Vec<u8>,
    file_deadline: Duration,
    /// The dependency review's advisory database (the bot's sync replaces it).
    advisories: SharedIndex,
    /// Every rule's documentation, gathered when first asked.
    rule_docs: OnceLock<Vec<RuleDoc>>,
    doc_sources: DocSources,
    /// IaC policies that report only where a repository enables them.
    opt_in: OnceLock<HashSet<String>>,
    /// What a `.gitleaksignore` line's rule id maps to.
    gitleaks_aliases: GitleaksAliases,
}

/// What the pipeline made of a change under a configuration.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Findings and skips, with the configuration applied.
    pub report: ScanReport,
    /// Lines for a reader: configuration problems, ignored paths.
    pub notes: Vec<String>,
    /// The files analysed (those `paths.ignore` left), for the review to
    /// anchor comments in.
    pub changes: ChangeSet,
}

impl Pipeline {
    /// SAST, IaC, secrets and deps, in that order, with the embedded rules plus
    /// `options.rules_dir`.
    pub fn load(options: &Options) -> Result<Self, PipelineError> {
        Ok(Self::new(Analyzers::load(options)?, options))
    }

    /// The pipeline of analyzers already loaded.
    pub fn new(analyzers: Analyzers, options: &Options) -> Self {
        let doc_sources = analyzers.doc_sources();
        let gitleaks_aliases = GitleaksAliases::of(analyzers.secrets.rules());
        let Analyzers {
            sast,
            iac,
            secrets,
            deps,
        } = analyzers;
        let advisories = deps.shared().clone();
        let engine = Engine::new(vec![
            Box::new(sast),
            Box::new(iac),
            Box::new(secrets),
            Box::new(deps),
        ])
        .with_threads(options.threads)
        .with_file_deadline(options.file_deadline)
        .with_fingerprint_key(options.fingerprint_key.clone());
        Self {
            engine,
            fingerprint_key: options.fingerprint_key.clone(),
            file_deadline: options.file_deadline,
            advisories,
            rule_docs: OnceLock::new(),
            doc_sources,
            opt_in: OnceLock::new(),
            gitleaks_aliases,
        }
    }

    /// The IaC policies that report only where a repository enables them.
    fn opt_in(&self) -> &HashSet<String> {
        self.opt_in.get_or_init(|| {
            self.doc_sources
                .iac
                .policies()
                .all()
                .iter()
                .filter(|p| p.opt_in)
                .map(|p| p.id.clone())
                .collect()
        })
    }

    /// The engine (the bot asks it which files to fetch).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The advisory database dependency review uses; replacing its index
    /// takes effect from the next scan.
    pub fn advisories(&self) -> &SharedIndex {
        &self.advisories
    }

    /// Every rule the analyzers run, for reporters (SARIF's rule list).
    pub fn rule_docs(&self) -> &[RuleDoc] {
        self.rule_docs.get_or_init(|| self.doc_sources.all())
    }

    /// Scans `changes` under `config`: ignored paths are left out (and
    /// counted in a note), switched-off analyzers do not run, disabled rules
    /// are dropped and severities overridden.
    pub fn run(&self, changes: ChangeSet, config: &RepoConfig) -> Outcome {
        self.run_explained(changes, config).0
    }

    /// [`Pipeline::run`], with the secret candidates turned down on added
    /// lines and why (values masked), for `--explain-dropped`.
    pub fn run_explained(
        &self,
        changes: ChangeSet,
        config: &RepoConfig,
    ) -> (Outcome, Vec<crate::engine::secrets::Dropped>) {
        self.run_with_licenses(changes, config, Arc::new(Licenses::offline()))
    }

    /// The packages whose licence a scan of `changes` under `config` would
    /// need from a registry (none without a licence policy), at most `limit`:
    /// what the caller looks up before [`Pipeline::run_with_licenses`].
    pub fn licenses_wanted(
        &self,
        changes: &ChangeSet,
        config: &RepoConfig,
        limit: usize,
    ) -> Vec<PackageId> {
        match &config.licenses {
            Some(policy) if config.deps => {
                let mut kept = changes.clone();
                kept.files.retain(|f| !config.ignores(&f.diff.path));
                license::wanted(&kept, policy, limit)
            }
            _ => Vec::new(),
        }
    }

    /// [`Pipeline::run_explained`] with the licences looked up for the
    /// packages lockfiles state none for.
    pub fn run_with_licenses(
        &self,
        mut changes: ChangeSet,
        config: &RepoConfig,
        licenses: Arc<Licenses>,
    ) -> (Outcome, Vec<crate::engine::secrets::Dropped>) {
        let before = changes.files.len();
        changes.files.retain(|f| !config.ignores(&f.diff.path));
        let ignored = before - changes.files.len();
        let (mut report, mut dropped) = self
            .engine
            .scan_explained(&changes, &|kind| config.runs(kind));
        if let Some(policy) = config.licenses.as_ref().filter(|_| config.deps) {
            // Its own engine, so licence findings are anchored, fingerprinted
            // and suppressed exactly as the other findings are. Only the
            // lockfiles with a text head: the main scan already listed
            // every other file that needed a word.
            let lockfiles = ChangeSet {
                files: changes
                    .files
                    .iter()
                    .filter(|f| {
                        crate::engine::deps::detect(&f.diff.path).is_some()
                            && matches!(f.head, crate::engine::Content::Text(_))
                    })
                    .cloned()
                    .collect(),
            };
            let review = Engine::new(vec![Box::new(LicenseAnalyzer::new(
                Arc::clone(policy),
                licenses,
            ))])
            .with_file_deadline(self.file_deadline)
            .with_fingerprint_key(self.fingerprint_key.clone())
            .scan(&lockfiles);
            report.findings.extend(review.findings);
            report.skipped.extend(review.skipped);
            report.findings.sort_by(|a, b| {
                (&a.path, a.start, &a.rule_id).cmp(&(&b.path, b.start, &b.rule_id))
            });
        }
        dropped.retain(|d| !config.disabled_rules.contains(&d.rule_id));
        config
            .gitleaks_ignore
            .apply(&self.gitleaks_aliases, &mut report.findings);
        report
            .findings
            .retain(|f| !config.disabled_rules.contains(&f.rule_id));
        // Only IaC policies are opt-in: a change without IaC findings
        // leaves the policies unread.
        if report
            .findings
            .iter()
            .any(|f| f.analyzer == AnalyzerKind::Iac)
        {
            let opt_in = self.opt_in();
            report.findings.retain(|f| {
                !opt_in.contains(&f.rule_id) || config.enabled_rules.contains(&f.rule_id)
            });
        }
        for finding in &mut report.findings {
            if let Some(severity) = config.severity_overrides.get(&finding.rule_id) {
                finding.severity = *severity;
            }
        }
        let mut notes = Vec::new();
        if config.deps
            && changes
                .files
                .iter()
                .any(|f| crate::engine::deps::detect(&f.diff.path).is_some())
        {
            notes.push(advisory_note(
                self.advisories.current().as_deref(),
                chrono::Utc::now(),
            ));
        }
        if ignored > 0 {
            notes.push(format!(
                "{ignored} file{} ignored by `paths.ignore` ({})",
                if ignored == 1 { "" } else { "s" },
                config.ignore_patterns.join(", ")
            ));
        }
        (
            Outcome {
                report,
                notes,
                changes,
            },
            dropped,
        )
    }
}

/// How old the advisory data dependency review matched against is, or
/// that there is none: said wherever a change touches a lockfile.
pub fn advisory_note(index: Option<&Index>, now: chrono::DateTime<chrono::Utc>) -> String {
    let Some(index) = index else {
        return format!(
            "Advisory database missing: dependencies were not checked for known vulnerabilities ({}).",
            crate::engine::deps::NOT_SYNCED
        );
    };
    let ecosystems: Vec<&str> = index
        .status
        .iter()
        .map(|s| s.ecosystem.osv_name())
        .collect();
    match index.as_of() {
        Some(as_of) => format!(
            "Advisory data ({}) as of {}, {} old.",
            ecosystems.join(", "),
            as_of.format("%Y-%m-%d %H:%M UTC"),
            age(now - as_of)
        ),
        None => format!(
            "Advisory data ({}): its age is unknown (no sync record and no dated advisory).",
            ecosystems.join(", ")
        ),
    }
}

/// "3 days", "5 hours", "12 minutes".
fn age(elapsed: chrono::TimeDelta) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let minutes = elapsed.num_minutes().max(0);
    if minutes < 60 {
        plural(minutes, "minute")
    } else if minutes < 48 * 60 {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes / (24 * 60), "day")
    }
}

/// The configuration a repository's file gives, with the problems that made
/// the defaults apply instead, as notes a reader sees.
pub fn config_from(text: Option<&str>) -> (RepoConfig, Vec<String>) {
    match text {
        Some(text) => {
            let (config, problems) = RepoConfig::parse(text);
            (config, config_notes(&problems))
        }
        None => (RepoConfig::default(), Vec::new()),
    }
}

/// Configuration problems as notes.
pub fn config_notes(problems: &[ConfigProblem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| format!("Configuration ignored, defaults apply: {p}"))
        .collect()
}

/// The threshold a scan fails at: the command line's when given, else the
/// configuration's (`None`: never fails).
pub fn fail_threshold(flag: Option<Severity>, config: &RepoConfig) -> Option<Severity> {
    flag.or(match config.fail_on {
        FailOn::AtLeast(severity) => Some(severity),
        FailOn::Never => None,
    })
}

#[cfg(test)]
mod tests {
    use super::{Options, Pipeline};
    use crate::config::repo::RepoConfig;
    use crate::engine::{AnalyzerKind, ChangeSet, Content};
    use ast_grep_language::SupportLang;

    fn change(path: &str, head: &str) -> ChangeSet {
        let file = crate::local::changed_file(path, Content::Absent, Content::Text(head.into()))
            .expect("diffable");
        ChangeSet { files: vec![file] }
    }

    #[test]
    fn rules_are_compiled_for_the_kinds_of_file_a_change_holds() {
        let pipeline = Pipeline::load(&Options::default()).expect("embedded rules load");
        assert!(!pipeline.doc_sources.iac.policies_read());
        assert!(!pipeline.doc_sources.sast.is_built(SupportLang::Python));
        let python = change("app.py", "import os\nos.system(input())\n");
        let outcome = pipeline.run(python, &RepoConfig::default());
        assert!(!outcome.report.findings.is_empty());
        assert!(
            !pipeline.doc_sources.iac.policies_read(),
            "a Python change read the IaC policies"
        );
        let sast = &pipeline.doc_sources.sast;
        assert!(
            sast.is_built(SupportLang::Python) && !sast.is_built(SupportLang::Rust),
            "a Python change compiles the Python rules only"
        );
        let terraform = change(
            "main.tf",
            "resource \"aws_s3_bucket_acl\" \"b\" {\n  bucket = \"b\"\n  acl    = \"public-read\"\n}\n",
        );
        let outcome = pipeline.run(terraform, &RepoConfig::default());
        assert!(pipeline.doc_sources.iac.policies_read());
        assert!(
            outcome
                .report
                .findings
                .iter()
                .any(|f| f.analyzer == AnalyzerKind::Iac),
            "{:?}",
            outcome.report.findings
        );
    }

    #[test]
    fn rule_docs_list_every_kind_of_rule_once() {
        let pipeline = Pipeline::load(&Options::default()).expect("embedded rules load");
        let docs = pipeline.rule_docs();
        let mut ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        for prefix in ["python.", "rust.", "secrets.", "terraform.", "kubernetes."] {
            assert!(
                ids.iter().any(|id| id.starts_with(prefix)),
                "no {prefix} rule"
            );
        }
        let total = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), total, "a rule is listed twice");
        assert_eq!(pipeline.rule_docs().len(), total);
    }
}
