//! Secret detection: found on added lines only, never echoed in any output,
//! fingerprinted by a keyed hash, suppressible with the markers users write.

mod catalogue;
mod dbeaver_store;
mod formats;
mod ignores;
mod listed;
mod rule_test;
mod sql_statements;

use hunkscan::engine::sast::{DEFAULT_PARSE_TIMEOUT, SastAnalyzer, SastRules};
use hunkscan::engine::secrets::{
    DEFAULT_FINGERPRINT_KEY, SecretRules, SecretsAnalyzer, SecretsOptions, looks_like_placeholder,
    mask,
};
use hunkscan::engine::{ChangeSet, Content, Engine, ScanReport, SuppressionSource};
use hunkscan::local::changed_file;
use hunkscan::report::{self, RuleDoc};

fn secrets_analyzer(options: SecretsOptions) -> SecretsAnalyzer {
    SecretsAnalyzer::new(
        SecretRules::load(None).expect("secret rules load"),
        DEFAULT_FINGERPRINT_KEY.to_vec(),
        options,
    )
}

fn engine() -> Engine {
    let sast = SastAnalyzer::new(SastRules::load(None).expect("rules"), DEFAULT_PARSE_TIMEOUT);
    Engine::new(vec![
        Box::new(sast),
        Box::new(secrets_analyzer(SecretsOptions::default())),
    ])
}

fn scan(files: Vec<(&str, Content, Content)>) -> ScanReport {
    let files = files
        .into_iter()
        .map(|(p, b, h)| changed_file(p, b, h).expect("diff"))
        .collect();
    engine().scan(&ChangeSet { files })
}

fn text(s: &str) -> Content {
    Content::Text(s.to_owned())
}

/// Fake credentials in their providers' formats, with the line that holds them.
/// None of them is real.
const FIXTURE: &[(&str, &str, &str)] = &[
    (
        "secrets.aws-access-key-id",
        "AKIAZ7Q4XW2M9RT3LPKE",
        "AWS_ACCESS_KEY_ID=AKIAZ7Q4XW2M9RT3LPKE",
    ),
    (
        "secrets.aws-secret-access-key",
        "wJ8rT2xK9mQ4vB7nL1pZ5cY3hF6gD0sA2eR4tU8i",
        "AWS_SECRET_ACCESS_KEY=wJ8rT2xK9mQ4vB7nL1pZ5cY3hF6gD0sA2eR4tU8i",
    ),
    (
        "secrets.github-pat",
        "ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o",
        "token = \"ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\"",
    ),
    (
        "secrets.stripe-live-secret-key",
        "sk_live_51HqT9xKc8Lm2Np4Qr6St8Uv0Wx",
        "STRIPE_KEY: sk_live_51HqT9xKc8Lm2Np4Qr6St8Uv0Wx",
    ),
    (
        "secrets.slack-bot-token",
        "xoxb-2748193650-4820193746512-Zq8Rk2Lm9Xv4Tn7Bw1Yc5Hd3",
        "slack_token: xoxb-2748193650-4820193746512-Zq8Rk2Lm9Xv4Tn7Bw1Yc5Hd3",
    ),
    (
        "secrets.database-url",
        "Xq7Lm2Pz9Rt4",
        "DATABASE_URL=postgres://app:Xq7Lm2Pz9Rt4@db.internal:5432/app",
    ),
    (
        "secrets.generic-assignment",
        "Zr8Qm3Tx6Lw1Vb9K",
        "db_password = \"Zr8Qm3Tx6Lw1Vb9K\"",
    ),
];

const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n\
VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n\
-----END RSA PRIVATE KEY-----\n";

fn fixture_file() -> String {
    let mut body: String = FIXTURE
        .iter()
        .map(|(_, _, line)| format!("{line}\n"))
        .collect();
    body.push_str(PEM);
    body
}

fn rule_ids(report: &ScanReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.rule_id.as_str()).collect()
}

#[test]
fn every_fixture_secret_is_found_by_its_rule() {
    let report = scan(vec![(
        "config/app.env",
        Content::Absent,
        text(&fixture_file()),
    )]);
    let ids = rule_ids(&report);
    for (rule, _, line) in FIXTURE {
        assert!(
            ids.contains(rule),
            "{rule} not found in `{line}`; found {ids:?}"
        );
    }
    let pem = report
        .findings
        .iter()
        .find(|f| f.rule_id.contains("private-key"))
        .expect("PEM block found");
    assert_eq!(
        (pem.start.line, pem.end.line),
        (8, 11),
        "the whole block is one finding"
    );
    assert_eq!(
        report
            .findings
            .iter()
            .filter(|f| f.rule_id.contains("private-key"))
            .count(),
        1
    );
}

#[test]
fn no_output_format_contains_a_fixture_secret() {
    let report = scan(vec![(
        "config/app.env",
        Content::Absent,
        text(&fixture_file()),
    )]);
    assert!(report.findings.len() >= FIXTURE.len());
    let secrets = secrets_analyzer(SecretsOptions::default());
    let docs: Vec<RuleDoc> = secrets.rules().rules().iter().map(RuleDoc::from).collect();
    let outputs = [
        ("text", report::text::render(&report)),
        ("json", report::json::render(&report).to_string()),
        ("sarif", report::sarif::render(&report, &docs).to_string()),
        ("debug", format!("{report:?}")),
    ];
    let pem_body = PEM.lines().nth(1).expect("pem body");
    for (format, output) in &outputs {
        for (rule, value, _) in FIXTURE {
            // Neither the value nor any 8-character piece of it past the shown prefix.
            let tail: Vec<char> = value.chars().skip(4).collect();
            for window in tail.windows(8) {
                let piece: String = window.iter().collect();
                assert!(
                    !output.contains(&piece),
                    "{format} output echoes part `{piece}` of the {rule} value"
                );
            }
        }
        assert!(
            !output.contains(&pem_body[..20]),
            "{format} output echoes the private key"
        );
    }
    let text = &outputs[0].1;
    assert!(
        text.contains("ghp_…(40 chars)"),
        "masked form shown:\n{text}"
    );
    assert!(text.contains("Removing the line does not help"), "{text}");
}

#[test]
fn only_added_lines_are_scanned() {
    let base = "AWS_ACCESS_KEY_ID=AKIAZ7Q4XW2M9RT3LPKE\nDEBUG=1\n";
    let head = "AWS_ACCESS_KEY_ID=AKIAZ7Q4XW2M9RT3LPKE\nDEBUG=0\nGH=ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\n";
    let report = scan(vec![("settings.env", text(base), text(head))]);
    assert_eq!(rule_ids(&report), vec!["secrets.github-pat"]);
    assert_eq!(report.findings[0].start.line, 3);
}

#[test]
fn the_same_secret_moved_keeps_its_fingerprint_and_another_value_does_not() {
    let at_top = scan(vec![(
        "a.env",
        Content::Absent,
        text("T=ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\n"),
    )]);
    let moved = scan(vec![(
        "a.env",
        Content::Absent,
        text("# header\n\nOTHER=1\nTOKEN = ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\n"),
    )]);
    let other = scan(vec![(
        "a.env",
        Content::Absent,
        text("T=ghp_Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2\n"),
    )]);
    assert_eq!(
        at_top.findings[0].fingerprint,
        moved.findings[0].fingerprint
    );
    assert_ne!(
        at_top.findings[0].fingerprint,
        other.findings[0].fingerprint
    );
}

#[test]
fn lock_files_and_binaries_are_skipped_with_a_reason() {
    let report = scan(vec![
        (
            "web/package-lock.json",
            Content::Absent,
            text("\"integrity\": \"sha512-ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\"\n"),
        ),
        (
            "web/app.min.js",
            Content::Absent,
            text("var k=\"ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\";\n"),
        ),
        (
            "img.png",
            Content::Absent,
            Content::from_bytes(b"\x89PNG\0ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o".to_vec()),
        ),
    ]);
    assert!(report.findings.is_empty(), "{:?}", rule_ids(&report));
    let reasons: Vec<(&str, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].1.starts_with("lock file"), "{reasons:?}");
    assert!(reasons[1].1.starts_with("minified asset"), "{reasons:?}");
    assert_eq!(reasons[2].1, "binary file");
    let including = SecretsAnalyzer::new(
        SecretRules::load(None).expect("rules"),
        DEFAULT_FINGERPRINT_KEY.to_vec(),
        SecretsOptions {
            skip_lock_files: false,
            skip_minified: false,
        },
    );
    let found = including.findings_in(
        "web/app.min.js",
        "var k=\"ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\";",
        None,
    );
    assert_eq!(
        found.len(),
        1,
        "configurable: minified files can be included"
    );
}

#[test]
fn secret_markers_users_already_write_are_honoured() {
    for (marker, source) in [
        ("# gitleaks:allow", SuppressionSource::Gitleaks),
        (
            "# pragma: allowlist secret",
            SuppressionSource::DetectSecrets,
        ),
        ("# nosec", SuppressionSource::Nosec),
        (
            "# hunkscan:ignore secrets.github-pat -- revoked test token",
            SuppressionSource::Hunkscan,
        ),
    ] {
        let head = format!("T = \"ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\"  {marker}\n");
        let report = scan(vec![("a.py", Content::Absent, text(&head))]);
        let suppression = report.findings.first().and_then(|f| f.suppression.as_ref());
        assert_eq!(suppression.map(|s| s.source), Some(source), "{marker}");
    }
    let next_line =
        "# pragma: allowlist nextline secret\nT = \"ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\"\n";
    let report = scan(vec![("a.py", Content::Absent, text(next_line))]);
    assert_eq!(
        report.findings[0].suppression.as_ref().map(|s| s.source),
        Some(SuppressionSource::DetectSecrets)
    );
    // A secrets-only marker does not silence a code finding on the same line.
    let report = scan(vec![(
        "a.py",
        Content::Absent,
        text("import os\nos.system(cmd)  # gitleaks:allow\n"),
    )]);
    assert_eq!(report.active().count(), 1);
    // And ast-grep's marker, a code scanner's, does not silence a secret.
    let report = scan(vec![(
        "a.py",
        Content::Absent,
        text("T = \"ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o\"  # ast-grep-ignore\n"),
    )]);
    assert_eq!(rule_ids(&report), vec!["secrets.github-pat"]);
    assert_eq!(report.active().count(), 1);
}

#[test]
fn placeholders_and_look_alikes_are_not_secrets() {
    let analyzer = secrets_analyzer(SecretsOptions::default());
    let near_misses = [
        "password = os.environ[\"DB_PASSWORD\"]",
        "password: ${DB_PASSWORD}",
        "api_key = \"<your-api-key>\"",
        "password = \"changeme\"",
        "secret = \"xxxxxxxxxxxxxxxx\"",
        "token: {{ vault_token }}",
        "id = \"0b8f6a9e-3c1d-4e2f-9a7b-5c6d7e8f9a0b\"",
        "ghp_short",
        "my_ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5oEXTRA_LONGER_WORD_123",
        "AKIAZ7Q4XW2M9RT3LP",
        "\"integrity\": \"sha512-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d\"",
        "<img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\">",
        "-----BEGIN PUBLIC KEY-----",
        "STRIPE_KEY=sk_test_51HqT9xKc8Lm2Np4Qr6St8Uv0Wx",
        "api_key = \"sk_test_51HqT9xKc8Lm2Np4Qr6St8Uv0Wx\"",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ];
    for line in near_misses {
        let found: Vec<String> = analyzer
            .findings_in("x.txt", line, None)
            .into_iter()
            .map(|f| f.finding.rule_id)
            .collect();
        assert!(
            found.is_empty(),
            "`{line}` must not be a secret, found by {found:?}"
        );
    }
    assert!(looks_like_placeholder("${TOKEN}") && looks_like_placeholder("aaaaaaaaaaaa"));
    assert!(!looks_like_placeholder("Zr8Qm3Tx6Lw1Vb9K"));
    assert_eq!(
        mask("ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o"),
        "ghp_…(40 chars)"
    );
    assert_eq!(mask("Xq7Lm2Pz9R"), "Xq…(10 chars)");
    assert_eq!(mask("short"), "…(5 chars)");
}

#[test]
fn aws_key_pair_in_one_file_raises_confidence() {
    let analyzer = secrets_analyzer(SecretsOptions::default());
    let alone = analyzer.findings_in("a.env", "AWS_ACCESS_KEY_ID=AKIAZ7Q4XW2M9RT3LPKE", None);
    let pair = analyzer.findings_in(
        "a.env",
        "AWS_ACCESS_KEY_ID=AKIAZ7Q4XW2M9RT3LPKE\nAWS_SECRET_ACCESS_KEY=wJ8rT2xK9mQ4vB7nL1pZ5cY3hF6gD0sA2eR4tU8i",
        None,
    );
    let confidence = |found: &[hunkscan::engine::RawFinding]| {
        found
            .iter()
            .find(|f| f.finding.rule_id == "secrets.aws-access-key-id")
            .map(|f| f.finding.confidence)
    };
    assert_eq!(confidence(&pair), Some(hunkscan::engine::Confidence::High));
    assert!(confidence(&alone).is_some());
    assert!(confidence(&alone) <= confidence(&pair));
}

#[test]
fn at_least_150_provider_rules_with_rotation_guidance_and_peer_aliases() {
    let rules = SecretRules::load(None).expect("rules");
    let providers: std::collections::BTreeSet<&str> =
        rules.rules().iter().map(|r| r.provider.as_str()).collect();
    assert!(rules.len() >= 150, "{} rules", rules.len());
    assert!(
        providers.len() >= 100,
        "{} providers: {providers:?}",
        providers.len()
    );
    let with_rotation = rules
        .rules()
        .iter()
        .filter(|r| r.rotation.is_some())
        .count();
    assert!(
        with_rotation * 2 >= rules.len(),
        "most rules link a rotation page ({with_rotation}/{})",
        rules.len()
    );
    let with_aliases = rules
        .rules()
        .iter()
        .filter(|r| r.aliases.all().next().is_some())
        .count();
    assert!(
        with_aliases * 10 >= rules.len() * 8,
        "most rules name their peers' ids ({with_aliases}/{})",
        rules.len()
    );
    let github = rules
        .rules()
        .iter()
        .find(|r| r.id == "secrets.github-pat")
        .expect("github-pat");
    assert!(github.answers_to("github-pat") && github.answers_to("GitHubTokenDetector"));
}

#[test]
fn generic_assignments_take_suffixed_keys_and_random_letters_but_not_words() {
    let analyzer = secrets_analyzer(SecretsOptions::default());
    let ids = |line: &str| -> Vec<String> {
        analyzer
            .findings_in("app.py", line, None)
            .into_iter()
            .map(|f| f.finding.rule_id)
            .collect()
    };
    for line in [
        "password0: \"Tq4ZbW8mRk2sVx9LpYd3Nf\"",
        "db_password_2 = \"Hc7rWq2NzL5vKm9Ts\"",
        "DB_PASSWORD_2=Hc7rWq2NzL5vKm9Ts",
        // No digit, no symbol: about one random 22-letter password in fifty.
        "password: \"vQmTzRkWpLsNbYxHcJdF\"",
    ] {
        assert_eq!(ids(line).len(), 1, "`{line}`: {:?}", ids(line));
    }
    for line in [
        "confirm_password: \"passwordConfirmation\"",
        "secret: \"MyCompanySecretValue\"",
        "token_type = \"XMLHttpRequestHandler\"",
    ] {
        assert!(ids(line).is_empty(), "`{line}`: {:?}", ids(line));
    }
    let found = analyzer.findings_in("app.py", "password0: \"Tq4ZbW8mRk2sVx9LpYd3Nf\"", None);
    assert!(
        !found[0].finding.message.contains("Generic"),
        "{}",
        found[0].finding.message
    );
}

/// `fixtures/secrets/files/vulnerable.json`: per fixture file under
/// `vulnerable/`, the lines that hold a secret and the value on each.
fn vulnerable_manifest() -> Vec<(String, Vec<(u32, String)>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/secrets/files");
    let text = std::fs::read_to_string(root.join("vulnerable.json")).expect("manifest");
    let manifest: std::collections::BTreeMap<String, Vec<(u32, String)>> =
        serde_json::from_str(&text).expect("manifest parses");
    manifest.into_iter().collect()
}

fn fixture_text(kind: &str, path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/secrets/files");
    std::fs::read_to_string(root.join(kind).join(path)).expect("fixture")
}

fn fixture_paths(kind: &str) -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/secrets/files")
        .join(kind);
    walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| {
            entry
                .path()
                .strip_prefix(&root)
                .ok()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
        })
        .collect()
}

#[test]
fn credential_files_report_the_line_of_each_secret_and_templates_stay_quiet() {
    let manifest = vulnerable_manifest();
    assert!(manifest.len() >= 20, "{} fixtures", manifest.len());
    for (path, expected) in &manifest {
        let report = scan(vec![(
            path,
            Content::Absent,
            text(&fixture_text("vulnerable", path)),
        )]);
        let lines: Vec<u32> = report.active().map(|f| f.start.line).collect();
        for (line, _) in expected {
            assert!(
                lines.contains(line),
                "{path}: line {line} not reported; reported {lines:?} by {:?}",
                rule_ids(&report)
            );
        }
    }
    let safe = fixture_paths("safe");
    assert!(safe.len() >= 12, "{safe:?}");
    for path in &safe {
        let report = scan(vec![(
            path,
            Content::Absent,
            text(&fixture_text("safe", path)),
        )]);
        let found: Vec<(u32, &str)> = report
            .active()
            .map(|f| (f.start.line, f.rule_id.as_str()))
            .collect();
        assert!(found.is_empty(), "{path}: {found:?}");
    }
}

#[test]
fn no_output_format_contains_a_credential_file_secret() {
    let manifest = vulnerable_manifest();
    let files = manifest
        .iter()
        .map(|(path, _)| {
            changed_file(
                path,
                Content::Absent,
                text(&fixture_text("vulnerable", path)),
            )
            .expect("diff")
        })
        .collect();
    let pipeline = hunkscan::pipeline::Pipeline::load(&hunkscan::pipeline::Options::default())
        .expect("pipeline");
    let (outcome, dropped) = pipeline.run_explained(
        ChangeSet { files },
        &hunkscan::config::repo::RepoConfig::default(),
    );
    let report = outcome.report;
    assert!(report.active().count() >= manifest.len());
    let outputs = [
        ("text", report::text::render(&report)),
        ("dropped", report::text::render_dropped(&dropped)),
        (
            "json",
            report::json::with_dropped(report::json::render(&report), &dropped).to_string(),
        ),
        (
            "sarif",
            report::sarif::render(&report, pipeline.rule_docs()).to_string(),
        ),
        ("debug", format!("{report:?} {dropped:?}")),
    ];
    for (format, output) in &outputs {
        for (path, expected) in &manifest {
            for (line, value) in expected {
                // Neither the value nor any 8-character piece of it past the shown prefix.
                let tail: Vec<char> = value.chars().skip(4).collect();
                for window in tail.windows(8) {
                    let piece: String = window.iter().collect();
                    assert!(
                        !output.contains(&piece),
                        "{format} output echoes part `{piece}` of {path}:{line}"
                    );
                }
            }
        }
    }
}

#[test]
fn explain_dropped_lists_placeholders_with_their_reason_and_no_value() {
    let head = "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\
                aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n\
                SLACK_WEBHOOK=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX\n\
                password = \"passwordConfirmation\"\n";
    let pipeline = hunkscan::pipeline::Pipeline::load(&hunkscan::pipeline::Options::default())
        .expect("pipeline");
    // A script, not a configuration file: the generic rules alone read it.
    let file = changed_file("deploy.sh", Content::Absent, text(head)).expect("diff");
    let (outcome, dropped) = pipeline.run_explained(
        ChangeSet { files: vec![file] },
        &hunkscan::config::repo::RepoConfig::default(),
    );
    assert_eq!(
        outcome.report.active().count(),
        0,
        "{:?}",
        rule_ids(&outcome.report)
    );
    let document = report::json::with_dropped(report::json::render(&outcome.report), &dropped);
    let listed = document["dropped"].as_array().expect("dropped listed");
    let by_line: Vec<(u64, &str, &str)> = listed
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap_or(0),
                d["rule_id"].as_str().unwrap_or(""),
                d["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        by_line.contains(&(1, "secrets.github-pat", "placeholder")),
        "{by_line:?}"
    );
    assert!(
        by_line.contains(&(2, "secrets.aws-access-key-id", "documentation-sample")),
        "{by_line:?}"
    );
    assert!(by_line.iter().any(|(line, _, _)| *line == 3), "{by_line:?}");
    assert!(
        by_line.contains(&(4, "secrets.generic-assignment", "reads-as-words")),
        "{by_line:?}"
    );
    let json = document.to_string();
    for value in [
        "xxxxxxxx",
        "IOSFODNN7",
        "T00000000/B0",
        "passwordConfirmation",
    ] {
        assert!(!json.contains(value), "{value} in {json}");
    }
    assert!(
        listed
            .iter()
            .all(|d| d["explanation"].as_str().is_some_and(|e| !e.is_empty()))
    );
    // Without the option nothing changes: the same report, no `dropped` key.
    assert!(
        report::json::render(&outcome.report)
            .get("dropped")
            .is_none()
    );
}

/// The noise budget of issue 15: on ordinary source, documentation and CI
/// files, at most one secrets finding per 5,000 added lines. The project's
/// own tree is that (minus the secrets module's and the tests' own fake
/// credentials, which are there on purpose).
#[test]
fn the_projects_own_source_docs_and_ci_stay_under_the_noise_budget() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let analyzer = secrets_analyzer(SecretsOptions::default());
    let mut lines = 0usize;
    let mut found = Vec::new();
    for folder in ["src", "docs", ".ci", "benches", "migrations"] {
        for entry in walkdir::WalkDir::new(root.join(folder))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
        {
            let relative = entry
                .path()
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            // Fake credentials on purpose: the detector's own tests and samples.
            if relative.starts_with("src/engine/secrets/") || relative.ends_with("redact.rs") {
                continue;
            }
            let Ok(body) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            lines += body.lines().count();
            found.extend(
                analyzer
                    .findings_in(&relative, &body, None)
                    .into_iter()
                    .map(|f| {
                        format!(
                            "{}:{} {}",
                            relative, f.finding.start.line, f.finding.rule_id
                        )
                    }),
            );
        }
    }
    for file in [
        "README.md",
        "SECURITY.md",
        "Dockerfile",
        "fly.toml",
        "app.yml",
        "Cargo.toml",
    ] {
        if let Ok(body) = std::fs::read_to_string(root.join(file)) {
            lines += body.lines().count();
            found.extend(
                analyzer
                    .findings_in(file, &body, None)
                    .into_iter()
                    .map(|f| format!("{}:{} {}", file, f.finding.start.line, f.finding.rule_id)),
            );
        }
    }
    assert!(lines > 20_000, "{lines} lines read");
    assert!(
        found.len() * 5_000 <= lines,
        "{} findings in {lines} lines: {found:#?}",
        found.len()
    );
}
