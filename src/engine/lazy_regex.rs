//! Regexes whose syntax is checked at load and whose automaton is built on
//! first use.
//!
//! `hunkscan scan` loads about a thousand regexes (IaC policies, secret
//! rules, SAST rules) before it reads a file, and on an empty change
//! building them was over half of the process's instructions (callgrind:
//! `Regex::new` 54 %, almost all of it the Thompson NFA compiler). Most of
//! them never run on a given change: a Python change has no Terraform, and
//! a secret rule's regex runs only on lines holding one of its keywords.
//! Parsing a pattern is a small part of that cost, so loading still refuses
//! a pattern that does not parse, naming its file, and the automaton waits
//! until a search needs it. Rules a user loads from a folder are built at
//! load ([`LazyRegex::force`]), so that a pattern too big to compile is an
//! error at start-up there as well; the embedded ones are all built by the
//! tests.
//!
//! Written here because `once_cell`/`LazyLock` hold one value per static,
//! not one per rule loaded at run time, and no crate defers `regex`'s build
//! while keeping its syntax check eager.

use regex::Regex;
use std::fmt;
use std::sync::OnceLock;

/// A regex that is built the first time it is used.
#[derive(Clone)]
pub struct LazyRegex {
    pattern: Box<str>,
    /// The build's outcome, the error as text (`regex::Error` is not `Clone`).
    built: OnceLock<Result<Regex, String>>,
}

impl LazyRegex {
    /// Checks `pattern`'s syntax with the parser `regex` itself uses (same
    /// defaults: Unicode, nesting limit) and defers the build.
    pub fn new(pattern: &str) -> Result<Self, String> {
        regex_syntax::Parser::new()
            .parse(pattern)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            pattern: pattern.into(),
            built: OnceLock::new(),
        })
    }

    /// Builds the automaton now, if it was not yet: the error a pattern that
    /// parses can still give (one whose automaton passes `regex`'s size
    /// limit).
    pub fn force(&self) -> Result<&Regex, &str> {
        self.built
            .get_or_init(|| Regex::new(&self.pattern).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(String::as_str)
    }

    /// The regex, built on the first call; `None` when it cannot be built.
    /// Rules that reach a search were built at load or by the tests, so
    /// `None` is logged once, not expected.
    pub fn get(&self) -> Option<&Regex> {
        let first = self.built.get().is_none();
        match self.force() {
            Ok(regex) => Some(regex),
            Err(error) => {
                if first {
                    tracing::warn!(pattern_bytes = self.pattern.len(), %error, "a rule's regex cannot be built; it matches nothing");
                }
                None
            }
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the automaton has been built (for tests of the laziness).
    pub fn is_built(&self) -> bool {
        self.built.get().is_some()
    }
}

impl fmt::Debug for LazyRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LazyRegex").field(&self.pattern).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::LazyRegex;

    #[test]
    fn a_pattern_that_does_not_parse_is_refused_at_once_with_regexs_message() {
        // Through a variable: clippy checks regex literals at compile time.
        let unclosed = String::from("(unclosed");
        let error = LazyRegex::new(&unclosed).expect_err("syntax error");
        let regex_error = regex::Regex::new(&unclosed).expect_err("syntax error");
        assert_eq!(error, regex_error.to_string());
    }

    #[test]
    fn the_automaton_is_built_on_first_use_only() {
        let regex = LazyRegex::new(r"AKIA[0-9A-Z]{16}").expect("parses");
        assert!(!regex.is_built());
        assert!(
            regex
                .get()
                .is_some_and(|r| r.is_match("AKIAABCDEFGHIJKLMNOP"))
        );
        assert!(regex.is_built());
        assert_eq!(regex.as_str(), r"AKIA[0-9A-Z]{16}");
    }

    #[test]
    fn a_pattern_too_big_to_build_parses_but_fails_when_forced() {
        // Parses, but its automaton is far past regex's default size limit.
        let regex = LazyRegex::new(r"\w{1000}\w{1000}\w{1000}").expect("parses");
        let error = regex.force().expect_err("too big");
        assert!(error.contains("size limit"), "{error}");
        assert!(regex.get().is_none());
    }
}
