//! The per-file analysis deadline, through the library as the command line
//! and the bot use it: a file that runs out of time is listed as skipped,
//! with the reason, by each analyzer that stopped; the other files and the
//! analyzers that ran before are unaffected. And input nested as deep as a
//! file allows is analysed or skipped with a reason, never a crash.
//!
//! Nothing here measures speed: a passed deadline is one of zero length, or
//! one an analyzer sleeps past.

use hunkscan::engine::iac::IacAnalyzer;
use hunkscan::engine::iac::policy::Policies;
use hunkscan::engine::sast::{DEFAULT_PARSE_TIMEOUT, SastAnalyzer, SastRules};
use hunkscan::engine::secrets::{
    DEFAULT_FINGERPRINT_KEY, SecretRules, SecretsAnalyzer, SecretsOptions,
};
use hunkscan::engine::{
    Analyzer, AnalyzerKind, ChangeSet, ChangedFile, Content, Deadline, Engine, FileOutcome,
    ScanReport, Skipped,
};
use hunkscan::local::changed_file;
use std::process::Command;
use std::time::Duration;

fn sast() -> SastAnalyzer {
    SastAnalyzer::new(
        SastRules::load(None).expect("embedded rules load"),
        DEFAULT_PARSE_TIMEOUT,
    )
}

fn iac() -> IacAnalyzer {
    IacAnalyzer::new(Policies::load(None).expect("embedded IaC rules load"))
}

fn secrets() -> SecretsAnalyzer {
    SecretsAnalyzer::new(
        SecretRules::load(None).expect("embedded secret rules load"),
        DEFAULT_FINGERPRINT_KEY.to_vec(),
        SecretsOptions::default(),
    )
}

/// The analyzers `hunkscan scan` runs, in its order.
fn all_analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(sast()), Box::new(iac()), Box::new(secrets())]
}

const PYTHON: &str =
    "import subprocess\n\ndef run(cmd):\n    return subprocess.run(cmd, shell=True)\n";
const TERRAFORM: &str = "resource \"aws_db_instance\" \"main\" {\n  engine              = \"postgres\"\n  publicly_accessible = true\n}\n";
const KUBERNETES: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: busybox:1.36.1\n    securityContext:\n      privileged: true\n";
const SECRET: &str = "AWS_ACCESS_KEY_ID=AKIAZ7Q4XW2M9RT3LPKE\n";

fn new_file(path: &str, text: &str) -> ChangedFile {
    changed_file(path, Content::Absent, Content::Text(text.to_owned())).expect("diffable")
}

fn four_files() -> ChangeSet {
    ChangeSet {
        files: vec![
            new_file("app.py", PYTHON),
            new_file("infra/db.tf", TERRAFORM),
            new_file("k8s/pod.yaml", KUBERNETES),
            new_file("config/app.env", SECRET),
        ],
    }
}

fn skipped_for<'r>(report: &'r ScanReport, path: &str) -> Vec<&'r Skipped> {
    report.skipped.iter().filter(|s| s.path == path).collect()
}

fn is_deadline(skipped: &Skipped) -> bool {
    skipped.reason.contains("analysis deadline of")
}

#[test]
fn with_no_time_every_kind_of_file_is_skipped_with_the_deadline_reason() {
    let paths = ["app.py", "infra/db.tf", "k8s/pod.yaml", "config/app.env"];
    // With time, each file has a finding…
    let report = Engine::new(all_analyzers()).scan(&four_files());
    for path in paths {
        assert!(
            report.findings.iter().any(|f| f.path == path),
            "{path}: {:?}",
            report.findings
        );
    }
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    // …without, none: each analyzer that reads it says why it did not.
    let report = Engine::new(all_analyzers())
        .with_file_deadline(Duration::ZERO)
        .scan(&four_files());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let expected: [(&str, &[AnalyzerKind]); 4] = [
        ("app.py", &[AnalyzerKind::Sast, AnalyzerKind::Secrets]),
        ("infra/db.tf", &[AnalyzerKind::Iac, AnalyzerKind::Secrets]),
        ("k8s/pod.yaml", &[AnalyzerKind::Iac, AnalyzerKind::Secrets]),
        ("config/app.env", &[AnalyzerKind::Secrets]),
    ];
    for (path, analyzers) in expected {
        let skipped = skipped_for(&report, path);
        let kinds: Vec<Option<AnalyzerKind>> = skipped.iter().map(|s| s.analyzer).collect();
        let wanted: Vec<Option<AnalyzerKind>> = analyzers.iter().copied().map(Some).collect();
        assert_eq!(kinds, wanted, "{path}: {skipped:?}");
        for line in skipped {
            assert!(is_deadline(line) && !line.partial, "{line:?}");
        }
    }
    assert_eq!(report.files_analyzed, 4);
}

#[test]
fn each_analyzer_stops_by_itself_when_the_deadline_has_passed() {
    // Analyzers called directly, as the engine would if the deadline passed
    // just after it let them start: each asks the deadline itself.
    let cases: [(&str, &str, Box<dyn Analyzer>); 4] = [
        ("app.py", PYTHON, Box::new(sast())),
        ("infra/db.tf", TERRAFORM, Box::new(iac())),
        ("k8s/pod.yaml", KUBERNETES, Box::new(iac())),
        ("config/app.env", SECRET, Box::new(secrets())),
    ];
    for (path, text, analyzer) in cases {
        let file = new_file(path, text);
        let mut out = FileOutcome::default();
        analyzer.analyze(&file, text, &mut out);
        assert!(
            !out.findings.is_empty() || !out.compared.is_empty(),
            "{path}: with time, a finding"
        );
        let mut out = FileOutcome {
            deadline: Deadline::after(Duration::ZERO),
            ..FileOutcome::default()
        };
        analyzer.analyze(&file, text, &mut out);
        assert!(
            out.findings.is_empty() && out.compared.is_empty(),
            "{path}: nothing found"
        );
        assert_eq!(out.skipped.len(), 1, "{path}: {:?}", out.skipped);
        let line = &out.skipped[0];
        assert_eq!(line.analyzer, Some(analyzer.kind()), "{path}");
        assert!(is_deadline(line), "{path}: {}", line.reason);
    }
}

/// An analyzer that takes its file's whole budget on `big.py`, as a
/// pathological input would, ignoring the deadline while it does.
struct Sleeper;

impl Analyzer for Sleeper {
    fn kind(&self) -> AnalyzerKind {
        AnalyzerKind::Iac
    }
    fn handles(&self, path: &str) -> bool {
        path == "big.py"
    }
    fn analyze(&self, _file: &ChangedFile, _head: &str, out: &mut FileOutcome) {
        let left = out
            .deadline
            .remaining()
            .expect("the engine sets a deadline");
        std::thread::sleep(left + Duration::from_millis(1));
    }
}

#[test]
fn a_file_that_runs_out_of_time_costs_only_itself() {
    // SAST runs before the sleeper, secrets after it. The budget only has
    // to be enough for the small file's SAST and secrets scans.
    let engine = Engine::new(vec![
        Box::new(sast()),
        Box::new(Sleeper),
        Box::new(secrets()),
    ])
    .with_file_deadline(Duration::from_secs(2));
    let both = format!("{PYTHON}{SECRET}");
    let changes = ChangeSet {
        files: vec![new_file("big.py", &both), new_file("small.py", &both)],
    };
    let report = engine.scan(&changes);
    let found = |path: &str, analyzer: AnalyzerKind| {
        report
            .findings
            .iter()
            .any(|f| f.path == path && f.analyzer == analyzer)
    };
    // The slow file: what ran before the deadline is reported, the secrets
    // scan after it did not run and says so.
    assert!(found("big.py", AnalyzerKind::Sast));
    assert!(!found("big.py", AnalyzerKind::Secrets));
    let skipped = skipped_for(&report, "big.py");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].analyzer, Some(AnalyzerKind::Secrets));
    assert!(is_deadline(skipped[0]), "{}", skipped[0].reason);
    // The other file is analysed in full, on its own budget.
    assert!(found("small.py", AnalyzerKind::Sast));
    assert!(found("small.py", AnalyzerKind::Secrets));
    assert!(skipped_for(&report, "small.py").is_empty());
}

/// Runs `scan` on a thread with a 2 MiB stack, the size of a scan thread's
/// and a Tokio blocking thread's: a recursion per nesting level overflows
/// it, which aborts the process.
fn on_a_scan_thread(engine: Engine, changes: ChangeSet) -> ScanReport {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || engine.scan(&changes))
        .expect("thread starts")
        .join()
        .expect("no panic")
}

#[test]
fn deeply_nested_files_are_analysed_or_skipped_with_a_reason_never_a_crash() {
    const DEPTH: usize = 100_000;
    let open_close =
        |open: &str, close: &str| format!("{}1{}", open.repeat(DEPTH), close.repeat(DEPTH));
    let files = vec![
        new_file(
            "k8s/block.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  {}x\n",
                "- ".repeat(DEPTH)
            ),
        ),
        new_file(
            "k8s/flow.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\ndata: {}\n",
                open_close("[", "]")
            ),
        ),
        new_file(
            ".github/workflows/ci.yml",
            &format!(
                "on: push\njobs:\n  a:\n    steps: {}\n",
                open_close("[", "]")
            ),
        ),
        new_file(
            "infra/deep.tf",
            &format!(
                "resource \"aws_db_instance\" \"a\" {{\n  tags = {}\n}}\n",
                open_close("[", "]")
            ),
        ),
        new_file(
            "infra/deep.tf.json",
            &format!("{{\"resource\": {}}}\n", open_close("[", "]")),
        ),
        new_file(
            "deep_list.py",
            &format!("{PYTHON}x = {}\n", open_close("[", "]")),
        ),
        new_file(
            "deep_parens.py",
            &format!("{PYTHON}x = {}\n", open_close("(", ")")),
        ),
        new_file(
            "deep_calls.py",
            &format!("{PYTHON}x = {}\n", open_close("eval(subprocess.run(", "))")),
        ),
    ];
    let paths: Vec<String> = files.iter().map(|f| f.diff.path.clone()).collect();
    // A deadline short enough that a walk made slow by the depth ends soon.
    let engine = Engine::new(all_analyzers()).with_file_deadline(Duration::from_secs(3));
    let report = on_a_scan_thread(engine, ChangeSet { files });
    for path in &paths {
        let skipped = skipped_for(&report, path);
        let analysed = report.findings.iter().any(|f| &f.path == path);
        assert!(
            analysed || !skipped.is_empty(),
            "{path}: neither analysed nor skipped"
        );
        assert!(skipped.iter().all(|s| !s.reason.is_empty()), "{skipped:?}");
    }
    // The IaC files are refused as too deep, by hunkscan's limit or the parser's.
    for path in paths
        .iter()
        .filter(|p| !p.ends_with(".py") && !p.ends_with(".yml"))
    {
        let skipped = skipped_for(&report, path);
        assert!(
            skipped.iter().any(|s| s.analyzer == Some(AnalyzerKind::Iac)
                && ["nested", "nesting", "recursion limit"]
                    .iter()
                    .any(|word| s.reason.contains(word))),
            "{path}: {skipped:?}"
        );
    }
    // Python's parser is not recursive: the rule on the shell call still
    // fires, or the deadline stopped the walk and says so.
    for path in ["deep_list.py", "deep_parens.py", "deep_calls.py"] {
        let shell = report
            .findings
            .iter()
            .any(|f| f.path == path && f.rule_id == "python.subprocess-shell-true");
        let stopped = skipped_for(&report, path).into_iter().any(is_deadline);
        assert!(shell || stopped, "{path}: {:?}", skipped_for(&report, path));
    }
}

#[test]
fn the_command_line_takes_a_file_timeout_and_refuses_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, head) = (dir.path().join("base"), dir.path().join("head"));
    std::fs::create_dir_all(&base).expect("base dir");
    std::fs::create_dir_all(&head).expect("head dir");
    std::fs::write(head.join("app.py"), PYTHON).expect("write");
    let run = |timeout: &str| {
        Command::new(env!("CARGO_BIN_EXE_hunkscan"))
            .args(["scan", "--format", "json", "--file-timeout-ms", timeout])
            .arg("--base-tree")
            .arg(&base)
            .arg("--head-tree")
            .arg(&head)
            .output()
            .expect("the binary runs")
    };
    let generous = run("60000");
    let stdout = String::from_utf8_lossy(&generous.stdout);
    assert!(
        stdout.contains("python.subprocess-shell-true"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&generous.stderr)
    );
    let zero = run("0");
    assert_eq!(zero.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("file-timeout-ms"));
}

/// `Command::new(root)` and `links` calls of `.arg(…)` after it, each
/// passing a name or a string built from one.
fn builder_chain(root: &str, links: usize) -> String {
    let mut text = String::from(
        "use std::process::Command;\n\nfn main() {\n    let name = std::env::args().nth(1).unwrap_or_default();\n    let mut cmd = Command::new(\"git\");\n    ",
    );
    text.push_str(root);
    for i in 0..links {
        match i % 3 {
            0 => text.push_str("\n        .arg(&name)"),
            1 => text.push_str("\n        .arg(format!(\"--depth={}\", name))"),
            _ => text.push_str(&format!("\n        .arg(\"-v{i}\")")),
        }
    }
    text.push_str("\n        .status()\n        .unwrap();\n}\n");
    text
}

#[test]
fn a_builder_chain_of_three_thousand_calls_is_analysed_fully() {
    // Rules that look down a call chain from each of its links would walk
    // the chain once per link; the whole file must still be analysed.
    for root in ["Command::new(\"git\")", "cmd"] {
        let text = builder_chain(root, 3_000);
        let report = Engine::new(vec![Box::new(sast())]).scan(&ChangeSet {
            files: vec![new_file("src/main.rs", &text)],
        });
        assert!(report.skipped.is_empty(), "{root}: {:?}", report.skipped);
        let shell: Vec<u32> = report
            .findings
            .iter()
            .filter(|f| f.rule_id.contains("command"))
            .map(|f| f.start.line)
            .collect();
        assert!(shell.is_empty(), "{root}: not a shell: {shell:?}");
    }
    // A shell's chain on a bound name, its flag after another link. On a
    // long chain the rules look at the short chains only (a binding found
    // from deep inside a long chain costs the square of its length): the
    // file is analysed to its end, in time.
    let on_shell = |links| {
        builder_chain("cmd.current_dir(\"/srv\").arg(\"-c\")", links)
            .replace("Command::new(\"git\")", "Command::new(\"sh\")")
    };
    let report = Engine::new(vec![Box::new(sast())]).scan(&ChangeSet {
        files: vec![new_file("src/main.rs", &on_shell(3_000))],
    });
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    // Three links after the flag: the two that pass the name are flows.
    let report = Engine::new(vec![Box::new(sast())]).scan(&ChangeSet {
        files: vec![new_file("src/main.rs", &on_shell(3))],
    });
    let flows = report
        .findings
        .iter()
        .filter(|f| f.rule_id == "rust.taint.command-injection")
        .count();
    assert_eq!(flows, 2, "{:#?}", report.findings);
    // The same rules still fire on a short chain that runs a shell.
    let text = "use std::process::Command;\n\nfn run(name: &str) {\n    Command::new(\"sh\").arg(\"-c\").arg(format!(\"echo {name}\")).status().unwrap();\n    let mut cmd = Command::new(\"bash\");\n    cmd.arg(\"-c\").arg(format!(\"echo {name}\")).status().unwrap();\n}\n";
    let report = Engine::new(vec![Box::new(sast())]).scan(&ChangeSet {
        files: vec![new_file("src/main.rs", text)],
    });
    let found: Vec<(&str, u32)> = report
        .findings
        .iter()
        .map(|f| (f.rule_id.as_str(), f.start.line))
        .collect();
    assert_eq!(
        found,
        vec![
            ("rust.command-shell-format", 4),
            ("rust.command-shell-format", 6)
        ],
        "{:#?}",
        report.findings
    );
}
