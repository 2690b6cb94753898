//! Change sets for the command line: from a git repository (through the
//! `git` program, which every developer has and whose diff is the reference)
//! or from two directory trees (no git needed; the fixtures ship that way
//! because a nested git repository cannot be committed).

use crate::diff::{self, DiffError, FileDiff, FileStatus};
use crate::engine::{ChangeSet, ChangedFile, Content, MAX_FILE_BYTES};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    /// A file of a tree cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, LocalError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LocalError::Git {
            args: args.join(" "),
            message: format!("cannot run git: {e}"),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr.lines().next().unwrap_or("failed").trim().to_owned();
        return Err(LocalError::Git {
            args: args.join(" "),
            message,
        });
    }
    Ok(output.stdout)
}

fn resolve(repo: &Path, rev: &str) -> Result<String, LocalError> {
    let spec = format!("{rev}^{{commit}}");
    match git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
    ) {
        Ok(out) => Ok(String::from_utf8_lossy(&out).trim().to_owned()),
        Err(_) => Err(LocalError::BadRevision(rev.to_owned())),
    }
}

/// The changes between `base` and `head` in the repository at `repo`.
///
/// - `head = Some(rev)`: the diff from the merge base of `base` and `head`
///   to `head` (`git diff base...head`), which is what a pull request of
///   `head` into `base` shows.
/// - `head = None`: the diff from `base` to the working tree (`git diff
///   base`), staged and unstaged changes of tracked files.
pub fn from_git(repo: &Path, base: &str, head: Option<&str>) -> Result<ChangeSet, LocalError> {
    if !repo.is_dir() {
        return Err(LocalError::NoSuchDirectory(repo.to_path_buf()));
    }
    let top = git(repo, &["rev-parse", "--show-toplevel"])
        .map_err(|_| LocalError::NotARepository(repo.to_path_buf()))?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
    let base_commit = resolve(&top, base)?;
    let head_commit = head.map(|rev| resolve(&top, rev)).transpose()?;
    let left = match &head_commit {
        Some(head) => git(&top, &["merge-base", &base_commit, head])
            .map(|out| String::from_utf8_lossy(&out).trim().to_owned())
            .unwrap_or_else(|_| base_commit.clone()),
        None => base_commit.clone(),
    };
    // Fixed options so that user configuration (noprefix, external diff
    // drivers, textconv, colour) cannot change what we parse.
    let mut args = vec![
        "-c",
        "core.quotePath=true",
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--find-renames",
        "--unified=3",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        left.as_str(),
    ];
    if let Some(head) = &head_commit {
        args.push(head.as_str());
    }
    let raw = git(&top, &args)?;
    let diffs = diff::parse_unified_diff(&raw)?;
    let mut blobs = BlobReader::start(&top)?;
    let mut files = Vec::with_capacity(diffs.len());
    for file_diff in diffs {
        let base_path = file_diff
            .old_path
            .clone()
            .unwrap_or_else(|| file_diff.path.clone());
        let base = if file_diff.status == FileStatus::Added {
            Content::Absent
        } else {
            blobs.read(&left, &base_path)?
        };
        let head = match (file_diff.status, &head_commit) {
            (FileStatus::Removed, _) => Content::Absent,
            (_, Some(commit)) => blobs.read(commit, &file_diff.path)?,
            (_, None) => read_file(&top.join(&file_diff.path))?,
        };
        files.push(ChangedFile {
            diff: file_diff,
            base,
            head,
        });
    }
    Ok(ChangeSet { files })
}

/// Reads many blobs through one `git cat-file --batch` process instead of
/// one `git show` per file.
struct BlobReader {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl BlobReader {
    fn start(repo: &Path) -> Result<Self, LocalError> {
        let fail = |message: String| LocalError::Git {
            args: "cat-file --batch".into(),
            message,
        };
        let mut child = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| fail(format!("cannot run git: {e}")))?;
        let stdin = child.stdin.take().ok_or_else(|| fail("no stdin".into()))?;
        let stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| fail("no stdout".into()))?,
        );
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    fn read(&mut self, commit: &str, path: &str) -> Result<Content, LocalError> {
        let fail = |message: String| LocalError::Git {
            args: format!("cat-file --batch {commit}:{path}"),
            message,
        };
        writeln!(self.stdin, "{commit}:{path}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| fail(e.to_string()))?;
        let mut header = String::new();
        self.stdout
            .read_line(&mut header)
            .map_err(|e| fail(e.to_string()))?;
        let mut fields = header.split_whitespace();
        let (_, kind, size) = (fields.next(), fields.next(), fields.next());
        if kind != Some("blob") {
            // "missing" (or a submodule commit): nothing to analyse on that side.
            return Ok(Content::Absent);
        }
        let size: usize = size
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| fail(format!("bad header `{}`", header.trim())))?;
        let mut bytes = vec![0; size + 1]; // the blob and git's trailing newline
        self.stdout
            .read_exact(&mut bytes)
            .map_err(|e| fail(e.to_string()))?;
        bytes.truncate(size);
        Ok(Content::from_bytes(bytes))
    }
}

impl Drop for BlobReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_file(path: &Path) -> Result<Content, LocalError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES as u64 => {
            return Ok(Content::TooLarge(
                usize::try_from(meta.len()).unwrap_or(usize::MAX),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Content::Absent),
        _ => {}
    }
    let bytes = std::fs::read(path).map_err(|source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Content::from_bytes(bytes))
}

fn walk(root: &Path) -> Result<BTreeSet<String>, LocalError> {
    let mut found = BTreeSet::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.map_err(|error| LocalError::Io {
            path: error.path().unwrap_or(root).to_path_buf(),
            source: error.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        if let Ok(relative) = entry.path().strip_prefix(root) {
            let parts: Vec<_> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            found.insert(parts.join("/"));
        }
    }
    Ok(found)
}

/// The changes from the tree at `base` to the tree at `head` (two plain
/// directories). Files are matched by relative path; renames show as a
/// removal and an addition.
pub fn from_trees(base: &Path, head: &Path) -> Result<ChangeSet, LocalError> {
    for dir in [base, head] {
        if !dir.is_dir() {
            return Err(LocalError::NoSuchDirectory(dir.to_path_buf()));
        }
    }
    let base_files = walk(base)?;
    let head_files = walk(head)?;
    let mut files = Vec::new();
    for path in base_files.union(&head_files) {
        let old = if base_files.contains(path) {
            read_file(&base.join(path))?
        } else {
            Content::Absent
        };
        let new = if head_files.contains(path) {
            read_file(&head.join(path))?
        } else {
            Content::Absent
        };
        if old == new {
            continue;
        }
        files.push(changed_file(path, old, new)?);
    }
    Ok(ChangeSet { files })
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
    let binary = matches!(old, Content::Binary) || matches!(new, Content::Binary);
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
