//! The AWS provider v4 split S3 resources across the files of one
//! Terraform module: a bucket in `s3.tf` and its encryption or versioning
//! resource in another file of the same directory, changed together, are
//! one bucket; the same resource in another directory is another module's
//! and does not count.

use hunkscan::engine::iac::IacAnalyzer;
use hunkscan::engine::iac::policy::Policies;
use hunkscan::engine::{ChangeKind, ChangeSet, Content, Engine, ScanReport};
use hunkscan::local::changed_file;
use std::sync::LazyLock;

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let policies = Policies::load(None).expect("embedded IaC rules load");
    Engine::new(vec![Box::new(IacAnalyzer::new(policies))])
});

const REMOVED: &str = "terraform.aws-s3-inline-encryption-removed";

const BUCKET: &str = "resource \"aws_s3_bucket\" \"data\" {\n  bucket = \"corp-data\"\n}\n";

/// The bucket before the provider v4 migration: encryption inline.
fn inline_bucket() -> String {
    "resource \"aws_s3_bucket\" \"data\" {\n  bucket = \"corp-data\"\n  server_side_encryption_configuration {\n    rule {\n      apply_server_side_encryption_by_default {\n        sse_algorithm = \"aws:kms\"\n      }\n    }\n  }\n}\n"
        .to_owned()
}

/// The split encryption resource naming `aws_s3_bucket.data`.
const SPLIT_ENCRYPTION: &str = "resource \"aws_s3_bucket_server_side_encryption_configuration\" \"data\" {\n  bucket = aws_s3_bucket.data.id\n  rule {\n    apply_server_side_encryption_by_default {\n      sse_algorithm = \"aws:kms\"\n    }\n  }\n}\n";

/// Scans the files changed together: (path, base, head).
fn change_set(files: &[(&str, Option<&str>, Option<&str>)]) -> ScanReport {
    let content =
        |text: Option<&str>| text.map_or(Content::Absent, |t| Content::Text(t.to_owned()));
    let files = files
        .iter()
        .map(|(path, base, head)| {
            changed_file(path, content(*base), content(*head)).expect("diffable")
        })
        .collect();
    ENGINE.scan(&ChangeSet { files })
}

/// (rule, change kind, path, line) of every finding.
fn found(report: &ScanReport) -> Vec<(String, ChangeKind, String, u32)> {
    report
        .findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.change, f.path.clone(), f.start.line))
        .collect()
}

#[test]
fn encryption_moved_to_a_split_resource_in_another_file_of_the_module_is_no_regression() {
    let base = inline_bucket();
    // Alone, the bucket's file loses its encryption block.
    let alone = change_set(&[("infra/s3.tf", Some(&base), Some(BUCKET))]);
    assert_eq!(
        found(&alone),
        vec![(
            REMOVED.to_owned(),
            ChangeKind::Regression,
            "infra/s3.tf".to_owned(),
            3
        )]
    );
    // With the split resource added to another file of the same directory:
    // the same bucket, still encrypted.
    let together = change_set(&[
        ("infra/s3.tf", Some(&base), Some(BUCKET)),
        ("infra/s3_encryption.tf", None, Some(SPLIT_ENCRYPTION)),
    ]);
    assert_eq!(found(&together), vec![]);
}

#[test]
fn a_split_resource_in_another_directory_does_not_count() {
    let base = inline_bucket();
    let report = change_set(&[
        ("infra/s3.tf", Some(&base), Some(BUCKET)),
        (
            "modules/storage/s3_encryption.tf",
            None,
            Some(SPLIT_ENCRYPTION),
        ),
    ]);
    assert_eq!(
        found(&report),
        vec![(
            REMOVED.to_owned(),
            ChangeKind::Regression,
            "infra/s3.tf".to_owned(),
            3
        )]
    );
}

#[test]
fn a_split_resource_naming_another_bucket_does_not_count() {
    let base = inline_bucket();
    let other = SPLIT_ENCRYPTION.replace("aws_s3_bucket.data.id", "aws_s3_bucket.logs.id");
    let report = change_set(&[
        ("infra/s3.tf", Some(&base), Some(BUCKET)),
        ("infra/s3_encryption.tf", None, Some(&other)),
    ]);
    assert_eq!(
        found(&report),
        vec![(
            REMOVED.to_owned(),
            ChangeKind::Regression,
            "infra/s3.tf".to_owned(),
            3
        )]
    );
}
