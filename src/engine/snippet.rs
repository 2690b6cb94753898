//! Snippet lines of bounded length, cut without reading a long line whole.
//!
//! A snippet shows the lines of a finding. On a minified or generated file
//! one line can be the whole megabyte, and a finding on it carried that
//! line: thousands of findings on one such line (nested calls, a long JSON
//! array) held gigabytes, and a review comment cannot show it anyway. A
//! line longer than [`MAX_LINE_CHARS`] is cut to a window of that many
//! characters around the place the finding points at, marked with `…` where
//! text was left out. Finding the window reads only the window: reading to
//! the line's start or end for every finding made a long line of many
//! findings quadratic.

use std::borrow::Cow;

/// The most characters a snippet shows of one line.
pub const MAX_LINE_CHARS: usize = 300;

/// Characters shown before the focus when a long line is cut.
const BEFORE_FOCUS: usize = 60;

/// `line` (no line break in it), or a window of it around byte offset
/// `focus` when it is longer than [`MAX_LINE_CHARS`].
pub fn clip(line: &str, focus: usize) -> Cow<'_, str> {
    window(line, 0, focus)
}

/// The snippet of a match in `source`: `count` lines from the one that
/// starts at byte `line_start` and holds byte `focus` (the match's start),
/// each cut as [`clip`] cuts, the first around `focus`. Reads the windows
/// and the match's own lines, not the rest of a long line.
pub fn lines_at(source: &str, line_start: usize, focus: usize, count: usize) -> String {
    let mut lines = vec![window(source, line_start, focus)];
    let mut at = focus.min(source.len());
    while lines.len() < count {
        // The lines after the first are the match's own: reading them is
        // reading the match.
        let Some(newline) = source.get(at..).and_then(|rest| rest.find('\n')) else {
            break;
        };
        at += newline + 1;
        if at >= source.len() {
            break; // as `str::lines`: no empty line after the last break
        }
        lines.push(window(source, at, at));
    }
    lines.join("\n")
}

/// The end (exclusive) of the line starting at `from`, when it has at most
/// `max` characters; a `\r` before its `\n` is not part of it.
fn short_line_end(text: &str, from: usize, max: usize) -> Option<usize> {
    let rest = text.get(from..)?;
    for (count, (at, c)) in rest.char_indices().enumerate() {
        if c == '\n' {
            let end = from + at;
            return Some(if text[..end].ends_with('\r') {
                end - 1
            } else {
                end
            });
        }
        if count == max {
            return None;
        }
    }
    Some(text.len())
}

/// The line of `text` starting at `line_start`, or a window of it around
/// `focus` when it is longer than [`MAX_LINE_CHARS`].
fn window(text: &str, line_start: usize, focus: usize) -> Cow<'_, str> {
    let line_start = line_start.min(text.len());
    if let Some(end) = short_line_end(text, line_start, MAX_LINE_CHARS) {
        return Cow::Borrowed(&text[line_start..end]);
    }
    // A long line: from a few characters before the focus, looking back no
    // further than those characters can take (4 bytes each at most).
    let mut focus = focus.clamp(line_start, text.len());
    while !text.is_char_boundary(focus) {
        focus -= 1;
    }
    let mut lower = focus.saturating_sub(BEFORE_FOCUS * 4).max(line_start);
    while !text.is_char_boundary(lower) {
        lower += 1;
    }
    let start = text[lower..focus]
        .char_indices()
        .rev()
        .take(BEFORE_FOCUS)
        .last()
        .map_or(focus, |(at, _)| lower + at);
    // A line break before the focus ends the line there (a focus past it
    // is on a later line: shown from its own start).
    let start = match text[start..focus].rfind('\n') {
        Some(at) => start + at + 1,
        None => start,
    };
    let mut end = text.len();
    let mut cut_after = false;
    for (count, (at, c)) in text[start..].char_indices().enumerate() {
        if c == '\n' {
            end = start + at;
            break;
        }
        if count == MAX_LINE_CHARS {
            end = start + at;
            cut_after = true;
            break;
        }
    }
    let mut shown = &text[start..end];
    if !cut_after {
        shown = shown.strip_suffix('\r').unwrap_or(shown);
    }
    let before = if start > line_start { "…" } else { "" };
    let after = if cut_after { "…" } else { "" };
    Cow::Owned(format!("{before}{shown}{after}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_kept_whole() {
        assert_eq!(clip("x = eval(y)", 4), "x = eval(y)");
        let exact = "é".repeat(MAX_LINE_CHARS);
        assert_eq!(clip(&exact, 0), exact.as_str());
        assert_eq!(clip(&exact, 400), exact.as_str());
    }

    #[test]
    fn a_long_line_is_cut_around_the_focus_with_marks() {
        let line = format!("{}eval(x){}", "a".repeat(5_000), "b".repeat(5_000));
        let cut = clip(&line, 5_000);
        assert!(cut.starts_with('…') && cut.ends_with('…'), "{cut}");
        assert!(cut.contains("eval(x)"));
        assert_eq!(cut.chars().count(), MAX_LINE_CHARS + 2);
        let head = clip(&line, 0);
        assert!(head.starts_with("aaa") && head.ends_with('…'));
        let tail = clip(&line, line.len());
        assert!(tail.starts_with('…') && tail.ends_with('b'));
    }

    #[test]
    fn a_focus_inside_a_character_is_moved_to_its_start() {
        let line = "é".repeat(1_000);
        let cut = clip(&line, 1_001);
        assert!(cut.trim_matches('…').chars().all(|c| c == 'é'));
    }

    #[test]
    fn lines_of_a_match_are_its_lines_each_cut() {
        let long = "x".repeat(1_000);
        let source = format!("a = 1\r\nb = f(\r\n  {long}\r\n)\r\nc = 2\n");
        let start = source.find("f(").expect("in source");
        let line_start = source.find("b =").expect("in source");
        let snippet = lines_at(&source, line_start, start, 3);
        let lines: Vec<&str> = snippet.split('\n').collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "b = f(");
        assert!(lines[1].starts_with("  xxx") && lines[1].ends_with('…'));
        assert_eq!(lines[1].chars().count(), MAX_LINE_CHARS + 1);
        assert_eq!(lines[2], ")");
        // Fewer lines left than asked for: what there is.
        assert_eq!(
            lines_at(&source, source.len() - 6, source.len() - 6, 3),
            "c = 2"
        );
    }
}
