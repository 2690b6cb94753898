//! Change sets for the command line: from a git repository (`git`) or from
//! two directory trees (`tree`). Either way every path of the change ends up
//! analysed or listed as skipped with a reason: symbolic links are never
//! followed and only regular files are read (`file`), whatever bytes their
//! names hold.

mod blobs;
mod config;
mod file;
mod git;
mod raw;
mod tree;

pub use config::{
    ConfigSource, config_at_revision, config_in_tree, file_at_revision, file_in_tree,
};
pub use git::from_git;
pub use tree::from_trees;

use crate::diff::{self, DiffError, FileDiff, FileStatus};
use crate::engine::{ChangedFile, Content};
use std::path::PathBuf;

/// Why a change set could not be built. Each message is one line that names the problem.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The path does not exist or is not a directory.
    #[error("{0}: no such directory")]
    NoSuchDirectory(PathBuf),
    /// The directory is not inside a git work tree.
    #[error("{0}: not a git repository")]
    NotARepository(PathBuf),
    /// A revision git cannot resolve to a commit.
    #[error("unknown revision `{0}` (not a commit in this repository)")]
    BadRevision(String),
    /// The `git` program is missing or failed.
    #[error("git {args}: {message}")]
    Git {
        /// The git sub-command.
        args: String,
        /// What went wrong.
        message: String,
    },
    /// git produced a diff we cannot read.
    #[error("cannot read git's diff: {0}")]
    Diff(#[from] DiffError),
    /// git produced a file list (`--raw -z`) we cannot read.
    #[error("cannot read git's list of changed files: {0}")]
    RawDiff(String),
    /// git's file list and its patch name different files at the same place:
    /// nothing is scanned rather than one file read as another.
    #[error("git's list of changed files ({listed}) and its patch ({patched}) disagree")]
    Mismatch {
        /// The path git's list names.
        listed: String,
        /// The path the patch names there.
        patched: String,
    },
    /// A file of a tree cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The hunks of a unified diff of two texts (3 lines of context, no file
/// headers: GitHub's `patch` form). The hunk bodies come from `similar`; the
/// headers are computed here from the lines each hunk really holds, because
/// similar 2.7's own headers can be wrong when a hunk opens with a deletion
/// next to insertions (`@@ -1,6 +7,6 @@` for a hunk that starts at line 1).
pub fn unified_patch(old: &str, new: &str) -> String {
    use similar::ChangeTag;
    use std::fmt::Write as _;
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    for group in diff.grouped_ops(3) {
        let Some(first) = group.first() else {
            continue;
        };
        let (mut old_start, mut old_len, mut new_start, mut new_len) = (None, 0, None, 0);
        for op in &group {
            let (old_range, new_range) = (op.old_range(), op.new_range());
            if !old_range.is_empty() {
                old_start.get_or_insert(old_range.start + 1);
                old_len += old_range.len();
            }
            if !new_range.is_empty() {
                new_start.get_or_insert(new_range.start + 1);
                new_len += new_range.len();
            }
        }
        // An empty side names the line before it, as git does ("-0,0").
        let old_start = old_start.unwrap_or(first.old_range().start);
        let new_start = new_start.unwrap_or(first.new_range().start);
        let _ = writeln!(out, "@@ -{old_start},{old_len} +{new_start},{new_len} @@");
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                let value = change.value();
                let _ = writeln!(out, "{sign}{}", value.strip_suffix('\n').unwrap_or(value));
                if change.missing_newline() {
                    out.push_str("\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// A changed file from its two versions, diffed here (3 lines of context,
/// as git does). Used for directory trees, and by the bot when GitHub omits
/// the patch of a large file.
pub fn changed_file(path: &str, old: Content, new: Content) -> Result<ChangedFile, DiffError> {
    let status = match (&old, &new) {
        (Content::Absent, _) => FileStatus::Added,
        (_, Content::Absent) => FileStatus::Removed,
        _ => FileStatus::Modified,
    };
    let binary = [&old, &new]
        .iter()
        .any(|side| matches!(side, Content::Binary | Content::Sealed(_)));
    let lines = match (old.text(), new.text(), binary) {
        (_, _, true) => Default::default(),
        (old_text, new_text, false) => {
            let (old_text, new_text) = (old_text.unwrap_or(""), new_text.unwrap_or(""));
            diff::parse_patch(unified_patch(old_text, new_text).as_bytes())?
        }
    };
    let diff = FileDiff {
        path: path.to_owned(),
        old_path: None,
        status,
        binary,
        mode_only: false,
        lines,
    };
    Ok(ChangedFile {
        diff,
        base: old,
        head: new,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunk_headers_count_the_lines_they_hold() {
        // similar 2.7 writes "@@ -1,6 +7,6 @@" for this change.
        let (old, new) = ("a\n\n\n\n\na\n", "\naa\nb\naa\n\nb\n\n\n\n\n\na");
        let patch = unified_patch(old, new);
        assert!(patch.starts_with("@@ -1,6 +1,12 @@\n"), "{patch}");
        let lines = diff::parse_patch(patch.as_bytes()).expect("parses");
        let added: Vec<u32> = lines.added.iter().copied().collect();
        // Every added line number points at the line the patch adds.
        let new_lines: Vec<&str> = new.split('\n').collect();
        let plus: Vec<&str> = patch.lines().filter_map(|l| l.strip_prefix('+')).collect();
        assert_eq!(added.len(), plus.len());
        for (number, text) in added.iter().zip(plus) {
            assert_eq!(new_lines[*number as usize - 1], text, "line {number}");
        }
    }

    #[test]
    fn new_and_removed_files_name_the_line_before() {
        assert_eq!(unified_patch("", "x\n"), "@@ -0,0 +1,1 @@\n+x\n");
        assert_eq!(unified_patch("x\n", ""), "@@ -1,1 +0,0 @@\n-x\n");
        assert_eq!(unified_patch("same\n", "same\n"), "");
    }
}
