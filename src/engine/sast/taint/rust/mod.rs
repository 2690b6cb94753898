//! The Rust front-end: one forward pass over each function's body, as the
//! Python front-end does, over tree-sitter-rust's tree.
//!
//! - `let` (with any pattern: `let Query(p) = …`, `let (a, b) = …`),
//!   shadowing (a later `let x` replaces `x`), assignments and `+=` bind
//!   names; a field (`self.cmd`, `p.name`) is a name of its own.
//! - Everything is an expression: a block's value is its tail, an `if` or
//!   a `match` is tainted when an arm's value is (may-flow), with `if let`
//!   and match arms binding their patterns to the matched value's taint.
//! - `format!` and its kin are tainted when a name in their arguments or
//!   a `{name}` captured in the template is; `+`, `push_str`, `push`,
//!   `write!` and method chains on a tainted receiver carry taint.
//! - Handler parameters are sources by their type (`Query<T>`, `Json<T>`,
//!   `web::Path<T>`…, matched by the rules' `kind: parameter` sources);
//!   a `let` typed as a number (`let n: u32 = s.parse()?`) is clean.
//! - Functions and methods of the file are summarised as in Python, and
//!   so are the free functions of other changed files it imports
//!   ([`cross`](super::cross)).
//!
//! What is not Rust's (limits, rule matching, summaries) is in
//! [`core`](super::core).

use crate::engine::sast::fields::FieldExt;
mod closures;
mod consts;
mod cross;
mod expressions;
mod macros;
mod statements;

use super::LanguageTaint;
use super::core::{self, Core, Frame, FrontEnd, Summary, named_children};
use super::cross::{Exports, ImportTable};
use super::flow::{Const, Env, Taint, Value, either};
use crate::engine::Deadline;
use crate::engine::sast::walk::is_rust_item_container;
use ast_grep_core::AstGrep;
use ast_grep_core::matcher::MatcherExt;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_language::SupportLang;
use std::collections::HashMap;
use std::rc::Rc;
use tree_sitter::Node;

/// Names bound by one pattern at most (`let (a, b, …) = …`).
const MAX_PATTERN_NAMES: usize = 64;

/// Parameter types a route handler's framework hands over as text (a
/// `&str` route segment); others (`u32`, `State<Db>`) are not input.
const TEXT_TYPES: [&str; 6] = [
    "&str",
    "String",
    "PathBuf",
    "&Path",
    "Option<String>",
    "Option<&str>",
];

/// One file's analysis.
pub struct Analysis<'a, 't> {
    pub(super) core: Core<'a, 't>,
    /// Functions of the file by name, with their `impl` if any.
    functions: HashMap<&'t str, Vec<(Node<'t>, Option<Node<'t>>)>>,
    /// Closures bound by `let`, by enclosing function and name.
    closures: HashMap<(Option<usize>, &'t str), Node<'t>>,
    /// Other changed files' summaries and what this file imports of them.
    cross: Option<(&'a Exports, ImportTable)>,
}

impl<'a, 't> FrontEnd<'a, 't> for Analysis<'a, 't> {
    fn core(&mut self) -> &mut Core<'a, 't> {
        &mut self.core
    }

    fn expr(&mut self, env: &mut Env, node: Node<'t>, depth: usize) -> Option<Taint> {
        Analysis::expr(self, env, node, depth)
    }

    fn constant(&self, env: &Env, node: Node<'t>) -> Option<Const> {
        Analysis::constant(self, env, node)
    }
}

impl<'a, 't> Analysis<'a, 't> {
    /// An analysis of `root` for the rules in `active`.
    pub fn new(
        rules: &'a LanguageTaint,
        active: u64,
        root: &'t AstGrep<StrDoc<SupportLang>>,
        deadline: &'a Deadline,
    ) -> Self {
        Self {
            core: Core::new(rules, active, root, deadline),
            functions: HashMap::new(),
            closures: HashMap::new(),
            cross: None,
        }
    }

    fn text(&self, node: Node) -> &'t str {
        self.core.text(node)
    }

    /// Runs the analysis over the whole file.
    pub fn run(&mut self) {
        let tree_root = self.core.root.root().get_inner_node();
        let mut module = Env::default();
        let definitions = self.collect_items(tree_root, &mut module);
        for function in definitions {
            if self.core.halted() {
                return;
            }
            let mut env = self.core.copy(&module);
            self.bind_input_parameters(&mut env, function);
            self.core.frames.push(Frame::default());
            if let Some(body) = function.rs_field("body") {
                let value = self.expr(&mut env, body, 0);
                self.core.returns(value);
            }
            self.core.frames.pop();
        }
    }

    /// Every function and method of the file, found where items are
    /// (iteratively: a deep nest of modules must not overflow); `const`
    /// and `static` items are the functions' known constants.
    fn collect_items(&mut self, root: Node<'t>, module: &mut Env) -> Vec<Node<'t>> {
        let mut definitions = Vec::new();
        let mut stack: Vec<(Node<'t>, Option<Node<'t>>)> = vec![(root, None)];
        while let Some((node, owner)) = stack.pop() {
            if !self.core.tick() {
                break;
            }
            match node.kind() {
                "function_item" => {
                    definitions.push(node);
                    if let Some(name) = node.rs_field("name") {
                        self.functions
                            .entry(self.text(name))
                            .or_default()
                            .push((node, owner));
                    }
                    let nested = self.nested_functions(node);
                    definitions.extend(nested);
                    continue;
                }
                "const_item" | "static_item" => {
                    if let (Some(name), Some(value)) =
                        (node.rs_field("name"), node.rs_field("value"))
                    {
                        let constant = self.constant(module, value);
                        module.set(
                            self.text(name),
                            Value {
                                taint: None,
                                constant,
                            },
                        );
                    }
                    continue;
                }
                _ => {}
            }
            let owner = if node.kind() == "impl_item" {
                Some(node)
            } else {
                owner
            };
            for child in named_children(node).into_iter().rev() {
                let kind = child.kind();
                if is_rust_item_container(kind)
                    || matches!(kind, "impl_item" | "const_item" | "static_item")
                {
                    stack.push((child, owner));
                }
            }
        }
        definitions
    }

    /// The parameters of `function` (not `self`): (name if the pattern is
    /// a plain name, the parameter).
    fn parameters(&self, function: Node<'t>) -> Vec<(Option<&'t str>, Node<'t>)> {
        let Some(list) = function.rs_field("parameters") else {
            return Vec::new();
        };
        named_children(list)
            .into_iter()
            .filter(|p| p.kind() == "parameter")
            .map(|p| {
                let name = p
                    .rs_field("pattern")
                    .filter(|n| n.kind() == "identifier")
                    .map(|n| self.text(n));
                (name, p)
            })
            .collect()
    }

    /// Taints the parameters the rules call input: those whose type is a
    /// request extractor (a `kind: parameter` source), and the text
    /// parameters of a function the library calls a route handler.
    fn bind_input_parameters(&mut self, env: &mut Env, function: Node<'t>) {
        let handler = self.core.rules.library.parameters.iter().find(|spec| {
            spec.matcher
                .match_node(self.core.root.adopt(function))
                .is_some()
        });
        let handler = handler.map(|spec| (Rc::<str>::from(spec.label.as_str()), spec.confidence));
        for (_, parameter) in self.parameters(function) {
            let Some(pattern) = parameter.rs_field("pattern") else {
                continue;
            };
            let taint = self.core.source_at(parameter).or_else(|| {
                let (label, confidence) = handler.clone()?;
                let typed = parameter.rs_field("type")?;
                let text: String = self.text(typed).split_whitespace().collect();
                TEXT_TYPES.contains(&text.as_str()).then(|| {
                    Taint::new(
                        super::flow::Origin::Source { label, confidence },
                        self.core.step(parameter),
                    )
                })
            });
            if taint.is_some() {
                self.bind_pattern(env, pattern, taint, None, parameter);
            }
        }
    }

    /// Binds every name `pattern` introduces (`x`, `Query(x)`,
    /// `Params { name, .. }`, `(a, b)`) to a value with this taint; a plain
    /// name also to the constant.
    fn bind_pattern(
        &mut self,
        env: &mut Env,
        pattern: Node<'t>,
        taint: Option<Taint>,
        constant: Option<Const>,
        at: Node<'t>,
    ) {
        let taint = taint.map(|t| t.through(self.core.step(at)));
        if matches!(pattern.kind(), "identifier" | "self") {
            let name = self.text(pattern);
            env.forget_under(name);
            env.set(name, Value { taint, constant });
            return;
        }
        let mut stack = vec![pattern];
        let mut bound = 0;
        while let Some(node) = stack.pop() {
            if bound >= MAX_PATTERN_NAMES || !self.core.tick() {
                return;
            }
            match node.kind() {
                "identifier" | "shorthand_field_identifier" => {
                    let name = self.text(node);
                    env.forget_under(name);
                    env.set(
                        name,
                        Value {
                            taint: taint.clone(),
                            constant: None,
                        },
                    );
                    bound += 1;
                }
                // Paths and literals in patterns bind nothing.
                "scoped_identifier" | "string_literal" | "integer_literal" | "boolean_literal"
                | "char_literal" | "field_identifier" => {}
                _ => {
                    let mut cursor = node.walk();
                    for child in node.named_children(&mut cursor) {
                        // `Query(x)`: `Query` is the type, not a name.
                        let is_type =
                            matches!(node.kind(), "tuple_struct_pattern" | "struct_pattern")
                                && node.rs_field("type").is_some_and(|t| t.id() == child.id());
                        if !is_type {
                            stack.push(child);
                        }
                    }
                }
            }
        }
    }

    /// The function of the file a call calls, and whether the call passes
    /// a receiver for its `self` (it does not take a parameter slot).
    fn local_callee(&self, function: Node<'t>) -> Option<Node<'t>> {
        let (name, owner_wanted) = match function.kind() {
            "identifier" => (self.text(function), None),
            // `Self::helper(x)`, `Parser::helper(x)`
            "scoped_identifier" => {
                let path = function.rs_field("path")?;
                let name = function.rs_field("name")?;
                let owner = match self.text(path) {
                    "Self" => enclosing_impl(function)?,
                    path => self
                        .functions
                        .values()
                        .flatten()
                        .filter_map(|(_, owner)| *owner)
                        .find(|owner| {
                            owner.rs_field("type").is_some_and(|t| self.text(t) == path)
                        })?,
                };
                (self.text(name), Some(owner))
            }
            // `self.helper(x)`
            "field_expression" => {
                let value = function.rs_field("value")?;
                if value.kind() != "self" {
                    return None;
                }
                let name = function.rs_field("field")?;
                (self.text(name), Some(enclosing_impl(function)?))
            }
            _ => return None,
        };
        self.functions
            .get(name)?
            .iter()
            .find(|(_, owner)| owner.map(|o| o.id()) == owner_wanted.map(|o| o.id()))
            .map(|(node, _)| *node)
    }

    /// A call of a function of the file: what its summaries say it returns
    /// for the tainted arguments (their sinks inside are hits).
    fn through_summary(
        &mut self,
        call: Node<'t>,
        callee: Node<'t>,
        taints: &[Option<Taint>],
    ) -> Option<Taint> {
        let parameters = self.parameters(callee);
        self.through_callee(call, callee, &parameters, taints)
    }

    /// What `callee` (a function or a closure, whose body is its value)
    /// returns for the tainted arguments of `call`, from its summaries.
    fn through_callee(
        &mut self,
        call: Node<'t>,
        callee: Node<'t>,
        parameters: &[(Option<&'t str>, Node<'t>)],
        taints: &[Option<Taint>],
    ) -> Option<Taint> {
        let mut result = None;
        for (index, taint) in taints.iter().enumerate() {
            let Some(taint) = taint else {
                continue;
            };
            let summary = match parameters.get(index) {
                Some((Some(name), parameter)) => self.summary(callee, index, name, *parameter),
                _ => None,
            };
            let Some(summary) = summary else {
                // Unknown: assume the value comes back.
                result = either(result, Some(taint.clone()));
                continue;
            };
            let at_call = taint.through(self.core.step(call));
            let returned = self.core.apply(&summary, &at_call);
            result = either(result, returned);
        }
        result
    }

    fn summary(
        &mut self,
        callee: Node<'t>,
        index: usize,
        name: &str,
        parameter: Node<'t>,
    ) -> Option<Rc<Summary>> {
        core::summary(self, callee.id(), index, name, parameter, |this, env| {
            if let Some(body) = callee.rs_field("body") {
                let value = this.expr(env, body, 0);
                this.core.returns(value);
            }
        })
    }
}

/// The `impl` a node is inside, if any.
fn enclosing_impl(node: Node) -> Option<Node> {
    let mut current = node.parent();
    while let Some(n) = current {
        if n.kind() == "impl_item" {
            return Some(n);
        }
        current = n.parent();
    }
    None
}
