//! A node's child by field name, with the field's id found once per
//! language instead of at every call.
//!
//! tree-sitter's `Node::child_by_field_name` turns the name into an id with
//! `ts_language_field_id_for_name`, a `strncmp` against each of the
//! language's field names in turn, at every call. The taint walk asks for
//! fields (`function`, `arguments`, `left`, `body`…) at nearly every node,
//! and that search was 5 % of a Python scan. Here each language's names are
//! read into a hash map once.

use ast_grep_language::{LanguageExt, SupportLang};
use rustc_hash::FxHashMap;
use std::sync::LazyLock;
use tree_sitter::Node;

/// One language's field ids by name.
pub struct Fields {
    ids: FxHashMap<Box<str>, u16>,
}

impl Fields {
    fn of(language: SupportLang) -> Fields {
        let grammar = language.get_ts_language();
        let ids = (1..=grammar.field_count())
            .filter_map(|id| u16::try_from(id).ok())
            .filter_map(|id| {
                let name = grammar.field_name_for_id(id)?;
                Some((Box::from(name), id))
            })
            .collect();
        Fields { ids }
    }

    /// The id of field `name`, if the language has it.
    pub fn id(&self, name: &str) -> Option<u16> {
        self.ids.get(name).copied()
    }

    /// `node`'s child in field `name` (`None` also when the language has
    /// no such field).
    pub fn child<'t>(&self, node: Node<'t>, name: &str) -> Option<Node<'t>> {
        node.child_by_field_id(*self.ids.get(name)?)
    }
}

static PYTHON: LazyLock<Fields> = LazyLock::new(|| Fields::of(SupportLang::Python));
static RUST: LazyLock<Fields> = LazyLock::new(|| Fields::of(SupportLang::Rust));

/// The field table of `language`, for the languages the taint walk reads.
pub fn of(language: SupportLang) -> Option<&'static Fields> {
    match language {
        SupportLang::Python => Some(&PYTHON),
        SupportLang::Rust => Some(&RUST),
        _ => None,
    }
}

/// Field lookups through the tables, for code that knows its language.
pub trait FieldExt<'t> {
    /// The child in field `name` of a Python node.
    fn py_field(&self, name: &str) -> Option<Node<'t>>;
    /// The child in field `name` of a Rust node.
    fn rs_field(&self, name: &str) -> Option<Node<'t>>;
}

impl<'t> FieldExt<'t> for Node<'t> {
    fn py_field(&self, name: &str) -> Option<Node<'t>> {
        PYTHON.child(*self, name)
    }

    fn rs_field(&self, name: &str) -> Option<Node<'t>> {
        RUST.child(*self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_find_what_tree_sitter_finds_by_name() {
        for (language, source, kind, fields) in [
            (
                SupportLang::Python,
                "os.system(f(x), y)\n",
                "call",
                ["function", "arguments"],
            ),
            (
                SupportLang::Rust,
                "fn f() { a.b(c); }",
                "call_expression",
                ["function", "arguments"],
            ),
        ] {
            let root = language.ast_grep(source);
            let node = root
                .root()
                .dfs()
                .find(|n| n.kind() == kind)
                .expect("the call")
                .get_inner_node();
            for name in fields {
                let by_table = of(language).and_then(|t| t.child(node, name));
                assert!(by_table.is_some(), "{name}");
                assert_eq!(by_table, node.child_by_field_name(name), "{name}");
            }
            assert!(
                of(language)
                    .and_then(|t| t.child(node, "no_such_field"))
                    .is_none()
            );
        }
    }
}
