//! Finding snippets: the lines a finding covers, cut around its column on
//! long lines, and credentials masked down to their length.

use super::model::Span;
use super::policy::IacKind;
use crate::engine::Position;

/// A version's lines, split once per file (finding positions and snippets
/// are per finding; re-splitting the text each time was quadratic), with
/// their lengths in characters, which positions are clamped to (counting
/// them per finding was quadratic on a long line too).
pub(super) struct Rows<'t> {
    pub(super) lines: Vec<&'t str>,
    chars: Vec<usize>,
}

impl<'t> Rows<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let chars = lines.iter().map(|l| l.chars().count()).collect();
        Self { lines, chars }
    }
}

pub(super) fn position(rows: &Rows, line: u32, column: u32) -> Position {
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

pub(super) fn snippet(rows: &[&str], span: Span, sensitive: bool, kind: IacKind) -> String {
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
pub(super) fn sensitive_values(rows: &[&str], span: Span, kind: IacKind) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
