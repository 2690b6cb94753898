//! One walk of a syntax tree running every rule of its language, indexed
//! by node kind, and the shape of what a match becomes.

use super::SastAnalyzer;
use super::imports::Canonical;
use super::prefilter::{Compiled, NodeTexts};
use super::rules::{Anchor, RuleInfo};
use crate::engine::{AnalyzerKind, ChangeKind, Deadline, Finding, Fix, Position, RawFinding};
use ast_grep_config::RuleConfig;
use ast_grep_core::matcher::{Matcher, MatcherExt};
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_core::{AstGrep, Doc, NodeMatch};
use ast_grep_language::SupportLang;

/// Python node kinds that hold statements: a walk over statements (to
/// find imports, function definitions) enters these and nothing else, so
/// it costs about the number of statements, not of expressions.
pub(super) fn is_python_statement_container(kind: &str) -> bool {
    matches!(
        kind,
        "module"
            | "block"
            | "function_definition"
            | "class_definition"
            | "decorated_definition"
            | "if_statement"
            | "elif_clause"
            | "else_clause"
            | "try_statement"
            | "except_clause"
            | "finally_clause"
            | "with_statement"
            | "for_statement"
            | "while_statement"
    )
}

/// Rust node kinds that hold items (`fn`, `use`, `impl`): the Rust
/// counterpart of [`is_python_statement_container`].
pub(super) fn is_rust_item_container(kind: &str) -> bool {
    matches!(
        kind,
        "source_file" | "mod_item" | "declaration_list" | "function_item"
    )
}

/// What a walk is limited to and reads positions through.
#[derive(Clone, Copy)]
pub(super) struct Within<'a> {
    /// Only nodes touching these rows (all when `None`).
    pub rows: Option<&'a AddedRows>,
    /// The file's text with aliases resolved, when the tree is of that.
    pub canonical: Option<&'a Canonical>,
}

impl SastAnalyzer {
    /// Runs `rules` over the whole tree and turns the matches into raw
    /// findings.
    ///
    /// One walk of the tree with a tree-sitter cursor; at each node only the
    /// rules that can match its kind run. This is what ast-grep's
    /// `CombinedScan` does, without its two costs hunkscan has no use for:
    /// a first walk of the whole tree that collects `ast-grep-ignore`
    /// comments (hunkscan reads those markers itself, with the others, and
    /// reports the findings as suppressed instead of dropping them), and a
    /// line lookup at every node for them. Together they were about a fifth
    /// of a Python scan.
    pub fn run_rules(
        &self,
        path: &str,
        root: &AstGrep<StrDoc<SupportLang>>,
        rules: Vec<&RuleConfig<SupportLang>>,
    ) -> Vec<RawFinding> {
        let mut findings = Vec::new();
        // Aliases are resolved here too, so rule examples see what a scan sees.
        let canonical = super::imports::canonicalise(root, *root.lang());
        let resolved = canonical.as_ref().and_then(|canonical| {
            super::reparse_canonical(root, canonical, super::DEFAULT_PARSE_TIMEOUT).ok()
        });
        let (root, canonical) = match resolved {
            Some(ref resolved) => (resolved, canonical.as_ref()),
            None => (root, None),
        };
        let within = Within {
            rows: None,
            canonical,
        };
        self.run_rules_within(path, root, rules, within, &Deadline::none(), &mut findings);
        findings
    }

    /// [`run_rules`](Self::run_rules), visiting only the nodes that touch
    /// one of `rows` when given: a subtree entirely on unchanged lines can
    /// hold no finding the engine would keep, so a small change to a large
    /// file costs its parse and little more. Rules still see the whole tree
    /// around a node they visit (`inside`, `has`, `follows`).
    ///
    /// Findings go into `findings`. Returns `false` when `deadline` passed
    /// before the walk was done: what was found until then is there.
    pub(super) fn run_rules_within(
        &self,
        path: &str,
        root: &AstGrep<StrDoc<SupportLang>>,
        rules: Vec<&RuleConfig<SupportLang>>,
        within: Within,
        deadline: &Deadline,
        findings: &mut Vec<RawFinding>,
    ) -> bool {
        let Within { rows, canonical } = within;
        let Some(language_rules) = self.rules.of(*root.lang()) else {
            return true;
        };
        let by_kind = rules_by_kind(&rules, |id| language_rules.node_checks(id));
        let mut columns = Columns::default();
        let mut cursor = root.root().get_inner_node().walk();
        loop {
            if deadline.expired() {
                return false;
            }
            let node = cursor.node();
            let relevant = rows.is_none_or(|rows| {
                rows.touches(node.start_position().row, node.end_position().row)
            });
            if relevant {
                let kind = usize::from(node.kind_id());
                if let Some(candidates) = by_kind.get(kind).filter(|c| !c.is_empty()) {
                    // A rule with `has`/`inside … stopBy: end` can cost as
                    // much as the file at one node (quadratic over nested
                    // calls): the clock is read before every node that
                    // runs rules, whose cost dwarfs the reading.
                    if deadline.expired_now() {
                        return false;
                    }
                    let node = root.adopt(node);
                    let mut texts = NodeTexts::new(&node);
                    for (rule, checks) in candidates {
                        if checks.is_some_and(|checks| !checks.admits(&mut texts)) {
                            continue;
                        }
                        let Some(matched) = rule.matcher.match_node(node.clone()) else {
                            continue;
                        };
                        if let Some(info) = language_rules.info(&rule.id) {
                            let finding = self.to_finding(
                                path,
                                rule,
                                info,
                                &matched,
                                canonical,
                                &mut columns,
                            );
                            findings.push(finding);
                        }
                    }
                }
                if cursor.goto_first_child() {
                    continue;
                }
            }
            // Done with this subtree: the next sibling, or the next sibling
            // of the nearest ancestor that has one; back at the root, the
            // walk is over.
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    return true;
                }
            }
        }
    }

    fn to_finding(
        &self,
        path: &str,
        rule: &RuleConfig<SupportLang>,
        info: &RuleInfo,
        node: &NodeMatch<StrDoc<SupportLang>>,
        canonical: Option<&Canonical>,
        columns: &mut Columns,
    ) -> RawFinding {
        let start = node.start_pos();
        let end = node.end_pos();
        let inner = node.get_inner_node();
        // With aliases resolved, the tree's text is the canonical one:
        // columns and snippets are read from the original at mapped offsets.
        let (source, line_start, start_byte, (start_column, end_column)) = match canonical {
            None => {
                let source = node.get_doc().get_source().as_str();
                let line_start = inner
                    .start_byte()
                    .saturating_sub(inner.start_position().column);
                let columns = columns.of(source, &inner);
                (source, line_start, inner.start_byte(), columns)
            }
            Some(canonical) => {
                let original = canonical.original.as_str();
                let map = |offset: usize| canonical.original_offset(offset).min(original.len());
                let start_byte = map(inner.start_byte());
                let end_byte = map(inner.end_byte()).max(start_byte);
                let line_start = map(inner
                    .start_byte()
                    .saturating_sub(inner.start_position().column));
                let end_line_start =
                    map(inner.end_byte().saturating_sub(inner.end_position().column));
                let chars = |from: usize, to: usize| {
                    original
                        .get(from..to)
                        .map_or(0, |text| text.chars().count())
                };
                let columns = (
                    chars(line_start, start_byte),
                    chars(end_line_start, end_byte),
                );
                (original, line_start, start_byte, columns)
            }
        };
        let to_position = |pos: &ast_grep_core::Position, column: usize| Position {
            line: u32::try_from(pos.line() + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        };
        let rewritten = canonical.is_some_and(|canonical| {
            canonical.rewrites_within(inner.start_byte(), inner.end_byte())
        });
        let fix = rule.fixer.first().filter(|_| !rewritten).and_then(|fixer| {
            let edit = node.make_edit(&rule.matcher, fixer);
            // Only a replacement of exactly the matched range can become a suggestion.
            (edit.position == node.range().start && edit.deleted_length == node.range().len())
                .then(|| String::from_utf8(edit.inserted_text).ok())
                .flatten()
                .map(|replacement| Fix { replacement })
        });
        // From the match's line on, each line cut to a window; tree-sitter's
        // columns are in bytes, so the line's start costs nothing to find.
        let snippet = crate::engine::snippet::lines_at(
            source,
            line_start,
            start_byte,
            (end.line() - start.line() + 1).min(5),
        );
        RawFinding {
            finding: Finding {
                rule_id: info.id.clone(),
                analyzer: AnalyzerKind::Sast,
                severity: info.severity,
                confidence: info.metadata.confidence,
                cwe: Some(info.metadata.cwe.clone()),
                path: path.to_owned(),
                start: to_position(&start, start_column),
                end: to_position(&end, end_column),
                message: bounded_message(rule.get_message(node)),
                remediation: info.note.clone(),
                fix,
                fingerprint: String::new(),
                change: ChangeKind::New,
                suppression: None,
                snippet,
                flow: Vec::new(),
            },
            anchor_first_line: info.metadata.anchor == Some(Anchor::FirstLine),
            masked: false,
            // The enclosing scope keeps the same code in two functions two
            // findings, and the same code moved within its function one.
            identity: format!("{} :: {}", scope_of(node), identity(&node.text())),
            secrets: if is_credential_rule(&info.metadata.cwe) {
                crate::engine::redact::string_literals(&node.text())
            } else {
                Vec::new()
            },
        }
    }
}

/// Character columns (0-based) of matches, counted forward from the last
/// match's start when it is on the same line: the walk visits nodes in
/// document order, so a long line of many matches is read about once.
/// (ast-grep's `Position::column` counts from the line's start for every
/// match: a minified line of thousands of matches was quadratic.)
#[derive(Default)]
struct Columns {
    line_start: usize,
    offset: usize,
    chars: usize,
}

impl Columns {
    /// The columns of `node`'s start and end.
    fn of(&mut self, source: &str, node: &tree_sitter::Node) -> (usize, usize) {
        let chars = |from: usize, to: usize| source.get(from..to).map_or(0, |s| s.chars().count());
        let (start, end) = (node.start_byte(), node.end_byte());
        // tree-sitter's columns are in bytes: where the lines start.
        let line_start = start.saturating_sub(node.start_position().column);
        if line_start != self.line_start || start < self.offset {
            (self.line_start, self.offset, self.chars) = (line_start, line_start, 0);
        }
        self.chars += chars(self.offset, start);
        self.offset = start;
        let end_line_start = end.saturating_sub(node.end_position().column);
        let end_column = if end_line_start == line_start {
            self.chars + chars(start, end)
        } else {
            chars(end_line_start, end)
        };
        (self.chars, end_column)
    }
}

/// The most characters of a message kept: a `$VAR` in a rule's message can
/// stand for an expression as long as the file.
const MAX_MESSAGE_CHARS: usize = 1000;

fn bounded_message(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

/// Matched text longer than this is identified by its hash.
pub(super) const MAX_IDENTITY_BYTES: usize = 4096;

/// What identifies a match: its text, or beyond [`MAX_IDENTITY_BYTES`] a
/// hash of its text with white space folded as [`fingerprint::normalise`]
/// folds it (equal after folding, equal hash). Nested matches (a call in a
/// call in a call …) each hold the rest of the nest: as text, a file of
/// such nests held gigabytes of identities.
///
/// [`fingerprint::normalise`]: crate::engine::fingerprint::normalise
/// Scopes named in an identity at most (the innermost ones).
const MAX_SCOPES: usize = 8;

/// The enclosing named scopes of a match, outermost first: `class Shop /
/// def checkout` in Python, `impl Parser / fn parse` in Rust; empty at
/// module level.
fn scope_of(node: &NodeMatch<StrDoc<SupportLang>>) -> String {
    let mut scopes: Vec<String> = node
        .ancestors()
        .filter_map(|ancestor| {
            let kind = ancestor.kind();
            let (label, field) = match kind.as_ref() {
                "function_definition" => ("def", "name"),
                "class_definition" => ("class", "name"),
                "function_item" => ("fn", "name"),
                "impl_item" => ("impl", "type"),
                "trait_item" => ("trait", "name"),
                "mod_item" => ("mod", "name"),
                _ => return None,
            };
            let name = ancestor.field(field)?.text().into_owned();
            Some(format!("{label} {name}"))
        })
        .take(MAX_SCOPES)
        .collect();
    scopes.reverse();
    scopes.join(" / ")
}

pub(super) fn identity(text: &str) -> String {
    use sha2::{Digest, Sha256};
    if text.len() <= MAX_IDENTITY_BYTES {
        return text.to_owned();
    }
    let mut hasher = Sha256::new();
    for (index, word) in text.split_whitespace().enumerate() {
        if index > 0 {
            hasher.update(b" ");
        }
        hasher.update(word.as_bytes());
    }
    format!(
        "sha256:{}",
        crate::engine::fingerprint::hex(&hasher.finalize())
    )
}

/// Whether a rule of this CWE reports a hard-coded credential, whose matched
/// literal is then a secret to mask (CWE-798 hard-coded credentials, CWE-259
/// hard-coded password, CWE-321 hard-coded cryptographic key).
fn is_credential_rule(cwe: &str) -> bool {
    matches!(cwe, "CWE-798" | "CWE-259" | "CWE-321")
}

/// The rows (0-based) of a file that its change added, for the walk to ask
/// in constant time whether a node's rows include one.
#[derive(Debug, Clone)]
pub struct AddedRows {
    /// `before[r]`: how many added rows come before row `r`; its last entry
    /// counts them all, and rows past the last added one share it.
    before: Vec<u32>,
}

impl AddedRows {
    /// From 1-based added line numbers of a file of `total_lines` lines.
    /// `None` when every line was added, the common case of a new file:
    /// there is nothing for the walk to skip.
    pub fn from_added_lines(
        added: &std::collections::BTreeSet<u32>,
        total_lines: usize,
    ) -> Option<Self> {
        let last = *added.last()?;
        if added.len() >= total_lines {
            return None;
        }
        // Line n is row n - 1: it counts for every row from n on.
        let mut before = vec![0u32; usize::try_from(last).ok()? + 1];
        for &line in added.iter().filter(|&&line| line > 0) {
            before[usize::try_from(line).ok()?] += 1;
        }
        for row in 1..before.len() {
            before[row] += before[row - 1];
        }
        Some(Self { before })
    }

    /// True when one of rows `start..=end` was added.
    pub fn touches(&self, start: usize, end: usize) -> bool {
        let at = |row: usize| self.before[row.min(self.before.len() - 1)];
        at(end.saturating_add(1)) > at(start)
    }
}

/// The rules that can match each node kind, indexed by kind id. A rule
/// names its kinds through its pattern or `kind:`; ast-grep refuses a rule
/// that names none when it is loaded.
/// `rules` by the node kinds they can match, each with its text checks.
pub(super) fn rules_by_kind<'r>(
    rules: &[&'r RuleConfig<SupportLang>],
    checks_of: impl Fn(&str) -> Option<&'r Compiled>,
) -> Vec<Vec<(&'r RuleConfig<SupportLang>, Option<&'r Compiled>)>> {
    let mut by_kind: Vec<Vec<_>> = Vec::new();
    for &rule in rules {
        let checks = checks_of(&rule.id);
        for kind in rule.matcher.potential_kinds().iter().flatten() {
            if by_kind.len() <= kind {
                by_kind.resize_with(kind + 1, Vec::new);
            }
            by_kind[kind].push((rule, checks));
        }
    }
    by_kind
}
