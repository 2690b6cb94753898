//! The repository configuration as the CLI reads it: from the BASE of the
//! change, as the bot does (a change cannot switch its own scan off), by
//! fixed path and never through a symbolic link.

use super::LocalError;
use super::file::read_under;
use super::git::{git, resolve, top_level};
use crate::engine::Content;
use crate::pipeline::CONFIG_PATH;
use std::path::Path;

/// Where the configuration came from, for the line the CLI prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `.github/hunkscan.yml` at this revision (git mode).
    Revision(String),
    /// `.github/hunkscan.yml` under this directory (`--base-tree`).
    Tree(std::path::PathBuf),
}

/// `.github/hunkscan.yml` at revision `rev` of the repository at `repo`;
/// `None` when that revision has none. A link or submodule there is an
/// error: the file is config, not something to follow.
pub fn config_at_revision(repo: &Path, rev: &str) -> Result<Option<String>, LocalError> {
    file_at_revision(repo, rev, CONFIG_PATH)
}

/// The text of the regular file `path` at revision `rev` (a repository's
/// own settings file: `.github/hunkscan.yml`, `.gitleaksignore`); `None`
/// when that revision has none.
pub fn file_at_revision(repo: &Path, rev: &str, path: &str) -> Result<Option<String>, LocalError> {
    let top = top_level(repo)?;
    let commit = resolve(&top, rev)?;
    // `ls-tree -z` names the entry byte for byte with its mode and blob id.
    let listing = git(&top, &["ls-tree", "-z", "--full-tree", &commit, "--", path])?;
    let Some(entry) = listing.split(|&b| b == 0).find(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let entry = String::from_utf8_lossy(entry);
    let mut fields = entry.split([' ', '\t']);
    let (mode, kind, id) = (fields.next(), fields.next(), fields.next());
    if kind != Some("blob") || !matches!(mode, Some("100644" | "100755")) {
        return Err(LocalError::Git {
            args: format!("ls-tree {commit} -- {path}"),
            message: format!("{path} is not a regular file at {rev} (mode {mode:?})"),
        });
    }
    let id = id.unwrap_or_default();
    let bytes = git(&top, &["cat-file", "blob", id])?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// `.github/hunkscan.yml` under the directory `root`; `None` when absent.
pub fn config_in_tree(root: &Path) -> Result<Option<String>, LocalError> {
    file_in_tree(root, CONFIG_PATH)
}

/// The text of the file `path` under the directory `root`; `None` when absent.
pub fn file_in_tree(root: &Path, path: &str) -> Result<Option<String>, LocalError> {
    match read_under(root, Path::new(path)) {
        Content::Text(text) => Ok(Some(text)),
        Content::Absent => Ok(None),
        other => Err(LocalError::Io {
            path: root.join(path),
            source: std::io::Error::other(match other {
                Content::Unreadable(reason) => reason,
                Content::TooLarge(bytes) => format!("{bytes} bytes, too large for a config"),
                _ => "not a text file".to_owned(),
            }),
        }),
    }
}
