//! Macros: a token tree is not parsed into expressions, so `format!`
//! and its kin are read token by token.

use super::Analysis;
use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::core::named_children;
use crate::engine::sast::taint::flow::{Env, Taint, either};
use tree_sitter::Node;

/// Macros whose value is built from their arguments' text.
const TEXT_MACROS: [&str; 5] = ["format", "format_args", "concat", "vec", "json"];

impl<'t> Analysis<'_, 't> {
    /// `format!(…)` and its kin: tainted when a name among the arguments,
    /// or a `{name}` the template captures, is; `write!(s, …)` fills `s`.
    pub(super) fn macro_call(
        &mut self,
        env: &mut Env,
        node: Node<'t>,
        depth: usize,
    ) -> Option<Taint> {
        let name = node
            .rs_field("macro")
            .map(|m| self.text(m))
            .unwrap_or_default();
        let name = name.rsplit("::").next().unwrap_or(name);
        let tokens = named_children(node)
            .into_iter()
            .find(|n| n.kind() == "token_tree")?;
        match name {
            _ if TEXT_MACROS.contains(&name) => self.tokens(env, tokens, depth),
            "write" | "writeln" => {
                let target = named_children(tokens).into_iter().next()?;
                let taint = self.tokens(env, tokens, depth);
                if taint.is_some() && target.kind() == "identifier" {
                    let taint = taint.map(|t| t.through(self.core.step(node)));
                    env.add(self.text(target), taint);
                }
                None
            }
            // Printing, assertions, `matches!`: no text comes out.
            _ => None,
        }
    }

    /// The taint of the names in a macro's tokens (a token tree is not
    /// parsed into expressions: each identifier that is not a method or
    /// field name, and each `{name}` of a template, is looked up).
    pub(super) fn tokens(&mut self, env: &mut Env, tree: Node<'t>, depth: usize) -> Option<Taint> {
        let mut taint = None;
        let mut stack = vec![(tree, depth)];
        while let Some((node, level)) = stack.pop() {
            if !self.core.tick() || self.core.too_deep(level) {
                break;
            }
            let mut cursor = node.walk();
            let children: Vec<Node<'t>> = node.children(&mut cursor).collect();
            for (at, child) in children.iter().enumerate() {
                match child.kind() {
                    "token_tree" => stack.push((*child, level + 1)),
                    "identifier" | "self" => {
                        let after_dot = at
                            .checked_sub(1)
                            .is_some_and(|p| matches!(children[p].kind(), "." | "::"));
                        if !after_dot {
                            let name = self.dotted(&children[at..]);
                            taint = either(taint, self.lookup(env, &name));
                        }
                    }
                    "string_literal" | "raw_string_literal" => {
                        for name in captured_names(self.text(*child)) {
                            taint = either(taint, self.lookup(env, name));
                        }
                    }
                    _ => {}
                }
            }
        }
        taint
    }

    /// `a.b.c` spelled by the tokens from an identifier on (`a` when no
    /// `.field` follows).
    pub(super) fn dotted(&self, tokens: &[Node<'t>]) -> String {
        let mut name = self.text(tokens[0]).to_owned();
        let mut at = 1;
        while at + 1 < tokens.len()
            && tokens[at].kind() == "."
            && tokens[at + 1].kind() == "identifier"
            // `x.trim()`: a method, not a field
            && tokens.get(at + 2).is_none_or(|n| n.kind() != "token_tree")
        {
            name.push('.');
            name.push_str(self.text(tokens[at + 1]));
            at += 2;
        }
        name
    }

    /// The taint of a name, or of the nearest known name it is under
    /// (`p.name` is as tainted as `p` unless `p.name` is known).
    pub(super) fn lookup(&self, env: &Env, name: &str) -> Option<Taint> {
        let mut name = name;
        loop {
            if let Some(value) = env.get(name) {
                return value.taint.clone();
            }
            name = &name[..name.rfind('.')?];
        }
    }
}

/// The names a format template captures: `{name}`, `{name:?}`, not `{{`.
fn captured_names(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        loop {
            let open = rest.find('{')?;
            let after = &rest[open + 1..];
            if let Some(escaped) = after.strip_prefix('{') {
                rest = escaped;
                continue;
            }
            let end = after.find(['}', ':']).unwrap_or(after.len());
            let name = after[..end].trim();
            rest = &after[end..];
            if !name.is_empty()
                && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Some(name);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::captured_names;

    #[test]
    pub(super) fn templates_capture_names_but_not_positions_or_escapes() {
        let names: Vec<&str> =
            captured_names(r#""{{literal}} {name} {0} {} {width:>8} {id:?} {{x}}""#).collect();
        assert_eq!(names, ["name", "width", "id"]);
    }
}
