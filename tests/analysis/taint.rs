//! Taint tracking and import resolution through the whole engine: flows
//! per CWE written as users write them (and their safe look-alikes), what
//! a change is blamed for, where the finding sits, and hostile shapes that
//! must end in a partial analysis, never a hang or a crash.

use hunkscan::engine::sast::{DEFAULT_PARSE_TIMEOUT, SastAnalyzer, SastRules};
use hunkscan::engine::{ChangeSet, Content, Engine, Finding, ScanReport};
use hunkscan::local::changed_file;
use std::sync::LazyLock;

pub(crate) static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
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

pub(crate) fn taint_findings(report: &ScanReport) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.rule_id.contains(".taint."))
        .collect()
}

pub(crate) fn rules_at(report: &ScanReport) -> Vec<(String, u32)> {
    taint_findings(report)
        .into_iter()
        .map(|f| (f.rule_id.clone(), f.start.line))
        .collect()
}

pub(crate) fn only(report: &ScanReport, rule: &str) -> Vec<u32> {
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

#[test]
fn a_helper_that_returns_input_shows_its_return_in_the_path() {
    let head = r#"import os
from flask import request

def build(name):
    cleaned = name.strip()
    return "tar czf out.tgz " + cleaned

def view():
    os.system(build(request.args["n"]))
"#;
    let report = scan(None, head);
    let findings = taint_findings(&report);
    assert_eq!(findings.len(), 1, "{:#?}", rules_at(&report));
    let message = &findings[0].message;
    // Source (line 9) → the helper's return (line 6) → the sink (line 9).
    let returned = message
        .find("(line 6)")
        .unwrap_or_else(|| panic!("no return step: {message}"));
    let source = message.find("(line 9)").expect("source step");
    assert!(source < returned, "{message}");
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
