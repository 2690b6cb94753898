//! Unit tests of the secrets analyzer: deadlines, one finding per value,
//! dropped candidates, messages, documentation files, other scanners' ids.

use super::*;
use crate::engine::Content;

fn analyzer() -> SecretsAnalyzer {
    let rules = SecretRules::load(None).expect("embedded rules load");
    SecretsAnalyzer::new(
        rules,
        DEFAULT_FINGERPRINT_KEY.to_vec(),
        SecretsOptions::default(),
    )
}

fn analyze(head: &str, deadline: Deadline) -> FileOutcome {
    let file = crate::local::changed_file("app.env", Content::Absent, Content::Text(head.into()))
        .expect("diffable");
    let mut out = FileOutcome {
        deadline,
        ..FileOutcome::default()
    };
    analyzer().analyze(&file, head, &mut out);
    out
}

#[test]
fn a_deadline_passing_during_the_scan_keeps_the_lines_read_before() {
    let head = "AWS_ACCESS_KEY_ID=AKIAZ7Q4XW2M9RT3LPKE\n".repeat(40);
    let complete = analyze(&head, Deadline::none());
    assert_eq!(complete.findings.len(), 40);
    let stopped = analyze(&head, Deadline::after_questions(20));
    let found = stopped.findings.len();
    assert!(found > 0 && found < 40, "{found} findings");
    assert_eq!(stopped.skipped.len(), 1, "{:?}", stopped.skipped);
    let skipped = &stopped.skipped[0];
    assert_eq!(
        (skipped.analyzer, skipped.partial),
        (Some(AnalyzerKind::Secrets), true)
    );
    assert!(skipped.reason.contains("deadline"), "{}", skipped.reason);
}

#[test]
fn many_values_on_one_line_are_each_reported_once() {
    // The overlap check is a look-up per value; the result is the same
    // as comparing with every value before it on the line.
    let line = (0..300)
        .map(|index| format!("AKIAZ7Q4XW2M9RT3{index:04}"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = analyze(&line, Deadline::none());
    assert_eq!(out.findings.len(), 300);
    let mut columns: Vec<u32> = out
        .findings
        .iter()
        .map(|f| f.finding.start.column)
        .collect();
    columns.dedup();
    assert_eq!(columns.len(), 300);
}

#[test]
fn dropped_candidates_carry_a_reason_and_a_masked_value_only() {
    let text = "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\
                aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n\
                api_key = \"<your-api-key>\"\n";
    let dropped = analyzer().dropped_in("app.env", text);
    let lines: Vec<(u32, &str)> = dropped
        .iter()
        .map(|d| (d.line, d.rule_id.as_str()))
        .collect();
    assert!(lines.contains(&(1, "secrets.github-pat")), "{lines:?}");
    assert!(
        lines.contains(&(2, "secrets.aws-access-key-id")),
        "{lines:?}"
    );
    let github = dropped.iter().find(|d| d.line == 1).expect("github");
    assert_eq!(github.value, "ghp_…(40 chars)");
    assert_eq!(github.explanation, "placeholder: a run of `x`");
    assert_eq!(github.column, 14);
    let json = serde_json::to_string(&dropped).expect("json");
    assert!(
        !json.contains("xxxxxxxx") && !json.contains("IOSFODNN"),
        "{json}"
    );
    assert!(json.contains("\"code\":\"placeholder\""), "{json}");
}

#[test]
fn the_generic_message_names_no_provider() {
    let found = analyzer().findings_in("a.py", "db_password = \"Zr8Qm3Tx6Lw1Vb9K\"", None);
    let message = &found[0].finding.message;
    assert!(!message.contains("Generic"), "{message}");
    assert!(message.ends_with("Revoke and rotate it now."), "{message}");
}

#[test]
fn documentation_files_report_at_low_confidence_and_drop_made_up_values() {
    let analyzer = analyzer();
    let doc = analyzer.findings_in(
        "docs/setup.md",
        "export GITHUB_TOKEN=ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\npassword = \"mypass-Rk7vQ2x9\"",
        None,
    );
    assert_eq!(
        doc.len(),
        1,
        "{:?}",
        doc.iter().map(|f| &f.finding.rule_id).collect::<Vec<_>>()
    );
    assert_eq!(doc[0].finding.confidence, Confidence::Low);
    let code = analyzer.findings_in("setup.py", "password = \"mypass-Rk7vQ2x9\"", None);
    assert_eq!(code.len(), 1);
}

#[test]
fn another_scanners_rule_id_in_a_hunkscan_marker_silences_the_rule() {
    let found = analyzer().findings_in(
        "a.py",
        "# hunkscan:ignore github-pat -- revoked fixture\nT = \"ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\"",
        None,
    );
    let suppression = found[0].finding.suppression.as_ref().expect("suppressed");
    assert_eq!(suppression.line, 1);
    assert_eq!(suppression.reason.as_deref(), Some("revoked fixture"));
    let other = analyzer().findings_in(
        "a.py",
        "# hunkscan:ignore slack-bot-token\nT = \"ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\"",
        None,
    );
    assert!(other[0].finding.suppression.is_none());
}

#[test]
fn every_embedded_rule_builds_its_regexes() {
    let rules = SecretRules::load(None).expect("embedded rules load");
    let broken: Vec<String> = rules
        .rules()
        .iter()
        .filter_map(|rule| rule.build_regexes().err().map(|e| e.to_string()))
        .collect();
    assert!(rules.len() > 100, "{}", rules.len());
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn a_rule_is_built_only_once_a_line_holds_its_keyword() {
    let analyzer = analyzer();
    let rule_of = |keyword: &str| {
        analyzer
            .rules()
            .rules()
            .iter()
            .find(|rule| rule.keywords.iter().any(|k| k == keyword))
            .map(|rule| rule.id.clone())
            .expect("a rule with this keyword")
    };
    let (aws, slack) = (rule_of("AKIA"), rule_of("xoxb-"));
    let built = |id: &str| {
        analyzer
            .rules()
            .rules()
            .iter()
            .any(|rule| rule.id == id && rule.regex.is_built())
    };
    assert!(!built(&aws) && !built(&slack));
    let head = "AWS_ACCESS_KEY_ID=AKIAZ7Q4XW2M9RT3LPKE\n";
    let file = crate::local::changed_file("app.env", Content::Absent, Content::Text(head.into()))
        .expect("diffable");
    let mut out = FileOutcome::default();
    analyzer.analyze(&file, head, &mut out);
    assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
    assert!(built(&aws) && !built(&slack));
}

#[test]
fn a_users_rule_whose_regex_cannot_be_built_is_refused_at_load() {
    let dir = crate::rules::folder_with_rule(
        "secrets",
        "huge.yml",
        "id: secrets.huge\nprovider: Acme\ntitle: Acme key\nseverity: high\nconfidence: high\nregex: '\\w{1000}\\w{1000}\\w{1000}'\nkeywords: [acme]\n",
    );
    let error = SecretRules::load(Some(dir.path()))
        .err()
        .expect("refused at load");
    let text = error.to_string();
    assert!(
        text.contains("huge.yml") && text.contains("secrets.huge"),
        "{text}"
    );
    assert!(text.contains("size limit"), "{text}");
}
