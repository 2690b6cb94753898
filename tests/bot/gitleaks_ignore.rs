//! A `.gitleaksignore` kept from Gitleaks works in the bot as in the CLI:
//! read at the pull request's base, its fingerprint silences that finding
//! in the check run and the review (listed as suppressed, no comment), a
//! secret it does not list is still reported, and a pull request cannot
//! silence its own secret by adding the fingerprint in its head.

use crate::support::bot::{Harness, REPO};
use crate::support::github_emulator::{FileSpec, PullSpec};

// Fake tokens in GitHub's format; neither is real.
const LISTED: &str = "ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o";
const UNLISTED: &str = "ghp_Wc5nQ8vKx2LtR7mZp4bHs9dJf3Ga6Ye1Ui0o";

fn settings() -> String {
    format!("import os\nDEPLOY_TOKEN = \"{LISTED}\"\nMIRROR_TOKEN = \"{UNLISTED}\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_gitleaksignore_silences_its_finding_and_only_that_one() {
    let h = Harness::start().await;
    // Line 2 was accepted (rotated) by the team; line 3 was not.
    h.github.put_file(
        REPO,
        "base0081",
        ".gitleaksignore",
        "# rotated 2026-11, history kept\nsrc/settings.py:github-pat:2\n",
    );
    h.open(PullSpec {
        number: 81,
        base_sha: "base0081".into(),
        head_sha: "head0081".into(),
        draft: false,
        files: vec![FileSpec::added("src/settings.py", &settings())],
    })
    .await;
    let check = h.completed_check("head0081").await;
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let summary = check.output.summary.clone().unwrap_or_default();
    let suppressed = summary
        .split("### Suppressed in this pull request")
        .nth(1)
        .unwrap_or_else(|| panic!("no suppressed section: {summary}"));
    let listed: Vec<&str> = suppressed
        .lines()
        .filter(|l| l.starts_with("- `secrets.github-pat`"))
        .collect();
    assert_eq!(listed.len(), 1, "{summary}");
    assert!(listed[0].contains("(.gitleaksignore)"), "{summary}");
    assert!(listed[0].contains("src/settings.py"), "{summary}");
    assert!(listed[0].contains("L2"), "{summary}");
    // Neither token appears anywhere; only the unlisted one is commented.
    for token in [LISTED, UNLISTED] {
        assert!(!summary.contains(&token[4..]), "{summary}");
    }
    let comments = h.github.review_comments(REPO, 81);
    let lines: Vec<(String, Option<u64>)> = comments
        .iter()
        .filter(|c| c.author == "hunkscan[bot]")
        .map(|c| (c.path.clone(), c.line))
        .collect();
    assert_eq!(lines, vec![("src/settings.py".to_owned(), Some(3))]);
    assert!(
        comments.iter().all(|c| !c.body.contains(&UNLISTED[4..])),
        "{comments:?}"
    );
    h.assert_valid_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitleaksignore_added_by_the_pull_request_itself_silences_nothing() {
    let h = Harness::start().await;
    h.open(PullSpec {
        number: 82,
        base_sha: "base0082".into(),
        head_sha: "head0082".into(),
        draft: false,
        files: vec![
            FileSpec::added("src/settings.py", &settings()),
            FileSpec::added(
                ".gitleaksignore",
                "src/settings.py:github-pat:2\nsrc/settings.py:github-pat:3\n",
            ),
        ],
    })
    .await;
    let check = h.completed_check("head0082").await;
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let summary = check.output.summary.clone().unwrap_or_default();
    assert!(
        !summary.contains("### Suppressed in this pull request"),
        "{summary}"
    );
    let mut lines: Vec<Option<u64>> = h
        .github
        .review_comments(REPO, 82)
        .iter()
        .filter(|c| c.author == "hunkscan[bot]" && c.path == "src/settings.py")
        .map(|c| c.line)
        .collect();
    lines.sort();
    assert_eq!(lines, vec![Some(2), Some(3)]);
    h.assert_valid_requests();
}
