//! Licence policy: the licences of the packages a change adds, judged by a
//! repository's `licenses:` section (`allow`, `deny`, `fail_on_unknown`,
//! `exceptions`).
//!
//! A package's licence is an SPDX expression, evaluated with the `spdx`
//! crate rather than compared as text: `MIT OR Apache-2.0` satisfies an
//! allow-list holding `MIT`, `MIT AND GPL-3.0-only` does not pass a deny of
//! `GPL-3.0-only`, `GPL-2.0-only WITH Classpath-exception-2.0` needs a
//! licensee with that exception. A text that is not an SPDX expression is
//! an unknown licence, with the parser's reason.
//!
//! The licence comes from the lockfile where it states one (npm's
//! `license`), else from what the caller looked up in the registries
//! ([`Licenses`]); this module does no I/O. Only packages whose name the
//! change adds are judged (a version bump of a package already there is
//! not a new licence decision), plus those whose lockfile licence the
//! change edits.
//!
//! The review runs as its own [`Analyzer`] so the engine anchors,
//! fingerprints and suppresses its findings exactly like vulnerabilities;
//! [`crate::pipeline`] runs it only for a repository with a policy.

use super::model::{Ecosystem, Package, Resolved};
use super::parsed::read_shared;
use super::{Format, detect};
use crate::diff::FileStatus;
use crate::engine::{
    Analyzer, AnalyzerKind, ChangeKind, ChangeSet, ChangedFile, ComparedFinding, Confidence,
    Content, FileOutcome, Finding, Position, RawFinding, Severity, Skipped,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::license_policy::shown;
pub use super::license_policy::{Exception, Policy, Verdict, purl_of};

/// Rule id of a licence the policy denies.
pub const RULE_DENIED: &str = "license-denied";
/// Rule id of a licence outside the allow-list.
pub const RULE_NOT_ALLOWED: &str = "license-not-allowed";
/// Rule id of a package whose licence is unknown (with `fail_on_unknown`).
pub const RULE_UNKNOWN: &str = "license-unknown";

/// Why a package of `ecosystem` is never looked up in a registry, when it is
/// not: Go's proxy states no licence; RubyGems' and Packagist's APIs are
/// not asked (Composer's lockfile carries licences; Bundler's does not).
pub fn not_looked_up(ecosystem: Ecosystem) -> Option<&'static str> {
    match ecosystem {
        Ecosystem::Go => Some("Go's module proxy states no licence"),
        Ecosystem::RubyGems => Some("Gemfile.lock states no licence and rubygems.org is not asked"),
        Ecosystem::Packagist => Some("composer.lock states no licence and Packagist is not asked"),
        Ecosystem::CratesIo | Ecosystem::Npm | Ecosystem::PyPI => None,
    }
}

/// Packages whose licence is unknown named at most in one skipped line.
const MAX_NAMED_UNKNOWN: usize = 10;

/// A package looked up in a registry: `(ecosystem, normalised name, version)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId {
    /// Its ecosystem.
    pub ecosystem: Ecosystem,
    /// Its name as the lockfile writes it.
    pub name: String,
    /// Its version as the lockfile writes it.
    pub version: String,
}

impl PackageId {
    fn of(package: &Package) -> Self {
        Self {
            ecosystem: package.ecosystem,
            name: package.name.clone(),
            version: package.version.clone(),
        }
    }

    fn key(&self) -> (Ecosystem, String, String) {
        (
            self.ecosystem,
            self.ecosystem.normalise_name(&self.name),
            self.version.clone(),
        )
    }
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The registry's licence text.
    Found(String),
    /// Why there is none.
    Unknown(String),
}

/// Licences looked up outside the engine (registries, a cache), for the
/// packages whose lockfile states none.
#[derive(Debug, Clone)]
pub struct Licenses {
    known: HashMap<(Ecosystem, String, String), Lookup>,
    /// Why a package that was not looked up has no licence.
    not_looked_up: String,
}

impl Licenses {
    /// Nothing looked up; `why` says so in every unknown.
    pub fn none(why: impl Into<String>) -> Self {
        Self {
            known: HashMap::new(),
            not_looked_up: why.into(),
        }
    }

    /// What the command line says without `--online`.
    pub fn offline() -> Self {
        Self::none("not stated in the lockfile, and registries are asked only with `--online`")
    }

    /// Why a package absent from the lookups has no licence.
    pub fn set_not_looked_up(&mut self, why: impl Into<String>) {
        self.not_looked_up = why.into();
    }

    /// Records what a lookup found.
    pub fn insert(&mut self, id: &PackageId, lookup: Lookup) {
        self.known.insert(id.key(), lookup);
    }

    /// What is known of `id`.
    pub fn get(&self, id: &PackageId) -> Lookup {
        self.known
            .get(&id.key())
            .cloned()
            .unwrap_or_else(|| Lookup::Unknown(self.not_looked_up.clone()))
    }

    /// How many packages were looked up.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether nothing was looked up.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

/// The packages of one changed file whose licence the policy judges:
/// names the head has and the base does not, and packages whose lockfile
/// licence the change edits.
fn introduced(base: &Resolved, head: &Resolved) -> Vec<usize> {
    let key = |p: &Package| (p.ecosystem, p.ecosystem.normalise_name(&p.name));
    let base_names: HashSet<_> = base.packages.iter().map(key).collect();
    let base_licenses: HashMap<_, _> = base
        .packages
        .iter()
        .filter_map(|p| Some((key(p), p.license.as_deref()?)))
        .collect();
    head.packages
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            let k = key(p);
            !base_names.contains(&k)
                || p.license.as_deref().is_some_and(|license| {
                    base_licenses
                        .get(&k)
                        .is_some_and(|before| *before != license)
                })
        })
        .map(|(i, _)| i)
        .collect()
}

/// Both sides of a changed lockfile, read; `None` when it is not one the
/// analyzer reads or a side does not parse (the vulnerability review
/// already lists that as skipped).
fn sides(file: &ChangedFile, head: &str) -> Option<(Format, Arc<Resolved>, Arc<Resolved>)> {
    let format = detect(&file.diff.path)?;
    if file.diff.status == FileStatus::Removed {
        return None;
    }
    // Shared with the advisory review of the same text (see `parsed`).
    let head_side = read_shared(format, head).ok()?;
    let base_side = match &file.base {
        Content::Text(text) if !text.is_empty() => read_shared(format, text).ok()?,
        Content::Text(_) | Content::Absent => Arc::new(Resolved::default()),
        _ => return None,
    };
    Some((format, base_side, head_side))
}

/// The packages of `changes` whose licence must be looked up: introduced,
/// not exempt, with no licence in the lockfile, in an ecosystem whose
/// registry is asked (see [`not_looked_up`]). At most `limit`.
pub fn wanted(changes: &ChangeSet, policy: &Policy, limit: usize) -> Vec<PackageId> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for file in &changes.files {
        let Content::Text(head) = &file.head else {
            continue;
        };
        let Some((_, base, head_side)) = sides(file, head) else {
            continue;
        };
        for i in introduced(&base, &head_side) {
            let package = &head_side.packages[i];
            if package.license.is_some()
                || not_looked_up(package.ecosystem).is_some()
                || policy.exempt(package)
            {
                continue;
            }
            let id = PackageId::of(package);
            if seen.insert(id.key()) {
                if out.len() >= limit {
                    return out;
                }
                out.push(id);
            }
        }
    }
    out
}

/// The licence review of one scan: a policy and the licences looked up.
pub struct LicenseAnalyzer {
    policy: Arc<Policy>,
    licenses: Arc<Licenses>,
}

impl LicenseAnalyzer {
    /// Judges under `policy`, with `licenses` for what lockfiles do not state.
    pub fn new(policy: Arc<Policy>, licenses: Arc<Licenses>) -> Self {
        Self { policy, licenses }
    }
}

impl Analyzer for LicenseAnalyzer {
    fn kind(&self) -> AnalyzerKind {
        AnalyzerKind::Deps
    }

    fn handles(&self, path: &str) -> bool {
        detect(path).is_some()
    }

    fn needs_base(&self, _path: &str) -> bool {
        true
    }

    fn analyze(&self, file: &ChangedFile, head: &str, out: &mut FileOutcome) {
        let Some((_, base, head_side)) = sides(file, head) else {
            return;
        };
        let path = file.diff.path.as_str();
        let lines: Vec<&str> = head.lines().collect();
        let mut unknown: Vec<(String, String)> = Vec::new();
        for i in introduced(&base, &head_side) {
            if out.deadline.expired() {
                return out
                    .skipped
                    .push(out.deadline.skipped(path, AnalyzerKind::Deps, true));
            }
            let package = &head_side.packages[i];
            if self.policy.exempt(package) {
                continue;
            }
            let (license, source) = match &package.license {
                Some(license) => (Some(license.clone()), "the lockfile"),
                // Never looked up (see `wanted`): say why, not "not looked up".
                None if not_looked_up(package.ecosystem).is_some() => {
                    let why = not_looked_up(package.ecosystem).unwrap_or_default();
                    let verdict = Verdict::Unknown(why.into());
                    self.report(path, package, None, &verdict, &lines, out, &mut unknown);
                    continue;
                }
                None => match self.licenses.get(&PackageId::of(package)) {
                    Lookup::Found(license) => (Some(license), "the registry"),
                    Lookup::Unknown(why) => {
                        let verdict = Verdict::Unknown(why);
                        self.report(path, package, None, &verdict, &lines, out, &mut unknown);
                        continue;
                    }
                },
            };
            let verdict = self.policy.judge(license.as_deref());
            let verdict = match verdict {
                Verdict::Unknown(why) => Verdict::Unknown(format!("{source} states it: {why}")),
                other => other,
            };
            self.report(
                path,
                package,
                license.as_deref(),
                &verdict,
                &lines,
                out,
                &mut unknown,
            );
        }
        if !unknown.is_empty() {
            let named: Vec<String> = unknown
                .iter()
                .take(MAX_NAMED_UNKNOWN)
                .map(|(name, why)| format!("{name} ({why})"))
                .collect();
            let more = unknown.len().saturating_sub(MAX_NAMED_UNKNOWN);
            out.skipped.push(Skipped {
                path: path.to_owned(),
                analyzer: Some(AnalyzerKind::Deps),
                reason: format!(
                    "licence unknown for {} added package{}: {}{}",
                    unknown.len(),
                    if unknown.len() == 1 { "" } else { "s" },
                    named.join("; "),
                    if more > 0 {
                        format!("; and {more} more")
                    } else {
                        String::new()
                    }
                ),
                partial: true,
            });
        }
    }
}

impl LicenseAnalyzer {
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        path: &str,
        package: &Package,
        license: Option<&str>,
        verdict: &Verdict,
        lines: &[&str],
        out: &mut FileOutcome,
        unknown: &mut Vec<(String, String)>,
    ) {
        let what = format!("`{}` {} (added)", package.name, package.version);
        let (rule, message) = match verdict {
            Verdict::Allowed => return,
            Verdict::Unknown(why) if !self.policy.fail_on_unknown => {
                unknown.push((format!("{}@{}", package.name, package.version), why.clone()));
                return;
            }
            Verdict::Unknown(why) => (
                RULE_UNKNOWN,
                format!(
                    "{what} has no known licence ({why}), and `licenses.fail_on_unknown` is set."
                ),
            ),
            Verdict::Denied => (
                RULE_DENIED,
                format!(
                    "{what} is licensed `{}`, which `licenses.deny` forbids.",
                    shown(license)
                ),
            ),
            Verdict::NotAllowed => (
                RULE_NOT_ALLOWED,
                format!(
                    "{what} is licensed `{}`, which `licenses.allow` ({}) does not cover.",
                    shown(license),
                    self.policy.allow_text.join(", ")
                ),
            ),
        };
        let (start, end) = package.lines;
        let line_text = |n: u32| {
            lines
                .get((n as usize).saturating_sub(1))
                .copied()
                .unwrap_or("")
        };
        let snippet = (start..=end).map(line_text).collect::<Vec<_>>().join("\n");
        let purl = purl_of(package);
        let finding = Finding {
            rule_id: rule.to_owned(),
            analyzer: AnalyzerKind::Deps,
            severity: Severity::High,
            confidence: Confidence::High,
            cwe: None,
            path: path.to_owned(),
            start: Position {
                line: start,
                column: 1,
            },
            end: Position {
                line: end,
                column: u32::try_from(line_text(end).chars().count() + 1).unwrap_or(u32::MAX),
            },
            message,
            remediation: Some(format!(
                "Replace `{}`, or, once its licence is approved, list `{purl}` under `licenses.exceptions`.",
                package.name
            )),
            fix: None,
            fingerprint: String::new(),
            change: ChangeKind::New,
            suppression: None,
            snippet,
            flow: Vec::new(),
        };
        out.compared.push(ComparedFinding {
            raw: RawFinding {
                identity: format!("license:{purl}"),
                finding,
                anchor_first_line: false,
                masked: false,
                secrets: Vec::new(),
            },
            change: ChangeKind::New,
            base_lines: None,
        });
    }
}
