//! Values that name a secret rather than being one, and the reason each is
//! dropped: every rule's candidates go through [`common`] (runs of `x`,
//! `EXAMPLE`, `<your-token>`, providers' documentation samples); generic
//! rules' candidates, which have no format of their own to vouch for them,
//! also through [`generic`] (test values, environment look-ups, words).
//!
//! The reason is kept with the dropped candidate so `--explain-dropped`
//! can tell a user why a value was not reported; the value itself is never
//! part of it.

use super::entropy::shannon_entropy;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// Why a candidate was not reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum DropReason {
    /// A template, filler or repeated character stands where a value would.
    Placeholder {
        /// What gave it away.
        what: &'static str,
    },
    /// A value a provider prints in its own documentation.
    DocumentationSample,
    /// Too little randomness for the rule's format.
    LowEntropy {
        /// Bits per character of the value.
        entropy: f64,
        /// The rule's floor.
        floor: f64,
    },
    /// No digit or symbol and it reads as words or an identifier.
    ReadsAsWords,
    /// The name it is assigned to says what it is, and that is no
    /// credential (`public_key`, `cache_key`, `key_id`).
    NameNotACredential,
    /// A generic match in documentation (`.md`, `.rst`) whose value is an obvious example.
    DocumentationExample,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Placeholder { what } => write!(f, "placeholder: {what}"),
            DropReason::DocumentationSample => {
                f.write_str("a provider's documentation sample value")
            }
            DropReason::LowEntropy { entropy, floor } => write!(
                f,
                "entropy {entropy:.2} bits per character, under the rule's floor of {floor:.2}"
            ),
            DropReason::ReadsAsWords => {
                f.write_str("no digit or symbol, and it reads as words or an identifier")
            }
            DropReason::NameNotACredential => {
                f.write_str("the name it is assigned to is not a credential's")
            }
            DropReason::DocumentationExample => {
                f.write_str("an example value in a documentation file")
            }
        }
    }
}

static DOCUMENTATION_VALUES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("documentation_values.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Fillers that mark a value as a stand-in, whatever the rule (lower case).
const FILLERS: [(&str, &str); 14] = [
    ("example", "the value says it is an example"),
    ("your_", "`your_…` filler"),
    ("your-", "`your-…` filler"),
    ("yourtoken", "`your…` filler"),
    ("yourkey", "`your…` filler"),
    ("placeholder", "the value says it is a placeholder"),
    ("redacted", "a redacted value"),
    ("dummy", "a dummy value"),
    ("changeme", "`changeme` filler"),
    ("change_me", "`changeme` filler"),
    ("notreal", "the value says it is not real"),
    ("not-a-real", "the value says it is not real"),
    ("not_a_real", "the value says it is not real"),
    ("replace", "the value says to replace it"),
];

/// Sequences people type as fillers; random values hold them with
/// negligible probability (a 9-character run of one alphabet).
const SEQUENCES: [&str; 5] = [
    "123456789",
    "abcdefghi",
    "qwertyuiop",
    "deadbeef",
    "0123456789",
];

/// The check every rule's candidates go through.
pub fn common(value: &str) -> Option<DropReason> {
    if ["${", "{{", "%(", "#{", "$("]
        .iter()
        .any(|t| value.contains(t))
        || (value.contains('<') && value.contains('>'))
    {
        return Some(DropReason::Placeholder {
            what: "a template or variable reference",
        });
    }
    fillers(value)
}

/// [`common`] without the template check, for values whose alphabet
/// includes `<`, `>` and `{` (WordPress salts): documentation samples,
/// fillers, runs and typed sequences.
pub fn fillers(value: &str) -> Option<DropReason> {
    if DOCUMENTATION_VALUES.contains(value) {
        return Some(DropReason::DocumentationSample);
    }
    let lower = value.to_ascii_lowercase();
    if let Some((_, what)) = FILLERS.iter().find(|(filler, _)| lower.contains(filler)) {
        return Some(DropReason::Placeholder { what });
    }
    if let Some(what) = filler_run(value) {
        return Some(DropReason::Placeholder { what });
    }
    if SEQUENCES.iter().any(|s| lower.contains(s)) {
        return Some(DropReason::Placeholder {
            what: "a typed sequence (`123456789`, `abcdefghi`, …)",
        });
    }
    None
}

/// A run of `x`, `X`, `*`, `.`, `#` (5 or more) or `0` (6 or more): what
/// documentation writes where the random part of a token would be
/// (`ghp_xxxx…`, `AKIA0000…`, `sk_live_****`).
fn filler_run(value: &str) -> Option<&'static str> {
    let mut previous = None;
    let mut run = 0usize;
    for c in value.chars() {
        if Some(c) == previous {
            run += 1;
        } else {
            previous = Some(c);
            run = 1;
        }
        let long_enough = match c {
            // Not `-`: PEM armour (`-----BEGIN`) is made of it.
            'x' | 'X' | '*' | '.' | '#' => run >= 5,
            '0' => run >= 6,
            _ => false,
        };
        if long_enough {
            return Some(match c {
                'x' | 'X' => "a run of `x`",
                '0' => "a run of `0`",
                _ => "a run of masking characters",
            });
        }
    }
    None
}

/// The stricter check of generic rules (assignments to names like
/// `password`): no format vouches for these values.
pub fn generic(value: &str) -> Option<DropReason> {
    let lower = value.to_ascii_lowercase();
    let trimmed = lower.trim_matches(|c: char| c == '"' || c == '\'' || c == '`');
    const LOOKUPS: [&str; 11] = [
        "os.environ",
        "getenv",
        "process.env",
        "env(",
        "env[",
        "secretsmanager",
        "sk_test_",
        "xxx",
        "your",
        "<",
        "{",
    ];
    if LOOKUPS.iter().any(|f| trimmed.contains(f)) {
        return Some(DropReason::Placeholder {
            what: "a look-up, template or filler",
        });
    }
    const TEST_VALUES: [&str; 12] = [
        "password",
        "passw0rd",
        "secret",
        "test",
        "testing",
        "foobar",
        "12345678",
        "123456789",
        "1234567890",
        "qwerty",
        "letmein",
        "admin",
    ];
    if TEST_VALUES.contains(&trimmed)
        || trimmed.starts_with("test")
        || trimmed.starts_with("fake")
        || trimmed.starts_with("sample")
    {
        return Some(DropReason::Placeholder {
            what: "a test value",
        });
    }
    let mut chars = trimmed.chars();
    let repeated = match chars.next() {
        Some(first) => chars.all(|c| c == first || c == '*' || c == '.'),
        None => true,
    };
    if repeated {
        return Some(DropReason::Placeholder {
            what: "one repeated character",
        });
    }
    if !value
        .chars()
        .any(|c| c.is_ascii_digit() || "!@#$%^&*+=/?~".contains(c))
        && !random_letters(value)
    {
        return Some(DropReason::ReadsAsWords);
    }
    None
}

/// In documentation (`.md`, `.rst`), what a writer makes up for an
/// example: short values, typed sequences, the key's own name as value
/// (`my-secret-123`), the usual stand-ins. Generic matches only; a value in a
/// provider's format is reported there too, at low confidence.
pub fn obvious_example(value: &str) -> bool {
    const MADE_UP: [&str; 14] = [
        "123", "abc", "pass", "secret", "token", "key", "demo", "foo", "bar", "sample", "my-",
        "my_", "hunter", "mypass",
    ];
    let lower = value.to_ascii_lowercase();
    value.chars().count() < 12 || MADE_UP.iter().any(|m| lower.contains(m))
}

/// Values that name a secret rather than being one: templates, environment
/// look-ups, documentation fillers and obvious test values (the generic
/// rules' test, [`common`] included).
pub fn looks_like_placeholder(value: &str) -> bool {
    common(value).is_some() || generic(value).is_some()
}

/// Whether a value with no digit or symbol is still random letters
/// (`kJHgfdsaQWErtyUIopLkjh`) rather than words (`passwordConfirmation`,
/// `my-app-secret-name`, `XMLHttpRequest`). About one random 22-letter
/// password in fifty has no digit, so "no digit" alone is not a reason.
///
/// Split the way identifiers are (`[A-Z]?[a-z]+`, acronyms `[A-Z]+`,
/// separators), random mixed case leaves one-letter pieces where words
/// leave none: two or more of them, with both cases, 12 letters or more
/// and entropy past 3.5 bits, is random.
fn random_letters(value: &str) -> bool {
    let letters = value.chars().filter(char::is_ascii_alphabetic).count();
    if letters < 12 || shannon_entropy(value) < 3.5 {
        return false;
    }
    let upper = value.chars().filter(char::is_ascii_uppercase).count();
    if upper < 2 || upper == letters {
        return false;
    }
    let chars: Vec<char> = value.chars().collect();
    let mut singles = 0;
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if !c.is_ascii_alphabetic() {
            index += 1;
            continue;
        }
        let start = index;
        if c.is_ascii_uppercase() {
            // An acronym run ends before an uppercase letter that starts a word.
            let mut end = index + 1;
            while end < chars.len() && chars[end].is_ascii_uppercase() {
                end += 1;
            }
            if end < chars.len() && chars[end].is_ascii_lowercase() {
                if end - index > 1 {
                    end -= 1; // `XMLHttp`: `XML`, then `Http`
                } else {
                    while end < chars.len() && chars[end].is_ascii_lowercase() {
                        end += 1;
                    }
                }
            }
            index = end;
        } else {
            while index < chars.len() && chars[index].is_ascii_lowercase() {
                index += 1;
            }
        }
        if index - start == 1 {
            singles += 1;
        }
    }
    singles >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_drops_fillers_and_documentation_samples() {
        for (value, expected) in [
            ("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "a run of `x`"),
            ("AKIA000000000000FAKE", "a run of `0`"),
            ("sk_live_****************", "a run of masking characters"),
            ("<your-token>", "a template or variable reference"),
            ("your-token-goes-here", "`your-…` filler"),
            ("AKIAZ7Q4XW2EXAMPLEKE", "the value says it is an example"),
        ] {
            assert_eq!(
                common(value),
                Some(DropReason::Placeholder { what: expected }),
                "{value}"
            );
        }
        assert_eq!(
            common("ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
            Some(DropReason::DocumentationSample)
        );
        for real in [
            "ghp_R2d9XqL0vT7mKp4sWz8bYc1nHf6jUe3aQi5o",
            "AKIAZ7Q4XW2M9RT3LPKE",
            "xoxb-2748193650-4820193746512-Zq8Rk2Lm9Xv4Tn7Bw1Yc5Hd3",
        ] {
            assert_eq!(common(real), None, "{real}");
        }
    }

    #[test]
    fn letters_without_digits_are_random_or_words() {
        assert!(random_letters("kJHgfdsaQWErtyUIopLkjh"));
        assert!(random_letters("vQmTzRkWpLsNbYxHcJdF"));
        for words in [
            "passwordConfirmation",
            "XMLHttpRequestHandler",
            "my-app-secret-name",
            "ERR_INVALID_AUTH_TOKEN",
            "SomeLongClassNameHere",
        ] {
            assert!(!random_letters(words), "{words}");
        }
        assert_eq!(
            generic("passwordConfirmation"),
            Some(DropReason::ReadsAsWords)
        );
        assert_eq!(generic("kJHgfdsaQWErtyUIopLkjh"), None);
        assert_eq!(generic("Zr8Qm3Tx6Lw1Vb9K"), None);
    }
}
