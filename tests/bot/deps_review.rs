//! Dependency review through a real check run: a pull request that adds a
//! vulnerable package and a package under a denied licence to a
//! `package-lock.json`, judged by the bot (against the GitHub emulator)
//! with the fixture OSV database and the base's licence policy. The check
//! summary carries the table of introduced dependencies and the age of
//! the advisory data.

use crate::support::bot::{Harness, REPO, pipeline};
use crate::support::github_emulator::{FileSpec, PullSpec};
use hunkscan::advisories::Index;
use std::path::Path;
use std::sync::Arc;

const BASE: &str = r#"{
  "name": "shop",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "shop",
      "version": "1.0.0",
      "dependencies": {
        "express": "^4.18.0"
      }
    },
    "node_modules/express": {
      "version": "4.18.2",
      "license": "MIT"
    }
  }
}
"#;

const HEAD: &str = r#"{
  "name": "shop",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "shop",
      "version": "1.0.0",
      "dependencies": {
        "copyleft-charts": "^2.0.0",
        "express": "^4.18.0"
      }
    },
    "node_modules/copyleft-charts": {
      "version": "2.0.1",
      "license": "GPL-3.0-only"
    },
    "node_modules/express": {
      "version": "4.18.2",
      "license": "MIT",
      "dependencies": {
        "qs": "6.7.0"
      }
    },
    "node_modules/qs": {
      "version": "6.7.0",
      "license": "BSD-3-Clause"
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_summary_tables_introduced_vulnerable_and_disallowed_dependencies() {
    let osv = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/deps/osv");
    let pipeline = pipeline();
    pipeline
        .advisories()
        .replace(Arc::new(Index::load(&osv).expect("fixture database")));
    let h = Harness::start_with_pipeline(pipeline).await;
    h.github.put_file(
        REPO,
        "base0071",
        ".github/hunkscan.yml",
        "licenses:\n  deny: [GPL-3.0-only]\n",
    );
    h.open(PullSpec {
        number: 71,
        base_sha: "base0071".into(),
        head_sha: "head0071".into(),
        draft: false,
        files: vec![FileSpec::modified("web/package-lock.json", BASE, HEAD)],
    })
    .await;
    let check = h.completed_check("head0071").await;
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let summary = check.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("### Vulnerable or disallowed dependencies introduced"),
        "{summary}"
    );
    let rows: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with("| high") || l.starts_with("| critical"))
        .collect();
    assert!(
        rows.iter().any(|r| r.contains("`qs`")
            && r.contains("`6.7.0 (added)`")
            && r.contains("`GHSA-hrpp-h998-j3pp`")),
        "{summary}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("`copyleft-charts`") && r.contains("`license-denied`")),
        "{summary}"
    );
    // Notes are escaped Markdown: `(` is `\(`.
    let note = summary
        .lines()
        .find(|l| {
            l.starts_with(
                "- Advisory data \\(crates.io, npm, PyPI, Go, RubyGems, Packagist\\) as of ",
            )
        })
        .unwrap_or_else(|| panic!("the summary says how old the data is: {summary}"));
    assert!(note.ends_with(" days old."), "{note}");
    h.assert_valid_requests();
}
