//! Terraform: `*.tf` through `hcl-edit`, `*.tf.json` through the YAML loader.
//!
//! Why `hcl-edit`: it is the parser of the maintained `hcl-rs` family, pure
//! Rust, and gives a typed tree (blocks, attributes, expressions) with a byte
//! span on every element, so a model with line spans is a short walk. The
//! tree-sitter-hcl grammar would give positions too, but as an untyped
//! concrete syntax tree that this module would have to interpret node kind by
//! node kind (and one more C grammar to compile).
//!
//! Blocks become lists under their type (`ingress { }` twice is `ingress:
//! [{…}, {…}]`, the same shape as `ingress = [{…}]`); a `dynamic "ingress"`
//! block contributes its `content` as one more `ingress` item, so literal
//! values written inside dynamic blocks are checked too. `jsonencode({...})`
//! and JSON heredocs (IAM and bucket policies) become trees. References,
//! function calls and interpolations are [`Scalar::Expr`].

use super::model::{Model, Node, Scalar, Span, Subject, Value};
use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, Body, Structure};
use hcl_edit::template::Element;

/// Byte offsets ─▶ 1-based lines and character columns.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the line starts of `text`.
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    /// Line and column of a byte offset.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self
            .text
            .get(start..offset.min(self.text.len()))
            .map_or(0, |s| s.chars().count());
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(column + 1).unwrap_or(u32::MAX),
        )
    }

    /// The span of a byte range (the end is exclusive; a range ending right
    /// after a newline ends on the line before).
    pub fn span(&self, range: std::ops::Range<usize>) -> Span {
        let (start_line, start_column) = self.position(range.start);
        let end = range.end.max(range.start);
        let (mut end_line, mut end_column) = self.position(end);
        if end_line > start_line && end_column == 1 {
            end_line -= 1;
            end_column = u32::MAX;
        }
        Span::new(start_line, start_column, end_line, end_column)
    }
}

/// Parses a `.tf` file. A syntax error is returned with its line, so the
/// file is skipped with that reason rather than half-read.
pub fn parse(text: &str) -> Result<Model, String> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        format!(
            "HCL syntax error at line {}, column {}: {}",
            e.location().line(),
            e.location().column(),
            e.message()
        )
    })?;
    let index = LineIndex::new(text);
    let mut model = Model::default();
    for structure in body.iter() {
        if let Structure::Block(block) = structure
            && let Some(subject) = top_level(block, &index)
        {
            model.subjects.push(subject);
        }
    }
    Ok(model)
}

fn top_level(block: &Block, index: &LineIndex) -> Option<Subject> {
    let labels: Vec<&str> = block.labels.iter().map(|l| l.as_str()).collect();
    let span = index.span(block.span()?);
    let node = body_node(&block.body, span, index);
    let (target, kind, key, label) = match (block.ident.as_str(), labels.as_slice()) {
        ("resource", [kind, name]) => (
            "resource",
            *kind,
            format!("resource.{kind}.{name}"),
            format!("{kind}.{name}"),
        ),
        ("data", [kind, name]) => (
            "data",
            *kind,
            format!("data.{kind}.{name}"),
            format!("data.{kind}.{name}"),
        ),
        ("provider", [name]) => {
            let alias = node
                .get_text("alias")
                .map(|a| format!(".{a}"))
                .unwrap_or_default();
            (
                "provider",
                *name,
                format!("provider.{name}{alias}"),
                format!("provider \"{name}\""),
            )
        }
        ("module", [name]) => (
            "module",
            "module",
            format!("module.{name}"),
            format!("module.{name}"),
        ),
        _ => return None,
    };
    Some(Subject {
        target,
        kind: kind.to_owned(),
        key,
        label,
        node,
        skips: Vec::new(),
    })
}

fn push_item(entries: &mut Vec<(String, Node)>, key: &str, item: Node) {
    if let Some((_, existing)) = entries.iter_mut().find(|(k, _)| k == key)
        && let Value::List(items) = &mut existing.value
    {
        existing.span = existing.span.union(item.span);
        items.push(item);
        return;
    }
    entries.push((
        key.to_owned(),
        Node {
            span: item.span,
            value: Value::List(vec![item]),
        },
    ));
}

fn body_node(body: &Body, span: Span, index: &LineIndex) -> Node {
    let mut entries: Vec<(String, Node)> = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attribute) => {
                let Some(range) = attribute.span() else {
                    continue;
                };
                let mut node = expr_node(&attribute.value, index);
                node.span = index.span(range);
                entries.push((attribute.key.as_str().to_owned(), node));
            }
            Structure::Block(block) => {
                let Some(range) = block.span() else {
                    continue;
                };
                let block_span = index.span(range);
                if block.ident.as_str() == "dynamic" {
                    // `dynamic "x" { content { … } }` generates `x` blocks.
                    let Some(name) = block.labels.first().map(|l| l.as_str().to_owned()) else {
                        continue;
                    };
                    for content in block.body.get_blocks("content") {
                        let mut item = body_node(&content.body, block_span, index);
                        item.span = block_span;
                        push_item(&mut entries, &name, item);
                    }
                } else {
                    let item = body_node(&block.body, block_span, index);
                    push_item(&mut entries, block.ident.as_str(), item);
                }
            }
        }
    }
    Node {
        span,
        value: Value::Map(entries),
    }
}

fn source_text(expr: &Expression, index: &LineIndex) -> String {
    expr.span()
        .and_then(|r| index.text.get(r))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default()
}

fn expr_node(expr: &Expression, index: &LineIndex) -> Node {
    let span = expr
        .span()
        .map(|r| index.span(r))
        .unwrap_or(Span::new(1, 1, 1, 1));
    let value = match expr {
        Expression::Null(_) => Value::Scalar(Scalar::Null),
        Expression::Bool(b) => Value::Scalar(Scalar::Bool(*b.value())),
        Expression::Number(n) => Value::Scalar(Scalar::Num(n.value().to_string())),
        Expression::String(s) => Value::Scalar(Scalar::Str(s.value().clone())),
        Expression::Array(array) => {
            Value::List(array.iter().map(|e| expr_node(e, index)).collect())
        }
        Expression::Object(object) => Value::Map(
            object
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                        ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                        ObjectKey::Expression(other) => source_text(other, index),
                    };
                    let mut node = expr_node(value.expr(), index);
                    if let Some(key_span) = value.expr().span() {
                        node.span = index.span(key_span);
                    }
                    (key, node)
                })
                .collect(),
        ),
        Expression::Parenthesis(inner) => return expr_node(inner.inner(), index),
        Expression::FuncCall(call)
            if call.name.namespace.is_empty()
                && matches!(call.name.name.as_str(), "jsonencode" | "yamlencode")
                && call.args.iter().count() == 1 =>
        {
            match call.args.iter().next() {
                Some(arg) => expr_node(arg, index).value,
                None => Value::Scalar(Scalar::Expr(source_text(expr, index))),
            }
        }
        Expression::HeredocTemplate(heredoc) => {
            let mut literal = String::new();
            let mut only_literals = true;
            for element in heredoc.template.iter() {
                match element {
                    Element::Literal(text) => literal.push_str(text.value()),
                    _ => only_literals = false,
                }
            }
            if !only_literals {
                Value::Scalar(Scalar::Expr(source_text(expr, index)))
            } else {
                match serde_json::from_str::<serde_json::Value>(&literal) {
                    Ok(json) if json.is_object() || json.is_array() => json_node(&json, span).value,
                    _ => Value::Scalar(Scalar::Str(literal)),
                }
            }
        }
        _ => Value::Scalar(Scalar::Expr(source_text(expr, index))),
    };
    Node { span, value }
}

/// A JSON document (a policy in a heredoc) as a tree; every node gets the
/// span of the attribute that holds it.
pub fn json_node(json: &serde_json::Value, span: Span) -> Node {
    let value = match json {
        serde_json::Value::Null => Value::Scalar(Scalar::Null),
        serde_json::Value::Bool(b) => Value::Scalar(Scalar::Bool(*b)),
        serde_json::Value::Number(n) => Value::Scalar(Scalar::Num(n.to_string())),
        serde_json::Value::String(s) => Value::Scalar(Scalar::Str(s.clone())),
        serde_json::Value::Array(items) => {
            Value::List(items.iter().map(|i| json_node(i, span)).collect())
        }
        serde_json::Value::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), json_node(v, span)))
                .collect(),
        ),
    };
    Node { span, value }
}

/// Parses a `.tf.json` file: the same blocks in JSON syntax, read through
/// the YAML loader (JSON is YAML) so every value keeps its lines.
pub fn parse_json(text: &str) -> Result<Model, String> {
    let docs = super::yaml::parse(text, false)?;
    let mut model = Model::default();
    let Some(root) = docs.into_iter().next() else {
        return Ok(model);
    };
    for (block, target) in [("resource", "resource"), ("data", "data")] {
        let Some(types) = root.get(block) else {
            continue;
        };
        let Value::Map(types) = &types.value else {
            continue;
        };
        for (kind, named) in types {
            let Value::Map(named) = &named.value else {
                continue;
            };
            for (name, node) in named {
                let prefix = if target == "data" { "data." } else { "" };
                model.subjects.push(Subject {
                    target,
                    kind: kind.clone(),
                    key: format!("{target}.{kind}.{name}"),
                    label: format!("{prefix}{kind}.{name}"),
                    node: node.clone(),
                    skips: Vec::new(),
                });
            }
        }
    }
    if let Some(Value::Map(providers)) = root.get("provider").map(|p| &p.value) {
        for (name, node) in providers {
            model.subjects.push(Subject {
                target: "provider",
                kind: name.clone(),
                key: format!("provider.{name}"),
                label: format!("provider \"{name}\""),
                node: node.clone(),
                skips: Vec::new(),
            });
        }
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_attributes_and_dynamic_content_keep_their_lines() {
        let text = r#"resource "aws_security_group" "web" {
  name = "web"
  ingress {
    from_port   = 22
    to_port     = 22
    cidr_blocks = ["10.0.0.0/8"]
  }
  dynamic "ingress" {
    for_each = var.ports
    content {
      from_port   = ingress.value
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
}
"#;
        let model = parse(text).expect("parses");
        let subject = &model.subjects[0];
        assert_eq!(subject.key, "resource.aws_security_group.web");
        assert_eq!(
            (subject.node.span.start.line, subject.node.span.end.line),
            (1, 15)
        );
        let ingress = subject.node.get("ingress").expect("ingress");
        let Value::List(items) = &ingress.value else {
            panic!("ingress is a list");
        };
        assert_eq!(items.len(), 2);
        let cidr = items[0].get("cidr_blocks").expect("cidr");
        assert_eq!((cidr.span.start.line, cidr.span.end.line), (6, 6));
        assert_eq!(
            items[1].get("cidr_blocks").map(Node::display),
            Some("[0.0.0.0/0]".into())
        );
        assert!(matches!(
            items[1].get("from_port").and_then(Node::as_scalar),
            Some(Scalar::Expr(e)) if e == "ingress.value"
        ));
    }

    #[test]
    fn jsonencode_and_json_heredocs_become_trees() {
        let text = "resource \"aws_iam_policy\" \"a\" {\n  policy = jsonencode({\n    Statement = [{ Action = \"*\", Resource = \"*\" }]\n  })\n}\nresource \"aws_iam_policy\" \"b\" {\n  policy = <<EOF\n{\"Statement\": [{\"Action\": \"s3:*\"}]}\nEOF\n}\n";
        let model = parse(text).expect("parses");
        let a = model.subjects[0].node.get("policy").expect("policy");
        assert_eq!(a.get("Statement").map(Node::display), Some("[…]".into()));
        let b = model.subjects[1].node.get("policy").expect("policy");
        assert!(b.get("Statement").is_some(), "{b:?}");
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let error = parse("resource \"a\" \"b\" {\n  x = \n}\n").expect_err("broken");
        assert!(error.contains("line"), "{error}");
    }
}
