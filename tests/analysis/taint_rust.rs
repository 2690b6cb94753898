//! The Rust taint front-end through the whole engine: flows through
//! `let`, `format!`, helpers and method chains from request extractors,
//! arguments and stdin, their safe look-alikes, and hostile shapes.

use super::taint::{ENGINE, only, rules_at, taint_findings};
use hunkscan::engine::{ChangeSet, Content, ScanReport};
use hunkscan::local::changed_file;

fn scan_rust(head: &str) -> ScanReport {
    let file = changed_file(
        "src/handlers.rs",
        Content::Absent,
        Content::Text(head.to_owned()),
    )
    .expect("diffable");
    ENGINE.scan(&ChangeSet { files: vec![file] })
}

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

#[test]
fn rust_closures_and_nested_functions_carry_taint_to_their_sinks() {
    let head = r#"use std::process::Command;

fn closure_by_name() {
    let user = std::env::args().nth(1).unwrap_or_default();
    let run = |x: &str| Command::new("sh").arg("-c").arg(x).status();
    let _ = run(&user);
}

fn closure_in_map() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let _done: Vec<_> = names
        .iter()
        .map(|n| Command::new("sh").arg("-c").arg(format!("touch {n}")).status())
        .collect();
}

fn nested_helper() {
    fn shell(line: &str) {
        Command::new("bash").arg("-c").arg(line).status().unwrap();
    }
    let line = std::env::args().nth(1).unwrap_or_default();
    shell(&line);
}
"#;
    let report = scan_rust(head);
    assert_eq!(
        rules_at(&report),
        vec![
            ("rust.taint.command-injection".to_owned(), 5),
            ("rust.taint.command-injection".to_owned(), 13),
            ("rust.taint.command-injection".to_owned(), 19),
        ],
        "{:#?}",
        report.findings
    );
    // The flow into the closure's sink goes through the call of it.
    let by_name = taint_findings(&report)
        .into_iter()
        .find(|f| f.start.line == 5)
        .expect("flow through the closure");
    assert!(
        by_name.message.contains("(line 4)") && by_name.message.contains("(line 6)"),
        "{}",
        by_name.message
    );
}

#[test]
fn rust_closures_and_nested_functions_given_constants_are_not_flows() {
    let head = r#"use std::process::Command;

fn closure_by_name() {
    let user = std::env::args().nth(1).unwrap_or_default();
    let run = |x: &str| Command::new("sh").arg("-c").arg(x).status();
    let _ = run("uptime");
    let _ = user.len();
}

fn closure_in_map() {
    let names = ["a.txt", "b.txt"];
    let _done: Vec<_> = names
        .iter()
        .map(|n| Command::new("sh").arg("-c").arg(format!("touch {n}")).status())
        .collect();
}

fn closure_ignoring_its_input() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let _n = names.iter().map(|_| Command::new("sh").arg("-c").arg("date").status()).count();
}

fn nested_helper() {
    fn shell(line: &str) {
        Command::new("bash").arg("-c").arg(line).status().unwrap();
    }
    let _user = std::env::args().nth(1).unwrap_or_default();
    shell("df -h");
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
fn an_early_return_of_input_is_a_step_of_the_path() {
    let head = r#"use std::process::Command;

fn script(name: &str, quiet: bool) -> String {
    if quiet {
        return format!("tar czf /tmp/out.tgz {name} 2>/dev/null");
    }
    String::from("true")
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    Command::new("sh").arg("-c").arg(script(&name, true)).status().unwrap();
}
"#;
    let report = scan_rust(head);
    let findings = taint_findings(&report);
    let finding = findings
        .iter()
        .find(|f| f.rule_id == "rust.taint.command-injection")
        .unwrap_or_else(|| panic!("{:#?}", rules_at(&report)));
    assert_eq!(finding.start.line, 12);
    let message = &finding.message;
    // Argument (line 11) → the helper's `return` (line 5) → the sink.
    let source = message.find("(line 11)").expect("source step");
    let returned = message
        .find("(line 5)")
        .unwrap_or_else(|| panic!("no return step: {message}"));
    assert!(source < returned, "{message}");
}
