//! File patches as GitHub's "list pull request files" endpoint shows them.
//!
//! GitHub's `patch` is git's unified diff of one file without the `diff --git`,
//! `---` and `+++` headers: hunks with 3 lines of context, a hunk header that
//! carries git's default "function context" (the nearest earlier line of the
//! old file that starts with a letter, `_` or `$`), `\ No newline at end of
//! file` markers, and no trailing newline. The emulator computes it with
//! `similar` (Myers, like git) and keeps the hunk structure, because the
//! same structure decides which lines a review comment may be anchored on.
//! It is deliberately independent of the bot's own diff parser, so a test
//! compares two implementations instead of one with itself.

use similar::{ChangeTag, TextDiff};

/// git's default context radius, which GitHub uses.
const CONTEXT_LINES: usize = 3;
/// git truncates the function context in a hunk header to 80 bytes.
const FUNC_CONTEXT_MAX: usize = 80;

/// One file's diff: the rendered patch and its hunks.
#[derive(Clone, Debug)]
pub(crate) struct FilePatch {
    /// The `patch` string GitHub returns (no trailing newline).
    pub text: String,
    pub hunks: Vec<Hunk>,
    pub additions: u64,
    pub deletions: u64,
}

/// One hunk: its header and its lines, in patch order.
#[derive(Clone, Debug)]
pub(crate) struct Hunk {
    pub header: String,
    pub lines: Vec<HunkLine>,
}

/// A line of a hunk with its numbers in the old (LEFT) and new (RIGHT) file.
#[derive(Clone, Debug)]
pub(crate) struct HunkLine {
    pub tag: ChangeTag,
    pub old: Option<u64>,
    pub new: Option<u64>,
    /// The line's text without its line terminator.
    pub text: String,
    /// The line as it appears in the patch (sign, text, and a possible
    /// `\ No newline at end of file` marker on a following line).
    pub rendered: String,
}

impl HunkLine {
    /// Whether a comment on `side` may anchor on this line: RIGHT takes
    /// added and context lines by their new number, LEFT takes deleted and
    /// context lines by their old number.
    pub fn number_on(&self, side: Side) -> Option<u64> {
        match (side, self.tag) {
            (Side::Right, ChangeTag::Insert | ChangeTag::Equal) => self.new,
            (Side::Left, ChangeTag::Delete | ChangeTag::Equal) => self.old,
            _ => None,
        }
    }
}

/// The side of the diff a review comment refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Left,
    Right,
}

impl Side {
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "LEFT" => Some(Side::Left),
            "RIGHT" => Some(Side::Right),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "LEFT",
            Side::Right => "RIGHT",
        }
    }
}

/// Where a line sits in a patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineRef {
    pub hunk: usize,
    pub index: usize,
}

impl FilePatch {
    /// Finds the hunk line a comment on `side`/`line` anchors on.
    pub fn find(&self, side: Side, line: u64) -> Option<LineRef> {
        self.hunks.iter().enumerate().find_map(|(h, hunk)| {
            hunk.lines
                .iter()
                .position(|l| l.number_on(side) == Some(line))
                .map(|index| LineRef { hunk: h, index })
        })
    }

    pub fn line(&self, at: LineRef) -> &HunkLine {
        &self.hunks[at.hunk].lines[at.index]
    }

    /// The REST `position`: lines below the first hunk header, counting
    /// later hunk headers as lines.
    pub fn position(&self, at: LineRef) -> u64 {
        let before: usize = self.hunks[..at.hunk]
            .iter()
            .map(|h| h.lines.len() + 1)
            .sum();
        (before + at.index + 1) as u64
    }

    /// The REST `diff_hunk` of a comment: the hunk header and every line up
    /// to and including the commented one.
    pub fn diff_hunk(&self, at: LineRef) -> String {
        let hunk = &self.hunks[at.hunk];
        let mut out = hunk.header.clone();
        for line in &hunk.lines[..=at.index] {
            out.push('\n');
            out.push_str(&line.rendered);
        }
        out
    }
}

/// Computes the patch between two texts; `None` when nothing changed (GitHub
/// omits `patch` then, e.g. for a pure rename).
pub(crate) fn compute(base: &str, head: &str) -> Option<FilePatch> {
    let diff = TextDiff::from_lines(base, head);
    let old_lines: Vec<&str> = base.split_inclusive('\n').collect();
    let mut unified = diff.unified_diff();
    unified.context_radius(CONTEXT_LINES);
    let mut hunks = Vec::new();
    let (mut additions, mut deletions) = (0, 0);
    for hunk in unified.iter_hunks() {
        let mut lines = Vec::new();
        let mut first_old = None;
        for change in hunk.iter_changes() {
            let sign = match change.tag() {
                ChangeTag::Insert => {
                    additions += 1;
                    '+'
                }
                ChangeTag::Delete => {
                    deletions += 1;
                    '-'
                }
                ChangeTag::Equal => ' ',
            };
            if first_old.is_none() {
                first_old = change.old_index();
            }
            let text = change
                .value()
                .strip_suffix('\n')
                .unwrap_or(change.value())
                .to_owned();
            let mut rendered = format!("{sign}{text}");
            if change.missing_newline() {
                rendered.push_str("\n\\ No newline at end of file");
            }
            lines.push(HunkLine {
                tag: change.tag(),
                old: change.old_index().map(|i| i as u64 + 1),
                new: change.new_index().map(|i| i as u64 + 1),
                text,
                rendered,
            });
        }
        // A hunk that starts with an insertion has no old index on its first
        // line; git then looks back from the hunk's old start.
        let search_from = first_old.unwrap_or_else(|| hunk.ops()[0].old_range().start);
        let mut header = hunk.header().to_string();
        if let Some(func) = function_context(&old_lines, search_from) {
            header.push(' ');
            header.push_str(&func);
        }
        hunks.push(Hunk { header, lines });
    }
    if hunks.is_empty() {
        return None;
    }
    let text = hunks
        .iter()
        .map(|h| {
            let mut s = h.header.clone();
            for l in &h.lines {
                s.push('\n');
                s.push_str(&l.rendered);
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n");
    Some(FilePatch {
        text,
        hunks,
        additions,
        deletions,
    })
}

/// git's default `xfuncname`: the nearest line above the hunk (0-based
/// `hunk_start` in the old file) that begins with a letter, `_` or `$`.
fn function_context(old_lines: &[&str], hunk_start: usize) -> Option<String> {
    old_lines[..hunk_start.min(old_lines.len())]
        .iter()
        .rev()
        .find(|l| {
            l.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        })
        .map(|l| {
            let line = l.trim_end_matches(['\n', '\r']);
            let mut end = line.len().min(FUNC_CONTEXT_MAX);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line[..end].trim_end().to_owned()
        })
}

/// Counts added and deleted lines without keeping the patch (for files whose
/// patch GitHub omits but whose counts it still reports).
pub(crate) fn counts(base: &str, head: &str) -> (u64, u64) {
    compute(base, head).map_or((0, 0), |p| (p.additions, p.deletions))
}

/// Where each line of `old` (index 0 = line 1) is in `new` (1-based), when
/// the diff keeps it unchanged: how GitHub moves a review comment to its
/// line's new place after a push.
pub(crate) fn line_map(old: &str, new: &str) -> Vec<Option<u64>> {
    let diff = TextDiff::from_lines(old, new);
    let mut map = vec![None; old.lines().count().max(diff.old_slices().len())];
    for change in diff.iter_all_changes() {
        if let (ChangeTag::Equal, Some(o), Some(n)) =
            (change.tag(), change.old_index(), change.new_index())
            && let Some(slot) = map.get_mut(o)
        {
            *slot = Some(n as u64 + 1);
        }
    }
    map
}
