//! File contents by blob id, through one `git cat-file --batch` session.

use super::LocalError;
use crate::engine::Content;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Reads many blobs through one `git cat-file --batch` process instead of
/// one `git show` per file. It is fed object ids only, one per line (hex
/// digits: no path ever reaches it), and every answer must name the id
/// asked for.
pub(super) struct BlobReader {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl BlobReader {
    pub(super) fn start(repo: &Path) -> Result<Self, LocalError> {
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

    /// The blob `oid` of a file at `path` (whose name sets the size limit,
    /// [`crate::engine::max_bytes_for`]).
    pub(super) fn read(&mut self, oid: &str, path: &str) -> Result<Content, LocalError> {
        let limit = crate::engine::max_bytes_for(path);
        let fail = |message: String| LocalError::Git {
            args: format!("cat-file --batch {oid}"),
            message,
        };
        writeln!(self.stdin, "{oid}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| fail(e.to_string()))?;
        // "<oid> <type> <size>\n" or "<oid> missing\n": a short line.
        let mut header = Vec::new();
        (&mut self.stdout)
            .take(256)
            .read_until(b'\n', &mut header)
            .map_err(|e| fail(e.to_string()))?;
        let header = String::from_utf8_lossy(&header);
        let fields: Vec<&str> = header.split_whitespace().collect();
        if fields.first() != Some(&oid) {
            return Err(fail(format!(
                "answer `{}` is not for the id asked",
                header.trim()
            )));
        }
        match fields[1..] {
            ["blob", size] => {
                let size: u64 = size
                    .parse()
                    .map_err(|_| fail(format!("bad header `{}`", header.trim())))?;
                self.blob(size, limit, path)
                    .map_err(|e| fail(e.to_string()))
            }
            ["missing"] => Ok(Content::Unreadable(format!(
                "its content (object {oid}) is missing from the repository"
            ))),
            [kind, _] => Ok(Content::Unreadable(format!(
                "object {oid} is a {kind}, not a file: not read"
            ))),
            _ => Err(fail(format!("bad header `{}`", header.trim()))),
        }
    }

    /// The body of a blob of `size` bytes and git's newline after it. A blob
    /// over the limit is drained (the session must stay in step), not kept.
    fn blob(&mut self, size: u64, limit: usize, path: &str) -> std::io::Result<Content> {
        if size > limit as u64 {
            let mut body = (&mut self.stdout).take(size + 1);
            let drained = std::io::copy(&mut body, &mut std::io::sink())?;
            if drained != size + 1 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            return Ok(Content::TooLarge(
                usize::try_from(size).unwrap_or(usize::MAX),
            ));
        }
        // At most `limit` + 1 here.
        let mut bytes = vec![0; usize::try_from(size + 1).unwrap_or(limit + 1)];
        self.stdout.read_exact(&mut bytes)?;
        if bytes.pop() != Some(b'\n') {
            return Err(std::io::Error::other(
                "the blob is not followed by a newline",
            ));
        }
        Ok(Content::from_bytes_at(path, bytes, limit))
    }
}

impl Drop for BlobReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::MAX_FILE_BYTES;
    use crate::local::git::git;

    #[test]
    fn blobs_are_read_by_id_and_a_large_one_keeps_the_session_in_step() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        git(root, &["init", "-q"]).expect("git init");
        let store = |name: &str, bytes: &[u8]| {
            std::fs::write(root.join(name), bytes).expect("write");
            let oid = git(root, &["hash-object", "-w", "--", name]).expect("hash-object");
            String::from_utf8(oid).expect("hex").trim().to_owned()
        };
        let big = store("big", &vec![b'#'; MAX_FILE_BYTES + 5]);
        let small = store("small", b"line\n");
        let mut blobs = BlobReader::start(root).expect("cat-file starts");
        assert_eq!(
            blobs.read(&big, "a.py").expect("big"),
            Content::TooLarge(MAX_FILE_BYTES + 5)
        );
        assert_eq!(
            blobs.read(&small, "a.py").expect("small"),
            Content::Text("line\n".into())
        );
        let missing = "0123456789012345678901234567890123456789";
        assert!(matches!(
            blobs.read(missing, "a.py").expect("missing"),
            Content::Unreadable(reason) if reason.contains("missing")
        ));
        assert_eq!(
            blobs.read(&small, "a.py").expect("small again"),
            Content::Text("line\n".into())
        );
    }
}
