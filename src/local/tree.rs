//! Change sets from two plain directory trees (no git needed; the fixtures
//! ship that way because a nested git repository cannot be committed).
//! Links are not followed and special files not opened: both are listed as
//! skipped when they differ between the trees.

use super::file::{SYMLINK, not_regular, read_under};
use super::{LocalError, changed_file};
use crate::engine::{ChangeSet, Content};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a tree holds at a path.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    File,
    /// A symbolic link and its target (read, never followed).
    Link(PathBuf),
    /// Anything else but a directory (FIFO, socket, device): why it is not read.
    Special(&'static str),
}

/// Every non-directory entry under `root`, by path relative to it.
fn walk(root: &Path) -> Result<BTreeMap<PathBuf, Entry>, LocalError> {
    let mut found = BTreeMap::new();
    // Links are entries, not directions: follow_links(false) also means no
    // cycle can make the walk endless.
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(|error| LocalError::Io {
            path: error.path().unwrap_or(root).to_path_buf(),
            source: error.into(),
        })?;
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(root) else {
            continue;
        };
        let kind = match not_regular(file_type) {
            None => Entry::File,
            Some(_) if file_type.is_symlink() => {
                Entry::Link(std::fs::read_link(entry.path()).unwrap_or_default())
            }
            Some(reason) => Entry::Special(reason),
        };
        found.insert(relative.to_path_buf(), kind);
    }
    Ok(found)
}

/// The path as the report shows it: `/`-separated, lossy for bytes that are not UTF-8.
fn display(relative: &Path) -> String {
    let parts: Vec<_> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

fn content(root: &Path, relative: &Path, entry: Option<&Entry>) -> Content {
    match entry {
        None => Content::Absent,
        Some(Entry::File) => read_under(root, relative),
        Some(Entry::Link(_)) => Content::Unreadable(SYMLINK.into()),
        Some(Entry::Special(reason)) => Content::Unreadable((*reason).into()),
    }
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
    let base_entries = walk(base)?;
    let head_entries = walk(head)?;
    // In the order of the shown paths, as git sorts its diff.
    let mut paths: Vec<(String, &PathBuf)> = base_entries
        .keys()
        .chain(
            head_entries
                .keys()
                .filter(|p| !base_entries.contains_key(*p)),
        )
        .map(|path| (display(path), path))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for (shown, relative) in paths {
        let (old_entry, new_entry) = (base_entries.get(relative), head_entries.get(relative));
        let both_files = matches!(
            (old_entry, new_entry),
            (Some(Entry::File), Some(Entry::File))
        );
        if !both_files && old_entry == new_entry {
            // The same link target, or the same kind of special file.
            continue;
        }
        let old = content(base, relative, old_entry);
        let new = content(head, relative, new_entry);
        if both_files && old == new && !matches!(new, Content::Unreadable(_)) {
            continue;
        }
        files.push(changed_file(&shown, old, new)?);
    }
    Ok(ChangeSet { files })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_and_special_files_are_entries_never_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/a.py"), "x\n").expect("write");
        symlink("/etc", root.join("etc")).expect("symlink");
        symlink("sub", root.join("loop")).expect("symlink");
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("pipe"))
            .status()
            .expect("mkfifo runs");
        assert!(fifo.success());
        let found = walk(root).expect("walks");
        let entries: Vec<(String, &Entry)> = found
            .iter()
            .map(|(path, entry)| (display(path), entry))
            .collect();
        assert_eq!(
            entries,
            vec![
                ("etc".to_owned(), &Entry::Link("/etc".into())),
                ("loop".to_owned(), &Entry::Link("sub".into())),
                (
                    "pipe".to_owned(),
                    &Entry::Special("named pipe (FIFO): not read")
                ),
                ("sub/a.py".to_owned(), &Entry::File),
            ]
        );
    }

    #[test]
    fn a_changed_link_is_a_skipped_file_and_an_unchanged_one_is_no_change() {
        let (base, head) = (
            tempfile::tempdir().expect("tempdir"),
            tempfile::tempdir().expect("tempdir"),
        );
        for dir in [&base, &head] {
            symlink("/same", dir.path().join("same")).expect("symlink");
        }
        symlink("/old", base.path().join("moved")).expect("symlink");
        symlink("/new", head.path().join("moved")).expect("symlink");
        std::fs::write(base.path().join("became-link.py"), "x = 1\n").expect("write");
        symlink("/etc/passwd", head.path().join("became-link.py")).expect("symlink");
        let changes = from_trees(base.path(), head.path()).expect("changes");
        let summary: Vec<(&str, &Content)> = changes
            .files
            .iter()
            .map(|f| (f.diff.path.as_str(), &f.head))
            .collect();
        let link = Content::Unreadable(SYMLINK.into());
        assert_eq!(summary, vec![("became-link.py", &link), ("moved", &link)]);
    }
}
