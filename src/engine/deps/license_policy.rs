//! What a repository's licence policy accepts: the `allow`/`deny` lists
//! as SPDX requirements, the `exceptions` as purls, and the verdict on one
//! licence expression (see [`super::license`] for the review itself).

use super::model::{Ecosystem, Package};
use std::str::FromStr;

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

    pub(super) fn exempt(&self, package: &Package) -> bool {
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

/// A licence text for a message: whoever writes the lockfile writes it, so
/// nothing in it may close the code span it is shown in or start a line.
pub(super) fn shown(license: Option<&str>) -> String {
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
