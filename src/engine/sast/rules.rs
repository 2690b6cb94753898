//! The SAST rule format: hunkscan's keys around ast-grep's rule, compiled
//! per language into one collection with a prefilter automaton over all
//! its rules' literals.

use super::SUPPORTED_LANGUAGES;
use super::prefilter;
use super::taint::TaintRules;
use super::taint::spec::{Library, LibraryFile, ModeOnly, TaintRule, TaintRuleFile};
use crate::engine::literals::LiteralIndex;
use crate::engine::{Confidence, Severity};
use crate::rules::{RuleSource, RuleSourceError};
use ast_grep_config::{GlobalRules, RuleCollection, RuleConfig, SerializableRuleConfig};
use ast_grep_language::SupportLang;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

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
    /// A taint rule (`mode: taint`), run by the taint engine.
    pub taint: bool,
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

/// The compiled SAST rules of one language.
pub struct LanguageRules {
    collection: RuleCollection<SupportLang>,
    taint: TaintRules,
    info: HashMap<String, RuleInfo>,
    /// All rules' prefilter literals in one automaton, so a file is read once.
    prefilter: LiteralIndex,
    /// Owner index in `prefilter` ─▶ rule id.
    prefiltered_ids: Vec<String>,
    /// Each pattern rule's test of a node's text before its full match.
    node_checks: HashMap<String, prefilter::Compiled>,
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A rule file, compiled.
enum Compiled {
    Pattern(Box<RuleConfig<SupportLang>>, RuleInfo),
    Taint(Box<TaintRule>, RuleInfo),
    Library(SupportLang, Box<Library>),
}

impl Compiled {
    fn id(&self) -> &str {
        match self {
            Compiled::Pattern(_, info) | Compiled::Taint(_, info) => &info.id,
            Compiled::Library(_, library) => &library.id,
        }
    }

    fn language(&self) -> SupportLang {
        match self {
            Compiled::Pattern(_, info) | Compiled::Taint(_, info) => info.language,
            Compiled::Library(language, _) => *language,
        }
    }
}

fn compile_any(source: &RuleSource) -> Result<Compiled, RuleError> {
    let format_error = |message: String| RuleError::Format {
        origin: source.origin.clone(),
        message,
    };
    let mode: ModeOnly =
        ast_grep_config::from_str(&source.text).map_err(|e| format_error(e.to_string()))?;
    match mode.mode.as_deref() {
        None => {
            let (config, info) = compile(source)?;
            Ok(Compiled::Pattern(Box::new(config), info))
        }
        Some("taint") => {
            let file: TaintRuleFile =
                ast_grep_config::from_str(&source.text).map_err(|e| format_error(e.to_string()))?;
            check_language(source, &file.id, file.language)?;
            let rule = file.compile().map_err(|message| RuleError::Compile {
                origin: source.origin.clone(),
                id: file.id.clone(),
                message,
            })?;
            let info = RuleInfo {
                id: file.id.clone(),
                language: file.language,
                severity: file.severity,
                message: file.message.clone(),
                note: file.note.clone(),
                metadata: file.metadata,
                valid: file.valid,
                invalid: file.invalid,
                origin: source.origin.clone(),
                taint: true,
            };
            Ok(Compiled::Taint(Box::new(rule), info))
        }
        Some("taint-sources") => {
            let file: LibraryFile =
                ast_grep_config::from_str(&source.text).map_err(|e| format_error(e.to_string()))?;
            let library = file.compile().map_err(|message| RuleError::Compile {
                origin: source.origin.clone(),
                id: "taint-sources".into(),
                message,
            })?;
            check_language(source, &library.id, file.language())?;
            Ok(Compiled::Library(file.language(), Box::new(library)))
        }
        Some(other) => Err(format_error(format!(
            "unknown `mode: {other}` (expected `taint` or `taint-sources`, or no mode for a pattern rule)"
        ))),
    }
}

fn check_language(source: &RuleSource, id: &str, language: SupportLang) -> Result<(), RuleError> {
    if SUPPORTED_LANGUAGES.contains(&language) {
        Ok(())
    } else {
        Err(RuleError::UnsupportedLanguage {
            origin: source.origin.clone(),
            id: id.to_owned(),
            language: language.to_string(),
        })
    }
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
        taint: false,
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

impl LanguageRules {
    /// Compiles one language's rule files (`sources`, the embedded ones
    /// first, then `embedded_count..` from a user's folder, which add rules
    /// or replace embedded rules of the same id).
    pub(super) fn build(
        language: SupportLang,
        sources: &[RuleSource],
        embedded_count: usize,
    ) -> Result<Self, RuleError> {
        let mut by_id: HashMap<String, (usize, Compiled)> = HashMap::new();
        for (index, source) in sources.iter().enumerate() {
            let compiled = compile_any(source)?;
            let id = compiled.id().to_owned();
            if compiled.language() != language {
                // Rules are built one language at a time, for the languages
                // a change holds: a rule must sit in its language's folder.
                return Err(RuleError::Format {
                    origin: source.origin.clone(),
                    message: format!(
                        "rule `{id}` is for {} but sits in the `{}/` folder",
                        compiled.language(),
                        source.folder
                    ),
                });
            }
            if let Some((previous, _)) = by_id.get(&id) {
                // Same origin twice is a mistake; a run-time file replacing an embedded one is the point.
                let both_embedded = *previous < embedded_count && index < embedded_count;
                let both_override = *previous >= embedded_count && index >= embedded_count;
                if both_embedded || both_override {
                    return Err(RuleError::DuplicateId {
                        id,
                        first: sources[*previous].origin.clone(),
                        second: source.origin.clone(),
                    });
                }
            }
            by_id.insert(id, (index, compiled));
        }
        let mut ordered: Vec<_> = by_id.into_values().collect();
        ordered.sort_by_key(|(index, _)| *index);
        let mut info = HashMap::new();
        let mut configs = Vec::new();
        let mut libraries = Vec::new();
        let mut taint_rules = Vec::new();
        let mut node_checks = HashMap::new();
        for (_, compiled) in ordered {
            match compiled {
                Compiled::Pattern(config, rule_info) => {
                    let checks = prefilter::of_rule(&config.core.rule, &config.core.constraints);
                    node_checks.insert(rule_info.id.clone(), prefilter::Compiled::new(&checks));
                    info.insert(rule_info.id.clone(), rule_info);
                    configs.push(*config);
                }
                Compiled::Taint(rule, rule_info) => {
                    taint_rules.push((rule_info.language, *rule));
                    info.insert(rule_info.id.clone(), rule_info);
                }
                Compiled::Library(language, library) => libraries.push((language, *library)),
            }
        }
        let taint = TaintRules::new(libraries, taint_rules).map_err(RuleError::Collection)?;
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
            taint,
            info,
            prefilter,
            prefiltered_ids,
            node_checks,
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
        self.for_file_with(path, &self.prefilter_passed(text))
    }

    /// As [`Self::for_file`], with the prefilter's answer for the text
    /// ([`Self::present_in`]) already at hand: the search over the whole
    /// file is the costly part, and the taint rules need it too.
    pub fn for_file_with(
        &self,
        path: &str,
        present: &HashSet<&str>,
    ) -> Vec<&RuleConfig<SupportLang>> {
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

    /// The taint rules.
    pub fn taint(&self) -> &TaintRules {
        &self.taint
    }

    /// Whether taint rule `id` runs on `text` (its prefilter passes).
    pub fn taint_rule_runs(&self, id: &str, present: &HashSet<&str>) -> bool {
        self.info(id).is_some_and(|info| {
            info.taint && (info.metadata.prefilter.is_empty() || present.contains(id))
        })
    }

    /// The ids of the prefiltered rules whose literals occur in `text`.
    pub fn present_in(&self, text: &str) -> HashSet<&str> {
        self.prefilter_passed(text)
    }

    /// Pattern rule `id`'s test of a node's text, run before its full
    /// match ([`prefilter`]).
    pub(crate) fn node_checks(&self, id: &str) -> Option<&prefilter::Compiled> {
        self.node_checks.get(id)
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
