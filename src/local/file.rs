//! Reading one file of a work tree or of a directory tree without following
//! a symbolic link or opening anything but a regular file. What is read
//! comes from the change under review, which its author controls: a tracked
//! link to `~/.ssh/id_rsa` must not be printed, a link to `/dev/zero` must
//! not fill the memory, a link to a FIFO must not hang the scan, a link to a
//! directory must not stop it. Such entries become [`Content::Unreadable`]
//! with the reason, and the report lists them as skipped.

use crate::engine::Content;
use std::fs::{File, FileType, Metadata};
use std::io::Read;
use std::path::{Component, Path};

/// Why a symbolic link is not analysed.
pub(super) const SYMLINK: &str = "symbolic link: not followed";
/// Why a submodule (a gitlink) is not analysed.
pub(super) const SUBMODULE: &str = "submodule: not analysed";

/// Why an entry of this type is not read; `None` for a regular file.
pub(super) fn not_regular(file_type: FileType) -> Option<&'static str> {
    if file_type.is_file() {
        return None;
    }
    if file_type.is_symlink() {
        return Some(SYMLINK);
    }
    if file_type.is_dir() {
        return Some("directory: not read");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some("named pipe (FIFO): not read");
        }
        if file_type.is_socket() {
            return Some("socket: not read");
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return Some("device file: not read");
        }
    }
    Some("not a regular file: not read")
}

/// The content of `relative` (a path inside the tree) under `root`. No
/// directory between `root` and the file may be a symbolic link: git never
/// lists a path beneath a tracked link, but the tree may have changed since
/// git looked, and a directory tree may hold anything.
pub(super) fn read_under(root: &Path, relative: &Path) -> Content {
    let parts: Vec<Component> = relative.components().collect();
    let Some((last, parents)) = parts.split_last() else {
        return Content::Absent;
    };
    let mut path = root.to_path_buf();
    for part in parents {
        let Component::Normal(name) = part else {
            return Content::Unreadable("the path leaves the tree: not read".into());
        };
        path.push(name);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Content::Unreadable(
                    "a parent directory is a symbolic link: not followed".into(),
                );
            }
            // A file where a directory should be: the path does not exist.
            Ok(_) => return Content::Absent,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Content::Absent,
            Err(error) => return cannot_read(&error),
        }
    }
    let Component::Normal(name) = last else {
        return Content::Unreadable("the path leaves the tree: not read".into());
    };
    path.push(name);
    read_regular(&path)
}

/// Reads `path` when it is a regular file, at most its limit
/// ([`crate::engine::max_bytes_for`]: [`crate::engine::MAX_FILE_BYTES`] but for lockfiles)
/// + 1 bytes of it; anything else is not opened.
fn read_regular(path: &Path) -> Content {
    let limit = crate::engine::max_bytes_for(&path.to_string_lossy());
    let looked = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Content::Absent,
        Err(error) => return cannot_read(&error),
    };
    if let Some(reason) = not_regular(looked.file_type()) {
        return Content::Unreadable(reason.into());
    }
    if looked.len() > limit as u64 {
        return Content::TooLarge(usize::try_from(looked.len()).unwrap_or(usize::MAX));
    }
    // The entry may be replaced between the look and the open (a race a
    // scan of one's own checkout hardly meets): the file opened must be the
    // regular file looked at, or nothing is read from it. Opening a FIFO
    // swapped in right then would still wait for a writer; closing that gap
    // needs O_NONBLOCK|O_NOFOLLOW, which std cannot name portably.
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) => return cannot_read(&error),
    };
    match file.metadata() {
        Ok(opened) if opened.is_file() && same_file(&looked, &opened) => {}
        Ok(_) => return Content::Unreadable("changed while being read: not read".into()),
        Err(error) => return cannot_read(&error),
    }
    // The size looked at can be stale (a growing file): one byte past the
    // limit is enough to know it is too large.
    let mut bytes = Vec::new();
    if let Err(error) = file.take(limit as u64 + 1).read_to_end(&mut bytes) {
        return cannot_read(&error);
    }
    if bytes.len() > limit {
        return Content::TooLarge(bytes.len());
    }
    Content::from_bytes_for(&path.to_string_lossy(), bytes)
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &Metadata, _: &Metadata) -> bool {
    true
}

fn cannot_read(error: &std::io::Error) -> Content {
    Content::Unreadable(format!("cannot be read: {error}"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::engine::MAX_FILE_BYTES;
    use std::os::unix::fs::symlink;

    fn unreadable(content: Content) -> String {
        match content {
            Content::Unreadable(reason) => reason,
            other => panic!("expected Unreadable, got {other:?}"),
        }
    }

    #[test]
    fn regular_files_are_read_and_everything_else_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("a.py"), "x = 1\n").expect("write");
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        symlink(root.join("a.py"), root.join("link.py")).expect("symlink");
        symlink("/dev/zero", root.join("zero.py")).expect("symlink");
        symlink(root.join("sub"), root.join("linked-dir")).expect("symlink");
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("pipe.py"))
            .status()
            .expect("mkfifo runs");
        assert!(fifo.success());
        let read = |name: &str| read_under(root, Path::new(name));
        assert_eq!(read("a.py"), Content::Text("x = 1\n".into()));
        assert_eq!(read("missing.py"), Content::Absent);
        assert_eq!(unreadable(read("link.py")), SYMLINK);
        assert_eq!(unreadable(read("zero.py")), SYMLINK);
        assert_eq!(unreadable(read("pipe.py")), "named pipe (FIFO): not read");
        assert_eq!(unreadable(read("sub")), "directory: not read");
        assert_eq!(
            unreadable(read("/dev/null")),
            "the path leaves the tree: not read"
        );
        assert_eq!(
            unreadable(read("linked-dir/a.py")),
            "a parent directory is a symbolic link: not followed"
        );
        assert_eq!(
            unreadable(read("../a.py")),
            "the path leaves the tree: not read"
        );
        assert_eq!(read("a.py/x"), Content::Absent);
    }

    #[test]
    fn a_large_file_is_too_large_whatever_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("big.py"), vec![b'#'; MAX_FILE_BYTES + 10]).expect("write");
        std::fs::write(dir.path().join("edge.py"), vec![b'#'; MAX_FILE_BYTES]).expect("write");
        assert_eq!(
            read_under(dir.path(), Path::new("big.py")),
            Content::TooLarge(MAX_FILE_BYTES + 10)
        );
        assert!(matches!(
            read_under(dir.path(), Path::new("edge.py")),
            Content::Text(text) if text.len() == MAX_FILE_BYTES
        ));
    }
}
