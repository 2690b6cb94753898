//! `hunkscan scan` reads exactly the change, safely: any byte in a file
//! name works, symbolic links are never followed, special files are never
//! opened, and every path of the change is analysed or listed as skipped.
//! The real binary over real git repositories in temporary directories.
#![cfg(unix)]

use serde_json::Value;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary; a run that has not finished after a minute (a read
/// that blocks on a FIFO or never ends on /dev/zero) is killed and fails the
/// test instead of blocking the suite.
fn hunkscan(args: &[&OsStr]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hunkscan {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |handle: std::thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&handle.join().expect("reader")).into_owned()
    };
    Run {
        code: status.code(),
        stdout: text(out),
        stderr: text(err),
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn name(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

fn write(root: &Path, files: &[(&[u8], &str)]) {
    for (file, content) in files {
        std::fs::write(root.join(name(file)), content).expect("write");
    }
}

/// How a test runs the scan over its change.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The change committed on `feature`: `--base main --head feature`.
    Branch,
    /// The change left in the work tree: `--base HEAD`.
    WorkTree,
}

/// A repository whose `main` holds `base`, with the change to `head`
/// committed on `feature` or left in the work tree; `before` runs on the
/// work tree after the head files are written (links, FIFOs), before the
/// change is staged.
fn repo(
    base: &[(&[u8], &str)],
    head: &[(&[u8], &str)],
    mode: Mode,
    before: impl FnOnce(&Path),
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    write(root, base);
    std::fs::write(root.join("README"), "base\n").expect("write");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    if matches!(mode, Mode::Branch) {
        git(root, &["checkout", "-q", "-b", "feature"]);
    }
    write(root, head);
    before(root);
    // New files are staged so that `git diff HEAD` sees them; changes to
    // tracked ones would be seen either way.
    git(root, &["add", "-A"]);
    if matches!(mode, Mode::Branch) {
        git(root, &["commit", "-q", "-m", "change"]);
    }
    dir
}

fn scan(repo: &Path, mode: Mode, format: &str) -> Run {
    let mut args = vec![OsStr::new("scan"), OsStr::new("--repo"), repo.as_os_str()];
    let revisions: &[&str] = match mode {
        Mode::Branch => &["--base", "main", "--head", "feature"],
        Mode::WorkTree => &["--base", "HEAD"],
    };
    args.extend(revisions.iter().map(OsStr::new));
    args.extend([OsStr::new("--format"), OsStr::new(format)]);
    hunkscan(&args)
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("json ({e}): {}\nstderr: {}", run.stdout, run.stderr))
}

/// The (path, rule) of every finding.
fn findings(report: &Value) -> BTreeSet<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("path").to_owned(),
                f["rule_id"].as_str().expect("rule").to_owned(),
            )
        })
        .collect()
}

/// The (path, reason) of every skipped entry.
fn skipped(report: &Value) -> BTreeSet<(String, String)> {
    report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            (
                s["path"].as_str().expect("path").to_owned(),
                s["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

const YAML_LOAD: &str = "import yaml\ncfg = yaml.load(data)\n";
const SHELL_TRUE: &str = "import subprocess\nsubprocess.call(cmd, shell=True)\n";
const OS_SYSTEM: &str = "import os\nos.system(cmd)\n";
const YAML_RULE: &str = "python.yaml-load-without-loader";
const SHELL_RULE: &str = "python.subprocess-shell-true";
const SYSTEM_RULE: &str = "python.os-system-non-literal";
const TOKEN: &str = "ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o";
const SYMLINK: &str = "symbolic link: not followed";

#[test]
fn names_with_newlines_tabs_quotes_and_escapes_do_not_hide_a_vulnerable_file() {
    // A newline used to shift git's content stream by one file: every later
    // file got another's content and app.py went unreported, exit 0.
    let names: [&[u8]; 6] = [
        b"a\nb.py",
        b"app.py",
        b"esc\x1b[31mred.py",
        b"quote\"back\\slash.py",
        b"tab\there.py",
        b"zz.py",
    ];
    let head: Vec<(&[u8], &str)> = vec![
        (names[0], YAML_LOAD),
        (names[1], SHELL_TRUE),
        (names[2], "x = 1\n"),
        (names[3], "y = 2\n"),
        (names[4], "z = 3\n"),
        (names[5], OS_SYSTEM),
    ];
    let base: Vec<(&[u8], &str)> = names.iter().map(|n| (*n, "pass\n")).collect();
    for mode in [Mode::Branch, Mode::WorkTree] {
        let dir = repo(&base, &head, mode, |_| {});
        let report = scan(dir.path(), mode, "json");
        assert_eq!(
            report.code,
            Some(1),
            "{mode:?}: {}{}",
            report.stdout,
            report.stderr
        );
        let report = json(&report);
        assert_eq!(
            findings(&report),
            set(&[
                ("a\nb.py", YAML_RULE),
                ("app.py", SHELL_RULE),
                ("zz.py", SYSTEM_RULE)
            ]),
            "{mode:?}: {report:#}"
        );
        assert_eq!(skipped(&report), set(&[]), "{mode:?}");
        assert_eq!(report["summary"]["files_analyzed"], 6, "{mode:?}");
        let text = scan(dir.path(), mode, "text");
        assert_eq!(text.code, Some(1), "{mode:?}");
        assert!(
            text.stdout
                .contains("app.py:2:1: HIGH [python.subprocess-shell-true]"),
            "{mode:?}: {}",
            text.stdout
        );
        assert!(
            text.stdout
                .contains("zz.py:2:1: HIGH [python.os-system-non-literal]"),
            "{mode:?}: {}",
            text.stdout
        );
        assert!(
            text.stdout
                .contains("3 findings (3 high), 0 suppressed; 6 files analysed, 0 skipped"),
            "{mode:?}: {}",
            text.stdout
        );
    }
}

#[test]
fn every_byte_but_nul_and_slash_may_name_a_file_and_each_keeps_its_content() {
    // Files named with every possible byte; those with an odd byte hold a
    // finding, the others none. A name that shifted one file's content onto
    // another would move findings between them.
    let names: Vec<Vec<u8>> = (1..=255u8)
        .filter(|&b| b != b'/')
        .map(|b| [&b"n"[..], &[b], b".py"].concat())
        .collect();
    let base: Vec<(&[u8], &str)> = names.iter().map(|n| (n.as_slice(), "pass\n")).collect();
    let head: Vec<(&[u8], &str)> = names
        .iter()
        .map(|n| {
            (
                n.as_slice(),
                if n[1] % 2 == 1 { OS_SYSTEM } else { "x = 1\n" },
            )
        })
        .collect();
    let mut expected: Vec<String> = names
        .iter()
        .filter(|n| n[1] % 2 == 1)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    expected.sort();
    for mode in [Mode::Branch, Mode::WorkTree] {
        let dir = repo(&base, &head, mode, |_| {});
        let run = scan(dir.path(), mode, "json");
        assert_eq!(run.code, Some(1), "{mode:?}: {}", run.stderr);
        let report = json(&run);
        let mut found: Vec<String> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                assert_eq!(f["rule_id"], SYSTEM_RULE);
                f["path"].as_str().expect("path").to_owned()
            })
            .collect();
        found.sort();
        assert_eq!(found, expected, "{mode:?}");
        assert_eq!(skipped(&report), set(&[]), "{mode:?}");
        assert_eq!(report["summary"]["files_analyzed"], names.len(), "{mode:?}");
    }
}

#[test]
fn a_leading_dash_and_bytes_that_are_not_utf8_are_ordinary_names() {
    let names: [&[u8]; 2] = [b"-rf.py", b"caf\xe9.py"];
    let base: Vec<(&[u8], &str)> = names.iter().map(|n| (*n, "pass\n")).collect();
    let head: Vec<(&[u8], &str)> = vec![(names[0], OS_SYSTEM), (names[1], YAML_LOAD)];
    // The report shows a name that is not UTF-8 with a replacement character.
    let expected = set(&[("-rf.py", SYSTEM_RULE), ("caf\u{fffd}.py", YAML_RULE)]);
    for mode in [Mode::Branch, Mode::WorkTree] {
        let dir = repo(&base, &head, mode, |_| {});
        let run = scan(dir.path(), mode, "json");
        assert_eq!(run.code, Some(1), "{mode:?}: {}{}", run.stdout, run.stderr);
        let report = json(&run);
        assert_eq!(findings(&report), expected, "{mode:?}: {report:#}");
        assert_eq!(skipped(&report), set(&[]), "{mode:?}");
    }
    let (old, new) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    write(old.path(), &base);
    write(new.path(), &head);
    let run = hunkscan(&[
        OsStr::new("scan"),
        OsStr::new("--base-tree"),
        old.path().as_os_str(),
        OsStr::new("--head-tree"),
        new.path().as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert_eq!(findings(&json(&run)), expected);
}

/// A directory outside the repository: a file that would be reported if
/// read, a FIFO and a directory.
fn outside() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret.py");
    std::fs::write(&secret, format!("token = \"{TOKEN}\"\n{OS_SYSTEM}")).expect("write");
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(folder.join("inner.py"), OS_SYSTEM).expect("write");
    (dir, secret, fifo, folder)
}

fn assert_not_read(stdout: &str) {
    assert!(
        !stdout.contains(TOKEN),
        "the secret behind a link was read:\n{stdout}"
    );
}

#[test]
fn work_tree_links_are_skipped_never_followed() {
    let (_outside, secret, fifo, folder) = outside();
    // main tracks leak.py as a file and zero.py, dir.py as links; the work
    // tree turns leak.py into a link to a secret (a type change), points
    // the others at /dev/zero and a directory, adds a link to a FIFO, and
    // a real file with the very content behind leak.py (found: that content
    // would be reported if it were read).
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    write(root, &[(b"leak.py", "pass\n"), (b"app.py", "pass\n")]);
    symlink("app.py", root.join("zero.py")).expect("symlink");
    symlink("app.py", root.join("dir.py")).expect("symlink");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    write(root, &[(b"app.py", SHELL_TRUE)]);
    for (link, target) in [
        ("leak.py", &secret),
        ("zero.py", &PathBuf::from("/dev/zero")),
        ("dir.py", &folder),
    ] {
        std::fs::remove_file(root.join(link)).expect("rm");
        symlink(target, root.join(link)).expect("symlink");
    }
    symlink(&fifo, root.join("fifo.py")).expect("symlink");
    std::fs::copy(&secret, root.join("control.py")).expect("copy");
    // New files are staged (`git diff HEAD` sees them); the rest is not.
    git(root, &["add", "fifo.py", "control.py"]);
    let status = git(root, &["status", "--porcelain"]);
    assert!(
        status.contains(" M zero.py") && status.contains(" T leak.py"),
        "{status}"
    );

    let run = scan(root, Mode::WorkTree, "json");
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert_not_read(&run.stdout);
    let report = json(&run);
    assert_eq!(
        skipped(&report),
        set(&[
            ("dir.py", SYMLINK),
            ("fifo.py", SYMLINK),
            ("leak.py", SYMLINK),
            ("zero.py", SYMLINK)
        ]),
        "{report:#}"
    );
    assert_eq!(
        findings(&report),
        set(&[
            ("app.py", SHELL_RULE),
            ("control.py", "secrets.github-pat"),
            ("control.py", SYSTEM_RULE)
        ]),
        "{report:#}"
    );
    let text = scan(root, Mode::WorkTree, "text");
    assert_eq!(text.code, Some(1));
    assert_not_read(&text.stdout);
    for link in ["dir.py", "fifo.py", "leak.py", "zero.py"] {
        assert!(
            text.stdout
                .contains(&format!("  {link}: skipped, because {SYMLINK}\n")),
            "{link}: {}",
            text.stdout
        );
    }
    assert!(
        text.stdout
            .contains("app.py:2:1: HIGH [python.subprocess-shell-true]"),
        "{}",
        text.stdout
    );
}

#[test]
fn committed_links_and_submodules_are_skipped_never_followed() {
    let (_outside, secret, _fifo, _folder) = outside();
    let dir = repo(
        &[(b"app.py", "pass\n")],
        &[(b"app.py", SHELL_TRUE)],
        Mode::Branch,
        |root| {
            symlink(&secret, root.join("link.py")).expect("symlink");
            symlink("/dev/zero", root.join("zero.py")).expect("symlink");
        },
    );
    let root = dir.path();
    // A gitlink: a submodule entry, without a submodule repository.
    let commit = git(root, &["rev-parse", "main"]);
    git(
        root,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{commit},vendor"),
        ],
    );
    git(root, &["commit", "-q", "-m", "submodule"]);
    let run = scan(root, Mode::Branch, "json");
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert_not_read(&run.stdout);
    let report = json(&run);
    assert_eq!(
        skipped(&report),
        set(&[
            ("link.py", SYMLINK),
            ("vendor", "submodule: not analysed"),
            ("zero.py", SYMLINK)
        ]),
        "{report:#}"
    );
    assert_eq!(findings(&report), set(&[("app.py", SHELL_RULE)]));
    let text = scan(root, Mode::Branch, "text");
    assert_eq!(text.code, Some(1));
    assert!(
        text.stdout
            .contains(&format!("  link.py: skipped, because {SYMLINK}\n")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("  vendor: skipped, because submodule: not analysed\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("1 file analysed, 3 skipped"),
        "{}",
        text.stdout
    );
}

#[test]
fn tree_links_and_special_files_are_listed_as_skipped() {
    let (_outside, secret, _fifo, folder) = outside();
    let (base, head) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    std::fs::write(base.path().join("app.py"), "pass\n").expect("write");
    std::fs::write(head.path().join("app.py"), SHELL_TRUE).expect("write");
    symlink(&secret, head.path().join("link.py")).expect("symlink");
    symlink(&folder, head.path().join("dir.py")).expect("symlink");
    let made = Command::new("mkfifo")
        .arg(head.path().join("pipe.py"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let args = |format: &'static str| {
        [
            OsStr::new("scan"),
            OsStr::new("--base-tree"),
            base.path().as_os_str(),
            OsStr::new("--head-tree"),
            head.path().as_os_str(),
            OsStr::new("--format"),
            OsStr::new(format),
        ]
    };
    let run = hunkscan(&args("json"));
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert_not_read(&run.stdout);
    let report = json(&run);
    assert_eq!(
        skipped(&report),
        set(&[
            ("dir.py", SYMLINK),
            ("link.py", SYMLINK),
            ("pipe.py", "named pipe (FIFO): not read")
        ]),
        "{report:#}"
    );
    assert_eq!(findings(&report), set(&[("app.py", SHELL_RULE)]));
    let text = hunkscan(&args("text"));
    assert_eq!(text.code, Some(1));
    assert!(
        text.stdout
            .contains("  pipe.py: skipped, because named pipe (FIFO): not read\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains(&format!("  link.py: skipped, because {SYMLINK}\n")),
        "{}",
        text.stdout
    );
}
