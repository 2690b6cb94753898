//! The credential-file readers are rules like any other: listed by
//! `hunkscan rules list`, described in SARIF's rule catalogue, silenced by
//! `hunkscan:ignore <id>` and switched off by `rules.disable`.

use hunkscan::config::repo::RepoConfig;
use hunkscan::engine::secrets::files::READERS;
use hunkscan::engine::{ChangeSet, Content, SuppressionSource};
use hunkscan::local::changed_file;
use hunkscan::pipeline::{Analyzers, Options, Pipeline};
use hunkscan::report;

const NETRC: &str = "machine api.acme.io\n  login deploy\n  password yZQn2cES4h8j6Yft1I\n";

fn run(path: &str, head: &str, config: &RepoConfig) -> hunkscan::engine::ScanReport {
    let pipeline = Pipeline::load(&Options::default()).expect("pipeline");
    let file = changed_file(path, Content::Absent, Content::Text(head.to_owned())).expect("diff");
    pipeline.run(ChangeSet { files: vec![file] }, config).report
}

#[test]
fn every_reader_is_in_the_rule_list_with_a_title_severity_and_help() {
    let docs = Analyzers::load(&Options::default())
        .expect("analyzers")
        .rule_docs();
    assert!(READERS.len() >= 17, "{} readers", READERS.len());
    for id in READERS.iter().map(|reader| reader.id) {
        let doc = docs
            .iter()
            .find(|doc| doc.id == id)
            .unwrap_or_else(|| panic!("{id} not listed"));
        assert!(
            doc.summary.ends_with("committed in the change"),
            "{id}: {}",
            doc.summary
        );
        let help = doc.help.as_deref().unwrap_or_default();
        assert!(help.contains("git history"), "{id}: {help}");
        assert_eq!(doc.cwe.as_deref(), Some("CWE-798"), "{id}");
    }
    let ids: Vec<&str> = docs.iter().map(|doc| doc.id.as_str()).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a rule id is listed twice");
}

#[test]
fn a_reader_finding_has_its_own_descriptor_in_sarif() {
    let pipeline = Pipeline::load(&Options::default()).expect("pipeline");
    let report = run(".netrc", NETRC, &RepoConfig::default());
    assert_eq!(
        report
            .active()
            .map(|f| f.rule_id.as_str())
            .collect::<Vec<_>>(),
        vec!["secrets.file.netrc-password"]
    );
    let sarif = report::sarif::render(&report, pipeline.rule_docs());
    let rules = &sarif["runs"][0]["tool"]["driver"]["rules"];
    let rule = rules
        .as_array()
        .and_then(|rules| {
            rules
                .iter()
                .find(|r| r["id"] == "secrets.file.netrc-password")
        })
        .expect("descriptor");
    let help = rule["help"]["text"].as_str().unwrap_or_default();
    assert!(help.contains(".netrc"), "{rule}");
    let short = rule["shortDescription"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(short.contains("Password in a .netrc file"), "{rule}");
    let text = sarif.to_string();
    assert!(!text.contains("yZQn2cES4h8j6Yft1I"), "{text}");
}

#[test]
fn a_reader_is_suppressed_by_its_id_and_disabled_by_configuration() {
    let marked = "machine api.acme.io\n  login deploy\n  # hunkscan:ignore secrets.file.netrc-password -- revoked\n  password yZQn2cES4h8j6Yft1I\n";
    let report = run(".netrc", marked, &RepoConfig::default());
    let suppression = report
        .findings
        .iter()
        .find(|f| f.rule_id == "secrets.file.netrc-password")
        .and_then(|f| f.suppression.as_ref())
        .expect("suppressed");
    assert_eq!(suppression.source, SuppressionSource::Hunkscan);
    assert_eq!(report.active().count(), 0);
    // A marker naming another reader leaves it visible.
    let other = marked.replace("netrc-password", "pgpass-password");
    assert_eq!(
        run(".netrc", &other, &RepoConfig::default())
            .active()
            .count(),
        1
    );

    let (config, notes) =
        hunkscan::pipeline::config_from(Some("rules:\n  disable: [secrets.file.netrc-password]\n"));
    assert!(notes.is_empty(), "{notes:?}");
    assert!(run(".netrc", NETRC, &config).findings.is_empty());
}
