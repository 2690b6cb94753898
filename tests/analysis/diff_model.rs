//! The diff model: table tests for each form a diff can take, and a property
//! test that arbitrary bytes never panic the parser.

use hunkscan::diff::{DiffError, FileStatus, parse_patch, parse_unified_diff};
use proptest::prelude::*;

fn set(lines: &[u32]) -> std::collections::BTreeSet<u32> {
    lines.iter().copied().collect()
}

#[test]
fn github_patch_without_headers_yields_added_commentable_and_deleted_lines() {
    let patch = b"@@ -1,4 +1,5 @@\n import os\n-import sys\n+import subprocess\n+import yaml\n \n def main():\n";
    let sets = parse_patch(patch).expect("valid patch");
    assert_eq!(sets.added, set(&[2, 3]));
    assert_eq!(sets.commentable, set(&[1, 2, 3, 4, 5]));
    assert_eq!(sets.deleted, set(&[2]));
    assert_eq!(sets.hunks.len(), 1);
}

#[test]
fn several_hunks_keep_their_own_numbering() {
    let patch = b"@@ -1,2 +1,2 @@\n-a\n+A\n b\n@@ -10,2 +10,3 @@ def f():\n x\n+y\n z\n";
    let sets = parse_patch(patch).expect("valid patch");
    assert_eq!(sets.added, set(&[1, 11]));
    assert_eq!(sets.commentable, set(&[1, 2, 10, 11, 12]));
    assert_eq!(sets.deleted, set(&[1]));
}

#[test]
fn hunk_header_without_counts_means_one_line() {
    let sets = parse_patch(b"@@ -1 +1 @@\n-old\n+new\n").expect("valid patch");
    assert_eq!(sets.added, set(&[1]));
    assert_eq!(sets.deleted, set(&[1]));
}

#[test]
fn no_newline_at_end_of_file_markers_are_not_lines() {
    let patch = b"@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n";
    let sets = parse_patch(patch).expect("valid patch");
    assert_eq!(sets.added, set(&[2]));
    assert_eq!(sets.commentable, set(&[1, 2]));
}

#[test]
fn crlf_diff_reads_like_lf() {
    let lf = parse_patch(b"@@ -1,2 +1,3 @@\n a\n+b\n c\n").expect("lf");
    let crlf = parse_patch(b"@@ -1,2 +1,3 @@\r\n a\r\n+b\r\n c\r\n").expect("crlf");
    assert_eq!(lf, crlf);
    assert_eq!(crlf.added, set(&[2]));
}

#[test]
fn empty_patch_has_no_lines() {
    let sets = parse_patch(b"").expect("empty patch");
    assert!(sets.added.is_empty() && sets.commentable.is_empty() && sets.deleted.is_empty());
}

#[test]
fn non_utf8_lines_are_counted() {
    let sets = parse_patch(b"@@ -0,0 +1,2 @@\n+caf\xe9 = 1\n+\xff\xfe\n").expect("latin-1 patch");
    assert_eq!(sets.added, set(&[1, 2]));
}

#[test]
fn context_line_with_stripped_space_is_context() {
    let sets = parse_patch(b"@@ -1,3 +1,4 @@\n a\n\n+b\n c\n").expect("valid patch");
    assert_eq!(sets.added, set(&[3]));
    assert_eq!(sets.commentable, set(&[1, 2, 3, 4]));
}

#[test]
fn malformed_and_truncated_hunks_are_errors_naming_the_line() {
    assert!(matches!(
        parse_patch(b"@@ -x +1 @@\n+a\n"),
        Err(DiffError::BadHunkHeader { line: 1, .. })
    ));
    assert!(matches!(
        parse_patch(b"@@ -1,3 +1,3 @@\n a\n"),
        Err(DiffError::TruncatedHunk { .. })
    ));
}

const GIT_DIFF: &[u8] = b"diff --git a/app/new.py b/app/new.py
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/app/new.py
@@ -0,0 +1,2 @@
+import os
+os.system(cmd)
diff --git a/old.py b/old.py
deleted file mode 100644
index e69de29..0000000
--- a/old.py
+++ /dev/null
@@ -1 +0,0 @@
-print(1)
diff --git a/src/a.rs b/src/b.rs
similarity index 90%
rename from src/a.rs
rename to src/b.rs
index 1111111..2222222 100644
--- a/src/a.rs
+++ b/src/b.rs
@@ -1,2 +1,2 @@
 fn a() {}
-fn b() {}
+fn c() {}
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
diff --git a/logo.png b/logo.png
index 3333333..4444444 100644
Binary files a/logo.png and b/logo.png differ
diff --git a/my dir/file name.py b/my dir/file name.py
index 5555555..6666666 100644
--- a/my dir/file name.py
+++ b/my dir/file name.py
@@ -1 +1,2 @@
 x = 1
+y = 2
diff --git \"a/caf\\303\\251 \\\"q\\\".py\" \"b/caf\\303\\251 \\\"q\\\".py\"
index 7777777..8888888 100644
--- \"a/caf\\303\\251 \\\"q\\\".py\"
+++ \"b/caf\\303\\251 \\\"q\\\".py\"
@@ -1 +1 @@
-a
+b
diff --git a/pure.txt b/moved.txt
similarity index 100%
rename from pure.txt
rename to moved.txt
";

#[test]
fn git_diff_reads_every_file_kind() {
    let files = parse_unified_diff(GIT_DIFF).expect("valid git diff");
    let summary: Vec<_> = files
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                f.old_path.as_deref(),
                f.status,
                f.binary,
                f.mode_only,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("app/new.py", None, FileStatus::Added, false, false),
            ("old.py", None, FileStatus::Removed, false, false),
            (
                "src/b.rs",
                Some("src/a.rs"),
                FileStatus::Renamed,
                false,
                false
            ),
            ("run.sh", None, FileStatus::Modified, false, true),
            ("logo.png", None, FileStatus::Modified, true, false),
            (
                "my dir/file name.py",
                None,
                FileStatus::Modified,
                false,
                false
            ),
            (
                "caf\u{e9} \"q\".py",
                None,
                FileStatus::Modified,
                false,
                false
            ),
            (
                "moved.txt",
                Some("pure.txt"),
                FileStatus::Renamed,
                false,
                false
            ),
        ]
    );
    assert_eq!(files[0].lines.added, set(&[1, 2]));
    assert_eq!(files[1].lines.deleted, set(&[1]));
    assert_eq!(files[2].lines.added, set(&[2]));
    assert!(files[3].lines.added.is_empty());
    assert_eq!(files[5].lines.added, set(&[2]));
    assert_eq!(files[6].lines.added, set(&[1]));
    assert!(files[7].lines.hunks.is_empty());
}

#[test]
fn plain_unified_diff_without_git_headers() {
    let diff = b"--- a/x.py\t2026-01-01 00:00:00\n+++ b/x.py\t2026-01-02 00:00:00\n@@ -1 +1,2 @@\n a\n+b\n--- a/y.py\n+++ b/y.py\n@@ -1 +1 @@\n-c\n+d\n";
    let files = parse_unified_diff(diff).expect("valid diff");
    assert_eq!(files.len(), 2);
    assert_eq!(
        (files[0].path.as_str(), files[1].path.as_str()),
        ("x.py", "y.py")
    );
    assert_eq!(files[0].lines.added, set(&[2]));
    assert_eq!(files[1].lines.added, set(&[1]));
}

#[test]
fn hunk_lines_that_look_like_headers_are_content() {
    // A removed line "-- a" and an added line "++ b" look like file headers
    // but the hunk counts say they are content.
    let diff = b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n--- a\n+++ b\n keep\n";
    let files = parse_unified_diff(diff).expect("valid diff");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].lines.added, set(&[1]));
    assert_eq!(files[0].lines.deleted, set(&[1]));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_patch(&bytes);
        let _ = parse_unified_diff(&bytes);
    }

    #[test]
    fn added_lines_are_always_commentable(
        ops in proptest::collection::vec(0u8..3, 1..60),
        start in 1u32..500,
    ) {
        // Build a well-formed hunk from random add/delete/context operations.
        let (mut old_len, mut new_len, mut body) = (0u32, 0u32, String::new());
        for op in &ops {
            match op {
                0 => { body.push_str("+x\n"); new_len += 1; }
                1 => { body.push_str("-x\n"); old_len += 1; }
                _ => { body.push_str(" x\n"); old_len += 1; new_len += 1; }
            }
        }
        let patch = format!("@@ -{start},{old_len} +{start},{new_len} @@\n{body}");
        let sets = parse_patch(patch.as_bytes()).expect("generated hunk is valid");
        prop_assert!(sets.added.is_subset(&sets.commentable));
        prop_assert_eq!(sets.commentable.len() as u32, new_len);
        prop_assert_eq!(sets.deleted.len(), ops.iter().filter(|op| **op == 1).count());
        prop_assert_eq!(sets.added.len(), ops.iter().filter(|op| **op == 0).count());
        prop_assert!(sets.commentable.iter().all(|l| *l >= start && *l < start + new_len.max(1)));
    }
}
