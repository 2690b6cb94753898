//! Taint tracking: untrusted input (sources) reaching dangerous calls
//! (sinks) through the code in between, with rules as data.
//!
//! The rules live next to the pattern rules (`rules/python/taint/`,
//! `rules/rust/taint/`), in the format [`spec`] describes. The analysis
//! (a language-neutral [`core`] under one front-end per language,
//! [`python`] and [`rust`]) runs on the same tree, aliases resolved, that
//! the pattern rules read; it is a single
//! forward pass per function over the syntax tree (no separate IR: the
//! tree is already in memory and a pass over it is what keeps taint within
//! the scan's speed budget), with the limits of [`Limit`].
//!
//! Findings ([`report`]) follow the rest of hunkscan: one per sink and
//! rule, kept when the change added the source, the sink or any step of
//! the path between; anchored at the sink when the sink's lines were
//! added, else at the added step nearest to the sink.

mod core;
pub mod cross;
pub mod flow;
mod python;
pub mod report;
mod rust;
pub(crate) mod spec;

use crate::engine::sast::prefilter::ByKind;
use ast_grep_core::AstGrep;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_language::SupportLang;
use flow::Taint;
use spec::{Library, TaintRule};
use std::collections::HashMap;

use crate::engine::Deadline;

/// Taint rules per language at most: the sanitised-for set is a `u64`.
pub const MAX_RULES_PER_LANGUAGE: usize = 64;

/// A source reaching a sink.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Index of the rule in its language's list.
    pub rule: usize,
    /// The sink's byte range in the analysed text.
    pub sink: (usize, usize),
    /// The sink's first and last rows (0-based).
    pub sink_rows: (usize, usize),
    /// The taint, its path ending at the sink.
    pub taint: Taint,
}

/// What the analysis of one file found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Sources reaching sinks.
    pub hits: Vec<Hit>,
    /// Sinks only constants reach: (rule index, byte range).
    pub constant_sinks: Vec<(usize, (usize, usize))>,
    /// The first limit reached, if any.
    pub limit: Option<Limit>,
}

/// A limit that stopped part of a file's analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Nesting deeper than the analysis follows.
    Depth,
    /// The work budget (a multiple of the file's size) ran out.
    Work,
    /// The file's deadline passed.
    Deadline,
    /// Helper functions call each other deeper than summaries are computed.
    Summaries,
}

impl Limit {
    /// Why the file was only partly analysed, for the skipped list.
    pub fn reason(self) -> String {
        match self {
            Limit::Depth => format!(
                "taint analysis: code nested deeper than {} levels was not followed; flows inside it may be missed",
                core::MAX_DEPTH
            ),
            Limit::Work => {
                "taint analysis: the work limit for this file was reached; later functions were not analysed".into()
            }
            Limit::Deadline => {
                "taint analysis: the file's deadline passed; later functions were not analysed".into()
            }
            Limit::Summaries => format!(
                "taint analysis: helper functions call each other more than {} deep; deeper calls were treated as unknown functions",
                core::MAX_SUMMARY_DEPTH
            ),
        }
    }
}

/// One language's compiled taint rules, indexed by node kind.
pub struct LanguageTaint {
    pub(crate) library: Library,
    pub(crate) rules: Vec<TaintRule>,
    /// (rule, or `None` for the library; source index).
    pub(crate) sources_by_kind: ByKind<(Option<usize>, usize)>,
    /// (rule, sink index).
    pub(crate) sinks_by_kind: ByKind<(usize, usize)>,
    /// (rule, or `None` for the library; sanitizer index).
    pub(crate) sanitizers_by_kind: ByKind<(Option<usize>, usize)>,
    /// Rules the library's sources do not feed (`own-sources-only`).
    pub(crate) library_excluded: u64,
}

impl LanguageTaint {
    /// Source `index` of rule `rule`, or of the library when `None` (the
    /// entries `sources_by_kind` holds).
    pub(crate) fn source(&self, (rule, index): (Option<usize>, usize)) -> &spec::Source {
        match rule {
            None => &self.library.sources[index],
            Some(rule) => &self.rules[rule].sources[index],
        }
    }

    /// Sanitizer `index` of rule `rule`, or of the library when `None`.
    pub(crate) fn sanitizer(&self, (rule, index): (Option<usize>, usize)) -> &spec::Sink {
        match rule {
            None => &self.library.sanitizers[index],
            Some(rule) => &self.rules[rule].sanitizers[index],
        }
    }

    fn new(library: Library, rules: Vec<TaintRule>) -> Self {
        let mut sources_by_kind = ByKind::default();
        let mut sinks_by_kind = ByKind::default();
        let mut sanitizers_by_kind = ByKind::default();
        for (index, source) in library.sources.iter().enumerate() {
            sources_by_kind.add(&source.matcher, &source.prefilter, (None, index));
        }
        for (index, sanitizer) in library.sanitizers.iter().enumerate() {
            sanitizers_by_kind.add(&sanitizer.matcher, &sanitizer.prefilter, (None, index));
        }
        for (rule_index, rule) in rules.iter().enumerate() {
            for (i, source) in rule.sources.iter().enumerate() {
                sources_by_kind.add(&source.matcher, &source.prefilter, (Some(rule_index), i));
            }
            for (i, sink) in rule.sinks.iter().enumerate() {
                sinks_by_kind.add(&sink.matcher, &sink.prefilter, (rule_index, i));
            }
            for (i, sanitizer) in rule.sanitizers.iter().enumerate() {
                sanitizers_by_kind.add(
                    &sanitizer.matcher,
                    &sanitizer.prefilter,
                    (Some(rule_index), i),
                );
            }
        }
        sources_by_kind.finish();
        sinks_by_kind.finish();
        sanitizers_by_kind.finish();
        let library_excluded = rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.own_sources_only)
            .fold(0u64, |mask, (index, _)| mask | (1 << index));
        Self {
            library_excluded,
            library,
            rules,
            sources_by_kind,
            sinks_by_kind,
            sanitizers_by_kind,
        }
    }
}

/// Every language's taint rules.
#[derive(Default)]
pub struct TaintRules {
    languages: HashMap<SupportLang, LanguageTaint>,
}

impl TaintRules {
    /// Compiled libraries and rules, grouped by language. A language with
    /// rules but no library has no shared sources (its rules bring their own).
    pub(crate) fn new(
        libraries: Vec<(SupportLang, Library)>,
        rules: Vec<(SupportLang, TaintRule)>,
    ) -> Result<Self, String> {
        let mut grouped: HashMap<SupportLang, (Option<Library>, Vec<TaintRule>)> = HashMap::new();
        for (language, library) in libraries {
            let entry = grouped.entry(language).or_default();
            if let Some(first) = &entry.0 {
                return Err(format!(
                    "two taint-sources files for {language}: `{}` and `{}`",
                    first.id, library.id
                ));
            }
            entry.0 = Some(library);
        }
        for (language, rule) in rules {
            grouped.entry(language).or_default().1.push(rule);
        }
        let mut languages = HashMap::new();
        for (language, (library, rules)) in grouped {
            if rules.len() > MAX_RULES_PER_LANGUAGE {
                return Err(format!(
                    "{} taint rules for {language}; at most {MAX_RULES_PER_LANGUAGE} are supported",
                    rules.len()
                ));
            }
            languages.insert(
                language,
                LanguageTaint::new(library.unwrap_or_default(), rules),
            );
        }
        Ok(Self { languages })
    }

    /// The rules of a language, by index.
    pub fn rule_ids(&self, language: SupportLang) -> Vec<&str> {
        self.languages
            .get(&language)
            .map(|l| l.rules.iter().map(|r| r.id.as_str()).collect())
            .unwrap_or_default()
    }

    /// The rule id of index `rule` in `language`.
    pub fn rule_id(&self, language: SupportLang, rule: usize) -> Option<&str> {
        Some(self.languages.get(&language)?.rules.get(rule)?.id.as_str())
    }

    /// The message of rule `rule` in `language`.
    pub fn message(&self, language: SupportLang, rule: usize) -> Option<&str> {
        Some(
            self.languages
                .get(&language)?
                .rules
                .get(rule)?
                .message
                .as_str(),
        )
    }

    /// Runs the rules `active` (by id) of the tree's language over it;
    /// `imports`: what the file imports from other changed files, and their
    /// summaries (whose rules then run too).
    pub fn analyze(
        &self,
        root: &AstGrep<StrDoc<SupportLang>>,
        active: &dyn Fn(&str) -> bool,
        deadline: &Deadline,
        imports: Option<(&cross::Exports, cross::ImportTable)>,
    ) -> Outcome {
        let language = root.root().get_doc().lang;
        let Some(rules) = self.languages.get(&language) else {
            return Outcome::default();
        };
        let mut mask = 0u64;
        for (index, rule) in rules.rules.iter().enumerate() {
            if active(&rule.id) {
                mask |= 1 << index;
            }
        }
        if let Some((exports, table)) = &imports {
            mask |= table.rules(exports);
        }
        if mask == 0 {
            return Outcome::default();
        }
        match language {
            SupportLang::Python => {
                let mut analysis = python::Analysis::new(rules, mask, root, deadline);
                if let Some((exports, table)) = imports {
                    analysis = analysis.with_imports(exports, table);
                }
                analysis.run();
                analysis.core.into_outcome()
            }
            SupportLang::Rust => {
                let mut analysis = rust::Analysis::new(rules, mask, root, deadline);
                if let Some((exports, table)) = imports {
                    analysis = analysis.with_imports(exports, table);
                }
                analysis.run();
                analysis.core.into_outcome()
            }
            // No front-end for other languages: their taint rules would
            // find nothing, so none are shipped.
            _ => Outcome::default(),
        }
    }

    /// The summaries of a file's module-level functions, for the other
    /// changed files that import it (`None`: no front-end for its language,
    /// or no rule runs); its paths located by `locator`, named `path`.
    pub fn exports(
        &self,
        root: &AstGrep<StrDoc<SupportLang>>,
        active: &dyn Fn(&str) -> bool,
        deadline: &Deadline,
        path: &str,
        locator: &report::Locator,
    ) -> Option<cross::ExportedFile> {
        let language = root.root().get_doc().lang;
        let rules = self.languages.get(&language)?;
        let mut mask = 0u64;
        for (index, rule) in rules.rules.iter().enumerate() {
            if active(&rule.id) {
                mask |= 1 << index;
            }
        }
        if mask == 0 {
            return None;
        }
        match language {
            SupportLang::Python => {
                let mut analysis = python::Analysis::new(rules, mask, root, deadline);
                Some(analysis.exports(path, locator))
            }
            SupportLang::Rust => {
                let mut analysis = rust::Analysis::new(rules, mask, root, deadline);
                Some(analysis.exports(path, locator))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod prefilter_tests {
    //! The prefilters, judged on every shipped rule's examples: a node a
    //! rule matches in full is never filtered out, and most candidates are.
    use super::*;
    use crate::engine::sast::SastRules;
    use ast_grep_core::matcher::MatcherExt;

    type Node<'r> = ast_grep_core::Node<'r, StrDoc<SupportLang>>;

    fn tally<T: Copy + PartialEq>(
        node: &Node<'_>,
        index: &ByKind<T>,
        matches: impl Fn(T) -> bool,
        (kept, dropped): &mut (usize, usize),
    ) -> Result<(), String> {
        let candidates = index.candidates(node);
        for entry in index.all(node.kind_id()) {
            let passed = candidates.contains(&entry);
            if passed {
                *kept += 1;
            } else {
                *dropped += 1;
                if matches(entry) {
                    return Err(format!(
                        "a matching rule was filtered out at `{}`",
                        node.text()
                    ));
                }
            }
        }
        Ok(())
    }

    #[test]
    fn prefilters_keep_every_match_in_the_rule_examples() {
        let rules = SastRules::load(None).expect("embedded rules load");
        let mut sinks = (0, 0);
        let mut others = (0, 0);
        let mut examples = 0;
        for info in rules.infos().into_iter().filter(|info| info.taint) {
            let language = info.language;
            let language_rules = rules.of(language).expect("a rule's language");
            let taint = &language_rules.taint().languages[&language];
            for example in info.valid.iter().chain(&info.invalid) {
                let parsed = crate::engine::sast::parse(
                    example,
                    language,
                    crate::engine::sast::DEFAULT_PARSE_TIMEOUT,
                )
                .expect("example parses");
                let root = match crate::engine::sast::imports::canonicalise(&parsed, language) {
                    Some(canonical) => crate::engine::sast::reparse_canonical(
                        &parsed,
                        &canonical,
                        crate::engine::sast::DEFAULT_PARSE_TIMEOUT,
                    )
                    .expect("canonical text parses"),
                    None => parsed,
                };
                examples += 1;
                for node in root.root().dfs() {
                    let result = tally(
                        &node,
                        &taint.sinks_by_kind,
                        |(rule, i)| {
                            taint.rules[rule].sinks[i]
                                .matcher
                                .match_node(node.clone())
                                .is_some()
                        },
                        &mut sinks,
                    )
                    .and_then(|()| {
                        tally(
                            &node,
                            &taint.sources_by_kind,
                            |entry| {
                                taint
                                    .source(entry)
                                    .matcher
                                    .match_node(node.clone())
                                    .is_some()
                            },
                            &mut others,
                        )
                    })
                    .and_then(|()| {
                        tally(
                            &node,
                            &taint.sanitizers_by_kind,
                            |entry| {
                                taint
                                    .sanitizer(entry)
                                    .matcher
                                    .match_node(node.clone())
                                    .is_some()
                            },
                            &mut others,
                        )
                    });
                    if let Err(problem) = result {
                        panic!("{}: {problem}\n{example}", info.id);
                    }
                }
            }
        }
        assert!(
            examples > 100,
            "only {examples} taint rule examples were read"
        );
        // Not a filter that lets everything through: most sink candidates
        // at a call are rules for other callees.
        assert!(
            sinks.1 > 4 * sinks.0,
            "sink candidates kept {} / dropped {}",
            sinks.0,
            sinks.1
        );
        assert!(
            others.1 > others.0,
            "source and sanitizer candidates kept {} / dropped {}",
            others.0,
            others.1
        );
    }
}
