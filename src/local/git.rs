//! Change sets from a git repository, through the `git` program (which
//! every developer has, and whose diff is the reference for changed lines).
//!
//! File names are never read from text meant for people. One `git diff`
//! prints, with `--raw -z`, every changed file NUL-delimited and byte for
//! byte with its modes and blob ids, then its patch; contents are fetched by
//! blob id. A file name may therefore hold any byte (a newline, a tab,
//! quotes, bytes that are not UTF-8) without one file taking another's
//! content, and one invocation means the list and the patch describe the
//! same state of a work tree. The patch supplies only the changed lines,
//! and each of its files is checked against the list before it is used
//! (`super::raw`); blobs come through one `git cat-file` (`super::blobs`).
//!
//! Symbolic links and submodules are never followed: they are listed as
//! skipped. In a work tree only regular files are opened (`super::file`).

use super::LocalError;
use super::blobs::BlobReader;
use super::file::{SUBMODULE, SYMLINK, read_under};
use super::raw::{GITLINK, REGULAR, SYMBOLIC_LINK, Side, TYPE_MASK, pair, parse_raw};
use crate::diff;
use crate::engine::{ChangeSet, ChangedFile, Content};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs git in `repo`; its output, or its first line of error.
pub(super) fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, LocalError> {
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

pub(super) fn resolve(repo: &Path, rev: &str) -> Result<String, LocalError> {
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

/// A path as git wrote it (bytes) as a path of this system.
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The top directory of the work tree holding `repo`.
pub(super) fn top_level(repo: &Path) -> Result<PathBuf, LocalError> {
    if !repo.is_dir() {
        return Err(LocalError::NoSuchDirectory(repo.to_path_buf()));
    }
    let top = git(repo, &["rev-parse", "--show-toplevel"])
        .map_err(|_| LocalError::NotARepository(repo.to_path_buf()))?;
    // Only the line end goes: a directory name may end with a space.
    Ok(path_from_bytes(top.strip_suffix(b"\n").unwrap_or(&top)))
}

/// The changes between `base` and `head` in the repository at `repo`.
///
/// - `head = Some(rev)`: the diff from the merge base of `base` and `head`
///   to `head` (`git diff base...head`), which is what a pull request of
///   `head` into `base` shows.
/// - `head = None`: the diff from `base` to the working tree (`git diff
///   base`), staged and unstaged changes of tracked files.
pub fn from_git(repo: &Path, base: &str, head: Option<&str>) -> Result<ChangeSet, LocalError> {
    let top = top_level(repo)?;
    let base_commit = resolve(&top, base)?;
    let head_commit = head.map(|rev| resolve(&top, rev)).transpose()?;
    let left = match &head_commit {
        Some(head) => git(&top, &["merge-base", &base_commit, head])
            .map(|out| String::from_utf8_lossy(&out).trim().to_owned())
            .unwrap_or_else(|_| base_commit.clone()),
        None => base_commit.clone(),
    };
    // Fixed options so that user configuration (noprefix, mnemonic
    // prefixes, external diff drivers, textconv, colour, abbreviated ids,
    // the submodule log format) cannot change what we parse.
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
        "--submodule=short",
        "--raw",
        "-z",
        "--no-abbrev",
        "--patch",
        "--full-index",
        left.as_str(),
    ];
    if let Some(head) = &head_commit {
        args.push(head.as_str());
    }
    let out = git(&top, &args)?;
    let (entries, patch) = parse_raw(&out)?;
    let planned = pair(entries, diff::parse_unified_diff(patch)?)?;
    let mut blobs = BlobReader::start(&top)?;
    let mut files = Vec::with_capacity(planned.len());
    for file in planned {
        let base = match &file.base {
            Some(side) => side_content(side, &mut blobs, None)?,
            None => Content::Absent,
        };
        let head = match (&file.head, &file.unmerged) {
            (_, Some(reason)) => Content::Unreadable(reason.clone()),
            (Some(side), None) => {
                let work_tree = head_commit.is_none().then_some(top.as_path());
                side_content(side, &mut blobs, work_tree)?
            }
            (None, None) => Content::Absent,
        };
        files.push(ChangedFile {
            diff: file.diff,
            base,
            head,
        });
    }
    Ok(ChangeSet { files })
}

/// The content of one side: fetched by blob id, or from the work tree at
/// `work_tree`; links and submodules are not followed.
fn side_content(
    side: &Side,
    blobs: &mut BlobReader,
    work_tree: Option<&Path>,
) -> Result<Content, LocalError> {
    Ok(match side.mode & TYPE_MASK {
        SYMBOLIC_LINK => Content::Unreadable(SYMLINK.into()),
        GITLINK => Content::Unreadable(SUBMODULE.into()),
        REGULAR => match work_tree {
            Some(top) => read_under(top, &path_from_bytes(&side.path)),
            None => blobs.read(&side.oid, &String::from_utf8_lossy(&side.path))?,
        },
        _ => Content::Unreadable(format!("file mode {:o}: not read", side.mode)),
    })
}
