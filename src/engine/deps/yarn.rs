//! `yarn.lock`, classic (v1) and berry (v2+), read line by line by hand:
//! v1 is yarn's own format, not YAML, and no maintained crate keeps line
//! numbers for either. Both write an unindented header of the requested
//! specs ending in `:`, an indented `version` line (`version "1.2.3"` in
//! v1, `version: 1.2.3` in berry) and an indented `dependencies:` block.
//! Workspace, link, portal and file entries are the project's own code.

use super::model::{Ecosystem, Package, ReadError, Resolved};
use std::collections::HashMap;

struct Open {
    name: String,
    header: u32,
    version: Option<(String, u32)>,
    local: bool,
}

/// Reads a `yarn.lock`.
pub fn read(text: &str) -> Result<Resolved, ReadError> {
    let mut resolved = Resolved::default();
    let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
    let mut open: Option<Open> = None;
    let mut in_dependencies = false;
    for (index, raw) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if indent == 0 {
            finish(open.take(), &mut resolved);
            in_dependencies = false;
            let Some(specs) = line.strip_suffix(':') else {
                return Err(ReadError {
                    line: Some(number),
                    reason: "expected an entry header ending in `:`".into(),
                });
            };
            if specs == "__metadata" {
                continue;
            }
            let first = specs.split(", ").next().unwrap_or(specs).trim_matches('"');
            let Some(name) = package_name(first) else {
                return Err(ReadError {
                    line: Some(number),
                    reason: format!(
                        "no `name@range` in the header {:?}",
                        first.chars().take(60).collect::<String>()
                    ),
                });
            };
            let local = ["@workspace:", "@link:", "@portal:", "@file:"]
                .iter()
                .any(|p| specs.contains(p));
            open = Some(Open {
                name: name.to_owned(),
                header: number,
                version: None,
                local,
            });
            continue;
        }
        let Some(entry) = open.as_mut() else {
            continue;
        };
        if indent <= 2 {
            in_dependencies = line == "dependencies:" || line == "optionalDependencies:";
            let value = line
                .strip_prefix("version ")
                .or_else(|| line.strip_prefix("version:"));
            if let Some(value) = value {
                entry.version = Some((value.trim().trim_matches('"').to_owned(), number));
            }
        } else if in_dependencies {
            let child = match line.strip_prefix('"') {
                Some(quoted) => quoted.split('"').next().unwrap_or(""),
                None => line.split([' ', ':']).next().unwrap_or(""),
            };
            if !child.is_empty() {
                parents_of
                    .entry(child.to_owned())
                    .or_default()
                    .push(entry.name.clone());
            }
        }
    }
    finish(open, &mut resolved);
    for package in &mut resolved.packages {
        package.parents = parents_of.get(&package.name).cloned().unwrap_or_default();
    }
    Ok(resolved)
}

/// `@scope/name@^1` → `@scope/name`; `name@npm:^1` → `name`.
fn package_name(spec: &str) -> Option<&str> {
    let at = spec.get(1..)?.find('@')? + 1;
    Some(&spec[..at])
}

fn finish(open: Option<Open>, out: &mut Resolved) {
    let Some(open) = open else { return };
    let Some((version, line)) = open.version else {
        return;
    };
    if open.local || version.contains("use.local") {
        return;
    }
    out.packages.push(Package {
        name: open.name,
        version,
        ecosystem: Ecosystem::Npm,
        direct: None,
        dev: None,
        lines: (open.header, line),
        parents: Vec::new(),
        pinned: false,
        license: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_entries_with_scopes_and_dependencies() {
        let text = "# yarn lockfile v1\n\n\n\"@babel/code-frame@^7.0.0\", \"@babel/code-frame@^7.10.4\":\n  version \"7.12.13\"\n  dependencies:\n    \"@babel/highlight\" \"^7.12.13\"\n\n\"@babel/highlight@^7.12.13\":\n  version \"7.14.0\"\n\nlodash@^4.17.15:\n  version \"4.17.15\"\n  resolved \"https://registry.yarnpkg.com/lodash/-/lodash-4.17.15.tgz\"\n";
        let resolved = read(text).expect("reads");
        let got: Vec<(&str, &str, (u32, u32))> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.lines))
            .collect();
        assert_eq!(
            got,
            vec![
                ("@babel/code-frame", "7.12.13", (4, 5)),
                ("@babel/highlight", "7.14.0", (9, 10)),
                ("lodash", "4.17.15", (12, 13)),
            ]
        );
        assert_eq!(
            resolved.packages[1].parents,
            vec!["@babel/code-frame".to_owned()]
        );
    }

    #[test]
    fn berry_entries_and_workspaces() {
        let text = "__metadata:\n  version: 6\n  cacheKey: 8\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n  dependencies:\n    lodash: ^4.17.20\n\n\"lodash@npm:^4.17.20\":\n  version: 4.17.20\n  resolution: \"lodash@npm:4.17.20\"\n";
        let resolved = read(text).expect("reads");
        assert_eq!(resolved.packages.len(), 1);
        assert_eq!(resolved.packages[0].name, "lodash");
        assert_eq!(resolved.packages[0].version, "4.17.20");
        assert_eq!(resolved.packages[0].lines, (11, 12));
        assert_eq!(resolved.packages[0].parents, vec!["app".to_owned()]);
    }

    #[test]
    fn garbage_names_its_line() {
        let error = read("lodash@^4:\n  version \"1\"\nnot a header\n").expect_err("bad");
        assert_eq!(error.line, Some(3));
    }
}
