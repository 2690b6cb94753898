//! YAML ─▶ [`Node`] trees, one per document, through `saphyr`'s marked
//! loader.
//!
//! Why `saphyr`: it is the YAML 1.2 parser the project already builds on
//! (`serde-saphyr` uses the same family), and its `MarkedYaml` keeps a span
//! on every node, keys included, with no schema to declare — Kubernetes
//! manifests and workflows are open-ended trees. `serde-saphyr`'s
//! `Spanned<T>` needs a typed target, which these files do not have. The
//! loader caps alias expansion (no "billion laughs").

use super::model::{Node, Scalar, Span, Value};
use regex::Regex;
use saphyr::{LoadableYamlNode, MarkedYaml, YamlData};
use std::sync::LazyLock;

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
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        format!(
            "YAML syntax error at line {}, column {}: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        )
    })?;
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
            let mut entries = Vec::with_capacity(map.len());
            let mut whole = span.first_line();
            for (key, value) in map {
                // Complex keys do not occur in the files we read; skip them.
                let Some(name) = scalar_text(key) else {
                    continue;
                };
                let mut child = convert(value, templates_are_expr);
                child.span = marker_span(key).union(child.span);
                whole = whole.union(child.span);
                entries.push((name, child));
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
    fn syntax_errors_name_the_line_and_duplicate_keys_are_errors() {
        let error = parse("a: [1, 2\nb: 3\n", false).expect_err("broken");
        assert!(error.contains("line"), "{error}");
        assert!(parse("a: 1\na: 2\n", false).is_err());
    }
}
