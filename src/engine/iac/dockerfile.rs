//! Dockerfiles, read by a small line parser written here.
//!
//! Why by hand: the crates.io parsers are unmaintained or incomplete (the
//! best known, `dockerfile-parser`, is a pest grammar last released years
//! ago, without heredocs or the `escape` directive), and the format is line
//! based: instructions, `\` continuations (or the `# escape=` character),
//! comments (and blank lines) inside continuations, and `<<EOF` heredocs
//! (only where a shell would see them: not inside quotes; one whose
//! terminator never comes is not a heredoc, so it cannot swallow the rest of
//! the file). That is all this module handles; it never evaluates anything.
//!
//! Subjects: one `stage` per `FROM` (its base image split into image, tag
//! and digest; whether it is the final stage; its last `USER`) and one
//! `instruction` per instruction, keyed by stage, keyword and text so that
//! an unchanged instruction keeps its key when lines move.
//!
//! Everything is linear in the file: heredoc terminators and stage names
//! are looked up in indexes, not searched for again at every instruction
//! (a file of unterminated `RUN <<A` lines, or of `FROM` lines naming an
//! early stage, was quadratic).

use super::model::{Model, Node, Scalar, Span, Subject, Value};
use std::collections::{HashMap, HashSet};

/// One instruction and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-case keyword.
    pub keyword: String,
    /// Arguments, continuation lines joined, heredoc bodies included.
    pub args: String,
    /// First line (1-based).
    pub start: u32,
    /// Last line.
    pub end: u32,
}

/// The heredocs an instruction opens: `<<WORD`, `<<-WORD` (tabs stripped
/// from the body), `<<"WORD"`, `<<'WORD'` — only where a shell would see
/// them, outside quotes (`echo "a<<EOT"` opens nothing) and not `<<<`.
fn heredoc_delimiters(args: &str) -> Vec<(String, bool)> {
    let chars: Vec<char> = args.chars().collect();
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some('"') if c == '\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\\' => i += 1,
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '<' && chars.get(i + 1) == Some(&'<') => {
                if chars.get(i + 2) == Some(&'<') {
                    i += 3;
                    continue;
                }
                let mut j = i + 2;
                let strip = chars.get(j) == Some(&'-');
                if strip {
                    j += 1;
                }
                let word_quote = chars.get(j).copied().filter(|c| *c == '"' || *c == '\'');
                if word_quote.is_some() {
                    j += 1;
                }
                let word: String = chars[j.min(chars.len())..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                j += word.chars().count();
                if word_quote.is_some() && chars.get(j).copied() == word_quote {
                    j += 1;
                }
                if word
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                {
                    out.push((word, strip));
                }
                i = j;
                continue;
            }
            None => {}
        }
        i += 1;
    }
    out
}

/// Where heredocs end: for each terminator line, the indexes of the lines
/// that hold it, as written and with leading tabs stripped (`<<-`). Built
/// on the first heredoc: most Dockerfiles have none.
struct Terminators<'t> {
    plain: HashMap<&'t str, Vec<usize>>,
    stripped: HashMap<&'t str, Vec<usize>>,
}

impl<'t> Terminators<'t> {
    fn new(lines: &[&'t str]) -> Self {
        let mut plain: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut stripped: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, line) in lines.iter().enumerate() {
            plain.entry(line.trim_end()).or_default().push(index);
            stripped
                .entry(line.trim_start_matches('\t').trim_end())
                .or_default()
                .push(index);
        }
        Self { plain, stripped }
    }

    /// The first line after `index` that ends a heredoc of `delimiter`.
    fn after(&self, index: usize, delimiter: &str, strip: bool) -> Option<usize> {
        let lines = if strip { &self.stripped } else { &self.plain }.get(delimiter)?;
        lines.get(lines.partition_point(|&at| at <= index)).copied()
    }
}

/// Splits a Dockerfile into instructions.
pub fn instructions(text: &str) -> Vec<Instruction> {
    // A UTF-8 byte order mark is not part of the first instruction.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    // Parser directives: leading `# directive=value` comments.
    for line in &lines {
        let trimmed = line.trim();
        let Some(directive) = trimmed.strip_prefix('#') else {
            break;
        };
        match directive.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("escape") => {
                if let Some(c) = value.trim().chars().next() {
                    escape = c;
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    let mut out = Vec::new();
    let mut terminators: Option<Terminators> = None;
    let mut index = 0;
    while index < lines.len() {
        let trimmed = lines[index].trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            index += 1;
            continue;
        }
        let start = index;
        let mut joined = String::new();
        // Continuations: a line ending in the escape character goes on.
        loop {
            let line = lines[index].trim_end();
            // Comment and blank lines inside a continuation are dropped, as
            // Docker does; they do not end the instruction.
            let is_comment =
                index > start && (line.trim_start().starts_with('#') || line.trim().is_empty());
            if !is_comment {
                match line.strip_suffix(escape) {
                    Some(head) => {
                        joined.push_str(head);
                        joined.push(' ');
                    }
                    None => {
                        joined.push_str(line);
                        break;
                    }
                }
            }
            index += 1;
            if index >= lines.len() {
                break;
            }
        }
        let (keyword, args) = match joined.trim().split_once(char::is_whitespace) {
            Some((k, a)) => (k.to_ascii_uppercase(), a.trim().to_owned()),
            None => (joined.trim().to_ascii_uppercase(), String::new()),
        };
        let mut args = args;
        // Heredocs: the body runs to a line holding only the delimiter. One
        // that never ends is not a heredoc: its lines stay instructions.
        for (delimiter, strip) in heredoc_delimiters(&args.clone()) {
            let terminators = terminators.get_or_insert_with(|| Terminators::new(&lines));
            let Some(end) = terminators.after(index, &delimiter, strip) else {
                break;
            };
            for line in &lines[index + 1..=end] {
                args.push('\n');
                args.push_str(line);
            }
            index = end;
        }
        out.push(Instruction {
            keyword,
            args,
            start: u32::try_from(start + 1).unwrap_or(u32::MAX),
            end: u32::try_from(index.min(lines.len().saturating_sub(1)) + 1).unwrap_or(u32::MAX),
        });
        index += 1;
    }
    out
}

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
    fn continuations_comments_heredocs_and_escape_directive() {
        let text = "# escape=`\nFROM alpine:3.20 AS build\nRUN apk add `\n    # a comment inside\n    curl\nRUN <<EOF\nset -e\necho hi\nEOF\nUSER app\n";
        let found = instructions(text);
        let summary: Vec<(&str, u32, u32)> = found
            .iter()
            .map(|i| (i.keyword.as_str(), i.start, i.end))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("FROM", 2, 2),
                ("RUN", 3, 5),
                ("RUN", 6, 9),
                ("USER", 10, 10)
            ]
        );
        assert_eq!(found[1].args, "apk add      curl");
        assert!(found[2].args.contains("echo hi"));
    }

    #[test]
    fn heredocs_that_never_end_leave_every_line_an_instruction() {
        // Each one used to search the rest of the file: quadratic.
        let mut text = "RUN <<EOF cat\n".repeat(3_000);
        text.push_str("RUN <<-DONE sh\n\techo hi\n\tDONE\nUSER app\n");
        let all = instructions(&text);
        assert_eq!(all.len(), 3_002);
        assert!(all[..3_000].iter().all(|i| i.start == i.end));
        assert_eq!(all[3_000].args, "<<-DONE sh\n\techo hi\n\tDONE");
        assert_eq!((all[3_000].start, all[3_000].end), (3_001, 3_003));
        assert_eq!(all[3_001].keyword, "USER");
    }

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
