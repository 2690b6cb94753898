//! Literal prefilters shared by the analyzers: many owners (rules) each name
//! literals, all literals go into one Aho-Corasick automaton, and one pass
//! over a text tells which owners had at least one of their literals in it.
//! SAST rules use it per file, secret rules per line.

use aho_corasick::AhoCorasick;
use std::collections::HashMap;

/// Which owners each literal belongs to, behind one automaton.
pub struct LiteralIndex {
    automaton: AhoCorasick,
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
        let mut literals: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        for (owner, literal) in entries.into_iter().filter(|(_, l)| !l.is_empty()) {
            let key = if ascii_case_insensitive {
                literal.to_ascii_lowercase()
            } else {
                literal.to_owned()
            };
            let slot = *slot_of.entry(key.clone()).or_insert_with(|| {
                literals.push(key);
                owners.push(Vec::new());
                owners.len() - 1
            });
            if !owners[slot].contains(&owner) {
                owners[slot].push(owner);
            }
        }
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(ascii_case_insensitive)
            .build(&literals)?;
        Ok(Self { automaton, owners })
    }

    /// Calls `found` with every owner one of whose literals occurs in `text`
    /// (an owner may be reported more than once).
    pub fn owners_in(&self, text: &str, mut found: impl FnMut(usize)) {
        for hit in self.automaton.find_overlapping_iter(text) {
            self.owners[hit.pattern().as_usize()]
                .iter()
                .for_each(|&owner| found(owner));
        }
    }
}
