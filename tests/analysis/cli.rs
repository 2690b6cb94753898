//! `hunkscan scan` and `hunkscan rules` as a user runs them: the real
//! binary, real git repositories in temporary directories, every output format.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn hunkscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// A repository with a base commit on `main` and a change on `feature`.
fn repo_with_change() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    std::fs::write(
        root.join("app.py"),
        "import subprocess\n\ndef old(cmd):\n    return subprocess.run(cmd, shell=True)\n",
    )
    .expect("write");
    std::fs::write(root.join("my file.py"), "x = 1\n").expect("write");
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "base"]);
    git(root, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(
        root.join("app.py"),
        "import os\nimport subprocess\n\ndef old(cmd):\n    return subprocess.run(cmd, shell=True)\n\ndef new(cmd):\n    os.system(cmd)\n",
    )
    .expect("write");
    std::fs::write(
        root.join("my file.py"),
        "x = 1\nimport yaml\ncfg = yaml.load(data)\n",
    )
    .expect("write");
    git(root, &["commit", "-q", "-am", "change"]);
    dir
}

fn fixture(side: &str) -> String {
    format!("{}/fixtures/sample-pr/{side}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn scan_of_a_branch_reports_only_added_lines_and_exits_1() {
    let repo = repo_with_change();
    let path = repo.path().to_str().expect("utf-8 temp path");
    let output = hunkscan(&[
        "scan", "--repo", path, "--base", "main", "--head", "feature",
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("app.py:8:5: HIGH [python.os-system-non-literal]"),
        "{text}"
    );
    assert!(
        text.contains("my file.py:3:7: HIGH [python.yaml-load-without-loader]"),
        "{text}"
    );
    assert!(
        !text.contains("subprocess-shell-true"),
        "unchanged line reported:\n{text}"
    );
    assert!(
        text.contains("  8 |     os.system(cmd)"),
        "source line shown:\n{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("2 findings (2 high), 0 suppressed; 2 files analysed, 0 skipped"),
        "{text}"
    );
}

#[test]
fn default_scan_compares_the_working_tree_with_head() {
    let repo = repo_with_change();
    let path = repo.path().to_str().expect("utf-8 temp path");
    let clean = hunkscan(&["scan", "--repo", path]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    std::fs::write(
        repo.path().join("app.py"),
        "import pickle\npickle.loads(blob)\n",
    )
    .expect("write");
    let dirty = hunkscan(&["scan", "--repo", path, "--format", "json"]);
    let json: Value = serde_json::from_slice(&dirty.stdout).expect("json");
    assert_eq!(json["findings"][0]["rule_id"], "python.pickle-load");
    assert_eq!(dirty.status.code(), Some(1));
}

#[test]
fn fail_on_sets_the_threshold() {
    // The branch adds two high findings and nothing critical.
    let repo = repo_with_change();
    let path = repo.path().to_str().expect("utf-8 temp path");
    let code = |fail_on: &str| {
        let args = [
            "scan",
            "--repo",
            path,
            "--base",
            "main",
            "--head",
            "feature",
            "--fail-on",
            fail_on,
        ];
        hunkscan(&args).status.code()
    };
    assert_eq!(code("critical"), Some(0));
    assert_eq!(code("high"), Some(1));
    assert_eq!(code("info"), Some(1));
}

#[test]
fn errors_exit_2_with_one_line_naming_the_problem() {
    let repo = repo_with_change();
    let path = repo.path().to_str().expect("utf-8 temp path");
    let cases: [(&[&str], &str); 4] = [
        (
            &["scan", "--repo", "/definitely/not/here"],
            "/definitely/not/here: no such directory",
        ),
        (
            &["scan", "--repo", path, "--base", "no-such-branch"],
            "unknown revision `no-such-branch`",
        ),
        (
            &["scan", "--repo", path, "--head", "nope~3"],
            "unknown revision `nope~3`",
        ),
        (
            &["scan", "--base-tree", "/nope/a", "--head-tree", "/nope/b"],
            "/nope/a: no such directory",
        ),
    ];
    for (args, message) in cases {
        let output = hunkscan(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let outside = tempfile::tempdir().expect("tempdir");
    let output = hunkscan(&["scan", "--repo", outside.path().to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a git repository"));
    let bad_flag = hunkscan(&["scan", "--fail-on", "severe"]);
    assert_eq!(bad_flag.status.code(), Some(2));
}

#[test]
fn json_output_is_versioned_and_lists_suppressed_and_skipped() {
    let output = hunkscan(&[
        "scan",
        "--base-tree",
        &fixture("base"),
        "--head-tree",
        &fixture("head"),
        "--format",
        "json",
    ]);
    let json: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["version"], 1);
    assert_eq!(json["summary"]["findings"], 10);
    assert_eq!(json["summary"]["suppressed"], 1);
    assert_eq!(
        json["summary"]["by_severity"],
        "1 critical, 7 high, 1 medium, 1 low"
    );
    let findings = json["findings"].as_array().expect("array");
    let suppressed: Vec<&Value> = findings
        .iter()
        .filter(|f| !f["suppression"].is_null())
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["suppression"]["source"], "hunkscan");
    assert_eq!(
        suppressed[0]["suppression"]["reason"],
        "cache key, not a security boundary"
    );
    for finding in findings {
        for key in [
            "rule_id",
            "analyzer",
            "severity",
            "confidence",
            "cwe",
            "path",
            "start",
            "end",
            "message",
            "fingerprint",
            "change",
        ] {
            assert!(!finding[key].is_null(), "{key} missing in {finding}");
        }
        assert_eq!(finding["fingerprint"].as_str().map(str::len), Some(32));
    }
    let skipped: Vec<&str> = json["skipped"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["path"].as_str())
        .collect();
    assert_eq!(skipped, vec!["app/broken.py", "app/logo.gif"]);
    let secret = findings
        .iter()
        .find(|f| f["rule_id"] == "secrets.aws-secret-access-key")
        .expect("secret found");
    assert_eq!(secret["analyzer"], "secrets");
    assert_eq!(secret["snippet"], "AWS_SECRET_ACCESS_KEY=wJ8r…(40 chars)");
    assert!(
        !output.stdout.windows(12).any(|w| w == b"xK9mQ4vB7nL1"),
        "the secret value is never printed"
    );
}

#[test]
fn sarif_output_has_what_github_code_scanning_reads() {
    let output = hunkscan(&[
        "scan",
        "--base-tree",
        &fixture("base"),
        "--head-tree",
        &fixture("head"),
        "--format",
        "sarif",
    ]);
    let sarif: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), 11, "10 active and 1 suppressed");
    for result in results {
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().expect("uri");
        assert!(
            !uri.starts_with('/') && !uri.contains("sample-pr"),
            "repository-relative: {uri}"
        );
        assert!(
            location["region"]["startLine"]
                .as_u64()
                .is_some_and(|l| l >= 1)
        );
        assert!(result["partialFingerprints"]["hunkscan/v2"].is_string());
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().expect("level")));
    }
    for rule in rules {
        assert!(rule["help"]["text"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(
            rule["properties"]["security-severity"]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .is_some()
        );
        assert!(rule["properties"]["tags"].as_array().is_some_and(|t| {
            t.iter()
                .any(|t| t.as_str().is_some_and(|t| t.starts_with("CWE-")))
        }));
    }
    let suppressed: Vec<&Value> = results
        .iter()
        .filter(|r| r["suppressions"].is_array())
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["suppressions"][0]["kind"], "inSource");
    assert_eq!(
        suppressed[0]["suppressions"][0]["justification"],
        "cache key, not a security boundary"
    );
}

#[test]
fn rules_test_passes_for_every_embedded_rule() {
    let output = hunkscan(&["rules", "test"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let python = text
        .lines()
        .filter(|l| l.starts_with("ok     python."))
        .count();
    let rust = text
        .lines()
        .filter(|l| l.starts_with("ok     rust."))
        .count();
    assert!(python >= 30, "at least 30 Python rules, got {python}");
    assert!(rust >= 12, "at least 12 Rust rules, got {rust}");
    let secrets = text
        .lines()
        .filter(|l| l.starts_with("ok     secrets."))
        .count();
    assert!(secrets >= 40, "at least 40 secret rules, got {secrets}");
}

/// Scans every file under `head` as newly added, with extra `rules`; the JSON report.
fn scan_tree_as_new(head: &Path, rules: &str) -> Value {
    let empty = tempfile::tempdir().expect("tempdir");
    let output = hunkscan(&[
        "scan",
        "--base-tree",
        empty.path().to_str().expect("utf-8"),
        "--head-tree",
        head.to_str().expect("utf-8"),
        "--rules",
        rules,
        "--format",
        "json",
    ]);
    serde_json::from_slice(&output.stdout).expect("json")
}

fn write_rule(dir: &Path, folder: &str, name: &str, body: &str) {
    std::fs::create_dir_all(dir.join(folder)).expect("mkdir");
    std::fs::write(dir.join(folder).join(name), body).expect("write rule");
}

const CUSTOM_RULE: &str = "id: python.no-print
language: python
severity: low
message: print() left in code
metadata:
  cwe: CWE-532
  confidence: high
  references: [https://cwe.mitre.org/data/definitions/532.html]
rule:
  pattern: print($$$)
valid:
  - log.info(x)
invalid:
  - print(x)
";

#[test]
fn rules_dir_adds_and_overrides_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_rule(dir.path(), "python", "no-print.yml", CUSTOM_RULE);
    // Replace an embedded rule: the override is off by raising its bar to a pattern that never occurs.
    write_rule(
        dir.path(),
        "python",
        "os-system.yml",
        &CUSTOM_RULE
            .replace("python.no-print", "python.os-system-non-literal")
            .replace("print($$$)", "os.system(NEVER_MATCHES_ANYTHING)")
            .replace("print(x)", "os.system(NEVER_MATCHES_ANYTHING)"),
    );
    let rules = dir.path().to_str().expect("utf-8");
    let head = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        head.path().join("a.py"),
        "import os\nprint(secret)\nos.system(cmd)\n",
    )
    .expect("write");
    let json = scan_tree_as_new(head.path(), rules);
    let ids: Vec<&str> = json["findings"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["rule_id"].as_str())
        .collect();
    assert_eq!(ids, vec!["python.no-print"]);
    let test = hunkscan(&["rules", "test", "--rules", rules]);
    assert_eq!(test.status.code(), Some(0), "{}", stdout(&test));
    assert!(stdout(&test).contains("ok     python.no-print"));
}

#[test]
fn a_broken_rule_is_an_error_naming_the_file_and_the_problem() {
    let cases = [
        (
            "typo.yml",
            CUSTOM_RULE.replace("cwe:", "cew:"),
            "unknown field `cew`",
        ),
        (
            "lang.yml",
            CUSTOM_RULE.replace("language: python", "language: java"),
            "may only target python or rust",
        ),
        (
            "sev.yml",
            CUSTOM_RULE.replace("severity: low", "severity: error"),
            "severity",
        ),
        (
            "pattern.yml",
            CUSTOM_RULE.replace("pattern: print($$$)", "pattern: \"print(\""),
            "python.no-print",
        ),
        (
            // YAML's "\b" is a backspace, not a word boundary.
            "backspace.yml",
            CUSTOM_RULE.replace(
                "  confidence: high\n",
                "  confidence: high\n  prefilter: [\"\\bprint\\b\"]\n",
            ),
            "holds a control character",
        ),
        (
            // The scan visits nodes by kind: a rule that names none would never run.
            "kindless.yml",
            CUSTOM_RULE.replace("pattern: print($$$)", "regex: ^print"),
            "must specify a set of AST kinds",
        ),
    ];
    for (name, body, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(dir.path(), "python", name, &body);
        let output = hunkscan(&[
            "rules",
            "test",
            "--rules",
            dir.path().to_str().expect("utf-8"),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: names the file: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
    let misplaced = tempfile::tempdir().expect("tempdir");
    write_rule(misplaced.path(), "java", "x.yml", CUSTOM_RULE);
    let output = hunkscan(&[
        "rules",
        "list",
        "--rules",
        misplaced.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("rule files must be in one of the folders")
    );
}

#[test]
fn rules_test_reports_noisy_and_missing_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_rule(
        dir.path(),
        "python",
        "bad.yml",
        &CUSTOM_RULE
            .replace("  - log.info(x)", "  - print(y)")
            .replace("  - print(x)", "  - log.info(x)"),
    );
    let output = hunkscan(&[
        "rules",
        "test",
        "--rules",
        dir.path().to_str().expect("utf-8"),
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED python.no-print"), "{text}");
    assert!(text.contains("Noisy: valid[0] matched 1 time(s)"), "{text}");
    assert!(text.contains("Missing: invalid[0] did not match"), "{text}");
    assert!(text.contains("1 failed"), "{text}");
}

#[test]
fn prefilter_skips_files_without_the_literal_and_rules_test_catches_a_wrong_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().to_str().expect("utf-8");
    let with_prefilter = CUSTOM_RULE.replace(
        "  confidence: high\n",
        "  confidence: high\n  prefilter: [print]\n",
    );
    write_rule(dir.path(), "python", "no-print.yml", &with_prefilter);
    let test = hunkscan(&["rules", "test", "--rules", rules]);
    assert_eq!(test.status.code(), Some(0), "{}", stdout(&test));

    let wrong = CUSTOM_RULE.replace(
        "  confidence: high\n",
        "  confidence: high\n  prefilter: [printf]\n",
    );
    write_rule(dir.path(), "python", "no-print.yml", &wrong);
    let test = hunkscan(&["rules", "test", "--rules", rules]);
    assert_eq!(test.status.code(), Some(1));
    assert!(
        stdout(&test).contains("Missing: invalid[0] is excluded by metadata.prefilter"),
        "{}",
        stdout(&test)
    );

    // With the wrong literal the rule never runs on the file, so nothing is found.
    let head = tempfile::tempdir().expect("tempdir");
    std::fs::write(head.path().join("a.py"), "print(secret)\n").expect("write");
    let json = scan_tree_as_new(head.path(), rules);
    assert!(
        json["findings"]
            .as_array()
            .expect("array")
            .iter()
            .all(|f| f["rule_id"] != "python.no-print")
    );
}

#[test]
fn serve_stops_at_start_up_with_one_line_naming_a_missing_or_bad_setting() {
    let empty = tempfile::tempdir().expect("tempdir");
    let run = |vars: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hunkscan"));
        // No inherited settings, and no .env in the working directory.
        command.arg("serve").env_clear().current_dir(empty.path());
        for (name, value) in vars {
            command.env(name, value);
        }
        command.output().expect("run hunkscan serve")
    };
    // No credentials at all is setup mode (tests/setup.rs); some without
    // the others is a half-configured deployment, which stops.
    let key = include_str!("../../fixtures/github/test-app-private-key.pem");
    let output = run(&[("GITHUB_PRIVATE_KEY", key), ("GITHUB_WEBHOOK_SECRET", "s")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("GITHUB_APP_ID: is not set"), "{stderr}");

    let output = run(&[
        ("GITHUB_APP_ID", "12"),
        ("GITHUB_PRIVATE_KEY", key),
        ("GITHUB_WEBHOOK_SECRET", "s"),
        ("PORT", "eighty"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PORT: must be a positive integer, got \"eighty\""),
        "{stderr}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "the key is never echoed");
}

#[test]
fn iac_change_kinds_show_in_text_json_and_sarif() {
    let base = fixture("base").replace("sample-pr", "iac");
    let head = fixture("head").replace("sample-pr", "iac");
    let text = hunkscan(&["scan", "--base-tree", &base, "--head-tree", &head]);
    assert_eq!(text.status.code(), Some(1));
    let out = stdout(&text);
    assert!(
        out.contains("CRITICAL [terraform.aws-security-group-open-admin-ports] regression: "),
        "{out}"
    );
    // The fixture deletes a trail that lacked log validation and a KMS key,
    // and a security group with open SSH; it makes a wildcard policy narrow.
    assert!(out.contains("Fixed by this change (4):"), "{out}");
    assert!(
        out.contains("infra/storage.tf:32 (base): CRITICAL [terraform.aws-iam-wildcard-admin]"),
        "{out}"
    );
    assert!(out.contains(", 4 fixed;"), "{out}");

    let json: Value = serde_json::from_str(&stdout(&hunkscan(&[
        "scan",
        "--base-tree",
        &base,
        "--head-tree",
        &head,
        "--format",
        "json",
    ])))
    .expect("json");
    assert_eq!(json["version"], 1);
    assert_eq!(json["summary"]["fixed"], 4);
    // `run-as-non-root-unset` is opt-in: the removal is `run-as-non-root-removed` alone.
    assert_eq!(json["summary"]["regressions"], 8);
    let findings = json["findings"].as_array().expect("findings");
    let active = findings
        .iter()
        .filter(|f| f["suppression"].is_null() && f["change"] != "fixed")
        .count();
    assert_eq!(json["summary"]["findings"], active);
    assert!(
        findings
            .iter()
            .any(|f| f["change"] == "regression" && f["analyzer"] == "iac")
    );

    let sarif: Value = serde_json::from_str(&stdout(&hunkscan(&[
        "scan",
        "--base-tree",
        &base,
        "--head-tree",
        &head,
        "--format",
        "sarif",
    ])))
    .expect("sarif");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let states: std::collections::BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r["baselineState"].as_str())
        .collect();
    assert_eq!(states, ["absent", "new", "updated"].into_iter().collect());
    let fixed = results
        .iter()
        .find(|r| r["baselineState"] == "absent")
        .expect("a fixed result");
    assert_eq!(
        (fixed["kind"].as_str(), fixed["level"].as_str()),
        (Some("pass"), Some("none"))
    );
}
