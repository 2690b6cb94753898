//! Each credential file kind is read by its own reader, found by name or by
//! content, and a key block whose body is a stand-in is no finding.

use hunkscan::engine::secrets::{
    DEFAULT_FINGERPRINT_KEY, SecretRules, SecretsAnalyzer, SecretsOptions,
};

fn analyzer() -> SecretsAnalyzer {
    SecretsAnalyzer::new(
        SecretRules::load(None).expect("rules"),
        DEFAULT_FINGERPRINT_KEY.to_vec(),
        SecretsOptions::default(),
    )
}

fn fixture(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/secrets/files");
    std::fs::read_to_string(root.join(path)).expect("fixture")
}

/// (line, rule id) of every finding of `text` read as `path`.
fn found(path: &str, text: &str) -> Vec<(u32, String)> {
    analyzer()
        .findings_in(path, text, None)
        .into_iter()
        .map(|raw| (raw.finding.start.line, raw.finding.rule_id))
        .collect()
}

fn assert_reported(path: &str, text: &str, rule: &str, lines: &[u32]) {
    let found = found(path, text);
    for line in lines {
        assert!(
            found.contains(&(*line, rule.to_owned())),
            "{path}: {rule} not on line {line}; found {found:?}"
        );
    }
}

#[test]
fn each_tool_file_has_its_reader() {
    let npmrc = fixture("vulnerable/.npmrc");
    assert_reported(".npmrc", &npmrc, "secrets.file.npmrc-auth", &[3, 4, 5]);
    let kube = fixture("vulnerable/deploy/kubeconfig");
    assert_reported(
        "deploy/kubeconfig",
        &kube,
        "secrets.file.kubeconfig-credential",
        &[16, 19, 23],
    );
    let pypirc = fixture("vulnerable/.pypirc");
    assert_reported(".pypirc", &pypirc, "secrets.file.pypirc-password", &[9]);
    let s3cfg = fixture("vulnerable/.s3cfg");
    assert_reported(".s3cfg", &s3cfg, "secrets.file.s3cfg-secret", &[4, 5]);
    // The key's id on line 2 is the AWS provider rule's, not the reader's.
    assert_reported(".s3cfg", &s3cfg, "secrets.aws-access-key-id", &[2]);
    let tfvars = fixture("vulnerable/infra/prod.tfvars");
    assert_reported(
        "infra/prod.tfvars",
        &tfvars,
        "secrets.file.tfvars-secret",
        &[3, 4],
    );
    let dbeaver = fixture("vulnerable/.dbeaver/data-sources.json");
    assert_reported(
        ".dbeaver/data-sources.json",
        &dbeaver,
        "secrets.file.dbeaver-credentials",
        &[14],
    );
}

#[test]
fn sql_dumps_report_hashes_and_clear_passwords() {
    let mysql = fixture("vulnerable/db/mysql_users.sql");
    assert_reported(
        "db/mysql_users.sql",
        &mysql,
        "secrets.file.sql-password-hash",
        &[3, 5],
    );
    assert_reported(
        "db/mysql_users.sql",
        &mysql,
        "secrets.file.sql-password",
        &[6],
    );
    let roles = fixture("vulnerable/db/roles.sql");
    assert_reported(
        "db/roles.sql",
        &roles,
        "secrets.file.sql-password-hash",
        &[6, 8],
    );
    assert_reported("db/roles.sql", &roles, "secrets.file.sql-password", &[9]);
    // The same statements in a Python file are not an SQL dump.
    let in_code = found("db/seed.py", &mysql);
    assert!(
        !in_code
            .iter()
            .any(|(_, rule)| rule.starts_with("secrets.file.sql")),
        "{in_code:?}"
    );
}

#[test]
fn a_kubeconfig_is_recognised_by_content_whatever_its_name() {
    let kube = fixture("vulnerable/.kube/config");
    assert_reported(
        ".kube/config",
        &kube,
        "secrets.file.kubeconfig-credential",
        &[6],
    );
    assert_reported(
        "ops/prod-cluster.yaml",
        &kube,
        "secrets.file.kubeconfig-credential",
        &[6],
    );
    // A YAML file that only mentions a kubeconfig is read as configuration.
    let other = "kind: Deployment\nspec:\n  token: mW3xR8qLz5Tv1NbK7pYc2HsJd9Gf4Ea6\n";
    let found = found("ops/app.yaml", other);
    assert!(
        found
            .iter()
            .all(|(_, rule)| rule != "secrets.file.kubeconfig-credential"),
        "{found:?}"
    );
}

#[test]
fn a_key_block_whose_body_is_a_stand_in_is_dropped_with_its_reason() {
    let stand_in = "-----BEGIN OPENSSH PRIVATE KEY-----\n<paste the deploy key here>\n-----END OPENSSH PRIVATE KEY-----\n";
    let analyzer = analyzer();
    assert!(
        analyzer
            .findings_in("docs/deploy.txt", stand_in, None)
            .is_empty()
    );
    let dropped = analyzer.dropped_in("docs/deploy.txt", stand_in);
    assert!(
        dropped
            .iter()
            .any(|d| d.rule_id == "secrets.openssh-private-key"
                && d.explanation
                    .contains("the key's body is a template or filler")),
        "{dropped:?}"
    );
    let elided = "-----BEGIN RSA PRIVATE KEY-----\n.....\n-----END RSA PRIVATE KEY-----\n";
    assert!(analyzer.findings_in("notes.txt", elided, None).is_empty());
    // A key with a real-looking body is still reported.
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
               b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
               QyNTUxOQAAACBq7QmZ2vLx9Tz4KpW8nR3sYd6Hf1Gc5Ua0iOe7LqWzXnMcAAAAkBd2Rq8m\n\
               -----END OPENSSH PRIVATE KEY-----\n";
    let found: Vec<String> = analyzer
        .findings_in("deploy/id_ed25519", key, None)
        .into_iter()
        .map(|raw| raw.finding.rule_id)
        .collect();
    assert_eq!(found, vec!["secrets.openssh-private-key"]);
}
