//! Parsing a file for the rules, with a time limit: once as written, and
//! again incrementally in its canonical form when its imports are rewritten
//! (see [`super::imports`]).

use super::imports;
use crate::engine::Deadline;
use ast_grep_core::AstGrep;
use ast_grep_core::tree_sitter::{LanguageExt, StrDoc};
use ast_grep_language::SupportLang;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Default time a single file may take to parse.
pub const DEFAULT_PARSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A parse that did not produce a usable tree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// The time limit ran out.
    #[error("parsing took longer than {0:?}")]
    Timeout(Duration),
    /// tree-sitter refused the grammar (a build problem, not the file's).
    #[error("the {0} grammar could not be loaded")]
    Grammar(String),
}

thread_local! {
    // One parser per language per thread: creating one per file costs more than the parse of a small file.
    static PARSERS: RefCell<HashMap<SupportLang, tree_sitter::Parser>> = RefCell::new(HashMap::new());
}

/// Parses `source` with a time limit. The tree may contain error nodes.
pub fn parse(
    source: &str,
    language: SupportLang,
    timeout: Duration,
) -> Result<AstGrep<StrDoc<SupportLang>>, ParseError> {
    parse_from(source.to_owned(), language, timeout, None)
}

/// Parses a file's canonical text (see [`imports`]) incrementally from
/// the tree of its original text: only the rewritten names are read again.
pub(crate) fn reparse_canonical(
    root: &AstGrep<StrDoc<SupportLang>>,
    canonical: &imports::Canonical,
    timeout: Duration,
) -> Result<AstGrep<StrDoc<SupportLang>>, ParseError> {
    let doc = root.root().get_doc();
    let mut old = doc.tree.clone();
    for edit in canonical.input_edits() {
        old.edit(&edit);
    }
    parse_from(canonical.text.clone(), doc.lang, timeout, Some(&old))
}

fn parse_from(
    source: String,
    language: SupportLang,
    timeout: Duration,
    old: Option<&tree_sitter::Tree>,
) -> Result<AstGrep<StrDoc<SupportLang>>, ParseError> {
    let tree = PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let parser = match parsers.entry(language) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let mut parser = tree_sitter::Parser::new();
                parser
                    .set_language(&language.get_ts_language())
                    .map_err(|_| ParseError::Grammar(language.to_string()))?;
                entry.insert(parser)
            }
        };
        parser.reset();
        // A timeout too long to add to the clock is no timeout.
        let deadline = Instant::now().checked_add(timeout);
        let mut over_time = |_: &tree_sitter::ParseState| {
            if deadline.is_some_and(|deadline| Instant::now() > deadline) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let options = tree_sitter::ParseOptions::new().progress_callback(&mut over_time);
        let bytes = source.as_bytes();
        parser
            .parse_with_options(
                &mut |offset, _| bytes.get(offset..).unwrap_or_default(),
                old,
                Some(options),
            )
            .ok_or(ParseError::Timeout(timeout))
    })?;
    Ok(AstGrep::doc(StrDoc {
        src: source,
        lang: language,
        tree,
    }))
}

/// The text rules read for a parsed file: its own, or with import aliases
/// resolved when it has any (see [`imports`]). Rule prefilters are tested
/// against this text.
pub fn resolved_text(root: &AstGrep<StrDoc<SupportLang>>) -> String {
    let doc = root.root().get_doc();
    imports::canonicalise(root, doc.lang).map_or_else(|| doc.src.clone(), |c| c.text)
}

/// Counts syntax-error regions, for the "parsed with errors" note (fewer
/// when the deadline passes during the count: the walk then stops at once).
pub(super) fn count_errors(root: &AstGrep<StrDoc<SupportLang>>, deadline: &Deadline) -> usize {
    if !root.root().get_inner_node().has_error() {
        return 0;
    }
    root.root()
        .dfs()
        .take_while(|_| !deadline.expired())
        .filter(|n| n.is_error() || n.is_missing())
        .count()
}
