//! Taint tracking and import resolution through the whole engine: flows
//! per CWE written as users write them (and their safe look-alikes), what
//! a change is blamed for, where the finding sits, and hostile shapes that
//! must end in a partial analysis, never a hang or a crash.

use hunkscan::engine::sast::{DEFAULT_PARSE_TIMEOUT, SastAnalyzer, SastRules};
use hunkscan::engine::{ChangeSet, Content, Engine, Finding, ScanReport};
use hunkscan::local::changed_file;
use std::sync::LazyLock;

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let rules = SastRules::load(None).expect("embedded rules load");
    Engine::new(vec![Box::new(SastAnalyzer::new(
        rules,
        DEFAULT_PARSE_TIMEOUT,
    ))])
});

fn scan(base: Option<&str>, head: &str) -> ScanReport {
    let base = base.map_or(Content::Absent, |b| Content::Text(b.to_owned()));
    let file = changed_file("app.py", base, Content::Text(head.to_owned())).expect("diffable");
    ENGINE.scan(&ChangeSet { files: vec![file] })
}

fn scan_rust(head: &str) -> ScanReport {
    let file = changed_file(
        "src/handlers.rs",
        Content::Absent,
        Content::Text(head.to_owned()),
    )
    .expect("diffable");
    ENGINE.scan(&ChangeSet { files: vec![file] })
}

fn taint_findings(report: &ScanReport) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.rule_id.contains(".taint."))
        .collect()
}

fn rules_at(report: &ScanReport) -> Vec<(String, u32)> {
    taint_findings(report)
        .into_iter()
        .map(|f| (f.rule_id.clone(), f.start.line))
        .collect()
}

fn only(report: &ScanReport, rule: &str) -> Vec<u32> {
    taint_findings(report)
        .into_iter()
        .filter(|f| f.rule_id == rule)
        .map(|f| f.start.line)
        .collect()
}

// ───────────────────────── flows per CWE ─────────────────────────

#[test]
fn command_injection_through_variables_helpers_fstrings_and_containers() {
    let head = r#"import os, subprocess, sys
from flask import request

def quote_less(value):
    return "ls " + value

@app.route("/a")
def direct():
    os.system(request.args["a"])

@app.route("/b")
def through_helper():
    cmd = quote_less(request.args["b"])
    subprocess.run(cmd, shell=True)

def through_fstring_list():
    bar = request.form.get("c")
    subprocess.run(["sh", "-c", f"echo {bar}"])

def through_container():
    args = {"x": "safe", "y": sys.argv[1]}
    os.system("echo " + args["y"])
    os.system("echo " + args["x"])
"#;
    let report = scan(None, head);
    assert_eq!(
        only(&report, "python.taint.command-injection"),
        vec![9, 14, 18, 22],
        "{:#?}",
        rules_at(&report)
    );
}

#[test]
fn constants_dead_branches_sanitizers_and_allow_lists_are_not_flows() {
    let head = r#"import os, shlex, subprocess
from flask import request

ALLOWED = {"uptime", "df"}

def dead_branch():
    param = request.args["p"]
    num = 86
    if (7 * 42) - num > 200:
        bar = "This_should_always_happen"
    else:
        bar = param
    subprocess.run(bar, shell=True)

def quoted():
    subprocess.run("echo " + shlex.quote(request.args["q"]), shell=True)

def allow_listed():
    tool = request.args["t"]
    if tool in ALLOWED:
        os.system(tool)

def rejected_first():
    tool = request.args["t"]
    if tool not in ALLOWED:
        return "no"
    os.system(tool)

def number():
    os.system("sleep %d" % int(request.args["n"]))

def overwritten():
    cmd = request.args["c"]
    cmd = "ls"
    os.system(cmd)
"#;
    let report = scan(None, head);
    assert!(
        taint_findings(&report).is_empty(),
        "{:#?}",
        rules_at(&report)
    );
}

#[test]
fn each_cwe_family_has_a_flow_through_a_variable() {
    let cases = [
        (
            "python.taint.sql-injection",
            "def v(request, cursor):\n    q = \"SELECT * FROM t WHERE a = '%s'\" % request.GET['a']\n    cursor.execute(q)\n",
        ),
        (
            "python.taint.path-traversal",
            "import codecs\nfrom flask import request\ndef v():\n    bar = request.args['f']\n    return codecs.open(f'/srv/{bar}').read()\n",
        ),
        (
            "python.taint.xss",
            "from flask import request\n@app.route('/x')\ndef v():\n    name = request.args['n']\n    return '<p>' + name + '</p>'\n",
        ),
        (
            "python.taint.open-redirect",
            "from flask import redirect, request\ndef v():\n    bar = request.args.get('next')\n    return redirect(bar)\n",
        ),
        (
            "python.taint.ssrf",
            "import requests\nfrom flask import request\ndef v():\n    url = request.args['u']\n    return requests.get(url).text\n",
        ),
        (
            "python.taint.xpath-injection",
            "from flask import request\ndef v(root):\n    q = \"//u[@n='\" + request.args['n'] + \"']\"\n    return root.findall(q)\n",
        ),
        (
            "python.taint.ldap-injection",
            "import ldap\nfrom flask import request\ndef v(conn):\n    f = '(uid=%s)' % request.args['u']\n    return conn.search_s('dc=x', ldap.SCOPE_SUBTREE, f)\n",
        ),
        (
            "python.taint.code-injection",
            "import sys\nexpr = sys.argv[1]\nprint(eval(expr))\n",
        ),
        (
            "python.taint.deserialization",
            "import pickle\nfrom flask import request\ndef v():\n    blob = request.get_data()\n    return pickle.loads(blob)\n",
        ),
        (
            "python.taint.template-injection",
            "from flask import request, render_template_string\ndef v():\n    t = request.form['t']\n    return render_template_string(t)\n",
        ),
        (
            "python.taint.trust-boundary",
            "from flask import request, session\ndef v():\n    who = request.form['who']\n    session['who'] = who\n",
        ),
        (
            "python.taint.weak-randomness",
            "import random\npin = random.randint(0, 9999)\napi_key = str(pin)\n",
        ),
    ];
    for (rule, head) in cases {
        let report = scan(None, head);
        assert!(
            !only(&report, rule).is_empty(),
            "{rule} not found in\n{head}\nfound: {:#?}",
            rules_at(&report)
        );
    }
}

#[test]
fn methods_on_self_and_lambdas_carry_taint_through_summaries() {
    let head = r#"import os
from flask import request

class Runner:
    def build(self, name):
        return "make " + name

    def start(self):
        target = request.args["target"]
        os.system(self.build(target))

    def safe(self):
        os.system(self.build("all"))

run = lambda c: os.system(c)

def go():
    run(request.args["c"])
"#;
    let report = scan(None, head);
    // The lambda's sink is inside the lambda, on line 15.
    assert_eq!(
        only(&report, "python.taint.command-injection"),
        vec![10, 15],
        "{:#?}",
        rules_at(&report)
    );
}

#[test]
fn a_helper_that_reaches_a_sink_is_reported_at_its_sink_with_the_call_in_the_path() {
    let head = r#"import subprocess
from flask import request

def archive(name):
    subprocess.call("tar czf out.tgz " + name, shell=True)

def view():
    archive(request.args["n"])
    archive("constant")
"#;
    let report = scan(None, head);
    let findings = taint_findings(&report);
    assert_eq!(findings.len(), 1, "{:#?}", rules_at(&report));
    let message = &findings[0].message;
    assert_eq!(findings[0].start.line, 5);
    // Source line → call line → sink line, in order.
    let source = message.find("(line 8)").expect("source step");
    let sink = message.find("(line 5)").expect("sink step");
    assert!(source < sink, "{message}");
}

// ───────────────────────── import resolution ─────────────────────────

#[test]
fn pattern_rules_match_through_import_aliases_and_keyword_forms() {
    let head = r#"import xml.etree.ElementTree as badET
from subprocess import Popen as pop
from Crypto.Hash import MD5 as m
import hashlib

tree = badET.fromstring(body)
proc = pop(cmd, shell=True)
h = m.new()
d = hashlib.new(name="md5")
"#;
    let report = scan(None, head);
    let mut got: Vec<(String, u32)> = report
        .findings
        .iter()
        .filter(|f| !f.rule_id.starts_with("python.taint."))
        .map(|f| (f.rule_id.clone(), f.start.line))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("python.subprocess-shell-true".to_owned(), 7),
            ("python.weak-hash-md5-sha1".to_owned(), 8),
            ("python.weak-hash-md5-sha1".to_owned(), 9),
            ("python.xml-stdlib-parse".to_owned(), 6),
        ]
    );
    // Positions and snippets are those of the file as written.
    let popen = report
        .findings
        .iter()
        .find(|f| f.rule_id == "python.subprocess-shell-true")
        .expect("found");
    assert_eq!((popen.start.column, popen.end.column), (8, 28));
    assert_eq!(popen.snippet, "proc = pop(cmd, shell=True)");
}

// ───────────────────────── diff awareness ─────────────────────────

#[test]
fn plain_from_imports_are_sinks_and_converted_route_parameters_are_not_input() {
    let head = r#"from os import system
from flask import Flask
app = Flask(__name__)

@app.route("/jobs/<int:job_id>/logs/<name>")
def logs(job_id, name):
    system(f"tail /var/log/jobs/{job_id}")
    system(f"tail /var/log/{name}")
"#;
    let report = scan(None, head);
    assert_eq!(
        only(&report, "python.taint.command-injection"),
        vec![8],
        "{:#?}",
        rules_at(&report)
    );
}

const OLD_SINK: &str =
    "import os\nfrom flask import request\n\ndef run():\n    cmd = \"ls\"\n    os.system(cmd)\n";

#[test]
fn an_added_source_above_an_old_sink_is_reported_at_the_added_step() {
    let head = "import os\nfrom flask import request\n\ndef run():\n    cmd = request.args[\"c\"]\n    os.system(cmd)\n";
    let report = scan(Some(OLD_SINK), head);
    assert_eq!(
        rules_at(&report),
        vec![("python.taint.command-injection".to_owned(), 5)]
    );
    let finding = &taint_findings(&report)[0];
    assert!(finding.message.contains("(line 6)"), "{}", finding.message);
    // The sink is unchanged but in the hunk: the range runs down to it, so
    // the review comment sits at the sink.
    assert_eq!(finding.end.line, 6);
    let file = changed_file(
        "app.py",
        Content::Text(OLD_SINK.to_owned()),
        Content::Text(head.to_owned()),
    )
    .expect("diffable");
    let anchor = hunkscan::report::review::anchor(finding, &file.diff.lines).expect("commentable");
    assert_eq!((anchor.start_line, anchor.line), (Some(5), 6));
}

#[test]
fn an_added_sink_is_reported_at_the_sink() {
    let base = "import os\nfrom flask import request\n\ndef run():\n    cmd = request.args[\"c\"]\n    return cmd\n";
    let head = "import os\nfrom flask import request\n\ndef run():\n    cmd = request.args[\"c\"]\n    os.system(cmd)\n";
    let report = scan(Some(base), head);
    assert_eq!(
        rules_at(&report),
        vec![("python.taint.command-injection".to_owned(), 6)]
    );
}

#[test]
fn a_flow_the_change_does_not_touch_is_not_reported() {
    let vulnerable = "import os\nfrom flask import request\n\ndef run():\n    cmd = request.args[\"c\"]\n    os.system(cmd)\n";
    let head = format!("{vulnerable}\n\ndef other():\n    return 1\n");
    let report = scan(Some(vulnerable), &head);
    assert!(
        taint_findings(&report).is_empty(),
        "{:#?}",
        rules_at(&report)
    );
}

// ───────────────────────── hostile code ─────────────────────────

#[test]
fn ten_thousand_nested_blocks_end_in_a_partial_analysis() {
    let mut head = String::from(
        "import os\nfrom flask import request\ndef f():\n    x = request.args['x']\n    os.system(x)\n",
    );
    head.push_str("y = [");
    head.push_str(&"[".repeat(10_000));
    head.push_str(&"]".repeat(10_000));
    head.push_str("]\n");
    let report = scan(None, &head);
    // The flow before the nest is still found.
    assert_eq!(only(&report, "python.taint.command-injection"), vec![5]);
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.partial && s.reason.contains("nested deeper")),
        "{:?}",
        report.skipped
    );
}

#[test]
fn a_function_of_five_thousand_statements_and_a_long_call_chain_finish() {
    let mut head = String::from(
        "import os\nfrom flask import request\n\ndef big():\n    v0 = request.args['x']\n",
    );
    for i in 1..5_000 {
        head.push_str(&format!("    v{i} = v{} + 'a'\n", i - 1));
    }
    head.push_str("    os.system(v4999)\n\n");
    // f0 calls f1 … calls f199, which runs its argument.
    for i in 0..200 {
        if i == 199 {
            head.push_str(&format!("def f{i}(a):\n    os.system(a)\n\n"));
        } else {
            head.push_str(&format!("def f{i}(a):\n    return f{}(a)\n\n", i + 1));
        }
    }
    head.push_str("def entry():\n    f0(request.args['y'])\n");
    let report = scan(None, &head);
    let lines = only(&report, "python.taint.command-injection");
    assert!(lines.contains(&5005), "{lines:?}");
    // The chain is deeper than summaries go: said, not silently dropped.
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.partial && s.reason.contains("helper functions call each other")),
        "{:?}",
        report.skipped
    );
}

#[test]
fn pattern_findings_at_sinks_only_constants_reach_are_dropped() {
    let head = r#"import subprocess
from flask import request

def dead_branch():
    param = request.args["p"]
    num = 106
    x = "echo ok" if (7 * 18) + num > 200 else param
    subprocess.run(x, shell=True)

def checked_literal():
    bar = request.args.get("expr")
    if bar == "1 + 1":
        return eval(bar)

def still_unknown(cmd):
    subprocess.run(cmd, shell=True)
"#;
    let report = scan(None, head);
    let got: Vec<(String, u32)> = report
        .findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.start.line))
        .collect();
    // Only the call whose command is not known stays flagged.
    assert_eq!(
        got,
        vec![("python.subprocess-shell-true".to_owned(), 16)],
        "{got:#?}"
    );
}

// ───────────────────────── Rust ─────────────────────────

#[test]
fn rust_flows_through_lets_format_helpers_and_method_chains() {
    let head = r#"use std::io::{self, BufRead};
use std::process::Command;

fn wrap(name: &str) -> String {
    let mut line = String::from("tar czf /tmp/out.tgz ");
    line.push_str(name);
    line
}

async fn ping(Query(params): Query<PingParams>) -> String {
    let host = params.host.trim().to_string();
    let host = format!("{} -c 1", host);
    let out = Command::new("sh").arg("-c").arg(format!("ping {host}")).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn main() {
    let program = std::env::args().nth(1).unwrap_or_default();
    Command::new(&program).status().unwrap();
    let mut name = String::new();
    io::stdin().read_line(&mut name).unwrap();
    Command::new("bash").args(["-c", &wrap(name.trim())]).status().unwrap();
}

async fn show(Path(file): Path<String>) -> std::io::Result<String> {
    let full = if file.ends_with(".txt") { file.clone() } else { format!("{file}.txt") };
    tokio::fs::read_to_string(&full).await
}

async fn page(query: web::Query<Search>) -> Html<String> {
    Html(format!("<h1>{}</h1>", query.term))
}

async fn next(Json(body): Json<Login>) -> Redirect {
    match body.next {
        Some(target) => Redirect::to(&target),
        None => Redirect::to("/"),
    }
}
"#;
    let report = scan_rust(head);
    assert_eq!(
        rules_at(&report),
        vec![
            ("rust.taint.command-injection".to_owned(), 13),
            ("rust.taint.command-injection".to_owned(), 19),
            ("rust.taint.command-injection".to_owned(), 22),
            ("rust.taint.path-traversal".to_owned(), 27),
            ("rust.taint.xss".to_owned(), 31),
            ("rust.taint.open-redirect".to_owned(), 36),
        ],
        "{:#?}",
        report.findings
    );
    // The helper's sink is reached through the call: the path shows both.
    let helper = taint_findings(&report)
        .into_iter()
        .find(|f| f.start.line == 22)
        .expect("flow through wrap()");
    assert!(
        helper.message.contains("(line 21)") && helper.message.contains("(line 22)"),
        "{}",
        helper.message
    );
}

#[test]
fn rust_constants_parsed_numbers_allow_lists_and_file_names_are_not_flows() {
    let head = r#"use std::path::Path;
use std::process::Command;

const TOOLS: [&str; 2] = ["uptime", "df"];
const BASE: &str = "/srv/files";

async fn constant() -> std::io::Result<String> {
    let script = "uptime";
    let script = script.to_string();
    let out = Command::new("sh").arg("-c").arg(&script).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn number(Query(q): Query<Kill>) -> std::io::Result<()> {
    let pid = q.pid.parse::<u32>().unwrap_or(0);
    Command::new("sh").arg("-c").arg(format!("kill {pid}")).status()?;
    let count: u64 = q.count.parse().unwrap_or(1);
    Command::new("sh").arg("-c").arg(format!("seq {count}")).status()?;
    Ok(())
}

fn allow_listed() {
    let tool = std::env::args().nth(1).unwrap_or_default();
    if TOOLS.contains(&tool.as_str()) {
        Command::new("sh").arg("-c").arg(&tool).status().unwrap();
    }
    if !matches!(tool.as_str(), "uptime" | "df") {
        return;
    }
    Command::new(&tool).status().unwrap();
}

async fn file_name(Path(name): Path<String>) -> std::io::Result<Vec<u8>> {
    let leaf = Path::new(&name).file_name().unwrap_or_default().to_owned();
    tokio::fs::read(Path::new(BASE).join(leaf)).await
}

async fn typed(Path(id): Path<u32>) -> std::io::Result<String> {
    std::fs::read_to_string(format!("{BASE}/{id}.json"))
}

async fn dead(Query(q): Query<Cmd>) {
    let debug = false;
    let line = if debug { q.cmd.clone() } else { "true".to_string() };
    Command::new("sh").arg("-c").arg(line).status().unwrap();
}
"#;
    let report = scan_rust(head);
    assert!(
        taint_findings(&report).is_empty(),
        "{:#?}",
        taint_findings(&report)
    );
}

#[test]
fn rust_sql_and_ssrf_sinks_see_format_built_strings() {
    let head = r#"async fn delete(Path(name): Path<String>, pool: &PgPool) -> sqlx::Result<()> {
    let sql = format!("DELETE FROM users WHERE name = '{}'", name);
    sqlx::query(&sql).execute(pool).await?;
    sqlx::query("DELETE FROM users WHERE name = $1").bind(&name).execute(pool).await?;
    Ok(())
}

async fn fetch(Query(q): Query<Fetch>, client: &reqwest::Client) -> reqwest::Result<String> {
    let url = format!("https://{}/status", q.host);
    client.get(url).send().await?.text().await
}
"#;
    let report = scan_rust(head);
    assert_eq!(
        rules_at(&report),
        vec![
            ("rust.taint.sql-injection".to_owned(), 3),
            ("rust.taint.ssrf".to_owned(), 10),
        ],
        "{:#?}",
        report.findings
    );
}

#[test]
fn a_constant_link_of_a_call_chain_does_not_hide_the_pattern_finding_on_the_chain() {
    // `.arg("-c")` only sees a constant, but the chain's last `.arg(…)`
    // takes a parameter no source reaches: the pattern rule still speaks.
    let head = r#"use std::process::Command;

pub fn compress(path: &str) -> std::io::Result<std::process::ExitStatus> {
    Command::new("sh").arg("-c").arg(format!("gzip -9 {path}")).status()
}
"#;
    let report = scan_rust(head);
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(rules, ["rust.command-shell-format"], "{rules:?}");
}

#[test]
fn hostile_rust_nesting_and_long_functions_end_in_a_partial_analysis() {
    let mut head = String::from(
        "use std::process::Command;\n\nfn run() {\n    let cmd = std::env::args().nth(1).unwrap_or_default();\n    Command::new(&cmd).status().unwrap();\n}\n\nfn nested() {\n",
    );
    head.push_str(&"{ ".repeat(10_000));
    head.push_str(&"} ".repeat(10_000));
    head.push_str(
        "\n}\n\nfn long() {\n    let v0 = std::env::args().nth(1).unwrap_or_default();\n",
    );
    for i in 1..5_000 {
        head.push_str(&format!("    let v{i} = format!(\"{{}}a\", v{});\n", i - 1));
    }
    head.push_str("    Command::new(&v4999).status().unwrap();\n}\n");
    let report = scan_rust(&head);
    let lines = only(&report, "rust.taint.command-injection");
    // The flows before and after the nest are still found.
    assert!(lines.contains(&5), "{lines:?} {:?}", report.skipped);
    assert!(lines.contains(&5_013), "{lines:?}");
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.partial && s.reason.contains("nested deeper")),
        "{:?}",
        report.skipped
    );
}

#[test]
fn rust_if_let_and_while_let_bind_what_they_match() {
    let head = r#"use std::io::{self, BufRead};
use std::process::Command;

async fn greet(Query(q): Query<Greeting>) -> Html<String> {
    let name = if let Some(n) = q.name { n } else { String::from("guest") };
    Html(format!("<p>Hello, {name}</p>"))
}

fn replay() {
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    while let Some(Ok(line)) = lines.next() {
        Command::new("sh").arg("-c").arg(&line).status().unwrap();
    }
}

async fn fixed(Query(q): Query<Greeting>) -> Html<String> {
    let name = if let Some(_n) = q.name { "friend" } else { "guest" };
    Html(format!("<p>Hello, {name}</p>"))
}
"#;
    let report = scan_rust(head);
    assert_eq!(
        rules_at(&report),
        vec![
            ("rust.taint.xss".to_owned(), 6),
            ("rust.taint.command-injection".to_owned(), 13),
        ],
        "{:#?}",
        report.findings
    );
}
