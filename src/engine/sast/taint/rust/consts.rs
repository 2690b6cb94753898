//! Constant propagation for Rust: values built only from literals.
//!
//! Only what stays exact is evaluated: string, integer and boolean
//! literals, names bound to them, references and the conversions that
//! keep a string as it is (`.to_string()`, `String::from(…)`), integer
//! arithmetic and comparisons. Anything else is "not known", never a guess.

use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::flow::{Const, Env};
use std::rc::Rc;
use tree_sitter::Node;

/// Nesting evaluated at most (deeper expressions are "not known").
const MAX_DEPTH: usize = 64;

/// Methods that return their receiver's string unchanged.
const SAME_STRING: [&str; 6] = ["to_string", "to_owned", "into", "as_str", "as_ref", "clone"];

fn text<'s>(source: &'s str, node: Node) -> &'s str {
    source.get(node.byte_range()).unwrap_or_default()
}

/// The content of a string literal without escapes (`"…"`, `r#"…"#`).
pub fn string_value(source: &str, node: Node) -> Option<String> {
    match node.kind() {
        "string_literal" | "raw_string_literal" => {
            let mut value = String::new();
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                match child.kind() {
                    "string_content" => value.push_str(text(source, child)),
                    _ => return None, // an escape: not worth decoding
                }
            }
            Some(value)
        }
        _ => None,
    }
}

/// The value of `node` when it is known from literals and known names.
pub fn eval(
    env: &Env,
    source: &str,
    node: Node,
    key: &dyn Fn(Node) -> Option<String>,
) -> Option<Const> {
    eval_at(env, source, node, key, 0)
}

fn eval_at(
    env: &Env,
    source: &str,
    node: Node,
    key: &dyn Fn(Node) -> Option<String>,
    depth: usize,
) -> Option<Const> {
    if depth > MAX_DEPTH {
        return None;
    }
    let sub = |child: Node| eval_at(env, source, child, key, depth + 1);
    match node.kind() {
        "integer_literal" => {
            let digits: String = text(source, node)
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '_')
                .filter(|&c| c != '_')
                .collect();
            digits.parse().ok().map(Const::Int)
        }
        "boolean_literal" => Some(Const::Bool(text(source, node) == "true")),
        "string_literal" | "raw_string_literal" => {
            string_value(source, node).map(|s| Const::Str(Rc::from(s)))
        }
        "identifier" | "field_expression" => env.get(&key(node)?)?.constant.clone(),
        "parenthesized_expression" => sub(node.named_child(0)?),
        "reference_expression" => sub(node.rs_field("value")?),
        "call_expression" => {
            let function = node.rs_field("function")?;
            let arguments = node.rs_field("arguments")?;
            match function.kind() {
                // `"x".to_string()`, `NAME.as_str()`
                "field_expression" => {
                    let method = function.rs_field("field")?;
                    let receiver = function.rs_field("value")?;
                    (SAME_STRING.contains(&text(source, method))
                        && arguments.named_child_count() == 0)
                        .then(|| sub(receiver))
                        .flatten()
                }
                // `String::from("x")`
                "scoped_identifier" if text(source, function) == "String::from" => {
                    (arguments.named_child_count() == 1)
                        .then(|| sub(arguments.named_child(0)?))
                        .flatten()
                }
                _ => None,
            }
        }
        "unary_expression" => {
            let operand = sub(node.named_child(0)?)?;
            match (text(source, node).trim_start().chars().next()?, operand) {
                ('!', Const::Bool(b)) => Some(Const::Bool(!b)),
                ('-', Const::Int(n)) => n.checked_neg().map(Const::Int),
                _ => None,
            }
        }
        "binary_expression" => {
            let operator = text(source, node.rs_field("operator")?);
            let left = sub(node.rs_field("left")?)?;
            match (operator, &left) {
                ("&&", Const::Bool(false)) | ("||", Const::Bool(true)) => return Some(left),
                ("&&" | "||", _) => return sub(node.rs_field("right")?),
                _ => {}
            }
            let right = sub(node.rs_field("right")?)?;
            let ordering = match (&left, &right) {
                (Const::Int(a), Const::Int(b)) => Some(a.cmp(b)),
                (Const::Str(a), Const::Str(b)) => Some(a.cmp(b)),
                _ => None,
            };
            use std::cmp::Ordering::{Greater, Less};
            match (operator, left, right) {
                ("==", l, r) => Some(Const::Bool(l == r)),
                ("!=", l, r) => Some(Const::Bool(l != r)),
                ("<", ..) => Some(Const::Bool(ordering? == Less)),
                (">", ..) => Some(Const::Bool(ordering? == Greater)),
                ("<=", ..) => Some(Const::Bool(ordering? != Greater)),
                (">=", ..) => Some(Const::Bool(ordering? != Less)),
                ("+", Const::Int(a), Const::Int(b)) => a.checked_add(b).map(Const::Int),
                ("-", Const::Int(a), Const::Int(b)) => a.checked_sub(b).map(Const::Int),
                ("*", Const::Int(a), Const::Int(b)) => a.checked_mul(b).map(Const::Int),
                _ => None,
            }
        }
        _ => None,
    }
}
