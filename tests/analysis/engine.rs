//! The engine over real rules: what the change is blamed for, fingerprints,
//! suppressions, and files that cannot be analysed.

use hunkscan::engine::sast::{DEFAULT_PARSE_TIMEOUT, SastAnalyzer, SastRules};
use hunkscan::engine::{ChangeSet, Content, Engine, Finding, ScanReport, SuppressionSource};
use hunkscan::local::changed_file;
use std::sync::LazyLock;
use std::time::Duration;

static ENGINE: LazyLock<Engine> = LazyLock::new(|| engine_with_timeout(DEFAULT_PARSE_TIMEOUT));

fn engine_with_timeout(timeout: Duration) -> Engine {
    let rules = SastRules::load(None).expect("embedded rules load");
    Engine::new(vec![Box::new(SastAnalyzer::new(rules, timeout))])
}

fn text(s: &str) -> Content {
    Content::Text(s.to_owned())
}

fn scan_change(path: &str, base: Content, head: Content) -> ScanReport {
    let file = changed_file(path, base, head).expect("diffable");
    ENGINE.scan(&ChangeSet { files: vec![file] })
}

fn rule_lines<'a>(findings: impl Iterator<Item = &'a Finding>) -> Vec<(String, u32)> {
    findings
        .map(|f| (f.rule_id.clone(), f.start.line))
        .collect()
}

const VULNERABLE: &str =
    "import subprocess\n\ndef run(cmd):\n    return subprocess.run(cmd, shell=True)\n";

#[test]
fn unchanged_vulnerable_context_line_is_not_reported() {
    let head = format!("{VULNERABLE}\n\ndef other():\n    return 1\n");
    let report = scan_change("app.py", text(VULNERABLE), text(&head));
    assert!(
        report.findings.is_empty(),
        "unexpected: {:?}",
        rule_lines(report.findings.iter())
    );
    assert_eq!(report.files_analyzed, 1);
}

#[test]
fn the_same_line_added_is_reported() {
    let base = "import subprocess\n\ndef run(cmd):\n    return None\n";
    let report = scan_change("app.py", text(base), text(VULNERABLE));
    assert_eq!(
        rule_lines(report.active()),
        vec![("python.subprocess-shell-true".to_owned(), 4)]
    );
    let finding = &report.findings[0];
    assert_eq!((finding.start.column, finding.end.line), (12, 4));
    assert_eq!(
        finding.snippet,
        "    return subprocess.run(cmd, shell=True)"
    );
    assert_eq!(finding.cwe.as_deref(), Some("CWE-78"));
}

#[test]
fn a_multi_line_match_is_reported_when_any_of_its_lines_is_added() {
    let base = "import subprocess\nsubprocess.run(\n    cmd,\n    check=True,\n)\n";
    let head = "import subprocess\nsubprocess.run(\n    cmd,\n    shell=True,\n)\n";
    let report = scan_change("app.py", text(base), text(head));
    assert_eq!(
        rule_lines(report.active()),
        vec![("python.subprocess-shell-true".to_owned(), 2)]
    );
}

#[test]
fn rules_see_unchanged_context_around_an_added_line() {
    // The scan visits only nodes on added lines, but a rule matching there
    // still reads the unchanged assignment above it.
    let base = "def get(cursor, name):\n    query = f\"SELECT * FROM users WHERE name = '{name}'\"\n    log(query)\n\n\ndef other():\n    return 1\n";
    let head = base.replace("    log(query)", "    cursor.execute(query)");
    let report = scan_change("app.py", text(base), text(&head));
    assert_eq!(
        rule_lines(report.active()),
        vec![("python.sql-formatted-query-variable".to_owned(), 3)]
    );
}

#[test]
fn first_line_anchored_rule_ignores_edits_inside_an_existing_block() {
    let base = "fn f(p: *const u8) -> u8 {\n    unsafe {\n        *p\n    }\n}\n";
    let head = "fn f(p: *const u8) -> u8 {\n    unsafe {\n        *p.add(1)\n    }\n}\n";
    let report = scan_change("src/lib.rs", text(base), text(head));
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.rule_id == "rust.unsafe-block"),
        "editing inside an old unsafe block must not re-report it: {:?}",
        rule_lines(report.findings.iter())
    );
    let fresh = scan_change(
        "src/lib.rs",
        text("fn f(p: *const u8) -> u8 {\n    0\n}\n"),
        text(head),
    );
    assert!(
        fresh
            .findings
            .iter()
            .any(|f| f.rule_id == "rust.unsafe-block")
    );
}

#[test]
fn fingerprint_survives_lines_inserted_above() {
    let before = scan_change("app.py", Content::Absent, text(VULNERABLE));
    let shifted = format!("# a comment\n# and another\n\n{VULNERABLE}");
    let after = scan_change("app.py", Content::Absent, text(&shifted));
    assert_eq!(before.findings.len(), 1);
    assert_eq!(after.findings.len(), 1);
    assert_ne!(before.findings[0].start.line, after.findings[0].start.line);
    assert_eq!(
        before.findings[0].fingerprint,
        after.findings[0].fingerprint
    );
}

#[test]
fn fingerprint_tells_apart_repeated_identical_matches_and_paths() {
    let twice =
        format!("{VULNERABLE}\ndef again(cmd):\n    return subprocess.run(cmd, shell=True)\n");
    let report = scan_change("app.py", Content::Absent, text(&twice));
    assert_eq!(report.findings.len(), 2);
    assert_ne!(
        report.findings[0].fingerprint,
        report.findings[1].fingerprint
    );
    let elsewhere = scan_change("other.py", Content::Absent, text(VULNERABLE));
    assert_ne!(
        elsewhere.findings[0].fingerprint,
        report.findings[0].fingerprint
    );
}

#[test]
fn fingerprint_ignores_reindentation() {
    let flat = scan_change("a.py", Content::Absent, text("import os\nos.system(cmd)\n"));
    let nested = scan_change(
        "a.py",
        Content::Absent,
        text("import os\nif x:\n    os.system( cmd )\n"),
    );
    assert_eq!(flat.findings.len(), 1);
    assert_eq!(nested.findings.len(), 1);
    // Inner spaces differ, so the normalised text differs too: different findings.
    assert_ne!(flat.findings[0].fingerprint, nested.findings[0].fingerprint);
    let indented = scan_change(
        "a.py",
        Content::Absent,
        text("import os\nif x:\n    os.system(cmd)\n"),
    );
    assert_eq!(
        flat.findings[0].fingerprint,
        indented.findings[0].fingerprint
    );
}

#[test]
fn hunkscan_ignore_with_reason_suppresses_only_the_named_rule() {
    let head = "import subprocess\n\
        # hunkscan:ignore python.subprocess-shell-true -- the command is a constant table entry\n\
        subprocess.run(cmd, shell=True)\n\
        # hunkscan:ignore python.some-other-rule -- unrelated\n\
        subprocess.call(cmd, shell=True)\n";
    let report = scan_change("app.py", Content::Absent, text(head));
    assert_eq!(
        report.findings.len(),
        2,
        "suppressed findings are kept: {:?}",
        rule_lines(report.findings.iter())
    );
    let suppression = report.findings[0]
        .suppression
        .as_ref()
        .expect("first is suppressed");
    assert_eq!(suppression.source, SuppressionSource::Hunkscan);
    assert_eq!(
        suppression.reason.as_deref(),
        Some("the command is a constant table entry")
    );
    assert_eq!(suppression.line, 2);
    assert!(
        report.findings[1].is_active(),
        "an ignore for another rule must not apply"
    );
    assert_eq!(report.active().count(), 1);
}

#[test]
fn same_line_markers_from_semgrep_and_bandit_are_honoured() {
    for (marker, source) in [
        ("# nosemgrep", SuppressionSource::Nosemgrep),
        (
            "# nosemgrep: python.lang.security.audit.subprocess-shell-true",
            SuppressionSource::Nosemgrep,
        ),
        ("# nosec", SuppressionSource::Nosec),
        ("# nosec B602", SuppressionSource::Nosec),
        ("# hunkscan:ignore -- reviewed", SuppressionSource::Hunkscan),
    ] {
        let head = format!("import subprocess\nsubprocess.run(cmd, shell=True)  {marker}\n");
        let report = scan_change("app.py", Content::Absent, text(&head));
        assert_eq!(report.findings.len(), 1, "{marker}");
        let suppression = report.findings[0]
            .suppression
            .as_ref()
            .unwrap_or_else(|| panic!("{marker} must suppress"));
        assert_eq!(suppression.source, source, "{marker}");
        assert!(
            !report.fails_at(hunkscan::engine::Severity::Info),
            "{marker}"
        );
    }
}

#[test]
fn ast_grep_ignore_comments_suppress_and_are_reported() {
    // Leading comment (the next line), trailing comment, and ids: the
    // findings stay in the report, marked suppressed (ast-grep itself drops
    // them silently).
    for (head, suppressed) in [
        (
            "import subprocess\n# ast-grep-ignore\nsubprocess.run(cmd, shell=True)\n",
            true,
        ),
        (
            "import subprocess\nsubprocess.run(cmd, shell=True)  # ast-grep-ignore: python.subprocess-shell-true\n",
            true,
        ),
        (
            "import subprocess\n# ast-grep-ignore: no-eval, python.subprocess-shell-true\nsubprocess.run(cmd, shell=True)\n",
            true,
        ),
        (
            "import subprocess\n# ast-grep-ignore: some-other-rule\nsubprocess.run(cmd, shell=True)\n",
            false,
        ),
        // As in ast-grep: a colon with no id silences nothing, and prose
        // that mentions the marker is not one.
        (
            "import subprocess\n# ast-grep-ignore:\nsubprocess.run(cmd, shell=True)\n",
            false,
        ),
        (
            "import subprocess\n# TODO: drop ast-grep-ignore below\nsubprocess.run(cmd, shell=True)\n",
            false,
        ),
        // A marker alone on the first line, then a blank line: the whole file.
        (
            "# ast-grep-ignore: python.subprocess-shell-true\n\nimport subprocess\n\n\nsubprocess.run(cmd, shell=True)\n",
            true,
        ),
        (
            "# ast-grep-ignore: python.subprocess-shell-true\nimport subprocess\n\n\nsubprocess.run(cmd, shell=True)\n",
            false,
        ),
    ] {
        let report = scan_change("app.py", Content::Absent, text(head));
        assert_eq!(report.findings.len(), 1, "{head}");
        match &report.findings[0].suppression {
            Some(suppression) => {
                assert!(suppressed, "{head} must not be suppressed");
                assert_eq!(suppression.source, SuppressionSource::AstGrep, "{head}");
            }
            None => assert!(!suppressed, "{head} must be suppressed"),
        }
    }
}

#[test]
fn a_marker_two_lines_above_does_not_suppress() {
    let head = "import subprocess\n# nosec\n\nsubprocess.run(cmd, shell=True)\n";
    let report = scan_change("app.py", Content::Absent, text(head));
    assert_eq!(report.active().count(), 1);
}

#[test]
fn binary_oversized_and_unknown_files_are_skipped_with_reasons_and_the_rest_is_scanned() {
    let files = vec![
        changed_file(
            "logo.png",
            Content::Absent,
            Content::from_bytes(b"\x89PNG\r\n\x1a\n\0\0".to_vec()),
        )
        .expect("diff"),
        changed_file(
            "big.py",
            Content::Absent,
            Content::from_bytes(vec![b'#'; 1_000_001]),
        )
        .expect("diff"),
        changed_file("notes.txt", Content::Absent, text("hello\n")).expect("diff"),
        changed_file("app.py", Content::Absent, text(VULNERABLE)).expect("diff"),
    ];
    let report = ENGINE.scan(&ChangeSet { files });
    let reasons: Vec<(&str, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("logo.png", "binary file"),
            (
                "big.py",
                "file is 1000001 bytes, over the 1000000-byte limit"
            ),
            ("notes.txt", "no analyzer reads this kind of file"),
        ]
    );
    assert_eq!(
        rule_lines(report.active()),
        vec![("python.subprocess-shell-true".to_owned(), 4)]
    );
}

#[test]
fn a_file_with_syntax_errors_is_scanned_and_flagged_partial() {
    let head = "import os\ndef broken(:\n    pass\n\nos.system(cmd)\n";
    let report = scan_change("app.py", Content::Absent, text(head));
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].partial);
    assert!(
        report.skipped[0].reason.contains("syntax error"),
        "{}",
        report.skipped[0].reason
    );
    assert_eq!(
        rule_lines(report.active()),
        vec![("python.os-system-non-literal".to_owned(), 5)]
    );
}

#[test]
fn a_parse_over_the_time_limit_skips_only_that_file() {
    let slow = engine_with_timeout(Duration::from_nanos(1));
    // The os.system call gives a rule a reason to parse the file at all.
    let huge: String = (0..40_000)
        .map(|i| format!("x{i} = [{i}, {{'k': ({i},)}}]\n"))
        .chain(["import os\nos.system(cmd)\n".to_owned()])
        .collect();
    let files = vec![changed_file("huge.py", Content::Absent, text(&huge)).expect("diff")];
    let report = slow.scan(&ChangeSet { files });
    assert_eq!(report.skipped.len(), 1);
    assert!(
        report.skipped[0]
            .reason
            .starts_with("parsing took longer than"),
        "{}",
        report.skipped[0].reason
    );
    assert!(!report.skipped[0].partial);
}

#[test]
fn a_file_no_rule_can_match_is_not_even_parsed() {
    // With a 1 ns limit any parse would time out; a file that mentions no
    // rule's literal is never parsed, so it is neither skipped nor partial.
    let slow = engine_with_timeout(Duration::from_nanos(1));
    let plain = "def add(a, b):\n    return a + b\n";
    let files = vec![changed_file("plain.py", Content::Absent, text(plain)).expect("diff")];
    let report = slow.scan(&ChangeSet { files });
    assert!(
        report.skipped.is_empty() && report.findings.is_empty(),
        "{:?}",
        report.skipped
    );
}

#[test]
fn non_utf8_file_is_scanned_with_replacement_characters() {
    let mut bytes = b"# caf\xe9\nimport os\n".to_vec();
    bytes.extend_from_slice(b"os.system(cmd)\n");
    let report = scan_change("latin1.py", Content::Absent, Content::from_bytes(bytes));
    assert_eq!(
        rule_lines(report.active()),
        vec![("python.os-system-non-literal".to_owned(), 3)]
    );
}

#[test]
fn a_rule_fix_becomes_a_replacement_of_the_match() {
    let report = scan_change(
        "conf.py",
        Content::Absent,
        text("import yaml\ncfg = yaml.load(stream)\n"),
    );
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule_id == "python.yaml-load-without-loader")
        .expect("finding");
    assert_eq!(
        finding.fix.as_ref().map(|f| f.replacement.as_str()),
        Some("yaml.safe_load(stream)")
    );
}

#[test]
fn removed_and_renamed_without_additions_produce_nothing() {
    let report = scan_change("gone.py", text(VULNERABLE), Content::Absent);
    assert!(report.findings.is_empty() && report.skipped.is_empty());
}

/// An analyzer that panics on one path, as a grammar or parser bug would.
struct PanicsOn(&'static str);

impl hunkscan::engine::Analyzer for PanicsOn {
    fn kind(&self) -> hunkscan::engine::AnalyzerKind {
        hunkscan::engine::AnalyzerKind::Secrets
    }
    fn handles(&self, path: &str) -> bool {
        path.ends_with(".py")
    }
    fn analyze(
        &self,
        file: &hunkscan::engine::ChangedFile,
        _head: &str,
        _out: &mut hunkscan::engine::FileOutcome,
    ) {
        assert_ne!(file.diff.path, self.0, "a parser bug");
    }
}

#[test]
fn an_analyzer_that_panics_on_one_file_skips_only_that_file_and_analyzer() {
    let rules = SastRules::load(None).expect("embedded rules load");
    let engine = Engine::new(vec![
        Box::new(SastAnalyzer::new(rules, DEFAULT_PARSE_TIMEOUT)),
        Box::new(PanicsOn("boom.py")),
    ]);
    let files = ["boom.py", "app.py"]
        .into_iter()
        .map(|path| changed_file(path, Content::Absent, text(VULNERABLE)).expect("diff"))
        .collect();
    let report = engine.scan(&ChangeSet { files });
    // SAST still ran on both files, the panicking analyzer on the other one.
    assert_eq!(
        report
            .findings
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        vec!["app.py", "boom.py"]
    );
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    let skipped = &report.skipped[0];
    assert_eq!(skipped.path, "boom.py");
    assert_eq!(
        skipped.analyzer,
        Some(hunkscan::engine::AnalyzerKind::Secrets)
    );
    // The reason names the failure and an id; the panic's own text (which
    // may quote the file) stays in the log.
    assert!(
        skipped.reason.contains("internal error") && skipped.reason.contains("error id"),
        "{}",
        skipped.reason
    );
    assert!(
        !skipped.reason.contains("a parser bug"),
        "{}",
        skipped.reason
    );
}

#[test]
fn scanning_files_on_several_threads_gives_the_same_report() {
    let files = || -> Vec<hunkscan::engine::ChangedFile> {
        let mut files: Vec<_> = (0..12)
            .map(|index| {
                changed_file(
                    &format!("pkg/module_{index}.py"),
                    Content::Absent,
                    text(&format!(
                        "{VULNERABLE}\n# file {index}\nx = eval(data_{index})\n"
                    )),
                )
                .expect("diff")
            })
            .collect();
        files.insert(
            5,
            changed_file("notes.txt", Content::Absent, text("hello\n")).expect("diff"),
        );
        files.insert(
            9,
            changed_file(
                "logo.png",
                Content::Absent,
                Content::from_bytes(b"\x89PNG\r\n\x1a\n\0\0".to_vec()),
            )
            .expect("diff"),
        );
        files
    };
    let one = engine_with_timeout(DEFAULT_PARSE_TIMEOUT).scan(&ChangeSet { files: files() });
    let four = engine_with_timeout(DEFAULT_PARSE_TIMEOUT)
        .with_threads(4)
        .scan(&ChangeSet { files: files() });
    assert_eq!(one.findings.len(), 24, "two findings in each of 12 files");
    assert_eq!(one.skipped.len(), 2);
    assert_eq!(
        serde_json::to_value(&one).expect("serialisable"),
        serde_json::to_value(&four).expect("serialisable")
    );
}
