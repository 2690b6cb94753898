//! IaC analysis base against head, through the engine as `hunkscan scan`
//! and the bot run it: what is new, what got worse (also by deleting lines
//! or files), what was fixed, what stays unreported, suppressions, and
//! files that cannot be read.

use hunkscan::engine::iac::IacAnalyzer;
use hunkscan::engine::iac::policy::Policies;
use hunkscan::engine::{
    ChangeKind, ChangeSet, Content, Engine, Finding, ScanReport, SuppressionSource,
};
use hunkscan::local::{changed_file, from_trees};
use std::path::Path;
use std::sync::LazyLock;

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    // What a repository runs by default: opt-in policies are off.
    let policies = Policies::load(None)
        .expect("embedded IaC rules load")
        .without_opt_in();
    Engine::new(vec![Box::new(IacAnalyzer::new(policies))])
});

fn change(path: &str, base: Option<&str>, head: Option<&str>) -> ScanReport {
    let content =
        |text: Option<&str>| text.map_or(Content::Absent, |t| Content::Text(t.to_owned()));
    let file = changed_file(path, content(base), content(head)).expect("diffable");
    ENGINE.scan(&ChangeSet { files: vec![file] })
}

fn summary(findings: &[Finding]) -> Vec<(String, String, &'static str, u32, bool)> {
    findings
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                f.rule_id.clone(),
                f.change.as_str(),
                f.start.line,
                f.suppression.is_some(),
            )
        })
        .collect()
}

/// The policies on values a workload leaves at their defaults
/// (`tests/iac_semantics.rs` covers them); tests about other things
/// leave their findings out.
fn not_about_defaults(rule: &str) -> bool {
    !matches!(
        rule,
        "kubernetes.privilege-escalation-not-disabled" | "kubernetes.run-as-non-root-unset"
    )
}

fn fixture_report() -> ScanReport {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/iac");
    let changes = from_trees(&root.join("base"), &root.join("head")).expect("fixture trees");
    ENGINE.scan(&changes)
}

#[test]
fn fixture_pull_request_reports_exactly_what_the_change_did() {
    let report = fixture_report();
    let got = summary(&report.findings);
    let expected: Vec<(&str, &str, &str, u32, bool)> = vec![
        (
            ".github/workflows/ci.yml",
            "github-actions.excessive-permissions",
            "regression",
            6,
            false,
        ),
        (
            ".github/workflows/ci.yml",
            "github-actions.unpinned-action",
            "new",
            21,
            false,
        ),
        (
            ".github/workflows/label.yml",
            "github-actions.pwn-request-checkout",
            "new",
            12,
            false,
        ),
        (
            ".github/workflows/label.yml",
            "github-actions.template-injection",
            "new",
            14,
            false,
        ),
        (
            ".github/workflows/label.yml",
            "github-actions.template-injection",
            "new",
            16,
            true,
        ),
        ("Dockerfile", "dockerfile.curl-pipe-shell", "new", 4, false),
        (
            "Dockerfile",
            "dockerfile.final-stage-runs-as-root",
            "regression",
            14,
            false,
        ),
        ("Dockerfile", "dockerfile.add-remote-url", "new", 10, false),
        ("Dockerfile", "dockerfile.chmod-777", "new", 12, true),
        (
            "deploy/k8s/app.yaml",
            "kubernetes.privileged-container",
            "new",
            17,
            false,
        ),
        (
            "deploy/k8s/app.yaml",
            "kubernetes.image-latest-or-untagged",
            "regression",
            20,
            false,
        ),
        (
            "deploy/k8s/app.yaml",
            "kubernetes.run-as-non-root-removed",
            "regression",
            22,
            false,
        ),
        (
            "deploy/k8s/app.yaml",
            "kubernetes.sensitive-host-path",
            "new",
            57,
            true,
        ),
        (
            "deploy/k8s/app.yaml",
            "kubernetes.rbac-wildcard",
            "new",
            67,
            false,
        ),
        (
            "infra/modules/network/main.tf",
            "terraform.aws-security-group-open-admin-ports",
            "regression",
            22,
            false,
        ),
        (
            "infra/modules/network/main.tf",
            "terraform.aws-security-group-open-all-ports",
            "new",
            43,
            false,
        ),
        (
            "infra/old/cloudtrail.tf",
            "terraform.aws-cloudtrail-log-validation-disabled",
            "fixed",
            1,
            false,
        ),
        (
            "infra/old/cloudtrail.tf",
            "terraform.aws-cloudtrail-not-encrypted-with-kms",
            "fixed",
            1,
            false,
        ),
        (
            "infra/old/cloudtrail.tf",
            "terraform.aws-cloudtrail-removed",
            "regression",
            1,
            false,
        ),
        (
            "infra/old/cloudtrail.tf",
            "terraform.aws-security-group-open-admin-ports",
            "fixed",
            13,
            false,
        ),
        (
            "infra/storage.tf",
            "terraform.aws-s3-public-access-block-removed",
            "regression",
            5,
            false,
        ),
        (
            "infra/storage.tf",
            "terraform.aws-rds-unencrypted",
            "regression",
            9,
            false,
        ),
        (
            "infra/storage.tf",
            "terraform.aws-rds-unencrypted",
            "new",
            13,
            false,
        ),
        (
            "infra/storage.tf",
            "terraform.aws-rds-publicly-accessible",
            "new",
            18,
            true,
        ),
        (
            "infra/storage.tf",
            "terraform.aws-iam-wildcard-admin",
            "fixed",
            32,
            false,
        ),
    ];
    let mut expected: Vec<(String, String, &str, u32, bool)> = expected
        .into_iter()
        .map(|(p, r, c, l, s)| (p.to_owned(), r.to_owned(), c, l, s))
        .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    expected.sort();
    assert_eq!(got_sorted, expected, "{got:#?}");
    // The compliant worker manifest and the unchanged open RDP rule in a
    // changed file are not reported.
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.path.ends_with("worker.yaml"))
    );
    assert!(!report.findings.iter().any(|f| f.snippet.contains("3389")));
}

#[test]
fn regression_messages_name_the_old_and_the_new_value() {
    let report = fixture_report();
    let message = |rule: &str, path: &str| {
        report
            .findings
            .iter()
            .find(|f| f.rule_id == rule && f.path == path && f.change == ChangeKind::Regression)
            .map(|f| f.message.clone())
            .unwrap_or_default()
    };
    assert!(
        message(
            "terraform.aws-security-group-open-admin-ports",
            "infra/modules/network/main.tf"
        )
        .contains("`ingress[1].cidr_blocks[0]` changed from `10.0.0.0/8` to `0.0.0.0/0`")
    );
    assert!(
        message("terraform.aws-rds-unencrypted", "infra/storage.tf")
            .contains("`storage_encrypted` changed from `true` to `false`")
    );
    assert!(
        message("kubernetes.image-latest-or-untagged", "deploy/k8s/app.yaml")
            .contains("`image` changed from `nginx:1.27.3` to `nginx:latest`")
    );
    assert!(
        message("dockerfile.final-stage-runs-as-root", "Dockerfile")
            .contains("`user` removed (was `app`)")
    );
    assert!(
        message(
            "github-actions.excessive-permissions",
            ".github/workflows/ci.yml"
        )
        .contains("`permissions` removed (was `{contents: read}`)")
    );
    assert!(
        message(
            "terraform.aws-s3-public-access-block-removed",
            "infra/storage.tf"
        )
        .contains("`aws_s3_bucket_public_access_block.data` deleted by this change")
    );
}

#[test]
fn fixed_findings_are_credited_with_base_lines_and_never_fail_the_scan() {
    let base = "resource \"aws_db_instance\" \"main\" {\n  engine              = \"postgres\"\n  storage_encrypted   = true\n  publicly_accessible = true\n}\n";
    let head = base.replace("publicly_accessible = true", "publicly_accessible = false");
    let report = change("db.tf", Some(base), Some(&head));
    assert_eq!(
        summary(&report.findings),
        vec![(
            "db.tf".into(),
            "terraform.aws-rds-publicly-accessible".into(),
            "fixed",
            4,
            false
        )]
    );
    assert_eq!(report.active().count(), 0);
    assert!(!report.fails_at(hunkscan::engine::Severity::Info));
}

#[test]
fn an_unchanged_bad_line_in_a_changed_file_is_not_reported_even_if_rewritten() {
    let base = "resource \"aws_db_instance\" \"main\" {\n  engine              = \"postgres\"\n  publicly_accessible = true\n  storage_encrypted   = true\n}\n";
    // Touches the bad line (alignment) and another line, but the problem was already there.
    let head = "resource \"aws_db_instance\" \"main\" {\n  engine = \"mysql\"\n  publicly_accessible = true\n  storage_encrypted   = true\n}\n";
    let report = change("db.tf", Some(base), Some(head));
    assert!(
        report.findings.is_empty(),
        "{:?}",
        summary(&report.findings)
    );
}

#[test]
fn a_regression_that_only_deletes_lines_is_anchored_on_a_commentable_line() {
    let base = "FROM alpine:3.20\nRUN apk add --no-cache ca-certificates\nCOPY app /app\nUSER app\nENTRYPOINT [\"/app\"]\n";
    let head = "FROM alpine:3.20\nRUN apk add --no-cache ca-certificates\nCOPY app /app\nENTRYPOINT [\"/app\"]\n";
    let file = changed_file(
        "Dockerfile",
        Content::Text(base.into()),
        Content::Text(head.into()),
    )
    .expect("diff");
    assert!(file.diff.lines.added.is_empty(), "the change only deletes");
    let commentable = file.diff.lines.commentable.clone();
    let report = ENGINE.scan(&ChangeSet { files: vec![file] });
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule_id == "dockerfile.final-stage-runs-as-root")
        .expect("the deleted USER is a regression");
    assert_eq!(finding.change, ChangeKind::Regression);
    assert!(
        commentable.contains(&finding.start.line),
        "line {} not commentable",
        finding.start.line
    );
    // Next to where `USER app` was (base line 4, between head lines 3 and 4).
    assert!(
        (3..=4).contains(&finding.start.line),
        "{}",
        finding.start.line
    );
    assert_eq!(
        finding.snippet,
        head.lines()
            .nth(finding.start.line as usize - 1)
            .unwrap_or_default()
    );
}

#[test]
fn a_removed_file_credits_its_problems_and_reports_deleted_protection() {
    let base = "resource \"aws_s3_account_public_access_block\" \"account\" {\n  block_public_acls   = true\n  block_public_policy = true\n}\n\nresource \"aws_ebs_volume\" \"scratch\" {\n  size = 10\n}\n";
    let report = change("infra/account.tf", Some(base), None);
    let mut got = summary(&report.findings);
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "infra/account.tf".into(),
                "terraform.aws-ebs-unencrypted".into(),
                "fixed",
                6,
                false
            ),
            // Two flags were never set: two problems, both gone with the file.
            (
                "infra/account.tf".into(),
                "terraform.aws-s3-public-access-block-disabled".into(),
                "fixed",
                1,
                false
            ),
            (
                "infra/account.tf".into(),
                "terraform.aws-s3-public-access-block-disabled".into(),
                "fixed",
                1,
                false
            ),
            (
                "infra/account.tf".into(),
                "terraform.aws-s3-public-access-block-removed".into(),
                "regression",
                1,
                false
            ),
        ]
    );
    assert_eq!(report.files_analyzed, 1);
}

#[test]
fn a_renamed_resource_is_neither_fixed_nor_new() {
    let base = "resource \"aws_ebs_volume\" \"old\" {\n  size = 10\n}\n";
    let head = "resource \"aws_ebs_volume\" \"new_name\" {\n  size = 10\n}\n";
    let report = change("ebs.tf", Some(base), Some(head));
    assert!(
        report.findings.is_empty(),
        "{:?}",
        summary(&report.findings)
    );
}

#[test]
fn new_list_items_are_new_and_changed_values_are_regressions() {
    let base = "resource \"aws_security_group\" \"a\" {\n  ingress {\n    from_port   = 443\n    to_port     = 443\n    protocol    = \"tcp\"\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }\n}\n";
    let head = base.replace("  ingress {\n    from_port   = 443", "  ingress {\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }\n  ingress {\n    from_port   = 443");
    let report = change("sg.tf", Some(base), Some(&head));
    assert_eq!(
        summary(&report.findings),
        vec![(
            "sg.tf".into(),
            "terraform.aws-security-group-open-admin-ports".into(),
            "new",
            6,
            false
        )]
    );
    // Port 443 ─▶ 22 on the same open block: worse, with both values.
    let head = base.replace("443", "22");
    let report = change("sg.tf", Some(base), Some(&head));
    let finding = &report.findings[0];
    assert_eq!(finding.change, ChangeKind::Regression);
    assert!(
        finding.message.contains("changed from `443` to `22`"),
        "{}",
        finding.message
    );
}

#[test]
fn other_tools_markers_silence_only_the_checks_they_name() {
    let cases: [(&str, Option<SuppressionSource>); 9] = [
        (
            "  #tfsec:ignore:aws-rds-no-public-db-access\n",
            Some(SuppressionSource::Tfsec),
        ),
        (
            "  # trivy:ignore:AVD-AWS-0082\n",
            Some(SuppressionSource::Trivy),
        ),
        ("  # kics-scan ignore-line\n", Some(SuppressionSource::Kics)),
        (
            "  #checkov:skip=CKV_AWS_17:reviewed by security\n",
            Some(SuppressionSource::Checkov),
        ),
        (
            "  # hunkscan:ignore terraform.aws-rds-publicly-accessible -- bastion only\n",
            Some(SuppressionSource::Hunkscan),
        ),
        // Another check's id: the public database stays reported.
        (
            "  #checkov:skip=CKV_AWS_16:encryption handled elsewhere\n",
            None,
        ),
        (
            "  #tfsec:ignore:aws-rds-encrypt-instance-storage-data\n",
            None,
        ),
        // A marker two lines above does not reach it.
        ("  # kics-scan ignore-line\n  engine = \"postgres\"\n", None),
        ("", None),
    ];
    for (marker, expected) in cases {
        let head = format!(
            "resource \"aws_db_instance\" \"main\" {{\n  storage_encrypted = true\n{marker}  publicly_accessible = true\n}}\n"
        );
        let report = change("db.tf", None, Some(&head));
        let finding = report
            .findings
            .iter()
            .find(|f| f.rule_id == "terraform.aws-rds-publicly-accessible")
            .expect("found");
        assert_eq!(
            finding.suppression.as_ref().map(|s| s.source),
            expected,
            "{marker}"
        );
    }
    // Above a block, tfsec and KICS markers cover the whole block.
    for marker in [
        "#tfsec:ignore:aws-rds-no-public-db-access\n",
        "# kics-scan ignore-block\n",
    ] {
        let head = format!(
            "{marker}resource \"aws_db_instance\" \"main\" {{\n  storage_encrypted = true\n  publicly_accessible = true\n}}\n"
        );
        let report = change("db.tf", None, Some(&head));
        assert!(
            report.findings.iter().all(|f| f.suppression.is_some()),
            "{marker}: {:?}",
            summary(&report.findings)
        );
        assert_eq!(report.findings.len(), 1);
    }
    let reason = change(
        "db.tf",
        None,
        Some(
            "resource \"aws_db_instance\" \"main\" {\n  #checkov:skip=CKV_AWS_17:BI replica behind the VPN\n  storage_encrypted = true\n  publicly_accessible = true\n}\n",
        ),
    );
    assert_eq!(
        reason.findings[0]
            .suppression
            .as_ref()
            .and_then(|s| s.reason.clone())
            .as_deref(),
        Some("BI replica behind the VPN")
    );
}

#[test]
fn kubernetes_skip_annotations_and_zizmor_comments_are_honoured() {
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    checkov.io/skip1: CKV_K8S_16=needs raw device access\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: busybox:1.36.1\n    securityContext:\n      privileged: true\n      allowPrivilegeEscalation: true\n";
    let report = change("pod.yaml", None, Some(manifest));
    let got: Vec<(String, Option<String>)> = report
        .findings
        .iter()
        .filter(|f| not_about_defaults(&f.rule_id))
        .map(|f| {
            (
                f.rule_id.clone(),
                f.suppression.as_ref().and_then(|s| s.reason.clone()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "kubernetes.privileged-container".into(),
                Some("needs raw device access".into())
            ),
            ("kubernetes.allow-privilege-escalation".into(), None),
        ]
    );
    let workflow = "on: issues\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"${{ github.event.issue.title }}\" # zizmor: ignore[template-injection]\n      - run: echo \"${{ github.event.issue.body }}\" # zizmor: ignore[unpinned-uses]\n";
    let report = change(".github/workflows/triage.yml", None, Some(workflow));
    let got: Vec<bool> = report
        .findings
        .iter()
        .map(|f| f.suppression.is_some())
        .collect();
    assert_eq!(got, vec![true, false]);
}

#[test]
fn templates_and_broken_files_are_skipped_with_a_reason_and_the_rest_is_analysed() {
    let helm = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  {{- if .Values.x }}\n  hostNetwork: true\n  {{- end }}\n";
    let files = vec![
        changed_file("charts/app/templates/pod.yaml", Content::Absent, Content::Text(helm.into())).expect("diff"),
        changed_file("k8s/pod.yaml", Content::Absent, Content::Text(helm.into())).expect("diff"),
        changed_file("main.tf", Content::Absent, Content::Text("resource \"a\" \"b\" {\n  x = [\n}\n".into())).expect("diff"),
        changed_file(
            "ok.tf",
            Content::Absent,
            Content::Text("resource \"aws_db_instance\" \"x\" {\n  storage_encrypted = true\n  publicly_accessible = true\n}\n".into()),
        )
        .expect("diff"),
        changed_file("docker-compose.yml", Content::Absent, Content::Text("services:\n  web:\n    image: nginx\n".into())).expect("diff"),
    ];
    let report = ENGINE.scan(&ChangeSet { files });
    let skipped: Vec<(&str, bool)> = report
        .skipped
        .iter()
        .map(|s| {
            (
                s.path.as_str(),
                s.reason.contains("template") || s.reason.contains("HCL syntax error at line 3"),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("charts/app/templates/pod.yaml", true),
            ("k8s/pod.yaml", true),
            ("main.tf", true)
        ],
        "{:?}",
        report.skipped
    );
    assert_eq!(
        summary(&report.findings),
        vec![(
            "ok.tf".into(),
            "terraform.aws-rds-publicly-accessible".into(),
            "new",
            3,
            false
        )]
    );
}

#[test]
fn credentials_are_never_echoed() {
    let head = "FROM node:20.15.1\nENV API_TOKEN=tok_9f8e7d6c5b4a\nUSER node\n";
    let base = "FROM node:20.15.1\nENV NODE_ENV=production\nUSER node\n";
    for report in [
        change("Dockerfile", None, Some(head)),
        change("Dockerfile", Some(base), Some(head)),
    ] {
        let finding = report
            .findings
            .iter()
            .find(|f| f.rule_id == "dockerfile.secret-in-env-or-arg")
            .expect("found");
        assert!(
            finding.message.contains("`API_TOKEN`"),
            "{}",
            finding.message
        );
        assert!(
            !finding.message.contains("tok_") && !finding.snippet.contains("tok_"),
            "{finding:?}"
        );
        assert_eq!(finding.snippet, "ENV API_TOKEN= …(16 chars)");
    }
    // A regression names what changed, never the values.
    let base =
        "provider \"aws\" {\n  region     = \"eu-west-1\"\n  access_key = var.access_key\n}\n";
    let head = "provider \"aws\" {\n  region     = \"eu-west-1\"\n  access_key = \"AKIAZZZZZZZZZZZZZZZZ\"\n}\n";
    let report = change("providers.tf", Some(base), Some(head));
    let finding = &report.findings[0];
    assert_eq!(finding.change, ChangeKind::Regression);
    assert!(
        finding.message.ends_with("`access_key` changed"),
        "{}",
        finding.message
    );
    assert!(
        !finding.message.contains("AKIA") && !finding.snippet.contains("AKIA"),
        "{finding:?}"
    );
}

#[test]
fn multi_document_list_and_every_workload_kind_are_read() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: batch/v1\n  kind: CronJob\n  metadata: {name: a}\n  spec:\n    jobTemplate:\n      spec:\n        template:\n          spec:\n            automountServiceAccountToken: false\n            initContainers:\n            - {name: i, image: 'busybox:latest'}\n            containers:\n            - {name: c, image: 'app:1.0'}\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: b}\nspec:\n  template:\n    spec:\n      hostPID: true\n      automountServiceAccountToken: false\n      containers:\n      - {name: c, image: 'agent:2.0'}\n";
    let mut report = change("all.yaml", None, Some(text));
    report.findings.retain(|f| not_about_defaults(&f.rule_id));
    assert_eq!(
        summary(&report.findings),
        vec![
            (
                "all.yaml".into(),
                "kubernetes.image-latest-or-untagged".into(),
                "new",
                14,
                false
            ),
            (
                "all.yaml".into(),
                "kubernetes.host-namespaces".into(),
                "new",
                24,
                false
            ),
        ]
    );
}

#[test]
fn the_bot_fetches_base_versions_of_iac_files_only() {
    let iac = IacAnalyzer::new(Policies::load(None).expect("load"));
    let engine = Engine::new(vec![Box::new(iac)]);
    for path in [
        "main.tf",
        "x.tf.json",
        "Dockerfile",
        "build/api.dockerfile",
        "Containerfile",
        ".github/workflows/ci.yml",
        "k8s/app.yaml",
    ] {
        assert!(engine.needs_base(path) && engine.reads(path), "{path}");
    }
    for path in ["app.py", ".github/workflows/nested/x.yml.txt", "README.md"] {
        assert!(!engine.needs_base(path), "{path}");
    }
}

/// Every output format a finding reaches (text, JSON, SARIF, and the
/// report's `Debug`), for leak checks.
fn rendered(report: &ScanReport) -> Vec<(&'static str, String)> {
    use hunkscan::report::{self, RuleDoc};
    let policies = Policies::load(None).expect("embedded IaC rules load");
    let docs: Vec<RuleDoc> = policies.all().iter().map(RuleDoc::from).collect();
    vec![
        ("text", report::text::render(report)),
        ("json", report::json::render(report).to_string()),
        ("sarif", report::sarif::render(report, &docs).to_string()),
        ("debug", format!("{report:?}")),
    ]
}

fn assert_never_echoed(report: &ScanReport, secrets: &[&str]) {
    for (format, output) in rendered(report) {
        for secret in secrets {
            let chars: Vec<char> = secret.chars().collect();
            for window in chars.windows(8) {
                let piece: String = window.iter().collect();
                assert!(
                    !output.contains(&piece),
                    "{format} output echoes `{piece}` of a secret:\n{output}"
                );
            }
        }
    }
}

#[test]
fn multi_line_and_legacy_form_secrets_are_never_echoed_in_any_format() {
    const GHP: &str = "ghp_R8x2Kq9ZtW4mNb7Lc3Vd5Hf6Jg1Yp0Sa2Ue8";
    const CONTINUED: &str = "sk_live_51Hq8ZrT2x9Wv4Nb7Lc3Vd5";
    const PEM_BODY: &str = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw";
    let dockerfile = format!(
        "FROM node:20.15.1\nENV API_TOKEN {GHP}\nENV STRIPE_SECRET_KEY \\\n    {CONTINUED}\nUSER node\n"
    );
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: app:1.0\n    env:\n    - name: TLS_PRIVATE_KEY\n      value: |\n        -----BEGIN RSA PRIVATE KEY-----\n        {PEM_BODY}\n        -----END RSA PRIVATE KEY-----\n"
    );
    let files = vec![
        changed_file("Dockerfile", Content::Absent, Content::Text(dockerfile)).expect("diff"),
        changed_file("k8s/pod.yaml", Content::Absent, Content::Text(manifest)).expect("diff"),
    ];
    let report = ENGINE.scan(&ChangeSet { files });
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(
        rules.iter().filter(|r| r.contains("secret-in-env")).count(),
        3,
        "{rules:?}"
    );
    assert_never_echoed(&report, &[GHP, CONTINUED, PEM_BODY]);
    // A regression (a secret reference replaced by the literal) is masked as well.
    let base = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: app:1.0\n    env:\n    - name: TLS_PRIVATE_KEY\n      valueFrom:\n        secretKeyRef: {name: tls, key: key}\n";
    let head = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: app:1.0\n    env:\n    - name: TLS_PRIVATE_KEY\n      value: |\n        -----BEGIN RSA PRIVATE KEY-----\n        {PEM_BODY}\n        -----END RSA PRIVATE KEY-----\n"
    );
    let report = change("k8s/pod.yaml", Some(base), Some(&head));
    assert_eq!(
        report.findings.iter().map(|f| f.change).collect::<Vec<_>>(),
        vec![ChangeKind::Regression]
    );
    assert_never_echoed(&report, &[PEM_BODY]);
}

fn security_group(blocks: usize, cidr: &str) -> String {
    let mut text =
        String::from("resource \"aws_security_group\" \"bastions\" {\n  name = \"bastions\"\n");
    for i in 0..blocks {
        text.push_str(&format!(
            "  ingress {{\n    description = \"bastion {i}\"\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    {cidr}\n  }}\n"
        ));
    }
    text.push_str("}\n");
    text
}

#[test]
fn a_thousand_open_blocks_switched_to_ipv6_are_compared_without_blowing_up() {
    // Used to take over a minute in a debug build (cubic in the findings).
    let base = security_group(1_000, "cidr_blocks = [\"0.0.0.0/0\"]");
    let head = security_group(1_000, "ipv6_cidr_blocks = [\"::/0\"]");
    let report = change("sg.tf", Some(&base), Some(&head));
    let count = |kind: ChangeKind| {
        report
            .findings
            .iter()
            .filter(|f| f.change == kind && f.rule_id.ends_with("open-admin-ports"))
            .count()
    };
    // Every block is open on its added line, none is lost.
    assert_eq!(
        count(ChangeKind::New) + count(ChangeKind::Regression),
        1_000
    );
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

#[test]
fn a_bad_ingress_inserted_before_an_existing_bad_one_is_new_on_its_lines() {
    let open = |port: u32| {
        format!(
            "  ingress {{\n    from_port   = {port}\n    to_port     = {port}\n    protocol    = \"tcp\"\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }}\n"
        )
    };
    let base = format!("resource \"aws_security_group\" \"a\" {{\n{}}}\n", open(22));
    let head = format!(
        "resource \"aws_security_group\" \"a\" {{\n{}{}}}\n",
        open(3389),
        open(22)
    );
    let report = change("sg.tf", Some(&base), Some(&head));
    assert_eq!(
        summary(&report.findings),
        vec![(
            "sg.tf".into(),
            "terraform.aws-security-group-open-admin-ports".into(),
            "new",
            6,
            false
        )]
    );
}

#[test]
fn a_wildcard_rule_inserted_before_an_existing_one_is_new_on_its_lines() {
    let rule = |resource: &str| {
        format!("- apiGroups: [\"\"]\n  resources: [\"{resource}\"]\n  verbs: [\"*\"]\n")
    };
    let role = |rules: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: ops\nrules:\n{rules}"
        )
    };
    let base = role(&rule("pods"));
    let head = role(&format!("{}{}", rule("secrets"), rule("pods")));
    let report = change("rbac.yaml", Some(&base), Some(&head));
    let got: Vec<(&str, u32)> = report
        .findings
        .iter()
        .filter(|f| f.rule_id == "kubernetes.rbac-wildcard")
        .map(|f| (f.change.as_str(), f.start.line))
        .collect();
    assert_eq!(got, vec![("new", 8)], "{:?}", summary(&report.findings));
}

#[test]
fn an_injectable_step_inserted_before_an_existing_one_is_new_on_its_lines() {
    let workflow = |steps: &str| {
        format!(
            "on: issues\npermissions: {{}}\njobs:\n  triage:\n    runs-on: ubuntu-latest\n    steps:\n{steps}"
        )
    };
    let step =
        |field: &str| format!("      - run: echo \"${{{{ github.event.issue.{field} }}}}\"\n");
    let base = workflow(&step("title"));
    let head = workflow(&format!("{}{}", step("body"), step("title")));
    let report = change(".github/workflows/triage.yml", Some(&base), Some(&head));
    let got: Vec<(&str, u32)> = report
        .findings
        .iter()
        .map(|f| (f.change.as_str(), f.start.line))
        .collect();
    assert_eq!(got, vec![("new", 7)], "{:?}", summary(&report.findings));
}

#[test]
fn markers_inside_string_values_silence_nothing() {
    let database = |line: &str| {
        format!(
            "resource \"aws_db_instance\" \"main\" {{\n  storage_encrypted = true\n{line}  publicly_accessible = true\n}}\n"
        )
    };
    let cases: [(&str, bool); 10] = [
        ("  description = \"see checkov:skip=CKV_AWS_17\"\n", false),
        (
            "  tags = { note = \"tfsec:ignore:aws-rds-no-public-db-access\" }\n",
            false,
        ),
        (
            "  name = \"x\" # checkov:skip=CKV_AWS_17:bastion only\n",
            true,
        ),
        (
            "  name = \"a#b\" // tfsec:ignore:aws-rds-no-public-db-access\n",
            true,
        ),
        (
            "  /* hunkscan:ignore terraform.aws-rds-publicly-accessible -- bastion */\n",
            true,
        ),
        (
            "  description = \"hunkscan:ignore terraform.aws-rds-publicly-accessible\"\n",
            false,
        ),
        ("  policy = <<EOF\n# kics-scan ignore-line\nEOF\n", false),
        (
            "  #tfsec:ignore:aws-rds-no-public-db-access:exp:2000-01-31\n",
            false,
        ),
        (
            "  #tfsec:ignore:aws-rds-no-public-db-access:exp:2999-12-31\n",
            true,
        ),
        ("", false),
    ];
    for (line, suppressed) in cases {
        let report = change("db.tf", None, Some(&database(line)));
        let finding = report
            .findings
            .iter()
            .find(|f| f.rule_id == "terraform.aws-rds-publicly-accessible")
            .expect("found");
        assert_eq!(finding.suppression.is_some(), suppressed, "{line}");
    }
    // YAML: a string value is data, a comment after a plain scalar is a comment.
    let workflow = |step: &str| {
        format!(
            "on: issues\npermissions: {{}}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n{step}"
        )
    };
    for (step, suppressed) in [
        (
            "      - name: \"zizmor: ignore[template-injection]\"\n        run: echo \"${{ github.event.issue.title }}\"\n",
            false,
        ),
        (
            "      - run: |\n          echo \"${{ github.event.issue.title }}\" # zizmor: ignore[template-injection]\n",
            false,
        ),
        (
            "      - run: echo \"${{ github.event.issue.title }}\" # zizmor: ignore[template-injection]\n",
            true,
        ),
    ] {
        let report = change(".github/workflows/t.yml", None, Some(&workflow(step)));
        let finding = report
            .findings
            .iter()
            .find(|f| f.rule_id == "github-actions.template-injection")
            .expect("found");
        assert_eq!(finding.suppression.is_some(), suppressed, "{step}");
    }
}

#[test]
fn dockerfile_heredoc_look_alikes_blank_continuation_lines_and_a_bom_hide_nothing() {
    let rules = |text: &str| -> Vec<(String, u32)> {
        let report = change("Dockerfile", None, Some(text));
        let mut got: Vec<(String, u32)> = report
            .findings
            .iter()
            .map(|f| (f.rule_id.clone(), f.start.line))
            .collect();
        got.sort();
        got
    };
    let expected = |rows: &[(&str, u32)]| -> Vec<(String, u32)> {
        let mut rows: Vec<(String, u32)> =
            rows.iter().map(|(r, l)| ((*r).to_owned(), *l)).collect();
        rows.sort();
        rows
    };
    // `<<EOT` inside quotes is not a heredoc; one whose terminator never
    // comes is backtracked: the instructions after it are still read.
    for run in [
        "RUN echo \"a<<EOT\"",
        "RUN echo 'x <<-EOT'",
        "RUN cat <<EOT > /etc/motd",
    ] {
        let text = format!(
            "FROM alpine:3.20\n{run}\nADD https://example.com/tool.tar.gz /opt/\nUSER root\n"
        );
        assert_eq!(
            rules(&text),
            expected(&[
                ("dockerfile.add-remote-url", 3),
                ("dockerfile.final-stage-runs-as-root", 4),
            ]),
            "{run}"
        );
    }
    // A real heredoc still holds its body.
    let text = "FROM alpine:3.20\nRUN <<EOT\nADD https://example.com/not-an-instruction /\nEOT\nUSER app\n";
    assert_eq!(rules(text), expected(&[]));
    // A blank line inside a `\\` continuation does not end the instruction.
    let text = "FROM alpine:3.20\nRUN apk add --no-cache curl \\\n\n    && curl -fsSL https://example.com/install.sh | sh\nUSER app\n";
    assert_eq!(rules(text), expected(&[("dockerfile.curl-pipe-shell", 2)]));
    // A UTF-8 byte order mark before `FROM` does not hide the stage.
    let text = "\u{feff}FROM alpine:latest\nUSER app\n";
    assert_eq!(
        rules(text),
        expected(&[("dockerfile.base-image-latest", 1)])
    );
}

#[test]
fn a_finding_made_to_apply_by_a_new_trigger_or_a_deleted_block_is_a_regression() {
    let checkout = "permissions:\n  contents: read\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n";
    let base = format!("on:\n  push:\n{checkout}");
    let head = format!("on:\n  push:\n  pull_request_target:\n{checkout}");
    let report = change(".github/workflows/ci.yml", Some(&base), Some(&head));
    let got: Vec<(&str, &str, u32)> = report
        .findings
        .iter()
        .map(|f| (f.rule_id.as_str(), f.change.as_str(), f.start.line))
        .collect();
    assert_eq!(
        got,
        vec![("github-actions.pwn-request-checkout", "regression", 3)]
    );
    assert!(
        report.findings[0]
            .message
            .contains("`pull_request_target` added to `workflow_triggers`"),
        "{}",
        report.findings[0].message
    );
    // The only job's `permissions` deleted, in a workflow that sets none.
    let base = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    permissions:\n      contents: read\n    steps:\n      - run: make\n";
    let head =
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n";
    let file = changed_file(
        ".github/workflows/ci.yml",
        Content::Text(base.into()),
        Content::Text(head.into()),
    )
    .expect("diff");
    let commentable = file.diff.lines.commentable.clone();
    let report = ENGINE.scan(&ChangeSet { files: vec![file] });
    let got: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.rule_id.as_str(), f.change.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![("github-actions.excessive-permissions", "regression")]
    );
    assert!(commentable.contains(&report.findings[0].start.line));
}

#[test]
fn look_alike_forms_of_known_problems_are_caught() {
    let rules_of = |path: &str, text: &str| -> Vec<String> {
        change(path, None, Some(text))
            .findings
            .iter()
            .map(|f| f.rule_id.clone())
            .filter(|rule| not_about_defaults(rule))
            .collect()
    };
    let workflow = "on: issue_comment\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"${{ github.event.issue.title || 'x' }}\"\n      - run: echo '${{ toJSON(github.event.comment) }}'\n      - run: echo \"PR ${{ github.event.pull_request.number }}\"\n";
    let injections = rules_of(".github/workflows/t.yml", workflow);
    assert_eq!(
        injections,
        vec!["github-actions.template-injection"; 2],
        "{injections:?}"
    );
    let dockerfile = "FROM debian:12.6\nRUN curl -fsSL \"https://example.com/get?os=linux&arch=amd64\" | /bin/bash -\nRUN bash <(curl -fsSL https://example.com/install.sh)\nUSER app\n";
    assert_eq!(
        rules_of("Dockerfile", dockerfile),
        vec!["dockerfile.curl-pipe-shell"; 2]
    );
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  automountServiceAccountToken: false\n  volumes:\n  - name: run\n    hostPath:\n      path: /var/run\n  containers:\n  - name: c\n    image: app:1.0\n    securityContext:\n      capabilities:\n        add: [\"sys_admin\"]\n";
    let mut got = rules_of("pod.yaml", pod);
    got.sort();
    assert_eq!(
        got,
        vec![
            "kubernetes.dangerous-capabilities",
            "kubernetes.sensitive-host-path"
        ]
    );
    let rule = "resource \"aws_security_group_rule\" \"x\" {\n  type              = \"ingress\"\n  from_port         = 0\n  to_port           = 65535\n  protocol          = \"tcp\"\n  cidr_blocks       = [\"0.0.0.0/0\"]\n  security_group_id = aws_security_group.web.id\n}\n";
    assert!(
        rules_of("sg.tf", rule).contains(&"terraform.aws-security-group-open-all-ports".to_owned())
    );
}

#[test]
fn an_admin_statement_inserted_before_an_edited_one_is_new() {
    let statement = |sid: &str, extra: &str| {
        format!(
            "      {{\n        Sid      = \"{sid}\"\n        Effect   = \"Allow\"\n        Action   = \"*\"\n        Resource = \"*\"{extra}\n      }},\n"
        )
    };
    let policy = |statements: &str| {
        format!(
            "resource \"aws_iam_policy\" \"ops\" {{\n  name = \"ops\"\n  policy = jsonencode({{\n    Version = \"2012-10-17\"\n    Statement = [\n{statements}    ]\n  }})\n}}\n"
        )
    };
    let base = policy(&statement("BreakGlass", ""));
    // A new admin statement above the old one, whose condition is edited too.
    let head = policy(&format!(
        "{}{}",
        statement("Deploy", ""),
        statement(
            "BreakGlass",
            "\n        Condition = { Bool = { \"aws:MultiFactorAuthPresent\" = \"true\" } }"
        )
    ));
    let report = change("iam.tf", Some(&base), Some(&head));
    let got: Vec<(&str, u32)> = report
        .findings
        .iter()
        .map(|f| (f.change.as_str(), f.start.line))
        .collect();
    assert_eq!(got.len(), 1, "{:?}", summary(&report.findings));
    assert_eq!(got[0].0, "new");
    assert!((6..=11).contains(&got[0].1), "{got:?}");
}

#[test]
fn a_credential_finding_moved_next_to_a_deletion_keeps_its_masked_snippet() {
    // A team policy: a literal key is tolerated only behind `assume_role`.
    let rules = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(rules.path().join("terraform")).expect("mkdir");
    std::fs::write(
        rules.path().join("terraform/literal-key-without-role.yml"),
        "id: terraform.literal-key-without-role\nseverity: high\ncwe: CWE-798\nmessage: \"{label} uses a literal key without `assume_role`\"\nremediation: \"Use a role.\"\ntarget: provider\nsensitive: true\nwhen:\n  all:\n    - {path: assume_role, absent: true}\n    - {path: secret_key, matches: \".\"}\n",
    )
    .expect("write policy");
    let policies = Policies::load(Some(rules.path())).expect("policies load");
    let engine = Engine::new(vec![Box::new(IacAnalyzer::new(policies))]);
    const SECRET: &str = "wJalrXUtnFEMIK7MDENGbPxRfiCYzq81kLm2";
    let base = format!(
        "provider \"aws\" {{\n  region     = \"eu-west-1\"\n  access_key = var.access_key\n  assume_role {{\n    role_arn = \"arn:aws:iam::123456789012:role/deploy\"\n  }}\n  secret_key = \"{SECRET}\"\n}}\n"
    );
    let head = format!(
        "provider \"aws\" {{\n  region     = \"eu-west-1\"\n  access_key = var.access_key\n  secret_key = \"{SECRET}\"\n}}\n"
    );
    let file =
        changed_file("providers.tf", Content::Text(base), Content::Text(head)).expect("diff");
    let report = engine.scan(&ChangeSet { files: vec![file] });
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule_id == "terraform.literal-key-without-role")
        .expect("the deleted assume_role is a regression");
    assert_eq!(finding.change, ChangeKind::Regression);
    assert_never_echoed(&report, &[SECRET]);
}

#[test]
fn a_file_with_too_many_findings_to_compare_is_reported_as_new_on_added_lines_with_a_reason() {
    // 10,001 findings on each side: over the 20,000 compared per file.
    let mut base = String::from("FROM debian:12.6\n");
    for i in 0..10_001 {
        base.push_str(&format!("RUN sudo touch /tmp/{i}\n"));
    }
    base.push_str("USER app\n");
    let head = base.replace(
        "RUN sudo touch /tmp/5000\n",
        "RUN sudo touch /tmp/5000\nRUN chmod 777 /srv\n",
    );
    let report = change("Dockerfile", Some(&base), Some(&head));
    assert_eq!(
        summary(&report.findings),
        vec![(
            "Dockerfile".into(),
            "dockerfile.chmod-777".into(),
            "new",
            5003,
            false
        )]
    );
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.partial && s.reason.contains("without comparison")),
        "{:?}",
        report.skipped
    );
}
