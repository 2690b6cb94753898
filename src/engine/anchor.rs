//! Where a finding whose evidence is on the base side (a regression made
//! by deleted or changed lines) is anchored on the head side, so a review
//! comment can sit on it.

use super::{Finding, Position};

/// The RIGHT line at which LEFT line `left` of hunk `h` sits (for a deleted
/// line: the first RIGHT line after the deletion). git writes a change's
/// deleted lines before its added ones, so the walk consumes deletions
/// first, then additions, then a context line on both sides.
fn right_of(h: &crate::diff::HunkRange, left: u32, lines: &crate::diff::LineSets) -> u32 {
    let (mut old, mut new) = (h.old_start, h.new_start);
    let (old_end, new_end) = (h.old_start + h.old_len, h.new_start + h.new_len);
    while old < old_end || new < new_end {
        if old == left {
            return new;
        }
        if old < old_end && lines.deleted.contains(&old) {
            old += 1;
        } else if new < new_end && lines.added.contains(&new) {
            new += 1;
        } else {
            old += 1;
            new += 1;
        }
    }
    new.saturating_sub(1).max(h.new_start)
}

/// Moves a regression whose evidence is on the LEFT side (deleted or
/// changed lines) onto the commentable RIGHT line nearest to where those
/// lines were, so a review comment can sit on it. When the file has no
/// commentable line (it was removed), the finding keeps its position.
pub(super) fn anchor_near_deletion(
    finding: &mut Finding,
    (base_start, base_end): (u32, u32),
    lines: &crate::diff::LineSets,
    head: &str,
    masked: bool,
) {
    if lines.commentable.is_empty() {
        return;
    }
    // Where the change happened: the first deleted line inside the evidence,
    // else the evidence's first line.
    let left = lines
        .deleted
        .range(base_start..=base_end.max(base_start))
        .next()
        .copied()
        .unwrap_or(base_start);
    // Its RIGHT-side position: walk the hunk that holds it, line by line.
    let right = lines
        .hunks
        .iter()
        .find(|h| left >= h.old_start && left < h.old_start.saturating_add(h.old_len.max(1)))
        .map(|h| right_of(h, left, lines))
        .unwrap_or(finding.start.line);
    let best = lines
        .commentable
        .iter()
        .copied()
        .min_by_key(|&line| (line.abs_diff(right), line));
    if let Some(line) = best {
        let text = head
            .lines()
            .nth((line as usize).saturating_sub(1))
            .unwrap_or("");
        finding.start = Position { line, column: 1 };
        finding.end = Position {
            line,
            column: u32::try_from(text.chars().count() + 1).unwrap_or(u32::MAX),
        };
        // A credential's masked snippet stays: the line it moves to may hold
        // the credential itself.
        if !masked {
            finding.snippet = text.to_owned();
        }
    }
}
