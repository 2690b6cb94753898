//! Untrusted text made inert: the ONE place where text a pull request
//! controls (code, file names, resource names, messages interpolated from
//! code, suppression reasons, config values) or GitHub sends (app names,
//! repository names, login names) enters Markdown, terminals, logs and the
//! operator's HTML pages ([`html`]).
//!
//! Whoever can open a pull request (a fork included) writes that text. In
//! Markdown it must not become a mention (`@org/team` notifies a whole team
//! in the bot's name), an issue reference, a link, an image (which GitHub
//! fetches), a heading, an HTML tag or an HTML comment (which could imitate
//! the bot's own markers). In a terminal it must not carry escape sequences
//! (a title change, a cleared screen, hidden text) or bidirectional
//! overrides that show code other than what is there. Every function here
//! is total: whatever the input, the output is inert.
//!
//! Written by hand because no crate does this job: Markdown escapers escape
//! syntax, but GitHub's mentions, references and autolinks are found in the
//! rendered text, after escaping has done its work. A zero-width space after
//! `@` and `#`, and inside `://` and `www.`, is what breaks them (the trick
//! GitHub's own Dependabot uses for release notes).

use std::fmt::{self, Write as _};

/// Breaks mentions, references and autolinks without showing anything.
const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// Whether `c` must never reach a terminal, a log line or a Markdown line as
/// itself: C0 and C1 controls, DEL, Unicode line and paragraph separators,
/// and the bidirectional controls that reorder what a reader sees.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// The visible form of a dangerous character: `\n`, `\t`, `\x1b`, `\u{202e}`.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// One line for a terminal or a log: every control character (newlines
/// included), escape sequences and bidirectional controls shown escaped.
pub fn terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_dangerous(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Several lines for a terminal: like [`terminal`], keeping line breaks
/// (`\n`) and tabs, which are the layout of a code snippet.
pub fn terminal_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_dangerous(c) && c != '\n' && c != '\t' {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Untrusted text in a log field: `path = %Untrusted(&path)` writes it
/// escaped as [`terminal`] does, so a file name cannot forge log lines.
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if is_dangerous(c) {
                let mut escaped = String::new();
                push_escaped(&mut escaped, c);
                f.write_str(&escaped)?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Untrusted text as inline Markdown outside code: shown as written, never
/// interpreted. Line breaks and controls appear escaped, so the text stays
/// on the line the caller put it on (no heading, list or quote can start).
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut previous = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if is_dangerous(c) => push_escaped(&mut out, c),
            '@' => {
                out.push('@');
                out.push(ZERO_WIDTH_SPACE);
            }
            '#' => {
                out.push_str("\\#");
                out.push(ZERO_WIDTH_SPACE);
            }
            ':' if chars.peek() == Some(&'/') => {
                out.push(':');
                out.push(ZERO_WIDTH_SPACE);
            }
            // `www.` is autolinked without a scheme.
            '.' if out.ends_with("www") || out.ends_with("WWW") => {
                out.push(ZERO_WIDTH_SPACE);
                out.push('.');
            }
            // "1." or "1)" could open an ordered list where a line starts.
            '.' if previous.is_some_and(|p: char| p.is_ascii_digit()) => out.push_str("\\."),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '{' | '}' | '+' | '-' | '!' | '|'
            | '<' | '>' | '&' | '~' | '=' | '"' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        previous = Some(c);
    }
    out
}

/// Untrusted text as a Markdown code span, whatever backticks or line
/// breaks it holds: the span's fence is longer than any backtick run inside,
/// and controls (line breaks included: a blank line would end the span's
/// paragraph) appear escaped. Inside a code span nothing is a mention, link,
/// tag or comment.
pub fn code_span(text: &str) -> String {
    let visible = terminal(text);
    let longest = longest_backtick_run(&visible);
    if longest == 0 && !visible.is_empty() && !visible.starts_with(' ') && !visible.ends_with(' ') {
        return format!("`{visible}`");
    }
    if visible.is_empty() {
        // An empty span is not a span; show the emptiness.
        return "`\u{2205}`".to_owned();
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {visible} {fence}")
}

/// Untrusted code as a fenced Markdown block with `info` after the opening
/// fence: the fence is longer than any backtick run in the code, so no line
/// of it can close the block early; controls other than tabs appear escaped.
pub fn code_block(code: &str, info: &str) -> String {
    let visible = terminal_lines(code);
    let fence = "`".repeat(longest_backtick_run(&visible).max(2) + 1);
    let body = visible.strip_suffix('\n').unwrap_or(&visible);
    format!("{fence}{info}\n{body}\n{fence}\n")
}

/// Whether `code` can go into a code block unchanged (no character
/// [`code_block`] would have to escape). A suggestion block is applied
/// verbatim by GitHub, so one that would need escaping is not offered.
pub fn is_plain_code(code: &str) -> bool {
    !code
        .chars()
        .any(|c| is_dangerous(c) && c != '\n' && c != '\t')
}

/// A message written by a rule with untrusted parts interpolated into it
/// (`` `$F` runs a command built at run time `` with `$F` replaced by code):
/// its backtick-quoted parts become code spans, the rest text, each made
/// inert. Code holding backticks can shift where the parts start and end;
/// every part is inert all the same.
pub fn message(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    let mut rest = message;
    loop {
        let Some(open) = rest.find('`') else {
            out.push_str(&text(rest));
            return out;
        };
        out.push_str(&text(&rest[..open]));
        let after_open = &rest[open..];
        let run = after_open.len() - after_open.trim_start_matches('`').len();
        let (fence, inner) = after_open.split_at(run);
        match inner.find(fence) {
            Some(close) => {
                out.push_str(&code_span(inner[..close].trim()));
                rest = &inner[close + run..];
            }
            None => {
                // An unpaired backtick: the rest is plain text.
                out.push_str(&text(after_open));
                return out;
            }
        }
    }
}

/// Plain text for fields GitHub shows without Markdown (annotation messages
/// and titles): line breaks kept, other controls escaped.
pub fn plain(text: &str) -> String {
    terminal_lines(text)
}

/// Untrusted text inside HTML, as element content or a quoted attribute
/// value: `&`, `<`, `>`, `"` and `'` become entities, so no tag, attribute
/// or entity can start; controls and bidirectional overrides appear escaped
/// as [`terminal`] shows them (line breaks included: one line).
pub fn html(text: &str) -> String {
    html_escaped(text, false)
}

/// Like [`html`], keeping line breaks (`\n`): for `<pre>` blocks.
pub fn html_lines(text: &str) -> String {
    html_escaped(text, true)
}

fn html_escaped(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' if keep_lines => out.push('\n'),
            c if is_dangerous(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_survive_backticks_and_line_breaks() {
        assert_eq!(code_span("src/app.py"), "`src/app.py`");
        assert_eq!(code_span("we`ird.py"), "`` we`ird.py ``");
        assert_eq!(code_span("a``b"), "``` a``b ```");
        assert_eq!(code_span("a\n# b"), "`a\\n# b`");
        assert_eq!(code_span(""), "`\u{2205}`");
    }

    #[test]
    fn text_breaks_mentions_links_and_html() {
        let out = text("@org/team see https://evil.example and <img src=x> #12");
        assert!(!out.contains("@o"), "{out}");
        assert!(!out.contains("://"), "{out}");
        assert!(out.contains("\\<img"), "{out}");
        assert!(!out.contains("#1"), "{out}");
        assert_eq!(text("line\nbreak"), "line\\nbreak");
    }

    #[test]
    fn terminals_see_no_escape_sequences() {
        assert_eq!(terminal("a\x1b]0;pwned\x07b"), "a\\x1b]0;pwned\\x07b");
        assert_eq!(terminal("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(terminal_lines("a\n\tb\r"), "a\n\tb\\r");
        assert_eq!(format!("{}", Untrusted("p\nq")), "p\\nq");
    }

    #[test]
    fn messages_keep_their_code_parts_as_spans() {
        assert_eq!(
            message("`os.system(x)` runs a shell"),
            "`os.system(x)` runs a shell"
        );
        assert_eq!(message("a `b` c `d"), "a `b` c \\`d");
    }

    #[test]
    fn html_starts_no_tag_attribute_or_entity() {
        assert_eq!(
            html("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(html("a\nb\u{202e}c\x1b"), "a\\nb\\u{202e}c\\x1b");
        assert_eq!(html_lines("a\n<b>\r"), "a\n&lt;b&gt;\\r");
        assert_eq!(html("&amp;"), "&amp;amp;");
    }

    #[test]
    fn code_blocks_cannot_be_closed_from_inside() {
        let block = code_block("x = 1\n```\n@team", "suggestion");
        assert!(block.starts_with("````suggestion\n"), "{block}");
        assert!(block.ends_with("\n````\n"), "{block}");
        assert!(is_plain_code("a\tb\n"));
        assert!(!is_plain_code("a\x1bb"));
    }
}
