//! A Dockerfile's instructions, read by a small line parser written here.
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
//! Linear in the file: heredoc terminators are looked up in an index, not
//! searched for again at every instruction (a file of unterminated
//! `RUN <<A` lines was quadratic).

use std::collections::HashMap;

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
}
