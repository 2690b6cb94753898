//! Snippet lines of bounded length.
//!
//! A snippet shows the lines of a finding. On a minified or generated file
//! one line can be the whole megabyte, and a finding on it carried that
//! line: thousands of findings on one such line (nested calls, a long JSON
//! array) held gigabytes, and a review comment cannot show it anyway. A
//! long line is cut to a window of [`MAX_LINE_CHARS`] characters around the
//! place the finding points at, marked with `…` where text was left out.

use std::borrow::Cow;

/// The most characters a snippet shows of one line.
pub const MAX_LINE_CHARS: usize = 300;

/// Characters shown before the focus when a long line is cut.
const BEFORE_FOCUS: usize = 60;

/// `line`, or a window of it around byte offset `focus` (clamped to the
/// line) when it is longer than [`MAX_LINE_CHARS`]. Reads at most the
/// window and, to find it, the bytes before `focus`.
pub fn clip(line: &str, focus: usize) -> Cow<'_, str> {
    // A line of at most this many bytes has at most this many characters.
    if line.len() <= MAX_LINE_CHARS {
        return Cow::Borrowed(line);
    }
    let mut focus = focus.min(line.len());
    while !line.is_char_boundary(focus) {
        focus -= 1;
    }
    let start = line[..focus]
        .char_indices()
        .rev()
        .take(BEFORE_FOCUS)
        .last()
        .map_or(focus, |(at, _)| at);
    let mut shown = line[start..].char_indices();
    let end = shown
        .nth(MAX_LINE_CHARS)
        .map_or(line.len(), |(at, _)| start + at);
    if start == 0 && end == line.len() {
        return Cow::Borrowed(line);
    }
    let before = if start > 0 { "…" } else { "" };
    let after = if end < line.len() { "…" } else { "" };
    Cow::Owned(format!("{before}{}{after}", &line[start..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_kept_whole() {
        assert_eq!(clip("x = eval(y)", 4), "x = eval(y)");
        let exact = "é".repeat(MAX_LINE_CHARS);
        assert_eq!(clip(&exact, 0), exact.as_str());
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
}
