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

pub(crate) mod fields;
mod imports;
mod parsing;
pub(crate) mod prefilter;
mod rule_sets;
mod rules;
pub mod taint;
mod walk;

use parsing::count_errors;
pub(crate) use parsing::reparse_canonical;
pub use parsing::{DEFAULT_PARSE_TIMEOUT, ParseError, parse, resolved_text};
pub use rule_sets::SastRules;
pub use rules::{Anchor, LanguageRules, RuleError, RuleInfo, RuleMetadata};
pub use walk::AddedRows;

use super::{
    Analyzer, AnalyzerKind, ChangeSet, ChangedFile, Deadline, FileOutcome, Position, Prepared,
    Skipped,
};
use crate::diff::FileStatus;
use ast_grep_core::AstGrep;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_language::{Language, SupportLang};
use std::time::{Duration, Instant};

/// The languages SAST rules may target: the grammars compiled in.
pub const SUPPORTED_LANGUAGES: [SupportLang; 2] = [SupportLang::Python, SupportLang::Rust];

/// The SAST analyzer.
pub struct SastAnalyzer {
    /// Shared with whoever documents the rules (the pipeline, for SARIF)
    /// once the analyzer is in an engine; each language compiles once.
    rules: std::sync::Arc<SastRules>,
    parse_timeout: Duration,
}

impl SastAnalyzer {
    /// An analyzer over these rules, with the given per-file parse limit.
    pub fn new(rules: SastRules, parse_timeout: Duration) -> Self {
        Self {
            rules: std::sync::Arc::new(rules),
            parse_timeout,
        }
    }

    /// The rules it runs.
    pub fn rules(&self) -> &SastRules {
        &self.rules
    }

    /// The rules it runs, for a holder that outlives the borrow.
    pub fn shared_rules(&self) -> std::sync::Arc<SastRules> {
        std::sync::Arc::clone(&self.rules)
    }
}

impl SastAnalyzer {
    /// Runs the taint rules whose prefilter passed over the (canonical)
    /// tree; a limit reached is reported as a partial analysis.
    fn run_taint(
        &self,
        file: &ChangedFile,
        root: &AstGrep<StrDoc<SupportLang>>,
        canonical: Option<&imports::Canonical>,
        present: &std::collections::HashSet<&str>,
        out: &mut FileOutcome,
    ) {
        let path = &file.diff.path;
        let language = root.root().get_doc().lang;
        let Some(rules) = self.rules.of(language) else {
            return;
        };
        let active = |id: &str| rules.taint_rule_runs(id, present);
        let taint = rules.taint();
        let imports = out
            .prepared
            .get::<taint::cross::Exports>()
            .map(|exports| {
                let table =
                    taint::cross::ImportTable::new(path, &root.root().get_doc().src, exports);
                (exports, table)
            })
            .filter(|(_, table)| !table.files().is_empty());
        if let Some((exports, table)) = &imports {
            // Summaries cut short make this file's analysis partial too.
            let mut limited: Vec<&str> = table
                .files()
                .into_iter()
                .filter_map(|file| exports.files.get(file)?.limit.as_deref())
                .collect();
            limited.sort_unstable();
            limited.dedup();
            for reason in limited {
                out.skipped.push(Skipped {
                    path: path.clone(),
                    analyzer: Some(AnalyzerKind::Sast),
                    reason: format!("calls into another changed file: {reason}"),
                    partial: true,
                });
            }
        }
        let outcome = taint.analyze(root, &active, &out.deadline, imports);
        let locator = taint::report::Locator::new(&root.root().get_doc().src, canonical);
        let info_of = |rule: usize| taint.rule_id(language, rule).and_then(|id| rules.info(id));
        let flows = taint::report::findings(
            path,
            &outcome.hits,
            &info_of,
            &locator,
            Some(&file.diff.lines.added),
            Some(&file.diff.lines.commentable),
        );
        // A pattern rule of the same weakness at the same place says less
        // than the flow (which shows the path), or is wrong: only constants
        // reach that sink. Either way the pattern finding goes. The place is
        // the whole range: calls chained on one line share their start.
        type Place = (String, (u32, u32), (u32, u32));
        let place = |cwe: String, start: Position, end: Position| -> Place {
            (cwe, (start.line, start.column), (end.line, end.column))
        };
        let mut superseded: std::collections::HashSet<Place> = flows
            .iter()
            .filter_map(|f| {
                let cwe = f.finding.cwe.clone()?;
                Some(place(cwe, f.finding.start, f.finding.end))
            })
            .collect();
        for &(rule, (start, end)) in &outcome.constant_sinks {
            if let Some(info) = info_of(rule) {
                superseded.insert(place(
                    info.metadata.cwe.clone(),
                    locator.position_of(start),
                    locator.position_of(end),
                ));
            }
        }
        out.findings.retain(|f| {
            let finding = &f.finding;
            let key = place(
                finding.cwe.clone().unwrap_or_default(),
                finding.start,
                finding.end,
            );
            rules.info(&finding.rule_id).is_some_and(|info| info.taint)
                || !superseded.contains(&key)
        });
        out.findings.extend(flows);
        if outcome.limit == Some(taint::Limit::Deadline) {
            // Said as every analyzer says it.
            let skipped = out.deadline.skipped(path, AnalyzerKind::Sast, true);
            out.skipped.push(skipped);
        } else if let Some(limit) = outcome.limit {
            out.skipped.push(Skipped {
                path: path.clone(),
                analyzer: Some(AnalyzerKind::Sast),
                reason: limit.reason(),
                partial: true,
            });
        }
    }
}

impl SastAnalyzer {
    /// The taint summaries of one changed file other changed files
    /// import (`None`: it does not parse, or no taint rule runs on it).
    fn summarise(
        &self,
        path: &str,
        head: &str,
        left: Duration,
    ) -> Option<taint::cross::ExportedFile> {
        let language = SupportLang::from_path(path)?;
        let rules = self.rules.of(language)?;
        // No taint rule could run on it (aliases resolved or not): no parse.
        let taint_ids = rules.taint().rule_ids(language);
        let present = rules.present_in(head);
        if !taint_ids
            .iter()
            .any(|id| rules.taint_rule_runs(id, &present))
            && !imports::may_rewrite(head, language)
        {
            return None;
        }
        let timeout = self.parse_timeout.min(left);
        let root = parse(head, language, timeout).ok()?;
        let canonical = imports::canonicalise(&root, language);
        let root = match &canonical {
            None => root,
            Some(canonical) => reparse_canonical(&root, canonical, timeout).ok()?,
        };
        let text = &root.root().get_doc().src;
        let present = rules.present_in(text);
        let active = |id: &str| rules.taint_rule_runs(id, &present);
        let locator = taint::report::Locator::new(text, canonical.as_ref());
        let deadline = Deadline::after(taint::cross::SUMMARY_TIME.min(left));
        rules
            .taint()
            .exports(&root, &active, &deadline, path, &locator)
    }
}

impl Analyzer for SastAnalyzer {
    fn kind(&self) -> AnalyzerKind {
        AnalyzerKind::Sast
    }

    /// Summaries of the changed files other changed files import
    /// (see [`taint::cross`]).
    fn prepare(&self, changes: &ChangeSet) -> Prepared {
        let files: Vec<(&str, &str)> = changes
            .files
            .iter()
            .filter(|f| f.diff.status != FileStatus::Removed && !f.diff.binary)
            .filter_map(|f| Some((f.diff.path.as_str(), f.head.text()?)))
            .filter(|(path, _)| {
                matches!(
                    SupportLang::from_path(path),
                    Some(SupportLang::Python | SupportLang::Rust)
                )
            })
            .collect();
        let wanted = taint::cross::imported_files(&files);
        if wanted.is_empty() {
            return Prepared::default();
        }
        let mut exports = taint::cross::Exports::default();
        // One budget for the whole step: it runs before any file is analysed.
        let started = Instant::now();
        for path in wanted {
            let Some(head) = files.iter().find(|(p, _)| *p == path).map(|(_, h)| *h) else {
                continue;
            };
            let left = taint::cross::PREPARE_TIME.saturating_sub(started.elapsed());
            if left.is_zero() {
                // Its importers say their calls into it were not followed.
                let limit = format!(
                    "taint analysis: the {:?} for summarising the change's files ran out before `{path}`; calls into it were treated as unknown functions",
                    taint::cross::PREPARE_TIME
                );
                let exported = taint::cross::ExportedFile {
                    limit: Some(limit),
                    ..Default::default()
                };
                exports.files.insert(path, exported);
                continue;
            }
            let Some(exported) = self.summarise(&path, head, left) else {
                continue;
            };
            exports.files.insert(path, exported);
        }
        Prepared(Some(std::sync::Arc::new(exports)))
    }

    fn handles(&self, path: &str) -> bool {
        SupportLang::from_path(path).is_some_and(|lang| SUPPORTED_LANGUAGES.contains(&lang))
    }

    fn analyze(&self, file: &ChangedFile, head: &str, out: &mut FileOutcome) {
        let path = &file.diff.path;
        let Some(language) = SupportLang::from_path(path) else {
            return;
        };
        let Some(rules) = self.rules.of(language) else {
            return;
        };
        // A file whose imports will be rewritten is searched for the rules'
        // literals once, in its canonical text; others once, now.
        let rewrites = imports::may_rewrite(head, language);
        let present_in_head = (!rewrites).then(|| rules.present_in(head));
        let taint_ids = rules.taint().rule_ids(language);
        let taint_runs = |present: &std::collections::HashSet<&str>| {
            taint_ids
                .iter()
                .any(|id| rules.taint_rule_runs(id, present))
        };
        // An alias can bring a rule's literal in (`s(x)` for `os.system`),
        // as can a plain `from os import system`:
        // a file that aliases is read again once its aliases are resolved.
        // A file calling into another changed file may reach a sink there.
        let imports_changed = out
            .prepared
            .get::<taint::cross::Exports>()
            .is_some_and(|exports| exports.imported_by(path, head));
        if let Some(present) = &present_in_head
            && rules.for_file_with(path, present).is_empty()
            && !taint_runs(present)
            && !imports_changed
        {
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
        let canonical = imports::canonicalise(&root, language);
        let (root, present) = match &canonical {
            None => (
                root,
                present_in_head.unwrap_or_else(|| rules.present_in(head)),
            ),
            Some(canonical) => {
                let left = out.deadline.remaining().unwrap_or(Duration::MAX);
                match reparse_canonical(&root, canonical, self.parse_timeout.min(left)) {
                    Ok(resolved) => (resolved, rules.present_in(&canonical.text)),
                    Err(error) => {
                        return out.skipped.push(Skipped {
                            path: path.clone(),
                            analyzer: Some(AnalyzerKind::Sast),
                            reason: format!("after resolving import aliases: {error}"),
                            partial: false,
                        });
                    }
                }
            }
        };
        let pattern_rules = rules.for_file_with(path, &present);
        let taint = taint_runs(&present) || imports_changed;
        if pattern_rules.is_empty() && !taint {
            return;
        }
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
        let within = walk::Within {
            rows: rows.as_ref(),
            canonical: canonical.as_ref(),
        };
        let done = self.run_rules_within(
            path,
            &root,
            pattern_rules,
            within,
            &out.deadline,
            &mut out.findings,
        );
        if !done {
            let skipped = out.deadline.skipped(path, AnalyzerKind::Sast, true);
            return out.skipped.push(skipped);
        }
        if taint {
            self.run_taint(file, &root, canonical.as_ref(), &present, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::walk::{MAX_IDENTITY_BYTES, identity};
    use super::{AddedRows, DEFAULT_PARSE_TIMEOUT, SastAnalyzer, SastRules};
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
        assert!(finding.snippet.chars().count() <= crate::engine::snippet::MAX_LINE_CHARS + 2);
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
