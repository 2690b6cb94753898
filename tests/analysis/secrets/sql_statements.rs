//! Clear-text passwords in SQL scripts whose statement spans several lines:
//! the finding is on the line of the literal, and a statement is followed
//! back only to the `;` before it and a bounded number of lines.

use hunkscan::engine::secrets::{
    DEFAULT_FINGERPRINT_KEY, SecretRules, SecretsAnalyzer, SecretsOptions,
};

const RULE: &str = "secrets.file.sql-password";

fn analyzer() -> SecretsAnalyzer {
    SecretsAnalyzer::new(
        SecretRules::load(None).expect("rules"),
        DEFAULT_FINGERPRINT_KEY.to_vec(),
        SecretsOptions::default(),
    )
}

/// (line, column) of every clear-password finding of `text` read as `path`.
fn clear_passwords(path: &str, text: &str) -> Vec<(u32, u32)> {
    analyzer()
        .findings_in(path, text, None)
        .into_iter()
        .filter(|raw| raw.finding.rule_id == RULE)
        .map(|raw| (raw.finding.start.line, raw.finding.start.column))
        .collect()
}

#[test]
fn a_password_on_a_later_line_of_its_statement_is_reported_on_that_line() {
    let script = "\
-- provisioning for the reporting service
CREATE USER 'reporting'@'%'
    IDENTIFIED BY 'Vq8mZt3LkR7wNs2P';
ALTER ROLE analytics
    WITH LOGIN
    PASSWORD
        'Hx4nJ9bQe2WcT6yR';
SET PASSWORD FOR 'backup'@'localhost'
    = 'Lp5sGk8vYd3MfQ1z';
CREATE USER 'etl'@'10.0.%'
  IDENTIFIED WITH caching_sha2_password
  BY 'Rt6wPz2hNc9kXb4e';
SET PASSWORD = 'Bv7kQ3xNp8Lr2Zt5';
";
    assert_eq!(
        clear_passwords("db/init/002_users.sql", script),
        vec![(3, 20), (7, 10), (9, 8), (12, 7), (13, 17)]
    );
}

#[test]
fn the_value_never_appears_in_a_multi_line_finding() {
    let script = "CREATE USER grafana\n  WITH PASSWORD 'Vq8mZt3LkR7wNs2P';\n";
    let findings = analyzer().findings_in("db/grafana.sql", script, None);
    let finding = findings
        .iter()
        .find(|raw| raw.finding.rule_id == RULE)
        .expect("the clear password is reported");
    assert_eq!(finding.finding.start.line, 2);
    assert!(!finding.finding.snippet.contains("Vq8mZt3LkR7wNs2P"));
    assert!(!finding.finding.message.contains("Vq8mZt3LkR7wNs2P"));
}

#[test]
fn only_the_added_line_with_the_literal_counts() {
    // The statement began on an unchanged line; the literal's line was added.
    let script = "CREATE USER 'app'@'%'\n  IDENTIFIED BY 'Vq8mZt3LkR7wNs2P';\n";
    let added: std::collections::BTreeSet<u32> = [2].into_iter().collect();
    let found: Vec<u32> = analyzer()
        .findings_in("db/users.sql", script, Some(&added))
        .into_iter()
        .filter(|raw| raw.finding.rule_id == RULE)
        .map(|raw| raw.finding.start.line)
        .collect();
    assert_eq!(found, vec![2]);
    // Only the first line added: the password is not on it.
    let added: std::collections::BTreeSet<u32> = [1].into_iter().collect();
    assert!(
        analyzer()
            .findings_in("db/users.sql", script, Some(&added))
            .iter()
            .all(|raw| raw.finding.rule_id != RULE)
    );
}

#[test]
fn a_statement_ends_at_its_semicolon_and_is_followed_back_a_bounded_way() {
    // The role statement ended on line 1: line 2's string is not its password.
    let ended =
        "CREATE ROLE readonly;\nSELECT set_config('app.password', 'Vq8mZt3LkR7wNs2P', false);\n";
    assert_eq!(clear_passwords("db/roles.sql", ended), vec![]);
    // More than twenty lines between the statement's start and the literal.
    let mut far = String::from("CREATE USER app\n");
    for _ in 0..21 {
        far.push_str("-- (generated)\n");
    }
    far.push_str("  IDENTIFIED BY 'Vq8mZt3LkR7wNs2P';\n");
    assert_eq!(clear_passwords("db/far.sql", &far), vec![]);
    // More than 4 KiB of statement before the literal's line.
    let long = format!(
        "CREATE USER app\n  COMMENT '{}'\n  IDENTIFIED BY 'Vq8mZt3LkR7wNs2P';\n",
        "x".repeat(5_000)
    );
    assert_eq!(clear_passwords("db/long.sql", &long), vec![]);
    // Twenty lines is still one statement.
    let mut near = String::from("CREATE USER app\n");
    for _ in 0..19 {
        near.push_str("-- (generated)\n");
    }
    near.push_str("  IDENTIFIED BY 'Vq8mZt3LkR7wNs2P';\n");
    assert_eq!(clear_passwords("db/near.sql", &near), vec![(21, 18)]);
}

#[test]
fn templated_and_hashed_multi_line_passwords_are_not_clear_ones() {
    let script = "\
CREATE USER app
  WITH PASSWORD '${APP_DB_PASSWORD}';
ALTER ROLE legacy
  WITH LOGIN PASSWORD 'md5c3f9a1e5b2d8f4a6c0e9b3d7a1f5c2e4';
";
    let findings = analyzer().findings_in("db/roles.sql", script, None);
    let rules: Vec<(u32, &str)> = findings
        .iter()
        .map(|raw| (raw.finding.start.line, raw.finding.rule_id.as_str()))
        .collect();
    assert_eq!(rules, vec![(4, "secrets.file.sql-password-hash")]);
    let dropped = analyzer().dropped_in("db/roles.sql", script);
    assert!(
        dropped.iter().any(|d| d.rule_id == RULE && d.line == 2),
        "{dropped:?}"
    );
}
