//! SQL dumps and init scripts: database password hashes (MySQL's
//! `*`-prefixed native hashes, PostgreSQL's `SCRAM-SHA-256$…` and
//! `md5…`), and passwords set in clear by `CREATE/ALTER USER|ROLE`.
//! bcrypt, argon2 and sha-crypt hashes in `INSERT`s have provider rules of
//! their own (`secrets.password-hash-*`), which read every file.

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
/// `IDENTIFIED BY '…'`, `PASSWORD '…'` (PostgreSQL's `WITH [ENCRYPTED]
/// PASSWORD`), `PASSWORD = '…'` (SQL Server's `CREATE LOGIN`).
static CLEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:IDENTIFIED\s+BY|PASSWORD\s*=?)\s*N?'(?P<v>[^']{1,256})'")
        .expect("static regex")
});
static ROLE_STATEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:CREATE|ALTER)\s+(?:USER|ROLE|LOGIN)\b").expect("static regex")
});

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

pub(super) fn sql_line(line: &str, number: u32, out: &mut FileFindings) {
    let trimmed = line.trim_start();
    if trimmed.starts_with("--") || !may_hold(line) {
        return;
    }
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
    if !ROLE_STATEMENT.is_match(line) {
        return;
    }
    for captures in CLEAR.captures_iter(line) {
        let Some(value) = captures.name("v") else {
            continue;
        };
        // A hash given as the password is the hash reader's.
        if HASH.is_match(&line[value.start().saturating_sub(1)..(value.end() + 1).min(line.len())])
        {
            continue;
        }
        report(out, &SQL_PASSWORD, line, number, value.range(), None);
    }
}
