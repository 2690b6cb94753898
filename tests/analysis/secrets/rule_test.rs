//! `hunkscan rules test` refuses a secret rule whose negative examples hold
//! no placeholder its own regex matches and the placeholder checks drop.

use std::process::Command;

const RULE: &str = r#"id: secrets.acme-deploy-key
provider: Acme
title: Acme deploy key
severity: high
confidence: high
regex: '\b(acmedk_[A-Za-z0-9]{32})\b'
keywords: ['acmedk_']
examples:
  positive:
    - 'ACME_DEPLOY_KEY=acmedk_Vq7TzL2mX9pRk4WbN8cY3sHd6Jf1Ga5u'
  negative:
    - 'acmedk_short'
"#;

fn rules_test(rule: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
    std::fs::write(dir.path().join("secrets/acme.yml"), rule).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(["rules", "test", "--rules"])
        .arg(dir.path())
        .output()
        .expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn a_secret_rule_without_a_placeholder_negative_is_refused() {
    let (code, text) = rules_test(RULE);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAILED secrets.acme-deploy-key"), "{text}");
    assert!(text.contains("needs a placeholder negative"), "{text}");
    // A near miss the regex does not take is no placeholder example; a
    // stand-in it takes and the checks drop is.
    let fixed = RULE.replace(
        "    - 'acmedk_short'\n",
        "    - 'acmedk_short'\n    - 'ACME_DEPLOY_KEY=acmedk_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'\n",
    );
    let (code, text) = rules_test(&fixed);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ok     secrets.acme-deploy-key"), "{text}");
}
