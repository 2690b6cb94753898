//! Reading `git diff --raw -z --patch`: the NUL-delimited list of changed
//! files (modes, blob ids, paths byte for byte), and joining it with the
//! files of the patch that follows it, which supply the changed lines.

use super::LocalError;
use crate::diff::{self, FileDiff, FileStatus};

/// The file-type bits of a git mode, and the types git records.
pub(super) const TYPE_MASK: u32 = 0o170000;
pub(super) const REGULAR: u32 = 0o100000;
pub(super) const SYMBOLIC_LINK: u32 = 0o120000;
pub(super) const GITLINK: u32 = 0o160000;

/// The path as the engine and the report show it (lossy for bytes that are
/// not UTF-8, as the patch parser decodes them).
fn display(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One record of `git diff --raw -z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawEntry {
    old_mode: u32,
    new_mode: u32,
    old_oid: String,
    new_oid: String,
    /// The status letter (`A`, `C`, `D`, `M`, `R`, `T`, `U`, `X`).
    status: u8,
    /// The source path of a rename or copy; the path otherwise.
    old_path: Vec<u8>,
    path: Vec<u8>,
}

/// Splits the output of `git diff --raw -z --patch` into its records and the
/// patch that follows them (after an empty record).
pub(super) fn parse_raw(out: &[u8]) -> Result<(Vec<RawEntry>, &[u8]), LocalError> {
    let bad = |what: &str| LocalError::RawDiff(what.to_owned());
    let field = |rest: &[u8]| -> Result<(Vec<u8>, usize), LocalError> {
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| bad("a record is not NUL-terminated"))?;
        Ok((rest[..end].to_vec(), end + 1))
    };
    let mut entries = Vec::new();
    let mut rest = out;
    // Each record starts with `:`; every pass consumes at least its header.
    while let Some(after) = rest.strip_prefix(b":") {
        let (header, used) = field(after)?;
        rest = &after[used..];
        let header = String::from_utf8(header).map_err(|_| bad("a header is not text"))?;
        let fields: Vec<&str> = header.split(' ').collect();
        let [old_mode, new_mode, old_oid, new_oid, status] = fields[..] else {
            return Err(bad(&format!("unexpected header `{header}`")));
        };
        let mode = |text: &str| {
            u32::from_str_radix(text, 8).map_err(|_| bad(&format!("bad mode `{text}`")))
        };
        let oid = |text: &str| {
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(text.to_owned())
            } else {
                Err(bad(&format!("bad object id `{text}`")))
            }
        };
        let status_letter = *status
            .as_bytes()
            .first()
            .ok_or_else(|| bad("a record has no status"))?;
        let (first, used) = field(rest)?;
        rest = &rest[used..];
        let (old_path, path) = if matches!(status_letter, b'R' | b'C') {
            let (second, used) = field(rest)?;
            rest = &rest[used..];
            (first, second)
        } else {
            (first.clone(), first)
        };
        entries.push(RawEntry {
            old_mode: mode(old_mode)?,
            new_mode: mode(new_mode)?,
            old_oid: oid(old_oid)?,
            new_oid: oid(new_oid)?,
            status: status_letter,
            old_path,
            path,
        });
    }
    Ok((entries, rest.strip_prefix(b"\0").unwrap_or(rest)))
}

/// One side of a changed file, as git's list names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Side {
    pub(super) mode: u32,
    pub(super) oid: String,
    pub(super) path: Vec<u8>,
}

/// A changed file whose contents are still to be fetched.
#[derive(Debug)]
pub(super) struct Planned {
    pub(super) diff: FileDiff,
    pub(super) base: Option<Side>,
    pub(super) head: Option<Side>,
    /// Not analysed, for this reason, whatever its sides.
    pub(super) unmerged: Option<String>,
}

/// Joins git's list of files with the files of its patch. Both come in the
/// same order; a change of file type (a file that became a link) is two
/// patches, a removal and an addition, as git prints it. Paths, status and
/// sides come from the list, changed lines from the patch, and a patch
/// naming another path than the list's is an error, never a silent shift.
pub(super) fn pair(
    entries: Vec<RawEntry>,
    patches: Vec<FileDiff>,
) -> Result<Vec<Planned>, LocalError> {
    let mut patches = patches.into_iter().peekable();
    let mut planned = Vec::with_capacity(entries.len());
    for entry in entries {
        let path = display(&entry.path);
        let old = (entry.old_mode != 0).then(|| Side {
            mode: entry.old_mode,
            oid: entry.old_oid.clone(),
            path: entry.old_path.clone(),
        });
        let new = (entry.new_mode != 0).then(|| Side {
            mode: entry.new_mode,
            oid: entry.new_oid.clone(),
            path: entry.path.clone(),
        });
        if entry.status == b'U' {
            // git prints "* Unmerged path" for it, not a patch.
            let lines = match patches.next_if(|p| p.path == path) {
                Some(patch) => patch.lines,
                None => Default::default(),
            };
            planned.push(Planned {
                diff: file_diff(path, None, FileStatus::Modified, lines, false, false),
                base: None,
                head: None,
                unmerged: Some("unmerged path (a merge conflict): not analysed".into()),
            });
            continue;
        }
        let mut next = |expected: &str| -> Result<FileDiff, LocalError> {
            match patches.next() {
                Some(patch) if patch.path == expected => Ok(patch),
                Some(patch) => Err(LocalError::Mismatch {
                    listed: expected.to_owned(),
                    patched: patch.path,
                }),
                None => Err(LocalError::Mismatch {
                    listed: expected.to_owned(),
                    patched: "(nothing)".into(),
                }),
            }
        };
        let type_changed = old.is_some()
            && new.is_some()
            && entry.old_mode & TYPE_MASK != entry.new_mode & TYPE_MASK;
        if type_changed {
            let old_display = display(&entry.old_path);
            let removal = next(&old_display)?;
            let addition = next(&path)?;
            planned.push(Planned {
                diff: file_diff(
                    old_display,
                    None,
                    FileStatus::Removed,
                    removal.lines,
                    removal.binary,
                    false,
                ),
                base: old,
                head: None,
                unmerged: None,
            });
            planned.push(Planned {
                diff: file_diff(
                    path,
                    None,
                    FileStatus::Added,
                    addition.lines,
                    addition.binary,
                    false,
                ),
                base: None,
                head: new,
                unmerged: None,
            });
            continue;
        }
        let status = match entry.status {
            b'A' => FileStatus::Added,
            b'D' => FileStatus::Removed,
            b'M' | b'T' => FileStatus::Modified,
            b'R' => FileStatus::Renamed,
            b'C' => FileStatus::Copied,
            other => {
                return Err(LocalError::RawDiff(format!(
                    "unknown status `{}` for {path}",
                    char::from(other)
                )));
            }
        };
        let old_path = matches!(status, FileStatus::Renamed | FileStatus::Copied)
            .then(|| display(&entry.old_path));
        let patch = next(&path)?;
        planned.push(Planned {
            diff: file_diff(
                path,
                old_path,
                status,
                patch.lines,
                patch.binary,
                patch.mode_only,
            ),
            base: old,
            head: new,
            unmerged: None,
        });
    }
    if let Some(extra) = patches.next() {
        return Err(LocalError::Mismatch {
            listed: "(nothing)".into(),
            patched: extra.path,
        });
    }
    Ok(planned)
}

fn file_diff(
    path: String,
    old_path: Option<String>,
    status: FileStatus,
    lines: diff::LineSets,
    binary: bool,
    mode_only: bool,
) -> FileDiff {
    FileDiff {
        path,
        old_path,
        status,
        binary,
        mode_only,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn record(modes: &str, oids: (&str, &str), status: &str, paths: &[&[u8]]) -> Vec<u8> {
        let mut out = format!(":{modes} {} {} {status}\0", oids.0, oids.1).into_bytes();
        for path in paths {
            out.extend_from_slice(path);
            out.push(0);
        }
        out
    }

    fn patch_for(path: &str, status: &str) -> String {
        let quoted = format!("{path:?}"); // Rust escapes are close enough to git's for these names.
        match status {
            "A" => format!(
                "diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ {}\n@@ -0,0 +1 @@\n+new\n",
                quoted.replacen('"', "\"b/", 1)
            ),
            "D" => format!(
                "diff --git a/x b/x\ndeleted file mode 100644\n--- {}\n+++ /dev/null\n@@ -1 +0,0 @@\n-old\n",
                quoted.replacen('"', "\"a/", 1)
            ),
            _ => format!(
                "diff --git a/x b/x\n--- {}\n+++ {}\n@@ -1 +1,2 @@\n x\n+y\n",
                quoted.replacen('"', "\"a/", 1),
                quoted.replacen('"', "\"b/", 1)
            ),
        }
    }

    #[test]
    fn raw_records_keep_every_byte_of_a_path() {
        let mut out = Vec::new();
        out.extend(record("000000 100644", (Z, A), "A", &[b"new\nline.py"]));
        out.extend(record(
            "100644 100644",
            (A, B),
            "R087",
            &[b"-old\t.py", b"caf\xe9 \"q\".py"],
        ));
        out.extend(record("100644 120000", (A, B), "T", &[b"link"]));
        out.push(0);
        out.extend_from_slice(b"diff --git a/x b/x\n");
        let (entries, patch) = parse_raw(&out).expect("parses");
        assert_eq!(patch, b"diff --git a/x b/x\n");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].path, b"new\nline.py");
        assert_eq!((entries[0].old_mode, entries[0].new_mode), (0, 0o100644));
        assert_eq!(entries[0].new_oid, A);
        assert_eq!(entries[1].status, b'R');
        assert_eq!(entries[1].old_path, b"-old\t.py");
        assert_eq!(entries[1].path, b"caf\xe9 \"q\".py");
        assert_eq!(entries[2].new_mode, 0o120000);
        assert_eq!(parse_raw(b"").expect("empty").0, vec![]);
    }

    #[test]
    fn malformed_raw_records_are_errors() {
        for bad in [
            &b":100644 100644 x y M\0p\0"[..],
            b":100644 100644\0p\0",
            b":100644 100644 11 22 M\0unterminated",
            b":10064z 100644 11 22 M\0p\0",
        ] {
            assert!(
                matches!(parse_raw(bad), Err(LocalError::RawDiff(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn entry(status: &str, modes: (u32, u32), old: &[u8], new: &[u8]) -> RawEntry {
        RawEntry {
            old_mode: modes.0,
            new_mode: modes.1,
            old_oid: A.into(),
            new_oid: B.into(),
            status: status.as_bytes()[0],
            old_path: old.to_vec(),
            path: new.to_vec(),
        }
    }

    fn patches(parts: &[(&str, &str)]) -> Vec<FileDiff> {
        let text: String = parts.iter().map(|(p, s)| patch_for(p, s)).collect();
        diff::parse_unified_diff(text.as_bytes()).expect("patch parses")
    }

    #[test]
    fn list_and_patch_pair_up_and_a_type_change_is_two_files() {
        let entries = vec![
            entry("A", (0, 0o100644), b"a\nb.py", b"a\nb.py"),
            entry("T", (0o100644, 0o120000), b"link.py", b"link.py"),
            entry("M", (0o160000, 0o160000), b"sub", b"sub"),
        ];
        let planned = pair(
            entries,
            patches(&[
                ("a\nb.py", "A"),
                ("link.py", "D"),
                ("link.py", "A"),
                ("sub", "M"),
            ]),
        )
        .expect("pairs");
        let summary: Vec<(&str, FileStatus, Option<u32>, Option<u32>)> = planned
            .iter()
            .map(|p| {
                (
                    p.diff.path.as_str(),
                    p.diff.status,
                    p.base.as_ref().map(|s| s.mode),
                    p.head.as_ref().map(|s| s.mode),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("a\nb.py", FileStatus::Added, None, Some(0o100644)),
                ("link.py", FileStatus::Removed, Some(0o100644), None),
                ("link.py", FileStatus::Added, None, Some(0o120000)),
                ("sub", FileStatus::Modified, Some(0o160000), Some(0o160000)),
            ]
        );
        assert!(planned[0].diff.lines.added.contains(&1));
        assert_eq!(planned[0].head.as_ref().map(|s| s.oid.as_str()), Some(B));
    }

    #[test]
    fn a_patch_for_another_path_is_an_error_not_a_shift() {
        let entries = vec![
            entry("A", (0, 0o100644), b"a\nb.py", b"a\nb.py"),
            entry("M", (0o100644, 0o100644), b"app.py", b"app.py"),
        ];
        let shifted = pair(entries.clone(), patches(&[("app.py", "M")]));
        assert!(
            matches!(shifted, Err(LocalError::Mismatch { .. })),
            "{shifted:?}"
        );
        let extra = pair(
            entries,
            patches(&[("a\nb.py", "A"), ("app.py", "M"), ("z.py", "M")]),
        );
        assert!(
            matches!(extra, Err(LocalError::Mismatch { .. })),
            "{extra:?}"
        );
    }

    #[test]
    fn renames_keep_both_paths_and_unmerged_paths_are_named() {
        let entries = vec![
            entry("R", (0o100644, 0o100644), b"old.py", b"new.py"),
            entry("U", (0, 0), b"conflict.py", b"conflict.py"),
        ];
        let planned = pair(entries, patches(&[("new.py", "M")])).expect("pairs");
        assert_eq!(planned[0].diff.status, FileStatus::Renamed);
        assert_eq!(planned[0].diff.old_path.as_deref(), Some("old.py"));
        assert_eq!(
            planned[0].base.as_ref().map(|s| s.path.as_slice()),
            Some(&b"old.py"[..])
        );
        assert_eq!(planned[1].diff.path, "conflict.py");
        assert!(planned[1].unmerged.is_some());
    }
}
