//! The SAST rules of every language, each language compiled the first time
//! it is needed.
//!
//! Once the IaC policies and the secret rules' regexes waited for their
//! first use, compiling the SAST rules was most of `hunkscan scan`'s
//! start-up (callgrind on an empty change: 517 M of 617 M instructions),
//! and most changes touch one language: a Python change has no use for the
//! Rust rules. A user's folder (`--rules`) is compiled whole at load, so
//! that its errors show at start-up; the embedded rules are compiled whole
//! by the tests.

use super::SUPPORTED_LANGUAGES;
use super::rules::{LanguageRules, RuleError, RuleInfo};
use crate::rules::{self, RuleSource};
use ast_grep_config::RuleConfig;
use ast_grep_language::{Language, SupportLang};
use std::path::Path;
use std::sync::OnceLock;

/// The SAST rules, by language.
pub struct SastRules {
    languages: Vec<LanguageSlot>,
}

/// One language's rule files and, once built, its compiled rules.
struct LanguageSlot {
    language: SupportLang,
    /// The embedded files first, then the user's.
    sources: Vec<RuleSource>,
    embedded_count: usize,
    built: OnceLock<LanguageRules>,
}

impl LanguageSlot {
    fn rules(&self) -> &LanguageRules {
        self.built.get_or_init(|| {
            // Only the embedded rules are built here (a user's folder was
            // built at load), and the tests build every one of them: a
            // failure is a defect of the binary, not of any input.
            LanguageRules::build(self.language, &self.sources, self.embedded_count)
                .expect("the embedded SAST rules compile")
        })
    }
}

/// The folder of `rules/` that holds a language's rules.
fn language_of_folder(folder: &str) -> Option<SupportLang> {
    match folder {
        "python" => Some(SupportLang::Python),
        "rust" => Some(SupportLang::Rust),
        _ => None,
    }
}

impl SastRules {
    /// The rules embedded in the binary, with `overrides` (a folder laid out
    /// like `rules/`) adding rules or replacing embedded rules of the same
    /// id. Without `overrides` nothing is compiled yet.
    pub fn load(overrides: Option<&Path>) -> Result<Self, RuleError> {
        let embedded = rules::embedded(&rules::SAST_FOLDERS);
        let users = match overrides {
            Some(dir) => rules::from_dir(dir, &rules::SAST_FOLDERS)?,
            None => Vec::new(),
        };
        let mut languages = Vec::new();
        for language in SUPPORTED_LANGUAGES {
            let of_language =
                |source: &&RuleSource| language_of_folder(&source.folder) == Some(language);
            let mut sources: Vec<RuleSource> =
                embedded.iter().filter(of_language).cloned().collect();
            let embedded_count = sources.len();
            sources.extend(users.iter().filter(of_language).cloned());
            let built = OnceLock::new();
            if overrides.is_some() {
                let rules = LanguageRules::build(language, &sources, embedded_count)?;
                // A fresh cell: it cannot hold a value yet.
                let _ = built.set(rules);
            }
            languages.push(LanguageSlot {
                language,
                sources,
                embedded_count,
                built,
            });
        }
        Ok(Self { languages })
    }

    /// The rules of `language`, compiled on the first call (`None`: a
    /// language no rule folder is for).
    pub fn of(&self, language: SupportLang) -> Option<&LanguageRules> {
        self.languages
            .iter()
            .find(|slot| slot.language == language)
            .map(LanguageSlot::rules)
    }

    /// Whether `language`'s rules have been compiled.
    pub fn is_built(&self, language: SupportLang) -> bool {
        self.languages
            .iter()
            .any(|slot| slot.language == language && slot.built.get().is_some())
    }

    /// Every language's rules, compiling those not yet compiled.
    fn all(&self) -> impl Iterator<Item = &LanguageRules> {
        self.languages.iter().map(LanguageSlot::rules)
    }

    /// Every rule's description, sorted by id (compiles every language).
    pub fn infos(&self) -> Vec<&RuleInfo> {
        let mut infos: Vec<_> = self.all().flat_map(LanguageRules::infos).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// The rules that apply to `path` and whose prefilter literals occur
    /// in `text` (see [`LanguageRules::for_file`]).
    pub fn for_file(&self, path: &str, text: &str) -> Vec<&RuleConfig<SupportLang>> {
        SupportLang::from_path(path)
            .and_then(|language| self.of(language))
            .map(|rules| rules.for_file(path, text))
            .unwrap_or_default()
    }

    /// The description of one rule, whatever its language.
    pub fn info(&self, id: &str) -> Option<&RuleInfo> {
        self.all().find_map(|rules| rules.info(id))
    }

    /// The compiled pattern rule with this id, whatever its language.
    pub fn config(&self, id: &str) -> Option<&RuleConfig<SupportLang>> {
        self.all().find_map(|rules| rules.config(id))
    }

    /// True when `text` passes the prefilter of rule `id`.
    pub fn passes_prefilter(&self, id: &str, text: &str) -> bool {
        self.all()
            .find(|rules| rules.info(id).is_some())
            .is_some_and(|rules| rules.passes_prefilter(id, text))
    }

    /// Number of rules, every language's.
    pub fn len(&self) -> usize {
        self.all().map(LanguageRules::len).sum()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::SastRules;
    use ast_grep_language::SupportLang;

    #[test]
    fn each_language_is_compiled_when_first_asked_for() {
        let rules = SastRules::load(None).expect("embedded rules load");
        assert!(!rules.is_built(SupportLang::Python) && !rules.is_built(SupportLang::Rust));
        let python = rules.of(SupportLang::Python).expect("python rules");
        assert!(
            python
                .infos()
                .iter()
                .all(|i| i.language == SupportLang::Python)
        );
        assert!(rules.is_built(SupportLang::Python) && !rules.is_built(SupportLang::Rust));
        let for_rust = rules.for_file("src/main.rs", "fn main() { unsafe {} }");
        assert!(rules.is_built(SupportLang::Rust));
        assert!(
            for_rust
                .iter()
                .all(|rule| rule.language == SupportLang::Rust)
        );
        assert!(rules.of(SupportLang::JavaScript).is_none());
    }

    #[test]
    fn every_embedded_rule_compiles_and_ids_are_unique_across_languages() {
        let rules = SastRules::load(None).expect("embedded rules load");
        let infos = rules.infos();
        let mut ids: Vec<&str> = infos.iter().map(|i| i.id.as_str()).collect();
        let total = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), total, "an id is used in two languages");
        for language in [SupportLang::Python, SupportLang::Rust] {
            assert!(infos.iter().any(|i| i.language == language), "{language:?}");
        }
        assert_eq!(rules.len(), total);
    }

    #[test]
    fn a_users_rule_for_another_language_than_its_folder_is_refused_at_load() {
        let dir = crate::rules::folder_with_rule(
            "python",
            "misplaced.yml",
            "id: rust.misplaced\nlanguage: rust\nseverity: low\nmessage: m\nrule: {pattern: unsafe_fn()}\nmetadata: {cwe: CWE-1, confidence: low}\n",
        );
        let error = SastRules::load(Some(dir.path()))
            .err()
            .expect("refused at load");
        let text = error.to_string();
        assert!(
            text.contains("misplaced.yml") && text.contains("`python/` folder"),
            "{text}"
        );
    }
}
