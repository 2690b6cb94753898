//! YAML ─▶ [`Node`] trees, one per document, through `saphyr`'s marked
//! loader.
//!
//! Why `saphyr`: it is the YAML 1.2 parser the project already builds on
//! (`serde-saphyr` uses the same family), and its `MarkedYaml` keeps a span
//! on every node, keys included, with no schema to declare — Kubernetes
//! manifests and workflows are open-ended trees. `serde-saphyr`'s
//! `Spanned<T>` needs a typed target, which these files do not have.
//!
//! The file is not handed to `MarkedYaml::load_from_str`: that loader
//! walks the parser's events recursively, one call per nesting level, so
//! `- - - - …` (two bytes a level) overflows the stack, and it counts a
//! mapping key as one node when it caps alias expansion, so aliases used as
//! keys still multiply. [`load`] pulls the events itself, in a loop, and
//! feeds them to saphyr's own `YamlLoader`, refusing a document nested
//! deeper than [`MAX_NESTING`] or whose aliases would produce more than
//! [`MAX_ALIAS_NODES`] nodes, and stopping when the file's deadline passes.
//! Nothing built is deeper than [`MAX_NESTING`], so the recursive
//! conversion below, the policies' walks and the trees' drops are bounded.

use super::model::{Node, ReadError, Scalar, Span, Value};
use crate::engine::Deadline;
use regex::Regex;
use saphyr::{MarkedYaml, YamlData, YamlLoader};
use saphyr_parser::{Event, Parser, SpannedEventReceiver};
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Collections (mappings, sequences) nested deeper than this are refused.
/// Kubernetes manifests, CRD schemas included, and workflows stay far below.
pub const MAX_NESTING: usize = 128;

/// Nodes that aliases may produce in one file (saphyr's own default).
pub const MAX_ALIAS_NODES: usize = 100_000;

/// A limit, where it was hit.
fn refused_at(marker: &saphyr::Marker, what: &str) -> ReadError {
    ReadError::Invalid(format!(
        "YAML {what} (line {}, column {}): not read",
        marker.line(),
        marker.col() + 1
    ))
}

fn invalid_at(marker: &saphyr::Marker, what: &str) -> ReadError {
    ReadError::Invalid(format!(
        "YAML syntax error at line {}, column {}: {what}",
        marker.line(),
        marker.col() + 1
    ))
}

/// The documents of `text`, as saphyr's loader builds them, within the
/// limits above.
fn load<'t>(text: &'t str, deadline: &Deadline) -> Result<Vec<MarkedYaml<'t>>, ReadError> {
    let mut parser = Parser::new_from_str(text);
    let mut loader: YamlLoader<'t, MarkedYaml<'t>> = YamlLoader::default();
    // Per open collection: its anchor and how many nodes it holds so far.
    let mut open: Vec<(usize, usize)> = Vec::new();
    // Per anchor of the current document: how many nodes an alias copies.
    let mut anchored: HashMap<usize, usize> = HashMap::new();
    let mut anchors_in_document: HashSet<usize> = HashSet::new();
    let mut aliased = 0usize;
    // One iteration per event, never per nesting level.
    while let Some(next) = parser.next_event() {
        if deadline.expired() {
            return Err(ReadError::OutOfTime);
        }
        let (event, span) = next.map_err(|e| invalid_at(e.marker(), e.info()))?;
        // How many nodes this event closes or adds, with its anchor.
        let mut done: Option<(usize, usize)> = None;
        match &event {
            Event::DocumentStart(_) => {
                // Anchors do not cross documents (saphyr's `load` forgets
                // them between documents too).
                anchored.clear();
                anchors_in_document.clear();
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_NESTING {
                    return Err(refused_at(
                        &span.start,
                        &format!("nested deeper than {MAX_NESTING} levels"),
                    ));
                }
                open.push((*anchor, 1));
            }
            Event::SequenceEnd | Event::MappingEnd => done = open.pop(),
            Event::Scalar(_, _, anchor, _) => done = Some((*anchor, 1)),
            Event::Alias(id) => {
                let Some(&size) = anchored
                    .get(id)
                    .filter(|_| anchors_in_document.contains(id))
                else {
                    return Err(invalid_at(&span.start, "alias to an unknown anchor"));
                };
                aliased = aliased.saturating_add(size);
                if aliased > MAX_ALIAS_NODES {
                    return Err(refused_at(
                        &span.start,
                        &format!("whose aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                    ));
                }
                done = Some((0, size));
            }
            _ => {}
        }
        if let Some((anchor, size)) = done {
            if anchor > 0 {
                anchored.insert(anchor, size);
                anchors_in_document.insert(anchor);
            }
            if let Some((_, parent)) = open.last_mut() {
                *parent = parent.saturating_add(size);
            }
        }
        loader.on_event(event, span);
        if let Some(error) = loader.error() {
            return Err(invalid_at(error.marker(), error.info()));
        }
    }
    Ok(loader.into_documents())
}

/// A variable that a tool fills in before the manifest reaches the cluster:
/// envsubst's and Flux's `${NAME}` (with a `:-default` and the like) anywhere
/// in a value, or a whole value that is `$NAME` or Kubernetes' own `$(NAME)`.
static VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:[:?+=-][^}]*)?\}|^\$[A-Za-z_][A-Za-z0-9_]*$|^\$\([A-Za-z_][A-Za-z0-9_]*\)$")
        .expect("a constant, valid regex")
});

/// True when a string's value is only known once something renders the
/// file: a template (`{{`, Helm and Jinja) or a variable ([`VARIABLE`]).
fn rendered_later(text: &str) -> bool {
    text.contains("{{") || VARIABLE.is_match(text)
}

fn marker_span(node: &MarkedYaml) -> Span {
    let line = |m: &saphyr::Marker| u32::try_from(m.line()).unwrap_or(u32::MAX);
    let column = |m: &saphyr::Marker| u32::try_from(m.col() + 1).unwrap_or(u32::MAX);
    let (start, end) = (&node.span.start, &node.span.end);
    let (mut end_line, mut end_column) = (line(end), column(end));
    // A block scalar ends at the start of the next line.
    if end_line > line(start) && end_column == 1 {
        end_line -= 1;
        end_column = u32::MAX;
    }
    Span::new(line(start), column(start), end_line, end_column)
}

/// Parses every document of `text`. With `templates_are_expr`, strings
/// holding a template (`{{`, Helm and Jinja) or a variable (`${IMAGE}`,
/// `$(TAG)`) are expressions, never literals: `image: ${IMAGE}` is not an
/// untagged image, it is whatever the deploy pipeline substitutes.
pub fn parse(text: &str, templates_are_expr: bool) -> Result<Vec<Node>, String> {
    parse_until(text, templates_are_expr, &Deadline::none()).map_err(|e| e.to_string())
}

/// [`parse`], stopping when `deadline` passes.
pub fn parse_until(
    text: &str,
    templates_are_expr: bool,
    deadline: &Deadline,
) -> Result<Vec<Node>, ReadError> {
    let docs = load(text, deadline)?;
    Ok(docs
        .iter()
        .filter(|d| !matches!(d.data, YamlData::BadValue))
        .map(|d| convert(d, templates_are_expr))
        .collect())
}

fn scalar_text(node: &MarkedYaml) -> Option<String> {
    match &node.data {
        YamlData::Value(scalar) => Some(match scalar {
            saphyr::Scalar::Null => "null".into(),
            saphyr::Scalar::Boolean(b) => b.to_string(),
            saphyr::Scalar::Integer(i) => i.to_string(),
            saphyr::Scalar::FloatingPoint(f) => f.to_string(),
            saphyr::Scalar::String(s) => s.to_string(),
        }),
        YamlData::Representation(text, _, _) => Some(text.to_string()),
        _ => None,
    }
}

fn convert(node: &MarkedYaml, templates_are_expr: bool) -> Node {
    let span = marker_span(node);
    match &node.data {
        YamlData::Value(scalar) => {
            let scalar = match scalar {
                saphyr::Scalar::Null => Scalar::Null,
                saphyr::Scalar::Boolean(b) => Scalar::Bool(*b),
                saphyr::Scalar::Integer(i) => Scalar::Num(i.to_string()),
                saphyr::Scalar::FloatingPoint(f) => Scalar::Num(f.to_string()),
                saphyr::Scalar::String(s) if templates_are_expr && rendered_later(s) => {
                    Scalar::Expr(s.to_string())
                }
                saphyr::Scalar::String(s) => Scalar::Str(s.to_string()),
            };
            Node::scalar(span, scalar)
        }
        YamlData::Representation(text, _, _) => Node::scalar(span, Scalar::Str(text.to_string())),
        YamlData::Sequence(items) => {
            let items: Vec<Node> = items
                .iter()
                .map(|i| convert(i, templates_are_expr))
                .collect();
            let span = items.iter().fold(span.first_line(), |s, i| s.union(i.span));
            Node {
                span,
                value: Value::List(items),
            }
        }
        YamlData::Mapping(map) => {
            let mut entries: Vec<(String, Node)> = Vec::with_capacity(map.len());
            let mut merged: Vec<Node> = Vec::new();
            let mut whole = span.first_line();
            for (key, value) in map {
                // Complex keys do not occur in the files we read; skip them.
                let Some(name) = scalar_text(key) else {
                    continue;
                };
                let mut child = convert(value, templates_are_expr);
                child.span = marker_span(key).union(child.span);
                whole = whole.union(child.span);
                if name == "<<" {
                    merged.push(child);
                    continue;
                }
                entries.push((name, child));
            }
            // YAML 1.1 merge keys (`<<: *defaults`), which Kubernetes and
            // Actions files use although YAML 1.2 dropped them: the merged
            // maps' keys join unless the mapping sets them itself, the first
            // merged map winning. Their size is already counted against
            // the alias limit by `load`.
            for source in merged {
                let maps = match source.value {
                    Value::Map(_) => vec![source],
                    Value::List(items) => items,
                    Value::Scalar(_) => Vec::new(),
                };
                for merged_map in maps {
                    if let Value::Map(more) = merged_map.value {
                        for (name, child) in more {
                            if !entries.iter().any(|(k, _)| *k == name) {
                                entries.push((name, child));
                            }
                        }
                    }
                }
            }
            Node {
                span: whole,
                value: Value::Map(entries),
            }
        }
        YamlData::Tagged(_, inner) => convert(inner, templates_are_expr),
        YamlData::Alias(_) | YamlData::BadValue => Node::scalar(span, Scalar::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_entries_and_block_scalars_have_their_lines() {
        let text = "a: 1\nrun: |\n  echo one\n  echo two\nnext: x\n---\nb: [1, 2]\n";
        let docs = parse(text, false).expect("parses");
        assert_eq!(docs.len(), 2);
        let run = docs[0].get("run").expect("run");
        assert_eq!((run.span.start.line, run.span.end.line), (2, 4));
        assert_eq!(docs[0].get("next").map(|n| n.span.start.line), Some(5));
        assert_eq!((docs[0].span.start.line, docs[0].span.end.line), (1, 5));
        assert_eq!(docs[1].get("b").map(Node::display), Some("[1, 2]".into()));
    }

    #[test]
    fn merge_keys_join_the_merged_map_under_the_mapping_s_own_keys() {
        let text =
            "base: &base\n  privileged: true\n  runAsUser: 0\nc:\n  <<: *base\n  runAsUser: 1000\n";
        let docs = parse(text, false).expect("parses");
        let c = docs[0].get("c").expect("c");
        assert_eq!(c.get_text("privileged"), Some("true"));
        assert_eq!(c.get_text("runAsUser"), Some("1000"));
        assert!(c.get("<<").is_none());
    }

    #[test]
    fn template_strings_are_expressions_when_asked() {
        let docs = parse("image: \"{{ .Values.image }}\"\n", true).expect("parses");
        assert!(matches!(
            docs[0].get("image").and_then(Node::as_scalar),
            Some(Scalar::Expr(_))
        ));
    }

    #[test]
    fn substituted_variables_are_expressions_when_asked() {
        let text = "a: ${IMAGE}\nb: registry.example.com/app:${TAG:-1.0}\nc: $(IMAGE)\nd: $IMAGE\ne: pa$$word\nf: cost $5\ng: ${not closed\nh: a $IMAGE b\n";
        let docs = parse(text, true).expect("parses");
        let is_expr = |key: &str| {
            matches!(
                docs[0].get(key).and_then(Node::as_scalar),
                Some(Scalar::Expr(_))
            )
        };
        for key in ["a", "b", "c", "d"] {
            assert!(is_expr(key), "{key} should be an expression");
        }
        for key in ["e", "f", "g", "h"] {
            assert!(!is_expr(key), "{key} should stay a literal");
        }
        let literal = parse(text, false).expect("parses");
        assert!(matches!(
            literal[0].get("a").and_then(Node::as_scalar),
            Some(Scalar::Str(_))
        ));
    }

    #[test]
    fn nesting_past_the_limit_is_refused_without_overflowing_the_stack() {
        // Two bytes a level: the recursive loader overflowed a 2 MiB stack
        // (a test thread's, and a scan thread's) at a few thousand.
        let deep = format!("{}x\n", "- ".repeat(100_000));
        let error = parse(&deep, false).expect_err("too deep");
        assert!(error.contains("nested deeper than 128 levels"), "{error}");
        let flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&flow, false).is_err());
        // At the limit, it is read.
        let at_limit = format!("{}x\n", "- ".repeat(MAX_NESTING));
        let docs = parse(&at_limit, false).expect("at the limit");
        let mut node = &docs[0];
        let mut depth = 0;
        while let Value::List(items) = &node.value {
            node = &items[0];
            depth += 1;
        }
        assert_eq!((depth, node.display()), (MAX_NESTING, "x".to_owned()));
    }

    #[test]
    fn aliases_are_expanded_but_not_past_the_node_budget_even_as_keys() {
        let docs = parse("base: &base {image: nginx}\nother: *base\n", false).expect("parses");
        assert_eq!(
            docs[0].get("other").map(Node::display),
            Some("{image: nginx}".into())
        );
        // A list of ten, as the key of a map, ten of those in a list, as a
        // key … each level ten times the last: saphyr's own budget counts a
        // key as one node, so this grew unchecked.
        let mut text = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=9 {
            let previous = level - 1;
            text.push_str(&format!("m{level}: &m{level}\n  ? *l{previous}\n  : 1\n"));
            let items = vec![format!("*m{level}"); 10].join(", ");
            text.push_str(&format!("l{level}: &l{level} [{items}]\n"));
        }
        let error = parse(&text, false).expect_err("an alias bomb");
        assert!(error.contains("aliases expand to more than"), "{error}");
        // Anchors do not cross documents.
        assert!(parse("a: &x 1\n---\nb: *x\n", false).is_err());
    }

    #[test]
    fn a_passed_deadline_stops_the_load() {
        let deadline = Deadline::after(std::time::Duration::ZERO);
        assert_eq!(
            parse_until("a: 1\n", false, &deadline),
            Err(ReadError::OutOfTime)
        );
    }

    #[test]
    fn syntax_errors_name_the_line_and_duplicate_keys_are_errors() {
        let error = parse("a: [1, 2\nb: 3\n", false).expect_err("broken");
        assert!(error.contains("line"), "{error}");
        assert!(parse("a: 1\na: 2\n", false).is_err());
    }
}
