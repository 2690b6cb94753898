//! The Python front-end: one forward pass over each function's statements,
//! carrying an [`Env`] of what each name holds.
//!
//! - Assignments (plain, augmented, chained, unpacking, walrus), `for`
//!   targets, `with … as` and comprehension variables bind names; an
//!   attribute (`self.cmd`) or a constant subscript (`d["k"]`) is a name of
//!   its own, so `d["safe"]` stays clean when `d["other"]` is tainted.
//! - Expressions are tainted when a part is: f-strings, `%`, `+`,
//!   `.format`, `join`, containers, attributes, method calls on a tainted
//!   receiver, and calls of unknown functions with a tainted argument (as
//!   Semgrep assumes by default). Calls of functions defined in the file
//!   use the callee's summary instead (parameter ─▶ return, parameter ─▶
//!   sink), computed on demand, once per parameter.
//! - Branches are may-flow: tainted after the `if` when tainted in either
//!   arm; an arm whose condition is a known constant is dead and skipped;
//!   `if x in ALLOWED:` clears `x` inside, `if x not in ALLOWED: return`
//!   after. Loops run their body until nothing new is tainted, at most
//!   [`MAX_LOOP_ROUNDS`](super::core::MAX_LOOP_ROUNDS) times.
//!
//! The walk recurses over the syntax tree, so every recursion counts its
//! depth and stops at [`MAX_DEPTH`](super::core::MAX_DEPTH) (a 10,000-deep
//! nest is analysed to that depth and the file reported as partly
//! analysed); all work is counted against a budget proportional to the
//! file. What is not Python's (limits, rule matching, summaries) is in
//! [`core`](super::core).

use crate::engine::sast::fields::FieldExt;
mod consts;
mod cross;
mod expressions;
mod statements;

use super::LanguageTaint;
use super::core::{self, Core, Frame, FrontEnd, Summary, named_children};
use super::cross::{Exports, ImportTable};
use super::flow::{Const, Env, Origin, Taint, Value, either};
use crate::engine::Deadline;
use crate::engine::sast::walk::is_python_statement_container;
use ast_grep_core::AstGrep;
use ast_grep_core::matcher::MatcherExt;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_language::SupportLang;
use std::collections::HashMap;
use std::rc::Rc;
use tree_sitter::Node;

/// Parameter names that are never input themselves.
const NOT_INPUT: [&str; 4] = ["self", "cls", "request", "context"];

/// A function or lambda defined in the file.
#[derive(Clone, Copy)]
struct Function<'t> {
    node: Node<'t>,
    /// Enclosing class, for `self.method(…)`.
    class: Option<Node<'t>>,
}

/// One file's analysis.
pub struct Analysis<'a, 't> {
    pub(super) core: Core<'a, 't>,
    functions: HashMap<String, Vec<Function<'t>>>,
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
            cross: None,
        }
    }

    /// Calls of functions `table` says are imported from other changed
    /// files use `exports`' summaries.
    pub fn with_imports(mut self, exports: &'a Exports, table: ImportTable) -> Self {
        self.cross = Some((exports, table));
        self
    }

    fn text(&self, node: Node) -> &'t str {
        self.core.text(node)
    }

    /// Runs the analysis over the whole file.
    pub fn run(&mut self) {
        let tree_root = self.core.root.root().get_inner_node();
        let mut definitions = Vec::new();
        self.collect_functions(tree_root, &mut definitions);
        // Module level first: its names are the functions' globals.
        let mut module = Env::default();
        self.core.frames.push(Frame::default());
        self.block(&mut module, tree_root, 0);
        self.core.frames.pop();
        for function in definitions {
            if self.core.halted() {
                return;
            }
            let mut env = self.core.copy(&module);
            self.bind_input_parameters(&mut env, function);
            self.core.frames.push(Frame::default());
            if let Some(body) = function.py_field("body") {
                self.block(&mut env, body, 0);
            }
            self.core.frames.pop();
        }
    }

    /// Every function and lambda bound to a name, found where statements
    /// are (iteratively: a deep nest of classes must not overflow).
    fn collect_functions(&mut self, root: Node<'t>, definitions: &mut Vec<Node<'t>>) {
        let mut stack: Vec<(Node<'t>, Option<Node<'t>>)> = vec![(root, None)];
        while let Some((node, class)) = stack.pop() {
            if !self.core.tick() {
                return;
            }
            match node.kind() {
                "function_definition" => {
                    definitions.push(node);
                    if let Some(name) = node.py_field("name") {
                        self.functions
                            .entry(self.text(name).to_owned())
                            .or_default()
                            .push(Function { node, class });
                    }
                }
                "expression_statement" => {
                    // name = lambda …: callable by that name.
                    if let Some(assignment) =
                        node.named_child(0).filter(|n| n.kind() == "assignment")
                        && let (Some(left), Some(right)) =
                            (assignment.py_field("left"), assignment.py_field("right"))
                        && left.kind() == "identifier"
                        && right.kind() == "lambda"
                    {
                        self.functions
                            .entry(self.text(left).to_owned())
                            .or_default()
                            .push(Function { node: right, class });
                    }
                    continue;
                }
                _ => {}
            }
            let class = if node.kind() == "class_definition" {
                Some(node)
            } else {
                class
            };
            for child in named_children(node).into_iter().rev() {
                if is_python_statement_container(child.kind())
                    || child.kind() == "expression_statement"
                {
                    stack.push((child, class));
                }
            }
        }
    }

    /// The parameters of `function` and the names they bind.
    fn parameters(&self, function: Node<'t>) -> Vec<(String, Node<'t>)> {
        let Some(list) = function.py_field("parameters") else {
            return Vec::new();
        };
        named_children(list)
            .into_iter()
            .filter_map(|parameter| {
                let name = match parameter.kind() {
                    "identifier" => Some(parameter),
                    "default_parameter" | "typed_default_parameter" => parameter.py_field("name"),
                    "typed_parameter" | "list_splat_pattern" | "dictionary_splat_pattern" => {
                        named_children(parameter)
                            .into_iter()
                            .find(|n| n.kind() == "identifier")
                            .or_else(|| {
                                named_children(parameter).into_iter().find_map(|n| {
                                    named_children(n)
                                        .into_iter()
                                        .find(|m| m.kind() == "identifier")
                                })
                            })
                    }
                    _ => None,
                }?;
                (name.kind() == "identifier").then(|| (self.text(name).to_owned(), parameter))
            })
            .collect()
    }

    /// Taints the parameters of a function the rules call input (a route
    /// handler's, a Lambda handler's `event`).
    fn bind_input_parameters(&mut self, env: &mut Env, function: Node<'t>) {
        let node = self.core.root.adopt(function);
        let Some(spec) = self
            .core
            .rules
            .library
            .parameters
            .iter()
            .find(|spec| spec.matcher.match_node(node.clone()).is_some())
        else {
            return;
        };
        let label: Rc<str> = Rc::from(spec.label.as_str());
        let converted = converted_route_parameters(self.core.source, function);
        for (name, parameter) in self.parameters(function) {
            let wanted = if spec.names.is_empty() {
                !NOT_INPUT.contains(&name.as_str())
            } else {
                spec.names.contains(&name)
            };
            if wanted
                && !validated(self.core.source, parameter)
                && !converted.contains(&name.as_str())
            {
                let origin = Origin::Source {
                    label: label.clone(),
                    confidence: spec.confidence,
                };
                env.set(
                    &name,
                    Value {
                        taint: Some(Taint::new(origin, self.core.step(parameter))),
                        constant: None,
                    },
                );
            }
        }
    }

    /// The function defined in this file that a call calls, and how many
    /// leading parameters the call does not pass (`self`).
    fn local_callee(&self, function: Option<Node<'t>>) -> Option<(Function<'t>, usize)> {
        let function = function?;
        match function.kind() {
            "identifier" => {
                let candidates = self.functions.get(self.text(function))?;
                // Module-level functions and lambdas (a method is called through self).
                candidates
                    .iter()
                    .find(|f| f.class.is_none() || f.node.kind() == "lambda")
                    .map(|f| (*f, 0))
            }
            "attribute" => {
                let object = function.py_field("object")?;
                if self.text(object) != "self" {
                    return None;
                }
                let name = function.py_field("attribute")?;
                let class = enclosing_class(function)?;
                let candidates = self.functions.get(self.text(name))?;
                candidates
                    .iter()
                    .find(|f| f.class.map(|c| c.id()) == Some(class.id()))
                    .map(|f| (*f, 1))
            }
            _ => None,
        }
    }

    /// A call of a local function: its return carries the arguments its
    /// summary says it returns, and an argument that reaches a sink inside
    /// is a hit there, with the path through the call.
    fn through_summary(
        &mut self,
        _env: &mut Env,
        call: Node<'t>,
        callee: Function<'t>,
        offset: usize,
        arguments: &[Node<'t>],
        taints: &[Option<Taint>],
    ) -> Option<Taint> {
        let parameters = self.callee_parameters(callee);
        let mut result = None;
        let mut positional = 0;
        for (argument, taint) in arguments.iter().zip(taints) {
            let index = if argument.kind() == "keyword_argument" {
                let name = argument
                    .py_field("name")
                    .map(|n| self.text(n))
                    .unwrap_or_default();
                parameters.iter().position(|(p, _)| p == name)
            } else if matches!(argument.kind(), "list_splat" | "dictionary_splat") {
                None
            } else {
                positional += 1;
                Some(positional - 1 + offset)
            };
            let Some(taint) = taint else {
                continue;
            };
            let Some(index) = index.filter(|&i| i < parameters.len()) else {
                // Passed where no parameter names it (`*args`): assume it returns.
                result = either(result, Some(taint.clone()));
                continue;
            };
            let Some(summary) = self.summary(callee, index, &parameters) else {
                result = either(result, Some(taint.clone()));
                continue;
            };
            let at_call = taint.through(self.core.step(call));
            let returned = self.core.apply(&summary, &at_call);
            result = either(result, returned);
        }
        result
    }

    /// The summary of `callee` for parameter `index`.
    fn summary(
        &mut self,
        callee: Function<'t>,
        index: usize,
        parameters: &[(String, Node<'t>)],
    ) -> Option<Rc<Summary>> {
        let (name, parameter) = parameters.get(index)?;
        core::summary(
            self,
            callee.node.id(),
            index,
            name,
            *parameter,
            |this, env| match callee.node.kind() {
                "lambda" => {
                    if let Some(body) = callee.node.py_field("body") {
                        let returned = this.expr(env, body, 0);
                        this.core.returns(returned);
                    }
                }
                _ => {
                    if let Some(body) = callee.node.py_field("body") {
                        this.block(env, body, 0);
                    }
                }
            },
        )
    }
}

/// The class a node is inside, if any (up to the nearest function's class).
fn enclosing_class(node: Node) -> Option<Node> {
    let mut current = node.parent();
    while let Some(n) = current {
        if n.kind() == "class_definition" {
            return Some(n);
        }
        current = n.parent();
    }
    None
}

/// Parameter types a framework converts and validates before the handler
/// runs (FastAPI; Flask's `<int:id>` has no annotation: see
/// [`converted_route_parameters`]).
const VALIDATED_TYPES: [&str; 8] = [
    "int",
    "float",
    "bool",
    "UUID",
    "uuid.UUID",
    "datetime",
    "date",
    "Decimal",
];

/// Whether a handler's parameter is converted by the framework (`id: int`)
/// or injected by it (`db = Depends(get_db)`): not attacker text.
fn validated(source: &str, parameter: Node) -> bool {
    let text = |n: Node| source.get(n.byte_range()).unwrap_or_default().trim();
    let typed = parameter
        .py_field("type")
        .is_some_and(|t| VALIDATED_TYPES.contains(&text(t)));
    let injected = parameter
        .py_field("value")
        .is_some_and(|v| text(v).starts_with("Depends(") || text(v).starts_with("Security("));
    typed || injected
}

/// Route parameters a converter turns into a number or a UUID before the
/// handler runs (Flask/Werkzeug `<int:id>`, `<float:x>`, `<uuid:u>`):
/// not attacker text. Read from the route decorators' strings.
fn converted_route_parameters<'s>(source: &'s str, function: Node) -> Vec<&'s str> {
    let Some(decorated) = function
        .parent()
        .filter(|p| p.kind() == "decorated_definition")
    else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut cursor = decorated.walk();
    for decorator in decorated.named_children(&mut cursor) {
        if decorator.kind() != "decorator" {
            continue;
        }
        let text = source.get(decorator.byte_range()).unwrap_or_default();
        let mut rest = text;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('>') else {
                break;
            };
            if let Some((converter, name)) = after[..close].split_once(':')
                && matches!(converter.trim(), "int" | "float" | "uuid")
            {
                names.push(name.trim());
            }
            rest = &after[close..];
        }
    }
    names
}

/// How a constant key is written in a name (`d["k"]`, `a[0]`).
fn key_text(key: &Const) -> String {
    match key {
        Const::Int(n) => n.to_string(),
        Const::Str(s) => format!("{s:?}"),
        Const::Bool(b) => b.to_string(),
        Const::None => "None".into(),
    }
}
