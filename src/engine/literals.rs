//! Literal prefilters shared by the analyzers: many owners (rules) each name
//! literals, all literals go into one Aho-Corasick automaton, and one pass
//! over a text tells which owners had at least one of their literals in it.
//! SAST rules use it per file, secret rules per line.
//!
//! A literal may start and/or end with `\b`, as in a regex: that side must
//! then be a word boundary (no letter, digit or `_` next to the match), so
//! `\bexec\b` finds `exec(code)` but not `cursor.execute(sql)`. A name that
//! is also the start of a common longer one would otherwise let its rule run
//! on almost every file.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use std::collections::HashMap;

/// The `\b` marker of a word-boundary side.
const WORD_BOUNDARY: &str = r"\b";

/// One distinct literal: its text and which sides must be word boundaries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Literal {
    text: String,
    boundary_before: bool,
    boundary_after: bool,
}

impl Literal {
    fn parse(literal: &str, ascii_case_insensitive: bool) -> Self {
        let (boundary_before, rest) = match literal.strip_prefix(WORD_BOUNDARY) {
            Some(rest) => (true, rest),
            None => (false, literal),
        };
        let (boundary_after, text) = match rest.strip_suffix(WORD_BOUNDARY) {
            Some(text) => (true, text),
            None => (false, rest),
        };
        let text = if ascii_case_insensitive {
            text.to_ascii_lowercase()
        } else {
            text.to_owned()
        };
        Self {
            text,
            boundary_before,
            boundary_after,
        }
    }

    /// True when the hit at `start..end` of `text` has the boundaries asked for.
    fn boundaries_hold(&self, text: &[u8], start: usize, end: usize) -> bool {
        let is_word = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'_';
        let before_ok = !self.boundary_before
            || start
                .checked_sub(1)
                .and_then(|i| text.get(i))
                .is_none_or(|b| !is_word(b));
        let after_ok = !self.boundary_after || text.get(end).is_none_or(|b| !is_word(b));
        before_ok && after_ok
    }
}

/// Which owners each literal belongs to, behind one automaton.
pub struct LiteralIndex {
    automaton: AhoCorasick,
    /// Pattern index ─▶ the literal (for its boundaries).
    literals: Vec<Literal>,
    /// Pattern index ─▶ owner indices, each listed once.
    owners: Vec<Vec<usize>>,
}

impl LiteralIndex {
    /// Indexes `(owner, literal)` pairs. Empty literals are ignored. With
    /// `ascii_case_insensitive`, literals differing only in ASCII case are one.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (usize, &'a str)>,
        ascii_case_insensitive: bool,
    ) -> Result<Self, aho_corasick::BuildError> {
        let mut literals: Vec<Literal> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        let mut slot_of: HashMap<Literal, usize> = HashMap::new();
        for (owner, literal) in entries {
            let literal = Literal::parse(literal, ascii_case_insensitive);
            if literal.text.is_empty() {
                continue;
            }
            let slot = *slot_of.entry(literal.clone()).or_insert_with(|| {
                literals.push(literal);
                owners.push(Vec::new());
                owners.len() - 1
            });
            if !owners[slot].contains(&owner) {
                owners[slot].push(owner);
            }
        }
        // A DFA: built once per rule set, then run over every file (SAST) or
        // every added line (secrets); the builder's default for a few hundred
        // literals is an NFA, which perf showed at 4 % of a Python scan.
        let automaton = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(ascii_case_insensitive)
            .build(literals.iter().map(|literal| &literal.text))?;
        Ok(Self {
            automaton,
            literals,
            owners,
        })
    }

    /// Calls `found` with every owner one of whose literals occurs in `text`
    /// (an owner may be reported more than once).
    pub fn owners_in(&self, text: &str, mut found: impl FnMut(usize)) {
        let bytes = text.as_bytes();
        for hit in self.automaton.find_overlapping_iter(text) {
            let pattern = hit.pattern().as_usize();
            if self.literals[pattern].boundaries_hold(bytes, hit.start(), hit.end()) {
                self.owners[pattern].iter().for_each(|&owner| found(owner));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(index: &LiteralIndex, text: &str) -> Vec<usize> {
        let mut found = Vec::new();
        index.owners_in(text, |owner| found.push(owner));
        found.sort_unstable();
        found.dedup();
        found
    }

    #[test]
    fn plain_literals_match_anywhere() {
        let index = LiteralIndex::new([(0, "exec"), (1, "yaml")], false).expect("builds");
        assert_eq!(owners(&index, "cursor.execute(sql)"), vec![0]);
        assert_eq!(owners(&index, "import yaml"), vec![1]);
        assert_eq!(owners(&index, "nothing here"), Vec::<usize>::new());
    }

    #[test]
    fn word_boundaries_refuse_longer_names() {
        let index = LiteralIndex::new([(0, r"\bexec\b"), (1, r"\beval")], false).expect("builds");
        assert_eq!(owners(&index, "cursor.execute(sql)"), Vec::<usize>::new());
        assert_eq!(owners(&index, "ast.literal_eval(s)"), Vec::<usize>::new());
        assert_eq!(owners(&index, "ThreadPoolExecutor()"), Vec::<usize>::new());
        assert_eq!(owners(&index, "exec(code)"), vec![0]);
        assert_eq!(owners(&index, "x = builtins.exec"), vec![0]);
        assert_eq!(owners(&index, "evaluate(x)"), vec![1]);
        // One literal may hit many times; a later hit with boundaries counts.
        assert_eq!(owners(&index, "executor; exec (c)"), vec![0]);
    }

    #[test]
    fn the_same_text_with_and_without_boundaries_are_two_literals() {
        let index = LiteralIndex::new([(0, r"\bexec\b"), (1, "exec")], false).expect("builds");
        assert_eq!(owners(&index, "execute()"), vec![1]);
        assert_eq!(owners(&index, "exec()"), vec![0, 1]);
    }

    #[test]
    fn case_insensitive_literals_keep_their_boundaries() {
        let index = LiteralIndex::new([(0, r"\bToken\b")], true).expect("builds");
        assert_eq!(owners(&index, "TOKEN = 1"), vec![0]);
        assert_eq!(owners(&index, "TOKENS = 1"), Vec::<usize>::new());
    }
}
