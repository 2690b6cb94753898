//! The grammar of a triage command: a reply to one of the bot's review
//! comments whose first word is `/hunkscan`, then a verb, then a reason.
//!
//! A grammar of its own, pure and tested apart (as triagebot keeps its
//! command parsers): the routing only asks whether a comment is a command,
//! the worker what it asks for.

/// The prefix every command starts with.
pub const PREFIX: &str = "/hunkscan";

/// Longest reason kept, in characters: a reason is a sentence, and it is
/// repeated in the check summary and in the bot's reply.
pub const MAX_REASON_CHARS: usize = 300;

pub use crate::report::triage::Verb;

/// What a command asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Dismiss the finding the thread is about.
    Dismiss {
        /// How.
        verb: Verb,
        /// Why, as written (untrusted), white space folded and capped.
        reason: String,
    },
    /// Not a command the bot knows, or one without its reason: answered
    /// with help. Holds what was not understood (untrusted).
    Help(String),
}

/// The command in a comment body, if its first word is [`PREFIX`]. The
/// reason is the rest of the body after the verb.
pub fn parse(body: &str) -> Option<Request> {
    let text = body.trim_start();
    let first_end = text.find(char::is_whitespace).unwrap_or(text.len());
    if !text[..first_end].eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let rest = text[first_end..].trim_start();
    let verb_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (word, reason) = rest.split_at(verb_end);
    let reason: String = reason
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    Some(match Verb::parse(word) {
        Some(verb) if !reason.is_empty() => Request::Dismiss { verb, reason },
        Some(verb) => Request::Help(format!("{} without a reason", verb.keyword())),
        None => Request::Help(word.chars().take(40).collect()),
    })
}

/// The help text: every command, with what it needs.
pub fn help() -> String {
    let mut text = String::from(
        "Reply to one of my comments with one of these commands, followed by a reason:\n\n",
    );
    for verb in Verb::ALL {
        text.push_str(&format!(
            "- `{PREFIX} {} <reason>`: the finding is {}\n",
            verb.keyword(),
            verb.described()
        ));
    }
    text.push_str(
        "\nOnly people with write access to the repository can dismiss a finding. The dismissal holds for this pull request, across later pushes, and is listed in the `hunkscan` check.\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_from_the_first_word() {
        assert_eq!(
            parse("/hunkscan false-positive  the input is a constant\nsee #12"),
            Some(Request::Dismiss {
                verb: Verb::FalsePositive,
                reason: "the input is a constant see #12".into()
            })
        );
        assert_eq!(
            parse("  /HunkScan Accept-Risk internal tool"),
            Some(Request::Dismiss {
                verb: Verb::AcceptRisk,
                reason: "internal tool".into()
            })
        );
        assert_eq!(
            parse("/hunkscan ignore"),
            Some(Request::Help("ignore without a reason".into()))
        );
        assert_eq!(parse("/hunkscan"), Some(Request::Help(String::new())));
        assert_eq!(
            parse("/hunkscan wontfix because"),
            Some(Request::Help("wontfix".into()))
        );
        assert_eq!(parse("I think /hunkscan ignore x is wrong"), None);
        assert_eq!(parse("/hunkscanner ignore x"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn reasons_are_capped() {
        let long = format!("/hunkscan ignore {}", "é".repeat(1000));
        let Some(Request::Dismiss { reason, .. }) = parse(&long) else {
            panic!("a dismissal");
        };
        assert_eq!(reason.chars().count(), MAX_REASON_CHARS);
    }

    #[test]
    fn help_names_every_verb() {
        let help = help();
        for verb in Verb::ALL {
            assert!(help.contains(verb.keyword()), "{help}");
        }
    }
}
