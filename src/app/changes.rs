//! A pull request as the engine's change set: GitHub's per-file patches give
//! the changed and commentable lines, blobs give the contents. One GraphQL
//! request brings up to a hundred blobs, so a typical pull request costs one
//! call here whatever its size.

use crate::config::repo::CONFIG_PATH;
use crate::diff::{self, FileDiff, FileStatus};
use crate::engine::{ChangeSet, ChangedFile, Content, MAX_FILE_BYTES};
use crate::github::graphql::Blob;
use crate::github::types::PullRequestFile;
use crate::local;

/// What to fetch for one pull request.
#[derive(Debug, Default)]
pub struct FetchPlan {
    /// `<sha>:<path>` expressions, the config file first.
    pub expressions: Vec<String>,
    /// Per listed file: index of its head blob and base blob in `expressions`.
    slots: Vec<(Option<usize>, Option<usize>)>,
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

/// The base version is needed to diff a file whose patch GitHub omitted,
/// and by analyzers that compare base and head (IaC).
fn needs_base(file: &PullRequestFile, reads: &impl Reads) -> bool {
    file.status != "added" && (file.patch.is_none() || reads.compares(&file.filename))
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
        expressions: vec![format!("{base_sha}:{CONFIG_PATH}")],
        slots: Vec::with_capacity(files.len()),
    };
    for file in files {
        // A removed file adds nothing, unless an analyzer compares versions
        // (deleting a protective resource is a regression).
        let wanted = reads.reads(&file.filename)
            && (file.status != "removed" || reads.compares(&file.filename));
        if !wanted {
            plan.slots.push((None, None));
            continue;
        }
        let head = (file.status != "removed").then(|| {
            plan.expressions
                .push(format!("{head_sha}:{}", file.filename));
            plan.expressions.len() - 1
        });
        let base = needs_base(file, reads).then(|| {
            let old_path = file.previous_filename.as_deref().unwrap_or(&file.filename);
            plan.expressions.push(format!("{base_sha}:{old_path}"));
            plan.expressions.len() - 1
        });
        plan.slots.push((head, base));
    }
    plan
}

impl FetchPlan {
    /// The config file's text at the base commit, when it exists.
    pub fn config(blobs: &[Option<Blob>]) -> Option<String> {
        blobs.first()?.as_ref()?.text.clone()
    }
}

fn content(blob: Option<&Blob>) -> Content {
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
        _ if size > MAX_FILE_BYTES => Content::TooLarge(size),
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
        } => Content::from_bytes(text.clone().into_bytes()),
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
    for (file, (head_slot, base_slot)) in files.iter().zip(&plan.slots) {
        if head_slot.is_none() && base_slot.is_none() {
            continue;
        }
        let head = head_slot
            .map(|slot| content(blobs.get(slot).and_then(Option::as_ref)))
            .unwrap_or(Content::Absent);
        let base = base_slot
            .map(|slot| content(blobs.get(slot).and_then(Option::as_ref)))
            .unwrap_or(Content::Absent);
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

#[cfg(test)]
mod tests {
    use super::*;

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
            vec!["B:.github/hunkscan.yml", "H:a.py", "H:big.py", "B:big.py"]
        );
        let blobs = vec![
            blob("fail_on: low\n"),
            blob("y\n"),
            blob("a\nb\nc\n"),
            blob("a\nc\n"),
        ];
        assert_eq!(FetchPlan::config(&blobs).as_deref(), Some("fail_on: low\n"));
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

    #[test]
    fn binary_truncated_oversized_and_non_blob_objects_are_classified() {
        let binary = Blob {
            byte_size: Some(10),
            is_binary: Some(true),
            ..Blob::default()
        };
        assert_eq!(content(Some(&binary)), Content::Binary);
        let big = Blob {
            byte_size: Some(2_000_000),
            text: Some(String::new()),
            ..Blob::default()
        };
        assert_eq!(content(Some(&big)), Content::TooLarge(2_000_000));
        let cut = Blob {
            byte_size: Some(900_000),
            is_truncated: Some(true),
            text: Some("partial".into()),
            ..Blob::default()
        };
        assert_eq!(content(Some(&cut)), Content::TooLarge(900_000));
        assert_eq!(
            content(Some(&Blob::default())),
            Content::Absent,
            "a tree answers {{}}"
        );
        assert_eq!(content(None), Content::Absent);
    }
}
