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
//!
//! Depth: `hcl-edit` refuses more than 64 nested levels (and 128 chained
//! binary operators) with a syntax error, so the recursive walks here and
//! over the model are bounded; `serde_json` refuses JSON heredocs deeper
//! than 128, which then stay strings.

mod derive;

pub use derive::foreign_split_forms;

use super::model::{Model, Node, ReadError, Scalar, Span, Subject, Value};
use crate::engine::Deadline;
use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, Body, Structure};
use hcl_edit::template::Element;
use std::collections::HashMap;

/// Bytes per checkpoint of [`LineIndex`]'s character counts.
const CHUNK: usize = 256;

/// Byte offsets ─▶ 1-based lines and character columns.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// `chars_before[k]`: the characters in the first `k * CHUNK` bytes.
    /// A column is then a difference of two counts, each at most a chunk
    /// of counting: counting from the line start made every position on a
    /// long line (a minified file) cost the line, and the file quadratic.
    chars_before: Vec<usize>,
}

/// The characters that start in `bytes` (UTF-8: every byte but continuations).
fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

impl<'a> LineIndex<'a> {
    /// Indexes the line starts of `text`.
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut chars_before = vec![0];
        let mut total = 0;
        for chunk in text.as_bytes().chunks(CHUNK) {
            total += char_starts(chunk);
            chars_before.push(total);
        }
        Self {
            text,
            starts,
            chars_before,
        }
    }

    /// The characters in `text[..offset]`.
    fn chars_to(&self, offset: usize) -> usize {
        let chunk = offset / CHUNK;
        self.chars_before[chunk] + char_starts(&self.text.as_bytes()[chunk * CHUNK..offset])
    }

    /// Line and column of a byte offset.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let end = offset.min(self.text.len());
        let column = match self.text.get(start..end) {
            Some(_) => self.chars_to(end) - self.chars_to(start),
            None => 0,
        };
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
    parse_until(text, &Deadline::none()).map_err(|e| e.to_string())
}

/// [`parse`], stopping when `deadline` passes (the parse itself cannot be
/// interrupted; it is linear, and the model is built block by block).
pub fn parse_until(text: &str, deadline: &Deadline) -> Result<Model, ReadError> {
    // A byte-order mark is not HCL, but editors on Windows write one; it
    // moves no line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        ReadError::Invalid(format!(
            "HCL syntax error at line {}, column {}: {}",
            e.location().line(),
            e.location().column(),
            e.message()
        ))
    })?;
    let index = LineIndex::new(text);
    let mut model = Model::default();
    for structure in body.iter() {
        if deadline.expired() {
            return Err(ReadError::OutOfTime);
        }
        if let Structure::Block(block) = structure
            && let Some(subject) = top_level(block, &index)
        {
            model.subjects.push(subject);
        }
    }
    derive::derive(&mut model);
    Ok(model)
}

fn top_level(block: &Block, index: &LineIndex) -> Option<Subject> {
    let labels: Vec<&str> = block.labels.iter().map(|l| l.as_str()).collect();
    let span = index.span(block.span()?);
    let node = body_node(&block.body, span, index);
    if derive::creates_nothing(&node) {
        return None;
    }
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

/// A body's entries, with the index of the first entry of each key, so a
/// block joins its list in constant time (a body of thousands of blocks
/// would otherwise be quadratic).
#[derive(Default)]
struct Entries {
    entries: Vec<(String, Node)>,
    first: HashMap<String, usize>,
}

impl Entries {
    fn push(&mut self, key: &str, node: Node) {
        self.first
            .entry(key.to_owned())
            .or_insert(self.entries.len());
        self.entries.push((key.to_owned(), node));
    }

    /// Adds a block to the list of its type: to the first entry of that
    /// key when it is a list, else as a new list.
    fn push_item(&mut self, key: &str, item: Node) {
        if let Some(&at) = self.first.get(key) {
            let existing = &mut self.entries[at].1;
            if let Value::List(items) = &mut existing.value {
                existing.span = existing.span.union(item.span);
                items.push(item);
                return;
            }
        }
        self.push(
            key,
            Node {
                span: item.span,
                value: Value::List(vec![item]),
            },
        );
    }
}

fn body_node(body: &Body, span: Span, index: &LineIndex) -> Node {
    let mut entries = Entries::default();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attribute) => {
                let Some(range) = attribute.span() else {
                    continue;
                };
                let mut node = expr_node(&attribute.value, index);
                node.span = index.span(range);
                entries.push(attribute.key.as_str(), node);
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
                        entries.push_item(&name, item);
                    }
                } else {
                    let item = body_node(&block.body, block_span, index);
                    entries.push_item(block.ident.as_str(), item);
                }
            }
        }
    }
    Node {
        span,
        value: Value::Map(entries.entries),
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
pub fn parse_json(text: &str, deadline: &Deadline) -> Result<Model, ReadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // JSON's own parser first, so a broken file gets a JSON error (with its
    // line), not the YAML loader's view of it; serde_json stops at 128
    // levels of nesting.
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(ReadError::Invalid(format!(
            "JSON syntax error at line {}, column {}: {}",
            error.line(),
            error.column(),
            json_reason(&error)
        )));
    }
    let docs = super::yaml::parse_until(text, false, deadline)?;
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
                if derive::creates_nothing(node) {
                    continue;
                }
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
    if let Some(Value::Map(modules)) = root.get("module").map(|m| &m.value) {
        for (name, node) in modules {
            if derive::creates_nothing(node) {
                continue;
            }
            model.subjects.push(Subject {
                target: "module",
                kind: "module".into(),
                key: format!("module.{name}"),
                label: format!("module.{name}"),
                node: node.clone(),
                skips: Vec::new(),
            });
        }
    }
    derive::derive(&mut model);
    Ok(model)
}

/// serde_json's message without its own " at line L column C" suffix.
fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
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
    fn columns_count_characters_on_long_lines() {
        let line = "é = \"ünïcode\" # ".repeat(100);
        let text = format!("a = 1\n{line}\nb = 2\n");
        let index = LineIndex::new(&text);
        let second = text.find('é').unwrap_or(0);
        for (offset, _) in text.char_indices() {
            let start = text[..offset].rfind('\n').map_or(0, |at| at + 1);
            let line = text[..offset].matches('\n').count() + 1;
            let column = text[start..offset].chars().count() + 1;
            assert_eq!(
                index.position(offset),
                (line as u32, column as u32),
                "offset {offset} (line 2 starts at {second})"
            );
        }
        assert_eq!(index.position(text.len()), (4, 1));
    }

    #[test]
    fn deep_nesting_is_a_syntax_error_not_a_crash() {
        let deep = format!("x = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let error = parse(&deep).expect_err("too deep");
        assert!(error.contains("nest"), "{error}");
        let blocks = format!("{}{}", "a {\n".repeat(10_000), "}\n".repeat(10_000));
        assert!(parse(&blocks).is_err());
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let error = parse("resource \"a\" \"b\" {\n  x = \n}\n").expect_err("broken");
        assert!(error.contains("line"), "{error}");
    }
}
