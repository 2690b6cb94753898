//! What IaC values mean beyond their text, each shown on a base/head
//! change: provider defaults for absent attributes and empty blocks,
//! registry modules' inputs, port lists and protocols, the spellings of
//! "anywhere", effective security contexts and other documents of the same
//! file, Dockerfile stages paired by name, `count = 0`, the AWS provider v4
//! split resources, YAML merge keys, byte-order marks, `.tf.json` errors,
//! the limits that keep hostile files bounded, and the opt-in policies that
//! keep ordinary workloads quiet.

use hunkscan::config::repo::RepoConfig;
use hunkscan::engine::iac::IacAnalyzer;
use hunkscan::engine::iac::policy::Policies;
use hunkscan::engine::{ChangeKind, ChangeSet, Content, Engine, Finding, ScanReport, Severity};
use hunkscan::local::changed_file;
use hunkscan::pipeline::{Options, Pipeline};
use std::sync::LazyLock;

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let policies = Policies::load(None).expect("embedded IaC rules load");
    Engine::new(vec![Box::new(IacAnalyzer::new(policies))])
});

fn changes(path: &str, base: Option<&str>, head: Option<&str>) -> ChangeSet {
    let content =
        |text: Option<&str>| text.map_or(Content::Absent, |t| Content::Text(t.to_owned()));
    let file = changed_file(path, content(base), content(head)).expect("diffable");
    ChangeSet { files: vec![file] }
}

fn change(path: &str, base: Option<&str>, head: Option<&str>) -> ScanReport {
    ENGINE.scan(&changes(path, base, head))
}

/// (rule, change kind, line) of every finding.
fn found(report: &ScanReport) -> Vec<(String, &'static str, u32)> {
    report
        .findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.change.as_str(), f.start.line))
        .collect()
}

fn of_rule<'r>(report: &'r ScanReport, rule: &str) -> Vec<&'r Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.rule_id == rule)
        .collect()
}

fn kinds(report: &ScanReport, rule: &str) -> Vec<ChangeKind> {
    of_rule(report, rule).iter().map(|f| f.change).collect()
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: web
        image: ghcr.io/acme/web:2.3.1
        ports:
        - containerPort: 8080
        resources:
          limits: {cpu: 500m, memory: 256Mi}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
";

#[test]
fn a_normal_deployment_gets_no_finding_unless_the_repository_opts_in() {
    let pipeline = Pipeline::load(&Options::default()).expect("rules load");
    let outcome = pipeline.run(
        changes("deploy/web.yaml", None, Some(DEPLOYMENT)),
        &RepoConfig::default(),
    );
    assert!(
        outcome.report.findings.is_empty(),
        "{:?}",
        found(&outcome.report)
    );
    let (config, problems) =
        RepoConfig::parse("rules:\n  enable: [kubernetes.automount-service-account-token]\n");
    assert!(problems.is_empty(), "{problems:?}");
    let outcome = pipeline.run(changes("deploy/web.yaml", None, Some(DEPLOYMENT)), &config);
    assert_eq!(
        found(&outcome.report),
        vec![(
            "kubernetes.automount-service-account-token".into(),
            "new",
            13
        )]
    );
}

#[test]
fn a_service_account_in_the_same_file_that_disables_automount_counts() {
    let pipeline = Pipeline::load(&Options::default()).expect("rules load");
    let (config, _) =
        RepoConfig::parse("rules:\n  enable: [kubernetes.automount-service-account-token]\n");
    let account = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n  namespace: shop\nautomountServiceAccountToken: false\n---\n";
    let with_account = format!(
        "{account}{}",
        DEPLOYMENT.replace(
            "      containers:",
            "      serviceAccountName: web\n      containers:"
        )
    );
    let outcome = pipeline.run(changes("web.yaml", None, Some(&with_account)), &config);
    assert!(
        outcome.report.findings.is_empty(),
        "{:?}",
        found(&outcome.report)
    );
    // Another namespace's account of that name does not count.
    let elsewhere = with_account.replacen("namespace: shop", "namespace: other", 1);
    let outcome = pipeline.run(changes("web.yaml", None, Some(&elsewhere)), &config);
    assert_eq!(outcome.report.findings.len(), 1);
}

#[test]
fn absent_attributes_and_empty_blocks_take_the_provider_default() {
    // DAX: an empty block leaves encryption off.
    let dax = |block: &str| {
        format!(
            "resource \"aws_dax_cluster\" \"c\" {{\n  cluster_name = \"c\"\n  node_type = \"dax.r4.large\"\n  replication_factor = 1\n{block}}}\n"
        )
    };
    let report = change("dax.tf", None, Some(&dax("  server_side_encryption {}\n")));
    assert_eq!(
        kinds(&report, "terraform.aws-dynamodb-dax-unencrypted"),
        vec![ChangeKind::New]
    );
    let report = change(
        "dax.tf",
        Some(&dax(
            "  server_side_encryption {\n    enabled = true\n  }\n",
        )),
        Some(&dax("  server_side_encryption {\n  }\n")),
    );
    let dax_findings = of_rule(&report, "terraform.aws-dynamodb-dax-unencrypted");
    assert_eq!(dax_findings.len(), 1);
    assert_eq!(dax_findings[0].change, ChangeKind::Regression);
    assert!(
        dax_findings[0].message.contains("removed (was `true`)"),
        "{}",
        dax_findings[0].message
    );
    // DynamoDB without any encryption block: an AWS-owned key.
    let table =
        "resource \"aws_dynamodb_table\" \"t\" {\n  name     = \"t\"\n  hash_key = \"id\"\n}\n";
    assert_eq!(
        kinds(
            &change("t.tf", None, Some(table)),
            "terraform.aws-dynamodb-customer-key-disabled"
        ),
        vec![ChangeKind::New]
    );
    // Cloud SQL: `ipv4_enabled` defaults to true; deleting `= false` is worse.
    let sql = |ip: &str| {
        format!(
            "resource \"google_sql_database_instance\" \"db\" {{\n  name = \"db\"\n  settings {{\n    tier = \"db-f1-micro\"\n    ip_configuration {{\n{ip}      private_network = google_compute_network.p.id\n    }}\n  }}\n}}\n"
        )
    };
    let report = change(
        "sql.tf",
        Some(&sql("      ipv4_enabled = false\n")),
        Some(&sql("")),
    );
    assert_eq!(
        kinds(&report, "terraform.gcp-sql-public-ip"),
        vec![ChangeKind::Regression]
    );
    // Kubernetes: `allowPrivilegeEscalation` defaults to true; deleting
    // `false` is one regression (the default policy's finding is replaced).
    let bare = DEPLOYMENT.replace("          allowPrivilegeEscalation: false\n", "");
    let report = change("web.yaml", Some(DEPLOYMENT), Some(&bare));
    assert_eq!(
        kinds(&report, "kubernetes.allow-privilege-escalation-removed"),
        vec![ChangeKind::Regression]
    );
    assert!(of_rule(&report, "kubernetes.privilege-escalation-not-disabled").is_empty());
    let none = bare.replace("        runAsNonRoot: true\n        runAsUser: 10001\n", "");
    let report = change("web.yaml", None, Some(&none));
    assert_eq!(
        kinds(&report, "kubernetes.run-as-non-root-unset"),
        vec![ChangeKind::New]
    );
}

#[test]
fn aurora_serverless_v1_and_a_kms_key_are_encrypted() {
    let cluster = |extra: &str| {
        format!(
            "resource \"aws_rds_cluster\" \"c\" {{\n  cluster_identifier = \"c\"\n  engine = \"aurora-mysql\"\n{extra}}}\n"
        )
    };
    for extra in [
        "  engine_mode = \"serverless\"\n",
        "  kms_key_id = aws_kms_key.db.arn\n",
    ] {
        let report = change("db.tf", None, Some(&cluster(extra)));
        assert!(
            of_rule(&report, "terraform.aws-rds-unencrypted").is_empty(),
            "{extra}: {:?}",
            found(&report)
        );
    }
    assert_eq!(
        of_rule(
            &change("db.tf", None, Some(&cluster(""))),
            "terraform.aws-rds-unencrypted"
        )
        .len(),
        1
    );
}

fn ingress(port: &str, protocol: &str, cidr: &str) -> String {
    format!(
        "resource \"aws_security_group\" \"admin\" {{\n  name = \"admin\"\n  ingress {{\n    from_port   = {port}\n    to_port     = {port}\n    protocol    = \"{protocol}\"\n    cidr_blocks = [\"{cidr}\"]\n  }}\n}}\n"
    )
}

#[test]
fn ports_protocols_and_every_spelling_of_anywhere() {
    const ADMIN: &str = "terraform.aws-security-group-open-admin-ports";
    // UDP 22 is not SSH.
    let udp = change("sg.tf", None, Some(&ingress("22", "udp", "0.0.0.0/0")));
    assert!(of_rule(&udp, ADMIN).is_empty(), "{:?}", found(&udp));
    for cidr in ["0.0.0.0", "/0", "0.0.0.0/0"] {
        let report = change("sg.tf", None, Some(&ingress("22", "TCP", cidr)));
        assert_eq!(kinds(&report, ADMIN), vec![ChangeKind::New], "{cidr}");
    }
    // SSH widened to every protocol is still open SSH, and worse: never "fixed".
    let report = change(
        "sg.tf",
        Some(&ingress("22", "tcp", "0.0.0.0/0")),
        Some(&ingress("0", "-1", "0.0.0.0/0")),
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.change != ChangeKind::Fixed),
        "{:?}",
        found(&report)
    );
    assert_eq!(
        kinds(&report, "terraform.aws-security-group-open-all-ports"),
        vec![ChangeKind::Regression]
    );
    // Azure: a port list and "Internet".
    let nsg = |ports: &str, source: &str, protocol: &str| {
        format!(
            "resource \"azurerm_network_security_rule\" \"r\" {{\n  name = \"r\"\n  priority = 100\n  direction = \"Inbound\"\n  access = \"Allow\"\n  protocol = \"{protocol}\"\n  source_port_range = \"*\"\n  destination_port_range = \"{ports}\"\n  source_address_prefix = \"{source}\"\n  destination_address_prefix = \"*\"\n}}\n"
        )
    };
    let report = change(
        "nsg.tf",
        Some(&nsg("80,443", "Internet", "Tcp")),
        Some(&nsg("80,443,3389", "Internet", "Tcp")),
    );
    assert_eq!(
        kinds(&report, "terraform.azure-nsg-open-admin-ports"),
        vec![ChangeKind::Regression]
    );
    for (ports, source, protocol) in [
        ("20-25", "internet", "Tcp"),
        ("22", "*", "*"),
        ("22", "0.0.0.0", "Tcp"),
    ] {
        let report = change("nsg.tf", None, Some(&nsg(ports, source, protocol)));
        assert_eq!(
            of_rule(&report, "terraform.azure-nsg-open-admin-ports").len(),
            1,
            "{ports} {source} {protocol}"
        );
    }
    let udp = change("nsg.tf", None, Some(&nsg("22", "*", "Udp")));
    assert!(of_rule(&udp, "terraform.azure-nsg-open-admin-ports").is_empty());
}

fn pod(pod_context: &str, containers: &[&str]) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: shop\nspec:\n  securityContext:\n{pod_context}  containers:\n"
    );
    for (index, context) in containers.iter().enumerate() {
        text.push_str(&format!("  - name: c{index}\n    image: app:1.0\n    securityContext:\n      allowPrivilegeEscalation: false\n{context}"));
    }
    text
}

#[test]
fn the_effective_security_context_is_the_container_s_over_the_pod_s() {
    const ROOT: &str = "kubernetes.run-as-root";
    let overridden = pod(
        "    runAsUser: 0\n",
        &["      runAsUser: 1000\n", "      runAsUser: 1001\n"],
    );
    let report = change("pod.yaml", None, Some(&overridden));
    assert!(of_rule(&report, ROOT).is_empty(), "{:?}", found(&report));
    // One container inherits root: one finding, on the pod's line.
    let inherited = pod("    runAsUser: 0\n", &["      runAsUser: 1000\n", ""]);
    let report = change("pod.yaml", None, Some(&inherited));
    let root = of_rule(&report, ROOT);
    assert_eq!(root.len(), 1, "{:?}", found(&report));
    assert_eq!(root[0].start.line, 8);
    // Dropping a container's override is a regression.
    let report = change("pod.yaml", Some(&overridden), Some(&inherited));
    assert_eq!(kinds(&report, ROOT), vec![ChangeKind::Regression]);
}

#[test]
fn yaml_merge_keys_are_merged() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nx-context: &ctx\n  privileged: true\n  allowPrivilegeEscalation: true\nspec:\n  containers:\n  - name: c\n    image: app:1.0\n    securityContext:\n      <<: *ctx\n      runAsUser: 1000\n";
    let report = change("pod.yaml", None, Some(text));
    assert_eq!(
        kinds(&report, "kubernetes.privileged-container"),
        vec![ChangeKind::New]
    );
}

#[test]
fn every_pod_template_kind_is_read() {
    let knative = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/acme/hello:1.0\n        securityContext:\n          privileged: true\n";
    let openshift = "apiVersion: apps.openshift.io/v1\nkind: DeploymentConfig\nmetadata:\n  name: legacy\nspec:\n  template:\n    spec:\n      hostNetwork: true\n      containers:\n      - name: legacy\n        image: legacy:1.0\n";
    let custom = "apiVersion: example.com/v1\nkind: Worker\nmetadata:\n  name: w\nspec:\n  template:\n    spec:\n      containers:\n      - name: w\n        image: w:1\n        securityContext:\n          privileged: true\n";
    for (text, rule) in [
        (knative, "kubernetes.privileged-container"),
        (openshift, "kubernetes.host-namespaces"),
        (custom, "kubernetes.privileged-container"),
    ] {
        let report = change("app.yaml", None, Some(text));
        assert_eq!(
            of_rule(&report, rule).len(),
            1,
            "{text}: {:?}",
            found(&report)
        );
    }
    // A core Service is no workload.
    let service =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n";
    assert!(change("svc.yaml", None, Some(service)).findings.is_empty());
}

#[test]
fn dockerfile_stages_pair_by_name_and_scratch_has_no_root_user() {
    let base = "FROM alpine:3.20\nRUN adduser -D app\nUSER app\nCMD [\"app\"]\n";
    // An unrelated builder stage inserted above; the final stage is unchanged.
    let head = format!("FROM golang:1.22.5\nRUN go build -o /out/tool ./cmd/tool\n\n{base}");
    let report = change("Dockerfile", Some(base), Some(&head));
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.change != ChangeKind::Regression),
        "{:?}",
        found(&report)
    );
    let scratch = "FROM golang:1.22.5 AS build\nRUN go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n";
    assert!(
        of_rule(
            &change("Dockerfile", None, Some(scratch)),
            "dockerfile.final-stage-runs-as-root"
        )
        .is_empty()
    );
}

const BUCKET: &str = "resource \"aws_s3_bucket\" \"data\" {\n  bucket = \"corp-data\"\n}\n";
const ACCESS_BLOCK: &str = "resource \"aws_s3_bucket_public_access_block\" \"data\" {\n  bucket                  = aws_s3_bucket.data.id\n  block_public_acls       = true\n  block_public_policy     = true\n  ignore_public_acls      = true\n  restrict_public_buckets = true\n}\n";

#[test]
fn count_zero_or_an_empty_for_each_deletes_the_resource() {
    let base = format!("{BUCKET}{ACCESS_BLOCK}");
    for meta in ["  count                   = 0\n", "  for_each = {}\n"] {
        let head = format!(
            "{BUCKET}{}",
            ACCESS_BLOCK.replace("  bucket ", &format!("{meta}  bucket "))
        );
        let report = change("s3.tf", Some(&base), Some(&head));
        assert_eq!(
            kinds(&report, "terraform.aws-s3-public-access-block-removed"),
            vec![ChangeKind::Regression],
            "{meta}"
        );
    }
    // A conditional count is not known: nothing is assumed.
    let head = format!(
        "{BUCKET}{}",
        ACCESS_BLOCK.replace("  bucket ", "  count = var.enabled ? 1 : 0\n  bucket ")
    );
    assert!(
        change("s3.tf", Some(&base), Some(&head))
            .findings
            .is_empty()
    );
}

#[test]
fn the_provider_v4_split_resources_equal_the_inline_form() {
    let inline = "resource \"aws_s3_bucket\" \"data\" {\n  bucket = \"corp-data\"\n  server_side_encryption_configuration {\n    rule {\n      apply_server_side_encryption_by_default {\n        sse_algorithm = \"aws:kms\"\n      }\n    }\n  }\n}\n";
    let split = format!(
        "{BUCKET}resource \"aws_s3_bucket_server_side_encryption_configuration\" \"data\" {{\n  bucket = aws_s3_bucket.data.id\n  rule {{\n    apply_server_side_encryption_by_default {{\n      sse_algorithm = \"aws:kms\"\n    }}\n  }}\n}}\n"
    );
    let report = change("s3.tf", Some(inline), Some(&split));
    assert!(report.findings.is_empty(), "{:?}", found(&report));
    // Dropping the split resource is still a deletion.
    let report = change("s3.tf", Some(&split), Some(BUCKET));
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.change == ChangeKind::Regression),
        "{:?}",
        found(&report)
    );
    // A public ACL in a split resource is one finding, not one per form.
    let acl = format!(
        "{BUCKET}resource \"aws_s3_bucket_acl\" \"data\" {{\n  bucket = aws_s3_bucket.data.id\n  acl    = \"public-read\"\n}}\n"
    );
    let report = change("s3.tf", None, Some(&acl));
    assert_eq!(of_rule(&report, "terraform.aws-s3-public-acl").len(), 1);
}

#[test]
fn well_known_module_inputs_reach_the_resource_policies() {
    let module = |source: &str, inputs: &str| {
        format!("module \"m\" {{\n  source  = \"{source}\"\n  version = \"6.1.0\"\n{inputs}}}\n")
    };
    for (source, inputs, rule) in [
        (
            "terraform-aws-modules/rds/aws",
            "  storage_encrypted = false\n",
            "terraform.aws-rds-unencrypted",
        ),
        (
            "terraform-aws-modules/rds/aws",
            "  storage_encrypted   = true\n  publicly_accessible = true\n",
            "terraform.aws-rds-publicly-accessible",
        ),
        (
            "terraform-aws-modules/s3-bucket/aws",
            "  bucket = \"site\"\n  acl    = \"public-read\"\n",
            "terraform.aws-s3-public-acl",
        ),
        (
            "terraform-aws-modules/security-group/aws",
            "  ingress_cidr_blocks = [\"0.0.0.0/0\"]\n  ingress_rules       = [\"ssh-tcp\"]\n",
            "terraform.aws-security-group-open-admin-ports",
        ),
        (
            "terraform-aws-modules/security-group/aws",
            "  ingress_with_cidr_blocks = [\n    {\n      from_port   = 3389\n      to_port     = 3389\n      protocol    = \"tcp\"\n      cidr_blocks = \"10.0.0.0/8,0.0.0.0/0\"\n    },\n  ]\n",
            "terraform.aws-security-group-open-admin-ports",
        ),
    ] {
        let report = change("main.tf", None, Some(&module(source, inputs)));
        assert_eq!(
            kinds(&report, rule),
            vec![ChangeKind::New],
            "{source}: {:?}",
            found(&report)
        );
    }
    // The rds module encrypts by default: no input, no finding; turning it
    // off later is a regression.
    let quiet = module("terraform-aws-modules/rds/aws", "  identifier = \"db\"\n");
    assert!(change("main.tf", None, Some(&quiet)).findings.is_empty());
    let off = module(
        "terraform-aws-modules/rds/aws",
        "  identifier = \"db\"\n  storage_encrypted = false\n",
    );
    assert_eq!(
        kinds(
            &change("main.tf", Some(&quiet), Some(&off)),
            "terraform.aws-rds-unencrypted"
        ),
        vec![ChangeKind::Regression]
    );
}

#[test]
fn a_byte_order_mark_is_no_syntax_error_and_json_errors_are_json_errors() {
    let text = "\u{feff}resource \"aws_db_instance\" \"db\" {\n  publicly_accessible = true\n  storage_encrypted   = true\n}\n";
    let report = change("db.tf", None, Some(text));
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(
        of_rule(&report, "terraform.aws-rds-publicly-accessible").len(),
        1
    );
    let broken = "{\n  \"resource\": {\n    \"aws_db_instance\": {\n      \"db\": { \"publicly_accessible\": true, }\n    }\n  }\n}\n";
    let report = change("db.tf.json", None, Some(broken));
    assert_eq!(report.skipped.len(), 1);
    let reason = &report.skipped[0].reason;
    assert!(
        reason.contains("JSON") && !reason.contains("YAML") && reason.contains("line 4"),
        "{reason}"
    );
}

#[test]
fn hostile_files_stay_bounded_with_a_visible_reason() {
    // Thousands of documents: the first 5,000 are analysed, and the file is
    // marked as partly analysed.
    let one = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {}\n---\n";
    let many = one.repeat(6_000);
    let report = change("many.yaml", None, Some(&many));
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(report.skipped[0].partial);
    assert!(
        report.skipped[0].reason.contains("5000"),
        "{}",
        report.skipped[0].reason
    );
    // Aliases that multiply: refused with the reason, nothing guessed.
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for level in 1..8 {
        let previous = level - 1;
        bomb.push_str(&format!("a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"));
    }
    let report = change("bomb.yaml", None, Some(&bomb));
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].reason.contains("aliases"));
    // Deep nesting: refused with the reason.
    let deep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: d}}\ndata: {}{}\n",
        "[".repeat(500),
        "]".repeat(500)
    );
    let report = change("deep.yaml", None, Some(&deep));
    assert_eq!(report.skipped.len(), 1);
    let reason = &report.skipped[0].reason;
    assert!(
        reason.contains("nested deeper") || reason.contains("recursion limit"),
        "{reason}"
    );
    // A huge literal `for_each` map is read like any value: one subject.
    let entries: String = (0..20_000)
        .map(|i| format!("    k{i} = \"v{i}\"\n"))
        .collect();
    let huge = format!(
        "resource \"aws_db_instance\" \"db\" {{\n  for_each = {{\n{entries}  }}\n  publicly_accessible = true\n  storage_encrypted = true\n}}\n"
    );
    let report = change("db.tf", None, Some(&huge));
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(
        of_rule(&report, "terraform.aws-rds-publicly-accessible").len(),
        1
    );
}

/// Scans several files changed together: (path, base, head).
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

const UNENCRYPTED_VOLUME: &str = "resource \"aws_ebs_volume\" \"scratch\" {\n  availability_zone = \"eu-west-1a\"\n  size              = 10\n}\n";

#[test]
fn a_resource_moved_to_another_file_of_the_change_is_neither_deleted_nor_new() {
    let base = format!("{BUCKET}{ACCESS_BLOCK}{UNENCRYPTED_VOLUME}");
    let moved = format!("{ACCESS_BLOCK}{UNENCRYPTED_VOLUME}");
    // Alone, each half of the move looks like a deletion and an addition.
    let deleted = change("infra/main.tf", Some(&base), Some(BUCKET));
    assert_eq!(
        kinds(&deleted, "terraform.aws-s3-public-access-block-removed"),
        vec![ChangeKind::Regression]
    );
    assert_eq!(
        kinds(&deleted, "terraform.aws-ebs-unencrypted"),
        vec![ChangeKind::Fixed]
    );
    // Together: the block still protects the bucket, and the unencrypted
    // volume is the base's problem wherever it now lives.
    let report = change_set(&[
        ("infra/main.tf", Some(&base), Some(BUCKET)),
        ("infra/s3.tf", None, Some(&moved)),
    ]);
    assert!(report.findings.is_empty(), "{:?}", found(&report));
    // The same when the old file is deleted outright.
    let report = change_set(&[
        ("infra/main.tf", Some(&base), None),
        ("infra/storage.tf", None, Some(&base)),
    ]);
    assert!(report.findings.is_empty(), "{:?}", found(&report));
    // An equivalent protective resource under another name counts too.
    let renamed = moved.replace("\"data\" {\n  bucket  ", "\"data_block\" {\n  bucket  ");
    assert!(renamed.contains("data_block"));
    let report = change_set(&[
        ("infra/main.tf", Some(&base), Some(BUCKET)),
        ("infra/s3.tf", None, Some(&renamed)),
    ]);
    assert!(
        of_rule(&report, "terraform.aws-s3-public-access-block-removed").is_empty(),
        "{:?}",
        found(&report)
    );
    // Another directory is another Terraform module: another resource.
    let report = change_set(&[
        ("infra/main.tf", Some(&base), Some(BUCKET)),
        ("modules/s3/s3.tf", None, Some(&moved)),
    ]);
    assert_eq!(
        kinds(&report, "terraform.aws-s3-public-access-block-removed"),
        vec![ChangeKind::Regression]
    );
    assert_eq!(
        kinds(&report, "terraform.aws-ebs-unencrypted"),
        vec![ChangeKind::Fixed, ChangeKind::New]
    );
    // What the move made worse is still reported: a block moved with a
    // flag switched off no longer protects.
    let weakened = moved.replace(
        "block_public_acls       = true",
        "block_public_acls       = false",
    );
    let report = change_set(&[
        ("infra/main.tf", Some(&base), Some(BUCKET)),
        ("infra/s3.tf", None, Some(&weakened)),
    ]);
    assert_eq!(
        kinds(&report, "terraform.aws-s3-public-access-block-disabled"),
        vec![ChangeKind::New]
    );
}

#[test]
fn a_manifest_moved_between_files_keeps_its_old_problems_out_of_the_review() {
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  mode: fast\n";
    let privileged = pod("    runAsUser: 1000\n", &["      privileged: true\n"]);
    let both = format!("{config}---\n{privileged}");
    let report = change_set(&[
        ("k8s/all.yaml", Some(&both), Some(config)),
        ("k8s/pod.yaml", None, Some(&privileged)),
    ]);
    assert!(report.findings.is_empty(), "{:?}", found(&report));
    // A problem the move added is new.
    let worse = privileged.replace("runAsUser: 1000", "runAsUser: 0");
    let report = change_set(&[
        ("k8s/all.yaml", Some(&both), Some(config)),
        ("k8s/pod.yaml", None, Some(&worse)),
    ]);
    assert_eq!(
        kinds(&report, "kubernetes.run-as-root"),
        vec![ChangeKind::New]
    );
    assert!(of_rule(&report, "kubernetes.privileged-container").is_empty());
}

#[test]
fn one_problem_seen_by_two_policies_is_reported_once() {
    // Every protocol from anywhere opens SSH too: one finding, the one
    // that says what the rule really opens.
    const ALL: &str = "terraform.aws-security-group-open-all-ports";
    const ADMIN: &str = "terraform.aws-security-group-open-admin-ports";
    let report = change("sg.tf", None, Some(&ingress("0", "-1", "0.0.0.0/0")));
    assert_eq!(
        found(&report)
            .into_iter()
            .map(|(rule, kind, _)| (rule, kind))
            .collect::<Vec<_>>(),
        vec![(ALL.to_owned(), "new")]
    );
    assert_eq!(of_rule(&report, ALL)[0].severity, Severity::Critical);
    // Two ingress blocks are two problems; SSH alone is the admin finding.
    let two = ingress("0", "-1", "0.0.0.0/0").replace(
        "  ingress {",
        "  ingress {\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }\n  ingress {",
    );
    let report = change("sg.tf", None, Some(&two));
    assert_eq!(
        (of_rule(&report, ALL).len(), of_rule(&report, ADMIN).len()),
        (1, 1),
        "{:?}",
        found(&report)
    );
    // A wildcard verb on Secrets is a wildcard grant.
    let role = |verbs: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader\n  namespace: shop\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [{verbs}]\n"
        )
    };
    let report = change("role.yaml", None, Some(&role("\"*\"")));
    assert_eq!(
        kinds(&report, "kubernetes.rbac-wildcard"),
        vec![ChangeKind::New]
    );
    assert!(of_rule(&report, "kubernetes.rbac-secrets-read").is_empty());
    let report = change("role.yaml", None, Some(&role("get, list")));
    assert_eq!(
        kinds(&report, "kubernetes.rbac-secrets-read"),
        vec![ChangeKind::New]
    );
    // Removing `runAsNonRoot` is one regression, not also an unset default
    // (the opt-in default policies are on in this engine).
    let hardened = pod("", &["      runAsNonRoot: true\n"]);
    let removed = pod("", &[""]);
    let report = change("pod.yaml", Some(&hardened), Some(&removed));
    assert_eq!(
        kinds(&report, "kubernetes.run-as-non-root-removed"),
        vec![ChangeKind::Regression]
    );
    assert!(
        of_rule(&report, "kubernetes.run-as-non-root-unset").is_empty(),
        "{:?}",
        found(&report)
    );
    // On a new pod the default policy still speaks, when it is on.
    let report = change("pod.yaml", None, Some(&removed));
    assert_eq!(
        kinds(&report, "kubernetes.run-as-non-root-unset"),
        vec![ChangeKind::New]
    );
}

const PLAIN_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: ghcr.io/acme/api:1.8.2
        ports:
        - containerPort: 8080
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: 500m, memory: 256Mi}
";

#[test]
fn a_typical_deployment_without_security_context_is_quiet_by_default() {
    let pipeline = Pipeline::load(&Options::default()).expect("rules load");
    let outcome = pipeline.run(
        changes("deploy/api.yaml", None, Some(PLAIN_DEPLOYMENT)),
        &RepoConfig::default(),
    );
    assert!(
        outcome.report.findings.is_empty(),
        "{:?}",
        found(&outcome.report)
    );
    let (config, problems) = RepoConfig::parse(
        "rules:\n  enable:\n    - kubernetes.privilege-escalation-not-disabled\n    - kubernetes.run-as-non-root-unset\n",
    );
    assert!(problems.is_empty(), "{problems:?}");
    let outcome = pipeline.run(
        changes("deploy/api.yaml", None, Some(PLAIN_DEPLOYMENT)),
        &config,
    );
    let mut rules: Vec<String> = found(&outcome.report)
        .into_iter()
        .map(|(rule, _, _)| rule)
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        vec![
            "kubernetes.privilege-escalation-not-disabled".to_owned(),
            "kubernetes.run-as-non-root-unset".to_owned()
        ]
    );
    // Deleting an explicit `allowPrivilegeEscalation: false` is a
    // regression whatever the configuration.
    let hardened = PLAIN_DEPLOYMENT.replace(
        "        resources:",
        "        securityContext:\n          allowPrivilegeEscalation: false\n        resources:",
    );
    let outcome = pipeline.run(
        changes("deploy/api.yaml", Some(&hardened), Some(PLAIN_DEPLOYMENT)),
        &RepoConfig::default(),
    );
    assert_eq!(
        found(&outcome.report)
            .into_iter()
            .map(|(rule, kind, _)| (rule, kind))
            .collect::<Vec<_>>(),
        vec![(
            "kubernetes.allow-privilege-escalation-removed".to_owned(),
            "regression"
        )]
    );
}

#[test]
fn a_regression_only_policy_credits_no_fix_when_its_subject_goes() {
    // The trail never delivered to CloudWatch; deleting it fixes nothing
    // that policy reports (it reports only the delivery being removed).
    let trail = "resource \"aws_cloudtrail\" \"org\" {\n  name                       = \"org\"\n  s3_bucket_name             = aws_s3_bucket.trail.id\n  is_multi_region_trail      = true\n  enable_log_file_validation = true\n  kms_key_id                 = aws_kms_key.trail.arn\n}\n";
    let report = change("trail.tf", Some(trail), None);
    assert!(
        of_rule(&report, "terraform.aws-cloudtrail-cloudwatch-removed").is_empty(),
        "{:?}",
        found(&report)
    );
    assert_eq!(
        kinds(&report, "terraform.aws-cloudtrail-removed"),
        vec![ChangeKind::Regression]
    );
}
