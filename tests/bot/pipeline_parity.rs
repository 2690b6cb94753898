//! One pipeline for both front ends: the same change with the same
//! `.github/hunkscan.yml` judged by `hunkscan scan` and by the bot (through
//! the GitHub emulator) gives the same findings, suppressions and verdict;
//! and the CLI reads that configuration from the base of the change, from
//! `--config`, or not at all with `--no-config`.

use crate::support::bot::{Harness, REPO};
use crate::support::github_emulator::{FileSpec, PullSpec};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

/// The base's configuration: every kind of setting the pipeline applies.
const CONFIG: &str = "fail_on: medium\npaths:\n  ignore: [\"vendor/**\"]\nrules:\n  disable: [python.tempfile-mktemp]\n  severity:\n    python.os-system-non-literal: low\n";

const APP_BASE: &str = "import os\nimport subprocess\nimport tempfile\nimport yaml\n";

fn app_head() -> String {
    format!(
        "{APP_BASE}\n\ndef run(cmd, stream):\n    os.system(cmd)\n    subprocess.run(cmd, shell=True)\n    name = tempfile.mktemp()\n    # hunkscan:ignore python.yaml-load-without-loader -- trusted fixture\n    return yaml.load(stream), name\n"
    )
}

const VENDORED: &str = "import os\n\n\ndef go(cmd):\n    os.system(cmd)\n";
const DOCKERFILE: &str = "FROM python:3.12.4-slim\nRUN curl https://get.example.sh | sh\n";

fn hunkscan(args: &[&str], dir: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hunkscan"));
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.output().expect("hunkscan runs")
}

/// (path, line, rule, severity) of every active finding.
type Active = BTreeSet<(String, u64, String, String)>;

fn cli_findings(json: &Value) -> (Active, usize) {
    let mut active = Active::new();
    let mut suppressed = 0;
    for finding in json["findings"].as_array().expect("findings") {
        if finding["change"] == "fixed" {
            continue;
        }
        if !finding["suppression"].is_null() {
            suppressed += 1;
            continue;
        }
        active.insert((
            finding["path"].as_str().unwrap_or_default().to_owned(),
            finding["start"]["line"].as_u64().unwrap_or_default(),
            finding["rule_id"].as_str().unwrap_or_default().to_owned(),
            finding["severity"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    (active, suppressed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_bot_judge_a_change_alike() {
    // The command line, over two trees, the config in the base tree.
    let trees = tempfile::tempdir().expect("tempdir");
    let (base, head) = (trees.path().join("base"), trees.path().join("head"));
    for dir in [&base, &head] {
        std::fs::create_dir_all(dir.join(".github")).expect("dirs");
        std::fs::create_dir_all(dir.join("vendor")).expect("dirs");
        std::fs::write(dir.join(".github/hunkscan.yml"), CONFIG).expect("config");
        std::fs::write(dir.join("app.py"), APP_BASE).expect("app");
    }
    std::fs::write(head.join("app.py"), app_head()).expect("app");
    std::fs::write(head.join("vendor/lib.py"), VENDORED).expect("vendor");
    std::fs::write(head.join("Dockerfile"), DOCKERFILE).expect("dockerfile");
    let output = hunkscan(
        &[
            "scan",
            "--format",
            "json",
            "--base-tree",
            base.to_str().expect("utf-8"),
            "--head-tree",
            head.to_str().expect("utf-8"),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("config: .github/hunkscan.yml in"),
        "{stderr}"
    );
    assert!(stderr.contains("ignored by `paths.ignore`"), "{stderr}");
    let json: Value = serde_json::from_slice(&output.stdout).expect("json");
    let (cli_active, cli_suppressed) = cli_findings(&json);
    let cli_fails = output.status.code() == Some(1);

    // The bot, the config on the base commit.
    let h = Harness::start().await;
    h.github
        .put_file(REPO, "base0051", ".github/hunkscan.yml", CONFIG);
    h.open(PullSpec {
        number: 51,
        base_sha: "base0051".into(),
        head_sha: "head0051".into(),
        draft: false,
        files: vec![
            FileSpec::modified("app.py", APP_BASE, &app_head()),
            FileSpec::added("vendor/lib.py", VENDORED),
            FileSpec::added("Dockerfile", DOCKERFILE),
        ],
    })
    .await;
    let check = h.completed_check("head0051").await;
    let bot_active: Active = check
        .annotations
        .iter()
        .map(|a| {
            let title = a.title.clone().unwrap_or_default();
            let (severity, rule) = title
                .trim_start_matches('[')
                .split_once("] ")
                .unwrap_or_default();
            (
                a.path.clone(),
                a.start_line,
                rule.to_owned(),
                severity.to_owned(),
            )
        })
        .collect();
    let summary = check.output.summary.clone().unwrap_or_default();
    let bot_suppressed = summary
        .split("### Suppressed in this pull request")
        .nth(1)
        .map_or(0, |section| {
            section
                .split("\n### ")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("- "))
                .count()
        });
    let bot_fails = check.conclusion.as_deref() == Some("failure");

    // The configuration really acted, or equality would prove little.
    let rules: BTreeSet<&str> = cli_active.iter().map(|f| f.2.as_str()).collect();
    assert!(rules.contains("python.subprocess-shell-true"), "{rules:?}");
    assert!(!rules.contains("python.tempfile-mktemp"), "disabled rule");
    assert!(
        cli_active
            .iter()
            .any(|f| f.2 == "python.os-system-non-literal" && f.3 == "low"),
        "severity override: {cli_active:?}"
    );
    assert!(
        cli_active.iter().all(|f| !f.0.starts_with("vendor/")),
        "ignored path"
    );
    assert_eq!(cli_suppressed, 1);

    assert_eq!(cli_active, bot_active, "the same findings");
    assert_eq!(cli_suppressed, bot_suppressed, "the same suppressions");
    assert!(cli_fails, "fail_on: medium fails on a high finding");
    assert_eq!(cli_fails, bot_fails, "the same verdict");
    h.assert_valid_requests();
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

/// A repository whose base commit disables the shell rule and whose
/// feature branch deletes that config while adding a shell=True call.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(root.join(".github")).expect("dirs");
    std::fs::write(
        root.join(".github/hunkscan.yml"),
        "rules:\n  disable: [python.subprocess-shell-true]\n",
    )
    .expect("config");
    std::fs::write(root.join("app.py"), "import subprocess\n").expect("app");
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "base"]);
    git(root, &["checkout", "-q", "-b", "feature"]);
    std::fs::remove_file(root.join(".github/hunkscan.yml")).expect("rm");
    std::fs::write(
        root.join("app.py"),
        "import subprocess\n\n\ndef run(cmd):\n    subprocess.run(cmd, shell=True)\n",
    )
    .expect("app");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "change"]);
    dir
}

fn shell_rule_fires(output: &Output) -> bool {
    String::from_utf8_lossy(&output.stdout).contains("python.subprocess-shell-true")
}

#[test]
fn the_cli_reads_the_config_from_the_base_revision() {
    let repo = repo();
    let output = hunkscan(
        &["scan", "--base", "main", "--head", "feature"],
        Some(repo.path()),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("config: .github/hunkscan.yml at main"),
        "{stderr}"
    );
    assert!(
        !shell_rule_fires(&output),
        "the base disables the rule; the change deleting the config does not switch it back"
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn config_and_no_config_override_the_base() {
    let repo = repo();
    let output = hunkscan(
        &["scan", "--base", "main", "--head", "feature", "--no-config"],
        Some(repo.path()),
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("--no-config"));
    assert!(shell_rule_fires(&output), "defaults apply");
    assert_eq!(output.status.code(), Some(1));

    let file = repo.path().join("..").join("local-hunkscan.yml");
    std::fs::write(&file, "fail_on: never\n").expect("config");
    let output = hunkscan(
        &[
            "scan",
            "--base",
            "main",
            "--head",
            "feature",
            "--config",
            file.to_str().expect("utf-8"),
        ],
        Some(repo.path()),
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("local-hunkscan.yml"));
    assert!(shell_rule_fires(&output), "this file does not disable it");
    assert_eq!(output.status.code(), Some(0), "fail_on: never");

    let output = hunkscan(
        &[
            "scan",
            "--base",
            "main",
            "--head",
            "feature",
            "--config",
            file.to_str().expect("utf-8"),
            "--fail-on",
            "high",
        ],
        Some(repo.path()),
    );
    assert_eq!(output.status.code(), Some(1), "the flag wins over the file");
    let _ = std::fs::remove_file(file);
}
