//! Key/value configuration: a value under a password-like key in an INI,
//! properties, `.env`, YAML, JSON, TOML or XML file (Rails `database.yml`,
//! `mongoid.yml`, FileZilla's `sitemanager.xml`, JetBrains' and VS Code's
//! SFTP deployment settings, DBeaver's `data-sources.json`, WinSCP.ini),
//! WordPress `define('DB_PASSWORD', …)` and salts, and a Rails `master.key`.
//!
//! Unlike the generic rules, which read code where `password = x` is
//! usually a variable, a configuration file's value *is* the value: no
//! entropy floor, only the placeholder checks, and the confidence follows
//! how random the value is.

use super::super::super::Confidence;
use super::super::placeholder::{self, DropReason};
use super::{FileFindings, RAILS_MASTER_KEY, Reader, WORDPRESS, confidence_of};
use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

/// How a configuration file writes its pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    /// `key = value`, `key: value`, `key=value` (INI, properties, `.env`, TOML, YAML).
    KeyValue,
    /// `"key": "value"`.
    Json,
    /// `<key>value</key>`, `<x name="key" value="value"/>`, `key="value"` attributes.
    Xml,
}

/// The syntax a configuration file of this name is read with, if it is one.
pub(super) fn syntax_of(name: &str, extension: &str) -> Option<Syntax> {
    match extension {
        "ini" | "cfg" | "conf" | "cnf" | "properties" | "prop" | "env" | "toml" | "yml"
        | "yaml" | "config" | "settings" => Some(Syntax::KeyValue),
        "json" | "jsonc" => Some(Syntax::Json),
        "xml" => Some(Syntax::Xml),
        _ if name.starts_with(".env") || name == ".ftpconfig" || name == "ftpsync.settings" => {
            Some(if name.starts_with(".env") {
                Syntax::KeyValue
            } else {
                Syntax::Json
            })
        }
        _ => None,
    }
}

static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*(?:-\s+|export\s+)?["']?(?P<key>[A-Za-z_][A-Za-z0-9_.\-]{0,80})["']?\s*(?:=|:(?:\s|$))\s*"#)
        .expect("static regex")
});
static JSON_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(?P<key>[A-Za-z_][A-Za-z0-9_.\-]{0,80})"\s*:\s*"(?P<v>(?:[^"\\]|\\.){0,512})""#)
        .expect("static regex")
});
static XML_ELEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"<(?P<key>[A-Za-z_][\w.:-]{0,80})(?:\s[^<>]*)?>(?P<v>[^<>]{1,512})</(?P<close>[A-Za-z_][\w.:-]{0,80})>"#)
        .expect("static regex")
});
static XML_NAME_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b(?:name|key)\s*=\s*"(?P<key>[^"]{1,80})"\s+value\s*=\s*"(?P<v>[^"]{0,512})""#)
        .expect("static regex")
});
static XML_ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\s(?P<key>[A-Za-z_][\w.:-]{0,80})\s*=\s*"(?P<v>[^"]{0,512})""#)
        .expect("static regex")
});
static PHP_DEFINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"define\s*\(\s*['"](?P<key>DB_PASSWORD|(?:SECURE_)?AUTH_(?:KEY|SALT)|LOGGED_IN_(?:KEY|SALT)|NONCE_(?:KEY|SALT))['"]\s*,\s*(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)")"#)
        .expect("static regex")
});
static MASTER_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?P<v>[0-9a-f]{32})\s*$").expect("static regex"));

/// Whether `key` names a credential: its last word is a password, secret,
/// key or token word (`db_password`, `spring.datasource.password`,
/// `userPass`, `client-secret`, `password2`), and not a word that names
/// something about one (`password_file`, `token_url`, `bypass`).
pub(super) fn is_credential_key(key: &str) -> bool {
    let trimmed = key.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_' || c == '-');
    let lower = trimmed.to_ascii_lowercase();
    const ENDINGS: [&str; 17] = [
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "secretkey",
        "secret_key",
        "secret-key",
        "secret_key_base",
        "apikey",
        "api_key",
        "api-key",
        "accesskey",
        "access_key",
        "privatekey",
        "private_key",
    ];
    const TOKENS: [&str; 5] = [
        "token",
        "authtoken",
        "auth_token",
        "access_token",
        "accesstoken",
    ];
    ENDINGS.iter().chain(TOKENS.iter()).any(|ending| {
        if !lower.ends_with(ending) {
            return false;
        }
        // `pass` and `pwd` end other words (`bypass`, `compass`, `oldpwd`):
        // they count only as a word of their own.
        if !matches!(*ending, "pass" | "pwd") {
            return true;
        }
        let at = trimmed.len() - ending.len();
        at == 0
            || trimmed[..at].ends_with(['_', '-', '.', ':'])
            || trimmed[at..].starts_with(|c: char| c.is_ascii_uppercase())
    })
}

/// Why a configuration value is not a credential, if it is not.
fn not_a_credential(key: &str, value: &str) -> Option<DropReason> {
    let lower = value.to_ascii_lowercase();
    if let Some(reason) = placeholder::common(value) {
        return Some(reason);
    }
    if value.starts_with([
        '$', '%', '{', '<', '@', '!', '&', '*', '[', '(', '~', '/', '.',
    ]) || value.contains("${")
        || lower.starts_with("enc(")
        || lower.starts_with("env:")
        || lower.starts_with("vault:")
        || lower.starts_with("file:")
        || lower.starts_with("http://")
        || lower.starts_with("https://")
        || value.contains('\\')
    {
        return Some(DropReason::Placeholder {
            what: "a reference, path or encrypted value rather than a credential",
        });
    }
    const STAND_INS: [&str; 30] = [
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "null",
        "nil",
        "none",
        "~",
        "required",
        "optional",
        "password",
        "passwd",
        "secret",
        "token",
        "changeme",
        "changeit",
        "test",
        "example",
        "admin",
        "root",
        "postgres",
        "mysql",
        "guest",
        "user",
        "default",
        "empty",
        "string",
        "your_password",
    ];
    if STAND_INS.contains(&lower.as_str())
        || lower == key.to_ascii_lowercase()
        || value.chars().all(|c| c.is_ascii_digit()) && value.len() <= 8
    {
        return Some(DropReason::Placeholder {
            what: "a default, stand-in or type name",
        });
    }
    if value.contains(char::is_whitespace) {
        return Some(DropReason::ReadsAsWords);
    }
    // `get_token(session)`, `os.environ["KEY"]`, `settings.DB_PASSWORD`:
    // code or a look-up, not a value (a `.env` read by a script, YAML
    // templated by a tool).
    let call_or_index = value.find(['(', '[']).is_some_and(|at| {
        at > 0
            && value[..at]
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    });
    let dotted_name = value.contains('.')
        && value.split('.').count() >= 2
        && value.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
        });
    if call_or_index || dotted_name {
        return Some(DropReason::Placeholder {
            what: "a code expression or look-up",
        });
    }
    None
}

fn report(
    out: &mut FileFindings,
    reader: &'static Reader,
    key: &str,
    line: &str,
    number: u32,
    range: Range<usize>,
) {
    let value = &line[range.clone()];
    if value.is_empty() {
        return;
    }
    match not_a_credential(key, value) {
        Some(reason) => out.drop(reader, number, range, reason),
        None => out.hit(reader, number, range, confidence_of(value)),
    }
}

/// Password-like pairs on one line of a configuration file, reported as
/// `reader`'s (the generic one, or a file kind's own: Terraform variables).
pub(super) fn fields(
    reader: &'static Reader,
    syntax: Syntax,
    line: &str,
    number: u32,
    out: &mut FileFindings,
) {
    let trimmed = line.trim_start();
    if trimmed.starts_with(['#', ';']) || trimmed.starts_with("//") {
        return;
    }
    match syntax {
        Syntax::KeyValue => {
            let Some(captures) = KEY_VALUE.captures(line) else {
                return;
            };
            let (Some(key), Some(whole)) = (captures.name("key"), captures.get(0)) else {
                return;
            };
            if !is_credential_key(key.as_str()) {
                return;
            }
            if let Some(range) = value_after(line, whole.end()) {
                report(out, reader, key.as_str(), line, number, range);
            }
        }
        Syntax::Json => pairs(reader, &JSON_PAIR, line, number, out),
        Syntax::Xml => {
            for captures in XML_ELEMENT.captures_iter(line) {
                let (Some(key), Some(close), Some(value)) = (
                    captures.name("key"),
                    captures.name("close"),
                    captures.name("v"),
                ) else {
                    continue;
                };
                if key.as_str() == close.as_str() && is_credential_key(local_name(key.as_str())) {
                    let range = trim_range(line, value.range());
                    report(out, reader, key.as_str(), line, number, range);
                }
            }
            pairs(reader, &XML_NAME_VALUE, line, number, out);
            pairs(reader, &XML_ATTRIBUTE, line, number, out);
        }
    }
}

/// Reports the `key`/`v` pairs `regex` finds whose key is password-like.
fn pairs(reader: &'static Reader, regex: &Regex, line: &str, number: u32, out: &mut FileFindings) {
    for captures in regex.captures_iter(line) {
        let (Some(key), Some(value)) = (captures.name("key"), captures.name("v")) else {
            continue;
        };
        if is_credential_key(local_name(key.as_str())) {
            report(out, reader, key.as_str(), line, number, value.range());
        }
    }
}

/// `ns:Password` ─▶ `Password`.
fn local_name(key: &str) -> &str {
    key.rsplit(':').next().unwrap_or(key)
}

fn trim_range(line: &str, range: Range<usize>) -> Range<usize> {
    let text = &line[range.clone()];
    let start = range.start + (text.len() - text.trim_start().len());
    let end = range.start + text.trim_end().len();
    start..end.max(start)
}

/// The value that starts at byte `at` of `line`: quoted (to the closing
/// quote), or bare (to whitespace, a comment or the end).
fn value_after(line: &str, at: usize) -> Option<Range<usize>> {
    let rest = line.get(at..)?;
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
    match quote {
        Some(q) => {
            let inner = &rest[1..];
            let close = inner.find(q)?;
            Some(at + 1..at + 1 + close)
        }
        None => {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '#' || c == ';')
                .unwrap_or(rest.len());
            let value = rest[..end].trim_end_matches(',');
            Some(at..at + value.len())
        }
    }
}

/// `define('DB_PASSWORD', '…')` and WordPress's keys and salts.
pub(super) fn php_define(line: &str, number: u32, out: &mut FileFindings) {
    let Some(captures) = PHP_DEFINE.captures(line) else {
        return;
    };
    let Some(value) = captures.name("single").or_else(|| captures.name("double")) else {
        return;
    };
    let key = captures.name("key").map_or("", |k| k.as_str());
    if value.as_str().is_empty() {
        return;
    }
    let lower = value.as_str().to_ascii_lowercase();
    // wp-config-sample.php's fillers.
    if lower.contains("put your unique phrase") || lower.ends_with("_here") {
        return out.drop(
            &WORDPRESS,
            number,
            value.range(),
            DropReason::Placeholder {
                what: "WordPress's sample filler",
            },
        );
    }
    // Salts are 64 printable characters, spaces included: only the
    // placeholder checks apply to them, not the word check.
    let reason = if key == "DB_PASSWORD" {
        not_a_credential(key, value.as_str())
    } else if ["{{", "${", "<%", "<?"]
        .iter()
        .any(|t| value.as_str().starts_with(t))
    {
        Some(DropReason::Placeholder {
            what: "a template or variable reference",
        })
    } else {
        placeholder::fillers(value.as_str())
    };
    match reason {
        Some(reason) => out.drop(&WORDPRESS, number, value.range(), reason),
        None => out.hit(
            &WORDPRESS,
            number,
            value.range(),
            confidence_of(value.as_str()),
        ),
    }
}

/// `config/master.key` and `config/credentials/<env>.key`: 32 hex characters.
pub(super) fn rails_master_key(line: &str, number: u32, out: &mut FileFindings) {
    if let Some(value) = MASTER_KEY.captures(line).and_then(|c| c.name("v")) {
        match placeholder::common(value.as_str()) {
            Some(reason) => out.drop(&RAILS_MASTER_KEY, number, value.range(), reason),
            None => out.hit(&RAILS_MASTER_KEY, number, value.range(), Confidence::High),
        }
    }
}
