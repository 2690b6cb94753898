//! IaC analysis of a pull request against a large repository: 2,000
//! Terraform resources (40 files of 50) and 500 Kubernetes manifests (50
//! multi-document files of 10), with a change that touches 50 of them
//! (30 resources in 30 files, 20 manifests in 20 files). Every changed file
//! is parsed and evaluated on both sides (base and head), matched and
//! classified, on one core, as the engine runs it for `hunkscan scan` and
//! the bot. Target: under 200 ms.
//!
//! Rows: the IaC analyzer alone; the full engine as `hunkscan scan` builds
//! it (SAST, IaC and secrets); and, for scale, the whole repository added
//! at once (every file parsed, one side). Diffs are computed before timing:
//! the bot receives them from GitHub.
//!
//! Run: `cargo bench --bench iac_throughput`

mod common;

use hunkscan::engine::iac::IacAnalyzer;
use hunkscan::engine::iac::policy::Policies;
use hunkscan::engine::{ChangeKind, ChangeSet, Content, Engine, ScanReport};
use hunkscan::local::changed_file;
use std::time::{Duration, Instant};

const TF_FILES: usize = 40;
const RESOURCES_PER_FILE: usize = 50;
const K8S_FILES: usize = 50;
const MANIFESTS_PER_FILE: usize = 10;
const TOUCHED_TF: usize = 30;
const TOUCHED_K8S: usize = 20;
const RUNS: usize = 9;

/// One of five resource shapes, the way real modules mix them.
fn resource(file: usize, n: usize, changed: bool) -> String {
    let id = format!("f{file}_r{n}");
    match n % 5 {
        0 => format!(
            "resource \"aws_security_group\" \"{id}\" {{\n  name   = \"{id}\"\n  vpc_id = var.vpc_id\n\n  ingress {{\n    description = \"https\"\n    from_port   = 443\n    to_port     = 443\n    protocol    = \"tcp\"\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }}\n\n  ingress {{\n    description = \"ssh\"\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = [\"{}\"]\n  }}\n\n  dynamic \"ingress\" {{\n    for_each = var.extra_ports\n    content {{\n      from_port   = ingress.value\n      to_port     = ingress.value\n      protocol    = \"tcp\"\n      cidr_blocks = var.internal_cidrs\n    }}\n  }}\n\n  egress {{\n    from_port   = 0\n    to_port     = 0\n    protocol    = \"-1\"\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }}\n\n  tags = {{\n    Name  = \"{id}\"\n    Owner = \"platform\"\n  }}\n}}\n",
            if changed { "0.0.0.0/0" } else { "10.0.0.0/8" }
        ),
        1 => format!(
            "resource \"aws_db_instance\" \"{id}\" {{\n  identifier          = \"{id}\"\n  engine              = \"postgres\"\n  engine_version      = \"16.3\"\n  instance_class      = \"db.t3.medium\"\n  allocated_storage   = 100\n  storage_encrypted   = {}\n  publicly_accessible = false\n  username            = \"app\"\n  password            = var.db_password\n  tags = {{\n    Name = \"{id}\"\n  }}\n}}\n",
            !changed
        ),
        2 => format!(
            "resource \"aws_s3_bucket\" \"{id}\" {{\n  bucket = \"corp-{id}\"\n}}\n\nresource \"aws_s3_bucket_public_access_block\" \"{id}\" {{\n  bucket                  = aws_s3_bucket.{id}.id\n  block_public_acls       = true\n  block_public_policy     = {}\n  ignore_public_acls      = true\n  restrict_public_buckets = true\n}}\n",
            !changed
        ),
        3 => format!(
            "resource \"aws_iam_role_policy\" \"{id}\" {{\n  name = \"{id}\"\n  role = aws_iam_role.app.id\n  policy = jsonencode({{\n    Version = \"2012-10-17\"\n    Statement = [\n      {{\n        Effect   = \"Allow\"\n        Action   = [\"s3:GetObject\", \"s3:PutObject\"]\n        Resource = \"arn:aws:s3:::corp-{id}/*\"\n      }},\n      {{\n        Effect   = \"Allow\"\n        Action   = \"{}\"\n        Resource = \"*\"\n      }}\n    ]\n  }})\n}}\n",
            if changed {
                "*"
            } else {
                "cloudwatch:PutMetricData"
            }
        ),
        _ => format!(
            "resource \"aws_kms_key\" \"{id}\" {{\n  description             = \"{id}\"\n  deletion_window_in_days = 30\n  enable_key_rotation     = {}\n}}\n",
            !changed
        ),
    }
}

fn terraform_file(file: usize, touched: Option<usize>) -> String {
    let mut text = format!("# module {file}\n\n");
    // Every other file of the bucket shape counts two resources; the count
    // below is of top-level `resource` blocks.
    let mut n = 0;
    let mut emitted = 0;
    while emitted < RESOURCES_PER_FILE {
        let block = resource(file, n, touched == Some(n));
        emitted +=
            block.matches("\nresource ").count() + usize::from(block.starts_with("resource "));
        text.push_str(&block);
        text.push('\n');
        n += 1;
    }
    text
}

fn manifest(file: usize, n: usize, changed: bool) -> String {
    let name = format!("svc-{file}-{n}");
    match n % 3 {
        0 => format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: shop\n  labels: {{app: {name}}}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      automountServiceAccountToken: false\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 10001\n      containers:\n      - name: app\n        image: registry.example.com/shop/{name}:{}\n        ports:\n        - containerPort: 8080\n        env:\n        - name: LOG_LEVEL\n          value: info\n        - name: DB_PASSWORD\n          valueFrom:\n            secretKeyRef: {{name: {name}, key: password}}\n        securityContext:\n          allowPrivilegeEscalation: false\n          readOnlyRootFilesystem: true\n          capabilities:\n            drop: [ALL]\n        resources:\n          limits: {{cpu: 500m, memory: 256Mi}}\n",
            if changed { "latest" } else { "1.4.2" }
        ),
        1 => format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  selector: {{app: {name}}}\n  ports:\n  - port: 80\n    targetPort: 8080\n"
        ),
        _ => format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n  FEATURE_FLAGS: \"checkout,search\"\n  TIMEOUT_MS: \"2500\"\n"
        ),
    }
}

fn kubernetes_file(file: usize, touched: Option<usize>) -> String {
    (0..MANIFESTS_PER_FILE)
        .map(|n| manifest(file, n, touched == Some(n)))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The 50-resource pull request: (path, base, head) of each changed file,
/// plus the whole repository (head of every file).
fn corpus() -> (ChangeSet, ChangeSet, usize) {
    let mut pull_request = Vec::new();
    let mut whole = Vec::new();
    let mut bytes = 0;
    for file in 0..TF_FILES {
        let path = format!("infra/module_{file}/main.tf");
        let base = terraform_file(file, None);
        bytes += base.len();
        if file < TOUCHED_TF {
            // Touch resources of every shape, one per file.
            let head = terraform_file(file, Some(file % 5 + 5 * (file % 7)));
            pull_request.push(
                changed_file(&path, Content::Text(base.clone()), Content::Text(head))
                    .expect("diff"),
            );
        }
        whole.push(changed_file(&path, Content::Absent, Content::Text(base)).expect("diff"));
    }
    for file in 0..K8S_FILES {
        let path = format!("deploy/app_{file}.yaml");
        let base = kubernetes_file(file, None);
        bytes += base.len();
        if file < TOUCHED_K8S {
            let head = kubernetes_file(file, Some(3 * (file % 3)));
            pull_request.push(
                changed_file(&path, Content::Text(base.clone()), Content::Text(head))
                    .expect("diff"),
            );
        }
        whole.push(changed_file(&path, Content::Absent, Content::Text(base)).expect("diff"));
    }
    (
        ChangeSet {
            files: pull_request,
        },
        ChangeSet { files: whole },
        bytes,
    )
}

fn measure(engine: &Engine, changes: &ChangeSet) -> (Duration, Duration, ScanReport) {
    let mut times = Vec::with_capacity(RUNS);
    let mut report = ScanReport::default();
    for _ in 0..RUNS {
        let start = Instant::now();
        report = engine.scan(changes);
        times.push(start.elapsed());
    }
    times.sort();
    (times[0], times[RUNS / 2], report)
}

fn kinds(report: &ScanReport) -> String {
    let count = |kind| report.findings.iter().filter(|f| f.change == kind).count();
    format!(
        "{} new, {} regressions, {} fixed",
        count(ChangeKind::New),
        count(ChangeKind::Regression),
        count(ChangeKind::Fixed)
    )
}

fn main() {
    println!("machine: {}", common::machine());
    let policies = Policies::load(None).expect("embedded IaC rules load");
    let policy_count = policies.len();
    let iac = IacAnalyzer::new(policies);
    let iac_only = Engine::new(vec![Box::new(iac.clone())]);
    // Every analyzer, assembled as `hunkscan scan` and the bot assemble them.
    let full = hunkscan::pipeline::Pipeline::load(&hunkscan::pipeline::Options::default())
        .expect("the embedded rules load");
    let full = full.engine();
    let (pull_request, whole, bytes) = corpus();
    let changed_bytes: usize = pull_request
        .files
        .iter()
        .map(|f| f.base.text().map_or(0, str::len) + f.head.text().map_or(0, str::len))
        .sum();
    println!(
        "repository: {} Terraform resources in {TF_FILES} files, {} Kubernetes manifests in {K8S_FILES} files, {:.1} MB; {policy_count} IaC policies",
        TF_FILES * RESOURCES_PER_FILE,
        K8S_FILES * MANIFESTS_PER_FILE,
        bytes as f64 / 1e6
    );
    println!(
        "pull request: {} resources touched in {} files ({:.2} MB parsed, base and head)",
        TOUCHED_TF + TOUCHED_K8S,
        pull_request.files.len(),
        changed_bytes as f64 / 1e6
    );
    println!();
    println!("| input | engine | best of {RUNS} | median | findings |");
    println!("| --- | --- | ---: | ---: | --- |");
    let (best, median, report) = measure(&iac_only, &pull_request);
    println!(
        "| pull request, base and head | IaC analyzer | {:.1} ms | {:.1} ms | {} |",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        kinds(&report)
    );
    let regressions = report
        .findings
        .iter()
        .filter(|f| f.change == ChangeKind::Regression)
        .count();
    assert_eq!(
        regressions,
        TOUCHED_TF + TOUCHED_K8S,
        "every touched resource is made worse exactly once"
    );
    let verdict = if best < Duration::from_millis(200) {
        "PASS"
    } else {
        "MISS"
    };
    let (full_best, full_median, full_report) = measure(full, &pull_request);
    println!(
        "| pull request, base and head | full engine (SAST, IaC, secrets) | {:.1} ms | {:.1} ms | {} |",
        full_best.as_secs_f64() * 1e3,
        full_median.as_secs_f64() * 1e3,
        kinds(&full_report)
    );
    let (whole_best, whole_median, whole_report) = measure(&iac_only, &whole);
    println!(
        "| whole repository added (head only) | IaC analyzer | {:.1} ms | {:.1} ms | {} |",
        whole_best.as_secs_f64() * 1e3,
        whole_median.as_secs_f64() * 1e3,
        kinds(&whole_report)
    );
    println!();
    println!(
        "target: the pull request analysed base and head in under 200 ms on one core: {verdict}"
    );
}
