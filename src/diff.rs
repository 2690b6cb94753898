//! Unified diffs ─▶ per-file changed-line sets.
//!
//! Two inputs share one hunk parser: the output of `git diff` (file headers,
//! extended headers, hunks) and GitHub's per-file `patch` field (hunks only).
//! The parser works on bytes, because diffs of non-UTF-8 files are legal and
//! a scanner must not fail on them; paths are decoded lossily at the end.
//!
//! Written by hand on purpose: the diff crates on crates.io (`patch`,
//! `unidiff`, `gitpatch`) reject git's extended headers (mode changes,
//! renames, binary markers) or header-less GitHub patches, and none of them
//! yields the three line sets a review bot needs (added, commentable, deleted).

use std::collections::BTreeSet;

/// What a change did to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// The file is new.
    Added,
    /// The file exists on both sides and its content (or only its mode) changed.
    Modified,
    /// The file was deleted.
    Removed,
    /// The file moved (possibly with content changes); see `old_path`.
    Renamed,
    /// The file was copied from `old_path`.
    Copied,
}

/// One file of a diff, reduced to what the engine and the reviewer need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// Path on the RIGHT (head) side; for a removed file, the path it had.
    pub path: String,
    /// Path on the LEFT side when the file was renamed or copied.
    pub old_path: Option<String>,
    /// What happened to the file.
    pub status: FileStatus,
    /// Git said "Binary files differ" (or sent a binary patch): no line sets.
    pub binary: bool,
    /// Only the file mode changed (e.g. 100644 → 100755).
    pub mode_only: bool,
    /// The changed lines of this file.
    pub lines: LineSets,
}

/// The line sets of one file's hunks. Line numbers are 1-based.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineSets {
    /// RIGHT-side lines the change added: what a finding must intersect.
    pub added: BTreeSet<u32>,
    /// RIGHT-side lines inside a hunk (added and context): where a review comment may anchor.
    pub commentable: BTreeSet<u32>,
    /// LEFT-side lines the change deleted.
    pub deleted: BTreeSet<u32>,
    /// The hunks as they appear in the diff.
    pub hunks: Vec<HunkRange>,
}

/// The extent of one hunk, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HunkRange {
    /// First LEFT line.
    pub old_start: u32,
    /// LEFT line count.
    pub old_len: u32,
    /// First RIGHT line.
    pub new_start: u32,
    /// RIGHT line count.
    pub new_len: u32,
}

impl LineSets {
    /// True when any line in `start..=end` was added by the change.
    pub fn intersects_added(&self, start: u32, end: u32) -> bool {
        self.added.range(start..=end).next().is_some()
    }
}

/// A diff that cannot be read. Each variant names the line where reading stopped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiffError {
    /// A line starting with `@@` is not a valid hunk header.
    #[error("line {line}: malformed hunk header `{text}`")]
    BadHunkHeader {
        /// 1-based line in the diff text.
        line: usize,
        /// The offending header, lossily decoded.
        text: String,
    },
    /// A hunk ended before the line counts in its header were reached.
    #[error("line {line}: hunk is shorter than its header says ({missing} lines missing)")]
    TruncatedHunk {
        /// 1-based line in the diff text.
        line: usize,
        /// How many lines the header promised but the hunk lacks.
        missing: u32,
    },
    /// A `diff --git` header whose paths cannot be read.
    #[error("line {line}: cannot read the paths of `{text}`")]
    BadFileHeader {
        /// 1-based line in the diff text.
        line: usize,
        /// The offending header, lossily decoded.
        text: String,
    },
}

/// Parses GitHub's per-file `patch` field: hunks without file headers.
/// An empty patch (GitHub sends none for binary files, pure renames and
/// mode-only changes) yields empty line sets.
pub fn parse_patch(patch: &[u8]) -> Result<LineSets, DiffError> {
    let lines = split_lines(patch);
    let mut sets = LineSets::default();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if line.starts_with(b"@@") {
            index = parse_hunk(&lines, index, &mut sets)?;
        } else {
            // Text before the first hunk (or between hunks) carries no lines; skip it.
            index += 1;
        }
    }
    Ok(sets)
}

/// Parses the output of `git diff` (or any unified diff with `---`/`+++`
/// headers) into one entry per file.
pub fn parse_unified_diff(diff: &[u8]) -> Result<Vec<FileDiff>, DiffError> {
    let lines = split_lines(diff);
    let mut files: Vec<FileDiff> = Vec::new();
    let mut current: Option<FileHeader> = None;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if let Some(rest) = line.strip_prefix(b"diff --git ") {
            if let Some(done) = current.take() {
                files.push(done.finish());
            }
            let (old, new) =
                parse_git_header_paths(rest).ok_or_else(|| DiffError::BadFileHeader {
                    line: index + 1,
                    text: String::from_utf8_lossy(line).into_owned(),
                })?;
            current = Some(FileHeader::new(old, new));
            index += 1;
            continue;
        }
        if line.starts_with(b"--- ")
            && lines
                .get(index + 1)
                .is_some_and(|next| next.starts_with(b"+++ "))
            && current.as_ref().is_none_or(|header| header.saw_hunk)
        {
            // A plain unified diff (no `diff --git` line) starts a file here.
            if let Some(done) = current.take() {
                files.push(done.finish());
            }
            current = Some(FileHeader::new(None, None));
        }
        let Some(header) = current.as_mut() else {
            index += 1;
            continue;
        };
        if line.starts_with(b"@@") {
            header.saw_hunk = true;
            index = parse_hunk(&lines, index, &mut header.lines)?;
            continue;
        }
        header.apply_extended_line(line);
        index += 1;
    }
    if let Some(done) = current.take() {
        files.push(done.finish());
    }
    Ok(files)
}

/// Accumulates one file's headers until its hunks are read.
struct FileHeader {
    git_old: Option<String>,
    git_new: Option<String>,
    minus: Option<Option<String>>,
    plus: Option<Option<String>>,
    rename_from: Option<String>,
    rename_to: Option<String>,
    copy: bool,
    new_file: bool,
    deleted_file: bool,
    mode_change: bool,
    binary: bool,
    saw_hunk: bool,
    lines: LineSets,
}

impl FileHeader {
    fn new(old: Option<String>, new: Option<String>) -> Self {
        Self {
            git_old: old,
            git_new: new,
            minus: None,
            plus: None,
            rename_from: None,
            rename_to: None,
            copy: false,
            new_file: false,
            deleted_file: false,
            mode_change: false,
            binary: false,
            saw_hunk: false,
            lines: LineSets::default(),
        }
    }

    fn apply_extended_line(&mut self, line: &[u8]) {
        if let Some(path) = line.strip_prefix(b"--- ") {
            self.minus = Some(parse_marker_path(path, b"a/"));
        } else if let Some(path) = line.strip_prefix(b"+++ ") {
            self.plus = Some(parse_marker_path(path, b"b/"));
        } else if let Some(path) = line.strip_prefix(b"rename from ") {
            self.rename_from = Some(decode_path(path));
        } else if let Some(path) = line.strip_prefix(b"rename to ") {
            self.rename_to = Some(decode_path(path));
        } else if let Some(path) = line.strip_prefix(b"copy from ") {
            self.copy = true;
            self.rename_from = Some(decode_path(path));
        } else if let Some(path) = line.strip_prefix(b"copy to ") {
            self.copy = true;
            self.rename_to = Some(decode_path(path));
        } else if line.starts_with(b"new file mode") {
            self.new_file = true;
        } else if line.starts_with(b"deleted file mode") {
            self.deleted_file = true;
        } else if line.starts_with(b"old mode") || line.starts_with(b"new mode") {
            self.mode_change = true;
        } else if line.starts_with(b"Binary files ") || line == b"GIT binary patch" {
            self.binary = true;
        }
    }

    fn finish(self) -> FileDiff {
        let minus = self.minus.clone().flatten();
        let plus = self.plus.clone().flatten();
        let status = if self.new_file || (self.minus.is_some() && minus.is_none()) {
            FileStatus::Added
        } else if self.deleted_file || (self.plus.is_some() && plus.is_none()) {
            FileStatus::Removed
        } else if self.copy {
            FileStatus::Copied
        } else if self.rename_from.is_some() || self.rename_to.is_some() {
            FileStatus::Renamed
        } else {
            FileStatus::Modified
        };
        let new_path = self
            .rename_to
            .clone()
            .or(plus)
            .or_else(|| self.git_new.clone());
        let old_path = self
            .rename_from
            .clone()
            .or(minus)
            .or_else(|| self.git_old.clone());
        let path = match status {
            FileStatus::Removed => old_path.clone().or(new_path),
            _ => new_path.or_else(|| old_path.clone()),
        }
        .unwrap_or_default();
        let old_path = match status {
            FileStatus::Renamed | FileStatus::Copied => old_path,
            _ => None,
        };
        FileDiff {
            path,
            old_path,
            status,
            binary: self.binary,
            mode_only: self.mode_change && !self.saw_hunk && !self.binary,
            lines: self.lines,
        }
    }
}

/// Reads the hunk whose header is at `lines[start]`; returns the index after it.
fn parse_hunk(lines: &[&[u8]], start: usize, sets: &mut LineSets) -> Result<usize, DiffError> {
    let header = lines[start];
    let range = parse_hunk_header(header).ok_or_else(|| DiffError::BadHunkHeader {
        line: start + 1,
        text: String::from_utf8_lossy(header).into_owned(),
    })?;
    sets.hunks.push(range);
    let (mut old_left, mut new_left) = (range.old_len, range.new_len);
    let (mut old_line, mut new_line) = (range.old_start, range.new_start);
    let mut index = start + 1;
    while old_left > 0 || new_left > 0 {
        let Some(&line) = lines.get(index) else {
            return Err(DiffError::TruncatedHunk {
                line: index,
                missing: old_left.max(new_left),
            });
        };
        match line.first() {
            Some(b'+') if new_left > 0 => {
                sets.added.insert(new_line);
                sets.commentable.insert(new_line);
                new_line += 1;
                new_left -= 1;
            }
            Some(b'-') if old_left > 0 => {
                sets.deleted.insert(old_line);
                old_line += 1;
                old_left -= 1;
            }
            // An empty line is a context line whose leading space was
            // stripped (editors and some mail clients do this).
            Some(b' ') | None if old_left > 0 && new_left > 0 => {
                sets.commentable.insert(new_line);
                old_line += 1;
                new_line += 1;
                old_left -= 1;
                new_left -= 1;
            }
            Some(b'\\') => {} // "\ No newline at end of file"
            _ => {
                return Err(DiffError::TruncatedHunk {
                    line: index + 1,
                    missing: old_left.max(new_left),
                });
            }
        }
        index += 1;
    }
    // A "\ No newline at end of file" marker may follow the last line.
    while lines.get(index).is_some_and(|line| line.starts_with(b"\\")) {
        index += 1;
    }
    Ok(index)
}

/// `@@ -a[,b] +c[,d] @@ optional section`; a missing count means 1.
fn parse_hunk_header(header: &[u8]) -> Option<HunkRange> {
    let text = std::str::from_utf8(header.get(2..)?).ok()?;
    let text = text.trim_start();
    let end = text.find("@@")?;
    let mut parts = text[..end].split_whitespace();
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    if parts.next().is_some() {
        return None;
    }
    let (old_start, old_len) = parse_range(old)?;
    let (new_start, new_len) = parse_range(new)?;
    Some(HunkRange {
        old_start,
        old_len,
        new_start,
        new_len,
    })
}

fn parse_range(range: &str) -> Option<(u32, u32)> {
    match range.split_once(',') {
        Some((start, len)) => Some((start.parse().ok()?, len.parse().ok()?)),
        None => Some((range.parse().ok()?, 1)),
    }
}

/// Splits on `\n` and drops a trailing `\r`, so CRLF diffs read like LF ones.
fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .collect()
}

/// The path after `--- ` or `+++ `: `None` for `/dev/null`. A trailing tab
/// and timestamp (GNU diff) is dropped.
fn parse_marker_path(raw: &[u8], prefix: &[u8]) -> Option<String> {
    let raw = if raw.starts_with(b"\"") {
        raw
    } else {
        raw.split(|&b| b == b'\t').next().unwrap_or(raw)
    };
    if raw == b"/dev/null" {
        return None;
    }
    let path = decode_path(raw);
    let prefix = String::from_utf8_lossy(prefix);
    Some(
        path.strip_prefix(prefix.as_ref())
            .map(str::to_owned)
            .unwrap_or(path),
    )
}

/// The two paths of `diff --git a/X b/Y`. Unquoted paths may contain
/// spaces, so the split is ambiguous; git writes the same path twice unless
/// the file was renamed, so the split that yields equal halves wins, and the
/// `rename from/to` or `---/+++` lines correct it otherwise.
fn parse_git_header_paths(rest: &[u8]) -> Option<(Option<String>, Option<String>)> {
    if rest.starts_with(b"\"") {
        let (old, used) = unquote(rest)?;
        let tail = rest.get(used..)?.strip_prefix(b" ")?;
        let new = if tail.starts_with(b"\"") {
            unquote(tail)?.0
        } else {
            String::from_utf8_lossy(tail).into_owned()
        };
        return Some((strip_side(old, "a/"), strip_side(new, "b/")));
    }
    let text = String::from_utf8_lossy(rest);
    if let Some(index) = text.find(" \"b/") {
        let new = unquote(text[index + 1..].as_bytes())?.0;
        return Some((
            strip_side(text[..index].to_owned(), "a/"),
            strip_side(new, "b/"),
        ));
    }
    // Equal halves: "a/P b/P" has length 2 * (len(P) + 2) + 1.
    if text.len() % 2 == 1 {
        let half = text.len() / 2;
        let (old, new) = (&text[..half], &text[half + 1..]);
        if old.get(2..) == new.get(2..) && old.starts_with("a/") && new.starts_with("b/") {
            return Some((Some(old[2..].to_owned()), Some(new[2..].to_owned())));
        }
    }
    let index = text.find(" b/")?;
    Some((
        strip_side(text[..index].to_owned(), "a/"),
        strip_side(text[index + 1..].to_owned(), "b/"),
    ))
}

fn strip_side(path: String, prefix: &str) -> Option<String> {
    Some(path.strip_prefix(prefix).map(str::to_owned).unwrap_or(path))
}

fn decode_path(raw: &[u8]) -> String {
    if raw.starts_with(b"\"")
        && let Some((path, _)) = unquote(raw)
    {
        return path;
    }
    String::from_utf8_lossy(raw).into_owned()
}

/// Git's C-style quoting: `"a/caf\303\251 \"x\".py"`. Returns the decoded
/// string and the number of bytes consumed, closing quote included.
fn unquote(raw: &[u8]) -> Option<(String, usize)> {
    let mut out = Vec::new();
    let mut index = 1;
    while index < raw.len() {
        match raw[index] {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), index + 1)),
            b'\\' => {
                let escaped = *raw.get(index + 1)?;
                index += 2;
                match escaped {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'v' => out.push(0x0b),
                    b'0'..=b'7' => {
                        let digits = raw.get(index - 1..index + 2)?;
                        let value = digits.iter().try_fold(0u32, |acc, &d| match d {
                            b'0'..=b'7' => Some(acc * 8 + u32::from(d - b'0')),
                            _ => None,
                        })?;
                        out.push(u8::try_from(value).ok()?);
                        index += 2;
                    }
                    other => out.push(other),
                }
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    None
}
