//! SQL dumps and init scripts: database password hashes (MySQL's
//! `*`-prefixed native hashes, PostgreSQL's `SCRAM-SHA-256$…` and
//! `md5…`), and passwords set in clear by `CREATE/ALTER USER|ROLE|LOGIN`
//! and `SET PASSWORD`, also when the statement spans several lines (the
//! finding is on the literal's line). bcrypt, argon2 and sha-crypt hashes
//! in `INSERT`s have provider rules of their own
//! (`secrets.password-hash-*`), which read every file.

use super::super::super::Confidence;
use super::super::placeholder::{self, DropReason};
use super::stores::report;
use super::{FileFindings, SQL_PASSWORD, SQL_PASSWORD_HASH};
use regex::Regex;
use std::sync::LazyLock;

/// A quoted MySQL native hash, or a PostgreSQL SCRAM or md5 verifier.
static HASH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"['"](?P<v>\*[0-9A-Fa-f]{40}|SCRAM-SHA-256\$[0-9]{1,7}:[A-Za-z0-9+/=]{8,64}\$[A-Za-z0-9+/=]{20,64}:[A-Za-z0-9+/=]{20,64}|md5[0-9a-f]{32})['"]"#,
    )
    .expect("static regex")
});
/// `IDENTIFIED BY '…'` (and MySQL's `IDENTIFIED WITH plugin BY '…'`),
/// `PASSWORD '…'` (PostgreSQL's `WITH [ENCRYPTED] PASSWORD`), `PASSWORD =
/// '…'` (SQL Server's `CREATE LOGIN`). Whitespace between the words may
/// hold line breaks; the literal itself is on one line.
static CLEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:IDENTIFIED\s+(?:WITH\s+[A-Za-z0-9_'`]{1,64}\s+)?BY|PASSWORD\s*=?)\s*N?'(?P<v>[^'\n]{1,256})'",
    )
    .expect("static regex")
});
/// MySQL's `SET PASSWORD [FOR user] = '…'` (or the old `= PASSWORD('…')`).
static SET_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bSET\s+PASSWORD\b(?:\s+FOR\s+[^=;]{1,200}?)?\s*=\s*(?:PASSWORD\s*\(\s*)?N?'(?P<v>[^'\n]{1,256})'",
    )
    .expect("static regex")
});
static ROLE_STATEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:(?:CREATE|ALTER)\s+(?:USER|ROLE|LOGIN)|SET\s+PASSWORD)\b")
        .expect("static regex")
});

/// How far back a statement is followed from the line of its password:
/// generated and hand-written scripts break `CREATE USER … IDENTIFIED BY`
/// over a few lines, never dozens, and the bound keeps every added line's
/// cost constant on a dump of long `INSERT`s.
const MAX_STATEMENT_LINES: usize = 20;
const MAX_STATEMENT_BYTES: usize = 4_096;

/// Cheap test before the regexes: almost no line of a dump holds one.
fn may_hold(line: &str) -> bool {
    line.contains("'*")
        || line.contains("\"*")
        || line.contains("SCRAM-SHA-256$")
        || line.contains("md5")
        || line.contains("PASSWORD")
        || line.contains("password")
        || line.contains("IDENTIFIED")
        || line.contains("identified")
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("--")
}

/// Reads line `number` (1-based) of `lines`: hashes on the line itself, and
/// clear passwords whose literal is on the line, in a statement that may
/// have started on an earlier line.
pub(super) fn sql_line(lines: &[&str], number: u32, out: &mut FileFindings) {
    let Some(index) = (number as usize).checked_sub(1) else {
        return;
    };
    let Some(line) = lines.get(index).copied() else {
        return;
    };
    if is_comment(line) {
        return;
    }
    if may_hold(line) {
        hashes(line, number, out);
    }
    // The literal is on this line: no quote, no password of this line's.
    if !line.contains('\'') {
        return;
    }
    let (statement, offset) = statement_to(lines, index);
    if !may_hold(&statement) || !ROLE_STATEMENT.is_match(&statement) {
        return;
    }
    // `SET PASSWORD = '…'` is both forms: one report a value.
    let mut seen = Vec::new();
    for captures in CLEAR
        .captures_iter(&statement)
        .chain(SET_PASSWORD.captures_iter(&statement))
    {
        let Some(value) = captures.name("v") else {
            continue;
        };
        // Values of earlier lines were reported when those lines were read.
        if value.start() < offset || seen.contains(&value.start()) {
            continue;
        }
        seen.push(value.start());
        let range = value.start() - offset..value.end() - offset;
        // A hash given as the password is the hash reader's.
        let quoted = &line[range.start.saturating_sub(1)..(range.end + 1).min(line.len())];
        if HASH.is_match(quoted) {
            continue;
        }
        report(out, &SQL_PASSWORD, line, number, range, None);
    }
}

/// The statement that line `index` ends, back to the `;` before it, at most
/// [`MAX_STATEMENT_LINES`] lines and [`MAX_STATEMENT_BYTES`] bytes of
/// earlier lines; comment lines count as empty. Returns the text (lines
/// joined by `\n`) and where line `index` starts in it.
fn statement_to(lines: &[&str], index: usize) -> (String, usize) {
    let mut earlier: Vec<&str> = Vec::new();
    let mut bytes = 0;
    let first = index.saturating_sub(MAX_STATEMENT_LINES);
    for &previous in lines[first..index].iter().rev() {
        if is_comment(previous) {
            earlier.push("");
            continue;
        }
        let (tail, ended) = match previous.rfind(';') {
            Some(end) => (&previous[end + 1..], true),
            None => (previous, false),
        };
        bytes += tail.len() + 1;
        if bytes > MAX_STATEMENT_BYTES {
            break;
        }
        earlier.push(tail);
        if ended {
            break;
        }
    }
    let mut statement = String::with_capacity(bytes + lines[index].len());
    for part in earlier.iter().rev() {
        statement.push_str(part);
        statement.push('\n');
    }
    let offset = statement.len();
    statement.push_str(lines[index]);
    (statement, offset)
}

/// MySQL native hashes and PostgreSQL verifiers on one line.
fn hashes(line: &str, number: u32, out: &mut FileFindings) {
    for captures in HASH.captures_iter(line) {
        let Some(value) = captures.name("v") else {
            continue;
        };
        // An `md5…` string is a PostgreSQL verifier only next to a password
        // (`PASSWORD 'md5…'`, a `rolpassword` column); elsewhere it is a checksum.
        if value.as_str().starts_with("md5") && !line.to_ascii_lowercase().contains("password") {
            continue;
        }
        let reason = placeholder::common(value.as_str()).or_else(|| {
            // `*0000…`, `*FFFF…`: a filler of the hash's shape.
            let digits = &value.as_str()[1..];
            let first = digits.chars().next();
            digits
                .chars()
                .all(|c| Some(c) == first)
                .then_some(DropReason::Placeholder {
                    what: "a run of one character",
                })
        });
        match reason {
            Some(reason) => out.drop(&SQL_PASSWORD_HASH, number, value.range(), reason),
            None => out.hit(&SQL_PASSWORD_HASH, number, value.range(), Confidence::High),
        }
    }
}
