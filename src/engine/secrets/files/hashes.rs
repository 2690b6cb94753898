//! `user:hash` lines of `.htpasswd`, `/etc/shadow` and dumps of them: a
//! password hash is cracked offline at leisure once published, so it is
//! reported like the password (at medium severity). Locked and empty
//! entries (`*`, `!`, `x`) hold no hash.

use super::super::super::Confidence;
use super::{FileFindings, PASSWORD_HASH};
use regex::Regex;
use std::sync::LazyLock;

/// `name:` then a crypt(3) hash (`$1$`, `$2y$`, `$5$`, `$6$`, `$y$`,
/// `$apr1$`, …), an LDAP-style `{SHA}`/`{SSHA}` digest, or a 13-character
/// DES crypt, ending at `:` or the line's end.
static HASH_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<user>[A-Za-z0-9_.@+-]{1,64}):(?P<v>\$(?:1|2[abxy]?|5|6|y|gy|7|apr1|md5|sha1)\$[./A-Za-z0-9$=,+-]{8,}|\{S?SHA(?:256|512)?\}[A-Za-z0-9+/]{20,}={0,2}|[./A-Za-z0-9]{13})(?::|\s*$)",
    )
    .expect("static regex")
});

/// Whether `line` is a `user:hash` line (to recognise dumps by content).
pub(super) fn is_hash_line(line: &str) -> bool {
    line.contains(":$") && HASH_LINE.is_match(line)
}

pub(super) fn hash_line(line: &str, number: u32, out: &mut FileFindings) {
    if let Some(value) = HASH_LINE.captures(line).and_then(|c| c.name("v")) {
        // A 13-character word after `user:` may be a plain word (`x:shell_account`);
        // DES crypt has digits or `./` in all but ~1 in 1000 hashes.
        let des = !value.as_str().starts_with(['$', '{']);
        if des
            && !value
                .as_str()
                .chars()
                .any(|c| c.is_ascii_digit() || c == '.' || c == '/')
        {
            return;
        }
        match super::super::placeholder::common(value.as_str()) {
            Some(reason) => out.drop(&PASSWORD_HASH, number, value.range(), reason),
            None => out.hit(&PASSWORD_HASH, number, value.range(), Confidence::High),
        }
    }
}
