//! One tree shape for every IaC format, so policies are written once against
//! it: maps, lists and scalars, each node with the lines it spans.
//!
//! Parsers (HCL, YAML, Dockerfile) build [`Node`] trees and cut them into
//! [`Subject`]s: the things a policy is about (a Terraform resource, a
//! Kubernetes container, a Dockerfile stage, a workflow step), each with a
//! key that stays the same between the base and the head version of a file,
//! so findings can be matched across the change.

use crate::engine::Position;

/// Why a file was not read into a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A syntax error or a limit: the message says which, with the line.
    #[error("{0}")]
    Invalid(String),
    /// The file's deadline passed while reading it.
    #[error("the analysis deadline passed while reading the file")]
    OutOfTime,
}

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
    /// item is a map with a scalar `name` (or `id`, or an IAM statement's
    /// `Sid`), else `[index]`. Names keep paths stable when items are
    /// inserted before it, so base and head values are compared item by
    /// item; unnamed items are paired by [`align`].
    pub fn item_label(&self, index: usize) -> String {
        match self.item_name() {
            Some((key, name)) => format!("[{key}={name}]"),
            None => format!("[{index}]"),
        }
    }

    /// The key and value that name a list item, if any.
    fn item_name(&self) -> Option<(&'static str, &str)> {
        ["name", "id", "Sid"]
            .into_iter()
            .find_map(|key| match self.get(key).map(|n| &n.value) {
                Some(Value::Scalar(Scalar::Str(name))) => Some((key, name.as_str())),
                _ => None,
            })
    }

    /// True when `label` (as [`Node::item_label`] writes it) names this
    /// item at `index`, without building the label.
    fn has_label(&self, index: usize, label: &str) -> bool {
        let Some(inner) = label.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
            return false;
        };
        match (self.item_name(), inner.split_once('=')) {
            (Some((key, name)), Some((k, n))) => key == k && name == n,
            (None, None) => inner.parse::<usize>() == Ok(index),
            _ => false,
        }
    }
}

/// The item of `items` that `label` names: by position for `[3]` (checked
/// to be unnamed), by scanning for `[name=…]`.
fn item_at<'a>(items: &'a [Node], label: &str) -> Option<&'a Node> {
    let inner = label.strip_prefix('[')?.strip_suffix(']')?;
    if let Ok(index) = inner.parse::<usize>() {
        return items.get(index).filter(|item| item.has_label(index, label));
    }
    items
        .iter()
        .enumerate()
        .find(|(index, item)| item.has_label(*index, label))
        .map(|(_, item)| item)
}

/// The index in `items` of the item `label` names.
fn index_of(items: &[Node], label: &str) -> Option<usize> {
    let item = item_at(items, label)?;
    items.iter().position(|i| std::ptr::eq(i, item))
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
                // `*` stands for every key (each variable of an `env` map).
                if key == first || *first == "*" {
                    let key = escape_key(key);
                    let concrete = if prefix.is_empty() {
                        key.into_owned()
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
            (Segment::Key(key), Value::Map(_)) => current.get(key.as_ref())?,
            (Segment::Item(label), Value::List(items)) => item_at(items, label)?,
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
            (Segment::Key(key), Value::Map(_)) => current.get(key.as_ref()),
            (Segment::Item(label), Value::List(items)) => item_at(items, label),
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
            (Segment::Key(key), Value::Map(_)) => current.get(key.as_ref()),
            (Segment::Item(label), Value::List(items)) => item_at(items, label),
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

/// A stable 64-bit FNV-1a hash (the same in every run and Rust release,
/// unlike std's hasher), continuing from `hash`.
pub fn fnv(bytes: &[u8], hash: u64) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// A hash of a node's content, ignoring where it is: equal content, equal hash.
pub fn content_hash(node: &Node) -> u64 {
    fn feed(node: &Node, h: u64) -> u64 {
        match &node.value {
            Value::Scalar(s) => {
                let tag: &[u8] = match s {
                    Scalar::Str(_) => b"s",
                    Scalar::Bool(_) => b"b",
                    Scalar::Num(_) => b"n",
                    Scalar::Null => b"0",
                    Scalar::Expr(_) => b"e",
                };
                fnv(b"\0", fnv(s.text().as_bytes(), fnv(tag, h)))
            }
            Value::List(items) => fnv(b"]", items.iter().fold(fnv(b"[", h), |h, i| feed(i, h))),
            Value::Map(entries) => fnv(
                b"}",
                entries.iter().fold(fnv(b"{", h), |h, (k, v)| {
                    feed(v, fnv(b"\0", fnv(k.as_bytes(), h)))
                }),
            ),
        }
    }
    feed(node, FNV_START)
}

/// Hashes of every leaf of a node with its relative path: the features
/// [`align`] compares to tell which edited item a head item came from.
fn leaf_hashes(node: &Node, prefix: u64, out: &mut Vec<u64>) {
    match &node.value {
        Value::Scalar(s) => out.push(fnv(s.text().as_bytes(), fnv(b"=", prefix))),
        Value::List(items) => {
            for item in items {
                leaf_hashes(item, fnv(b"[]", prefix), out);
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries {
                leaf_hashes(value, fnv(key.as_bytes(), fnv(b".", prefix)), out);
            }
        }
    }
}

/// Above this many (unmatched head item, unmatched base item) pairs, edited
/// items are paired in order instead of by similarity, so one list costs at
/// most this many comparisons.
pub const MAX_SIMILARITY_PAIRS: usize = 10_000;

/// Which base item each head item of a list is (`None`: the head inserted
/// it). Named items (`name`, `id`, `Sid`) pair by name. Unnamed items pair
/// first with an identical base item (by content hash, in order), then the
/// edited ones with the base item they share the most leaf values with
/// (best pairs first), then those sharing nothing in order; head items
/// left over were inserted. Linear in the
/// list's size apart from the similarity step, which is bounded by
/// [`MAX_SIMILARITY_PAIRS`].
pub fn align(head: &[Node], base: &[Node]) -> Vec<Option<usize>> {
    use std::collections::{HashMap, HashSet, VecDeque};
    let mut to_base = vec![None; head.len()];
    let mut base_used = vec![false; base.len()];
    // Named items: by name.
    let mut named: HashMap<(&str, &str), usize> = HashMap::new();
    for (index, item) in base.iter().enumerate() {
        if let Some(name) = item.item_name() {
            named.entry(name).or_insert(index);
        }
    }
    for (index, item) in head.iter().enumerate() {
        if let Some(name) = item.item_name()
            && let Some(&at) = named.get(&name)
            && !base_used[at]
        {
            to_base[index] = Some(at);
            base_used[at] = true;
        }
    }
    // Unnamed identical items: by content hash, in order.
    let mut by_hash: HashMap<u64, VecDeque<usize>> = HashMap::new();
    for (index, item) in base.iter().enumerate() {
        if item.item_name().is_none() {
            by_hash
                .entry(content_hash(item))
                .or_default()
                .push_back(index);
        }
    }
    let unnamed_head: Vec<usize> = (0..head.len())
        .filter(|i| head[*i].item_name().is_none())
        .collect();
    for &index in &unnamed_head {
        let queue = by_hash.get_mut(&content_hash(&head[index]));
        if let Some(at) = queue.and_then(VecDeque::pop_front)
            && same_content(&head[index], &base[at])
        {
            to_base[index] = Some(at);
            base_used[at] = true;
        }
    }
    // Edited items: the most similar pairs first.
    let left_head: Vec<usize> = unnamed_head
        .into_iter()
        .filter(|i| to_base[*i].is_none())
        .collect();
    let left_base: Vec<usize> = (0..base.len())
        .filter(|i| !base_used[*i] && base[*i].item_name().is_none())
        .collect();
    if left_head.is_empty() || left_base.is_empty() {
        return to_base;
    }
    if left_head.len().saturating_mul(left_base.len()) > MAX_SIMILARITY_PAIRS {
        // Too many to compare: pair in order, the extra head items are new.
        for (h, b) in left_head.iter().zip(&left_base) {
            to_base[*h] = Some(*b);
        }
        return to_base;
    }
    let features = |node: &Node| {
        let mut out = Vec::new();
        leaf_hashes(node, FNV_START, &mut out);
        out.into_iter().collect::<HashSet<u64>>()
    };
    let head_features: Vec<HashSet<u64>> = left_head.iter().map(|i| features(&head[*i])).collect();
    let base_features: Vec<HashSet<u64>> = left_base.iter().map(|i| features(&base[*i])).collect();
    let mut pairs = Vec::new();
    for (h, hf) in head_features.iter().enumerate() {
        for (b, bf) in base_features.iter().enumerate() {
            let shared = hf.intersection(bf).count();
            if shared > 0 {
                pairs.push((std::cmp::Reverse(shared), h, b));
            }
        }
    }
    pairs.sort();
    let (mut head_done, mut base_done) =
        (vec![false; left_head.len()], vec![false; left_base.len()]);
    for (_, h, b) in pairs {
        if !head_done[h] && !base_done[b] {
            head_done[h] = true;
            base_done[b] = true;
            to_base[left_head[h]] = Some(left_base[b]);
        }
    }
    // Items sharing nothing (a one-value item replaced): in order, as edits.
    let rest_base = (0..left_base.len()).filter(|b| !base_done[*b]);
    let rest_head = (0..left_head.len()).filter(|h| !head_done[*h]);
    for (h, b) in rest_head.zip(rest_base) {
        to_base[left_head[h]] = Some(left_base[b]);
    }
    to_base
}

/// Where a head concrete path is in the base version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translated {
    /// The base path (base labels; the part the base lacks is kept as written).
    Path(String),
    /// A list item on the way is one the head inserted.
    Inserted,
}

/// Translates head concrete paths of one subject into base paths, aligning
/// each list on the way once ([`align`]) and remembering it.
pub struct Translator<'a> {
    head: &'a Node,
    base: &'a Node,
    lists: std::collections::HashMap<*const Node, Vec<Option<usize>>>,
}

impl<'a> Translator<'a> {
    /// For one subject's head and base trees.
    pub fn new(head: &'a Node, base: &'a Node) -> Self {
        Translator {
            head,
            base,
            lists: std::collections::HashMap::new(),
        }
    }

    /// The base path of a head path.
    pub fn translate(&mut self, concrete: &str) -> Translated {
        let segments = split_concrete(concrete);
        let mut out = String::new();
        let (mut h, mut b) = (self.head, Some(self.base));
        for (at, segment) in segments.iter().enumerate() {
            let next = match (segment, &h.value) {
                (Segment::Key(key), Value::Map(_)) => h.get(key.as_ref()).map(|next| {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&escape_key(key));
                    (next, b.and_then(|b| b.get(key.as_ref())))
                }),
                (Segment::Item(label), Value::List(items)) => {
                    let Some(index) = index_of(items, label) else {
                        return Translated::Path(rest(out, &segments[at..]));
                    };
                    let Some(Value::List(base_items)) = b.map(|b| &b.value) else {
                        return Translated::Path(rest(out, &segments[at..]));
                    };
                    let alignment = self
                        .lists
                        .entry(std::ptr::from_ref(h))
                        .or_insert_with(|| align(items, base_items));
                    let Some(base_index) = alignment.get(index).copied().flatten() else {
                        return Translated::Inserted;
                    };
                    let Some(base_item) = base_items.get(base_index) else {
                        return Translated::Inserted;
                    };
                    out.push_str(&base_item.item_label(base_index));
                    Some((&items[index], Some(base_item)))
                }
                _ => None,
            };
            match next {
                Some((next_h, next_b)) => {
                    h = next_h;
                    b = next_b;
                }
                None => return Translated::Path(rest(out, &segments[at..])),
            }
        }
        Translated::Path(out)
    }
}

/// `done` followed by `segments` written as they are.
fn rest(mut done: String, segments: &[Segment<'_>]) -> String {
    for segment in segments {
        match segment {
            Segment::Key(key) => {
                if !done.is_empty() {
                    done.push('.');
                }
                done.push_str(&escape_key(key));
            }
            Segment::Item(label) => done.push_str(label),
        }
    }
    done
}

enum Segment<'a> {
    /// A map key, unescaped.
    Key(std::borrow::Cow<'a, str>),
    Item(&'a str),
}

/// A key as a concrete path writes it: a dot in the key (Kubernetes
/// annotations such as `nginx.ingress.kubernetes.io/server-snippet`) is
/// written `\.`, so it is not read as a step.
pub fn escape_key(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains('.') {
        std::borrow::Cow::Owned(key.replace('.', "\\."))
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

/// The steps of a dot-separated path: dots inside `[…]` (an item label such
/// as `[name=web.v1]`) or written `\.` do not separate steps.
pub fn split_steps(path: &str) -> Vec<&str> {
    let bytes = path.as_bytes();
    let (mut steps, mut start, mut depth, mut index) = (Vec::new(), 0, 0usize, 0);
    while index < bytes.len() {
        match bytes[index] {
            b'\\' if bytes.get(index + 1) == Some(&b'.') => index += 1,
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'.' if depth == 0 => {
                steps.push(&path[start..index]);
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    steps.push(&path[start..]);
    steps.retain(|s| !s.is_empty());
    steps
}

fn unescape(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains("\\.") {
        std::borrow::Cow::Owned(key.replace("\\.", "."))
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

fn split_concrete(path: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    for part in split_steps(path) {
        // `key[label][label]`: a key, then list items.
        let (key, mut rest) = match part.find('[') {
            Some(at) => part.split_at(at),
            None => (part, ""),
        };
        if !key.is_empty() {
            segments.push(Segment::Key(unescape(key)));
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
    /// Set when a limit left part of the file unread: why, for a visible
    /// "partly analysed" reason.
    pub partial: Option<String>,
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
