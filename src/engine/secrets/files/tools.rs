//! Developer tools' own credential files: npm's `.npmrc`, kubectl's
//! kubeconfig, twine's `.pypirc`, s3cmd's `.s3cfg` and DBeaver's
//! `data-sources.json`. Each keeps its secret under a fixed key, so the
//! key's place says what the value is, whatever its shape.

use super::super::super::Confidence;
use super::stores::report;
use super::{DBEAVER, FileFindings, KUBECONFIG, NPMRC, PYPIRC, S3CFG};
use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

static NPMRC_AUTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|[\s:])(?:_authToken|_auth|_password)\s*=\s*(?P<v>"[^"]*"|'[^']*'|[^\s#;]+)"#)
        .expect("static regex")
});
static KUBE_CREDENTIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*(?:-\s+)?(?:token|client-key-data|password|id-token|refresh-token|client-secret|access-token)\s*:\s*(?P<v>"[^"]*"|'[^']*'|[^\s#]+)"#)
        .expect("static regex")
});
static PYPIRC_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*password\s*[=:]\s*(?P<v>\S(?:.*\S)?)\s*$").expect("static regex")
});
static S3CFG_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:secret_key|access_token|gpg_passphrase)\s*=\s*(?P<v>\S+)")
        .expect("static regex")
});
static DBEAVER_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""password"\s*:\s*"(?P<v>(?:[^"\\]|\\.){1,512})""#).expect("static regex")
});

/// The value's range without the quotes around it.
fn unquoted(range: Range<usize>, line: &str) -> Range<usize> {
    let text = &line[range.clone()];
    let quoted = text.len() >= 2
        && ((text.starts_with('"') && text.ends_with('"'))
            || (text.starts_with('\'') && text.ends_with('\'')));
    if quoted {
        range.start + 1..range.end - 1
    } else {
        range
    }
}

fn is_comment(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with('#') || trimmed.starts_with(';')
}

/// `//registry.example.com/:_authToken=…`, `_auth=…` (base64 of
/// `user:password`), `_password=…` (base64 of the password).
pub(super) fn npmrc(line: &str, number: u32, out: &mut FileFindings) {
    if is_comment(line) {
        return;
    }
    for captures in NPMRC_AUTH.captures_iter(line) {
        if let Some(value) = captures.name("v") {
            let range = unquoted(value.range(), line);
            if !range.is_empty() {
                report(out, &NPMRC, line, number, range, None);
            }
        }
    }
}

/// A kubeconfig user's `token`, `client-key-data` (a base64 private key),
/// `password`, and an auth provider's `id-token`/`refresh-token`/`client-secret`.
pub(super) fn kubeconfig(line: &str, number: u32, out: &mut FileFindings) {
    if is_comment(line) {
        return;
    }
    if let Some(value) = KUBE_CREDENTIAL.captures(line).and_then(|c| c.name("v")) {
        let range = unquoted(value.range(), line);
        if !range.is_empty() {
            let key_data = line.contains("client-key-data");
            let confidence = key_data.then_some(Confidence::High);
            report(out, &KUBECONFIG, line, number, range, confidence);
        }
    }
}

/// `password = …` in a `.pypirc` section (an upload token or a password).
pub(super) fn pypirc(line: &str, number: u32, out: &mut FileFindings) {
    if is_comment(line) {
        return;
    }
    if let Some(value) = PYPIRC_PASSWORD.captures(line).and_then(|c| c.name("v")) {
        report(out, &PYPIRC, line, number, value.range(), None);
    }
}

/// s3cmd's `secret_key = …` (and its `access_token`, `gpg_passphrase`);
/// `access_key` is the key's id, not a secret.
pub(super) fn s3cfg(line: &str, number: u32, out: &mut FileFindings) {
    if is_comment(line) {
        return;
    }
    if let Some(value) = S3CFG_SECRET.captures(line).and_then(|c| c.name("v")) {
        report(out, &S3CFG, line, number, value.range(), None);
    }
}

/// A connection's `"password"` in DBeaver's `data-sources.json` (saved in
/// clear when the project does not use the credential store).
pub(super) fn dbeaver(line: &str, number: u32, out: &mut FileFindings) {
    for captures in DBEAVER_PASSWORD.captures_iter(line) {
        if let Some(value) = captures.name("v") {
            report(out, &DBEAVER, line, number, value.range(), None);
        }
    }
}

/// Whether the first lines read as a kubeconfig (`kind: Config` with
/// `clusters:`, `users:` or `contexts:`), whatever the file's name.
pub(super) fn looks_like_kubeconfig<'a>(head: impl Iterator<Item = &'a &'a str>) -> bool {
    let (mut kind, mut section) = (false, false);
    for line in head {
        let line = line.trim_end();
        kind |= line == "kind: Config";
        section |= matches!(line, "clusters:" | "users:" | "contexts:");
    }
    kind && section
}
