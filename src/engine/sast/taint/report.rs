//! Taint hits ─▶ findings, diff-aware.
//!
//! A flow is the change's responsibility when the change added its source,
//! its sink or any step between (a new `cmd = request.args["c"]` above an
//! old `os.system(cmd)` is a new injection). The finding sits where a
//! reviewer can comment: at the sink when the sink's lines were added;
//! from the added step nearest to the sink down to the sink when the sink
//! is unchanged but inside the diff's hunks (a review comment on that range
//! ends at the sink); else at that added step. Its message carries the
//! whole path, source line to sink line; the engine then keeps it (it
//! touches an added line), fingerprints it and applies suppressions like
//! any other finding.

use super::Hit;
use super::flow::{Origin, Step};
use crate::engine::sast::RuleInfo;
use crate::engine::sast::imports::Canonical;
use crate::engine::{
    AnalyzerKind, ChangeKind, Confidence, Finding, FlowStep, Position, RawFinding,
};
use std::collections::BTreeSet;

/// Characters of a message kept (the path can be long).
const MAX_MESSAGE_CHARS: usize = 1500;

/// Findings reported per file at most (one per sink and rule already).
pub const MAX_FINDINGS: usize = 1000;

/// Byte offsets of the analysed text ─▶ positions in the file as written.
pub struct Locator<'a> {
    original: &'a str,
    canonical: Option<&'a Canonical>,
    line_starts: Vec<usize>,
}

impl<'a> Locator<'a> {
    /// For a tree over `analysed` text, which is `canonical`'s text when
    /// aliases were resolved.
    pub fn new(analysed: &'a str, canonical: Option<&'a Canonical>) -> Self {
        let original = canonical.map_or(analysed, |c| c.original.as_str());
        let mut line_starts = vec![0];
        line_starts.extend(
            original
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            original,
            canonical,
            line_starts,
        }
    }

    fn original_offset(&self, offset: usize) -> usize {
        self.canonical
            .map_or(offset, |c| c.original_offset(offset))
            .min(self.original.len())
    }

    /// The position in the file as written of an analysed byte offset.
    pub fn position_of(&self, offset: usize) -> Position {
        self.position(offset).0
    }

    /// 1-based line and character column of an analysed byte offset.
    fn position(&self, offset: usize) -> (Position, usize) {
        let offset = self.original_offset(offset);
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        let line_start = self.line_starts[line - 1];
        let column = self
            .original
            .get(line_start..offset)
            .map_or(0, |s| s.chars().count());
        (
            Position {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                column: u32::try_from(column + 1).unwrap_or(u32::MAX),
            },
            line_start,
        )
    }
}

/// Characters of code shown per step.
const MAX_STEP_CHARS: usize = 80;

impl Locator<'_> {
    /// The code of a step as written (its first line, bounded).
    pub(crate) fn code(&self, step: &Step) -> String {
        if let Some(foreign) = &step.foreign {
            return foreign.code.clone();
        }
        let start = self.original_offset(step.range.0);
        let end = self.original_offset(step.range.1).max(start);
        let text = self.original.get(start..end).unwrap_or_default();
        // The first line only: a step at a loop must not show the loop.
        let (line, more) = match text.find('\n') {
            Some(cut) => (&text[..cut], true),
            None => (text, false),
        };
        let line = line.trim();
        let mut code: String = line.chars().take(MAX_STEP_CHARS).collect();
        if code.len() < line.len() || more {
            code.push('…');
        }
        // Backticks would unpair the message's code spans.
        code.replace('`', "'")
    }
}

fn bounded(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

/// The findings for `hits` of rules described by `info_of`, kept or not by
/// the engine according to `added` (1-based added lines; `None`: all);
/// `commentable` lines (inside the diff's hunks) may carry a review comment.
pub fn findings<'r>(
    path: &str,
    hits: &[Hit],
    info_of: &dyn Fn(usize) -> Option<&'r RuleInfo>,
    locator: &Locator,
    added: Option<&BTreeSet<u32>>,
    commentable: Option<&BTreeSet<u32>>,
) -> Vec<RawFinding> {
    let is_added = |row: usize| {
        added.is_none_or(|added| u32::try_from(row + 1).is_ok_and(|line| added.contains(&line)))
    };
    let mut out = Vec::new();
    for hit in hits.iter().take(MAX_FINDINGS) {
        let Some(info) = info_of(hit.rule) else {
            continue;
        };
        let steps = hit.taint.path.as_slice();
        let sink_added = (hit.sink_rows.0..=hit.sink_rows.1).any(is_added);
        // At the sink, or at the added step nearest to it.
        let sink_commentable = commentable.is_some_and(|lines| {
            (hit.sink_rows.0..=hit.sink_rows.1)
                .all(|row| u32::try_from(row + 1).is_ok_and(|line| lines.contains(&line)))
        });
        let anchor = if sink_added {
            hit.sink
        } else {
            // A step in another file has that file's rows.
            match steps
                .iter()
                .rev()
                .find(|step| step.foreign.is_none() && is_added(step.row))
            {
                None => hit.sink,
                // An unchanged sink the diff shows, below the added step: the
                // range runs from the step to the sink. It touches an added
                // line, and a review comment on a range within one hunk
                // ends at the range's last line: the sink.
                Some(step) if sink_commentable && step.range.0 < hit.sink.0 => {
                    (step.range.0, hit.sink.1)
                }
                Some(step) => step.range,
            }
        };
        let (start, line_start) = locator.position(anchor.0);
        let (end, _) = locator.position(anchor.1);
        let (label, source_confidence) = match &hit.taint.origin {
            Origin::Source { label, confidence } => (label.to_string(), *confidence),
            Origin::Parameter(_) => ("input".to_owned(), Confidence::Low),
        };
        let flow: Vec<String> = steps
            .iter()
            .map(|step| match &step.foreign {
                Some(foreign) => format!(
                    "`{}` ({} line {})",
                    foreign.code,
                    // Backticks would unpair the message's code spans.
                    foreign.path.replace('`', "'"),
                    foreign.start.line
                ),
                None => format!("`{}` (line {})", locator.code(step), step.row + 1),
            })
            .collect();
        let gap = if hit.taint.truncated { " → …" } else { "" };
        let first = flow.first().cloned().unwrap_or_default();
        let rest = flow.get(1..).unwrap_or_default().join(" → ");
        let message = bounded(format!(
            "{} — {label} flows to it: {first}{gap} → {rest}",
            info.message.trim_end_matches('.')
        ));
        let lines = end.line.saturating_sub(start.line) as usize + 1;
        let snippet = crate::engine::snippet::lines_at(
            locator.original,
            line_start,
            locator.original_offset(anchor.0),
            lines.min(5),
        );
        let flow = steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let code = locator.code(step);
                let message = if index == 0 {
                    format!("{label}: {code}")
                } else if index + 1 == steps.len() {
                    format!("sink: {code}")
                } else {
                    code
                };
                match &step.foreign {
                    Some(foreign) => FlowStep {
                        path: foreign.path.to_string(),
                        start: foreign.start,
                        end: foreign.end,
                        message,
                    },
                    None => FlowStep {
                        path: path.to_owned(),
                        start: locator.position_of(step.range.0),
                        end: locator.position_of(step.range.1),
                        message,
                    },
                }
            })
            .collect();
        let source_code = steps.first().map(|s| locator.code(s)).unwrap_or_default();
        let sink_code = steps.last().map(|s| locator.code(s)).unwrap_or_default();
        out.push(RawFinding {
            finding: Finding {
                rule_id: info.id.clone(),
                analyzer: AnalyzerKind::Sast,
                severity: info.severity,
                confidence: info.metadata.confidence.min(source_confidence),
                cwe: Some(info.metadata.cwe.clone()),
                path: path.to_owned(),
                start,
                end,
                message,
                remediation: info.note.clone(),
                fix: None,
                fingerprint: String::new(),
                change: ChangeKind::New,
                suppression: None,
                snippet,
                flow,
            },
            anchor_first_line: false,
            masked: false,
            // The sink and the source, not their lines: the same flow moved
            // keeps its fingerprint.
            identity: format!("taint :: {sink_code} <- {source_code}"),
            secrets: Vec::new(),
        });
    }
    out
}
