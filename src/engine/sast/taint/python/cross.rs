//! Python's side of calls into other changed files (see
//! [`cross`](super::super::cross)): summarising a file's module-level
//! functions for the others, and using those summaries at a call.

use super::{Analysis, Function};
use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::core::named_children;
use crate::engine::sast::taint::cross::{
    ExportedFile, ExternalFunction, MAX_PARAMETERS, ParameterSummary,
};
use crate::engine::sast::taint::flow::{Taint, either};
use crate::engine::sast::taint::report::Locator;
use std::sync::Arc;
use tree_sitter::Node;

/// Whether a function (or a lambda bound to a name) is defined at module
/// level: what another module can import.
fn module_level(function: Function) -> bool {
    let mut parent = function.node.parent();
    // `@decorator def f` / `f = lambda …` sit one or two levels down.
    for _ in 0..3 {
        match parent {
            Some(p) if p.kind() == "module" => return true,
            Some(p)
                if matches!(
                    p.kind(),
                    "decorated_definition" | "assignment" | "expression_statement"
                ) =>
            {
                parent = p.parent();
            }
            _ => return false,
        }
    }
    false
}

impl<'a, 't> Analysis<'a, 't> {
    /// The summaries of the file's module-level functions, their paths
    /// located by `locator` for findings in other files at `path`.
    pub(in crate::engine::sast::taint) fn exports(
        &mut self,
        path: &str,
        locator: &Locator,
    ) -> ExportedFile {
        let path: Arc<str> = Arc::from(path);
        let tree_root = self.core.root.root().get_inner_node();
        let mut definitions = Vec::new();
        self.collect_functions(tree_root, &mut definitions);
        let functions: Vec<(String, Function<'t>)> = self
            .functions
            .iter()
            .filter_map(|(name, candidates)| {
                let function = candidates.iter().copied().find(|f| module_level(*f))?;
                Some((name.clone(), function))
            })
            .collect();
        let mut exported = ExportedFile::of(&path, functions, |function| {
            if self.core.halted() {
                return None;
            }
            let parameters = self.callee_parameters(function);
            let summaries = (0..parameters.len().min(MAX_PARAMETERS))
                .map(|index| {
                    let summary = self.summary(function, index, &parameters);
                    ParameterSummary::located(summary.as_deref(), &path, locator)
                })
                .collect();
            Some(ExternalFunction {
                parameters: parameters.into_iter().map(|(name, _)| name).collect(),
                summaries,
            })
        });
        exported.note_limit(&path, self.core.limit);
        exported
    }

    /// The function of another changed file a call calls.
    pub(super) fn external_callee(
        &self,
        function: Option<Node<'t>>,
    ) -> Option<&'a ExternalFunction> {
        let (exports, table) = self.cross.as_ref()?;
        let function = function?;
        match function.kind() {
            "identifier" => table.function(exports, None, self.text(function)),
            "attribute" => {
                let module = self.key(function.py_field("object")?)?;
                let name = function.py_field("attribute")?;
                table.function(exports, Some(&module), self.text(name))
            }
            _ => None,
        }
    }

    /// A call of another file's function: as [`Analysis::through_summary`]
    /// with that file's summaries; a sink reached there is a hit at the call.
    pub(super) fn through_external(
        &mut self,
        call: Node<'t>,
        callee: &ExternalFunction,
        arguments: &[Node<'t>],
        taints: &[Option<Taint>],
    ) -> Option<Taint> {
        let mut result = None;
        let mut positional = 0;
        for (argument, taint) in arguments.iter().zip(taints) {
            let index = match argument.kind() {
                "keyword_argument" => {
                    let name = argument
                        .py_field("name")
                        .map(|n| self.text(n))
                        .unwrap_or_default();
                    callee.parameters.iter().position(|p| p == name)
                }
                "list_splat" | "dictionary_splat" => None,
                _ => {
                    positional += 1;
                    Some(positional - 1)
                }
            };
            let Some(taint) = taint else {
                continue;
            };
            let Some((index, summary)) =
                index.and_then(|i| callee.summaries.get(i).map(|s| (i, s)))
            else {
                // Passed where no summary says what happens: assume it returns.
                result = either(result, Some(taint.clone()));
                continue;
            };
            let at_call = taint.through(self.core.step(call));
            let returned = self.core.apply_foreign(call, summary, index, &at_call);
            result = either(result, returned);
        }
        result
    }

    /// The parameters a call of `callee` binds (a lambda's or a function's).
    pub(super) fn callee_parameters(&self, callee: Function<'t>) -> Vec<(String, Node<'t>)> {
        match callee.node.kind() {
            "lambda" => callee
                .node
                .py_field("parameters")
                .map(named_children)
                .unwrap_or_default()
                .into_iter()
                .filter(|p| p.kind() == "identifier")
                .map(|p| (self.text(p).to_owned(), p))
                .collect(),
            _ => self.parameters(callee.node),
        }
    }
}
