//! The other tools the bench compares with: their versions, their rule
//! files written for the same corpus, and how their output is counted.

use hunkscan::rules;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The first line of `TOOL --version`, when the tool runs at all.
pub fn tool_version(program: &str) -> Option<String> {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap_or("?")
        .to_owned();
    Some(version)
}

/// The embedded Python rules as plain ast-grep rules, and an `sgconfig.yml`
/// pointing at them. Returns the config's path.
pub fn write_ast_grep_config(dir: &Path) -> Result<PathBuf, String> {
    let rule_dir = dir.join("rules");
    fs::create_dir_all(&rule_dir).map_err(|e| e.to_string())?;
    for source in rules::embedded(&["python"]) {
        let mut rule: serde_json::Map<String, serde_json::Value> =
            ast_grep_config::from_str(&source.text)
                .map_err(|e| format!("{}: {e}", source.origin))?;
        rule.remove("valid");
        rule.remove("invalid");
        rule.insert("severity".into(), "error".into());
        let id = rule
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("{}: no id", source.origin))?
            .to_owned();
        // JSON is YAML: no YAML writer needed.
        let text = serde_json::to_string_pretty(&rule).map_err(|e| e.to_string())?;
        fs::write(rule_dir.join(format!("{id}.yml")), text).map_err(|e| e.to_string())?;
    }
    let config = dir.join("sgconfig.yml");
    fs::write(&config, "ruleDirs:\n  - rules\n").map_err(|e| e.to_string())?;
    Ok(config)
}

/// Ten Semgrep rules equivalent to the hunkscan rules the corpus triggers most.
const SEMGREP_RULES: &str = r#"rules:
  - id: subprocess-shell-true
    languages: [python]
    severity: ERROR
    message: subprocess call with shell=True and a non-literal command
    patterns:
      - pattern: subprocess.$F($CMD, ..., shell=True, ...)
      - pattern-not: subprocess.$F("...", ..., shell=True, ...)
      - metavariable-regex:
          metavariable: $F
          regex: ^(run|call|check_call|check_output|Popen)$
  - id: yaml-load-without-loader
    languages: [python]
    severity: ERROR
    message: yaml.load without a safe Loader
    pattern: yaml.load($DATA)
  - id: sql-formatted-query-execute
    languages: [python]
    severity: ERROR
    message: SQL built with string formatting
    patterns:
      - pattern-either:
          # an f-string interpolating something other than an UPPER_CASE constant
          - patterns:
              - pattern: $CUR.$M($QUERY, ...)
              - metavariable-regex:
                  metavariable: $QUERY
                  regex: ^[fF][rR]?["'].*\{[^A-Z{}]
          - pattern: $CUR.$M("..." % $ARGS, ...)
          - pattern: $CUR.$M("...".format(...), ...)
          - pattern: $CUR.$M("..." + $X, ...)
      - metavariable-regex:
          metavariable: $M
          regex: ^(execute|executemany|executescript)$
  - id: eval-non-literal
    languages: [python]
    severity: ERROR
    message: eval of a non-literal
    patterns:
      - pattern: eval($X, ...)
      - pattern-not: eval("...", ...)
  - id: exec-non-literal
    languages: [python]
    severity: ERROR
    message: exec of a non-literal
    patterns:
      - pattern: exec($X, ...)
      - pattern-not: exec("...", ...)
  - id: os-system-non-literal
    languages: [python]
    severity: ERROR
    message: os.system with a non-literal command
    patterns:
      - pattern: os.system($X)
      - pattern-not: os.system("...")
  - id: pickle-load
    languages: [python]
    severity: ERROR
    message: pickle deserialisation
    pattern-either:
      - pattern: pickle.load(...)
      - pattern: pickle.loads(...)
  - id: weak-hash-md5-sha1
    languages: [python]
    severity: WARNING
    message: MD5 or SHA-1
    pattern-either:
      - pattern: hashlib.md5(...)
      - pattern: hashlib.sha1(...)
  - id: tls-verify-disabled
    languages: [python]
    severity: ERROR
    message: TLS certificate verification disabled
    pattern: requests.$M(..., verify=False, ...)
  - id: tempfile-mktemp
    languages: [python]
    severity: WARNING
    message: tempfile.mktemp is racy
    pattern: tempfile.mktemp(...)
"#;

/// Eight Semgrep taint rules comparable to hunkscan's Python taint rules
/// the corpus triggers: the same sources (Flask request data, `sys.argv`,
/// `input()`), the sanitizers hunkscan knows, one rule per sink family.
const SEMGREP_TAINT_RULES: &str = r#"rules:
  - id: taint-command-injection
    mode: taint
    languages: [python]
    severity: ERROR
    message: request data reaches a shell command
    pattern-sources: &sources
      - pattern: request.$ATTR
      - pattern: flask.request.$ATTR
      - pattern: sys.argv
      - pattern: input(...)
    pattern-sanitizers: &sanitizers
      - pattern: int(...)
      - pattern: float(...)
      - pattern: shlex.quote(...)
      - pattern: os.path.basename(...)
      - pattern: html.escape(...)
    pattern-sinks:
      - pattern: os.system(...)
      - pattern: subprocess.$F(..., shell=True, ...)
      - pattern: os.popen(...)
  - id: taint-code-injection
    mode: taint
    languages: [python]
    severity: ERROR
    message: request data reaches eval or exec
    pattern-sources: *sources
    pattern-sanitizers: *sanitizers
    pattern-sinks:
      - pattern: eval(...)
      - pattern: exec(...)
  - id: taint-sql-injection
    mode: taint
    languages: [python]
    severity: ERROR
    message: request data is built into SQL
    pattern-sources: *sources
    pattern-sanitizers: *sanitizers
    pattern-sinks:
      - pattern: $CONN.execute($QUERY, ...)
      - pattern: $CONN.executemany($QUERY, ...)
  - id: taint-path-traversal
    mode: taint
    languages: [python]
    severity: ERROR
    message: request data chooses a file path
    pattern-sources: *sources
    pattern-sanitizers: *sanitizers
    pattern-sinks:
      - pattern: open(...)
      - pattern: send_file(...)
  - id: taint-open-redirect
    mode: taint
    languages: [python]
    severity: WARNING
    message: request data chooses a redirect target
    pattern-sources: *sources
    pattern-sanitizers: *sanitizers
    pattern-sinks:
      - pattern: redirect(...)
  - id: taint-ssrf
    mode: taint
    languages: [python]
    severity: ERROR
    message: request data chooses a server-side request URL
    pattern-sources: *sources
    pattern-sanitizers: *sanitizers
    pattern-sinks:
      - pattern: requests.$M($URL, ...)
      - pattern: urllib.request.urlopen(...)
  - id: taint-deserialization
    mode: taint
    languages: [python]
    severity: ERROR
    message: request data is deserialised
    pattern-sources: *sources
    pattern-sanitizers: *sanitizers
    pattern-sinks:
      - pattern: pickle.loads(...)
      - pattern: yaml.load(...)
  - id: taint-xss
    mode: taint
    languages: [python]
    severity: WARNING
    message: request data reaches HTML output
    pattern-sources: *sources
    pattern-sanitizers: *sanitizers
    pattern-sinks:
      - pattern: make_response(...)
      - pattern: Markup(...)
      - pattern: render_template_string(...)
"#;

/// Which of the bench's Semgrep rule sets to write.
#[derive(Clone, Copy)]
pub enum SemgrepRules {
    /// The ten pattern rules.
    Patterns,
    /// The eight taint rules.
    Taint,
}

/// Writes the chosen rule set as `DIR/rules.yml`.
pub fn write_semgrep_rules(dir: &Path, which: SemgrepRules) {
    let text = match which {
        SemgrepRules::Patterns => SEMGREP_RULES,
        SemgrepRules::Taint => SEMGREP_TAINT_RULES,
    };
    fs::create_dir_all(dir).expect("create the Semgrep rule directory");
    fs::write(dir.join("rules.yml"), text).expect("write the Semgrep rules");
}

/// `hunkscan scan --format json`: its `findings` array.
pub fn count_hunkscan(stdout: &str) -> Option<usize> {
    json_array_len(stdout, "findings")
}

/// Bandit and Semgrep JSON: their `results` array.
pub fn count_json_results(stdout: &str) -> Option<usize> {
    json_array_len(stdout, "results")
}

fn json_array_len(stdout: &str, key: &str) -> Option<usize> {
    serde_json::from_str::<serde_json::Value>(stdout)
        .ok()?
        .get(key)?
        .as_array()
        .map(Vec::len)
}

/// `ast-grep --json=stream`: one match per line.
pub fn count_lines(stdout: &str) -> Option<usize> {
    Some(stdout.lines().filter(|l| !l.trim().is_empty()).count())
}
