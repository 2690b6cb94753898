//! Taint through calls into other changed files of the same change set,
//! through the pipeline the command line and the bot both run: a view that
//! passes request data to a helper another changed file defines, which
//! runs it in a shell, is a finding at the call, its path in both files.

use hunkscan::engine::{ChangeSet, Content, Finding, ScanReport};
use hunkscan::local::changed_file;
use hunkscan::pipeline::{Options, Pipeline, config_from};
use std::sync::LazyLock;

static PIPELINE: LazyLock<Pipeline> =
    LazyLock::new(|| Pipeline::load(&Options::default()).expect("pipeline loads"));

const UTIL: &str = r#"import os
import shlex
import subprocess


def run_cmd(arg):
    os.system("tar czf /tmp/out.tgz " + arg)


def quoted(arg):
    return shlex.quote(arg)


def run_quoted(arg):
    subprocess.run("ls " + shlex.quote(arg), shell=True)


def build(prefix, name):
    return prefix + "/" + name


def run_fixed(arg):
    os.system("uptime")
"#;

fn new_file(path: &str, text: &str) -> hunkscan::engine::ChangedFile {
    changed_file(path, Content::Absent, Content::Text(text.to_owned())).expect("diffable")
}

fn scan(files: &[(&str, &str)]) -> ScanReport {
    let changes = ChangeSet {
        files: files.iter().map(|(p, t)| new_file(p, t)).collect(),
    };
    let (config, _) = config_from(None);
    PIPELINE.run(changes, &config).report
}

fn command_injections<'r>(report: &'r ScanReport, path: &str) -> Vec<&'r Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.rule_id == "python.taint.command-injection" && f.path == path)
        .collect()
}

fn lines(findings: &[&Finding]) -> Vec<u32> {
    findings.iter().map(|f| f.start.line).collect()
}

#[test]
fn request_data_passed_to_a_helper_of_another_changed_file_is_a_finding_at_the_call() {
    let views = r#"from flask import request
from app.util import run_cmd, run_fixed

@app.route("/backup")
def backup():
    name = request.args["c"]
    run_cmd(name)

@app.route("/fixed")
def fixed():
    run_fixed(request.args["c"])

@app.route("/constant")
def constant():
    run_cmd("logs")
"#;
    let report = scan(&[("app/views.py", views), ("app/util.py", UTIL)]);
    let found = command_injections(&report, "app/views.py");
    assert_eq!(lines(&found), vec![7], "{:#?}", report.findings);
    let finding = found[0];
    // The path: source and call here, then the helper's parameter and sink there.
    let steps: Vec<(&str, u32)> = finding
        .flow
        .iter()
        .map(|s| (s.path.as_str(), s.start.line))
        .collect();
    assert_eq!(
        steps.first(),
        Some(&("app/views.py", 6)),
        "{:#?}",
        finding.flow
    );
    assert!(steps.contains(&("app/views.py", 7)), "{steps:?}");
    assert_eq!(steps.last(), Some(&("app/util.py", 7)), "{steps:?}");
    assert!(steps.contains(&("app/util.py", 6)), "{steps:?}");
    assert!(
        finding.message.contains("app/util.py line 7"),
        "{}",
        finding.message
    );
    // The helper's own file has no finding: nothing there is input.
    assert!(
        command_injections(&report, "app/util.py").is_empty(),
        "{:#?}",
        report.findings
    );
}

#[test]
fn relative_aliased_and_module_imports_all_reach_the_other_file() {
    let views = r#"from flask import request
from .util import run_cmd
from .util import run_cmd as backup_to
import app.util as u
from app import util

def one():
    run_cmd(request.form["a"])

def two():
    backup_to(request.form["b"])

def three():
    u.run_cmd(request.form["c"])

def four():
    util.run_cmd(arg=request.form["d"])
"#;
    let report = scan(&[("app/views.py", views), ("app/util.py", UTIL)]);
    assert_eq!(
        lines(&command_injections(&report, "app/views.py")),
        vec![8, 11, 14, 17],
        "{:#?}",
        report.findings
    );
}

#[test]
fn returns_of_another_files_function_carry_or_clean_the_taint() {
    let views = r#"import os
from flask import request
from app.util import quoted, build, run_quoted

def through_return():
    path = build("/srv", request.args["p"])
    os.system("cat " + path)

def sanitised_return():
    os.system("cat " + quoted(request.args["p"]))

def sanitised_inside():
    run_quoted(request.args["p"])
"#;
    let report = scan(&[("app/views.py", views), ("src/app/util.py", UTIL)]);
    let found = command_injections(&report, "app/views.py");
    assert_eq!(lines(&found), vec![7], "{:#?}", report.findings);
    assert!(
        found[0]
            .flow
            .iter()
            .any(|s| s.path == "src/app/util.py" && s.start.line == 18),
        "{:#?}",
        found[0].flow
    );
}

#[test]
fn without_the_other_file_in_the_change_the_call_is_an_unknown_function() {
    let views = r#"from flask import request
from app.util import run_cmd

def backup():
    run_cmd(request.args["c"])
"#;
    let report = scan(&[("app/views.py", views)]);
    assert!(
        command_injections(&report, "app/views.py").is_empty(),
        "{:#?}",
        report.findings
    );
}

#[test]
fn a_file_with_more_functions_than_are_summarised_makes_its_importers_partial() {
    let mut util = String::from("import os\n\n");
    for i in 0..300 {
        util.push_str(&format!("def f{i:03}(arg):\n    os.system(arg)\n\n"));
    }
    let views = r#"from flask import request
from app.util import f000, f299

def early():
    f000(request.args["c"])

def late():
    f299(request.args["c"])
"#;
    let report = scan(&[("app/views.py", views), ("app/util.py", &util)]);
    // Functions are summarised in name order, up to the limit: `f000` is.
    assert_eq!(
        lines(&command_injections(&report, "app/views.py")),
        vec![5],
        "{:#?}",
        report.findings
    );
    let partial: Vec<_> = report
        .skipped
        .iter()
        .filter(|s| s.path == "app/views.py")
        .collect();
    assert_eq!(partial.len(), 1, "{:?}", report.skipped);
    assert!(
        partial[0].partial && partial[0].reason.contains("more than 256 functions"),
        "{:?}",
        partial[0]
    );
}

// Rust: the helpers of `src/util.rs`, called from a handler in another
// changed file of the same crate.
const RUST_UTIL: &str = r#"use std::process::Command;

pub fn run_shell(script: &str) -> std::io::Result<std::process::Output> {
    Command::new("sh").arg("-c").arg(script).output()
}

pub fn run_fixed(_script: &str) -> std::io::Result<std::process::Output> {
    Command::new("sh").arg("-c").arg("uptime").output()
}

pub fn report_path(dir: &str, name: &str) -> String {
    format!("{dir}/{name}.txt")
}

pub fn checked(name: &str) -> u32 {
    name.parse::<u32>().unwrap_or(0)
}
"#;

fn rust_findings<'r>(report: &'r ScanReport, rule: &str, path: &str) -> Vec<&'r Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.rule_id == rule && f.path == path)
        .collect()
}

#[test]
fn rust_input_passed_to_a_function_of_another_changed_file_is_a_finding_at_the_call() {
    let handlers = r#"use axum::extract::Query;
use crate::util::{run_fixed, run_shell as sh};
use crate::util;

pub async fn backup(Query(params): Query<Params>) -> String {
    let name = params.name;
    sh(&name);
    run_fixed(&params.other);
    util::run_shell(&params.third);
    crate::util::run_shell(&params.fourth);
    run_shell_local("constant");
    String::new()
}

fn run_shell_local(_s: &str) {}
"#;
    let report = scan(&[("src/handlers.rs", handlers), ("src/util.rs", RUST_UTIL)]);
    let found = rust_findings(&report, "rust.taint.command-injection", "src/handlers.rs");
    assert_eq!(lines(&found), vec![7, 9, 10], "{:#?}", report.findings);
    let steps: Vec<(&str, u32)> = found[0]
        .flow
        .iter()
        .map(|s| (s.path.as_str(), s.start.line))
        .collect();
    assert_eq!(steps.first(), Some(&("src/handlers.rs", 5)), "{steps:?}");
    assert!(steps.contains(&("src/handlers.rs", 7)), "{steps:?}");
    assert_eq!(steps.last(), Some(&("src/util.rs", 4)), "{steps:?}");
    assert!(steps.contains(&("src/util.rs", 3)), "{steps:?}");
    assert!(
        rust_findings(&report, "rust.taint.command-injection", "src/util.rs").is_empty(),
        "{:#?}",
        report.findings
    );
}

#[test]
fn rust_returns_of_another_files_function_carry_or_clean_the_taint() {
    let main = r#"mod util;

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let path = util::report_path("/srv/reports", &name);
    let _ = std::fs::read_to_string(&path);
    let id = util::checked(&name);
    let _ = std::fs::read_to_string(format!("/srv/reports/{id}.txt"));
}
"#;
    let report = scan(&[("src/main.rs", main), ("src/util.rs", RUST_UTIL)]);
    let found = rust_findings(&report, "rust.taint.path-traversal", "src/main.rs");
    assert_eq!(lines(&found), vec![6], "{:#?}", report.findings);
    assert!(
        found[0]
            .flow
            .iter()
            .any(|s| s.path == "src/util.rs" && s.start.line == 11),
        "{:#?}",
        found[0].flow
    );
}

#[test]
fn a_rust_file_of_another_crate_or_language_is_not_followed() {
    let handlers = r#"use axum::extract::Query;
use crate::util::run_shell;

pub async fn backup(Query(params): Query<Params>) -> String {
    run_shell(&params.name);
    String::new()
}
"#;
    // `util.rs` of another crate, and a Python module of the same name.
    let report = scan(&[
        ("web/src/handlers.rs", handlers),
        ("other/src/util.rs", RUST_UTIL),
        ("web/src/util.py", UTIL),
    ]);
    assert!(
        rust_findings(
            &report,
            "rust.taint.command-injection",
            "web/src/handlers.rs"
        )
        .is_empty(),
        "{:#?}",
        report.findings
    );
    let report = scan(&[
        ("web/src/handlers.rs", handlers),
        ("web/src/util.rs", RUST_UTIL),
    ]);
    assert_eq!(
        lines(&rust_findings(
            &report,
            "rust.taint.command-injection",
            "web/src/handlers.rs"
        )),
        vec![5],
        "{:#?}",
        report.findings
    );
}
