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
use super::{Format, detect, read};
use crate::diff::FileStatus;
use crate::engine::{
    Analyzer, AnalyzerKind, ChangeKind, ChangeSet, ChangedFile, ComparedFinding, Confidence,
    Content, FileOutcome, Finding, Position, RawFinding, Severity, Skipped,
};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

/// Rule id of a licence the policy denies.
pub const RULE_DENIED: &str = "license-denied";
/// Rule id of a licence outside the allow-list.
pub const RULE_NOT_ALLOWED: &str = "license-not-allowed";
/// Rule id of a package whose licence is unknown (with `fail_on_unknown`).
pub const RULE_UNKNOWN: &str = "license-unknown";

/// Why a Go module's licence is unknown: no registry states one.
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

/// A repository's licence policy, validated.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Licences accepted; empty: everything not denied.
    pub allow: Vec<spdx::Licensee>,
    /// Licences refused.
    pub deny: Vec<spdx::Licensee>,
    /// An unknown licence is a finding, not only a listed note.
    pub fail_on_unknown: bool,
    /// Packages exempt from the policy.
    pub exceptions: Vec<Exception>,
    /// The allow-list as written, for messages.
    pub allow_text: Vec<String>,
}

/// A package exempt from the policy, from a purl (`pkg:npm/left-pad`,
/// `pkg:cargo/ring@0.17.8`): every version unless the purl names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    ecosystem: Ecosystem,
    name: String,
    version: Option<String>,
}

impl FromStr for Exception {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let purl = packageurl::PackageUrl::from_str(text).map_err(|e| e.to_string())?;
        let ecosystem = match purl.ty() {
            "cargo" => Ecosystem::CratesIo,
            "npm" => Ecosystem::Npm,
            "pypi" => Ecosystem::PyPI,
            "golang" => Ecosystem::Go,
            "gem" => Ecosystem::RubyGems,
            "composer" => Ecosystem::Packagist,
            other => {
                return Err(format!(
                    "purl type `{other}` is not one of cargo, npm, pypi, golang, gem, composer"
                ));
            }
        };
        let name = match purl.namespace() {
            Some(namespace) => format!("{namespace}/{}", purl.name()),
            None => purl.name().to_owned(),
        };
        Ok(Self {
            name: ecosystem.normalise_name(&name),
            ecosystem,
            version: purl.version().map(str::to_owned),
        })
    }
}

impl Exception {
    fn covers(&self, package: &Package) -> bool {
        self.ecosystem == package.ecosystem
            && self.name == package.ecosystem.normalise_name(&package.name)
            && self.version.as_ref().is_none_or(|v| {
                v.trim_start_matches('v') == package.version.trim_start_matches('v')
            })
    }
}

impl Policy {
    /// Builds a policy from the configuration's lists; every entry that
    /// does not parse is an error naming it and why.
    pub fn new(
        allow: &[String],
        deny: &[String],
        fail_on_unknown: bool,
        exceptions: &[String],
    ) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut licensees = |list: &[String], key: &str| -> Vec<spdx::Licensee> {
            list.iter()
                .filter_map(|text| match spdx::Licensee::parse(text.trim()) {
                    Ok(licensee) => Some(licensee),
                    Err(error) => {
                        problems.push((
                            format!("licenses.{key}"),
                            format!("{text:?} is not an SPDX licence identifier: {error}"),
                        ));
                        None
                    }
                })
                .collect()
        };
        let allow_list = licensees(allow, "allow");
        let deny_list = licensees(deny, "deny");
        let exceptions = exceptions
            .iter()
            .filter_map(|text| match text.parse::<Exception>() {
                Ok(exception) => Some(exception),
                Err(error) => {
                    problems.push((
                        "licenses.exceptions".into(),
                        format!("{text:?} is not a package URL: {error}"),
                    ));
                    None
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            allow: allow_list,
            deny: deny_list,
            fail_on_unknown,
            exceptions,
            allow_text: allow.to_vec(),
        })
    }

    /// What the policy says of a licence text (`None`: no licence known).
    pub fn judge(&self, license: Option<&str>) -> Verdict {
        let Some(text) = license else {
            return Verdict::Unknown("no licence is stated".into());
        };
        let expression = match spdx::Expression::parse(text) {
            Ok(expression) => expression,
            // Registries hold many near-SPDX spellings ("Apache 2.0",
            // "MIT/X11"); the lax mode reads the common ones. What even
            // that cannot read stays unknown, with the strict reason.
            Err(strict) => match spdx::Expression::parse_mode(text, spdx::ParseMode::LAX) {
                Ok(expression) => expression,
                Err(_) => {
                    return Verdict::Unknown(format!("not an SPDX expression: {}", strict.reason));
                }
            },
        };
        let denied = |req: &spdx::LicenseReq| self.deny.iter().any(|d| d.satisfies(req));
        if !expression.evaluate(|req| !denied(req)) {
            return Verdict::Denied;
        }
        if !self.allow.is_empty()
            && !expression
                .evaluate(|req| !denied(req) && self.allow.iter().any(|a| a.satisfies(req)))
        {
            return Verdict::NotAllowed;
        }
        Verdict::Allowed
    }

    fn exempt(&self, package: &Package) -> bool {
        self.exceptions.iter().any(|e| e.covers(package))
    }
}

/// What the policy says of one licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The licence meets the policy.
    Allowed,
    /// Every way to take the package includes a denied licence.
    Denied,
    /// No way to take the package stays within the allow-list.
    NotAllowed,
    /// No licence known, or not an SPDX expression; why.
    Unknown(String),
}

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
fn sides(file: &ChangedFile, head: &str) -> Option<(Format, Resolved, Resolved)> {
    let format = detect(&file.diff.path)?;
    if file.diff.status == FileStatus::Removed {
        return None;
    }
    let head_side = read(format, head).ok()?;
    let base_side = match &file.base {
        Content::Text(text) if !text.is_empty() => read(format, text).ok()?,
        Content::Text(_) | Content::Absent => Resolved::default(),
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

/// A licence text for a message: whoever writes the lockfile writes it, so
/// nothing in it may close the code span it is shown in or start a line.
fn shown(license: Option<&str>) -> String {
    license
        .unwrap_or_default()
        .chars()
        .map(|c| if c == '`' || c.is_control() { ' ' } else { c })
        .collect()
}

/// The package's purl, for `licenses.exceptions`.
pub fn purl_of(package: &Package) -> String {
    let ty = match package.ecosystem {
        Ecosystem::CratesIo => "cargo",
        Ecosystem::Npm => "npm",
        Ecosystem::PyPI => "pypi",
        Ecosystem::Go => "golang",
        Ecosystem::RubyGems => "gem",
        Ecosystem::Packagist => "composer",
    };
    let name = match package.ecosystem {
        // purl percent-encodes the npm scope's `@`.
        Ecosystem::Npm => package.name.replacen('@', "%40", 1),
        Ecosystem::PyPI => package.ecosystem.normalise_name(&package.name),
        _ => package.name.clone(),
    };
    format!(
        "pkg:{ty}/{name}@{}",
        package.version.trim_start_matches('v')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str], deny: &[&str]) -> Policy {
        let owned = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Policy::new(&owned(allow), &owned(deny), false, &[]).expect("valid policy")
    }

    #[test]
    fn or_satisfies_an_allow_list_holding_either_side() {
        let p = policy(&["MIT"], &[]);
        assert_eq!(p.judge(Some("MIT OR Apache-2.0")), Verdict::Allowed);
        assert_eq!(p.judge(Some("Apache-2.0")), Verdict::NotAllowed);
        assert_eq!(p.judge(Some("MIT AND Apache-2.0")), Verdict::NotAllowed);
        let both = policy(&["MIT", "Apache-2.0"], &[]);
        assert_eq!(both.judge(Some("MIT AND Apache-2.0")), Verdict::Allowed);
    }

    #[test]
    fn deny_wins_only_when_no_way_around_it() {
        let p = policy(&[], &["GPL-3.0-only"]);
        assert_eq!(p.judge(Some("MIT OR GPL-3.0-only")), Verdict::Allowed);
        assert_eq!(p.judge(Some("MIT AND GPL-3.0-only")), Verdict::Denied);
        assert_eq!(p.judge(Some("GPL-3.0-only")), Verdict::Denied);
        assert_eq!(
            p.judge(Some("ISC")),
            Verdict::Allowed,
            "no allow-list: all else passes"
        );
        // Denied and allowed at once: the deny decides.
        let both = policy(&["GPL-3.0-only"], &["GPL-3.0-only"]);
        assert_eq!(both.judge(Some("GPL-3.0-only")), Verdict::Denied);
    }

    #[test]
    fn with_exceptions_need_a_licensee_with_the_exception() {
        let plain = policy(&["GPL-2.0-only"], &[]);
        let with = policy(&["GPL-2.0-only WITH Classpath-exception-2.0"], &[]);
        let expr = "GPL-2.0-only WITH Classpath-exception-2.0";
        assert_eq!(with.judge(Some(expr)), Verdict::Allowed);
        assert_eq!(plain.judge(Some(expr)), Verdict::NotAllowed);
    }

    #[test]
    fn invalid_and_missing_licences_are_unknown_with_the_reason() {
        let p = policy(&["MIT"], &[]);
        match p.judge(Some("Totally Custom Licence v7 ((")) {
            Verdict::Unknown(why) => assert!(why.contains("not an SPDX expression"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(p.judge(None), Verdict::Unknown(_)));
        // A common near-SPDX spelling is read.
        assert_eq!(p.judge(Some("mit")), Verdict::Allowed);
    }

    #[test]
    fn licence_texts_cannot_break_out_of_their_code_span() {
        assert_eq!(shown(Some("MIT` [x](y)\nZ")), "MIT  [x](y) Z");
    }

    #[test]
    fn policy_entries_that_do_not_parse_are_named() {
        let problems = Policy::new(
            &["MIT".into(), "Not A Licence".into()],
            &[],
            false,
            &[
                "pkg:npm/left-pad@1.3.0".into(),
                "left-pad".into(),
                "pkg:nuget/Newtonsoft.Json".into(),
            ],
        )
        .expect_err("bad entries");
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "licenses.allow",
                "licenses.exceptions",
                "licenses.exceptions"
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn exceptions_match_by_purl_with_or_without_version() {
        let package = |eco, name: &str, version: &str| Package {
            name: name.into(),
            version: version.into(),
            ecosystem: eco,
            direct: None,
            dev: None,
            lines: (1, 1),
            parents: vec![],
            pinned: false,
            license: None,
        };
        let any: Exception = "pkg:npm/%40acme/widget".parse().expect("purl");
        assert!(any.covers(&package(Ecosystem::Npm, "@acme/widget", "2.0.0")));
        let one: Exception = "pkg:pypi/Foo_Bar@1.0".parse().expect("purl");
        assert!(one.covers(&package(Ecosystem::PyPI, "foo-bar", "1.0")));
        assert!(!one.covers(&package(Ecosystem::PyPI, "foo-bar", "1.1")));
        assert!(!one.covers(&package(Ecosystem::Npm, "foo-bar", "1.0")));
        assert_eq!(
            purl_of(&package(Ecosystem::Npm, "@acme/widget", "2.0.0")),
            "pkg:npm/%40acme/widget@2.0.0"
        );
        let round: Exception = purl_of(&package(Ecosystem::Go, "github.com/a/b", "v1.2.3"))
            .parse()
            .expect("own purl parses");
        assert!(round.covers(&package(Ecosystem::Go, "github.com/a/b", "v1.2.3")));
        let gem: Exception = "pkg:gem/rails@7.0.4".parse().expect("purl");
        assert!(gem.covers(&package(Ecosystem::RubyGems, "rails", "7.0.4")));
        assert!(!gem.covers(&package(Ecosystem::RubyGems, "rails", "7.0.5")));
        let composer: Exception = "pkg:composer/GuzzleHttp/Guzzle".parse().expect("purl");
        assert!(
            composer.covers(&package(
                Ecosystem::Packagist,
                "guzzlehttp/guzzle",
                "v7.4.5"
            )),
            "Packagist names are lower-case"
        );
        assert_eq!(
            purl_of(&package(
                Ecosystem::Packagist,
                "guzzlehttp/guzzle",
                "v7.4.5"
            )),
            "pkg:composer/guzzlehttp/guzzle@7.4.5"
        );
    }
}
