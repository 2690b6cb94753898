//! Secret detection throughput: 100,000 added lines of mixed text (code,
//! YAML, JSON, `.env`, prose) holding every rule's positive examples,
//! scanned on one core with every embedded secret rule, read once as source
//! and once as a YAML configuration file (the credential-file readers too). Target: under 100 ms each. Prints the
//! best and median of several runs and the process's peak memory (VmHWM, Linux).
//!
//! Run: `cargo bench --bench secrets_throughput`

use hunkscan::engine::secrets::{
    DEFAULT_FINGERPRINT_KEY, SecretRules, SecretsAnalyzer, SecretsOptions,
};
use std::time::{Duration, Instant};

const LINES: usize = 100_000;
const RUNS: usize = 7;

/// Deterministic mixed text. About one line in twenty holds a keyword
/// (token, password, key, secret) so the prefilter lets it through, as in
/// real configuration-heavy changes; spread evenly through it, every
/// rule's positive examples (about one line in two hundred), so every
/// rule's regex and checks are in the measured time.
fn corpus(rules: &SecretRules) -> String {
    let templates = [
        "    let value = compute(input, &config)?;",
        "def handler(event, context):",
        "  replicas: 3",
        "  \"name\": \"service-{n}\",",
        "LOG_LEVEL=info",
        "The deployment rolls out in three stages, each gated by a health check.",
        "import os, sys, json",
        "    return {\"status\": \"ok\", \"count\": {n}}",
        "- name: build step {n}",
        "        if retries > {n} { break; }",
        "token = get_token(session)",
        "password: ${DB_PASSWORD}",
        "api_key = os.environ[\"API_KEY_{n}\"]",
        "  secret_ref: vault/path/{n}",
        "<dependency><groupId>org.example</groupId></dependency>",
        "    # keep the cache key stable across restarts",
        "SELECT id, name FROM users WHERE id = $1;",
        "        .map(|item| item.id * {n})",
        "  image: registry.example.com/app:1.{n}.0",
        "    assert result == expected, \"mismatch at {n}\"",
    ];
    let secrets: Vec<&str> = rules
        .rules()
        .iter()
        .flat_map(|rule| rule.examples.positive.iter().map(String::as_str))
        .collect();
    let step = (LINES / secrets.len().max(1)).max(2);
    let mut text = String::with_capacity(LINES * 40);
    for n in 0..LINES {
        match secrets.get(n / step).filter(|_| n % step == step - 1) {
            // A multi-line example (a PEM key) adds its lines to the count.
            Some(secret) => text.push_str(secret.trim_end_matches('\n')),
            None => text.push_str(&templates[n % templates.len()].replace("{n}", &n.to_string())),
        }
        text.push('\n');
    }
    text
}

fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let rules = SecretRules::load(None).expect("embedded secret rules load");
    let rule_count = rules.len();
    let text = corpus(&rules);
    let analyzer = SecretsAnalyzer::new(
        rules,
        DEFAULT_FINGERPRINT_KEY.to_vec(),
        SecretsOptions::default(),
    );
    // Every rule's examples are in the corpus, so every rule reports.
    let fired: std::collections::HashSet<String> = analyzer
        .findings_in("mixed.txt", &text, None)
        .into_iter()
        .map(|found| found.finding.rule_id)
        .collect();
    let silent: Vec<&str> = analyzer
        .rules()
        .rules()
        .iter()
        .map(|rule| rule.id.as_str())
        .filter(|id| !fired.contains(*id))
        .collect();
    println!(
        "rules reporting in the corpus: {}/{rule_count}{}",
        rule_count - silent.len(),
        if silent.is_empty() {
            String::new()
        } else {
            format!(" (silent: {})", silent.join(", "))
        }
    );
    // The verdict is on the slower of the two.
    let mut slowest_best = Duration::ZERO;
    // The same lines as a source file (provider, generic and entropy rules)
    // and as a YAML configuration file (the credential-file readers too).
    for path in ["mixed.txt", "config/settings.yml"] {
        let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
        let mut findings = 0;
        for _ in 0..RUNS {
            let start = Instant::now();
            findings = analyzer.findings_in(path, &text, None).len();
            times.push(start.elapsed());
        }
        times.sort();
        let best = times[0];
        let median = times[RUNS / 2];
        slowest_best = slowest_best.max(best);
        println!(
            "secret detection as `{path}`, {LINES} lines ({:.1} MB), {rule_count} rules, {findings} findings, one core",
            text.len() as f64 / 1e6
        );
        println!("| run | time | lines/s |");
        println!("| --- | --- | --- |");
        println!(
            "| best of {RUNS} | {:.1} ms | {:.0} |",
            best.as_secs_f64() * 1e3,
            LINES as f64 / best.as_secs_f64()
        );
        println!(
            "| median | {:.1} ms | {:.0} |",
            median.as_secs_f64() * 1e3,
            LINES as f64 / median.as_secs_f64()
        );
    }
    let best = slowest_best;
    match peak_memory_mb() {
        Some(mb) => println!("peak memory (VmHWM, corpus included): {mb:.1} MB"),
        None => println!("peak memory: not available on this platform"),
    }
    let verdict = if best < Duration::from_millis(100) {
        "PASS"
    } else {
        "MISS"
    };
    println!("target 100,000 lines under 100 ms: {verdict}");
}
