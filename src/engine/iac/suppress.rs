//! Suppression comments IaC users already write, with the scope each tool
//! gives them, so moving to hunkscan keeps a team's triage:
//!
//! | marker | applies to |
//! | --- | --- |
//! | `checkov:skip=<ID>[:<reason>]` | the resource, manifest or job it sits in (a Dockerfile: the whole file) |
//! | `tfsec:ignore:<ID>`, `trivy:ignore:<ID>` | its own line, the next line, and the block that starts there |
//! | `kics-scan ignore-line` | the next line |
//! | `kics-scan ignore-block` | the block that starts on the next line |
//! | `kics-scan ignore` / `kics-scan disable=<ID>,…` | the whole file |
//! | `zizmor: ignore[<ID>,…]` | findings spanning its line |
//! | `hunkscan:ignore [<id>…] -- <reason>` above a block | the whole block (on a line, the engine applies it as everywhere) |
//! | annotation `checkov.io/skip<N>: <ID>=<reason>` | every finding of that manifest |
//!
//! Markers are only read in comments — `#`, `//` and `/* */` in HCL, `#` in
//! YAML and Dockerfiles — never inside a string value, a heredoc or a YAML
//! block scalar: `description = "see checkov:skip=CKV_AWS_17"` is data, and
//! anyone who can write data must not be able to silence a check with it.
//! A `tfsec:ignore:<ID>:exp:<YYYY-MM-DD>` stops applying after that date.
//!
//! Other tools' ids silence only the policies that list them as aliases
//! (`aliases.checkov: [CKV_AWS_20]`), or a policy named by its own id: a
//! `checkov:skip` for an unrelated check never hides a public bucket. Markers
//! without an id (KICS) silence every policy in their scope.

use super::model::{Node, Span, Value};
use super::policy::Policy;
use crate::engine::{Suppression, SuppressionSource, suppress};
use regex::Regex;
use std::sync::LazyLock;

static CHECKOV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"checkov:skip=(?P<id>[A-Za-z0-9_.\-]+)(?::(?P<reason>[^\n]*))?")
        .expect("static regex")
});
static TFSEC_TRIVY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<tool>tfsec|trivy):ignore:(?P<id>[A-Za-z0-9_.\-]+?)(?::exp:(?P<exp>\d{4}-\d{2}-\d{2}))?(?:[^A-Za-z0-9_.\-:]|$)")
        .expect("static regex")
});
static KICS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"kics-scan\s+(?P<what>ignore-line|ignore-block|ignore|disable=(?P<ids>[A-Za-z0-9_,\-]+))",
    )
    .expect("static regex")
});
static ZIZMOR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"zizmor:\s*ignore\[(?P<ids>[^\]]+)\]").expect("static regex"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Subjects whose span holds the marker line (a Dockerfile: all).
    Enclosing,
    /// The marker's line, the next code line, and a block starting there.
    LineOrNextBlock,
    /// The next code line.
    NextLine,
    /// A block starting on the next code line.
    NextBlock,
    /// The whole file.
    File,
    /// Findings whose lines include the marker's.
    SameLine,
}

#[derive(Debug, Clone)]
struct Marker {
    source: SuppressionSource,
    ids: Vec<String>,
    reason: String,
    line: u32,
    /// The first line after the marker that is not blank or a comment.
    next: u32,
    scope: Scope,
}

/// The markers of one file.
#[derive(Debug, Default)]
pub struct IacMarkers {
    markers: Vec<Marker>,
    whole_file_checkov: bool,
}

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty()
        || t.starts_with('#')
        || t.starts_with("//")
        || t.starts_with("/*")
        || t.starts_with('*')
}

/// The comment syntax of a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Terraform: `#`, `//`, `/* */`; strings and heredocs are not comments.
    Hcl,
    /// Kubernetes and workflows: `#` after a blank or at the start, outside
    /// quotes and block scalars.
    Yaml,
    /// Dockerfiles: lines starting with `#`.
    Dockerfile,
}

/// The comment text of every line (empty when it holds none).
pub fn comments(text: &str, syntax: Syntax) -> Vec<String> {
    match syntax {
        Syntax::Hcl => hcl_comments(text),
        Syntax::Yaml => yaml_comments(text),
        Syntax::Dockerfile => text
            .lines()
            .map(|line| {
                let trimmed = line.trim_start();
                if trimmed.starts_with('#') {
                    trimmed.to_owned()
                } else {
                    String::new()
                }
            })
            .collect(),
    }
}

fn hcl_comments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut heredoc: Option<String> = None;
    for line in text.lines() {
        let mut comment = String::new();
        if let Some(end) = &heredoc {
            if line.trim() == end {
                heredoc = None;
            }
            out.push(comment);
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let (mut i, mut in_string) = (0, false);
        while i < chars.len() {
            let (c, next) = (chars[i], chars.get(i + 1).copied());
            if in_block {
                if c == '*' && next == Some('/') {
                    in_block = false;
                    i += 2;
                    comment.push(' ');
                    continue;
                }
                comment.push(c);
            } else if in_string {
                match c {
                    '\\' => i += 1,
                    '"' => in_string = false,
                    _ => {}
                }
            } else {
                match (c, next) {
                    ('"', _) => in_string = true,
                    ('#', _) | ('/', Some('/')) => {
                        comment.extend(&chars[i..]);
                        break;
                    }
                    ('/', Some('*')) => {
                        in_block = true;
                        i += 1;
                    }
                    ('<', Some('<')) => {
                        let word: String = chars[i + 2..]
                            .iter()
                            .skip_while(|c| **c == '-')
                            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                            .collect();
                        if !word.is_empty() {
                            heredoc = Some(word);
                        }
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        out.push(comment);
    }
    out
}

fn yaml_comments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // The indentation of the line that opened a block scalar (`run: |`).
    let mut block: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(opener) = block {
            if line.trim().is_empty() || indent > opener {
                out.push(String::new());
                continue;
            }
            block = None;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut quote: Option<char> = None;
        let mut previous: Option<char> = None;
        let mut code_end = chars.len();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some('"') if c == '\\' => i += 1,
                Some(q) if c == q => {
                    // `''` inside a single-quoted scalar is an escaped quote.
                    if q == '\'' && chars.get(i + 1) == Some(&'\'') {
                        i += 1;
                    } else {
                        quote = None;
                    }
                }
                Some(_) => {}
                None => {
                    let opens_scalar =
                        previous.is_none_or(|p| matches!(p, ':' | '-' | '[' | '{' | ',' | '?'));
                    if (c == '"' || c == '\'') && opens_scalar {
                        quote = Some(c);
                    } else if c == '#' && (i == 0 || chars[i - 1].is_whitespace()) {
                        code_end = i;
                        break;
                    }
                }
            }
            if !c.is_whitespace() {
                previous = Some(c);
            }
            i += 1;
        }
        let code: String = chars[..code_end].iter().collect();
        let code = code.trim_end();
        let last = code
            .rsplit_once(char::is_whitespace)
            .map_or(code, |(_, last)| last);
        let opens_block = last.starts_with(['|', '>'])
            && last
                .chars()
                .skip(1)
                .all(|c| matches!(c, '-' | '+') || c.is_ascii_digit());
        if opens_block && (code.contains(':') || code.trim_start().starts_with('-')) {
            block = Some(indent);
        }
        out.push(chars[code_end..].iter().collect());
    }
    out
}

impl IacMarkers {
    /// Finds the markers in the comments of `text`. `checkov_whole_file`:
    /// Checkov skips in a Dockerfile apply to the whole file.
    pub fn scan(text: &str, syntax: Syntax) -> Self {
        let checkov_whole_file = syntax == Syntax::Dockerfile;
        let lines: Vec<&str> = text.lines().collect();
        let comments = comments(text, syntax);
        // `code_from[i]`: the 1-based number of the first line at or after
        // index `i` that is not a comment. One pass from the end, where a
        // search forward from each marker made a file of markers quadratic.
        let mut code_from = vec![u32::MAX; lines.len() + 1];
        for index in (0..lines.len()).rev() {
            code_from[index] = if is_comment(lines[index]) {
                code_from[index + 1]
            } else {
                u32::try_from(index + 1).unwrap_or(u32::MAX)
            };
        }
        let today = chrono::Utc::now().date_naive();
        let mut markers = Vec::new();
        for (index, line) in comments.iter().enumerate() {
            if !(line.contains("checkov:")
                || line.contains(":ignore")
                || line.contains("kics-scan")
                || line.contains("zizmor")
                || line.contains("hunkscan:ignore"))
            {
                continue;
            }
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let next = code_from.get(index + 1).copied().unwrap_or(u32::MAX);
            let mut push = |source, ids: Vec<String>, reason: String, scope| {
                markers.push(Marker {
                    source,
                    ids,
                    reason,
                    line: number,
                    next,
                    scope,
                })
            };
            for caps in CHECKOV.captures_iter(line) {
                let id = caps.name("id").map_or("", |m| m.as_str()).to_owned();
                let reason = caps
                    .name("reason")
                    .map(|r| r.as_str().trim().to_owned())
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| format!("checkov:skip={id} comment"));
                push(
                    SuppressionSource::Checkov,
                    vec![id],
                    reason,
                    Scope::Enclosing,
                );
            }
            for caps in TFSEC_TRIVY.captures_iter(line) {
                let tool = caps.name("tool").map_or("", |m| m.as_str());
                let id = caps.name("id").map_or("", |m| m.as_str()).to_owned();
                let source = if tool == "tfsec" {
                    SuppressionSource::Tfsec
                } else {
                    SuppressionSource::Trivy
                };
                let expiry = caps
                    .name("exp")
                    .and_then(|d| chrono::NaiveDate::parse_from_str(d.as_str(), "%Y-%m-%d").ok());
                if expiry.is_some_and(|date| date < today) {
                    // Expired: the finding is visible again.
                    continue;
                }
                let reason = match expiry {
                    Some(date) => format!("{tool}:ignore:{id} comment (until {date})"),
                    None => format!("{tool}:ignore:{id} comment"),
                };
                push(source, vec![id], reason, Scope::LineOrNextBlock);
            }
            if let Some(caps) = KICS.captures(line) {
                let what = caps.name("what").map_or("", |m| m.as_str());
                let (ids, scope) = match what {
                    "ignore-line" => (Vec::new(), Scope::NextLine),
                    "ignore-block" => (Vec::new(), Scope::NextBlock),
                    "ignore" => (Vec::new(), Scope::File),
                    _ => (
                        caps.name("ids")
                            .map(|m| m.as_str().split(',').map(str::to_owned).collect())
                            .unwrap_or_default(),
                        Scope::File,
                    ),
                };
                push(
                    SuppressionSource::Kics,
                    ids,
                    format!("kics-scan {what} comment"),
                    scope,
                );
            }
            if let Some(caps) = ZIZMOR.captures(line) {
                let ids: Vec<String> = caps
                    .name("ids")
                    .map(|m| m.as_str().split(',').map(|s| s.trim().to_owned()).collect())
                    .unwrap_or_default();
                let reason = format!("zizmor: ignore[{}] comment", ids.join(","));
                push(SuppressionSource::Zizmor, ids, reason, Scope::SameLine);
            }
            if let Some((ids, reason)) = suppress::hunkscan_marker(line) {
                let reason = reason.unwrap_or_else(|| "hunkscan:ignore comment".into());
                // Its line and the next (as the engine applies it for every
                // analyzer), and above a block the whole block.
                push(
                    SuppressionSource::Hunkscan,
                    ids,
                    reason,
                    Scope::LineOrNextBlock,
                );
            }
        }
        Self {
            markers,
            whole_file_checkov: checkov_whole_file,
        }
    }

    /// The marker silencing a finding of `policy` at `span` in a subject
    /// whose tree is `subject` (inside the file's `subjects`), if any.
    pub fn suppression_for(
        &self,
        policy: &Policy,
        span: Span,
        subject: &Node,
        subjects: &[&Node],
    ) -> Option<Suppression> {
        self.markers
            .iter()
            .find(|m| names(m, policy) && self.in_scope(m, span, subject, subjects))
            .map(|m| Suppression {
                source: m.source,
                reason: Some(m.reason.clone()),
                line: m.line,
            })
    }

    fn in_scope(&self, marker: &Marker, span: Span, subject: &Node, subjects: &[&Node]) -> bool {
        let block_below =
            || starts_at(subject, marker.next).is_some_and(|block| contains(block, span));
        match marker.scope {
            Scope::File => true,
            Scope::Enclosing => {
                self.whole_file_checkov
                    || subjects.iter().any(|s| {
                        s.span.contains_line(marker.line) && contains(s.span, subject.span)
                    })
            }
            Scope::LineOrNextBlock => {
                span.start.line == marker.line || span.start.line == marker.next || block_below()
            }
            Scope::NextLine => span.start.line == marker.next,
            Scope::NextBlock => block_below(),
            Scope::SameLine => span.contains_line(marker.line),
        }
    }
}

fn contains(outer: Span, inner: Span) -> bool {
    outer.start.line <= inner.start.line && inner.end.line <= outer.end.line
}

/// The largest node of `node`'s tree that starts on `line`.
fn starts_at(node: &Node, line: u32) -> Option<Span> {
    if node.span.start.line == line {
        return Some(node.span);
    }
    if !node.span.contains_line(line) {
        return None;
    }
    match &node.value {
        Value::Map(entries) => entries.iter().find_map(|(_, child)| starts_at(child, line)),
        Value::List(items) => items.iter().find_map(|child| starts_at(child, line)),
        Value::Scalar(_) => None,
    }
}

/// Whether a marker names this policy (or names nothing: all policies).
fn names(marker: &Marker, policy: &Policy) -> bool {
    if marker.ids.is_empty() {
        return true;
    }
    let aliases: Vec<&String> = match marker.source {
        SuppressionSource::Checkov => policy.aliases.checkov.iter().collect(),
        SuppressionSource::Tfsec | SuppressionSource::Trivy => policy
            .aliases
            .tfsec
            .iter()
            .chain(&policy.aliases.trivy)
            .collect(),
        SuppressionSource::Kics => policy.aliases.kics.iter().collect(),
        SuppressionSource::Zizmor => policy.aliases.zizmor.iter().collect(),
        _ => Vec::new(),
    };
    marker
        .ids
        .iter()
        .any(|id| id == &policy.id || aliases.iter().any(|alias| alias.eq_ignore_ascii_case(id)))
}

/// A subject's own skip annotations (Kubernetes `checkov.io/skip*`).
pub fn annotation_suppression(
    policy: &Policy,
    skips: &[(String, Option<String>)],
    line: u32,
) -> Option<Suppression> {
    skips
        .iter()
        .find(|(id, _)| {
            id == &policy.id
                || policy
                    .aliases
                    .checkov
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(id))
        })
        .map(|(id, reason)| Suppression {
            source: SuppressionSource::Checkov,
            reason: Some(
                reason
                    .clone()
                    .unwrap_or_else(|| format!("checkov.io/skip annotation for {id}")),
            ),
            line,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_comment_text_is_read_for_markers() {
        let yaml = "a: it's # c1\nb: 'x # y' # c2\nc: \"q\\\" # r\"\nd: |\n  # body\ne: 1 #c3\n";
        assert_eq!(
            comments(yaml, Syntax::Yaml),
            vec!["# c1", "# c2", "", "", "", "#c3"]
        );
        let hcl = "a = \"x # y\" # c1\nb = \"\\\"//\" // c2\n/* c3\nc4 */ d = 1\ne = <<EOT\n# body\nEOT\n";
        assert_eq!(
            comments(hcl, Syntax::Hcl),
            vec!["# c1", "// c2", " c3", "c4  ", "", "", ""]
        );
        let docker = "RUN echo # not a comment\n  # c1\n";
        assert_eq!(comments(docker, Syntax::Dockerfile), vec!["", "# c1"]);
    }

    #[test]
    fn markers_in_a_run_of_comments_point_at_the_code_line_after_it() {
        let text = "# checkov:skip=CKV_AWS_1\n# checkov:skip=CKV_AWS_2\n\nresource \"a\" \"b\" {}\n# checkov:skip=CKV_AWS_3\n";
        let found = IacMarkers::scan(text, Syntax::Hcl);
        let next: Vec<(u32, u32)> = found.markers.iter().map(|m| (m.line, m.next)).collect();
        assert_eq!(next, vec![(1, 4), (2, 4), (5, u32::MAX)]);
    }
}
