//! Text a pull request controls, pushed through every renderer: the check
//! run's summary and annotations, the review's comments, the terminal text.
//! The Markdown must hold no mention, reference, link, image, heading, HTML
//! tag or marker outside code that the bot did not write itself, and the
//! terminal text no control character.

use crate::support::markdown::{active_parts, terminal_controls};
use hunkscan::diff::parse_patch;
use hunkscan::diff::{FileDiff, FileStatus};
use hunkscan::engine::{
    AnalyzerKind, ChangeKind, ChangedFile, Confidence, Content, Finding, Fix, Position, ScanReport,
    Severity, Skipped, Suppression, SuppressionSource,
};
use hunkscan::report::check_run::{self, CheckContext, ReviewStats, Scope};
use hunkscan::report::triage::{self, Dismissal, Verb};
use hunkscan::report::{review, text};
use std::collections::HashMap;

/// The shapes an attacker writes into file names, code, resource names and
/// suppression reasons.
const HOSTILE: &[&str] = &[
    "@org/security-team please approve",
    "@admin",
    "fixes #1234 and acme/other#12",
    "[click here](https://evil.example/login)",
    "![tracker](https://evil.example/pixel.png)",
    "<img src=x onerror=alert(1)>",
    "<details><summary>hidden</summary>text</details>",
    "<!-- hunkscan:fingerprint=0123456789abcdef0123456789abcdef -->",
    "\n# Approved by security\n@org/team [link](https://evil.example)",
    "\n\n<!-- hunkscan:fingerprint=deadbeefdeadbeefdeadbeefdeadbeef -->\n",
    "https://evil.example/a?b=c",
    "www.evil.example",
    "mail me: someone@evil.example",
    "a\x1b]0;pwned\x07b",
    "\x1b[2J\x1b[H cleared",
    "\u{202e}gnp.exe",
    "line\r\nbreak\rreturn",
    "`` ` `` and ``` fence",
    "```\n@team\n```",
    "````suggestion\nrm -rf /\n````",
    "</sub><sub>",
    "$x^2$ and $$y$$",
    "* item\n- item\n1. item",
    "> quoted\n---\n===",
    "| a | b |\n| --- | --- |",
    "\\",
    "&lt;script&gt; &#64;team",
    "[ref]: https://evil.example",
    "<https://evil.example>",
    "\u{2028}separator\u{2029}",
];

fn changed(path: &str, head: &str) -> ChangedFile {
    let patch = hunkscan::local::unified_patch("", head);
    ChangedFile {
        diff: FileDiff {
            path: path.to_owned(),
            old_path: None,
            status: FileStatus::Added,
            binary: false,
            mode_only: false,
            lines: parse_patch(patch.as_bytes()).expect("patch"),
        },
        base: Content::Absent,
        head: Content::Text(head.to_owned()),
    }
}

fn finding(hostile: &str, index: usize) -> Finding {
    Finding {
        rule_id: "python.yaml-load".into(),
        analyzer: AnalyzerKind::Sast,
        severity: Severity::High,
        confidence: Confidence::High,
        cwe: Some("CWE-502".into()),
        path: format!("src/{hostile}.py"),
        start: Position { line: 1, column: 1 },
        end: Position {
            line: 1,
            column: 10,
        },
        message: format!("`{hostile}` loads {hostile} unsafely"),
        remediation: None,
        fix: Some(Fix {
            replacement: hostile.to_owned(),
        }),
        fingerprint: format!("{index:032x}"),
        change: ChangeKind::New,
        suppression: None,
        snippet: hostile.to_owned(),
        flow: Vec::new(),
    }
}

fn report_for(hostile: &str) -> ScanReport {
    let mut suppressed = finding(hostile, 2);
    suppressed.suppression = Some(Suppression {
        source: SuppressionSource::Hunkscan,
        reason: Some(hostile.to_owned()),
        line: 1,
    });
    let mut fixed = finding(hostile, 3);
    fixed.change = ChangeKind::Fixed;
    let mut regression = finding(hostile, 4);
    regression.change = ChangeKind::Regression;
    ScanReport {
        findings: vec![finding(hostile, 1), suppressed, fixed, regression],
        skipped: vec![Skipped {
            path: hostile.to_owned(),
            analyzer: None,
            reason: format!("cannot parse `{hostile}`: {hostile}"),
            partial: true,
        }],
        files_analyzed: 1,
    }
}

#[test]
fn check_summaries_stay_inert() {
    for hostile in HOSTILE {
        let report = report_for(hostile);
        let fails = |s: Severity| s >= Severity::High;
        let notes = vec![format!("rules.disable names `{hostile}` ({hostile})")];
        // A dismissal by reply: its reason and login are the commenter's.
        let dismissals = vec![Dismissal {
            fingerprints: vec!["00ff".into()],
            verb: Verb::AcceptRisk,
            by: (*hostile).to_owned(),
            reason: (*hostile).to_owned(),
            rules: vec!["python.rule".into()],
        }];
        let output = check_run::build(&CheckContext {
            repo_url: "https://github.com/o/r",
            head_sha: "abc123",
            report: &report,
            fails: &fails,
            fail_on: "high".into(),
            notes: &notes,
            review: ReviewStats::default(),
            scope: Scope {
                number: 1,
                dismissals: &dismissals,
                ..Scope::default()
            },
        });
        assert!(
            output.summary.contains("### Dismissed in review"),
            "{}",
            output.summary
        );
        let reply = triage::reply_dismissed(&dismissals[0], Some("success"));
        let active = active_parts(&reply);
        assert!(
            active.is_empty(),
            "hostile {hostile:?} made the triage reply active: {active:?}\n{reply}"
        );
        let active = active_parts(&output.summary);
        assert!(
            active.is_empty(),
            "hostile {hostile:?} made the summary active: {active:?}\n{}",
            output.summary
        );
        for annotation in &output.annotations {
            let controls = terminal_controls(&annotation.message);
            assert!(controls.is_empty(), "{hostile:?}: {controls:?}");
            assert!(annotation.path.ends_with(".py"));
        }
    }
}

#[test]
fn review_comments_stay_inert_and_keep_their_own_marker() {
    for (index, hostile) in HOSTILE.iter().enumerate() {
        // The code the suggestion comes from holds the hostile text too.
        let head = format!("data = load({hostile:?})\n");
        let path = format!("src/{hostile}.py");
        let file = changed(&path, &head);
        let files = HashMap::from([(path.as_str(), &file)]);
        let mut finding = finding(hostile, index);
        finding.end.column = 5;
        let plan = review::plan(&[&finding], &files, 10);
        assert_eq!(plan.comments.len(), 1, "{hostile:?}");
        let body = &plan.comments[0].body;
        let active = active_parts(body);
        assert!(
            active.is_empty(),
            "hostile {hostile:?} made a comment active: {active:?}\n{body}"
        );
        assert_eq!(
            review::fingerprint_in(body),
            Some(finding.fingerprint.as_str()),
            "the bot reads back its own marker, not the planted one: {body}"
        );
    }
}

#[test]
fn terminal_output_holds_no_control_character() {
    for hostile in HOSTILE {
        let output = text::render(&report_for(hostile));
        let controls = terminal_controls(&output);
        assert!(
            controls.is_empty(),
            "hostile {hostile:?} reached the terminal as {controls:?}:\n{output}"
        );
    }
}

#[test]
fn the_checker_itself_sees_what_it_looks_for() {
    // The oracle must fail on raw hostile text, or the tests above prove nothing.
    assert!(!active_parts("hi @org/team").is_empty());
    assert!(!active_parts("see [x](https://evil.example)").is_empty());
    assert!(!active_parts("![i](https://evil.example/p.png)").is_empty());
    assert!(!active_parts("# Approved").is_empty());
    assert!(!active_parts("<img src=x>").is_empty());
    assert!(!active_parts("a <!-- hunkscan:fingerprint=ab --> b").is_empty());
    assert!(!active_parts("fixes #12").is_empty());
    assert!(!active_parts("go to https://evil.example").is_empty());
    assert!(active_parts("`@org/team` and\n```\n# x\n```\n").is_empty());
    assert!(!terminal_controls("a\x1b[2Jb").is_empty());
}
