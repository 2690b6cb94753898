//! Cheap necessary conditions on a node's text, read off each rule (pattern
//! rules, and taint sources, sinks and sanitizers) and checked for a node's
//! candidate rules before any of them is matched in full.
//!
//! Most taint rules are calls told apart by their callee's text:
//! `$F($X $$$)` with `F: {regex: ^os\.system$}`, `has: {field: function,
//! regex: …}`, `$R.set_cookie(…)`, `$T.$M(…)` with a regex on `M`. Matched
//! one by one, every call of a file that imports os, subprocess, requests
//! and flask met dozens of them, and `sinks_at` was a quarter of a Python
//! scan. Here each rule's condition is a regex over one short text of the
//! node (its own text, its callee's, the callee's last name), read once per
//! node, so the few rules that can match are the only ones matched. A rule
//! whose shape says nothing about the text is always a candidate: a
//! prefilter only ever removes rules that cannot match.

use ast_grep_config::SerializableRule;
use ast_grep_core::Node;
use ast_grep_core::matcher::Matcher;
use ast_grep_core::tree_sitter::StrDoc;
use ast_grep_language::SupportLang;
use regex::Regex;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// A rule's `constraints`.
pub type Constraints = Option<HashMap<String, SerializableRule>>;

/// Which text of a node a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// The node's own text (`kind: attribute, regex: …`).
    Own,
    /// Its `function` field: a call's callee (`os.path.join`).
    Callee,
    /// The last name of its callee (`join`; `new` of `Command::new`).
    LastName,
}

const TEXTS: [Text; 3] = [Text::Own, Text::Callee, Text::LastName];

/// A regex a node's `on` text must match for the rule to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The text read.
    pub on: Text,
    /// The regex (the `regex` crate's syntax, as ast-grep's).
    pub regex: String,
}

/// The checks of one rule, of which a matching node passes at least one;
/// `None`: the rule's shape tells nothing, it is always tried.
pub type Prefilter = Option<Vec<Check>>;

/// The prefilter of a rule with its `constraints`.
///
/// The rule is read in its serialised form: ast-grep-config keeps the
/// types of a rule's parts (`Maybe`, `PatternStyle`, `Relation`) private.
pub fn of_rule(rule: &SerializableRule, constraints: &Constraints) -> Prefilter {
    let rule = serde_json::to_value(rule).ok()?;
    let constraints = constraints
        .as_ref()
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or(Value::Null);
    of_value(rule.as_object()?, &constraints)
}

fn of_value(rule: &Map<String, Value>, constraints: &Value) -> Prefilter {
    // The fields of one rule object must all hold: any of them that gives
    // checks is a necessary condition.
    if let Some(Value::String(pattern)) = rule.get("pattern")
        && let Some(checks) = of_pattern(pattern, constraints)
    {
        return Some(checks);
    }
    if let Some(Value::Object(has)) = rule.get("has")
        && has.get("field").and_then(Value::as_str) == Some("function")
        && has
            .get("stopBy")
            .is_none_or(|stop| stop.as_str() == Some("neighbor"))
    {
        let mut inner = has.clone();
        inner.remove("field");
        inner.remove("stopBy");
        if let Some(regex) = regex_only(&inner) {
            return Some(vec![Check {
                on: Text::Callee,
                regex,
            }]);
        }
    }
    if let Some(Value::String(regex)) = rule.get("regex") {
        return Some(vec![Check {
            on: Text::Own,
            regex: regex.clone(),
        }]);
    }
    if let Some(Value::Array(all)) = rule.get("all")
        && let Some(checks) = all
            .iter()
            .filter_map(Value::as_object)
            .find_map(|r| of_value(r, constraints))
    {
        return Some(checks);
    }
    if let Some(Value::Array(any)) = rule.get("any") {
        // Every alternative must say something, or the union says nothing.
        let mut checks = Vec::new();
        for alternative in any {
            checks.extend(of_value(alternative.as_object()?, constraints)?);
        }
        return (!checks.is_empty()).then_some(checks);
    }
    None
}

/// The regex of a rule that is a `regex` and nothing else.
fn regex_only(rule: &Map<String, Value>) -> Option<String> {
    match (rule.len(), rule.get("regex")) {
        (1, Some(Value::String(regex))) => Some(regex.clone()),
        _ => None,
    }
}

/// Checks from a call pattern: `$F(…)` with a regex constraint on `F`,
/// `$T.$M(…)` / `$T::$M(…)` with one on `M`, or a literal last name
/// (`$R.set_cookie(…)`, `yaml.load(…)`, `Command::new(…)`).
fn of_pattern(pattern: &str, constraints: &Value) -> Option<Vec<Check>> {
    let callee = callee_of_call_pattern(pattern.trim())?;
    let constraint = |name: &str| -> Option<String> {
        regex_only(constraints.get(name.strip_prefix('$')?)?.as_object()?)
    };
    if is_metavariable(callee) {
        return Some(vec![Check {
            on: Text::Callee,
            regex: constraint(callee)?,
        }]);
    }
    let last = callee
        .rsplit(['.', ':'])
        .next()
        .filter(|last| !last.is_empty())?;
    if is_metavariable(last) {
        return Some(vec![Check {
            on: Text::LastName,
            regex: constraint(last)?,
        }]);
    }
    let identifier = last
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && last.chars().all(|c| c.is_alphanumeric() || c == '_');
    identifier.then(|| {
        vec![Check {
            on: Text::LastName,
            regex: format!("^{}$", regex::escape(last)),
        }]
    })
}

/// `$NAME`, a single-node metavariable (not `$$$`, not `$_`-less text).
fn is_metavariable(text: &str) -> bool {
    text.strip_prefix('$').is_some_and(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// The callee of a pattern that is one call, `callee(arguments)` with the
/// callee a dotted or `::` path of names: the text before the first
/// parenthesis, when that parenthesis closes at the pattern's end.
fn callee_of_call_pattern(pattern: &str) -> Option<&str> {
    let open = pattern.find('(')?;
    let callee = pattern[..open].trim_end();
    let path_like = !callee.is_empty()
        && callee
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.' | ':'));
    if !path_like || !pattern.ends_with(')') {
        return None;
    }
    // The first `(` must close at the end: `a($X).b($Y)` is a call of `.b`.
    let mut depth = 0usize;
    for (at, c) in pattern.char_indices().skip_while(|(at, _)| *at < open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return (at == pattern.len() - 1).then_some(callee);
                }
            }
            _ => {}
        }
    }
    None
}

/// The texts of `node` the checks read.
fn text_of<'r>(node: &Node<'r, StrDoc<SupportLang>>, on: Text) -> Option<Cow<'r, str>> {
    let fields = crate::engine::sast::fields::of(*node.lang());
    // By id where the language's table is known (no search by name).
    let field = |node: &Node<'r, StrDoc<SupportLang>>, name: &str| match fields {
        Some(fields) => node.child_by_field_id(fields.id(name)?),
        None => node.field(name),
    };
    match on {
        Text::Own => Some(node.text()),
        Text::Callee => Some(field(node, "function")?.text()),
        Text::LastName => {
            let mut name = field(node, "function")?;
            // Python `a.b`, Rust `a.b`, `a::b`, `a::b::<T>`.
            loop {
                let next = match name.kind().as_ref() {
                    "attribute" => field(&name, "attribute"),
                    "field_expression" => field(&name, "field"),
                    "scoped_identifier" => field(&name, "name"),
                    "generic_function" => field(&name, "function"),
                    _ => None,
                };
                match next {
                    Some(next) => name = next,
                    None => break,
                }
            }
            Some(name.text())
        }
    }
}

/// The texts of one node the checks read, each read at most once.
pub struct NodeTexts<'n, 'r> {
    node: &'n Node<'r, StrDoc<SupportLang>>,
    texts: [Option<Option<Cow<'r, str>>>; 3],
}

impl<'n, 'r> NodeTexts<'n, 'r> {
    /// Nothing read yet.
    pub fn new(node: &'n Node<'r, StrDoc<SupportLang>>) -> Self {
        NodeTexts {
            node,
            texts: Default::default(),
        }
    }

    /// Whether `regex` matches text `on` (`false` when the node has no
    /// such text: no callee, no rule that needs one matches).
    fn matches(&mut self, on: Text, regex: &Regex) -> bool {
        let node = self.node;
        self.texts[position(on)]
            .get_or_insert_with(|| text_of(node, on))
            .as_deref()
            .is_some_and(|text| regex.is_match(text))
    }
}

/// One rule's checks, compiled: a node passes when any of them holds.
#[derive(Debug, Default)]
pub struct Compiled {
    checks: Vec<(Text, Regex)>,
}

impl Compiled {
    /// The checks of `prefilter`; none (every node passes) when there are
    /// none or one does not compile (it cannot: ast-grep compiled the same
    /// regex with the same crate).
    pub fn new(prefilter: &Prefilter) -> Compiled {
        let checks = prefilter
            .iter()
            .flatten()
            .map(|check| Regex::new(&check.regex).map(|regex| (check.on, regex)))
            .collect::<Result<Vec<_>, _>>();
        match checks {
            Ok(checks) => Compiled { checks },
            Err(error) => {
                tracing::warn!(%error, "rule prefilter not built; rule tried in full");
                Compiled::default()
            }
        }
    }

    /// Whether there is no check (every node passes).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Whether the rule may match the node of `texts`.
    pub fn admits(&self, texts: &mut NodeTexts<'_, '_>) -> bool {
        self.checks.is_empty()
            || self
                .checks
                .iter()
                .any(|(on, regex)| texts.matches(*on, regex))
    }
}

/// The candidates of one node kind.
struct Kind<T> {
    /// Each candidate with its checks (indices into `checks`); no checks:
    /// always tried.
    entries: Vec<(T, Vec<usize>)>,
    /// The distinct checks of the kind's candidates, compiled.
    checks: Vec<(Text, String, Option<Regex>)>,
}

impl<T> Default for Kind<T> {
    fn default() -> Self {
        Kind {
            entries: Vec::new(),
            checks: Vec::new(),
        }
    }
}

/// Rules by the node kinds they can match, with their prefilters.
///
/// Each check is its own [`Regex`], not one `RegexSet` per text: most are
/// anchored (`^os\.system$`, `\.recv$`), which a lone regex decides from
/// one end of the text, while a set mixing them scans all of it. On a
/// 3,000-call builder chain, where each callee's text holds the whole chain
/// below it, the set made the pass quadratic.
pub struct ByKind<T> {
    kinds: Vec<Kind<T>>,
}

impl<T> Default for ByKind<T> {
    fn default() -> Self {
        ByKind { kinds: Vec::new() }
    }
}

impl<T: Copy> ByKind<T> {
    /// Files `entry` under each kind `matcher` can match.
    pub fn add(&mut self, matcher: &impl Matcher, prefilter: &Prefilter, entry: T) {
        for kind in matcher.potential_kinds().iter().flatten() {
            if self.kinds.len() <= kind {
                self.kinds.resize_with(kind + 1, Kind::default);
            }
            let slot = &mut self.kinds[kind];
            let checks = prefilter
                .iter()
                .flatten()
                .map(|check| {
                    let known = slot
                        .checks
                        .iter()
                        .position(|(on, regex, _)| *on == check.on && *regex == check.regex);
                    known.unwrap_or_else(|| {
                        slot.checks.push((check.on, check.regex.clone(), None));
                        slot.checks.len() - 1
                    })
                })
                .collect();
            slot.entries.push((entry, checks));
        }
    }

    /// Compiles the checks; call once every entry is added. A check that
    /// does not compile (it cannot: ast-grep compiled the same regex with
    /// the same crate) passes every node rather than losing its rule.
    pub fn finish(&mut self) {
        for kind in &mut self.kinds {
            for (_, text, compiled) in &mut kind.checks {
                match Regex::new(text) {
                    Ok(regex) => *compiled = Some(regex),
                    Err(error) => {
                        tracing::warn!(%error, "taint prefilter not built; rule tried in full")
                    }
                }
            }
        }
    }

    /// Every entry filed under `kind`, prefilter or not (to test that the
    /// prefilter never drops one that matches).
    #[cfg(test)]
    pub fn all(&self, kind: u16) -> Vec<T> {
        self.kinds
            .get(usize::from(kind))
            .map(|k| k.entries.iter().map(|(entry, _)| *entry).collect())
            .unwrap_or_default()
    }

    /// Whether any rule is filed under `kind`.
    pub fn has_kind(&self, kind: u16) -> bool {
        self.kinds
            .get(usize::from(kind))
            .is_some_and(|k| !k.entries.is_empty())
    }

    /// The entries that may match `node`, in the order they were added.
    pub fn candidates(&self, node: &Node<'_, StrDoc<SupportLang>>) -> Vec<T> {
        let Some(kind) = self.kinds.get(usize::from(node.kind_id())) else {
            return Vec::new();
        };
        // Each text is read, and each check run, at most once per node.
        let mut texts: [Option<Option<Cow<'_, str>>>; 3] = Default::default();
        // Bit `at` of `known`: check `at` was run; of `held`: it passed
        // (checks past 128 are run each time they are asked).
        let (mut known, mut held) = (0u128, 0u128);
        let mut passes = |at: usize| -> bool {
            let bit = u32::try_from(at).ok().and_then(|at| 1u128.checked_shl(at));
            if let Some(bit) = bit
                && known & bit != 0
            {
                return held & bit != 0;
            }
            let (on, _, compiled) = &kind.checks[at];
            let result = match compiled {
                None => true,
                Some(regex) => {
                    let text = texts[position(*on)].get_or_insert_with(|| text_of(node, *on));
                    // No such text (no callee): no regex on it matches.
                    text.as_deref().is_some_and(|text| regex.is_match(text))
                }
            };
            if let Some(bit) = bit {
                known |= bit;
                if result {
                    held |= bit;
                }
            }
            result
        };
        kind.entries
            .iter()
            .filter(|(_, checks)| checks.is_empty() || checks.iter().any(|&at| passes(at)))
            .map(|(entry, _)| *entry)
            .collect()
    }
}

fn position(text: Text) -> usize {
    TEXTS.iter().position(|t| *t == text).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> (SerializableRule, Constraints) {
        #[derive(serde::Deserialize)]
        struct Spec {
            rule: SerializableRule,
            #[serde(default)]
            constraints: Constraints,
        }
        let spec: Spec = ast_grep_config::from_str(yaml).expect("yaml");
        (spec.rule, spec.constraints)
    }

    fn checks(yaml: &str) -> Prefilter {
        let (rule, constraints) = rule(yaml);
        of_rule(&rule, &constraints)
    }

    /// Every example of every shipped pattern rule, in its canonical form
    /// as scans see it: a node the rule matches in full is always admitted,
    /// and the checks do turn most candidates away.
    #[test]
    fn pattern_rule_checks_admit_every_match_in_the_rule_examples() {
        use crate::engine::sast::{
            DEFAULT_PARSE_TIMEOUT, SastRules, imports, parse, reparse_canonical,
        };
        use ast_grep_core::matcher::MatcherExt;
        let rules = SastRules::load(None).expect("embedded rules load");
        let (mut admitted, mut turned_away, mut examples) = (0usize, 0usize, 0usize);
        for info in rules.infos().into_iter().filter(|info| !info.taint) {
            let language_rules = rules.of(info.language).expect("a rule's language");
            let (Some(config), Some(checks)) = (
                language_rules.config(&info.id),
                language_rules.node_checks(&info.id),
            ) else {
                continue;
            };
            let kinds: Vec<usize> = config.matcher.potential_kinds().iter().flatten().collect();
            for example in info.valid.iter().chain(&info.invalid) {
                let Ok(parsed) = parse(example, info.language, DEFAULT_PARSE_TIMEOUT) else {
                    continue;
                };
                let root = match imports::canonicalise(&parsed, info.language) {
                    Some(canonical) => {
                        reparse_canonical(&parsed, &canonical, DEFAULT_PARSE_TIMEOUT)
                            .expect("canonical text parses")
                    }
                    None => parsed,
                };
                examples += 1;
                for node in root.root().dfs() {
                    if !kinds.contains(&usize::from(node.kind_id())) {
                        continue;
                    }
                    if checks.admits(&mut NodeTexts::new(&node)) {
                        admitted += 1;
                    } else {
                        turned_away += 1;
                        assert!(
                            config.matcher.match_node(node.clone()).is_none(),
                            "{}: its checks turned away a node it matches: `{}`\n{example}",
                            info.id,
                            node.text()
                        );
                    }
                }
            }
        }
        assert!(examples > 300, "only {examples} examples were read");
        // Examples are small and aimed at their rule, so most candidate
        // nodes there are worth matching; a scan's files are not.
        assert!(
            turned_away * 4 > admitted,
            "checks admitted {admitted} candidate nodes and turned away {turned_away}"
        );
        let pattern_rules: Vec<_> = rules.infos().into_iter().filter(|i| !i.taint).collect();
        let with_checks = pattern_rules
            .iter()
            .filter(|i| {
                rules
                    .of(i.language)
                    .and_then(|language_rules| language_rules.node_checks(&i.id))
                    .is_some_and(|c| !c.is_empty())
            })
            .count();
        assert!(
            with_checks * 3 > pattern_rules.len(),
            "{with_checks} of {} pattern rules have checks",
            pattern_rules.len()
        );
    }

    #[test]
    fn a_callee_constraint_becomes_a_callee_check() {
        let found =
            checks("rule: {pattern: '$F($X $$$)'}\nconstraints: {F: {regex: '^os\\.system$'}}");
        assert_eq!(
            found,
            Some(vec![Check {
                on: Text::Callee,
                regex: "^os\\.system$".into()
            }])
        );
    }

    #[test]
    fn a_method_name_becomes_a_last_name_check() {
        let literal = checks("rule: {pattern: '$R.set_cookie($K, $V $$$)'}");
        assert_eq!(
            literal.map(|c| c[0].clone()).map(|c| (c.on, c.regex)),
            Some((Text::LastName, "^set_cookie$".into()))
        );
        let constrained = checks(
            "rule: {pattern: '$T.$M($Q $$$)'}\nconstraints: {M: {regex: '^(execute|executemany)$'}}",
        );
        assert_eq!(constrained.map(|c| c[0].on), Some(Text::LastName));
        let rust = checks("rule: {pattern: 'Command::new($X)'}");
        assert_eq!(rust.map(|c| c[0].regex.clone()), Some("^new$".into()));
    }

    #[test]
    fn shapes_that_say_nothing_give_no_prefilter() {
        for yaml in [
            "rule: {pattern: '$F($X)'}",
            "rule: {pattern: '$S[$K] = $V'}",
            "rule: {pattern: 'f($X).g($Y)'}",
            "rule: {kind: return_statement}",
            "rule: {any: [{pattern: 'os.system($X)'}, {kind: call}]}",
            "rule: {pattern: '$F($X)'}\nconstraints: {F: {regex: 'x', kind: identifier}}",
        ] {
            assert_eq!(checks(yaml), None, "{yaml}");
        }
    }

    #[test]
    fn conjunctions_use_a_member_and_alternatives_all_of_theirs() {
        let all = checks(
            "rule: {kind: call, all: [{has: {field: function, regex: '^run$'}}, {pattern: '$F($X $$$)'}]}",
        );
        assert_eq!(all.map(|c| (c.len(), c[0].on)), Some((1, Text::Callee)));
        let any = checks(
            "rule: {any: [{kind: attribute, regex: '^os\\.environ$'}, {kind: call, has: {field: function, regex: '^os\\.getenv$'}}]}",
        );
        assert_eq!(
            any.map(|c| c.iter().map(|c| c.on).collect::<Vec<_>>()),
            Some(vec![Text::Own, Text::Callee])
        );
        let deep = checks("rule: {has: {field: function, regex: 'x', stopBy: end}}");
        assert_eq!(deep, None, "a descendant anywhere is not the callee");
    }
}
