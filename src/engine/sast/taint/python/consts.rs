//! Constant propagation for Python: values built only from literals.
//!
//! This is what tells `bar = "safe" if 7 * 18 + num > 200 else param`
//! (with `num = 106`) apart from a tainted `bar`, and an `if` whose
//! condition is always false from a live branch. Only integers, strings,
//! booleans and `None` with the operators that keep them exact are
//! evaluated; anything else is "not known", never a guess.

use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::flow::{Const, Env};
use std::rc::Rc;
use tree_sitter::Node;

/// Nesting evaluated at most (deeper expressions are "not known").
const MAX_DEPTH: usize = 64;

/// The value of `node` when it is known from literals and known names.
pub fn eval(
    env: &Env,
    source: &str,
    node: Node,
    key: &dyn Fn(Node) -> Option<String>,
) -> Option<Const> {
    eval_at(env, source, node, key, 0)
}

fn text<'s>(source: &'s str, node: Node) -> &'s str {
    source.get(node.byte_range()).unwrap_or_default()
}

/// The content of a plain string literal (no interpolation, no bytes
/// prefix games), or `None`.
pub fn string_value(source: &str, node: Node) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let mut value = String::new();
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "string_start" | "string_end" => {}
            "string_content" => value.push_str(text(source, child)),
            _ => return None,
        }
    }
    Some(value)
}

fn int_value(text: &str) -> Option<i64> {
    let digits: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        return i64::from_str_radix(hex, 16).ok();
    }
    digits.parse().ok()
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
        "integer" => int_value(text(source, node)).map(Const::Int),
        "true" => Some(Const::Bool(true)),
        "false" => Some(Const::Bool(false)),
        "none" => Some(Const::None),
        "string" => string_value(source, node).map(|s| Const::Str(Rc::from(s))),
        "concatenated_string" => {
            let mut value = String::new();
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                value.push_str(&string_value(source, child)?);
            }
            Some(Const::Str(Rc::from(value)))
        }
        "parenthesized_expression" => sub(node.named_child(0)?),
        "identifier" | "attribute" | "subscript" => {
            let name = key(node)?;
            env.get(&name)?.constant.clone()
        }
        "not_operator" => Some(Const::Bool(!sub(node.py_field("argument")?)?.truthy())),
        "unary_operator" => {
            let value = sub(node.py_field("argument")?)?;
            match (text(source, node.py_field("operator")?), value) {
                ("-", Const::Int(n)) => n.checked_neg().map(Const::Int),
                ("+", Const::Int(n)) => Some(Const::Int(n)),
                _ => None,
            }
        }
        "boolean_operator" => {
            let left = sub(node.py_field("left")?)?;
            let operator = text(source, node.py_field("operator")?);
            match (operator, left.truthy()) {
                ("and", false) | ("or", true) => Some(left),
                _ => sub(node.py_field("right")?),
            }
        }
        "binary_operator" => {
            let left = sub(node.py_field("left")?)?;
            let right = sub(node.py_field("right")?)?;
            let operator = text(source, node.py_field("operator")?);
            match (left, right) {
                (Const::Int(a), Const::Int(b)) => match operator {
                    "+" => a.checked_add(b),
                    "-" => a.checked_sub(b),
                    "*" => a.checked_mul(b),
                    "//" if b != 0 => Some(a.div_euclid(b)),
                    "%" if b != 0 => Some(a.rem_euclid(b)),
                    _ => None,
                }
                .map(Const::Int),
                (Const::Str(a), Const::Str(b)) if operator == "+" => {
                    Some(Const::Str(Rc::from(format!("{a}{b}"))))
                }
                _ => None,
            }
        }
        "comparison_operator" => {
            // One operator only (`a < b`); chains are not evaluated.
            let mut cursor = node.walk();
            let operands: Vec<Node> = node.named_children(&mut cursor).collect();
            let [left, right] = operands.as_slice() else {
                return None;
            };
            let operator = source.get(left.end_byte()..right.start_byte())?.trim();
            let (left, right) = (sub(*left)?, sub(*right)?);
            let ordering = match (&left, &right) {
                (Const::Int(a), Const::Int(b)) => Some(a.cmp(b)),
                (Const::Str(a), Const::Str(b)) => Some(a.cmp(b)),
                _ => None,
            };
            let result = match operator {
                "==" => left == right,
                "!=" => left != right,
                "<" => ordering? == std::cmp::Ordering::Less,
                ">" => ordering? == std::cmp::Ordering::Greater,
                "<=" => ordering? != std::cmp::Ordering::Greater,
                ">=" => ordering? != std::cmp::Ordering::Less,
                _ => return None,
            };
            Some(Const::Bool(result))
        }
        "conditional_expression" => {
            let mut cursor = node.walk();
            let parts: Vec<Node> = node.named_children(&mut cursor).collect();
            let [then, condition, otherwise] = parts.as_slice() else {
                return None;
            };
            if sub(*condition)?.truthy() {
                sub(*then)
            } else {
                sub(*otherwise)
            }
        }
        _ => None,
    }
}
