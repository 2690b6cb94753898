//! DBeaver's encrypted credential store: binary, yet read. A store whose
//! decrypted JSON holds a saved password is a finding on line 1 that never
//! shows the password; an empty one is nothing; a corrupt one is a visible
//! skipped reason. The fixtures are sealed here with DBeaver's published
//! default key, as DBeaver writes them (IV first, then AES-128-CBC).

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use hunkscan::config::repo::RepoConfig;
use hunkscan::engine::{ChangeSet, Content, ScanReport};
use hunkscan::local::changed_file;
use hunkscan::pipeline::{Options, Pipeline};

const STORE: &str = "tools/db/.dbeaver/credentials-config.json";
const RULE: &str = "secrets.file.dbeaver-credentials";
const KEY: [u8; 16] = [
    0xba, 0xbb, 0x4a, 0x9f, 0x77, 0x4a, 0xb8, 0x53, 0xc9, 0x6c, 0x2d, 0x65, 0x3d, 0xfe, 0x54, 0x4a,
];
const PASSWORD: &str = "Hq8vRt2mWx5Lz9Pk";
const OTHER: &str = "Nc3jYs7dKf1Gb4Te";

fn seal(json: &str, iv: [u8; 16]) -> Vec<u8> {
    let encryptor =
        cbc::Encryptor::<aes::Aes128>::new_from_slices(&KEY, &iv).expect("16-byte key and IV");
    let mut sealed = iv.to_vec();
    sealed.extend(encryptor.encrypt_padded_vec_mut::<Pkcs7>(json.as_bytes()));
    sealed
}

fn store(passwords: &[(&str, &str)]) -> String {
    let connections: Vec<String> = passwords
        .iter()
        .map(|(id, password)| {
            format!(r##""{id}":{{"#connection":{{"user":"reporting","password":"{password}"}}}}"##)
        })
        .collect();
    format!("{{{}}}", connections.join(","))
}

fn scan(base: Content, head: Content) -> ScanReport {
    let pipeline = Pipeline::load(&Options::default()).expect("pipeline");
    let file = changed_file(STORE, base, head).expect("diff");
    let changes = ChangeSet { files: vec![file] };
    pipeline.run(changes, &RepoConfig::default()).report
}

fn sealed(bytes: Vec<u8>) -> Content {
    let content = Content::from_bytes_for(STORE, bytes);
    assert!(matches!(content, Content::Sealed(_)), "{content:?}");
    content
}

#[test]
fn a_saved_password_is_reported_on_line_1_and_never_shown() {
    let json = store(&[("postgres-jdbc-19a", PASSWORD), ("mysql8-2b7", OTHER)]);
    let report = scan(Content::Absent, sealed(seal(&json, [0x11; 16])));
    let found: Vec<(&str, u32)> = report
        .findings
        .iter()
        .map(|f| (f.rule_id.as_str(), f.start.line))
        .collect();
    assert_eq!(found, vec![(RULE, 1)], "{:?}", report.skipped);
    let finding = &report.findings[0];
    assert!(finding.is_active());
    let shown = serde_json::to_string(&report).expect("json");
    for secret in [PASSWORD, OTHER] {
        assert!(!shown.contains(&secret[..8]), "{shown}");
    }
    assert!(
        finding.snippet.contains("and 1 more saved password"),
        "{}",
        finding.snippet
    );
}

#[test]
fn a_store_without_a_saved_password_is_no_finding() {
    let json = store(&[("postgres-jdbc-19a", "")]);
    let report = scan(Content::Absent, sealed(seal(&json, [0x22; 16])));
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

#[test]
fn a_changed_store_is_read_and_an_unchanged_one_is_not() {
    let before = sealed(seal(&store(&[("pg", "")]), [0x33; 16]));
    let after = sealed(seal(&store(&[("pg", PASSWORD)]), [0x44; 16]));
    let report = scan(before, after.clone());
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    // Same bytes on both sides (a mode change): nothing new to blame.
    let report = scan(after.clone(), after);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn a_corrupt_store_is_skipped_with_its_reason() {
    let mut bytes = seal(&store(&[("pg", PASSWORD)]), [0x55; 16]);
    bytes.truncate(bytes.len() - 5);
    let report = scan(Content::Absent, sealed(bytes));
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let reasons: Vec<&str> = report
        .skipped
        .iter()
        .filter(|s| s.path == STORE)
        .map(|s| s.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "DBeaver credential store not read: 75 bytes after the IV is not a whole number of 16-byte blocks; its saved passwords were not checked"
        ]
    );
}

#[test]
fn only_the_store_in_a_dbeaver_folder_and_within_the_size_bound_is_kept() {
    let bytes = seal(&store(&[("pg", PASSWORD)]), [0x66; 16]);
    // Outside `.dbeaver/` it is any other file of arbitrary bytes.
    let elsewhere = Content::from_bytes_for("credentials-config.json", bytes.clone());
    assert!(!matches!(elsewhere, Content::Sealed(_)), "{elsewhere:?}");
    let mut large = bytes.clone();
    large.resize(64 * 1024 + 1, 0);
    assert_eq!(Content::from_bytes_for(STORE, large), Content::Binary);
    // A store saved in clear (plain JSON) is text for the configuration readers.
    let plain = store(&[("pg", PASSWORD)]);
    assert_eq!(
        Content::from_bytes_for(STORE, plain.clone().into_bytes()),
        Content::Text(plain)
    );
}

#[test]
fn a_directory_scan_reads_the_store_from_disk() {
    let root = tempfile::tempdir().expect("tempdir");
    let (base, head) = (root.path().join("base"), root.path().join("head"));
    std::fs::create_dir_all(&base).expect("base");
    std::fs::create_dir_all(head.join(".dbeaver")).expect("head");
    let bytes = seal(&store(&[("pg", PASSWORD)]), [0x77; 16]);
    std::fs::write(head.join(".dbeaver/credentials-config.json"), bytes).expect("write");
    let changes = hunkscan::local::from_trees(&base, &head).expect("trees");
    let pipeline = Pipeline::load(&Options::default()).expect("pipeline");
    let report = pipeline.run(changes, &RepoConfig::default()).report;
    let found: Vec<(&str, &str, u32)> = report
        .findings
        .iter()
        .map(|f| (f.path.as_str(), f.rule_id.as_str(), f.start.line))
        .collect();
    assert_eq!(
        found,
        vec![(".dbeaver/credentials-config.json", RULE, 1)],
        "{:?}",
        report.skipped
    );
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_commit_adding_the_store_is_read_from_git() {
    let repo = tempfile::tempdir().expect("tempdir");
    let dir = repo.path();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "tools\n").expect("write");
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "base"]);
    std::fs::create_dir_all(dir.join(".dbeaver")).expect("mkdir");
    let bytes = seal(&store(&[("pg", PASSWORD)]), [0x00; 16]);
    std::fs::write(dir.join(".dbeaver/credentials-config.json"), bytes).expect("write");
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "dbeaver"]);
    let changes = hunkscan::local::from_git(dir, "HEAD~1", Some("HEAD")).expect("git change");
    let pipeline = Pipeline::load(&Options::default()).expect("pipeline");
    let report = pipeline.run(changes, &RepoConfig::default()).report;
    let found: Vec<(&str, &str, u32)> = report
        .findings
        .iter()
        .map(|f| (f.path.as_str(), f.rule_id.as_str(), f.start.line))
        .collect();
    assert_eq!(
        found,
        vec![(".dbeaver/credentials-config.json", RULE, 1)],
        "{:?}",
        report.skipped
    );
}
