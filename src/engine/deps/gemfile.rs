//! `Gemfile.lock` (Bundler), read line by line: the format is Bundler's own
//! indentation-based text with no crate for it, and a line-based reader
//! gives each gem's line directly.
//!
//! Sections start at column 0. A source section (`GEM`, `GIT`, `PATH`,
//! `PLUGIN SOURCE`) lists under `  specs:` each resolved gem at four spaces
//! as `name (version)` or `name (version-platform)`, and its own
//! dependencies below it at six spaces. `DEPENDENCIES` names what the
//! Gemfile asks for (direct), two spaces in, with `!` when it comes from a
//! git or path source. `PLATFORMS`, `RUBY VERSION`, `BUNDLED WITH` and
//! `CHECKSUMS` say nothing about which gems are installed and are skipped.
//!
//! Only the `GEM` sections (a gem server) are RubyGems packages: a `GIT`
//! checkout or a `PATH` folder is not a release an advisory names, and is
//! noted as not checked. The lockfile does not record Gemfile groups, so
//! dev-ness is unknown. A gem resolved for several platforms appears once
//! per platform with one version: it is reported once, on its first line.

use super::model::{Ecosystem, Package, ReadError, Resolved};
use std::collections::{HashMap, HashSet};

/// Longest gem name accepted (RubyGems allows far shorter ones in practice).
const MAX_NAME: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    /// `GEM`: a gem server.
    Gem,
    /// `GIT`, `PATH`, `PLUGIN SOURCE`: not a published release.
    OtherSource,
    Dependencies,
    Ignored,
}

/// Reads a `Gemfile.lock`.
pub fn read(text: &str) -> Result<Resolved, ReadError> {
    let mut section = None;
    let mut current: Option<String> = None;
    let mut packages: Vec<Package> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
    let mut direct: HashSet<String> = HashSet::new();
    let mut has_dependencies = false;
    let mut elsewhere = 0usize;
    for (index, line) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let error = |reason: String| ReadError {
            line: Some(number),
            reason,
        };
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if line.starts_with('\t') {
            return Err(error("a tab where Bundler indents with spaces".into()));
        }
        if indent == 0 {
            current = None;
            section = Some(match line.trim_end() {
                "GEM" => Section::Gem,
                "GIT" | "PATH" | "PLUGIN SOURCE" => Section::OtherSource,
                "DEPENDENCIES" => {
                    has_dependencies = true;
                    Section::Dependencies
                }
                _ => Section::Ignored,
            });
            continue;
        }
        let Some(in_section) = section else {
            return Err(error("an indented line before any section".into()));
        };
        let body = line.trim();
        match (in_section, indent) {
            (Section::Gem | Section::OtherSource, 2) => {
                // `remote:`, `revision:`, `specs:`, …: where the gems come from.
                if !body.contains(':') {
                    return Err(error(format!("expected `key: value`, found {body:?}")));
                }
                current = None;
            }
            (Section::Gem | Section::OtherSource, 4) => {
                let (name, version) = spec(body).map_err(&error)?;
                // A platform suffix (`1.13.9-x86_64-linux`) is not part of the version.
                let version = version.split_once('-').map_or(version, |(v, _)| v);
                current = Some(name.to_owned());
                if in_section == Section::OtherSource {
                    elsewhere += 1;
                    continue;
                }
                if !seen.insert((name.to_owned(), version.to_owned())) {
                    continue;
                }
                packages.push(Package {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    ecosystem: Ecosystem::RubyGems,
                    direct: None,
                    dev: None,
                    lines: (number, number),
                    parents: Vec::new(),
                    pinned: false,
                    license: None,
                });
            }
            (Section::Gem | Section::OtherSource, 6) => {
                let Some(parent) = &current else {
                    return Err(error("a dependency line outside a gem's entry".into()));
                };
                let name = dependency_name(body).map_err(&error)?;
                let parents = parents_of.entry(name.to_owned()).or_default();
                if !parents.contains(parent) {
                    parents.push(parent.clone());
                }
            }
            (Section::Gem | Section::OtherSource, _) => {
                return Err(error(format!(
                    "unexpected indentation of {indent} spaces in a source section"
                )));
            }
            (Section::Dependencies, 2) => {
                let name = dependency_name(body).map_err(&error)?;
                direct.insert(name.trim_end_matches('!').to_owned());
            }
            (Section::Dependencies, _) => {
                return Err(error(format!(
                    "unexpected indentation of {indent} spaces under DEPENDENCIES"
                )));
            }
            (Section::Ignored, _) => {}
        }
    }
    if section.is_none() {
        return Err(ReadError {
            line: None,
            reason: "no GEM, GIT, PATH or DEPENDENCIES section: not a Gemfile.lock".into(),
        });
    }
    for package in &mut packages {
        if has_dependencies {
            package.direct = Some(direct.contains(&package.name));
        }
        package.parents = parents_of.remove(&package.name).unwrap_or_default();
    }
    let mut notes = Vec::new();
    if elsewhere > 0 {
        notes.push(format!(
            "{elsewhere} gem{} from git or path sources not checked: advisories name released gems",
            if elsewhere == 1 { "" } else { "s" }
        ));
    }
    Ok(Resolved { packages, notes })
}

/// `name (version)` of a spec line.
fn spec(body: &str) -> Result<(&str, &str), String> {
    let malformed = || format!("expected `name (version)`, found {body:?}");
    let (name, rest) = body.split_once(" (").ok_or_else(malformed)?;
    let version = rest.strip_suffix(')').ok_or_else(malformed)?;
    check_name(name)?;
    if version.is_empty() || version.contains([' ', '(', ')']) {
        return Err(malformed());
    }
    Ok((name, version))
}

/// The name of `name`, `name!`, `name (constraints)` or
/// `name (constraints)!` (Bundler puts the `!` of a git or path gem last).
fn dependency_name(body: &str) -> Result<&str, String> {
    let name = match body.split_once(' ') {
        Some((name, rest)) => {
            let rest = rest.strip_suffix('!').unwrap_or(rest);
            if !(rest.starts_with('(') && rest.ends_with(')')) {
                return Err(format!("expected `name (requirement)`, found {body:?}"));
            }
            name
        }
        None => body,
    };
    check_name(name.trim_end_matches('!'))?;
    Ok(name)
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!("not a gem name: {name:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = "GIT
  remote: https://github.com/acme/widgets.git
  revision: 0123456789abcdef0123456789abcdef01234567
  specs:
    widgets (0.3.0)
      rack (>= 2.0)

GEM
  remote: https://rubygems.org/
  specs:
    nokogiri (1.13.9-x86_64-linux)
      racc (~> 1.4)
    nokogiri (1.13.9-arm64-darwin)
      racc (~> 1.4)
    racc (1.6.0)
    rack (2.2.3)
    rack-test (2.0.2)
      rack (>= 1.3)

PLATFORMS
  arm64-darwin
  x86_64-linux

DEPENDENCIES
  nokogiri (~> 1.13)
  rack-test
  widgets (~> 0.3)!

CHECKSUMS
  nokogiri (1.13.9-x86_64-linux) sha256=5b5b9b3c1a8e4e1c3f0d2a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f809
  rack (2.2.3) sha256=0c4c7e2f7a1e9d3b5c6a8f0e2d4b6a8c0e2f4a6b8d0c2e4f6a8b0d2c4e6f8a0b

RUBY VERSION
   ruby 3.1.2p20

BUNDLED WITH
   2.3.26
";

    #[test]
    fn gems_with_their_lines_direct_flags_and_parents() {
        let resolved = read(LOCK).expect("reads");
        type Row<'a> = (&'a str, &'a str, Option<bool>, (u32, u32));
        let got: Vec<Row<'_>> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.direct, p.lines))
            .collect();
        assert_eq!(
            got,
            vec![
                ("nokogiri", "1.13.9", Some(true), (11, 11)),
                ("racc", "1.6.0", Some(false), (15, 15)),
                ("rack", "2.2.3", Some(false), (16, 16)),
                ("rack-test", "2.0.2", Some(true), (17, 17)),
            ],
            "platform variants fold into one entry; the git gem is not a release"
        );
        let rack = &resolved.packages[2];
        assert_eq!(
            rack.parents,
            vec!["widgets".to_owned(), "rack-test".to_owned()]
        );
        assert_eq!(
            resolved.path_to(1),
            Some(vec!["nokogiri".into(), "racc".into()])
        );
        assert_eq!(
            resolved.notes,
            vec!["1 gem from git or path sources not checked: advisories name released gems"]
        );
    }

    #[test]
    fn malformed_and_truncated_lines_are_named() {
        let cut = &LOCK[..LOCK.find("racc (1.6.0)").expect("racc") + 9];
        let error = read(cut).expect_err("truncated");
        assert_eq!(error.line, Some(15), "{error}");
        assert!(error.reason.contains("name (version)"), "{error}");
        let tabbed = LOCK.replace("    rack (2.2.3)", "\track (2.2.3)");
        assert_eq!(read(&tabbed).expect_err("tab").line, Some(16));
        let odd = LOCK.replace("    rack (2.2.3)", "   rack (2.2.3)");
        assert!(read(&odd).expect_err("indent").reason.contains("3 spaces"));
        assert!(read("just some text\n").is_ok_and(|r| r.packages.is_empty()));
        assert!(read("").is_err(), "an empty file is not a lockfile");
        assert!(read("  indented first\n").is_err());
    }
}
