//! What a Terraform file means beyond its blocks, derived once after
//! parsing so that policies stay "this value, here":
//!
//! - a block with `count = 0` or an empty literal `for_each` creates
//!   nothing, so it is no subject at all (adding `count = 0` to a public
//!   access block is deleting it);
//! - the AWS provider v4 split resources (`aws_s3_bucket_acl`,
//!   `aws_s3_bucket_versioning`, `aws_s3_bucket_server_side_encryption_configuration`,
//!   `aws_s3_bucket_logging`) are folded into the bucket they name, in the
//!   inline form, so moving a setting out of the bucket is no change and
//!   bucket policies read both forms;
//! - the inputs of a few well-known registry modules (terraform-aws-modules'
//!   rds, rds-aurora, s3-bucket, security-group) become a subject of the
//!   resource type they create, with the module's own defaults where an
//!   input is not given (the rds module encrypts storage unless told not
//!   to; the provider's resource does not).
//!
//! Everything here is linear in the model: buckets are found through an
//! index, and a module yields at most one subject.

use crate::engine::iac::model::{Model, Node, Scalar, Span, Subject, Value};
use std::collections::HashMap;

/// True when a block's `count` or `for_each` is a literal that creates no
/// instance.
pub fn creates_nothing(body: &Node) -> bool {
    let count_zero = body
        .get("count")
        .and_then(Node::as_scalar)
        .is_some_and(|s| {
            matches!(s, Scalar::Num(n) if n.trim().parse::<f64>() == Ok(0.0))
                || matches!(s, Scalar::Bool(false))
        });
    let empty_for_each = body.get("for_each").is_some_and(|n| match &n.value {
        Value::Map(entries) => entries.is_empty(),
        Value::List(items) => items.is_empty(),
        Value::Scalar(Scalar::Expr(text)) => {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            matches!(compact.as_str(), "toset([])" | "tomap({})" | "tolist([])")
        }
        _ => false,
    });
    count_zero || empty_for_each
}

/// The bucket resource a split resource's `bucket = aws_s3_bucket.NAME.id`
/// (or `.bucket`, `.arn`) names.
fn named_bucket(node: &Node) -> Option<String> {
    let Some(Scalar::Expr(text)) = node.get("bucket").and_then(Node::as_scalar) else {
        return None;
    };
    let rest = text.trim().strip_prefix("aws_s3_bucket.")?;
    let (name, attribute) = rest.split_once('.')?;
    matches!(attribute, "id" | "bucket" | "arn").then(|| format!("resource.aws_s3_bucket.{name}"))
}

fn map(span: Span, entries: Vec<(&str, Node)>) -> Node {
    Node {
        span,
        value: Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        ),
    }
}

/// The inline form of a split resource: the key it takes in the bucket and
/// its value there.
fn inline_form(subject: &Subject) -> Option<(&'static str, Node)> {
    let node = &subject.node;
    match subject.kind.as_str() {
        "aws_s3_bucket_server_side_encryption_configuration" => Some((
            "server_side_encryption_configuration",
            map(node.span, vec![("rule", node.get("rule")?.clone())]),
        )),
        "aws_s3_bucket_acl" => Some(("acl", node.get("acl")?.clone())),
        "aws_s3_bucket_logging" => {
            let mut entries = vec![("target_bucket", node.get("target_bucket")?.clone())];
            if let Some(prefix) = node.get("target_prefix") {
                entries.push(("target_prefix", prefix.clone()));
            }
            Some(("logging", map(node.span, entries)))
        }
        "aws_s3_bucket_versioning" => {
            let config = node.get("versioning_configuration")?;
            // A block is a list of one item in the model.
            let config = match &config.value {
                Value::List(items) => items.first()?,
                _ => config,
            };
            let status = config.get("status")?;
            let enabled = match status.as_scalar()? {
                Scalar::Str(s) => Scalar::Bool(s.eq_ignore_ascii_case("Enabled")),
                other => other.clone(),
            };
            let mut entries = vec![("enabled", Node::scalar(status.span, enabled))];
            if let Some(mfa) = config.get("mfa_delete") {
                let value = match mfa.as_scalar() {
                    Some(Scalar::Str(s)) => Scalar::Bool(s.eq_ignore_ascii_case("Enabled")),
                    Some(other) => other.clone(),
                    None => Scalar::Null,
                };
                entries.push(("mfa_delete", Node::scalar(mfa.span, value)));
            }
            Some(("versioning", map(node.span, entries)))
        }
        _ => None,
    }
}

/// The inline forms of the split S3 resources whose bucket is not in
/// `model` (it is in another file of the module): (bucket key, key, value),
/// for the change-set step to fold across files.
pub fn foreign_split_forms(model: &Model) -> Vec<(String, &'static str, Node)> {
    let buckets: std::collections::HashSet<&str> = model
        .subjects
        .iter()
        .filter(|s| s.target == "resource" && s.kind == "aws_s3_bucket")
        .map(|s| s.key.as_str())
        .collect();
    model
        .subjects
        .iter()
        .filter(|s| s.target == "resource")
        .filter_map(|subject| {
            let bucket = named_bucket(&subject.node)?;
            if buckets.contains(bucket.as_str()) {
                return None;
            }
            let (key, node) = inline_form(subject)?;
            Some((bucket, key, node))
        })
        .collect()
}

/// Folds the split S3 resources into the bucket they name (when the bucket
/// is in the same file and does not set the inline form itself).
pub fn fold_split_resources(model: &mut Model) {
    let buckets: HashMap<String, usize> = model
        .subjects
        .iter()
        .enumerate()
        .filter(|(_, s)| s.target == "resource" && s.kind == "aws_s3_bucket")
        .map(|(i, s)| (s.key.clone(), i))
        .collect();
    if buckets.is_empty() {
        return;
    }
    let mut folds: Vec<(usize, &'static str, Node)> = Vec::new();
    for subject in &model.subjects {
        if subject.target != "resource" {
            continue;
        }
        let Some(bucket) = named_bucket(&subject.node).and_then(|k| buckets.get(&k).copied())
        else {
            continue;
        };
        if let Some((key, node)) = inline_form(subject) {
            folds.push((bucket, key, node));
        }
    }
    for (bucket, key, node) in folds {
        let target = &mut model.subjects[bucket].node;
        if target.get(key).is_none() {
            target.set(key, node);
        }
    }
}

/// A registry module this file knows the inside of.
struct KnownModule {
    /// `source` without registry host, version or subfolder, lower case.
    source: &'static str,
    /// The resource type its inputs configure.
    creates: &'static str,
    /// Inputs the module defaults differently from the provider, as written
    /// in its `variables.tf`.
    defaults: &'static [(&'static str, bool)],
}

const KNOWN_MODULES: [KnownModule; 5] = [
    KnownModule {
        source: "terraform-aws-modules/rds/aws",
        creates: "aws_db_instance",
        defaults: &[("storage_encrypted", true), ("publicly_accessible", false)],
    },
    KnownModule {
        source: "terraform-aws-modules/rds-aurora/aws",
        creates: "aws_rds_cluster",
        defaults: &[("storage_encrypted", true)],
    },
    KnownModule {
        source: "terraform-aws-modules/s3-bucket/aws",
        creates: "aws_s3_bucket",
        defaults: &[],
    },
    KnownModule {
        source: "terraform-aws-modules/security-group/aws",
        creates: "aws_security_group",
        defaults: &[],
    },
    KnownModule {
        source: "terraform-aws-modules/dynamodb-table/aws",
        creates: "aws_dynamodb_table",
        defaults: &[],
    },
];

/// The security-group module's named rules (`ingress_rules = ["ssh-tcp"]`):
/// from port, to port, protocol.
const NAMED_RULES: [(&str, u32, u32, &str); 16] = [
    ("ssh-tcp", 22, 22, "tcp"),
    ("rdp-tcp", 3389, 3389, "tcp"),
    ("rdp-udp", 3389, 3389, "udp"),
    ("winrm-http-tcp", 5985, 5985, "tcp"),
    ("winrm-https-tcp", 5986, 5986, "tcp"),
    ("mysql-tcp", 3306, 3306, "tcp"),
    ("postgresql-tcp", 5432, 5432, "tcp"),
    ("mssql-tcp", 1433, 1433, "tcp"),
    ("oracle-db-tcp", 1521, 1521, "tcp"),
    ("redis-tcp", 6379, 6379, "tcp"),
    ("mongodb-27017-tcp", 27017, 27017, "tcp"),
    ("elasticsearch-rest-tcp", 9200, 9200, "tcp"),
    ("http-80-tcp", 80, 80, "tcp"),
    ("https-443-tcp", 443, 443, "tcp"),
    ("all-tcp", 0, 65535, "tcp"),
    ("all-all", 0, 0, "-1"),
];

fn normalised_source(source: &str) -> String {
    let lower = source.trim().to_ascii_lowercase();
    let lower = lower
        .strip_prefix("registry.terraform.io/")
        .unwrap_or(&lower);
    let lower = lower.split("//").next().unwrap_or(lower);
    lower.split('?').next().unwrap_or(lower).to_owned()
}

fn scalar_str(span: Span, text: &str) -> Node {
    Node::scalar(span, Scalar::Str(text.to_owned()))
}

/// A comma-separated CIDR string (`"10.0.0.0/8,0.0.0.0/0"`, the module's
/// form) as a list.
fn cidr_list(node: &Node) -> Node {
    match node.as_scalar() {
        Some(Scalar::Str(text)) => Node {
            span: node.span,
            value: Value::List(
                text.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| scalar_str(node.span, c))
                    .collect(),
            ),
        },
        _ => node.clone(),
    }
}

/// The `ingress` blocks the security-group module builds from its inputs.
fn module_ingress(body: &Node) -> Vec<Node> {
    let mut out = Vec::new();
    if let Some(Value::List(items)) = body.get("ingress_with_cidr_blocks").map(|n| &n.value) {
        for item in items {
            let Value::Map(entries) = &item.value else {
                continue;
            };
            let mut entries = entries.clone();
            for entry in &mut entries {
                if entry.0 == "cidr_blocks" || entry.0 == "ipv6_cidr_blocks" {
                    entry.1 = cidr_list(&entry.1);
                }
            }
            // `rule = "ssh-tcp"` inside an item stands for its ports.
            if let Some(rule) = item.get_text("rule")
                && let Some((_, from, to, protocol)) = NAMED_RULES.iter().find(|r| r.0 == rule)
            {
                let span = item.span;
                entries.push((
                    "from_port".into(),
                    Node::scalar(span, Scalar::Num(from.to_string())),
                ));
                entries.push((
                    "to_port".into(),
                    Node::scalar(span, Scalar::Num(to.to_string())),
                ));
                entries.push(("protocol".into(), scalar_str(span, protocol)));
            }
            out.push(Node {
                span: item.span,
                value: Value::Map(entries),
            });
        }
    }
    let cidrs = body.get("ingress_cidr_blocks");
    let ipv6 = body.get("ingress_ipv6_cidr_blocks");
    if let Some(Value::List(rules)) = body.get("ingress_rules").map(|n| &n.value) {
        for rule in rules {
            let Some(Scalar::Str(name)) = rule.as_scalar() else {
                continue;
            };
            let Some((_, from, to, protocol)) = NAMED_RULES.iter().find(|r| r.0 == name) else {
                continue;
            };
            let span = rule.span;
            let mut entries = vec![
                (
                    "from_port",
                    Node::scalar(span, Scalar::Num(from.to_string())),
                ),
                ("to_port", Node::scalar(span, Scalar::Num(to.to_string()))),
                ("protocol", scalar_str(span, protocol)),
            ];
            if let Some(cidrs) = cidrs {
                entries.push(("cidr_blocks", cidrs.clone()));
            }
            if let Some(ipv6) = ipv6 {
                entries.push(("ipv6_cidr_blocks", ipv6.clone()));
            }
            out.push(map(span, entries));
        }
    }
    out
}

/// The subject a known module's inputs configure, if `subject` is a call
/// of one.
pub fn module_resource(subject: &Subject) -> Option<Subject> {
    if subject.target != "module" {
        return None;
    }
    let source = normalised_source(subject.node.get_text("source")?);
    let known = KNOWN_MODULES.iter().find(|m| m.source == source)?;
    let mut node = subject.node.clone();
    let first_line = subject.node.span.first_line();
    for (input, value) in known.defaults {
        if node.get(input).is_none() {
            node.set(input, Node::scalar(first_line, Scalar::Bool(*value)));
        }
    }
    if known.creates == "aws_security_group" {
        let ingress = module_ingress(&subject.node);
        if !ingress.is_empty() {
            node.set(
                "ingress",
                Node {
                    span: subject.node.span,
                    value: Value::List(ingress),
                },
            );
        }
    }
    Some(Subject {
        target: "resource",
        kind: known.creates.to_owned(),
        key: format!("{}/{}", subject.key, known.creates),
        label: format!("{} ({})", subject.label, known.source),
        node,
        skips: subject.skips.clone(),
    })
}

/// Applies every derivation above to a parsed model.
pub fn derive(model: &mut Model) {
    fold_split_resources(model);
    let derived: Vec<Subject> = model.subjects.iter().filter_map(module_resource).collect();
    model.subjects.extend(derived);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::iac::terraform::parse;

    #[test]
    fn count_zero_and_empty_for_each_create_no_subject() {
        let text = "resource \"a\" \"x\" {\n  count = 0\n}\nresource \"a\" \"y\" {\n  for_each = {}\n}\nresource \"a\" \"z\" {\n  for_each = toset([ ])\n}\nresource \"a\" \"kept\" {\n  count = var.n\n}\n";
        let model = parse(text).expect("parses");
        let keys: Vec<&str> = model.subjects.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["resource.a.kept"]);
    }

    #[test]
    fn split_resources_fold_into_their_bucket_in_the_inline_form() {
        let text = r#"resource "aws_s3_bucket" "b" {
  bucket = "b"
}
resource "aws_s3_bucket_versioning" "b" {
  bucket = aws_s3_bucket.b.id
  versioning_configuration {
    status = "Enabled"
  }
}
resource "aws_s3_bucket_acl" "b" {
  bucket = aws_s3_bucket.b.id
  acl    = "private"
}
"#;
        let model = parse(text).expect("parses");
        let bucket = &model.subjects[0].node;
        assert_eq!(
            bucket.get("versioning").and_then(|v| v.get_text("enabled")),
            Some("true")
        );
        let acl = bucket.get("acl").expect("acl folded");
        assert_eq!((acl.display(), acl.span.start.line), ("private".into(), 12));
    }

    #[test]
    fn known_module_inputs_become_the_resource_they_configure() {
        let text = r#"module "db" {
  source  = "terraform-aws-modules/rds/aws"
  version = "6.1.0"
  publicly_accessible = true
}
module "sg" {
  source              = "registry.terraform.io/terraform-aws-modules/security-group/aws//modules/ssh"
  ingress_rules       = ["ssh-tcp"]
  ingress_cidr_blocks = ["0.0.0.0/0"]
}
module "local" {
  source = "./modules/db"
}
"#;
        let model = parse(text).expect("parses");
        let derived: Vec<(&str, &str)> = model
            .subjects
            .iter()
            .filter(|s| s.target == "resource")
            .map(|s| (s.kind.as_str(), s.key.as_str()))
            .collect();
        assert_eq!(
            derived,
            vec![
                ("aws_db_instance", "module.db/aws_db_instance"),
                ("aws_security_group", "module.sg/aws_security_group"),
            ]
        );
        let db = &model.subjects[3].node;
        assert_eq!(db.get_text("storage_encrypted"), Some("true"));
        assert_eq!(db.get_text("publicly_accessible"), Some("true"));
        let sg = &model.subjects[4].node;
        let ingress = sg.get("ingress").map(Node::display);
        assert_eq!(ingress, Some("[…]".into()));
    }
}
