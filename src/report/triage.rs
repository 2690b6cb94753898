//! Triage in text: the bot's replies to a `/hunkscan …` command, the
//! dismissal record each accepted command leaves, and the check's gate.
//!
//! Store-free by design: a dismissal is recorded in the bot's own reply, as
//! a keyed marker on its LAST line (`<!-- hunkscan:dismissed=… -->`), read
//! back like the fingerprint marker and only from comments the app's bot
//! user wrote. Every later analysis lists the review comments anyway, so it
//! finds every dismissal of the pull request without another request. The
//! login and the reason are untrusted: in the marker they are hex (nothing
//! in it can be HTML or Markdown), in the visible text they go through
//! [`render`].
//!
//! The gate is what re-gating needs without re-analysing: the check run's
//! `output.text` holds, in a hidden marker the app alone can write (GitHub
//! lets only the app that created a check run update it), the fingerprints
//! of the findings that fail the check, per pull request. A dismissal
//! removes its fingerprints; the conclusion is what remains.

use crate::render;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

const DISMISSED_PREFIX: &str = "<!-- hunkscan:dismissed=";
const GATE_PREFIX: &str = "<!-- hunkscan:gate=";
const MARKER_SUFFIX: &str = " -->";

/// How a finding is dismissed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verb {
    /// Not worth acting on here.
    Ignore,
    /// The rule is wrong about this code.
    FalsePositive,
    /// Real, and the risk is accepted.
    AcceptRisk,
}

impl Verb {
    /// Every verb, in the order help lists them.
    pub const ALL: [Verb; 3] = [Verb::Ignore, Verb::FalsePositive, Verb::AcceptRisk];

    /// The word a user types.
    pub fn keyword(self) -> &'static str {
        match self {
            Verb::Ignore => "ignore",
            Verb::FalsePositive => "false-positive",
            Verb::AcceptRisk => "accept-risk",
        }
    }

    /// How the summary and the reply say it.
    pub fn described(self) -> &'static str {
        match self {
            Verb::Ignore => "ignored",
            Verb::FalsePositive => "marked a false positive",
            Verb::AcceptRisk => "accepted as a risk",
        }
    }

    /// The verb of a keyword (any case).
    pub fn parse(word: &str) -> Option<Verb> {
        Verb::ALL
            .into_iter()
            .find(|v| v.keyword().eq_ignore_ascii_case(word))
    }
}

/// One accepted dismissal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dismissal {
    /// The fingerprints the dismissed comment covered.
    pub fingerprints: Vec<String>,
    /// How.
    pub verb: Verb,
    /// Who (a login; untrusted text all the same).
    pub by: String,
    /// Why (untrusted).
    pub reason: String,
    /// The rule ids the comment named, for the summary.
    pub rules: Vec<String>,
}

fn hex(text: &str) -> String {
    crate::engine::fingerprint::hex(text.as_bytes())
}

fn unhex(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn is_fingerprint(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_rule_id(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The marker recording `dismissal`, for the last line of the bot's reply.
pub fn dismissal_marker(dismissal: &Dismissal) -> String {
    format!(
        "{DISMISSED_PREFIX}{};{};{};{};{}{MARKER_SUFFIX}",
        dismissal.fingerprints.join(","),
        dismissal.verb.keyword(),
        hex(&dismissal.by),
        hex(&dismissal.reason),
        dismissal.rules.join(","),
    )
}

/// The dismissal recorded on the LAST line of a comment body, as
/// [`dismissal_marker`] writes it. Callers also check the comment's author
/// is the app's bot user.
pub fn dismissal_in(body: &str) -> Option<Dismissal> {
    let last = body.trim_end_matches(['\n', '\r']).rsplit('\n').next()?;
    let inner = last
        .strip_prefix(DISMISSED_PREFIX)?
        .strip_suffix(MARKER_SUFFIX)?;
    let mut parts = inner.split(';');
    let fingerprints: Vec<String> = parts.next()?.split(',').map(str::to_owned).collect();
    let verb = Verb::parse(parts.next()?)?;
    let by = unhex(parts.next()?)?;
    let reason = unhex(parts.next()?)?;
    let rules: Vec<String> = match parts.next() {
        Some("") | None => Vec::new(),
        Some(list) => list.split(',').map(str::to_owned).collect(),
    };
    let valid = parts.next().is_none()
        && fingerprints.iter().all(|f| is_fingerprint(f))
        && rules.iter().all(|r| is_rule_id(r));
    valid.then_some(Dismissal {
        fingerprints,
        verb,
        by,
        reason,
        rules,
    })
}

/// The dismissals in order, each comment's latest only (a second command
/// on one thread replaces the first).
pub fn latest(dismissals: Vec<Dismissal>) -> Vec<Dismissal> {
    let mut kept: Vec<Dismissal> = Vec::with_capacity(dismissals.len());
    for dismissal in dismissals {
        kept.retain(|d| d.fingerprints != dismissal.fingerprints);
        kept.push(dismissal);
    }
    kept
}

fn rule_list(rules: &[String]) -> String {
    rules
        .iter()
        .map(|r| render::code_span(r))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reply to an accepted command: what was dismissed, by whom, why; the
/// record marker on the last line.
pub fn reply_dismissed(dismissal: &Dismissal, regated: Option<&str>) -> String {
    let mut body = format!(
        "Dismissed: {} {} by {}.\n\n> {}\n",
        if dismissal.rules.is_empty() {
            "this finding".to_owned()
        } else {
            rule_list(&dismissal.rules)
        },
        dismissal.verb.described(),
        render::text(&dismissal.by),
        render::text(&dismissal.reason),
    );
    match regated {
        Some(conclusion) => {
            let _ = writeln!(
                body,
                "\nThe `hunkscan` check was re-evaluated: it now concludes `{conclusion}`. The dismissal holds for later pushes of this pull request."
            );
        }
        None => body.push_str(
            "\nThe dismissal holds for this pull request; the `hunkscan` check reflects it from its next run.\n",
        ),
    }
    body.push_str(&dismissal_marker(dismissal));
    body
}

/// The reply to a command from someone without write access.
pub fn reply_refused(login: &str) -> String {
    format!(
        "Thanks, {}. Only people with write access to this repository can dismiss a finding, so nothing changed. A maintainer can reply here with the same command, or the code can carry an inline `hunkscan:ignore <rule> -- <reason>` comment for review.\n",
        render::text(login)
    )
}

/// The reply to a command the bot does not know (or one without a reason).
pub fn reply_help(unknown: &str, help: &str) -> String {
    let what = if unknown.is_empty() {
        "That command is incomplete.".to_owned()
    } else {
        format!("I did not understand {}.", render::code_span(unknown))
    };
    format!("{what} {help}")
}

/// The reply when the repository switched triage off.
pub fn reply_disabled() -> String {
    "Triage by reply is switched off for this repository (`triage: false` in `.github/hunkscan.yml` on the base branch), so nothing changed. An inline `hunkscan:ignore <rule> -- <reason>` comment still suppresses a finding.\n".to_owned()
}

/// The summary block listing one pull request's dismissals (who, which
/// command, why), between hidden markers so re-gating can replace it;
/// `several` when the check covers more than one pull request.
pub fn dismissals_block(number: u64, several: bool, dismissals: &[Dismissal]) -> String {
    let mut out = format!("<!-- hunkscan:dismissals={number} -->");
    if !dismissals.is_empty() {
        if several {
            let _ = write!(out, "\n### Dismissed in review of \\#\u{200B}{number}\n\n");
        } else {
            out.push_str("\n### Dismissed in review\n\n");
        }
        for dismissal in dismissals {
            let _ = writeln!(
                out,
                "- {} {} by {} (`/hunkscan {}`): {}",
                if dismissal.rules.is_empty() {
                    "a finding".to_owned()
                } else {
                    rule_list(&dismissal.rules)
                },
                dismissal.verb.described(),
                render::text(&dismissal.by),
                dismissal.verb.keyword(),
                render::text(&dismissal.reason),
            );
        }
    }
    let _ = write!(out, "<!-- /hunkscan:dismissals={number} -->");
    out
}

/// The fingerprints of failing findings, per pull request (0 for a merge
/// group), that decide the check's conclusion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    /// The `fail_on` setting the check was judged by, as written.
    pub fail_on: String,
    /// Pull request → fingerprints of its findings that fail the check.
    pub failing: BTreeMap<u64, BTreeSet<String>>,
}

impl Gate {
    /// The conclusion: `failure` while any failing finding remains.
    pub fn conclusion(&self) -> &'static str {
        if self.failing.values().any(|f| !f.is_empty()) {
            "failure"
        } else {
            "success"
        }
    }

    /// Removes the dismissed fingerprints of pull request `number`.
    pub fn dismiss(&mut self, number: u64, fingerprints: &[String]) {
        if let Some(failing) = self.failing.get_mut(&number) {
            for fingerprint in fingerprints {
                failing.remove(fingerprint);
            }
        }
    }

    /// The hidden marker holding the gate, for the check run's `text`.
    pub fn marker(&self) -> String {
        let parts: Vec<String> = self
            .failing
            .iter()
            .map(|(number, failing)| {
                format!(
                    "{number}:{}",
                    failing.iter().cloned().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        format!(
            "{GATE_PREFIX}{}|{}{MARKER_SUFFIX}",
            self.fail_on,
            parts.join(";")
        )
    }

    /// The gate in a check run's `text`, if the text holds one.
    pub fn read(text: &str) -> Option<Gate> {
        let start = text.find(GATE_PREFIX)? + GATE_PREFIX.len();
        let inner = &text[start..];
        let inner = &inner[..inner.find(MARKER_SUFFIX)?];
        let (fail_on, inner) = inner.split_once('|')?;
        if !fail_on.bytes().all(|b| b.is_ascii_lowercase()) {
            return None;
        }
        let mut gate = Gate {
            fail_on: fail_on.to_owned(),
            ..Gate::default()
        };
        for part in inner.split(';').filter(|p| !p.is_empty()) {
            let (number, list) = part.split_once(':')?;
            let failing: BTreeSet<String> = list
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            if !failing.iter().all(|f| is_fingerprint(f)) {
                return None;
            }
            gate.failing.insert(number.parse().ok()?, failing);
        }
        Some(gate)
    }
}

/// Where the dismissal blocks sit in a summary the bot wrote.
pub const DISMISSALS_START: &str = "<!-- hunkscan:dismissals -->";
/// See [`DISMISSALS_START`].
pub const DISMISSALS_END: &str = "<!-- /hunkscan:dismissals -->";
/// The verdict sentence of a summary sits between these markers, so
/// re-gating can rewrite it.
pub const VERDICT_START: &str = "<!-- hunkscan:verdict -->";
/// See [`VERDICT_START`].
pub const VERDICT_END: &str = "<!-- /hunkscan:verdict -->";

fn between(text: &str, start: &str, end: &str) -> Option<(usize, usize)> {
    let from = text.find(start)? + start.len();
    let to = from + text[from..].find(end)?;
    Some((from, to))
}

/// A summary the bot wrote, re-gated: its verdict replaced by `verdict`,
/// the dismissal block of pull request `number` by `block` (added when
/// absent). `None` when the summary lacks the markers (written by an older
/// version): then it is left alone.
pub fn regate_summary(summary: &str, verdict: &str, number: u64, block: &str) -> Option<String> {
    let (verdict_from, verdict_to) = between(summary, VERDICT_START, VERDICT_END)?;
    let mut out = format!(
        "{}{verdict}{}",
        &summary[..verdict_from],
        &summary[verdict_to..]
    );
    let (region_from, region_to) = between(&out, DISMISSALS_START, DISMISSALS_END)?;
    let own_start = format!("<!-- hunkscan:dismissals={number} -->");
    let own_end = format!("<!-- /hunkscan:dismissals={number} -->");
    let region = &out[region_from..region_to];
    let replaced = match region.find(&own_start) {
        Some(at) => {
            let end = region[at..].find(&own_end)? + at + own_end.len();
            format!("{}{block}{}", &region[..at], &region[end..])
        }
        None => format!("{region}{block}"),
    };
    out.replace_range(region_from..region_to, &replaced);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dismissal() -> Dismissal {
        Dismissal {
            fingerprints: vec!["ab12".into(), "cd34".into()],
            verb: Verb::FalsePositive,
            by: "octo-cat".into(),
            reason: "constant input; see @org/team <!-- x --> #1".into(),
            rules: vec!["secrets.github-pat".into()],
        }
    }

    #[test]
    fn dismissals_round_trip_through_the_last_line_only() {
        let reply = reply_dismissed(&dismissal(), Some("success"));
        assert_eq!(dismissal_in(&reply), Some(dismissal()));
        assert!(!reply.contains("@org"), "no mention: {reply}");
        let moved = format!("{}\nlater text", dismissal_marker(&dismissal()));
        assert_eq!(dismissal_in(&moved), None);
        let forged = dismissal_marker(&dismissal()).replace("ab12", "not hex");
        assert_eq!(dismissal_in(&forged), None);
        assert_eq!(dismissal_in("no marker"), None);
    }

    #[test]
    fn the_gate_round_trips_and_dismissals_lift_it() {
        let mut gate = Gate {
            fail_on: "high".into(),
            ..Gate::default()
        };
        gate.failing.insert(1, ["ab12".to_owned()].into());
        gate.failing.insert(2, BTreeSet::new());
        let text = format!("details\n{}\n", gate.marker());
        let mut read = Gate::read(&text).expect("a gate");
        assert_eq!(read, gate);
        assert_eq!(read.conclusion(), "failure");
        read.dismiss(2, &["ab12".to_owned()]);
        assert_eq!(read.conclusion(), "failure", "another pull request's");
        read.dismiss(1, &["ab12".to_owned()]);
        assert_eq!(read.conclusion(), "success");
        assert_eq!(Gate::read("<!-- hunkscan:gate=high|1:zz -->"), None);
    }

    #[test]
    fn summaries_are_regated_between_their_markers() {
        let summary = format!(
            "title\n{VERDICT_START}old verdict{VERDICT_END}\nbody\n{DISMISSALS_START}{}{DISMISSALS_END}\nfooter",
            dismissals_block(2, true, &[])
        );
        let block = dismissals_block(1, true, &[dismissal()]);
        let regated = regate_summary(&summary, "new verdict", 1, &block).expect("markers");
        assert!(
            regated.contains("new verdict") && !regated.contains("old"),
            "{regated}"
        );
        assert!(regated.contains("### Dismissed in review of"), "{regated}");
        assert!(regated.contains("constant input"), "{regated}");
        assert!(regated.ends_with("footer"), "{regated}");
        let again =
            regate_summary(&regated, "v2", 1, &dismissals_block(1, true, &[])).expect("markers");
        assert!(
            !again.contains("constant input"),
            "the block is replaced: {again}"
        );
        assert!(again.contains("dismissals=2"), "{again}");
        assert_eq!(regate_summary("no markers", "v", 1, ""), None);
    }
}
