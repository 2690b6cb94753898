//! A pull request as the engine's change set: GitHub's per-file patches give
//! the changed and commentable lines, blobs give the contents. One GraphQL
//! request brings up to a hundred blobs, so a typical pull request costs one
//! call here whatever its size.

use crate::config::repo::CONFIG_PATH;
use crate::diff::{self, FileDiff, FileStatus};
use crate::engine::secrets::GITLEAKS_IGNORE_PATH;
use crate::engine::{ChangeSet, ChangedFile, Content};
use crate::github::graphql::Blob;
use crate::github::types::PullRequestFile;
use crate::local;

/// What to fetch for one pull request.
#[derive(Debug, Default)]
pub struct FetchPlan {
    /// `<sha>:<path>` expressions, the config file first, `.gitleaksignore` second.
    pub expressions: Vec<String>,
    /// Per listed file: where its head and base versions come from.
    slots: Vec<Slot>,
}

/// Where one file's versions come from.
#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    /// Index of the head blob in `expressions`.
    head: Option<usize>,
    /// Index of the base blob in `expressions`.
    base: Option<usize>,
    /// The base is rebuilt from the head and GitHub's patch.
    base_from_patch: bool,
}

/// Which files an analysis reads, and of those which it compares with their
/// base version.
pub trait Reads {
    /// Whether the head version is read.
    fn reads(&self, path: &str) -> bool;
    /// Whether the base version is compared too.
    fn compares(&self, path: &str) -> bool;
}

impl Reads for crate::engine::Engine {
    fn reads(&self, path: &str) -> bool {
        crate::engine::Engine::reads(self, path)
    }
    fn compares(&self, path: &str) -> bool {
        self.needs_base(path)
    }
}

/// The base blob is fetched only for a file whose patch GitHub omitted (to
/// diff it, and then from the base branch's tip: the only base a blob
/// expression can name). With a patch, a comparing analyzer gets the base
/// rebuilt from head and patch, which is the pull request's real base (the
/// merge base), and costs no fetch.
fn needs_base_blob(file: &PullRequestFile) -> bool {
    file.status != "added" && file.patch.is_none()
}

/// Plans the blobs to fetch: the config at the base commit, and the head
/// (and, where needed, base) version of every file the analysis reads.
pub fn plan_fetch(
    files: &[PullRequestFile],
    base_sha: &str,
    head_sha: &str,
    reads: &impl Reads,
) -> FetchPlan {
    let mut plan = FetchPlan {
        expressions: vec![
            format!("{base_sha}:{CONFIG_PATH}"),
            format!("{base_sha}:{GITLEAKS_IGNORE_PATH}"),
        ],
        slots: Vec::with_capacity(files.len()),
    };
    for file in files {
        // A removed file adds nothing, unless an analyzer compares versions
        // (deleting a protective resource is a regression).
        let wanted = reads.reads(&file.filename)
            && (file.status != "removed" || reads.compares(&file.filename));
        if !wanted {
            plan.slots.push(Slot::default());
            continue;
        }
        let head = (file.status != "removed").then(|| {
            plan.expressions
                .push(format!("{head_sha}:{}", file.filename));
            plan.expressions.len() - 1
        });
        let base = needs_base_blob(file).then(|| {
            let old_path = file.previous_filename.as_deref().unwrap_or(&file.filename);
            plan.expressions.push(format!("{base_sha}:{old_path}"));
            plan.expressions.len() - 1
        });
        let base_from_patch =
            file.patch.is_some() && file.status != "added" && reads.compares(&file.filename);
        plan.slots.push(Slot {
            head,
            base,
            base_from_patch,
        });
    }
    plan
}

impl FetchPlan {
    /// The config file's text at the base commit, when it exists.
    pub fn config(blobs: &[Option<Blob>]) -> Option<String> {
        blobs.first()?.as_ref()?.text.clone()
    }

    /// `.gitleaksignore`'s text at the base commit, when it exists.
    pub fn gitleaks_ignore(blobs: &[Option<Blob>]) -> Option<String> {
        blobs.get(1)?.as_ref()?.text.clone()
    }
}

/// One side's content; over `limit` bytes ([`crate::engine::max_bytes_for`]
/// the file's path) it is too large.
fn content(blob: Option<&Blob>, limit: usize) -> Content {
    let Some(blob) = blob else {
        return Content::Absent;
    };
    let size = blob
        .byte_size
        .map_or(0, |size| usize::try_from(size).unwrap_or(usize::MAX));
    match blob {
        // A tree or submodule at that path: no file content.
        Blob {
            byte_size: None,
            text: None,
            ..
        } => Content::Absent,
        _ if size > limit => Content::TooLarge(size),
        // GitHub cut the text short: analysing it as complete would misread
        // the file (and a local diff would invent deletions).
        Blob {
            is_truncated: Some(true),
            ..
        } => Content::TooLarge(size),
        Blob {
            is_binary: Some(true),
            ..
        }
        | Blob { text: None, .. } => Content::Binary,
        Blob {
            text: Some(text), ..
        } => Content::from_bytes_within(text.clone().into_bytes(), limit),
    }
}

fn status(file: &PullRequestFile) -> FileStatus {
    match file.status.as_str() {
        "added" => FileStatus::Added,
        "removed" => FileStatus::Removed,
        "renamed" => FileStatus::Renamed,
        "copied" => FileStatus::Copied,
        _ => FileStatus::Modified,
    }
}

/// The change set, plus one line per file that could not be read and why.
pub fn build(
    files: &[PullRequestFile],
    plan: &FetchPlan,
    blobs: &[Option<Blob>],
) -> (ChangeSet, Vec<(String, String)>) {
    let mut changes = ChangeSet::default();
    let mut problems = Vec::new();
    for (file, slot) in files.iter().zip(&plan.slots) {
        if slot.head.is_none() && slot.base.is_none() && !slot.base_from_patch {
            continue;
        }
        // Lockfiles may be larger than other files (dependency review reads
        // them alone past the general limit).
        let limit = crate::engine::max_bytes_for(&file.filename);
        let head = slot
            .head
            .map(|index| content(blobs.get(index).and_then(Option::as_ref), limit))
            .unwrap_or(Content::Absent);
        let mut base = slot
            .base
            .map(|index| content(blobs.get(index).and_then(Option::as_ref), limit))
            .unwrap_or(Content::Absent);
        if let (true, Some(patch)) = (slot.base_from_patch, &file.patch) {
            let head_text = match &head {
                Content::Text(text) => Some(text.as_str()),
                Content::Absent => Some(""),
                _ => None,
            };
            match head_text.and_then(|text| base_from_patch(text, patch)) {
                Some(text) => base = Content::Text(text),
                None => problems.push((
                    file.filename.clone(),
                    "its base version could not be rebuilt from the diff; compared as if new"
                        .into(),
                )),
            }
        }
        let changed = match &file.patch {
            Some(patch) => diff::parse_patch(patch.as_bytes()).map(|lines| ChangedFile {
                diff: FileDiff {
                    path: file.filename.clone(),
                    old_path: file.previous_filename.clone(),
                    status: status(file),
                    binary: false,
                    mode_only: false,
                    lines,
                },
                base,
                head,
            }),
            None => {
                // GitHub omits `patch` for binary files and for diffs it finds
                // too large; diff the blobs ourselves. Its web diff shows no
                // hunk either, so no line takes a review comment: such
                // findings go to annotations only.
                local::changed_file(&file.filename, base, head).map(|mut changed| {
                    changed.diff.status = status(file);
                    changed.diff.old_path = file.previous_filename.clone();
                    changed.diff.lines.commentable.clear();
                    changed
                })
            }
        };
        match changed {
            Ok(changed) => changes.files.push(changed),
            Err(error) => problems.push((
                file.filename.clone(),
                format!("its diff could not be read: {error}"),
            )),
        }
    }
    (changes, problems)
}

/// The base version of a file from its head version and GitHub's patch
/// (hunks without headers): unchanged lines come from head, each hunk's
/// context and deleted lines from the patch. `None` when the patch does not
/// fit the head (then the caller must not guess). Written here because
/// diff crates apply patches forward from the old text, and the old text is
/// exactly what is missing.
pub fn base_from_patch(head: &str, patch: &str) -> Option<String> {
    let head_lines: Vec<&str> = head.split_inclusive('\n').collect();
    let body = |line: &str| line.strip_suffix('\n').unwrap_or(line).to_owned();
    let mut base = String::with_capacity(head.len());
    let mut next = 0usize;
    let mut last_old_side = false;
    for line in patch.split('\n') {
        if let Some(header) = line.strip_prefix("@@ ") {
            // "@@ -a,b +c,d @@ context": only where the hunk starts in head.
            let new_range = header.split(' ').find(|part| part.starts_with('+'))?;
            let start: usize = new_range[1..].split(',').next()?.parse().ok()?;
            let first = start.saturating_sub(1);
            if first < next || first > head_lines.len() {
                return None;
            }
            head_lines[next..first]
                .iter()
                .for_each(|l| base.push_str(l));
            next = first;
            last_old_side = false;
        } else if let Some(text) = line.strip_prefix(' ') {
            let current = head_lines.get(next)?;
            if body(current) != text {
                return None;
            }
            base.push_str(current);
            next += 1;
            last_old_side = true;
        } else if let Some(text) = line.strip_prefix('-') {
            base.push_str(text);
            base.push('\n');
            last_old_side = true;
        } else if let Some(text) = line.strip_prefix('+') {
            if body(head_lines.get(next)?) != text {
                return None;
            }
            next += 1;
            last_old_side = false;
        } else if line.starts_with('\\') {
            // "\ No newline at end of file" after an old-side line.
            if last_old_side && base.ends_with('\n') {
                base.pop();
            }
        } else if !line.is_empty() {
            return None;
        }
    }
    head_lines[next..].iter().for_each(|l| base.push_str(l));
    Some(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::MAX_FILE_BYTES;

    fn file(name: &str, status: &str, patch: Option<&str>) -> PullRequestFile {
        PullRequestFile {
            filename: name.into(),
            status: status.into(),
            additions: 1,
            deletions: 0,
            patch: patch.map(str::to_owned),
            previous_filename: None,
        }
    }

    fn blob(text: &str) -> Option<Blob> {
        Some(Blob {
            byte_size: Some(text.len() as u64),
            is_binary: Some(false),
            is_truncated: Some(false),
            text: Some(text.into()),
        })
    }

    #[test]
    fn fetches_only_what_is_read_and_base_only_without_a_patch() {
        let files = vec![
            file("a.py", "modified", Some("@@ -1 +1 @@\n-x\n+y\n")),
            file("gone.py", "removed", None),
            file("img.png", "added", None),
            file("big.py", "modified", None),
        ];
        struct Python;
        impl Reads for Python {
            fn reads(&self, path: &str) -> bool {
                path.ends_with(".py")
            }
            fn compares(&self, _: &str) -> bool {
                false
            }
        }
        let plan = plan_fetch(&files, "B", "H", &Python);
        assert_eq!(
            plan.expressions,
            vec![
                "B:.github/hunkscan.yml",
                "B:.gitleaksignore",
                "H:a.py",
                "H:big.py",
                "B:big.py"
            ]
        );
        let blobs = vec![
            blob("fail_on: low\n"),
            blob("a.py:github-pat:1\n"),
            blob("y\n"),
            blob("a\nb\nc\n"),
            blob("a\nc\n"),
        ];
        assert_eq!(FetchPlan::config(&blobs).as_deref(), Some("fail_on: low\n"));
        assert_eq!(
            FetchPlan::gitleaks_ignore(&blobs).as_deref(),
            Some("a.py:github-pat:1\n")
        );
        let (changes, problems) = build(&files, &plan, &blobs);
        assert!(problems.is_empty());
        assert_eq!(changes.files.len(), 2);
        assert_eq!(
            changes.files[0]
                .diff
                .lines
                .added
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![1]
        );
        let big = &changes.files[1];
        assert_eq!(
            big.diff.lines.added.iter().copied().collect::<Vec<_>>(),
            vec![2],
            "diffed locally"
        );
        assert!(
            big.diff.lines.commentable.is_empty(),
            "no hunk on GitHub to comment on"
        );
    }

    fn git_like_patch(old: &str, new: &str) -> String {
        crate::local::unified_patch(old, new)
    }

    #[test]
    fn bases_are_rebuilt_from_head_and_patch() {
        let cases = [
            ("a\nb\nc\n", "a\nB\nc\nd\n"),
            ("", "new\nfile\n"),
            ("gone\nfile\n", ""),
            ("x\ny", "x\ny\n"),
            ("x\ny\n", "x\nz"),
            (
                "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
                "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\neleven\n12\n",
            ),
            ("crlf\r\nline\r\n", "crlf\r\nLINE\r\n"),
        ];
        for (old, new) in cases {
            let patch = git_like_patch(old, new);
            assert_eq!(
                base_from_patch(new, &patch).as_deref(),
                Some(old),
                "{patch:?}"
            );
        }
        assert_eq!(
            base_from_patch("other\n", "@@ -1 +1 @@\n-a\n+b"),
            None,
            "patch does not fit"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_base_is_rebuilt(old in "([abc]{0,3}\n){0,12}[abc]{0,2}", new in "([abc]{0,3}\n){0,12}[abc]{0,2}") {
            let patch = git_like_patch(&old, &new);
            proptest::prop_assert_eq!(base_from_patch(&new, &patch), Some(old.clone()), "{:?} {:?} {:?}", old, new, patch);
        }
    }

    #[test]
    fn binary_truncated_oversized_and_non_blob_objects_are_classified() {
        let binary = Blob {
            byte_size: Some(10),
            is_binary: Some(true),
            ..Blob::default()
        };
        assert_eq!(content(Some(&binary), MAX_FILE_BYTES), Content::Binary);
        let big = Blob {
            byte_size: Some(2_000_000),
            text: Some(String::new()),
            ..Blob::default()
        };
        assert_eq!(
            content(Some(&big), MAX_FILE_BYTES),
            Content::TooLarge(2_000_000)
        );
        // A lockfile of that size is text: dependency review reads it.
        let lock_text = "x".repeat(2_000_000);
        let lock = Blob {
            byte_size: Some(2_000_000),
            text: Some(lock_text.clone()),
            ..Blob::default()
        };
        assert_eq!(
            content(
                Some(&lock),
                crate::engine::max_bytes_for("web/package-lock.json")
            ),
            Content::Text(lock_text)
        );
        let cut = Blob {
            byte_size: Some(900_000),
            is_truncated: Some(true),
            text: Some("partial".into()),
            ..Blob::default()
        };
        assert_eq!(
            content(Some(&cut), MAX_FILE_BYTES),
            Content::TooLarge(900_000)
        );
        assert_eq!(
            content(Some(&Blob::default()), MAX_FILE_BYTES),
            Content::Absent,
            "a tree answers {{}}"
        );
        assert_eq!(content(None, MAX_FILE_BYTES), Content::Absent);
    }
}
