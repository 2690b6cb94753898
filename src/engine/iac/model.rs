//! One tree shape for every IaC format, so policies are written once against
//! it: maps, lists and scalars, each node with the lines it spans.
//!
//! Parsers (HCL, YAML, Dockerfile) build [`Node`] trees and cut them into
//! [`Subject`]s: the things a policy is about (a Terraform resource, a
//! Kubernetes container, a Dockerfile stage, a workflow step), each with a
//! key that stays the same between the base and the head version of a file,
//! so findings can be matched across the change.

use crate::engine::Position;

/// The lines and columns a node covers (1-based, end inclusive line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First character.
    pub start: Position,
    /// End (inclusive line, exclusive column).
    pub end: Position,
}

impl Span {
    /// A span from 1-based lines and columns.
    pub fn new(start_line: u32, start_column: u32, end_line: u32, end_column: u32) -> Self {
        Span {
            start: Position {
                line: start_line,
                column: start_column,
            },
            end: Position {
                line: end_line.max(start_line),
                column: end_column,
            },
        }
    }

    /// The smallest span covering both.
    pub fn union(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Only the first line of this span.
    pub fn first_line(self) -> Span {
        Span {
            start: self.start,
            end: Position {
                line: self.start.line,
                column: self.start.column.saturating_add(1),
            },
        }
    }

    /// True when `line` lies inside.
    pub fn contains_line(self, line: u32) -> bool {
        self.start.line <= line && line <= self.end.line
    }
}

/// A leaf value. Expressions the file computes at run time (Terraform
/// references, template interpolations, `$VAR`s) are [`Scalar::Expr`]: they
/// never equal a literal, so a policy cannot misread them.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A number, as written.
    Num(String),
    /// An explicit null.
    Null,
    /// Something only known when the tool runs (its source text).
    Expr(String),
}

impl Scalar {
    /// The value as text, for messages and regexes.
    pub fn text(&self) -> &str {
        match self {
            Scalar::Str(s) | Scalar::Num(s) | Scalar::Expr(s) => s,
            Scalar::Bool(true) => "true",
            Scalar::Bool(false) => "false",
            Scalar::Null => "null",
        }
    }
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Keys in document order (repeated HCL blocks are one key holding a list).
    Map(Vec<(String, Node)>),
    /// Items in order.
    List(Vec<Node>),
    /// A leaf.
    Scalar(Scalar),
}

/// A value and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The lines it covers; for a map entry, from its key to the end of its value.
    pub span: Span,
    /// The value.
    pub value: Value,
}

impl Node {
    /// A scalar node.
    pub fn scalar(span: Span, scalar: Scalar) -> Self {
        Node {
            span,
            value: Value::Scalar(scalar),
        }
    }

    /// The entry `key` of a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The scalar text of entry `key`, when it is a scalar.
    pub fn get_text(&self, key: &str) -> Option<&str> {
        match self.get(key).map(|n| &n.value) {
            Some(Value::Scalar(s)) => Some(s.text()),
            _ => None,
        }
    }

    /// The scalar, when this node is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// Adds or replaces a map entry (for facts a parser derives, such as a
    /// stage being the final one). No-op on non-maps.
    pub fn set(&mut self, key: &str, node: Node) {
        if let Value::Map(entries) = &mut self.value {
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = node,
                None => entries.push((key.to_owned(), node)),
            }
        }
    }

    /// A short rendering for messages: scalars as they are, lists of
    /// scalars joined, anything bigger as `{…}` / `[…]`.
    pub fn display(&self) -> String {
        match &self.value {
            Value::Scalar(s) => s.text().to_owned(),
            Value::List(items) if items.iter().all(|i| i.as_scalar().is_some()) => {
                let texts: Vec<&str> = items
                    .iter()
                    .filter_map(|i| i.as_scalar().map(Scalar::text))
                    .collect();
                format!("[{}]", texts.join(", "))
            }
            Value::List(_) => "[…]".into(),
            Value::Map(entries)
                if entries.len() <= 3 && entries.iter().all(|(_, v)| v.as_scalar().is_some()) =>
            {
                let parts: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.display()))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            Value::Map(_) => "{…}".into(),
        }
    }

    /// The label of a list item in a concrete path: `[name=web]` when the
    /// item is a map with a scalar `name` (or `id`), else `[index]`. Names
    /// keep paths stable when items are inserted before it, so base and
    /// head values are compared item by item.
    pub fn item_label(&self, index: usize) -> String {
        for key in ["name", "id"] {
            if let Some(Value::Scalar(Scalar::Str(name))) = self.get(key).map(|n| &n.value) {
                return format!("[{key}={name}]");
            }
        }
        format!("[{index}]")
    }
}

/// Every node at `path` (dot-separated keys) under `node`, with its concrete
/// path. A list met on the way is walked item by item, so `ingress.cidr_blocks`
/// reaches every CIDR of every ingress block.
pub fn resolve<'a>(node: &'a Node, path: &[&str], prefix: &str, out: &mut Vec<(String, &'a Node)>) {
    match (&node.value, path.split_first()) {
        (Value::List(items), _) => {
            for (index, item) in items.iter().enumerate() {
                let concrete = format!("{prefix}{}", item.item_label(index));
                resolve(item, path, &concrete, out);
            }
        }
        (_, None) => out.push((prefix.to_owned(), node)),
        (Value::Map(entries), Some((first, rest))) => {
            for (key, child) in entries {
                if key == first {
                    let concrete = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    resolve(child, rest, &concrete, out);
                }
            }
        }
        (Value::Scalar(_), Some(_)) => {}
    }
}

/// Follows a concrete path (as [`resolve`] writes them) in another tree:
/// how the base value of a head finding is found.
pub fn lookup<'a>(node: &'a Node, concrete: &str) -> Option<&'a Node> {
    let mut current = node;
    for segment in split_concrete(concrete) {
        current = match (segment, &current.value) {
            (Segment::Key(key), Value::Map(_)) => current.get(key)?,
            (Segment::Item(label), Value::List(items)) => items
                .iter()
                .enumerate()
                .find(|(index, item)| item.item_label(*index) == label)
                .map(|(_, item)| item)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The deepest node that exists along a concrete path (for evidence of an
/// absent value: the block it is missing from).
pub fn deepest<'a>(node: &'a Node, concrete: &str) -> &'a Node {
    let mut current = node;
    for segment in split_concrete(concrete) {
        let next = match (segment, &current.value) {
            (Segment::Key(key), Value::Map(_)) => current.get(key),
            (Segment::Item(label), Value::List(items)) => items
                .iter()
                .enumerate()
                .find(|(index, item)| item.item_label(*index) == label)
                .map(|(_, item)| item),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

/// True when the part of a concrete path that `node` lacks names a list
/// item (`volumes[name=docker]…` where the base has no such volume, or no
/// `volumes` at all): the head added an item rather than changing a value.
pub fn missing_part_has_item(node: &Node, concrete: &str) -> bool {
    let segments = split_concrete(concrete);
    let mut current = node;
    for (index, segment) in segments.iter().enumerate() {
        let next = match (segment, &current.value) {
            (Segment::Key(key), Value::Map(_)) => current.get(key),
            (Segment::Item(label), Value::List(items)) => items
                .iter()
                .enumerate()
                .find(|(i, item)| item.item_label(*i) == *label)
                .map(|(_, item)| item),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => {
                return segments[index..]
                    .iter()
                    .any(|s| matches!(s, Segment::Item(_)));
            }
        }
    }
    false
}

/// Structural equality, ignoring where things are.
pub fn same_content(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Scalar(x), Value::Scalar(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_content(x, y))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_content(vx, vy))
        }
        _ => false,
    }
}

/// True when the first list item on a concrete path is one the head
/// inserted: its list grew, and no base item has its content. Unnamed items
/// are addressed by position, so without this an inserted block would read
/// as the old block at that position "changed".
pub fn inserted_item(head: &Node, base: &Node, concrete: &str) -> bool {
    let segments = split_concrete(concrete);
    let (mut h, mut b) = (head, Some(base));
    for segment in &segments {
        match (segment, &h.value) {
            (Segment::Key(key), Value::Map(_)) => {
                let Some(next) = h.get(key) else {
                    return false;
                };
                h = next;
                b = b.and_then(|b| b.get(key));
            }
            (Segment::Item(label), Value::List(items)) => {
                let Some(item) = items
                    .iter()
                    .enumerate()
                    .find(|(i, item)| item.item_label(*i) == *label)
                    .map(|(_, item)| item)
                else {
                    return false;
                };
                let Some(Value::List(base_items)) = b.map(|b| &b.value) else {
                    return false;
                };
                // Items with an identical counterpart are unchanged; the
                // others pair up in order (edited in place), and head items
                // left over once the base's run out were inserted.
                let unmatched_base = base_items
                    .iter()
                    .filter(|bi| !items.iter().any(|hi| same_content(hi, bi)))
                    .count();
                let unmatched_head: Vec<*const Node> = items
                    .iter()
                    .filter(|hi| !base_items.iter().any(|bi| same_content(hi, bi)))
                    .map(|hi| hi as *const Node)
                    .collect();
                return unmatched_head
                    .iter()
                    .position(|p| std::ptr::eq(*p, item))
                    .is_some_and(|rank| rank >= unmatched_base);
            }
            _ => return false,
        }
    }
    false
}

enum Segment<'a> {
    Key(&'a str),
    Item(&'a str),
}

fn split_concrete(path: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        // `key[label][label]`: a key, then list items.
        let (key, mut rest) = match part.find('[') {
            Some(at) => part.split_at(at),
            None => (part, ""),
        };
        if !key.is_empty() {
            segments.push(Segment::Key(key));
        }
        while let Some(end) = rest.find(']') {
            segments.push(Segment::Item(&rest[..=end]));
            rest = &rest[end + 1..];
        }
    }
    segments
}

/// What a policy can be about.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Which kind of thing: `resource`, `data`, `provider`, `manifest`,
    /// `pod`, `container`, `stage`, `instruction`, `workflow`, `job`, `step`.
    pub target: &'static str,
    /// Its type: a resource type, a Kubernetes kind, an instruction keyword.
    pub kind: String,
    /// Identity across base and head, e.g. `resource.aws_s3_bucket.logs`.
    pub key: String,
    /// For messages, e.g. `aws_s3_bucket.logs`.
    pub label: String,
    /// Its content.
    pub node: Node,
    /// Suppressions the subject carries itself (Kubernetes annotations):
    /// (tool id or rule id, reason).
    pub skips: Vec<(String, Option<String>)>,
}

/// A parsed IaC file.
#[derive(Debug, Default)]
pub struct Model {
    /// Everything policies look at, in file order.
    pub subjects: Vec<Subject>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(line: u32, text: &str) -> Node {
        Node::scalar(Span::new(line, 1, line, 2), Scalar::Str(text.into()))
    }

    fn map(line: u32, entries: Vec<(&str, Node)>) -> Node {
        Node {
            span: Span::new(line, 1, line, 2),
            value: Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            ),
        }
    }

    #[test]
    fn resolve_walks_lists_and_labels_named_items() {
        let env = Node {
            span: Span::new(1, 1, 3, 1),
            value: Value::List(vec![
                map(2, vec![("name", leaf(2, "A")), ("value", leaf(2, "1"))]),
                map(3, vec![("value", leaf(3, "2"))]),
            ]),
        };
        let root = map(1, vec![("env", env)]);
        let mut out = Vec::new();
        resolve(&root, &["env", "value"], "", &mut out);
        let paths: Vec<_> = out.iter().map(|(p, n)| (p.as_str(), n.display())).collect();
        assert_eq!(
            paths,
            vec![
                ("env[name=A].value", "1".into()),
                ("env[1].value", "2".into())
            ]
        );
        assert_eq!(
            lookup(&root, "env[name=A].value").map(Node::display),
            Some("1".into())
        );
        assert_eq!(lookup(&root, "env[name=B].value"), None);
        assert_eq!(deepest(&root, "env[name=A].missing").span.start.line, 2);
    }
}
