//! Suppressions written for Gitleaks and TruffleHog keep working: a
//! `.gitleaksignore` fingerprint (through the rules' declared Gitleaks
//! aliases) and a `trufflehog:ignore` comment on the secret's line. An
//! entry for another rule, file or line suppresses nothing.

use hunkscan::config::repo::RepoConfig;
use hunkscan::engine::secrets::GitleaksIgnore;
use hunkscan::engine::{ChangeSet, Content, Finding, ScanReport, SuppressionSource};
use hunkscan::local::changed_file;
use hunkscan::pipeline::{Options, Pipeline};
use serde_json::Value;
use std::process::Command;

// Fake tokens in their providers' formats; none is real.
const GITHUB: &str = "ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o";
const SLACK: &str = "xoxb-2741958300-4918273650-Qm7RtX2kVp9LwZc4NbH8sJfD";

fn scan(files: &[(&str, String)], ignore: &str) -> ScanReport {
    let pipeline = Pipeline::load(&Options::default()).expect("pipeline");
    let (gitleaks_ignore, problems) = GitleaksIgnore::parse(ignore);
    assert!(problems.is_empty(), "{problems:?}");
    let mut config = RepoConfig::default();
    config.gitleaks_ignore = gitleaks_ignore;
    let files = files
        .iter()
        .map(|(path, text)| {
            changed_file(path, Content::Absent, Content::Text(text.clone())).expect("diff")
        })
        .collect();
    pipeline.run(ChangeSet { files }, &config).report
}

fn at<'a>(report: &'a ScanReport, path: &str, line: u32) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.path == path && f.start.line == line)
        .unwrap_or_else(|| panic!("no finding at {path}:{line}"))
}

#[test]
fn a_gitleaksignore_fingerprint_suppresses_that_finding_only() {
    let app =
        format!("import os\nTOKEN = \"{GITHUB}\"\nOTHER = \"{GITHUB}\"\nSLACK = \"{SLACK}\"\n");
    let files = [("src/app.py", app.clone()), ("src/copy.py", app)];
    let ignore = "# accepted after rotation, 2026-02\n\
                  src/app.py:github-pat:2\n\
                  src/app.py:slack-bot-token:3\n\
                  4c1f0d9e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d:src/app.py:slack-bot-token:4\n";
    let report = scan(&files, ignore);
    let suppressed = at(&report, "src/app.py", 2)
        .suppression
        .as_ref()
        .expect("line 2 is fingerprinted");
    assert_eq!(suppressed.source, SuppressionSource::GitleaksIgnore);
    assert!(
        suppressed
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("line 2 of .gitleaksignore")),
        "{suppressed:?}"
    );
    // The commit-qualified form (`gitleaks git`) applies too.
    assert_eq!(
        at(&report, "src/app.py", 4)
            .suppression
            .as_ref()
            .map(|s| s.source),
        Some(SuppressionSource::GitleaksIgnore)
    );
    // Another rule's fingerprint on line 3 does not silence the GitHub token there.
    assert!(at(&report, "src/app.py", 3).suppression.is_none());
    // Nor does a fingerprint of another file.
    for line in [2, 3, 4] {
        assert!(
            at(&report, "src/copy.py", line).suppression.is_none(),
            "copy.py:{line}"
        );
    }
    assert_eq!(report.active().count(), 4);
    // SARIF says the suppression lives outside the file.
    let sarif = hunkscan::report::sarif::render(&report, &[]);
    let kinds: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["suppressions"][0]["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["external", "external"], "{kinds:?}");
}

#[test]
fn a_gitleaksignore_id_no_rule_declares_suppresses_nothing() {
    let app = format!("TOKEN = \"{GITHUB}\"\n");
    // `github-fine-grained-pat` is Gitleaks' id for another token kind.
    let report = scan(
        &[("app.py", app)],
        "app.py:github-fine-grained-pat:1\napp.py:secrets.github-pat:1\n",
    );
    assert_eq!(report.active().count(), 1);
}

#[test]
fn trufflehog_ignore_silences_secrets_on_its_own_line_only() {
    let text = format!(
        "import os\nA = \"{GITHUB}\"  # trufflehog:ignore\n# trufflehog:ignore\nB = \"{GITHUB}\"\nos.system(cmd)  # trufflehog:ignore\n"
    );
    let report = scan(&[("app.py", text)], "");
    let first = at(&report, "app.py", 2);
    assert_eq!(
        first.suppression.as_ref().map(|s| s.source),
        Some(SuppressionSource::Trufflehog)
    );
    // TruffleHog's marker has no next-line form.
    assert!(at(&report, "app.py", 4).suppression.is_none());
    // It is a secret scanner's marker: a code finding on its line stays.
    let code = report
        .findings
        .iter()
        .find(|f| f.start.line == 5)
        .expect("os.system finding");
    assert!(code.suppression.is_none(), "{:?}", code.suppression);
}

#[test]
fn trufflehog_ignore_covers_a_credential_file_reader() {
    let report = scan(
        &[(
            ".netrc",
            "machine api.acme.io login deploy password yZQn2cES4h8j6Yft1I # trufflehog:ignore\n"
                .to_owned(),
        )],
        "",
    );
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.active().count(), 0);
}

#[test]
fn the_cli_reads_gitleaksignore_from_the_base() {
    let base = tempfile::tempdir().expect("tempdir");
    let head = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        base.path().join(".gitleaksignore"),
        "deploy/run.sh:github-pat:2\nnot a fingerprint\n",
    )
    .expect("write");
    std::fs::create_dir_all(head.path().join("deploy")).expect("mkdir");
    std::fs::write(
        head.path().join("deploy/run.sh"),
        format!("#!/bin/sh\nexport GH_TOKEN={GITHUB}\nexport GH_TOKEN2={GITHUB}\n"),
    )
    .expect("write");
    // A `.gitleaksignore` the change itself adds does not count.
    std::fs::write(
        head.path().join(".gitleaksignore"),
        "deploy/run.sh:github-pat:2\ndeploy/run.sh:github-pat:3\n",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(["scan", "--base-tree"])
        .arg(base.path())
        .arg("--head-tree")
        .arg(head.path())
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let json: Value = serde_json::from_slice(&output.stdout).expect("json");
    let findings = json["findings"].as_array().expect("findings");
    let source_at = |line: u64| {
        findings
            .iter()
            .find(|f| f["path"] == "deploy/run.sh" && f["start"]["line"] == line)
            .map(|f| f["suppression"]["source"].clone())
    };
    assert_eq!(source_at(2), Some(Value::from("gitleaksignore")));
    assert_eq!(source_at(3), Some(Value::Null));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(".gitleaksignore line 2: not a fingerprint"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("R2d9XqL0vT7mKp4s"));
}
