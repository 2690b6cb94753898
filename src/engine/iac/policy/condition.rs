//! The condition language of IaC policies: paths, a handful of tests,
//! `all`/`any`/`not`, and `each` to tie several tests to one list item.
//!
//! A path walks lists by itself: `ingress.cidr_blocks` reaches every CIDR
//! of every ingress block. Values the file only knows at run time
//! (`var.cidr`, `${{ inputs.x }}`, `$VAR`) never equal a literal, so they
//! cannot be misread as a problem. Every match carries its evidence: the
//! concrete path and node of each test that held.

use crate::engine::iac::model::{Node, Scalar, Value, resolve};
use crate::engine::lazy_regex::LazyRegex;
use serde::Deserialize;

/// A literal in a condition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Lit {
    /// `true` / `false`; also equals the strings "true"/"false" (any case),
    /// as Terraform converts them.
    Bool(bool),
    /// A number; also equals a string holding it.
    Num(f64),
    /// Text, compared exactly.
    Str(String),
}

impl Lit {
    fn equals(&self, scalar: &Scalar) -> bool {
        match (self, scalar) {
            (_, Scalar::Expr(_)) => false,
            (Lit::Bool(b), Scalar::Bool(v)) => b == v,
            (Lit::Bool(b), Scalar::Str(s)) => {
                s.eq_ignore_ascii_case(if *b { "true" } else { "false" })
            }
            (Lit::Num(n), Scalar::Num(s) | Scalar::Str(s)) => {
                s.trim().parse::<f64>().is_ok_and(|v| v == *n)
            }
            (Lit::Str(t), Scalar::Str(s) | Scalar::Num(s)) => s == t,
            (Lit::Str(t), Scalar::Bool(v)) => t == if *v { "true" } else { "false" },
            _ => false,
        }
    }
}

/// A condition as written in a rule file. Exactly one of its groups is set:
/// a test on `path` (`equals`, `in`, `matches`, `absent`, `present`,
/// `lt`/`lte`/`gt`/`gte`, `ports`), a combinator (`all`, `any`, `not`), or
/// `each` with `where`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// Dot-separated keys from the current node; empty: the node itself.
    #[serde(default)]
    pub path: Option<String>,
    /// Some value at `path` equals this.
    #[serde(default)]
    pub equals: Option<Lit>,
    /// Some value at `path` equals one of these.
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<Lit>>,
    /// Some scalar at `path` matches this regex (Rust `regex` syntax).
    #[serde(default)]
    pub matches: Option<String>,
    /// `true`: nothing at `path`.
    #[serde(default)]
    pub absent: Option<bool>,
    /// `true`: something non-null at `path`.
    #[serde(default)]
    pub present: Option<bool>,
    /// Numeric comparisons of a value at `path`.
    #[serde(default)]
    pub lt: Option<f64>,
    /// `<=`.
    #[serde(default)]
    pub lte: Option<f64>,
    /// `>`.
    #[serde(default)]
    pub gt: Option<f64>,
    /// `>=`.
    #[serde(default)]
    pub gte: Option<f64>,
    /// Ports of which one must be opened: by a value at `path` ("22",
    /// "20-30", "*"), or by the range `from`..=`to` (two paths).
    #[serde(default)]
    pub ports: Option<Vec<u32>>,
    /// With `ports`: the path of the first port of a range.
    #[serde(default)]
    pub from: Option<String>,
    /// With `ports`: the path of the last port of a range.
    #[serde(default)]
    pub to: Option<String>,
    /// Every condition holds.
    #[serde(default)]
    pub all: Option<Vec<ConditionSpec>>,
    /// At least one holds (each one that holds is a match).
    #[serde(default)]
    pub any: Option<Vec<ConditionSpec>>,
    /// The condition does not hold.
    #[serde(default)]
    pub not: Option<Box<ConditionSpec>>,
    /// For each item at this path, `where` holds (one match per item).
    #[serde(default)]
    pub each: Option<String>,
    /// The condition on each item of `each`.
    #[serde(default, rename = "where")]
    pub where_: Option<Box<ConditionSpec>>,
}

#[derive(Debug, Clone)]
enum Test {
    Equals(Lit),
    In(Vec<Lit>),
    Matches(LazyRegex),
    Present,
    Compare(fn(f64, f64) -> bool, f64),
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Condition {
    /// A test on the values at a path.
    Leaf {
        /// The path's keys.
        path: Vec<String>,
        /// The test.
        test: TestBox,
    },
    /// Nothing at the path.
    Absent(Vec<String>),
    /// A port (or range) at a path opens one of the ports.
    PortValue(Vec<String>, Vec<u32>),
    /// The range between two paths opens one of the ports.
    PortRange(Vec<String>, Vec<String>, Vec<u32>),
    /// All hold.
    All(Vec<Condition>),
    /// Any holds.
    Any(Vec<Condition>),
    /// Does not hold.
    Not(Box<Condition>),
    /// Per item.
    Each(Vec<String>, Box<Condition>),
}

impl Condition {
    /// Builds every `matches` regex of the condition now (they are built on
    /// first use otherwise, see [`LazyRegex`]): the first that cannot be.
    pub fn build_regexes(&self) -> Result<(), String> {
        match self {
            Condition::Leaf {
                test: TestBox(Test::Matches(regex)),
                ..
            } => regex
                .force()
                .map(drop)
                .map_err(|e| format!("bad `matches` regex: {e}")),
            Condition::Leaf { .. }
            | Condition::Absent(_)
            | Condition::PortValue(..)
            | Condition::PortRange(..) => Ok(()),
            Condition::All(all) | Condition::Any(all) => {
                all.iter().try_for_each(Condition::build_regexes)
            }
            Condition::Not(inner) | Condition::Each(_, inner) => inner.build_regexes(),
        }
    }
}

/// Opaque wrapper so the test type stays private.
#[derive(Debug, Clone)]
pub struct TestBox(Test);

fn split_path(path: Option<&str>) -> Vec<String> {
    // `\.` is a dot inside a key (`metadata.annotations.nginx\.ingress\.kubernetes\.io/server-snippet`).
    crate::engine::iac::model::split_steps(path.unwrap_or(""))
        .into_iter()
        .map(|step| step.replace("\\.", "."))
        .collect()
}

impl ConditionSpec {
    pub(super) fn compile(&self) -> Result<Condition, String> {
        let path = split_path(self.path.as_deref());
        let mut groups: Vec<Condition> = Vec::new();
        let leaf = |test: Test| Condition::Leaf {
            path: path.clone(),
            test: TestBox(test),
        };
        if let Some(value) = &self.equals {
            groups.push(leaf(Test::Equals(value.clone())));
        }
        if let Some(values) = &self.one_of {
            groups.push(leaf(Test::In(values.clone())));
        }
        if let Some(pattern) = &self.matches {
            let regex = LazyRegex::new(pattern).map_err(|e| format!("bad `matches` regex: {e}"))?;
            groups.push(leaf(Test::Matches(regex)));
        }
        if self.present == Some(true) {
            groups.push(leaf(Test::Present));
        }
        for (bound, op) in [
            (self.lt, (|a, b| a < b) as fn(f64, f64) -> bool),
            (self.lte, |a, b| a <= b),
            (self.gt, |a, b| a > b),
            (self.gte, |a, b| a >= b),
        ] {
            if let Some(bound) = bound {
                groups.push(leaf(Test::Compare(op, bound)));
            }
        }
        if self.absent == Some(true) {
            if path.is_empty() {
                return Err("`absent` needs a `path`".into());
            }
            groups.push(Condition::Absent(path.clone()));
        }
        if let Some(ports) = &self.ports {
            match (&self.from, &self.to) {
                (Some(from), Some(to)) => groups.push(Condition::PortRange(
                    split_path(Some(from)),
                    split_path(Some(to)),
                    ports.clone(),
                )),
                (None, None) => groups.push(Condition::PortValue(path.clone(), ports.clone())),
                _ => return Err("`ports` needs both `from` and `to`, or neither".into()),
            }
        } else if self.from.is_some() || self.to.is_some() {
            return Err("`from`/`to` only go with `ports`".into());
        }
        if let Some(all) = &self.all {
            groups.push(Condition::All(compile_all(all)?));
        }
        if let Some(any) = &self.any {
            groups.push(Condition::Any(compile_all(any)?));
        }
        if let Some(not) = &self.not {
            groups.push(Condition::Not(Box::new(not.compile()?)));
        }
        match (&self.each, &self.where_) {
            (Some(each), Some(inner)) => groups.push(Condition::Each(
                split_path(Some(each)),
                Box::new(inner.compile()?),
            )),
            (None, None) => {}
            _ => return Err("`each` and `where` go together".into()),
        }
        if self.path.is_some() && (self.all.is_some() || self.any.is_some() || self.not.is_some()) {
            return Err("`path` cannot go with `all`, `any` or `not`".into());
        }
        match groups.len() {
            1 => Ok(groups.remove(0)),
            0 => Err("empty condition: give a test (equals, in, matches, absent, present, lt, lte, gt, gte, ports), all, any, not, or each/where".into()),
            _ => Err("a condition holds exactly one test or combinator; put several under `all`".into()),
        }
    }
}

fn compile_all(specs: &[ConditionSpec]) -> Result<Vec<Condition>, String> {
    if specs.is_empty() {
        return Err("`all`/`any` needs at least one condition".into());
    }
    specs.iter().map(ConditionSpec::compile).collect()
}

/// One test that held: where, and on what (`None`: the value is absent).
#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    /// Concrete path from the subject, e.g. `ingress[0].cidr_blocks[1]`.
    pub path: String,
    /// The node, or `None` when the evidence is that nothing is there.
    pub node: Option<&'a Node>,
}

/// One way a condition held.
pub type Match<'a> = Vec<Evidence<'a>>;

fn at<'a>(node: &'a Node, path: &[String], prefix: &str) -> Vec<(String, &'a Node)> {
    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    resolve(node, &keys, prefix, &mut out);
    out
}

/// The concrete path of an absent value: through the part that exists,
/// with the label of a block's only item (`server_side_encryption[0].enabled`
/// when an empty `server_side_encryption {}` lacks `enabled`), so the base
/// value it replaced can be looked up; the missing rest as written.
fn absent_path(node: &Node, path: &[String], prefix: &str) -> String {
    let mut concrete = prefix.to_owned();
    let mut current = Some(node);
    for key in path {
        if let Some(Value::List(items)) = current.map(|n| &n.value)
            && let [only] = items.as_slice()
        {
            concrete.push_str(&only.item_label(0));
            current = Some(only);
        }
        if !concrete.is_empty() {
            concrete.push('.');
        }
        concrete.push_str(&crate::engine::iac::model::escape_key(key));
        current = current.and_then(|n| n.get(key));
    }
    concrete
}

/// At most this many comma-separated parts of one port value are read.
const MAX_PORT_PARTS: usize = 1_000;

/// Parses "22", "20-30", "*" / "all" / "-1" (any case) into an inclusive range.
fn port_range(text: &str) -> Option<(u32, u32)> {
    let text = text.trim();
    if text == "*"
        || text == "-1"
        || text.eq_ignore_ascii_case("all")
        || text.eq_ignore_ascii_case("any")
    {
        return Some((0, 65535));
    }
    match text.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => text.parse().ok().map(|p| (p, p)),
    }
}

/// True when a port value opens one of `ports`: a port, a range, or a
/// comma-separated list of them (`"22,3389"`, `"20-25, 80"`).
fn opens(text: &str, ports: &[u32]) -> bool {
    text.split(',')
        .take(MAX_PORT_PARTS)
        .filter_map(port_range)
        .any(|(a, b)| ports.iter().any(|p| a <= *p && *p <= b))
}

fn number(node: &Node) -> Option<f64> {
    match node.as_scalar()? {
        Scalar::Num(s) | Scalar::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Condition {
    /// Every way the condition holds on `node` (reached by `prefix`).
    pub fn eval<'a>(&self, node: &'a Node, prefix: &str) -> Vec<Match<'a>> {
        match self {
            Condition::Leaf { path, test } => at(node, path, prefix)
                .into_iter()
                .filter(|(_, n)| test.0.holds(n))
                .map(|(path, n)| {
                    vec![Evidence {
                        path,
                        node: Some(n),
                    }]
                })
                .collect(),
            Condition::Absent(path) => {
                let present = at(node, path, prefix)
                    .into_iter()
                    .any(|(_, n)| n.as_scalar() != Some(&Scalar::Null));
                if present {
                    Vec::new()
                } else {
                    vec![vec![Evidence {
                        path: absent_path(node, path, prefix),
                        node: None,
                    }]]
                }
            }
            Condition::PortValue(path, ports) => at(node, path, prefix)
                .into_iter()
                .filter(|(_, n)| {
                    n.as_scalar()
                        .filter(|s| !matches!(s, Scalar::Expr(_)))
                        .is_some_and(|s| opens(s.text(), ports))
                })
                .map(|(path, n)| {
                    vec![Evidence {
                        path,
                        node: Some(n),
                    }]
                })
                .collect(),
            Condition::PortRange(from, to, ports) => {
                let first = |path: &[String]| at(node, path, prefix).into_iter().next();
                match (first(from), first(to)) {
                    (Some((from_path, from_node)), Some((_, to_node))) => {
                        match (number(from_node), number(to_node)) {
                            (Some(a), Some(b))
                                if ports
                                    .iter()
                                    .any(|p| a <= f64::from(*p) && f64::from(*p) <= b) =>
                            {
                                vec![vec![Evidence {
                                    path: from_path,
                                    node: Some(from_node),
                                }]]
                            }
                            _ => Vec::new(),
                        }
                    }
                    _ => Vec::new(),
                }
            }
            Condition::All(conditions) => {
                let mut combined = Vec::new();
                for condition in conditions {
                    match condition.eval(node, prefix).into_iter().next() {
                        Some(found) => combined.extend(found),
                        None => return Vec::new(),
                    }
                }
                vec![combined]
            }
            Condition::Any(conditions) => conditions
                .iter()
                .flat_map(|c| c.eval(node, prefix))
                .collect(),
            Condition::Not(inner) => {
                if inner.eval(node, prefix).is_empty() {
                    vec![Vec::new()]
                } else {
                    Vec::new()
                }
            }
            Condition::Each(path, inner) => at(node, path, prefix)
                .into_iter()
                .filter_map(|(item_path, item)| {
                    let found = inner.eval(item, &item_path).into_iter().next()?;
                    let mut evidence = vec![Evidence {
                        path: item_path,
                        node: Some(item),
                    }];
                    evidence.extend(found);
                    Some(evidence)
                })
                .collect(),
        }
    }
}

impl Test {
    fn holds(&self, node: &Node) -> bool {
        match self {
            Test::Present => !matches!(node.value, Value::Scalar(Scalar::Null)),
            _ => {
                let Some(scalar) = node.as_scalar() else {
                    return false;
                };
                match self {
                    Test::Equals(lit) => lit.equals(scalar),
                    Test::In(lits) => lits.iter().any(|l| l.equals(scalar)),
                    Test::Matches(regex) => {
                        !matches!(scalar, Scalar::Expr(_) | Scalar::Null)
                            && regex.get().is_some_and(|r| r.is_match(scalar.text()))
                    }
                    Test::Compare(op, bound) => number(node).is_some_and(|v| op(v, *bound)),
                    Test::Present => true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::iac::model::Span;

    fn spec(yaml: &str) -> Condition {
        let spec: ConditionSpec = ast_grep_config::from_str(yaml).expect("spec parses");
        spec.compile().expect("spec compiles")
    }

    fn scalar(text: &str) -> Node {
        Node::scalar(Span::new(1, 1, 1, 2), Scalar::Str(text.into()))
    }

    fn map(entries: Vec<(&str, Node)>) -> Node {
        Node {
            span: Span::new(1, 1, 1, 2),
            value: Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect()),
        }
    }

    #[test]
    fn malformed_conditions_are_refused_with_a_reason() {
        for (yaml, expected) in [
            ("{}", "empty condition"),
            ("{path: a, equals: 1, matches: x}", "exactly one"),
            ("{path: a, matches: '('}", "bad `matches` regex"),
            ("{each: a}", "`each` and `where` go together"),
            ("{ports: [22], from: a}", "both `from` and `to`"),
            ("{absent: true}", "needs a `path`"),
        ] {
            let spec: ConditionSpec = ast_grep_config::from_str(yaml).expect("parses");
            let error = spec.compile().expect_err(yaml);
            assert!(error.contains(expected), "{yaml}: {error}");
        }
    }

    #[test]
    fn a_regex_too_big_to_build_is_found_by_build_regexes_wherever_it_is_nested() {
        let too_big = r"'\w{1000}\w{1000}\w{1000}'";
        let nested = format!(
            "{{not: {{all: [{{path: a, present: true}}, {{each: b, where: {{path: c, matches: {too_big}}}}}]}}}}"
        );
        let condition = spec(&nested);
        let error = condition.build_regexes().expect_err("too big");
        assert!(error.starts_with("bad `matches` regex"), "{error}");
        assert!(
            spec("{any: [{path: a, matches: '^x$'}]}")
                .build_regexes()
                .is_ok()
        );
    }

    #[test]
    fn expressions_never_equal_literals_and_ports_parse_ranges() {
        let node = map(vec![
            (
                "cidr",
                Node::scalar(Span::new(1, 1, 1, 2), Scalar::Expr("var.cidr".into())),
            ),
            ("port", scalar("20-30")),
        ]);
        assert!(
            spec("{path: cidr, equals: var.cidr}")
                .eval(&node, "")
                .is_empty()
        );
        assert!(
            spec("{path: cidr, matches: '.*'}")
                .eval(&node, "")
                .is_empty()
        );
        assert_eq!(spec("{path: port, ports: [22]}").eval(&node, "").len(), 1);
        let list = map(vec![("port", scalar("80, 3380-3390"))]);
        assert_eq!(spec("{path: port, ports: [3389]}").eval(&list, "").len(), 1);
        assert!(spec("{path: port, ports: [22]}").eval(&list, "").is_empty());
        assert!(
            spec("{path: port, ports: [3389]}")
                .eval(&node, "")
                .is_empty()
        );
        assert_eq!(
            spec("{path: missing, absent: true}").eval(&node, "").len(),
            1
        );
        assert!(
            spec("{not: {path: port, present: true}}")
                .eval(&node, "")
                .is_empty()
        );
    }

    #[test]
    fn booleans_match_terraform_strings_and_numbers_match_text() {
        let node = map(vec![("a", scalar("TRUE")), ("b", scalar("5432"))]);
        assert_eq!(spec("{path: a, equals: true}").eval(&node, "").len(), 1);
        assert_eq!(spec("{path: b, in: [3306, 5432]}").eval(&node, "").len(), 1);
        assert_eq!(spec("{path: b, gte: 5000}").eval(&node, "").len(), 1);
        assert!(spec("{path: b, lt: 5000}").eval(&node, "").is_empty());
    }
}
