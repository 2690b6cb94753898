//! Dependency review end to end: the fixture pull request under
//! `fixtures/deps/pr` (a base and a head tree with every lockfile format
//! read) through the same pipeline `hunkscan scan` runs, against the OSV
//! records under `fixtures/deps/osv` in both database layouts; the CLI's
//! outputs; and `hunkscan advisories sync` against an emulated OSV
//! download endpoint (`crate::support::osv_endpoint`).

use crate::osv_endpoint;

use hunkscan::advisories::{self, Index};
use hunkscan::engine::deps::NOT_SYNCED;
use hunkscan::engine::{AnalyzerKind, ChangeKind, Finding, ScanReport, Severity};
use hunkscan::pipeline::{Options, Pipeline};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/deps")
}

fn scan(index: Option<Index>) -> ScanReport {
    let pipeline = Pipeline::load(&Options {
        advisories: index.map(Arc::new),
        ..Options::default()
    })
    .expect("pipeline");
    let root = fixtures().join("pr");
    let changes =
        hunkscan::local::from_trees(&root.join("base"), &root.join("head")).expect("trees");
    let (config, _) = hunkscan::pipeline::config_from(None);
    pipeline.run(changes, &config).report
}

fn deps(report: &ScanReport) -> Vec<(&str, &str, ChangeKind)> {
    report
        .findings
        .iter()
        .filter(|f| f.analyzer == AnalyzerKind::Deps)
        .map(|f| (f.path.as_str(), f.rule_id.as_str(), f.change))
        .collect()
}

fn find<'a>(report: &'a ScanReport, path: &str, rule: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.path == path && f.rule_id == rule)
        .unwrap_or_else(|| panic!("no {rule} in {path}: {:?}", deps(report)))
}

/// The unpacked layout: `<Ecosystem>/*.json`.
fn unpacked() -> Index {
    Index::load(&fixtures().join("osv")).expect("fixture database")
}

/// The published layout: the same records zipped as `<Ecosystem>/all.zip`.
fn zipped(dir: &Path) {
    for entry in std::fs::read_dir(fixtures().join("osv")).expect("osv") {
        let folder = entry.expect("entry").path();
        let name = folder.file_name().expect("name").to_owned();
        std::fs::create_dir_all(dir.join(&name)).expect("mkdir");
        std::fs::write(dir.join(&name).join("all.zip"), zip_of(&folder)).expect("write");
    }
}

fn zip_of(folder: &Path) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
            .expect("folder")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            writer
                .start_file(name, zip::write::SimpleFileOptions::default())
                .expect("start");
            writer
                .write_all(&std::fs::read(&path).expect("read"))
                .expect("write");
        }
        writer.finish().expect("finish");
    }
    out.into_inner()
}

#[test]
fn the_fixture_pull_request_gets_exactly_the_introduced_vulnerabilities() {
    let report = scan(Some(unpacked()));
    let mut got = deps(&report);
    got.sort_by_key(|(path, rule, _)| (*path, *rule));
    assert_eq!(
        got,
        vec![
            ("go/go.mod", "GO-2021-0113", ChangeKind::Fixed),
            ("go/go.mod", "GO-2022-0969", ChangeKind::New),
            (
                "legacy/package-lock.json",
                "GHSA-p6mc-m468-83gw",
                ChangeKind::New
            ),
            ("pdm/pdm.lock", "GHSA-h5c8-rqwp-cp95", ChangeKind::Fixed),
            ("pdm/pdm.lock", "GHSA-mh33-7rrq-662w", ChangeKind::New),
            (
                "php/composer.lock",
                "GHSA-25mq-v84q-4j7r",
                ChangeKind::Fixed
            ),
            ("php/composer.lock", "GHSA-r7c9-c69m-rph8", ChangeKind::New),
            ("php/composer.lock", "GHSA-wxmh-65f7-jcvw", ChangeKind::New),
            (
                "pipenv/Pipfile.lock",
                "GHSA-x84v-xcm2-53pg",
                ChangeKind::New
            ),
            (
                "pnpm/pnpm-lock.yaml",
                "GHSA-hrpp-h998-j3pp",
                ChangeKind::New
            ),
            (
                "pnpm/pnpm-lock.yaml",
                "GHSA-xvch-5gv4-984h",
                ChangeKind::New
            ),
            ("poetry/poetry.lock", "PYSEC-2022-42969", ChangeKind::New),
            (
                "py/requirements.txt",
                "GHSA-mh33-7rrq-662w",
                ChangeKind::New
            ),
            (
                "pyapp/pyproject.toml",
                "GHSA-mh33-7rrq-662w",
                ChangeKind::New
            ),
            (
                "pyapp/pyproject.toml",
                "GHSA-x84v-xcm2-53pg",
                ChangeKind::New
            ),
            ("ruby/Gemfile.lock", "GHSA-3fhf-6939-qg8p", ChangeKind::New),
            (
                "ruby/Gemfile.lock",
                "GHSA-v6gp-9mmm-c6p5",
                ChangeKind::Fixed
            ),
            ("ruby/Gemfile.lock", "GHSA-wq4h-7r42-5hrr", ChangeKind::New),
            ("rust/Cargo.lock", "GHSA-43w2-9j62-hq99", ChangeKind::New),
            ("rust/Cargo.toml", "GHSA-43w2-9j62-hq99", ChangeKind::New),
            ("rustdev/Cargo.lock", "GHSA-43w2-9j62-hq99", ChangeKind::New),
            ("uv/uv.lock", "GHSA-h5c8-rqwp-cp95", ChangeKind::New),
            ("uv/uv.lock", "GHSA-jjg7-2v4v-x38h", ChangeKind::New),
            (
                "web/package-lock.json",
                "GHSA-hrpp-h998-j3pp",
                ChangeKind::New
            ),
            (
                "web/package-lock.json",
                "GHSA-p6mc-m468-83gw",
                ChangeKind::Fixed
            ),
            (
                "web/package-lock.json",
                "GHSA-xvch-5gv4-984h",
                ChangeKind::New
            ),
            ("yarn/yarn.lock", "GHSA-xvch-5gv4-984h", ChangeKind::New),
        ],
        "unchanged vulnerable (time, yarn's lodash, pdm's idna, rake, twig), an upgrade inside the same range (requests 2.18.4 → 2.19.0) and a withdrawn advisory (mkdirp) are not reported"
    );
    // The broken lockfile is skipped with the parser's line; the rest was analysed.
    let broken = report
        .skipped
        .iter()
        .find(|s| s.path == "broken/package-lock.json" && s.analyzer == Some(AnalyzerKind::Deps))
        .expect("broken lockfile listed as skipped");
    assert!(
        broken.reason.contains("cannot be read (line 6"),
        "{}",
        broken.reason
    );
}

#[test]
fn aliases_fold_into_one_finding_at_the_highest_severity() {
    let report = scan(Some(unpacked()));
    let smallvec = find(&report, "rust/Cargo.lock", "GHSA-43w2-9j62-hq99");
    assert_eq!(smallvec.severity, Severity::Critical);
    assert_eq!(smallvec.cwe.as_deref(), Some("CWE-787"));
    assert!(
        smallvec
            .message
            .contains("(CVE-2021-25900, RUSTSEC-2021-0003)"),
        "{}",
        smallvec.message
    );
    assert!(
        smallvec.message.contains("1.6.1 → 1.6.0 (direct)"),
        "{}",
        smallvec.message
    );
    assert!(
        smallvec.message.contains("Fixed in 1.6.1."),
        "{}",
        smallvec.message
    );
    // Anchored on the entry: `[[package]]` header to version line.
    assert_eq!((smallvec.start.line, smallvec.end.line), (19, 21));
}

#[test]
fn messages_name_path_dev_and_suggest_the_pinned_fix() {
    let report = scan(Some(unpacked()));
    let minimist = find(&report, "web/package-lock.json", "GHSA-xvch-5gv4-984h");
    assert!(
        minimist
            .message
            .contains("1.2.5 (added) (transitive, via mkdirp → minimist)"),
        "{}",
        minimist.message
    );
    assert_eq!(minimist.severity, Severity::Critical);
    let qs = find(&report, "web/package-lock.json", "GHSA-hrpp-h998-j3pp");
    assert!(qs.message.contains("dev only"), "{}", qs.message);
    assert!(qs.message.contains("via supertest → qs"), "{}", qs.message);
    let lodash = find(&report, "web/package-lock.json", "GHSA-p6mc-m468-83gw");
    assert!(
        lodash.message.contains("upgraded from 4.17.15 to 4.17.21"),
        "{}",
        lodash.message
    );
    // A pin in pyproject.toml gets the fix too, on its own line.
    let requests = find(&report, "pyapp/pyproject.toml", "GHSA-x84v-xcm2-53pg");
    assert_eq!(
        requests.fix.as_ref().map(|f| f.replacement.as_str()),
        Some("    \"requests==2.20.0\","),
        "{}",
        requests.message
    );
    let urllib3 = find(&report, "py/requirements.txt", "GHSA-mh33-7rrq-662w");
    assert_eq!(
        urllib3.fix.as_ref().map(|f| f.replacement.as_str()),
        Some("urllib3==1.24.2"),
        "a pinned line gets the fixed version as a suggestion"
    );
    assert!(
        urllib3
            .message
            .contains("transitive, via requests → urllib3"),
        "{}",
        urllib3.message
    );
    let net = find(&report, "go/go.mod", "GO-2022-0969");
    assert_eq!(
        net.fix.as_ref().map(|f| f.replacement.as_str()),
        Some("\tgolang.org/x/net v0.0.0-20220906165146-f3363e06e74c // indirect"),
        "a pseudo-version before the fixing commit is affected"
    );
    let py = find(&report, "poetry/poetry.lock", "PYSEC-2022-42969");
    assert!(py.message.contains("dev only"), "{}", py.message);
    assert!(
        py.message.contains("No fixed version is known"),
        "{}",
        py.message
    );
    let lockfile_fix = find(&report, "rust/Cargo.lock", "GHSA-43w2-9j62-hq99");
    assert!(lockfile_fix.fix.is_none(), "lockfiles get no suggestion");
    // A crate the change's Cargo.toml adds as a dev-dependency is dev in
    // the lockfile's finding (Cargo.lock does not record it).
    let dev = find(&report, "rustdev/Cargo.lock", "GHSA-43w2-9j62-hq99");
    assert!(
        dev.message.contains("1.6.0 (added) (direct, dev only)"),
        "{}",
        dev.message
    );
    assert!(
        !lockfile_fix.message.contains("dev only"),
        "smallvec is a normal dependency of rust/: {}",
        lockfile_fix.message
    );
    // An `=` pin in Cargo.toml does, on the pin's line.
    let cargo_pin = find(&report, "rust/Cargo.toml", "GHSA-43w2-9j62-hq99");
    assert_eq!((cargo_pin.start.line, cargo_pin.end.line), (8, 8));
    assert_eq!(
        cargo_pin.fix.as_ref().map(|f| f.replacement.as_str()),
        Some("smallvec = \"=1.6.1\""),
        "{}",
        cargo_pin.message
    );
    assert!(
        cargo_pin.message.contains("1.6.1 → 1.6.0 (direct)"),
        "{}",
        cargo_pin.message
    );
}

#[test]
fn gemfile_lock_changes_are_anchored_on_the_gem_line_and_scored() {
    let report = scan(Some(unpacked()));
    let rack = find(&report, "ruby/Gemfile.lock", "GHSA-wq4h-7r42-5hrr");
    assert_eq!(
        (rack.start.line, rack.end.line),
        (14, 14),
        "the `rack (2.2.3)` line"
    );
    assert_eq!(rack.snippet, "    rack (2.2.3)");
    assert_eq!(rack.severity, Severity::Critical);
    assert!(
        rack.message.contains(
            "`rack` 2.0.9.1 → 2.2.3 (direct) is affected by GHSA-wq4h-7r42-5hrr (CVE-2022-30123)"
        ),
        "upgraded from a fixed four-part version into a vulnerable range: {}",
        rack.message
    );
    assert!(
        rack.message.contains("Fixed in 2.2.3.1."),
        "{}",
        rack.message
    );
    assert!(
        rack.fix.is_none(),
        "a lockfile pins nothing the author edits"
    );
    // Severity from the record's only score, a CVSS v2 vector (7.5).
    let rest = find(&report, "ruby/Gemfile.lock", "GHSA-3fhf-6939-qg8p");
    assert_eq!(rest.severity, Severity::High);
    assert_eq!((rest.start.line, rest.end.line), (18, 18));
    assert!(
        rest.message.contains("1.6.7 (added) (direct)"),
        "{}",
        rest.message
    );
    // Upgraded out of the range: fixed, on the base's line; the platform
    // suffix of the head's entries is not part of the version.
    let nokogiri = find(&report, "ruby/Gemfile.lock", "GHSA-v6gp-9mmm-c6p5");
    assert_eq!(nokogiri.change, ChangeKind::Fixed);
    assert!(
        nokogiri.message.contains("upgraded from 1.12.5 to 1.13.4"),
        "{}",
        nokogiri.message
    );
}

#[test]
fn composer_lock_changes_name_dev_only_and_v_prefixed_versions() {
    let report = scan(Some(unpacked()));
    let psr7 = find(&report, "php/composer.lock", "GHSA-wxmh-65f7-jcvw");
    assert_eq!(
        (psr7.start.line, psr7.end.line),
        (58, 59),
        "name line to version line"
    );
    assert!(
        psr7.message.contains("`guzzlehttp/psr7` 1.9.1 → 2.4.4 ("),
        "upgraded into the 2.x range: {}",
        psr7.message
    );
    assert!(psr7.message.contains("Fixed in 2.4.5."), "{}", psr7.message);
    let phpunit = find(&report, "php/composer.lock", "GHSA-r7c9-c69m-rph8");
    assert_eq!(phpunit.severity, Severity::Critical);
    assert!(
        phpunit.message.contains("5.6.2 (added) (direct, dev only)"),
        "{}",
        phpunit.message
    );
    assert_eq!((phpunit.start.line, phpunit.end.line), (153, 154));
    let guzzle = find(&report, "php/composer.lock", "GHSA-25mq-v84q-4j7r");
    assert_eq!(guzzle.change, ChangeKind::Fixed);
    assert!(
        guzzle.message.contains("upgraded from 7.4.4 to v7.4.5"),
        "a `v` prefix is the same ordering: {}",
        guzzle.message
    );
}

#[test]
fn both_database_layouts_give_the_same_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    zipped(dir.path());
    let from_zip = Index::load(dir.path()).expect("zipped database");
    assert_eq!(from_zip.len(), unpacked().len());
    let a = scan(Some(from_zip));
    let b = scan(Some(unpacked()));
    assert!(!deps(&a).is_empty());
    assert_eq!(deps(&a), deps(&b));
}

#[test]
fn without_a_database_changed_lockfiles_are_skipped_never_silent() {
    let report = scan(None);
    assert!(deps(&report).is_empty());
    let skipped: Vec<&str> = report
        .skipped
        .iter()
        .filter(|s| s.reason.starts_with(NOT_SYNCED))
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(
        skipped,
        vec![
            "go/go.mod",
            "legacy/package-lock.json",
            "pdm/pdm.lock",
            "php/composer.lock",
            "pipenv/Pipfile.lock",
            "pnpm/pnpm-lock.yaml",
            "poetry/poetry.lock",
            "py/requirements.txt",
            "pyapp/pyproject.toml",
            "ruby/Gemfile.lock",
            "rust/Cargo.lock",
            "rust/Cargo.toml",
            "rustdev/Cargo.lock",
            "rustdev/Cargo.toml",
            "uv/uv.lock",
            "web/package-lock.json",
            "yarn/yarn.lock",
        ]
    );
    // An empty directory is no database either.
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(advisories::open(empty.path()).expect("opens").is_none());
}

#[test]
fn switched_off_in_the_repository_config() {
    let pipeline = Pipeline::load(&Options {
        advisories: Some(Arc::new(unpacked())),
        ..Options::default()
    })
    .expect("pipeline");
    let root = fixtures().join("pr");
    let changes =
        hunkscan::local::from_trees(&root.join("base"), &root.join("head")).expect("trees");
    let (config, notes) = hunkscan::pipeline::config_from(Some("analyzers:\n  deps: false\n"));
    assert!(notes.is_empty(), "{notes:?}");
    let report = pipeline.run(changes, &config).report;
    assert!(deps(&report).is_empty());
}

#[test]
fn sarif_and_json_carry_advisory_ids_and_help_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    zipped(dir.path());
    let root = fixtures().join("pr");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(["scan", "--no-config", "--format", "sarif", "--advisory-db"])
        .arg(dir.path())
        .arg("--base-tree")
        .arg(root.join("base"))
        .arg("--head-tree")
        .arg(root.join("head"))
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "critical findings fail the scan"
    );
    let sarif: serde_json::Value = serde_json::from_slice(&output.stdout).expect("sarif");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    let smallvec = rules
        .iter()
        .find(|r| r["id"] == "GHSA-43w2-9j62-hq99")
        .expect("advisory id as rule id");
    assert_eq!(
        smallvec["helpUri"],
        "https://osv.dev/vulnerability/GHSA-43w2-9j62-hq99"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("crates.io 3 records"), "{stderr}");
}

#[test]
fn sync_downloads_conditionally_and_refuses_bad_archives() {
    let endpoint = osv_endpoint::OsvEndpoint::start();
    let good = zip_of(&fixtures().join("osv/crates.io"));
    endpoint.serve("crates.io", good.clone(), "\"v1\"");
    let db = tempfile::tempdir().expect("tempdir");
    let sync = |ecosystem: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hunkscan"))
            .args(["advisories", "sync", "--ecosystem", ecosystem, "--db"])
            .arg(db.path())
            .env("HUNKSCAN_OSV_URL", endpoint.url())
            .output()
            .expect("runs")
    };
    let first = sync("crates.io");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("crates.io: updated, 3 records"));
    let archive = db.path().join("crates.io/all.zip");
    assert_eq!(std::fs::read(&archive).expect("archive"), good);
    // Second run: the server sees the ETag and answers 304.
    let second = sync("crates.io");
    assert!(String::from_utf8_lossy(&second.stdout).contains("crates.io: up to date"));
    assert_eq!(endpoint.conditional_requests(), 1);
    // A corrupt archive is refused and the working one kept.
    endpoint.serve(
        "crates.io",
        b"PK\x03\x04 not really a zip".to_vec(),
        "\"v2\"",
    );
    let corrupt = sync("crates.io");
    assert_eq!(corrupt.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&corrupt.stdout).contains("refused, the previous database is kept")
    );
    assert_eq!(std::fs::read(&archive).expect("archive"), good);
    // A zip bomb (one record inflating far past the per-record limit) too.
    endpoint.serve("crates.io", bomb(), "\"v3\"");
    let bombed = sync("crates.io");
    assert_eq!(bombed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bombed.stdout).contains("inflates to over"));
    assert_eq!(std::fs::read(&archive).expect("archive"), good);
    // The unknown ecosystem is a usage error.
    let wrong = sync("cargo");
    assert_eq!(wrong.status.code(), Some(2));
}

#[test]
fn sync_knows_rubygems_and_packagist() {
    let endpoint = osv_endpoint::OsvEndpoint::start();
    endpoint.serve(
        "RubyGems",
        zip_of(&fixtures().join("osv/RubyGems")),
        "\"r1\"",
    );
    endpoint.serve(
        "Packagist",
        zip_of(&fixtures().join("osv/Packagist")),
        "\"p1\"",
    );
    let db = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(["advisories", "sync", "--ecosystem", "RubyGems"])
        .args(["--ecosystem", "Packagist", "--db"])
        .arg(db.path())
        .env("HUNKSCAN_OSV_URL", endpoint.url())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("RubyGems: updated, 4 records"), "{stdout}");
    assert!(stdout.contains("Packagist: updated, 4 records"), "{stdout}");
    let index = Index::load(db.path()).expect("synced database");
    use hunkscan::engine::deps::model::Ecosystem;
    assert!(index.has(Ecosystem::RubyGems) && index.has(Ecosystem::Packagist));
    assert_eq!(
        index
            .affected(Ecosystem::Packagist, "GuzzleHttp/Psr7")
            .len(),
        1
    );
    // The usage error names every ecosystem.
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(["advisories", "sync", "--ecosystem", "rubygems", "--db"])
        .arg(db.path())
        .output()
        .expect("runs");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&wrong.stderr)
            .contains("expected one of crates.io, npm, PyPI, Go, RubyGems, Packagist"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
}

/// A small archive holding one entry of 9 MB of spaces (deflated to a few KB).
fn bomb() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        writer
            .start_file(
                "BOMB-1.json",
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated),
            )
            .expect("start");
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..9 {
            writer.write_all(&chunk).expect("write");
        }
        writer.finish().expect("finish");
    }
    out.into_inner()
}

/// A generated `package-lock.json` v3 of `count` packages (about 380 bytes
/// each), `extra` entries appended before the closing braces.
fn big_lockfile(count: usize, extra: &str) -> String {
    let mut text = String::with_capacity(count * 400 + 4096);
    text.push_str(
        "{\n  \"name\": \"monorepo\",\n  \"version\": \"1.0.0\",\n  \"lockfileVersion\": 3,\n  \"requires\": true,\n  \"packages\": {\n    \"\": {\n      \"name\": \"monorepo\",\n      \"version\": \"1.0.0\",\n      \"dependencies\": {\n        \"pkg-0000000\": \"^1.0.0\"\n      }\n    },\n",
    );
    for i in 0..count {
        let parent = i.saturating_sub(1);
        // A fixed-width, made-up integrity value: the size is what matters.
        let integrity = format!("{i:0>86}==");
        text.push_str(&format!(
            "    \"node_modules/pkg-{i:07}\": {{\n      \"version\": \"1.0.{i}\",\n      \"resolved\": \"https://registry.npmjs.org/pkg-{i:07}/-/pkg-{i:07}-1.0.{i}.tgz\",\n      \"integrity\": \"sha512-{integrity}\",\n      \"license\": \"MIT\",\n      \"dependencies\": {{\n        \"pkg-{parent:07}\": \"^1.0.0\"\n      }}\n    }},\n"
        ));
    }
    text.push_str(extra);
    text.push_str("    \"node_modules/zz-last\": {\n      \"version\": \"1.0.0\"\n    }\n  }\n}\n");
    text
}

/// The highest resident size `pid` reached (`VmHWM`), in kB, while it runs.
fn peak_kb(child: &mut std::process::Child) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if child.try_wait().expect("wait").is_some() {
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_fifty_megabyte_lockfile_is_reviewed_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, head) = (dir.path().join("base/web"), dir.path().join("head/web"));
    std::fs::create_dir_all(&base).expect("base");
    std::fs::create_dir_all(&head).expect("head");
    let count = 140_000;
    let base_text = big_lockfile(count, "");
    assert!(base_text.len() > 50_000_000, "{} bytes", base_text.len());
    std::fs::write(base.join("package-lock.json"), &base_text).expect("write");
    drop(base_text);
    // The change adds a vulnerable qs near the end.
    let head_text = big_lockfile(
        count,
        "    \"node_modules/qs\": {\n      \"version\": \"6.7.0\",\n      \"license\": \"BSD-3-Clause\"\n    },\n",
    );
    std::fs::write(head.join("package-lock.json"), &head_text).expect("write");
    let qs_line = head_text
        .lines()
        .position(|l| l.contains("\"node_modules/qs\""))
        .expect("qs")
        + 1;
    drop(head_text);
    let db = tempfile::tempdir().expect("tempdir");
    zipped(db.path());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(["scan", "--no-config", "--format", "json", "-j", "1"])
        // Not a timed test: the deadline is out of the way on a slow machine.
        .args(["--file-timeout-ms", "3600000", "--advisory-db"])
        .arg(db.path())
        .arg("--base-tree")
        .arg(dir.path().join("base"))
        .arg("--head-tree")
        .arg(dir.path().join("head"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    // The output is small (one finding): the pipes cannot fill up.
    let peak = peak_kb(&mut child);
    let output = child.wait_with_output().expect("output");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    let findings = json["findings"].as_array().expect("findings");
    let qs = findings
        .iter()
        .find(|f| f["rule_id"] == "GHSA-hrpp-h998-j3pp")
        .unwrap_or_else(|| panic!("qs reported: {json:#}"));
    assert_eq!(qs["path"], "web/package-lock.json");
    assert_eq!(qs["start"]["line"], qs_line);
    let skipped = json["skipped"].as_array().expect("skipped");
    assert!(
        skipped.is_empty(),
        "not skipped as too large, and no secrets 'lock file' line beside the review: {skipped:#?}"
    );
    // Two 50 MB texts are in memory at once (base and head), with their
    // line tables and the packages read from them; a `Value` tree of each
    // would take several times more. The bound is generous for allocator
    // slack, and fails on a parse that holds the whole document as a tree.
    assert!(peak > 0, "the peak was measured");
    eprintln!("peak resident size of a 50 MB lockfile change: {peak} kB");
    assert!(peak < 550 * 1024, "peak resident size {peak} kB");
}

#[test]
fn the_bots_refresh_swaps_fresh_data_in_and_keeps_it_when_a_sync_fails() {
    use hunkscan::advisories::SharedIndex;
    use hunkscan::advisories::refresh::{Refreshed, Refresher};
    use hunkscan::advisories::sync::SyncOptions;
    use hunkscan::engine::deps::model::Ecosystem;

    let endpoint = osv_endpoint::OsvEndpoint::start();
    endpoint.serve("npm", zip_of(&fixtures().join("osv/npm")), "\"n1\"");
    let db = tempfile::tempdir().expect("tempdir");
    let pipeline = Pipeline::load(&Options::default()).expect("pipeline");
    let shared: SharedIndex = pipeline.advisories().clone();
    assert!(shared.current().is_none(), "no database at start-up");
    let root = fixtures().join("pr");
    let changes =
        || hunkscan::local::from_trees(&root.join("base"), &root.join("head")).expect("trees");
    let (config, _) = hunkscan::pipeline::config_from(None);
    let before = pipeline.run(changes(), &config);
    assert!(
        before
            .notes
            .iter()
            .any(|n| n.starts_with("Advisory database missing")),
        "the summary says there is none: {:?}",
        before.notes
    );

    let refresher = Refresher::new(
        db.path().to_owned(),
        SyncOptions {
            base_url: endpoint.url(),
            ecosystems: vec![Ecosystem::Npm],
            ..SyncOptions::default()
        },
        shared.clone(),
    );
    // Four records, one of them withdrawn.
    assert_eq!(
        refresher.refresh_blocking(),
        Refreshed::Reloaded { advisories: 3 }
    );
    let after = pipeline.run(changes(), &config);
    assert!(
        deps(&after.report).contains(&(
            "web/package-lock.json",
            "GHSA-hrpp-h998-j3pp",
            ChangeKind::New
        )),
        "the running pipeline uses the fresh index"
    );
    let note = after
        .notes
        .iter()
        .find(|n| n.starts_with("Advisory data (npm) as of "))
        .unwrap_or_else(|| panic!("{:?}", after.notes));
    assert!(note.ends_with(" 0 minutes old."), "just synced: {note}");

    // Unchanged on the server: a 304, the same data, now as of this sync.
    assert_eq!(refresher.refresh_blocking(), Refreshed::Unchanged);
    // A corrupt export: refused, and the index in use stays.
    endpoint.serve("npm", b"PK\x03\x04 torn".to_vec(), "\"n2\"");
    let in_use = shared.current().expect("index");
    match refresher.refresh_blocking() {
        Refreshed::Failed(reason) => assert!(reason.contains("refused"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let still = shared.current().expect("index");
    assert_eq!(still.len(), in_use.len());

    // Never two syncs of one directory at once: a sync holding the lock
    // makes a second one fail without touching anything.
    let lock = std::fs::File::open(db.path().join(".sync.lock")).expect("lock file");
    lock.lock().expect("held");
    match refresher.refresh_blocking() {
        Refreshed::Failed(reason) => assert!(reason.contains("another sync"), "{reason}"),
        other => panic!("{other:?}"),
    }
    lock.unlock().expect("released");
}

#[test]
fn the_advisory_note_says_how_old_the_data_is() {
    use hunkscan::pipeline::advisory_note;
    let index = unpacked();
    // The fixture records were never synced: their newest `modified` dates them.
    let newest = index.as_of().expect("dated");
    let note = advisory_note(Some(&index), newest + chrono::TimeDelta::days(3));
    assert!(note.contains("3 days old"), "{note}");
    let note = advisory_note(Some(&index), newest + chrono::TimeDelta::hours(5));
    assert!(note.contains("5 hours old"), "{note}");
    assert!(advisory_note(None, newest).contains(NOT_SYNCED));
}
