//! `go.mod` require directives. Written by hand: no maintained Rust crate
//! parses `go.mod`, and the part read here is small and line-based
//! (`require path version`, in a `require ( … )` block or alone, with
//! `// indirect` marking a transitive requirement). A `replace` of a
//! required module is noted, since the replacement is what gets built.

use super::model::{Ecosystem, Package, ReadError, Resolved};

/// Reads a `go.mod`.
pub fn read(text: &str) -> Result<Resolved, ReadError> {
    let mut resolved = Resolved::default();
    let mut in_require = false;
    let mut in_other_block = false;
    let mut replaced = 0usize;
    for (index, raw) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let (code, comment) = match raw.find("//") {
            Some(at) => (&raw[..at], raw[at + 2..].trim()),
            None => (raw, ""),
        };
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        if in_require || in_other_block {
            if code == ")" {
                in_require = false;
                in_other_block = false;
                continue;
            }
            if in_other_block {
                continue;
            }
            push(&mut resolved, code, comment, number)?;
            continue;
        }
        let (verb, rest) = code
            .split_once(char::is_whitespace)
            .map_or((code, ""), |(verb, rest)| (verb, rest.trim()));
        match verb {
            "require" if rest == "(" => in_require = true,
            "require" => push(&mut resolved, rest, comment, number)?,
            "replace" | "exclude" | "retract" | "tool" | "godebug" | "ignore" if rest == "(" => {
                in_other_block = true;
                if verb == "replace" {
                    replaced += 1;
                }
            }
            "replace" => replaced += 1,
            "module" | "go" | "toolchain" | "exclude" | "retract" | "tool" | "godebug"
            | "ignore" => {}
            other => {
                return Err(ReadError {
                    line: Some(number),
                    reason: format!("unknown directive {:?}", truncate(other)),
                });
            }
        }
    }
    if in_require {
        return Err(ReadError {
            line: None,
            reason: "unterminated `require (` block (truncated file?)".into(),
        });
    }
    if replaced > 0 {
        resolved.notes.push(
            "`replace` directives are not followed: a replaced module is checked at its required version"
                .into(),
        );
    }
    Ok(resolved)
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

fn push(out: &mut Resolved, spec: &str, comment: &str, line: u32) -> Result<(), ReadError> {
    let mut parts = spec.split_whitespace();
    let (Some(path), Some(version), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ReadError {
            line: Some(line),
            reason: format!("expected `module/path vX.Y.Z`, found {:?}", truncate(spec)),
        });
    };
    let unquote = |s: &str| s.trim_matches('"').to_owned();
    let indirect = comment.split(';').any(|part| part.trim() == "indirect");
    out.packages.push(Package {
        name: unquote(path),
        version: unquote(version),
        ecosystem: Ecosystem::Go,
        direct: Some(!indirect),
        dev: Some(false),
        lines: (line, line),
        parents: Vec::new(),
        pinned: true,
        license: None,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_lines_single_and_in_blocks() {
        let text = "module example.com/app\n\ngo 1.22\n\nrequire golang.org/x/net v0.17.0\n\nrequire (\n\tgithub.com/gin-gonic/gin v1.9.0\n\tgolang.org/x/text v0.3.7 // indirect\n)\n\nreplace (\n\tfoo => ../foo\n)\n";
        let resolved = read(text).expect("reads");
        let got: Vec<(&str, &str, u32, Option<bool>)> = resolved
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.lines.0, p.direct))
            .collect();
        assert_eq!(
            got,
            vec![
                ("golang.org/x/net", "v0.17.0", 5, Some(true)),
                ("github.com/gin-gonic/gin", "v1.9.0", 8, Some(true)),
                ("golang.org/x/text", "v0.3.7", 9, Some(false)),
            ]
        );
        assert_eq!(resolved.notes.len(), 1);
    }

    #[test]
    fn truncated_block_and_bad_lines_are_errors() {
        assert!(read("module m\nrequire (\n\ta v1.0.0\n").is_err());
        let error = read("module m\nrequire a\n").expect_err("no version");
        assert_eq!(error.line, Some(2));
    }
}
