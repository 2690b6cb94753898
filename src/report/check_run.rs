//! Findings as the `hunkscan` check run's output: conclusion, title, a
//! Markdown summary a reviewer reads at a glance, and one annotation per
//! finding. Everything stays inside GitHub's limits, so completing the check
//! never fails with 422.

use super::review::cwe_link;
use super::severity_counts;
use super::triage::{self as triage_text, Dismissal, Gate};
use crate::engine::{ChangeKind, Finding, ScanReport, Severity};
use crate::github::types::Annotation;
use crate::render::{self, code_span};
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write;

/// GitHub's limit for `output.summary` and `output.text`, in characters.
pub const MAX_OUTPUT_CHARS: usize = 65_535;
/// GitHub's limit of annotations per create or update request.
pub const MAX_ANNOTATIONS_PER_REQUEST: usize = 50;
/// Annotations sent at most: each 50 cost a request against GitHub's limit
/// of 80 content-creating requests a minute; beyond this the summary says
/// how many more there are.
pub const MAX_ANNOTATIONS: usize = 1000;
/// GitHub's limit for an annotation title.
pub const MAX_ANNOTATION_TITLE_CHARS: usize = 255;

/// What the review step did, for the summary's footer.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReviewStats {
    /// Inline comments posted now.
    pub posted: usize,
    /// Findings already commented on by an earlier run.
    pub already_posted: usize,
    /// Findings outside the diff's hunks: annotations only.
    pub not_commentable: usize,
    /// Findings over the comment cap: annotations only.
    pub over_cap: usize,
    /// Threads of fixed findings resolved now.
    pub resolved: usize,
    /// Threads of reintroduced findings reopened now.
    pub reopened: usize,
}

/// Another open pull request whose head is the same commit: one check on
/// a commit judges every pull request it is the head of.
#[derive(Debug, Clone, Default)]
pub struct OtherPull {
    /// Its number.
    pub number: u64,
    /// Its new, undismissed findings, with the severities.
    pub new: Vec<Finding>,
    /// Fingerprints of those that fail the check.
    pub failing: BTreeSet<String>,
    /// Its dismissals.
    pub dismissals: Vec<Dismissal>,
}

/// What the check covers beyond one analysis: the pull request's number,
/// its dismissals in review, the other pull requests on the commit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Scope<'a> {
    /// The pull request analysed (0 for a merge group).
    pub number: u64,
    /// Fingerprints dismissed in review: not new problems any more.
    pub dismissed: Option<&'a HashSet<String>>,
    /// Those dismissals, for their section.
    pub dismissals: &'a [Dismissal],
    /// The other open pull requests whose head is this commit.
    pub others: &'a [OtherPull],
}

/// Everything the output is built from.
pub struct CheckContext<'a> {
    /// `https://github.com/owner/repo`, for links.
    pub repo_url: &'a str,
    /// The analysed commit.
    pub head_sha: &'a str,
    /// Findings and skips, after the repository config was applied.
    pub report: &'a ScanReport,
    /// Whether a finding of this severity fails the check.
    pub fails: &'a dyn Fn(Severity) -> bool,
    /// The `fail_on` setting as written, for the summary.
    pub fail_on: String,
    /// Lines for the Notes section (config problems, ignored paths, ...).
    pub notes: &'a [String],
    /// The review step's counts.
    pub review: ReviewStats,
    /// Dismissals and other pull requests.
    pub scope: Scope<'a>,
}

/// The output to send.
#[derive(Debug, Clone)]
pub struct CheckRunOutput {
    /// success or failure.
    pub conclusion: &'static str,
    /// One line.
    pub title: String,
    /// Markdown, within [`MAX_OUTPUT_CHARS`].
    pub summary: String,
    /// `output.text`: the hidden gate ([`Gate`]) that re-gating reads.
    pub text: Option<String>,
    /// Every annotation; the caller sends them in batches of
    /// [`MAX_ANNOTATIONS_PER_REQUEST`].
    pub annotations: Vec<Annotation>,
}

/// A finding this pull request is responsible for (new or a regression, not
/// suppressed).
pub fn is_new_problem(finding: &Finding) -> bool {
    finding.is_active() && finding.change != ChangeKind::Fixed
}

/// Builds the output.
pub fn build(context: &CheckContext<'_>) -> CheckRunOutput {
    let report = context.report;
    let scope = context.scope;
    let dismissed = |f: &Finding| scope.dismissed.is_some_and(|d| d.contains(&f.fingerprint));
    // Most severe first, then by place: a reviewer reads the worst first.
    let mut new: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| is_new_problem(f) && !dismissed(f))
        .collect();
    new.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| (&a.path, a.start).cmp(&(&b.path, b.start)))
    });
    let fixed: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.change == ChangeKind::Fixed)
        .collect();
    let suppressed: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.suppression.is_some())
        .collect();
    let mut gate = Gate {
        fail_on: context.fail_on.clone(),
        ..Gate::default()
    };
    gate.failing.insert(
        scope.number,
        new.iter()
            .filter(|f| (context.fails)(f.severity))
            .map(|f| f.fingerprint.clone())
            .collect(),
    );
    for other in scope.others {
        gate.failing.insert(other.number, other.failing.clone());
    }

    let mut title = match new.len() {
        0 => "No new findings".to_owned(),
        1 => format!(
            "1 new finding ({})",
            severity_counts(new.iter().map(|f| &f.severity))
        ),
        n => format!(
            "{n} new findings ({})",
            severity_counts(new.iter().map(|f| &f.severity))
        ),
    };
    if !fixed.is_empty() {
        let _ = write!(title, ", {} fixed", fixed.len());
    }

    let mut summary = String::new();
    let dismissed_count = scope.dismissals.len()
        + scope
            .others
            .iter()
            .map(|o| o.dismissals.len())
            .sum::<usize>();
    let _ = writeln!(
        summary,
        "**{title}** in {} analysed file{}. {}{}{}\n",
        report.files_analyzed,
        if report.files_analyzed == 1 { "" } else { "s" },
        triage_text::VERDICT_START,
        verdict(gate.conclusion(), &context.fail_on, dismissed_count),
        triage_text::VERDICT_END,
    );
    if !scope.others.is_empty() {
        pulls_table(&mut summary, context, &new, &gate);
    }
    summary.push_str(triage_text::DISMISSALS_START);
    let several = !scope.others.is_empty();
    summary.push_str(&triage_text::dismissals_block(
        scope.number,
        several,
        scope.dismissals,
    ));
    for other in scope.others {
        summary.push_str(&triage_text::dismissals_block(
            other.number,
            several,
            &other.dismissals,
        ));
    }
    summary.push_str(triage_text::DISMISSALS_END);
    summary.push_str("\n\n");
    if new.len() > MAX_ANNOTATIONS {
        let _ = writeln!(
            summary,
            "Only the first {MAX_ANNOTATIONS} findings are annotated, to stay within GitHub's limits; {} more are listed below (run `hunkscan scan` locally for all of them).\n",
            new.len() - MAX_ANNOTATIONS
        );
    }
    if !new.is_empty() {
        summary.push_str("| Severity | New |\n| --- | ---: |\n");
        for severity in Severity::ALL_DESCENDING {
            let count = new.iter().filter(|f| f.severity == severity).count();
            if count > 0 {
                let _ = writeln!(summary, "| {} | {count} |", capitalised(severity));
            }
        }
        summary.push_str("\n### New findings\n\n");
        for finding in &new {
            finding_line(&mut summary, context, finding);
        }
        if let Some(table) = super::deps::table(&new) {
            summary.push_str(&table);
        }
    }
    let regressions: Vec<&&Finding> = new
        .iter()
        .filter(|f| f.change == ChangeKind::Regression)
        .collect();
    if !regressions.is_empty() {
        summary.push_str("\n### Made worse by this pull request\n\n");
        for finding in regressions {
            finding_line(&mut summary, context, finding);
        }
    }
    if !fixed.is_empty() {
        summary.push_str("\n### Fixed by this pull request\n\n");
        for finding in &fixed {
            let _ = writeln!(
                summary,
                "- {} in {}: {}",
                code_span(&finding.rule_id),
                code_span(&finding.path),
                render::message(&finding.message)
            );
        }
    }
    if !suppressed.is_empty() {
        summary.push_str("\n### Suppressed in this pull request\n\n");
        for finding in &suppressed {
            if let Some(suppression) = &finding.suppression {
                let reason = match suppression.reason.as_deref() {
                    Some(reason) => render::text(reason),
                    None => "no reason given".to_owned(),
                };
                let _ = writeln!(
                    summary,
                    "- {} at {} ({}): {reason}",
                    code_span(&finding.rule_id),
                    location_link(context, finding),
                    suppression.source.as_str(),
                );
            }
        }
    }
    if !report.skipped.is_empty() {
        summary.push_str("\n### Skipped\n\n");
        for skipped in &report.skipped {
            let _ = writeln!(
                summary,
                "- {}: {}{}",
                code_span(&skipped.path),
                render::message(&skipped.reason),
                if skipped.partial {
                    " (the rest of the file was analysed)"
                } else {
                    ""
                }
            );
        }
    }
    if !context.notes.is_empty() {
        summary.push_str("\n### Notes\n\n");
        for note in context.notes {
            let _ = writeln!(summary, "- {}", render::message(note));
        }
    }
    let review = context.review;
    let _ = write!(
        summary,
        "\n<sub>hunkscan {} · {} inline comment{} posted",
        env!("CARGO_PKG_VERSION"),
        review.posted,
        if review.posted == 1 { "" } else { "s" }
    );
    if review.already_posted > 0 {
        let _ = write!(
            summary,
            ", {} already commented earlier",
            review.already_posted
        );
    }
    if review.not_commentable + review.over_cap > 0 {
        let _ = write!(
            summary,
            ", {} as annotations only ({} outside the diff, {} over the comment limit)",
            review.not_commentable + review.over_cap,
            review.not_commentable,
            review.over_cap
        );
    }
    if review.resolved > 0 {
        let _ = write!(
            summary,
            ", {} fixed thread{} resolved",
            review.resolved,
            if review.resolved == 1 { "" } else { "s" }
        );
    }
    if review.reopened > 0 {
        let _ = write!(
            summary,
            ", {} thread{} of reintroduced findings reopened",
            review.reopened,
            if review.reopened == 1 { "" } else { "s" }
        );
    }
    summary.push_str("</sub>\n");

    let mut annotations: Vec<Annotation> = new
        .iter()
        .take(MAX_ANNOTATIONS)
        .map(|f| annotation(f, context))
        .collect();
    // The other pull requests' findings are on the same commit: annotated
    // too, once each.
    for finding in scope.others.iter().flat_map(|o| &o.new) {
        if annotations.len() >= MAX_ANNOTATIONS {
            break;
        }
        let candidate = annotation(finding, context);
        if !annotations
            .iter()
            .any(|a| a.raw_details == candidate.raw_details && a.start_line == candidate.start_line)
        {
            annotations.push(candidate);
        }
    }
    CheckRunOutput {
        conclusion: gate.conclusion(),
        title: truncate(&title, MAX_ANNOTATION_TITLE_CHARS, ""),
        summary: truncate(
            &summary,
            MAX_OUTPUT_CHARS,
            "\n\n**Summary truncated** at GitHub's 65,535-character limit; the annotations list the findings.\n",
        ),
        // A gate too large for `text` is left out: a dismissal then waits
        // for the next analysis to change the conclusion.
        text: Some(gate.marker()).filter(|m| m.len() <= MAX_OUTPUT_CHARS),
        annotations,
    }
}

/// The verdict sentence, between the summary's verdict markers.
pub fn verdict(conclusion: &str, fail_on: &str, dismissed: usize) -> String {
    let set_aside = match dismissed {
        0 => String::new(),
        1 => " (1 finding dismissed in review is set aside)".to_owned(),
        n => format!(" ({n} findings dismissed in review are set aside)"),
    };
    if conclusion == "failure" {
        format!("The check fails: at least one new finding is at or above `{fail_on}`{set_aside}.")
    } else {
        format!("The check passes: nothing new at or above `{fail_on}`{set_aside}.")
    }
}

/// The check's title with its dismissal count brought up to date.
pub fn title_with_dismissals(title: &str, dismissed: usize) -> String {
    let base = match title.rsplit_once(", ") {
        Some((base, last)) if last.ends_with(" dismissed") => base,
        _ => title,
    };
    let title = match dismissed {
        0 => base.to_owned(),
        n => format!("{base}, {n} dismissed"),
    };
    truncate(&title, MAX_ANNOTATION_TITLE_CHARS, "")
}

fn pulls_table(out: &mut String, context: &CheckContext<'_>, new: &[&Finding], gate: &Gate) {
    out.push_str("This commit is the head of several open pull requests; the check judges them all.\n\n| Pull request | New findings | Verdict |\n| --- | --- | --- |\n");
    let mut row = |number: u64, severities: Vec<Severity>| {
        let verdict = if gate.failing.get(&number).is_some_and(|f| !f.is_empty()) {
            "fails"
        } else {
            "passes"
        };
        let counts = if severities.is_empty() {
            "none".to_owned()
        } else {
            format!(
                "{} ({})",
                severities.len(),
                severity_counts(severities.iter())
            )
        };
        let _ = writeln!(
            out,
            "| [\\#\u{200B}{number}]({}/pull/{number}) | {counts} | {verdict} |",
            context.repo_url
        );
    };
    row(
        context.scope.number,
        new.iter().map(|f| f.severity).collect(),
    );
    for other in context.scope.others {
        row(other.number, other.new.iter().map(|f| f.severity).collect());
    }
    out.push('\n');
}

fn capitalised(severity: Severity) -> String {
    let name = severity.as_str();
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

fn location_link(context: &CheckContext<'_>, finding: &Finding) -> String {
    let lines = if finding.end.line > finding.start.line {
        format!("L{}-L{}", finding.start.line, finding.end.line)
    } else {
        format!("L{}", finding.start.line)
    };
    format!(
        "[{}]({}/blob/{}/{}#{lines})",
        code_span(&format!("{}:{}", finding.path, finding.start.line)),
        context.repo_url,
        context.head_sha,
        percent_encode_path(&finding.path)
    )
}

fn finding_line(out: &mut String, context: &CheckContext<'_>, finding: &Finding) {
    let _ = write!(
        out,
        "- **{}** {} at {}: {}",
        capitalised(finding.severity),
        code_span(&finding.rule_id),
        location_link(context, finding),
        render::message(finding.message.lines().next().unwrap_or_default())
    );
    if let Some(cwe) = &finding.cwe {
        let _ = write!(out, " ({})", cwe_link(cwe));
    }
    out.push('\n');
}

/// Path segments with spaces and the like, as GitHub's blob URLs want them.
fn percent_encode_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => {
                let _ = write!(encoded, "%{byte:02X}");
            }
        }
    }
    encoded
}

fn annotation(finding: &Finding, context: &CheckContext<'_>) -> Annotation {
    let level = match finding.severity {
        _ if (context.fails)(finding.severity) => "failure",
        Severity::Critical | Severity::High | Severity::Medium => "warning",
        Severity::Low | Severity::Info => "notice",
    };
    let same_line = finding.start.line == finding.end.line;
    // Annotations are plain text: GitHub shows them without Markdown.
    let mut message = render::plain(&finding.message);
    if let Some(remediation) = &finding.remediation {
        let _ = write!(message, "\n\n{}", render::plain(remediation));
    }
    let mut details = format!(
        "rule: {}\nfingerprint: {}",
        finding.rule_id, finding.fingerprint
    );
    if let Some(cwe) = &finding.cwe {
        let _ = write!(details, "\ncwe: {cwe}");
    }
    Annotation {
        path: finding.path.clone(),
        start_line: finding.start.line,
        end_line: finding.end.line.max(finding.start.line),
        start_column: same_line.then_some(finding.start.column),
        end_column: same_line.then_some(finding.end.column.max(finding.start.column)),
        annotation_level: level.to_owned(),
        message: truncate(&message, MAX_OUTPUT_CHARS, ""),
        title: truncate(
            &format!("[{}] {}", finding.severity.as_str(), finding.rule_id),
            MAX_ANNOTATION_TITLE_CHARS,
            "",
        ),
        raw_details: Some(details),
    }
}

/// `text` cut to at most `limit` characters, `note` included.
pub fn truncate(text: &str, limit: usize, note: &str) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let keep = limit.saturating_sub(note.chars().count());
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(note);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{AnalyzerKind, Confidence, Position, Skipped};

    fn finding(severity: Severity, line: u32, change: ChangeKind) -> Finding {
        Finding {
            rule_id: format!("python.rule-{line}"),
            analyzer: AnalyzerKind::Sast,
            severity,
            confidence: Confidence::High,
            cwe: Some("CWE-78".into()),
            path: "src/my app.py".into(),
            start: Position { line, column: 3 },
            end: Position { line, column: 9 },
            message: "shell=True with a non-literal command".into(),
            remediation: None,
            fix: None,
            fingerprint: format!("{line:032x}"),
            change,
            suppression: None,
            snippet: String::new(),
            flow: Vec::new(),
        }
    }

    fn build_for(report: &ScanReport, notes: &[String]) -> CheckRunOutput {
        let fails = |s: Severity| s >= Severity::High;
        build(&CheckContext {
            repo_url: "https://github.com/o/r",
            head_sha: "abc",
            report,
            fails: &fails,
            fail_on: "high".into(),
            notes,
            review: ReviewStats::default(),
            scope: Scope::default(),
        })
    }

    #[test]
    fn conclusion_title_and_links() {
        let report = ScanReport {
            findings: vec![
                finding(Severity::High, 4, ChangeKind::New),
                finding(Severity::Medium, 9, ChangeKind::New),
                finding(Severity::Critical, 20, ChangeKind::Fixed),
            ],
            skipped: vec![Skipped {
                path: "logo.png".into(),
                analyzer: None,
                reason: "binary file".into(),
                partial: false,
            }],
            files_analyzed: 2,
        };
        let output = build_for(&report, &["config: bad".into()]);
        assert_eq!(output.conclusion, "failure");
        assert_eq!(output.title, "2 new findings (1 high, 1 medium), 1 fixed");
        assert!(
            output.summary.contains(
                "[`src/my app.py:4`](https://github.com/o/r/blob/abc/src/my%20app.py#L4)"
            ),
            "{}",
            output.summary
        );
        assert!(output.summary.contains("### Fixed by this pull request"));
        assert!(output.summary.contains("- `logo.png`: binary file"));
        assert!(output.summary.contains("- config: bad"));
        assert_eq!(
            output.annotations.len(),
            2,
            "fixed findings are not annotated"
        );
        assert_eq!(output.annotations[0].annotation_level, "failure");
        assert_eq!(output.annotations[1].annotation_level, "warning");
        assert_eq!(output.annotations[0].start_column, Some(3));
    }

    #[test]
    fn findings_are_listed_most_severe_first_then_by_place() {
        let report = ScanReport {
            findings: vec![
                finding(Severity::High, 2, ChangeKind::New),
                finding(Severity::Low, 1, ChangeKind::New),
                finding(Severity::Critical, 9, ChangeKind::New),
                finding(Severity::High, 1, ChangeKind::New),
            ],
            skipped: vec![],
            files_analyzed: 1,
        };
        let output = build_for(&report, &[]);
        let order: Vec<&str> = output
            .summary
            .lines()
            .filter(|l| l.starts_with("- **"))
            .filter_map(|l| l.split('`').nth(1))
            .collect();
        assert_eq!(
            order,
            [
                "python.rule-9",
                "python.rule-1",
                "python.rule-2",
                "python.rule-1"
            ]
        );
        assert_eq!(output.annotations[0].title, "[critical] python.rule-9");
    }

    #[test]
    fn below_threshold_passes_and_multi_line_annotations_drop_columns() {
        let mut low = finding(Severity::Medium, 4, ChangeKind::New);
        low.end.line = 6;
        let report = ScanReport {
            findings: vec![low],
            skipped: vec![],
            files_analyzed: 1,
        };
        let output = build_for(&report, &[]);
        assert_eq!(output.conclusion, "success");
        assert_eq!(output.title, "1 new finding (1 medium)");
        assert_eq!(output.annotations[0].start_column, None);
        assert_eq!(output.annotations[0].end_column, None);
    }

    #[test]
    fn huge_summaries_are_cut_with_a_note() {
        let findings: Vec<Finding> = (1..=3000)
            .map(|l| finding(Severity::Low, l, ChangeKind::New))
            .collect();
        let report = ScanReport {
            findings,
            skipped: vec![],
            files_analyzed: 1,
        };
        let output = build_for(&report, &[]);
        assert!(output.summary.chars().count() <= MAX_OUTPUT_CHARS);
        assert!(output.summary.contains("Summary truncated"));
        assert_eq!(output.annotations.len(), MAX_ANNOTATIONS);
        assert!(
            output
                .summary
                .contains("Only the first 1000 findings are annotated")
        );
    }
}
