//! SAST: ast-grep rules over tree-sitter trees (Python, Rust).
//!
//! Rules are ast-grep YAML with three hunkscan keys the loader takes out
//! before ast-grep sees the rest: `severity` (hunkscan's five levels instead
//! of ast-grep's four), a typed `metadata` block, and the `valid`/`invalid`
//! examples that `hunkscan rules test` runs. Everything else is ast-grep's
//! own format, compiled by `ast-grep-config`, so ast-grep's and Semgrep's
//! users read the rules as they are.
//!
//! A file is parsed once, with a time limit, and all rules of its language
//! run in one walk of the tree, indexed by node kind. The parse limit is
//! the smaller of `--parse-timeout-ms` and what is left of the file's
//! deadline; the walk asks the deadline at every node and, when it passes,
//! stops and keeps the findings of the nodes it visited.

use super::literals::LiteralIndex;
use super::{
    Analyzer, AnalyzerKind, ChangeKind, ChangedFile, Confidence, Deadline, FileOutcome, Finding,
    Fix, Position, RawFinding, Severity, Skipped,
};
use crate::rules::{self, RuleSource, RuleSourceError};
use ast_grep_config::{GlobalRules, RuleCollection, RuleConfig, SerializableRuleConfig};
use ast_grep_core::matcher::{Matcher, MatcherExt};
use ast_grep_core::tree_sitter::{LanguageExt, StrDoc};
use ast_grep_core::{AstGrep, Doc, NodeMatch};
use ast_grep_language::{Language, SupportLang};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

/// The languages SAST rules may target: the grammars compiled in.
pub const SUPPORTED_LANGUAGES: [SupportLang; 2] = [SupportLang::Python, SupportLang::Rust];

/// Default time a single file may take to parse.
pub const DEFAULT_PARSE_TIMEOUT: Duration = Duration::from_secs(2);

/// hunkscan's metadata on a rule. Unknown keys are refused so a typo
/// (`cew:`) is an error, not a rule with no CWE.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleMetadata {
    /// CWE identifier, `CWE-<n>`.
    pub cwe: String,
    /// How sure a match is a real problem.
    pub confidence: Confidence,
    /// OWASP Top 10 category.
    #[serde(default)]
    pub owasp: Option<String>,
    /// Links for the reader.
    #[serde(default)]
    pub references: Vec<String>,
    /// `first-line`: only the first line of a match must touch a changed line.
    #[serde(default)]
    pub anchor: Option<Anchor>,
    /// Literal strings of which at least one must occur in a file for the
    /// rule to run there (case-sensitive). Most rules name an API
    /// (`yaml`, `mktemp`, `PROTOCOL_TLS`): a file without that text cannot
    /// match, and skipping the rule there is most of the scan's speed.
    /// `rules test` checks that every `invalid` example passes the prefilter.
    #[serde(default)]
    pub prefilter: Vec<String>,
}

/// Which part of a match must intersect the added lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    /// Only the first line (for matches that are whole blocks or items).
    FirstLine,
    /// Any line of the match (the default).
    Range,
}

#[derive(Deserialize)]
struct SastRuleFile {
    severity: Severity,
    metadata: RuleMetadata,
    #[serde(default)]
    valid: Vec<String>,
    #[serde(default)]
    invalid: Vec<String>,
    #[serde(flatten)]
    config: SerializableRuleConfig<SupportLang>,
}

/// Everything about a rule except its compiled matcher.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    /// Rule id.
    pub id: String,
    /// Target language.
    pub language: SupportLang,
    /// Severity of its findings.
    pub severity: Severity,
    /// Message template (may hold `$VARS`).
    pub message: String,
    /// Remediation in Markdown.
    pub note: Option<String>,
    /// hunkscan metadata.
    pub metadata: RuleMetadata,
    /// Snippets that must not match.
    pub valid: Vec<String>,
    /// Snippets that must match.
    pub invalid: Vec<String>,
    /// Where the rule was read from.
    pub origin: String,
}

/// A rule that cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The rule folder cannot be read.
    #[error(transparent)]
    Source(#[from] RuleSourceError),
    /// The YAML does not fit the rule format.
    #[error("{origin}: {message}")]
    Format {
        /// The file.
        origin: String,
        /// What is wrong, with the line and column the YAML parser gives.
        message: String,
    },
    /// ast-grep refused the rule.
    #[error("{origin}: rule `{id}`: {message}")]
    Compile {
        /// The file.
        origin: String,
        /// The rule id.
        id: String,
        /// ast-grep's error, with its causes.
        message: String,
    },
    /// A rule for a language hunkscan does not parse.
    #[error(
        "{origin}: rule `{id}` targets {language}, but SAST rules may only target python or rust"
    )]
    UnsupportedLanguage {
        /// The file.
        origin: String,
        /// The rule id.
        id: String,
        /// The language named.
        language: String,
    },
    /// Two rule files of the same origin share an id.
    #[error("rule id `{id}` is defined twice: {first} and {second}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The first file.
        first: String,
        /// The second file.
        second: String,
    },
    /// The rule set cannot be indexed (a bad `files`/`ignores` glob).
    #[error("cannot index the rules: {0}")]
    Collection(String),
}

/// The loaded, compiled SAST rules.
pub struct SastRules {
    collection: RuleCollection<SupportLang>,
    info: HashMap<String, RuleInfo>,
    /// All rules' prefilter literals in one automaton, so a file is read once.
    prefilter: LiteralIndex,
    /// Owner index in `prefilter` ─▶ rule id.
    prefiltered_ids: Vec<String>,
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn compile(source: &RuleSource) -> Result<(RuleConfig<SupportLang>, RuleInfo), RuleError> {
    let file: SastRuleFile =
        ast_grep_config::from_str(&source.text).map_err(|e| RuleError::Format {
            origin: source.origin.clone(),
            message: e.to_string(),
        })?;
    if let Some(literal) = file
        .metadata
        .prefilter
        .iter()
        .find(|literal| literal.chars().any(char::is_control))
    {
        // "\b" in double quotes is YAML's backspace: the rule would never run.
        return Err(RuleError::Format {
            origin: source.origin.clone(),
            message: format!(
                "metadata.prefilter: {literal:?} holds a control character; write a word boundary as '\\b' in single quotes"
            ),
        });
    }
    let id = file.config.id.clone();
    let language = file.config.language;
    if !SUPPORTED_LANGUAGES.contains(&language) {
        return Err(RuleError::UnsupportedLanguage {
            origin: source.origin.clone(),
            id,
            language: language.to_string(),
        });
    }
    if id.is_empty() {
        return Err(RuleError::Format {
            origin: source.origin.clone(),
            message: "rule has no `id`".into(),
        });
    }
    let info = RuleInfo {
        id: id.clone(),
        language,
        severity: file.severity,
        message: file.config.message.clone(),
        note: file.config.note.clone(),
        metadata: file.metadata,
        valid: file.valid,
        invalid: file.invalid,
        origin: source.origin.clone(),
    };
    let config = RuleConfig::try_from(file.config, &GlobalRules::default()).map_err(|e| {
        RuleError::Compile {
            origin: source.origin.clone(),
            id,
            message: error_chain(&e),
        }
    })?;
    Ok((config, info))
}

impl SastRules {
    /// The rules embedded in the binary, with `overrides` (a folder laid out
    /// like `rules/`) adding rules or replacing embedded rules of the same id.
    pub fn load(overrides: Option<&Path>) -> Result<Self, RuleError> {
        let mut sources = rules::embedded(&rules::SAST_FOLDERS);
        let embedded_count = sources.len();
        if let Some(dir) = overrides {
            sources.extend(rules::from_dir(dir, &rules::SAST_FOLDERS)?);
        }
        let mut by_id: HashMap<String, (usize, RuleConfig<SupportLang>, RuleInfo)> = HashMap::new();
        for (index, source) in sources.iter().enumerate() {
            let (config, info) = compile(source)?;
            if let Some((previous, _, earlier)) = by_id.get(&info.id) {
                // Same origin twice is a mistake; a run-time file replacing an embedded one is the point.
                let both_embedded = *previous < embedded_count && index < embedded_count;
                let both_override = *previous >= embedded_count && index >= embedded_count;
                if both_embedded || both_override {
                    return Err(RuleError::DuplicateId {
                        id: info.id.clone(),
                        first: earlier.origin.clone(),
                        second: info.origin.clone(),
                    });
                }
            }
            by_id.insert(info.id.clone(), (index, config, info));
        }
        let mut ordered: Vec<_> = by_id.into_values().collect();
        ordered.sort_by_key(|(index, _, _)| *index);
        let mut info = HashMap::new();
        let mut configs = Vec::new();
        for (_, config, rule_info) in ordered {
            info.insert(rule_info.id.clone(), rule_info);
            configs.push(config);
        }
        let collection =
            RuleCollection::try_new(configs).map_err(|e| RuleError::Collection(e.to_string()))?;
        let prefiltered_ids: Vec<String> = info
            .values()
            .filter(|rule| !rule.metadata.prefilter.is_empty())
            .map(|rule| rule.id.clone())
            .collect();
        let entries = prefiltered_ids.iter().enumerate().flat_map(|(owner, id)| {
            info[id]
                .metadata
                .prefilter
                .iter()
                .map(move |literal| (owner, literal.as_str()))
        });
        let prefilter =
            LiteralIndex::new(entries, false).map_err(|e| RuleError::Collection(e.to_string()))?;
        Ok(Self {
            collection,
            info,
            prefilter,
            prefiltered_ids,
        })
    }

    /// Every rule's description, sorted by id.
    pub fn infos(&self) -> Vec<&RuleInfo> {
        let mut infos: Vec<_> = self.info.values().collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// The rules that apply to `path` (by language and `files`/`ignores`)
    /// and whose prefilter literals occur in `text`.
    pub fn for_file(&self, path: &str, text: &str) -> Vec<&RuleConfig<SupportLang>> {
        let present = self.prefilter_passed(text);
        self.collection
            .for_path(Path::new(path))
            .into_iter()
            .filter(|rule| {
                self.info(&rule.id).is_some_and(|info| {
                    info.metadata.prefilter.is_empty() || present.contains(rule.id.as_str())
                })
            })
            .collect()
    }

    /// The ids of the prefiltered rules whose literals occur in `text`.
    fn prefilter_passed(&self, text: &str) -> HashSet<&str> {
        let mut present = HashSet::new();
        self.prefilter.owners_in(text, |owner| {
            present.insert(self.prefiltered_ids[owner].as_str());
        });
        present
    }

    /// True when `text` passes the prefilter of rule `id`, through the same
    /// automaton a scan uses.
    pub fn passes_prefilter(&self, id: &str, text: &str) -> bool {
        self.info(id).is_some_and(|info| {
            info.metadata.prefilter.is_empty() || self.prefilter_passed(text).contains(id)
        })
    }

    /// The description of one rule.
    pub fn info(&self, id: &str) -> Option<&RuleInfo> {
        self.info.get(id)
    }

    /// The compiled rule with this id.
    pub fn config(&self, id: &str) -> Option<&RuleConfig<SupportLang>> {
        self.collection.get_rule(id)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.info.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }
}

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
                None,
                Some(options),
            )
            .ok_or(ParseError::Timeout(timeout))
    })?;
    Ok(AstGrep::doc(StrDoc {
        src: source.to_owned(),
        lang: language,
        tree,
    }))
}

/// Counts syntax-error regions, for the "parsed with errors" note (fewer
/// when the deadline passes during the count: the walk then stops at once).
fn count_errors(root: &AstGrep<StrDoc<SupportLang>>, deadline: &Deadline) -> usize {
    if !root.root().get_inner_node().has_error() {
        return 0;
    }
    root.root()
        .dfs()
        .take_while(|_| !deadline.expired())
        .filter(|n| n.is_error() || n.is_missing())
        .count()
}

/// The SAST analyzer.
pub struct SastAnalyzer {
    rules: SastRules,
    parse_timeout: Duration,
}

impl SastAnalyzer {
    /// An analyzer over these rules, with the given per-file parse limit.
    pub fn new(rules: SastRules, parse_timeout: Duration) -> Self {
        Self {
            rules,
            parse_timeout,
        }
    }

    /// The rules it runs.
    pub fn rules(&self) -> &SastRules {
        &self.rules
    }

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
        self.run_rules_within(path, root, rules, None, &Deadline::none(), &mut findings);
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
    pub fn run_rules_within(
        &self,
        path: &str,
        root: &AstGrep<StrDoc<SupportLang>>,
        rules: Vec<&RuleConfig<SupportLang>>,
        rows: Option<&AddedRows>,
        deadline: &Deadline,
        findings: &mut Vec<RawFinding>,
    ) -> bool {
        let by_kind = rules_by_kind(&rules);
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
                    for rule in candidates {
                        let Some(matched) = rule.matcher.match_node(node.clone()) else {
                            continue;
                        };
                        if let Some(info) = self.rules.info(&rule.id) {
                            let finding = self.to_finding(path, rule, info, &matched, &mut columns);
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
        columns: &mut Columns,
    ) -> RawFinding {
        let start = node.start_pos();
        let end = node.end_pos();
        let source = node.get_doc().get_source();
        let (start_column, end_column) = columns.of(source, &node.get_inner_node());
        let to_position = |pos: &ast_grep_core::Position, column: usize| Position {
            line: u32::try_from(pos.line() + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        };
        let fix = rule.fixer.first().and_then(|fixer| {
            let edit = node.make_edit(&rule.matcher, fixer);
            // Only a replacement of exactly the matched range can become a suggestion.
            (edit.position == node.range().start && edit.deleted_length == node.range().len())
                .then(|| String::from_utf8(edit.inserted_text).ok())
                .flatten()
                .map(|replacement| Fix { replacement })
        });
        // From the match's line on, each line cut to a window; tree-sitter's
        // columns are in bytes, so the line's start costs nothing to find.
        let inner = node.get_inner_node();
        let line_start = inner
            .start_byte()
            .saturating_sub(inner.start_position().column);
        let snippet = super::snippet::lines_at(
            source,
            line_start,
            inner.start_byte(),
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
            },
            anchor_first_line: info.metadata.anchor == Some(Anchor::FirstLine),
            masked: false,
            // The enclosing scope keeps the same code in two functions two
            // findings, and the same code moved within its function one.
            identity: format!("{} :: {}", scope_of(node), identity(&node.text())),
            secrets: if is_credential_rule(&info.metadata.cwe) {
                super::redact::string_literals(&node.text())
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
const MAX_IDENTITY_BYTES: usize = 4096;

/// What identifies a match: its text, or beyond [`MAX_IDENTITY_BYTES`] a
/// hash of its text with white space folded as [`fingerprint::normalise`]
/// folds it (equal after folding, equal hash). Nested matches (a call in a
/// call in a call …) each hold the rest of the nest: as text, a file of
/// such nests held gigabytes of identities.
///
/// [`fingerprint::normalise`]: super::fingerprint::normalise
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

fn identity(text: &str) -> String {
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
    format!("sha256:{}", super::fingerprint::hex(&hasher.finalize()))
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
fn rules_by_kind<'r>(
    rules: &[&'r RuleConfig<SupportLang>],
) -> Vec<Vec<&'r RuleConfig<SupportLang>>> {
    let mut by_kind: Vec<Vec<&RuleConfig<SupportLang>>> = Vec::new();
    for &rule in rules {
        for kind in rule.matcher.potential_kinds().iter().flatten() {
            if by_kind.len() <= kind {
                by_kind.resize_with(kind + 1, Vec::new);
            }
            by_kind[kind].push(rule);
        }
    }
    by_kind
}

impl Analyzer for SastAnalyzer {
    fn kind(&self) -> AnalyzerKind {
        AnalyzerKind::Sast
    }

    fn handles(&self, path: &str) -> bool {
        SupportLang::from_path(path).is_some_and(|lang| SUPPORTED_LANGUAGES.contains(&lang))
    }

    fn analyze(&self, file: &ChangedFile, head: &str, out: &mut FileOutcome) {
        let path = &file.diff.path;
        let Some(language) = SupportLang::from_path(path) else {
            return;
        };
        let rules = self.rules.for_file(path, head);
        if rules.is_empty() {
            return;
        }
        let deadline = &out.deadline;
        // The parse gets what is left of the file's budget, if that is less.
        let left = deadline.remaining().unwrap_or(Duration::MAX);
        if left.is_zero() {
            return out
                .skipped
                .push(deadline.skipped(path, AnalyzerKind::Sast, false));
        }
        let timeout = self.parse_timeout.min(left);
        let root = match parse(head, language, timeout) {
            Ok(root) => root,
            Err(ParseError::Timeout(_)) if timeout < self.parse_timeout => {
                return out
                    .skipped
                    .push(deadline.skipped(path, AnalyzerKind::Sast, false));
            }
            Err(error) => {
                out.skipped.push(Skipped {
                    path: path.clone(),
                    analyzer: Some(AnalyzerKind::Sast),
                    reason: error.to_string(),
                    partial: false,
                });
                return;
            }
        };
        let errors = count_errors(&root, &out.deadline);
        if errors > 0 {
            out.skipped.push(Skipped {
                path: path.clone(),
                analyzer: Some(AnalyzerKind::Sast),
                reason: format!(
                    "{errors} syntax error(s): the file was scanned, but code inside the broken parts may be missed"
                ),
                partial: true,
            });
        }
        // A last line without a newline is a line too.
        let total_lines = head.bytes().filter(|&b| b == b'\n').count()
            + usize::from(!head.is_empty() && !head.ends_with('\n'));
        let rows = AddedRows::from_added_lines(&file.diff.lines.added, total_lines);
        let done = self.run_rules_within(
            path,
            &root,
            rules,
            rows.as_ref(),
            &out.deadline,
            &mut out.findings,
        );
        if !done {
            let skipped = out.deadline.skipped(path, AnalyzerKind::Sast, true);
            out.skipped.push(skipped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        AddedRows, DEFAULT_PARSE_TIMEOUT, MAX_IDENTITY_BYTES, SastAnalyzer, SastRules, identity,
    };
    use crate::engine::{Analyzer, AnalyzerKind, Content, Deadline, FileOutcome};
    use std::collections::BTreeSet;
    use std::time::Duration;

    fn analyze(head: &str, deadline: Deadline) -> FileOutcome {
        let rules = SastRules::load(None).expect("embedded rules load");
        let analyzer = SastAnalyzer::new(rules, DEFAULT_PARSE_TIMEOUT);
        let file =
            crate::local::changed_file("app.py", Content::Absent, Content::Text(head.into()))
                .expect("diffable");
        let mut out = FileOutcome {
            deadline,
            ..FileOutcome::default()
        };
        analyzer.analyze(&file, head, &mut out);
        out
    }

    fn fifty_shell_calls() -> String {
        let mut head = String::from("import subprocess\n");
        for index in 0..50 {
            head.push_str(&format!("subprocess.run(cmd_{index}, shell=True)\n"));
        }
        head
    }

    #[test]
    fn a_deadline_passing_during_the_walk_keeps_what_was_found_before() {
        let head = fifty_shell_calls();
        let complete = analyze(&head, Deadline::none());
        assert_eq!(complete.findings.len(), 50);
        assert!(complete.skipped.is_empty(), "{:?}", complete.skipped);
        // A few hundred nodes into the walk: some statements, not all.
        let stopped = analyze(&head, Deadline::after_questions(300));
        let found = stopped.findings.len();
        assert!(found > 0 && found < 50, "{found} findings");
        assert_eq!(stopped.skipped.len(), 1, "{:?}", stopped.skipped);
        let skipped = &stopped.skipped[0];
        assert_eq!(
            (skipped.analyzer, skipped.partial),
            (Some(AnalyzerKind::Sast), true)
        );
        assert!(skipped.reason.contains("deadline"), "{}", skipped.reason);
    }

    #[test]
    fn long_matches_are_identified_by_a_hash_of_their_folded_text() {
        let short = "eval(x)";
        assert_eq!(identity(short), short);
        let long = format!("eval({})", "a + ".repeat(MAX_IDENTITY_BYTES));
        let rewrapped = long.replace(" + ", "\n    +  ");
        assert!(identity(&long).starts_with("sha256:"));
        assert_eq!(identity(&long), identity(&rewrapped));
        assert_ne!(identity(&long), identity(&long.replace('a', "b")));
    }

    #[test]
    fn a_finding_on_a_long_line_has_a_short_snippet_around_it() {
        let head = format!(
            "import subprocess\nx = [{}]; subprocess.run(cmd, shell=True); y = [{}]\n",
            "1, ".repeat(10_000),
            "2, ".repeat(10_000)
        );
        let out = analyze(&head, Deadline::none());
        let finding = &out.findings[0].finding;
        assert!(finding.snippet.contains("subprocess.run(cmd, shell=True)"));
        assert!(finding.snippet.chars().count() <= super::super::snippet::MAX_LINE_CHARS + 2);
    }

    #[test]
    fn columns_count_characters_also_for_many_matches_on_a_line() {
        let line = "é = \"ü\"; subprocess.run(a, shell=True); subprocess.run(bé, shell=True)";
        let head = format!("import subprocess\n{line}\nsubprocess.run(\n    c, shell=True,\n)\n");
        let out = analyze(&head, Deadline::none());
        let mut got: Vec<(u32, u32, u32, u32)> = out
            .findings
            .iter()
            .map(|f| {
                let f = &f.finding;
                (f.start.line, f.start.column, f.end.line, f.end.column)
            })
            .collect();
        got.sort_unstable();
        let column = |text: &str| {
            u32::try_from(line[..line.find(text).expect("in line")].chars().count() + 1)
                .expect("small")
        };
        let a = column("subprocess.run(a");
        let b = column("subprocess.run(b");
        let width = |text: &str| u32::try_from(text.chars().count()).expect("small");
        assert_eq!(
            got,
            vec![
                (2, a, 2, a + width("subprocess.run(a, shell=True)")),
                (2, b, 2, b + width("subprocess.run(bé, shell=True)")),
                (3, 1, 5, 2),
            ]
        );
    }

    #[test]
    fn a_file_whose_deadline_already_passed_is_not_parsed() {
        let out = analyze(&fifty_shell_calls(), Deadline::after(Duration::ZERO));
        assert!(out.findings.is_empty());
        assert_eq!(out.skipped.len(), 1, "{:?}", out.skipped);
        assert!(!out.skipped[0].partial);
        assert!(out.skipped[0].reason.contains("deadline"));
    }

    fn rows(lines: &[u32]) -> Option<AddedRows> {
        AddedRows::from_added_lines(&lines.iter().copied().collect::<BTreeSet<u32>>(), 50)
    }

    #[test]
    fn a_new_file_prunes_nothing() {
        let all: BTreeSet<u32> = (1..=3).collect();
        assert!(AddedRows::from_added_lines(&all, 3).is_none());
        assert!(rows(&[]).is_none());
    }

    #[test]
    fn lines_added_at_the_top_of_a_longer_file_prune_the_rest() {
        let rows = rows(&[1, 2, 3]).expect("50 lines, 3 added");
        assert!(rows.touches(0, 0));
        assert!(!rows.touches(3, 49));
    }

    #[test]
    fn a_node_touches_added_rows_when_any_of_its_rows_was_added() {
        // Lines 3 and 7 added: rows 2 and 6.
        let rows = rows(&[3, 7]).expect("a gap");
        assert!(!rows.touches(0, 1));
        assert!(rows.touches(0, 2));
        assert!(rows.touches(2, 2));
        assert!(!rows.touches(3, 5));
        assert!(rows.touches(4, 6));
        assert!(rows.touches(6, 40), "rows past the last added line");
        assert!(!rows.touches(7, 40));
        assert!(!rows.touches(usize::MAX - 1, usize::MAX));
    }
}
