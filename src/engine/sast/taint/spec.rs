//! The taint rule format, in the spirit of Semgrep's taint mode: sources,
//! sinks, sanitizers (and the functions whose parameters are sources) are
//! ast-grep rule objects, compiled by `ast-grep-config` like every other
//! rule.
//!
//! Two kinds of file, told apart by `mode:`:
//!
//! - `mode: taint` — one rule: its sinks (each with the metavariable whose
//!   value must not be tainted, `focus`), its own sanitizers (`shlex.quote`
//!   clears a shell command, not a SQL query), optional extra sources,
//!   and `valid`/`invalid` examples that `hunkscan rules test` runs.
//! - `mode: taint-sources` — what every taint rule of the language shares:
//!   the sources (with a label and a confidence: `os.environ` is less sure
//!   than a request parameter), the sanitizers that clear every rule
//!   (`int()`), and `parameters`: functions whose parameters are input
//!   (route handlers, Lambda handlers).

use crate::engine::sast::prefilter::{self, Prefilter};
use crate::engine::{Confidence, Severity};
use ast_grep_config::{DeserializeEnv, RuleCore, SerializableRuleCore};
use ast_grep_core::matcher::Matcher;
use ast_grep_language::SupportLang;
use serde::Deserialize;

/// A `mode:` peeked before the file is read as either format.
#[derive(Deserialize)]
pub(crate) struct ModeOnly {
    #[serde(default)]
    pub mode: Option<String>,
}

/// One source as written.
/// ast-grep's rule core, spelled out in each spec: serde cannot refuse
/// unknown keys through a flattened struct, and a typo (`focs:`) must be
/// an error, not a sink that checks everything.
pub(crate) type Constraints =
    Option<std::collections::HashMap<String, ast_grep_config::SerializableRule>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSpec {
    /// What the input is, for messages ("HTTP request data").
    label: String,
    #[serde(default = "high")]
    confidence: Confidence,
    rule: ast_grep_config::SerializableRule,
    #[serde(default)]
    constraints: Constraints,
}

fn high() -> Confidence {
    Confidence::High
}

/// One sink or sanitizer as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkSpec {
    /// Metavariables bound by the rule whose values must not be tainted;
    /// empty: the whole matched node.
    #[serde(default)]
    focus: Vec<String>,
    rule: ast_grep_config::SerializableRule,
    #[serde(default)]
    constraints: Constraints,
}

/// Functions whose parameters are input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParametersSpec {
    label: String,
    #[serde(default = "high")]
    confidence: Confidence,
    /// Only these parameters (by name); empty: all but `self`, `cls` and
    /// `request` (whose data the request sources cover precisely).
    #[serde(default)]
    names: Vec<String>,
    rule: ast_grep_config::SerializableRule,
    #[serde(default)]
    constraints: Constraints,
}

/// A `mode: taint-sources` file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct LibraryFile {
    id: String,
    language: SupportLang,
    #[allow(dead_code)]
    mode: String,
    #[serde(default)]
    sources: Vec<SourceSpec>,
    #[serde(default)]
    sanitizers: Vec<SinkSpec>,
    #[serde(default)]
    parameters: Vec<ParametersSpec>,
}

/// A `mode: taint` rule file; its metadata and examples are read by the
/// SAST loader as for a pattern rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct TaintRuleFile {
    pub id: String,
    pub language: SupportLang,
    #[allow(dead_code)]
    mode: String,
    pub severity: Severity,
    pub message: String,
    #[serde(default)]
    pub note: Option<String>,
    pub metadata: crate::engine::sast::RuleMetadata,
    #[serde(default)]
    sources: Vec<SourceSpec>,
    sinks: Vec<SinkSpec>,
    #[serde(default)]
    sanitizers: Vec<SinkSpec>,
    /// Only the rule's own sources (weak randomness is not request data).
    #[serde(default)]
    own_sources_only: bool,
    #[serde(default)]
    pub valid: Vec<String>,
    #[serde(default)]
    pub invalid: Vec<String>,
}

/// A compiled source.
pub struct Source {
    pub(crate) label: String,
    pub(crate) confidence: Confidence,
    pub(crate) matcher: RuleCore,
    pub(crate) prefilter: Prefilter,
}

/// A compiled sink or sanitizer.
pub struct Sink {
    pub(crate) focus: Vec<String>,
    pub(crate) matcher: RuleCore,
    pub(crate) prefilter: Prefilter,
}

/// Compiled function-parameter sources.
pub struct Parameters {
    pub(crate) label: String,
    pub(crate) confidence: Confidence,
    pub(crate) names: Vec<String>,
    pub(crate) matcher: RuleCore,
}

/// One compiled taint rule.
pub struct TaintRule {
    pub(crate) id: String,
    pub(crate) message: String,
    pub(crate) sources: Vec<Source>,
    pub(crate) sinks: Vec<Sink>,
    pub(crate) sanitizers: Vec<Sink>,
    pub(crate) own_sources_only: bool,
}

/// A compiled `taint-sources` file.
#[derive(Default)]
pub struct Library {
    pub(crate) id: String,
    pub(crate) sources: Vec<Source>,
    pub(crate) sanitizers: Vec<Sink>,
    pub(crate) parameters: Vec<Parameters>,
}

fn matcher(
    rule: &ast_grep_config::SerializableRule,
    constraints: &Constraints,
    language: SupportLang,
    what: &str,
) -> Result<RuleCore, String> {
    let core = SerializableRuleCore {
        rule: rule.clone(),
        constraints: constraints.clone(),
        utils: None,
        transform: None,
    };
    let matcher = core
        .get_matcher(DeserializeEnv::new(language))
        .map_err(|e| format!("{what}: {}", crate::engine::sast::rules::error_chain(&e)))?;
    if matcher.potential_kinds().is_none() {
        // The engine looks sources and sinks up by node kind.
        return Err(format!(
            "{what}: the rule names no node kind (give it a `pattern` or `kind`)"
        ));
    }
    Ok(matcher)
}

fn sources(specs: &[SourceSpec], language: SupportLang) -> Result<Vec<Source>, String> {
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            Ok(Source {
                label: spec.label.clone(),
                confidence: spec.confidence,
                matcher: matcher(
                    &spec.rule,
                    &spec.constraints,
                    language,
                    &format!("sources[{index}]"),
                )?,
                prefilter: prefilter::of_rule(&spec.rule, &spec.constraints),
            })
        })
        .collect()
}

fn sinks(specs: &[SinkSpec], language: SupportLang, what: &str) -> Result<Vec<Sink>, String> {
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let matcher = matcher(
                &spec.rule,
                &spec.constraints,
                language,
                &format!("{what}[{index}]"),
            )?;
            let defined = matcher.defined_vars();
            if let Some(missing) = spec.focus.iter().find(|v| !defined.contains(v.as_str())) {
                return Err(format!(
                    "{what}[{index}]: focus `{missing}` is not a metavariable of the rule"
                ));
            }
            Ok(Sink {
                focus: spec.focus.clone(),
                matcher,
                prefilter: prefilter::of_rule(&spec.rule, &spec.constraints),
            })
        })
        .collect()
}

impl TaintRuleFile {
    /// The compiled rule, or what is wrong with it.
    pub(crate) fn compile(&self) -> Result<TaintRule, String> {
        if self.sinks.is_empty() {
            return Err("a taint rule needs at least one sink".into());
        }
        Ok(TaintRule {
            id: self.id.clone(),
            message: self.message.clone(),
            sources: sources(&self.sources, self.language)?,
            sinks: sinks(&self.sinks, self.language, "sinks")?,
            sanitizers: sinks(&self.sanitizers, self.language, "sanitizers")?,
            own_sources_only: self.own_sources_only,
        })
    }
}

impl LibraryFile {
    /// The language it is for.
    pub(crate) fn language(&self) -> SupportLang {
        self.language
    }

    /// The compiled library, or what is wrong with it.
    pub(crate) fn compile(&self) -> Result<Library, String> {
        let parameters = self
            .parameters
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                Ok(Parameters {
                    label: spec.label.clone(),
                    confidence: spec.confidence,
                    names: spec.names.clone(),
                    matcher: matcher(
                        &spec.rule,
                        &spec.constraints,
                        self.language,
                        &format!("parameters[{index}]"),
                    )?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Library {
            id: self.id.clone(),
            sources: sources(&self.sources, self.language)?,
            sanitizers: sinks(&self.sanitizers, self.language, "sanitizers")?,
            parameters,
        })
    }
}
