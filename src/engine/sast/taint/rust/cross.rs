//! Rust's side of calls into other changed files (see
//! [`cross`](super::super::cross)): summarising a file's free functions
//! for the others, and using those summaries at a call (`run(x)` after
//! `use crate::util::run`, `util::run(x)`, `crate::util::run(x)`).

use super::Analysis;
use crate::engine::sast::fields::FieldExt;
use crate::engine::sast::taint::cross::{
    ExportedFile, Exports, ExternalFunction, ImportTable, MAX_PARAMETERS, ParameterSummary,
};
use crate::engine::sast::taint::flow::{Env, Taint, either};
use crate::engine::sast::taint::report::Locator;
use std::sync::Arc;
use tree_sitter::Node;

impl<'a, 't> Analysis<'a, 't> {
    /// Calls of functions `table` says are in other changed files use
    /// `exports`' summaries.
    pub fn with_imports(mut self, exports: &'a Exports, table: ImportTable) -> Self {
        self.cross = Some((exports, table));
        self
    }

    /// The summaries of the file's free functions (not methods, not
    /// functions nested in another or in an inline `mod`), their paths
    /// located by `locator` for findings in other files at `path`.
    pub(in crate::engine::sast::taint) fn exports(
        &mut self,
        path: &str,
        locator: &Locator,
    ) -> ExportedFile {
        let path: Arc<str> = Arc::from(path);
        let tree_root = self.core.root.root().get_inner_node();
        let mut module = Env::default();
        self.collect_items(tree_root, &mut module);
        let functions: Vec<(String, Node<'t>)> = self
            .functions
            .iter()
            .filter_map(|(name, candidates)| {
                let (function, _) = candidates.iter().find(|(function, owner)| {
                    owner.is_none() && function.parent().is_some_and(|p| p.kind() == "source_file")
                })?;
                Some(((*name).to_owned(), *function))
            })
            .collect();
        let mut exported = ExportedFile::of(&path, functions, |function| {
            if self.core.halted() {
                return None;
            }
            let parameters = self.parameters(function);
            let summaries = parameters
                .iter()
                .take(MAX_PARAMETERS)
                .enumerate()
                .map(|(index, (parameter_name, parameter))| {
                    let summary =
                        parameter_name.and_then(|n| self.summary(function, index, n, *parameter));
                    ParameterSummary::located(summary.as_deref(), &path, locator)
                })
                .collect();
            Some(ExternalFunction {
                parameters: parameters
                    .iter()
                    .map(|(name, _)| name.unwrap_or_default().to_owned())
                    .collect(),
                summaries,
            })
        });
        exported.note_limit(&path, self.core.limit);
        exported
    }

    /// The function of another changed file a call calls: `run` (brought
    /// in by `use`), or `util::run` / `crate::util::run` (a module path as
    /// the file writes it).
    pub(super) fn external_callee(&self, function: Node<'t>) -> Option<&'a ExternalFunction> {
        let (exports, table) = self.cross.as_ref()?;
        match function.kind() {
            "identifier" => table.function(exports, None, self.text(function)),
            "scoped_identifier" => {
                let module = function.rs_field("path")?;
                let name = function.rs_field("name")?;
                table.function(exports, Some(self.text(module)), self.text(name))
            }
            _ => None,
        }
    }

    /// A call of another file's function: what its summaries say comes
    /// back for the tainted arguments; a sink reached there is a hit at
    /// the call.
    pub(super) fn through_external(
        &mut self,
        call: Node<'t>,
        callee: &ExternalFunction,
        taints: &[Option<Taint>],
    ) -> Option<Taint> {
        let mut result = None;
        for (index, taint) in taints.iter().enumerate() {
            let Some(taint) = taint else {
                continue;
            };
            let Some(summary) = callee.summaries.get(index) else {
                // Past the summarised parameters: assume it comes back.
                result = either(result, Some(taint.clone()));
                continue;
            };
            let at_call = taint.through(self.core.step(call));
            let returned = self.core.apply_foreign(call, summary, index, &at_call);
            result = either(result, returned);
        }
        result
    }
}
