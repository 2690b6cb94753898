//! Licence policy end to end: the fixture pull request under
//! `fixtures/deps/licenses` (npm licences in the lockfile; Cargo, pip and
//! Go packages whose licence only a registry knows) through the pipeline,
//! offline and with lookups against emulated registries
//! (`crate::registries`), and through `hunkscan scan --online`.

use crate::registries::Registries;

use hunkscan::advisories::license_cache::{self, FileCache};
use hunkscan::advisories::registry::RegistryOptions;
use hunkscan::engine::deps::license::{Licenses, RULE_DENIED, RULE_NOT_ALLOWED, RULE_UNKNOWN};
use hunkscan::engine::{AnalyzerKind, ChangeSet, ScanReport};
use hunkscan::pipeline::{self, Options, Pipeline};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const POLICY: &str = "\
licenses:
  allow: [MIT, Apache-2.0, ISC, \"GPL-2.0-only WITH Classpath-exception-2.0\"]
  deny: [GPL-3.0-only, AGPL-3.0-only]
  exceptions: [\"pkg:npm/%40acme/internal\"]
";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/deps/licenses")
}

fn changes() -> ChangeSet {
    hunkscan::local::from_trees(&root().join("base"), &root().join("head")).expect("trees")
}

fn pipeline() -> Pipeline {
    Pipeline::load(&Options::default()).expect("pipeline")
}

/// The registries' answers for the fixture's packages.
fn registries() -> Registries {
    let r = Registries::start();
    r.serve(
        "/api/v1/crates/copyleft-crate/0.4.0",
        200,
        r#"{"version":{"crate":"copyleft-crate","num":"0.4.0","license":"AGPL-3.0-only"}}"#,
    );
    r.serve(
        "/api/v1/crates/fine-crate/1.2.0",
        200,
        r#"{"version":{"crate":"fine-crate","num":"1.2.0","license":"MIT OR Apache-2.0"}}"#,
    );
    r.serve(
        "/pypi/flask-thing/2.0.1/json",
        200,
        r#"{"info":{"name":"Flask-Thing","version":"2.0.1","license":"","classifiers":["Framework :: Flask","License :: OSI Approved :: MIT License"]}}"#,
    );
    r.serve(
        "/unstated-lib/3.1.0",
        200,
        r#"{"name":"unstated-lib","version":"3.1.0","license":"ISC"}"#,
    );
    r
}

fn options(r: &Registries) -> RegistryOptions {
    RegistryOptions {
        crates: r.url(),
        pypi: r.url(),
        npm: r.url(),
        ..RegistryOptions::default()
    }
}

fn run(config_text: &str, licenses: Licenses) -> ScanReport {
    let (config, notes) = pipeline::config_from(Some(config_text));
    assert!(notes.is_empty(), "{notes:?}");
    pipeline()
        .run_with_licenses(changes(), &config, Arc::new(licenses))
        .0
        .report
}

fn online(config_text: &str, r: &Registries, cache: &Path) -> ScanReport {
    let (config, _) = pipeline::config_from(Some(config_text));
    let wanted = pipeline().licenses_wanted(&changes(), &config, 100);
    let mut cache = FileCache::open(cache);
    let licenses = license_cache::look_up_blocking(wanted, &options(r), &mut cache);
    run(config_text, licenses)
}

fn licence_findings(report: &ScanReport) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report
        .findings
        .iter()
        .filter(|f| f.rule_id.starts_with("license-"))
        .map(|f| {
            let name = f.message.split('`').nth(1).unwrap_or("?").to_owned();
            (f.rule_id.clone(), name)
        })
        .collect();
    out.sort();
    out
}

fn unknown_lines(report: &ScanReport) -> Vec<String> {
    report
        .skipped
        .iter()
        .filter(|s| s.reason.starts_with("licence unknown"))
        .map(|s| format!("{}: {}", s.path, s.reason))
        .collect()
}

fn pair(rule: &str, name: &str) -> (String, String) {
    (rule.to_owned(), name.to_owned())
}

#[test]
fn online_the_added_packages_are_judged_by_their_spdx_expressions() {
    let r = registries();
    let cache = tempfile::tempdir().expect("tempdir");
    let report = online(POLICY, &r, &cache.path().join("licenses.json"));
    assert_eq!(
        licence_findings(&report),
        vec![
            pair(RULE_DENIED, "copyleft-crate"),
            pair(RULE_DENIED, "gpl-widget"),
            pair(RULE_NOT_ALLOWED, "and-lib"),
        ],
        "dual-lib (MIT OR Apache-2.0), classpath-lib (WITH an allowed exception), \
         unstated-lib (ISC from npm), fine-crate and Flask_Thing (MIT classifier) pass; \
         @acme/internal is exempt; old-gpl and left-pad were already there"
    );
    let unknown = unknown_lines(&report);
    assert_eq!(unknown.len(), 3, "{unknown:#?}");
    assert!(
        unknown[0].starts_with("go/go.mod")
            && unknown[0]
                .contains("github.com/acme/money@v1.2.0 (Go's module proxy states no licence)"),
        "{unknown:#?}"
    );
    assert!(
        unknown[1].starts_with("py/requirements.txt")
            && unknown[1].contains("ghost-pkg@0.1 (PyPI has no release 0.1)"),
        "{unknown:#?}"
    );
    assert!(
        unknown[2].starts_with("web/package-lock.json")
            && unknown[2]
                .contains("custom-lib@1.0.0 (the lockfile states it: not an SPDX expression"),
        "an invalid expression is unknown with the parser's reason: {unknown:#?}"
    );
    // Anchored on the entry, like a vulnerability; the message names the
    // licence and the remediation the purl to exempt it with.
    let gpl = report
        .findings
        .iter()
        .find(|f| f.message.contains("gpl-widget"))
        .expect("gpl-widget");
    assert_eq!(gpl.analyzer, AnalyzerKind::Deps);
    assert_eq!(gpl.path, "web/package-lock.json");
    assert_eq!((gpl.start.line, gpl.end.line), (47, 48));
    assert!(gpl.message.contains("`GPL-3.0-only`"), "{}", gpl.message);
    assert!(
        gpl.remediation
            .as_deref()
            .is_some_and(|r| r.contains("pkg:npm/gpl-widget@2.0.0")),
        "{:?}",
        gpl.remediation
    );
    assert!(!gpl.fingerprint.is_empty(), "fingerprinted by the engine");
}

#[test]
fn answers_are_cached_and_failures_are_not() {
    let r = registries();
    let cache = tempfile::tempdir().expect("tempdir");
    let path = cache.path().join("licenses.json");
    let first = online(POLICY, &r, &path);
    let asked = r.total_requests();
    assert_eq!(
        asked, 5,
        "two crates, two PyPI packages (ghost-pkg's 404 included), one npm package; no Go lookup"
    );
    let second = online(POLICY, &r, &path);
    assert_eq!(
        r.total_requests(),
        asked,
        "every answer, the 404 included, came from the cache"
    );
    assert_eq!(licence_findings(&first), licence_findings(&second));

    // A registry that does not answer in time: unknown, and asked again next time.
    let slow = registries();
    slow.delay("/api/v1/crates/fine-crate/1.2.0", Duration::from_secs(3));
    let fast_timeout = RegistryOptions {
        timeout: Duration::from_millis(300),
        ..options(&slow)
    };
    let (config, _) = pipeline::config_from(Some(POLICY));
    let wanted = pipeline().licenses_wanted(&changes(), &config, 100);
    let other = tempfile::tempdir().expect("tempdir");
    let mut cache = FileCache::open(&other.path().join("licenses.json"));
    let licenses = license_cache::look_up_blocking(wanted.clone(), &fast_timeout, &mut cache);
    let report = run(POLICY, licenses);
    let unknown = unknown_lines(&report);
    assert!(
        unknown
            .iter()
            .any(|l| l.contains("fine-crate@1.2.0 (crates.io did not answer within")),
        "{unknown:#?}"
    );
    let before = slow.requests("/api/v1/crates/fine-crate/1.2.0");
    let _ = license_cache::look_up_blocking(wanted, &fast_timeout, &mut cache);
    assert_eq!(
        slow.requests("/api/v1/crates/fine-crate/1.2.0"),
        before + 1,
        "a timeout is not cached"
    );
}

#[test]
fn an_oversized_answer_is_refused() {
    let r = registries();
    let big = format!(
        r#"{{"version":{{"license":"MIT","padding":"{}"}}}}"#,
        "x".repeat(10_000)
    );
    r.serve("/api/v1/crates/fine-crate/1.2.0", 200, big);
    let small = RegistryOptions {
        max_bytes: 4_096,
        ..options(&r)
    };
    let (config, _) = pipeline::config_from(Some(POLICY));
    let wanted = pipeline().licenses_wanted(&changes(), &config, 100);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = FileCache::open(&dir.path().join("licenses.json"));
    let report = run(
        POLICY,
        license_cache::look_up_blocking(wanted, &small, &mut cache),
    );
    let unknown = unknown_lines(&report);
    assert!(
        unknown
            .iter()
            .any(|l| l.contains("fine-crate@1.2.0 (crates.io: answer over 4096 bytes)")),
        "{unknown:#?}"
    );
}

#[test]
fn offline_only_lockfile_licences_are_judged_and_the_rest_listed_unknown() {
    let report = run(POLICY, Licenses::offline());
    assert_eq!(
        licence_findings(&report),
        vec![
            pair(RULE_DENIED, "gpl-widget"),
            pair(RULE_NOT_ALLOWED, "and-lib")
        ]
    );
    let unknown = unknown_lines(&report).join("\n");
    for name in [
        "copyleft-crate@0.4.0",
        "fine-crate@1.2.0",
        "flask-thing@2.0.1",
        "unstated-lib@3.1.0",
    ] {
        assert!(unknown.contains(name), "{name} listed: {unknown}");
    }
    assert!(
        unknown.contains("registries are asked only with `--online`"),
        "{unknown}"
    );
}

#[test]
fn fail_on_unknown_makes_unknown_licences_findings() {
    let strict = format!("{POLICY}  fail_on_unknown: true\n");
    let report = run(&strict, Licenses::offline());
    let findings = licence_findings(&report);
    assert!(
        findings.contains(&pair(RULE_UNKNOWN, "custom-lib")),
        "{findings:?}"
    );
    assert!(
        findings.contains(&pair(RULE_UNKNOWN, "github.com/acme/money")),
        "{findings:?}"
    );
    assert!(
        !findings.iter().any(|(_, n)| n == "@acme/internal"),
        "exempt: {findings:?}"
    );
    assert!(unknown_lines(&report).is_empty());
    // The rule id can be re-levelled or disabled like any other.
    let quiet = format!("{strict}rules:\n  disable: [{RULE_UNKNOWN}]\n");
    let report = run(&quiet, Licenses::offline());
    assert!(
        !licence_findings(&report)
            .iter()
            .any(|(r, _)| r == RULE_UNKNOWN)
    );
}

#[test]
fn without_a_policy_or_with_deps_off_no_licence_is_reviewed() {
    let r = registries();
    for config in [
        "fail_on: high\n",
        &format!("{POLICY}analyzers:\n  deps: false\n"),
    ] {
        let (parsed, _) = pipeline::config_from(Some(config));
        assert!(
            pipeline()
                .licenses_wanted(&changes(), &parsed, 100)
                .is_empty()
        );
        let report = run(config, Licenses::offline());
        assert!(licence_findings(&report).is_empty(), "{config}");
        assert!(unknown_lines(&report).is_empty(), "{config}");
    }
    assert_eq!(r.total_requests(), 0, "nothing asked");
}

#[test]
fn the_command_line_asks_registries_only_with_online() {
    let r = registries();
    let cache = tempfile::tempdir().expect("tempdir");
    let config = cache.path().join("hunkscan.yml");
    std::fs::write(&config, POLICY).expect("config");
    let scan = |online: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hunkscan"));
        command
            .args(["scan", "--format", "json", "--config"])
            .arg(&config)
            .arg("--base-tree")
            .arg(root().join("base"))
            .arg("--head-tree")
            .arg(root().join("head"))
            .env("HUNKSCAN_ADVISORY_DB", cache.path().join("no-db"))
            .env("HUNKSCAN_CRATES_URL", r.url())
            .env("HUNKSCAN_PYPI_URL", r.url())
            .env("HUNKSCAN_NPM_URL", r.url())
            .env(license_cache::PATH_ENV, cache.path().join("licenses.json"));
        if online {
            command.arg("--online");
        }
        let output = command.output().expect("runs");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        (output.status.code(), json)
    };
    let (code, offline) = scan(false);
    assert_eq!(r.total_requests(), 0, "offline: no request");
    assert_eq!(code, Some(1), "the denied lockfile licence fails the scan");
    let rules = |json: &serde_json::Value| {
        let mut ids: Vec<String> = json["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter_map(|f| f["rule_id"].as_str())
            .filter(|id| id.starts_with("license-"))
            .map(str::to_owned)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(rules(&offline), vec![RULE_DENIED, RULE_NOT_ALLOWED]);
    // SARIF: the licence rules are described as such, not as advisories.
    let sarif = std::process::Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(["scan", "--format", "sarif", "--config"])
        .arg(&config)
        .arg("--base-tree")
        .arg(root().join("base"))
        .arg("--head-tree")
        .arg(root().join("head"))
        .env("HUNKSCAN_ADVISORY_DB", cache.path().join("no-db"))
        .output()
        .expect("runs");
    let sarif: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("sarif");
    let denied = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["id"] == RULE_DENIED)
        .expect("licence rule listed");
    assert_eq!(denied["helpUri"], "https://spdx.org/licenses/");
    assert_eq!(
        denied["shortDescription"]["text"],
        "Dependency under a licence the policy denies"
    );
    let (_, with_lookups) = scan(true);
    assert!(r.total_requests() > 0);
    assert_eq!(
        rules(&with_lookups),
        vec![RULE_DENIED, RULE_DENIED, RULE_NOT_ALLOWED],
        "copyleft-crate's AGPL came from crates.io"
    );
}

#[test]
fn composer_licence_lists_are_judged_and_gems_listed_unknown() {
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/deps/pr");
    let changes =
        hunkscan::local::from_trees(&tree.join("base"), &tree.join("head")).expect("trees");
    let (config, notes) =
        pipeline::config_from(Some("licenses:\n  allow: [MIT]\n  deny: [BSD-3-Clause]\n"));
    assert!(notes.is_empty(), "{notes:?}");
    let report = pipeline()
        .run_with_licenses(changes, &config, Arc::new(Licenses::offline()))
        .0
        .report;
    let php: Vec<(String, String)> = licence_findings(&report)
        .into_iter()
        .filter(|(_, name)| name.contains('/'))
        .collect();
    assert_eq!(
        php,
        vec![pair(RULE_DENIED, "phpunit/phpunit")],
        "the guzzle packages' [\"MIT\"] lists pass; phpunit's [\"BSD-3-Clause\"] is denied"
    );
    let phpunit = report
        .findings
        .iter()
        .find(|f| f.message.contains("phpunit/phpunit"))
        .expect("phpunit");
    assert_eq!((phpunit.start.line, phpunit.end.line), (153, 154));
    let gems = unknown_lines(&report)
        .into_iter()
        .find(|l| l.starts_with("ruby/Gemfile.lock"))
        .expect("the gems' licences are listed as unknown");
    assert!(
        gems.contains(
            "rest-client@1.6.7 (Gemfile.lock states no licence and rubygems.org is not asked)"
        ),
        "{gems}"
    );
}
