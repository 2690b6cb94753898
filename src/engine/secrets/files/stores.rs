//! Files whose only job is to store credentials: AWS shared credentials,
//! Docker's `auths`, `.netrc`, `.pgpass`, `.git-credentials`. Every value
//! in the credential position is reported, placeholders apart.

use super::super::super::Confidence;
use super::super::placeholder::{self, DropReason};
use super::{
    AWS_CREDENTIALS, DOCKER_AUTH, FileFindings, GIT_CREDENTIALS, NETRC, PGPASS, Reader,
    confidence_of,
};
use base64::Engine as _;
use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

static AWS_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:aws_secret_access_key|aws_session_token|aws_security_token)\s*[=:]\s*(?P<v>[^\s#;]+)")
        .expect("static regex")
});
static DOCKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(?P<key>auth|identitytoken|password)"\s*:\s*"(?P<v>[^"\\]+)""#)
        .expect("static regex")
});
static NETRC_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|\s)(?:password|passwd)\s+(?P<v>\S+)").expect("static regex")
});
static CREDENTIAL_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:(?P<v>[^@\s]+)@").expect("static regex")
});

/// Reports `range` of `line` unless the value is a placeholder.
pub(super) fn report(
    out: &mut FileFindings,
    reader: &'static Reader,
    line: &str,
    number: u32,
    range: Range<usize>,
    confidence: Option<Confidence>,
) {
    let value = &line[range.clone()];
    match placeholder::common(value).or_else(|| stand_in(value)) {
        Some(reason) => out.drop(reader, number, range, reason),
        None => {
            let confidence = confidence.unwrap_or_else(|| confidence_of(value));
            out.hit(reader, number, range, confidence);
        }
    }
}

/// Values that stand for a credential in a template of a credential file.
fn stand_in(value: &str) -> Option<DropReason> {
    let lower = value.to_ascii_lowercase();
    let starts = ['$', '%', '{', '<', '['];
    if value.starts_with(starts) {
        return Some(DropReason::Placeholder {
            what: "a variable or template reference",
        });
    }
    const STAND_INS: [&str; 8] = [
        "password", "passwd", "secret", "token", "changeme", "pass", "test", "none",
    ];
    STAND_INS
        .contains(&lower.as_str())
        .then_some(DropReason::Placeholder {
            what: "a stand-in word",
        })
}

/// `aws_secret_access_key = …` / `aws_session_token = …` in an INI profile.
pub(super) fn aws_credentials(line: &str, number: u32, out: &mut FileFindings) {
    if let Some(value) = AWS_SECRET.captures(line).and_then(|c| c.name("v")) {
        report(
            out,
            &AWS_CREDENTIALS,
            line,
            number,
            value.range(),
            Some(Confidence::High),
        );
    }
}

/// `"auth": "<base64 of user:password>"`, `"identitytoken"`, `"password"`
/// in `.docker/config.json` or `.dockercfg`. An `auth` that does not decode
/// to `user:password` is not one.
pub(super) fn docker_auth(line: &str, number: u32, out: &mut FileFindings) {
    for captures in DOCKER.captures_iter(line) {
        let (Some(key), Some(value)) = (captures.name("key"), captures.name("v")) else {
            continue;
        };
        if key.as_str() == "auth" {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.as_str())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                continue;
            };
            if user.is_empty() || password.is_empty() {
                continue;
            }
            match placeholder::common(password).or_else(|| stand_in(password)) {
                Some(reason) => out.drop(&DOCKER_AUTH, number, value.range(), reason),
                None => out.hit(&DOCKER_AUTH, number, value.range(), Confidence::High),
            }
        } else {
            report(out, &DOCKER_AUTH, line, number, value.range(), None);
        }
    }
}

/// `machine host login user password secret`, on one line or several.
pub(super) fn netrc(line: &str, number: u32, out: &mut FileFindings) {
    if line.trim_start().starts_with('#') {
        return;
    }
    for captures in NETRC_PASSWORD.captures_iter(line) {
        if let Some(value) = captures.name("v") {
            report(out, &NETRC, line, number, value.range(), None);
        }
    }
}

/// `hostname:port:database:username:password`; `\:` and `\\` escape.
pub(super) fn pgpass(line: &str, number: u32, out: &mut FileFindings) {
    if line.trim_start().starts_with('#') || line.trim().is_empty() {
        return;
    }
    let mut fields = 0;
    let mut escaped = false;
    for (index, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ':' => {
                fields += 1;
                if fields == 4 {
                    let start = index + 1;
                    let end = line.trim_end().len().max(start);
                    if start < end {
                        report(out, &PGPASS, line, number, start..end, None);
                    }
                    return;
                }
            }
            _ => {}
        }
    }
}

/// `https://user:token@host` lines of git's credential store.
pub(super) fn git_credentials(line: &str, number: u32, out: &mut FileFindings) {
    if let Some(value) = CREDENTIAL_URL.captures(line).and_then(|c| c.name("v")) {
        report(
            out,
            &GIT_CREDENTIALS,
            line,
            number,
            value.range(),
            Some(Confidence::High),
        );
    }
}
