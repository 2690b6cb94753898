//! Dockerfiles as subjects: one `stage` per `FROM` (its base image split
//! into image, tag and digest; whether it is the final stage; its last
//! `USER`) and one `instruction` per instruction, keyed by stage, keyword
//! and text so that an unchanged instruction keeps its key when lines move.
//! The instructions come from [`instructions`], a line parser.
//!
//! Everything is linear in the file: stage names are looked up in an index,
//! not searched for again at every instruction (a file of `FROM` lines
//! naming an early stage was quadratic).

mod instructions;

pub use self::instructions::{Instruction, instructions};
use super::model::{Model, Node, Scalar, Span, Subject, Value};
use std::collections::{HashMap, HashSet};

fn line_span(instruction: &Instruction) -> Span {
    Span::new(instruction.start, 1, instruction.end, u32::MAX)
}

fn str_node(span: Span, text: &str) -> Node {
    let scalar = if text.contains('$') {
        Scalar::Expr(text.to_owned())
    } else {
        Scalar::Str(text.to_owned())
    };
    Node::scalar(span, scalar)
}

fn map(span: Span, entries: Vec<(&str, Node)>) -> Node {
    Node {
        span,
        value: Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        ),
    }
}

/// Splits words, keeping quoted strings together (quotes removed).
fn words(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in args.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            (None, c) => current.push(c),
        }
    }
    if started || !current.is_empty() {
        out.push(current);
    }
    out
}

/// `ENV a=1 b=2`, `ENV a 1`, `ARG a`, `ARG a=1`: name/value pairs.
fn variables(keyword: &str, args: &str) -> Vec<(String, Option<String>)> {
    let parts = words(args);
    if keyword == "ENV" && parts.first().is_some_and(|p| !p.contains('=')) {
        // Legacy form: `ENV NAME value with spaces`.
        let mut iter = parts.into_iter();
        let name = iter.next().unwrap_or_default();
        let value: Vec<String> = iter.collect();
        return vec![(name, Some(value.join(" ")))];
    }
    parts
        .into_iter()
        .map(|part| match part.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (part, None),
        })
        .collect()
}

/// The parts of `FROM [--platform=…] image [AS name]`.
struct From {
    image: String,
    alias: Option<String>,
}

fn parse_from(args: &str) -> From {
    let parts: Vec<&str> = args
        .split_whitespace()
        .filter(|p| !p.starts_with("--"))
        .collect();
    let image = parts.first().copied().unwrap_or("").to_owned();
    let alias = match parts.as_slice() {
        [_, as_word, name, ..] if as_word.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
        _ => None,
    };
    From { image, alias }
}

/// Splits `registry:5000/org/app:1.2@sha256:…` into (name, tag, digest).
pub fn split_image(image: &str) -> (String, Option<String>, Option<String>) {
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest.to_owned())),
        None => (image, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (
                rest[..at].to_owned(),
                Some(rest[at + 1..].to_owned()),
                digest,
            )
        }
        None => (rest.to_owned(), None, digest),
    }
}

/// The finished stages by name (lower case: Docker ignores case), each the
/// index of the last one of that name in the model's subjects.
type FinishedStages = HashMap<String, usize>;

/// The subjects of a Dockerfile.
pub fn parse(text: &str) -> Model {
    let all = instructions(text);
    let stage_count = all.iter().filter(|i| i.keyword == "FROM").count();
    let mut model = Model::default();
    // Lower case: Docker ignores case in stage names.
    let mut aliases: HashSet<String> = HashSet::new();
    let mut finished: FinishedStages = HashMap::new();
    let mut stage_index = 0usize;
    let mut stage: Option<(String, Node)> = None;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut unnamed: HashMap<String, usize> = HashMap::new();
    let finish =
        |stage: Option<(String, Node)>, model: &mut Model, finished: &mut FinishedStages| {
            if let Some((key, node)) = stage {
                let label = key.trim_start_matches("stage:").to_owned();
                let name = key.strip_prefix("stage:").unwrap_or(&key);
                finished.insert(name.to_ascii_lowercase(), model.subjects.len());
                model.subjects.push(Subject {
                    target: "stage",
                    kind: "stage".into(),
                    key,
                    label: format!("stage `{label}`"),
                    node,
                    skips: Vec::new(),
                });
            }
        };
    for instruction in &all {
        let span = line_span(instruction);
        if instruction.keyword == "FROM" {
            finish(stage.take(), &mut model, &mut finished);
            stage_index += 1;
            let from = parse_from(&instruction.args);
            let (name, tag, digest) = split_image(&from.image);
            let source = if from.image.contains('$') {
                "variable"
            } else if from.image.eq_ignore_ascii_case("scratch") {
                "scratch"
            } else if aliases.contains(&from.image.to_ascii_lowercase()) {
                "stage"
            } else {
                "image"
            };
            let mut from_entries = vec![
                ("image", str_node(span, &name)),
                ("source", Node::scalar(span, Scalar::Str(source.into()))),
            ];
            if let Some(tag) = tag {
                from_entries.push(("tag", str_node(span, &tag)));
            }
            if let Some(digest) = digest {
                from_entries.push(("digest", str_node(span, &digest)));
            }
            // Stages pair across versions by name: their `AS` name, else
            // their image (`alpine`, `alpine#2` for the second unnamed one),
            // never their position, so inserting a stage above another
            // does not make it a different stage.
            let key_name = from.alias.clone().unwrap_or_else(|| {
                let image = name.to_ascii_lowercase();
                let count = unnamed.entry(image.clone()).or_insert(0usize);
                *count += 1;
                if *count == 1 {
                    image
                } else {
                    format!("{image}#{count}")
                }
            });
            if let Some(alias) = &from.alias {
                aliases.insert(alias.to_ascii_lowercase());
            }
            let is_final = stage_index == stage_count;
            let mut stage_entries = vec![
                ("from", map(span, from_entries)),
                ("final", Node::scalar(span, Scalar::Bool(is_final))),
            ];
            // `FROM build AS prod` starts from stage `build`'s image, user
            // included: the user that finished stage's subject ended with,
            // placed on this `FROM`, the line that brings it in.
            if source == "stage"
                && let Some(user) = finished
                    .get(&from.image.to_ascii_lowercase())
                    .and_then(|&at| model.subjects.get(at))
                    .and_then(|parent| parent.node.get_text("user"))
            {
                stage_entries.push(("user", str_node(span, user)));
            }
            stage = Some((format!("stage:{key_name}"), map(span, stage_entries)));
            continue;
        }
        let (stage_key, is_final) = match &stage {
            Some((key, node)) => (
                key.clone(),
                node.get("final").and_then(Node::as_scalar) == Some(&Scalar::Bool(true)),
            ),
            None => ("global".to_owned(), false),
        };
        if instruction.keyword == "USER" {
            if let Some((_, node)) = &mut stage {
                node.set("user", str_node(span, instruction.args.trim()));
                node.span = node.span.union(span);
            }
        } else if let Some((_, node)) = &mut stage {
            node.span = node.span.union(span);
        }
        let normalised = instruction
            .args
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let base_key = format!("{stage_key}/{} {normalised}", instruction.keyword);
        let occurrence = seen.entry(base_key.clone()).or_insert(0);
        let key = format!("{base_key}#{occurrence}");
        *occurrence += 1;
        let mut entries = vec![
            (
                "keyword",
                Node::scalar(span, Scalar::Str(instruction.keyword.clone())),
            ),
            (
                "args",
                Node::scalar(span, Scalar::Str(instruction.args.clone())),
            ),
            ("final", Node::scalar(span, Scalar::Bool(is_final))),
        ];
        if matches!(instruction.keyword.as_str(), "ENV" | "ARG") {
            let vars = variables(&instruction.keyword, &instruction.args)
                .into_iter()
                .map(|(name, value)| {
                    let mut entries = vec![("name", Node::scalar(span, Scalar::Str(name)))];
                    if let Some(value) = value {
                        entries.push(("value", str_node(span, &value)));
                    }
                    map(span, entries)
                })
                .collect();
            entries.push((
                "vars",
                Node {
                    span,
                    value: Value::List(vars),
                },
            ));
        }
        model.subjects.push(Subject {
            target: "instruction",
            kind: instruction.keyword.clone(),
            key,
            label: format!(
                "`{}` in stage `{}`",
                instruction.keyword,
                stage_key.trim_start_matches("stage:")
            ),
            node: map(span, entries),
            skips: Vec::new(),
        });
    }
    finish(stage.take(), &mut model, &mut finished);
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_named_in_another_case_is_the_last_stage_of_that_name() {
        let text = "FROM alpine:3 AS Build\nUSER one\nFROM alpine:3 AS build\nUSER two\nFROM BUILD AS final\n";
        let model = parse(text);
        let last = model
            .subjects
            .iter()
            .find(|s| s.key == "stage:final")
            .expect("final stage");
        assert_eq!(last.node.get_text("user"), Some("two"));
        assert_eq!(
            last.node.get("from").and_then(|f| f.get_text("source")),
            Some("stage")
        );
    }

    #[test]
    fn images_split_into_name_tag_and_digest() {
        assert_eq!(
            split_image("registry:5000/org/app:1.2@sha256:abc"),
            (
                "registry:5000/org/app".into(),
                Some("1.2".into()),
                Some("sha256:abc".into())
            )
        );
        assert_eq!(
            split_image("registry:5000/app"),
            ("registry:5000/app".into(), None, None)
        );
    }

    #[test]
    fn a_stage_built_from_another_inherits_its_user_at_its_from_line() {
        let text = "FROM python:3.12 AS Base\nUSER app\nFROM base AS prod\nCMD run\nFROM prod AS debug\nUSER root\nFROM python:3.12\n";
        let model = parse(text);
        let user = |key: &str| {
            let stage = model
                .subjects
                .iter()
                .find(|s| s.key == key)
                .unwrap_or_else(|| panic!("no subject {key}"));
            stage
                .node
                .get("user")
                .map(|u| (u.display(), u.span.start.line))
        };
        assert_eq!(user("stage:Base"), Some(("app".into(), 2)));
        // Alias matching ignores case, as Docker's does.
        assert_eq!(user("stage:prod"), Some(("app".into(), 3)));
        // Its own USER replaces the inherited one.
        assert_eq!(user("stage:debug"), Some(("root".into(), 6)));
        // A stage from an image starts as the image's user: unknown.
        assert_eq!(user("stage:python"), None);
    }

    #[test]
    fn stages_know_their_source_final_flag_and_last_user() {
        let text =
            "FROM golang:1.22 AS build\nUSER root\nFROM build AS test\nFROM scratch\nUSER 1000\n";
        let model = parse(text);
        type Row<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let stages: Vec<Row> = model
            .subjects
            .iter()
            .filter(|s| s.target == "stage")
            .map(|s| {
                (
                    s.key.as_str(),
                    s.node.get("from").and_then(|f| f.get_text("source")),
                    s.node.get_text("final"),
                    s.node.get_text("user"),
                )
            })
            .collect();
        assert_eq!(
            stages,
            vec![
                ("stage:build", Some("image"), Some("false"), Some("root")),
                // Inherited from stage `build`.
                ("stage:test", Some("stage"), Some("false"), Some("root")),
                ("stage:scratch", Some("scratch"), Some("true"), Some("1000")),
            ]
        );
        let env = parse("FROM a:1\nENV A=1 B=\"two words\"\nENV LEGACY some value\n");
        let vars: Vec<String> = env
            .subjects
            .iter()
            .filter_map(|s| s.node.get("vars"))
            .map(Node::display)
            .collect();
        assert_eq!(vars, vec!["[…]".to_owned(), "[…]".to_owned()]);
        assert_eq!(
            variables("ENV", "LEGACY some value"),
            vec![("LEGACY".into(), Some("some value".into()))]
        );
        assert_eq!(
            variables("ENV", "A=1 B=\"two words\""),
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), Some("two words".into()))
            ]
        );
    }
}
