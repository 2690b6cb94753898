//! Findings as one pull request review: inline comments anchored only where
//! GitHub accepts them (one bad anchor fails the whole review with 422),
//! suggestion blocks for fixes, and a hidden fingerprint marker per comment
//! so later pushes neither repeat nor lose track of it.

use crate::diff::LineSets;
use crate::engine::{ChangedFile, Finding, Severity};
use crate::github::types::DraftReviewComment;
use crate::render;
use std::collections::HashMap;

const MARKER_PREFIX: &str = "<!-- hunkscan:fingerprint=";
const MARKER_SUFFIX: &str = " -->";
const RULES_KEY: &str = ";rules=";

/// The hidden marker carrying the fingerprints (and rule ids) of the
/// findings one comment is about. The bot writes it as the last line of its
/// own comments, after everything quoted from the pull request.
pub fn marker(fingerprints: &[String], rules: &[String]) -> String {
    format!(
        "{MARKER_PREFIX}{}{RULES_KEY}{}{MARKER_SUFFIX}",
        fingerprints.join(","),
        rules.join(",")
    )
}

/// What a marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker<'a> {
    /// The findings' fingerprints.
    pub fingerprints: Vec<&'a str>,
    /// Their rule ids (empty in markers of older versions).
    pub rules: Vec<&'a str>,
}

/// The marker in a comment body written by [`marker`]: read from the body's
/// LAST line only, which the bot writes itself outside any quoted content. A
/// marker anywhere else (inside a suggestion block, in a quoted file name,
/// in code) is not the bot's and counts for nothing. Callers also check that
/// the comment's author is the app's own bot user.
pub fn marker_in(body: &str) -> Option<Marker<'_>> {
    let last = body.trim_end_matches(['\n', '\r']).rsplit('\n').next()?;
    let inner = last
        .strip_prefix(MARKER_PREFIX)?
        .strip_suffix(MARKER_SUFFIX)?;
    let (fingerprints, rules) = inner.split_once(RULES_KEY).unwrap_or((inner, ""));
    let fingerprints: Vec<&str> = fingerprints.split(',').collect();
    let rules: Vec<&str> = rules.split(',').filter(|r| !r.is_empty()).collect();
    let valid = fingerprints
        .iter()
        .all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_hexdigit()))
        && rules.iter().all(|r| {
            r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    valid.then_some(Marker {
        fingerprints,
        rules,
    })
}

/// The first fingerprint of a comment's marker (see [`marker_in`]).
pub fn fingerprint_in(body: &str) -> Option<&str> {
    marker_in(body).and_then(|m| m.fingerprints.first().copied())
}

/// Where a finding's comment goes, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// First line of a multi-line comment.
    pub start_line: Option<u32>,
    /// The comment's line.
    pub line: u32,
}

/// The RIGHT-side anchor for a finding: its whole range when both ends lie
/// in one hunk, otherwise its first commentable line; `None` when no line of
/// it is inside a hunk (the finding then lives in annotations only).
pub fn anchor(finding: &Finding, lines: &LineSets) -> Option<Anchor> {
    let (start, end) = (finding.start.line, finding.end.line.max(finding.start.line));
    let hunk_of = |line: u32| {
        lines
            .hunks
            .iter()
            .position(|h| line >= h.new_start && line < h.new_start.saturating_add(h.new_len))
    };
    if start < end
        && lines.commentable.contains(&start)
        && lines.commentable.contains(&end)
        && hunk_of(start).is_some()
        && hunk_of(start) == hunk_of(end)
    {
        return Some(Anchor {
            start_line: Some(start),
            line: end,
        });
    }
    lines
        .commentable
        .range(start..=end)
        .next()
        .map(|&line| Anchor {
            start_line: None,
            line,
        })
}

/// The review to post.
#[derive(Debug, Default)]
pub struct ReviewPlan {
    /// Inline comments, in file and line order.
    pub comments: Vec<DraftReviewComment>,
    /// Fingerprints that got a comment.
    pub commented: Vec<String>,
    /// Findings left to annotations because no line of theirs is in a hunk.
    pub not_commentable: usize,
    /// Findings left to annotations because of the comment cap.
    pub over_cap: usize,
    /// Findings already commented on by an earlier run.
    pub already_posted: usize,
}

/// Whether two findings anchored on the same lines describe one problem
/// (a token in a Dockerfile `ENV` is both a GitHub token to the secrets
/// analyzer and a secret in an image layer to the Dockerfile rules): the
/// same weakness (CWE) on the same lines is one comment.
fn same_problem(a: &Finding, b: &Finding) -> bool {
    a.path == b.path && a.cwe.is_some() && a.cwe == b.cwe
}

/// One comment per problem for the findings given (those not commented
/// on yet), most severe first, at most `max_comments` comments. Findings on
/// the same lines that describe one problem share one comment, whose marker
/// covers all their fingerprints.
pub fn plan(
    findings: &[&Finding],
    files: &HashMap<&str, &ChangedFile>,
    max_comments: usize,
) -> ReviewPlan {
    let mut plan = ReviewPlan::default();
    let mut ordered: Vec<&Finding> = findings.to_vec();
    ordered.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| (&a.path, a.start).cmp(&(&b.path, b.start)))
            .then_with(|| a.rule_id.cmp(&b.rule_id))
    });
    // Commentable findings grouped by anchor and problem, in order.
    let mut groups: Vec<(Anchor, Vec<&Finding>)> = Vec::new();
    for finding in ordered {
        let Some(file) = files.get(finding.path.as_str()) else {
            plan.not_commentable += 1;
            continue;
        };
        let Some(anchor) = anchor(finding, &file.diff.lines) else {
            plan.not_commentable += 1;
            continue;
        };
        match groups
            .iter_mut()
            .find(|(a, members)| *a == anchor && same_problem(members[0], finding))
        {
            Some((_, members)) => members.push(finding),
            None => groups.push((anchor, vec![finding])),
        }
    }
    for (anchor, members) in groups {
        if plan.comments.len() >= max_comments {
            plan.over_cap += members.len();
            continue;
        }
        let first = members[0];
        // The engine drops the fix of a finding on a line holding a
        // secret; a suggestion also needs code GitHub can apply verbatim,
        // and one fix for one finding.
        let suggestion = match (members.len(), files.get(first.path.as_str())) {
            (1, Some(file)) => file
                .head
                .text()
                .and_then(|text| suggestion(first, anchor, text))
                .filter(|code| render::is_plain_code(code)),
            _ => None,
        };
        plan.comments.push(DraftReviewComment {
            path: first.path.clone(),
            line: anchor.line,
            side: "RIGHT".into(),
            start_line: anchor.start_line,
            start_side: anchor.start_line.map(|_| "RIGHT".into()),
            body: comment_body(&members, suggestion.as_deref()),
        });
        plan.commented
            .extend(members.iter().map(|f| f.fingerprint.clone()));
    }
    plan.comments
        .sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    plan
}

/// The lines `anchor` covers with the fix applied, when the comment covers
/// exactly the finding's lines (a suggestion replaces the commented lines).
fn suggestion(finding: &Finding, anchor: Anchor, head: &str) -> Option<String> {
    let fix = finding.fix.as_ref()?;
    let first = anchor.start_line.unwrap_or(anchor.line);
    if first != finding.start.line || anchor.line != finding.end.line {
        return None;
    }
    let lines: Vec<&str> = head.lines().collect();
    let start_line = lines.get(usize::try_from(first).ok()?.checked_sub(1)?)?;
    let end_line = lines.get(usize::try_from(anchor.line).ok()?.checked_sub(1)?)?;
    // Columns are 1-based characters.
    let prefix: String = start_line
        .chars()
        .take(finding.start.column.saturating_sub(1) as usize)
        .collect();
    let suffix: String = end_line
        .chars()
        .skip(finding.end.column.saturating_sub(1) as usize)
        .collect();
    Some(format!("{prefix}{}{suffix}", fix.replacement))
}

fn severity_badge(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Info => "Info",
    }
}

/// A CWE id as a Markdown link.
pub fn cwe_link(cwe: &str) -> String {
    match cwe.strip_prefix("CWE-") {
        Some(number) if number.bytes().all(|b| b.is_ascii_digit()) => {
            format!("[{cwe}](https://cwe.mitre.org/data/definitions/{number}.html)")
        }
        _ => cwe.to_owned(),
    }
}

fn comment_body(findings: &[&Finding], suggestion: Option<&str>) -> String {
    let first = findings[0];
    let mut body = format!("**{}**", severity_badge(first.severity));
    let mut rules: Vec<String> = Vec::new();
    for finding in findings {
        if !rules.contains(&finding.rule_id) {
            rules.push(finding.rule_id.clone());
            body.push_str(&format!(" · {}", render::code_span(&finding.rule_id)));
        }
    }
    if let Some(cwe) = &first.cwe {
        body.push_str(&format!(" · {}", cwe_link(cwe)));
    }
    body.push_str(&format!("\n\n{}\n", render::message(&first.message)));
    let mut said = vec![first.message.as_str()];
    for finding in &findings[1..] {
        if !said.contains(&finding.message.as_str()) {
            said.push(&finding.message);
            body.push_str(&format!(
                "\n{} also: {}\n",
                render::code_span(&finding.rule_id),
                render::message(&finding.message)
            ));
        }
    }
    if let Some(remediation) = &first.remediation {
        // Remediations are the rules' own Markdown, not the pull request's.
        body.push_str(&format!("\n{remediation}\n"));
    }
    if let Some(suggestion) = suggestion {
        body.push('\n');
        body.push_str(&render::code_block(suggestion, "suggestion"));
    }
    let comment = if first.path.ends_with(".rs") {
        "//"
    } else {
        "#"
    };
    let hint = format!("{comment} hunkscan:ignore {} -- <reason>", rules.join(","));
    let fingerprints: Vec<String> = findings.iter().map(|f| f.fingerprint.clone()).collect();
    body.push_str(&format!(
        "\n<sub>Not a problem here? Add {} on this line or the line above, or reply `/hunkscan false-positive <reason>`.</sub>\n{}",
        render::code_span(&hint),
        marker(&fingerprints, &rules)
    ));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{FileDiff, FileStatus, parse_patch};
    use crate::engine::{AnalyzerKind, ChangeKind, Confidence, Content, Fix, Position};

    fn finding(start: (u32, u32), end: (u32, u32), fix: Option<&str>) -> Finding {
        Finding {
            rule_id: "python.yaml-load".into(),
            analyzer: AnalyzerKind::Sast,
            severity: Severity::High,
            confidence: Confidence::High,
            cwe: Some("CWE-502".into()),
            path: "app.py".into(),
            start: Position {
                line: start.0,
                column: start.1,
            },
            end: Position {
                line: end.0,
                column: end.1,
            },
            message: "yaml.load without a safe loader".into(),
            remediation: None,
            fix: fix.map(|r| Fix {
                replacement: r.into(),
            }),
            fingerprint: "0123abcd".into(),
            change: ChangeKind::New,
            suppression: None,
            snippet: String::new(),
            flow: Vec::new(),
        }
    }

    // Lines 1-4 and 10-12 are in hunks; 3 and 11 are added.
    const PATCH: &str = "@@ -1,3 +1,4 @@\n a\n b\n+c\n d\n@@ -8,2 +10,3 @@\n x\n+y\n z\n";

    fn diff() -> LineSets {
        parse_patch(PATCH.as_bytes()).expect("patch")
    }

    fn changed(head: &str) -> ChangedFile {
        ChangedFile {
            diff: FileDiff {
                path: "app.py".into(),
                old_path: None,
                status: FileStatus::Modified,
                binary: false,
                mode_only: false,
                lines: diff(),
            },
            base: Content::Absent,
            head: Content::Text(head.into()),
        }
    }

    #[test]
    fn anchors_stay_inside_hunks() {
        let diff = diff();
        assert_eq!(
            anchor(&finding((3, 1), (3, 5), None), &diff),
            Some(Anchor {
                start_line: None,
                line: 3
            })
        );
        assert_eq!(
            anchor(&finding((2, 1), (4, 1), None), &diff),
            Some(Anchor {
                start_line: Some(2),
                line: 4
            }),
            "a range inside one hunk"
        );
        assert_eq!(
            anchor(&finding((3, 1), (11, 1), None), &diff),
            Some(Anchor {
                start_line: None,
                line: 3
            }),
            "a range across hunks is anchored on its first commentable line"
        );
        assert_eq!(
            anchor(&finding((6, 1), (10, 1), None), &diff),
            Some(Anchor {
                start_line: None,
                line: 10
            }),
        );
        assert_eq!(
            anchor(&finding((6, 1), (7, 1), None), &diff),
            None,
            "outside every hunk"
        );
    }

    #[test]
    fn fixes_become_suggestions_of_whole_lines() {
        let head = "a\nb\ndata = yaml.load(s)\nd\n";
        let finding = finding((3, 8), (3, 20), Some("yaml.safe_load(s)"));
        let file = changed(head);
        let files = HashMap::from([("app.py", &file)]);
        let plan = plan(&[&finding], &files, 25);
        assert_eq!(plan.comments.len(), 1);
        let body = &plan.comments[0].body;
        assert!(
            body.contains("```suggestion\ndata = yaml.safe_load(s)\n```"),
            "{body}"
        );
        assert_eq!(fingerprint_in(body), Some("0123abcd"));
        assert!(body.contains("[CWE-502](https://cwe.mitre.org/data/definitions/502.html)"));
    }

    #[test]
    fn the_most_severe_come_first_and_the_cap_holds() {
        let a = finding((3, 1), (3, 2), None);
        let mut b = finding((11, 1), (11, 2), None);
        b.fingerprint = "beef".into();
        b.severity = Severity::Critical;
        let mut c = finding((1, 1), (1, 2), None);
        c.fingerprint = "cafe".into();
        c.severity = Severity::Low;
        let file = changed("");
        let files = HashMap::from([("app.py", &file)]);
        let plan = plan(&[&a, &b, &c], &files, 1);
        assert_eq!(plan.commented, vec!["beef"], "the most severe first");
        assert_eq!(plan.over_cap, 2);
    }

    #[test]
    fn one_problem_on_one_line_is_one_comment() {
        let mut secret = finding((3, 1), (3, 9), None);
        secret.rule_id = "secrets.github-pat".into();
        secret.cwe = Some("CWE-798".into());
        secret.severity = Severity::Critical;
        secret.fingerprint = "aa".into();
        let mut env = secret.clone();
        env.rule_id = "dockerfile.secret-in-env-or-arg".into();
        env.severity = Severity::High;
        env.message = "a secret in an image layer".into();
        env.fingerprint = "bb".into();
        let mut other = finding((3, 1), (3, 9), None);
        other.fingerprint = "cc".into();
        let file = changed("");
        let files = HashMap::from([("app.py", &file)]);
        let plan = plan(&[&env, &secret, &other], &files, 25);
        assert_eq!(plan.comments.len(), 2, "{:#?}", plan.comments);
        let both = plan
            .comments
            .iter()
            .find(|c| c.body.contains("secrets.github-pat"))
            .expect("the secret's comment");
        assert!(
            both.body.contains("dockerfile.secret-in-env-or-arg")
                && both.body.starts_with("**Critical**"),
            "{}",
            both.body
        );
        let marker = marker_in(&both.body).expect("marker");
        assert_eq!(marker.fingerprints, vec!["aa", "bb"]);
        assert_eq!(
            marker.rules,
            vec!["secrets.github-pat", "dockerfile.secret-in-env-or-arg"]
        );
        assert_eq!(plan.commented.len(), 3);
    }

    #[test]
    fn markers_round_trip_and_reject_garbage() {
        assert_eq!(
            fingerprint_in(&format!("text\n{}", marker(&["abc123".into()], &[]))),
            Some("abc123")
        );
        assert_eq!(
            fingerprint_in("text\n<!-- hunkscan:fingerprint=abc123 -->"),
            Some("abc123"),
            "markers of earlier versions"
        );
        assert_eq!(
            fingerprint_in("<!-- hunkscan:fingerprint=not hex -->"),
            None
        );
        assert_eq!(fingerprint_in("no marker"), None);
        // Only the trailing line counts: a marker earlier in the body (in
        // a suggestion block, a quoted name) is the pull request's text.
        assert_eq!(
            fingerprint_in(&format!("{}\ntext after", marker(&["abc123".into()], &[]))),
            None
        );
        assert_eq!(
            fingerprint_in(&format!(
                "```\n{}\n```\n{}",
                marker(&["f00d".into()], &[]),
                marker(&["beef".into()], &[])
            )),
            Some("beef")
        );
    }
}
