//! The check summary's table of the vulnerable or disallowed dependencies
//! a pull request introduces: one row per finding of the `deps` analyzer
//! (an advisory, or a licence the policy refuses), most severe first, so a
//! reviewer sees package, version change and advisory or licence rule at a
//! glance. Every cell that a pull request or the database controls is a
//! code span (inert), with `|` swapped for `¦` so no cell can split the row.

use crate::engine::deps::headline;
use crate::engine::{AnalyzerKind, Finding};
use crate::render;
use std::fmt::Write;

/// Rows beyond this are counted, not listed (the summary has a size limit).
const MAX_ROWS: usize = 50;

fn cell(text: &str) -> String {
    render::code_span(&text.replace('|', "¦"))
}

/// The table, or `None` when no new finding is a dependency's.
pub fn table(new: &[&Finding]) -> Option<String> {
    let mut rows: Vec<&Finding> = new
        .iter()
        .copied()
        .filter(|f| f.analyzer == AnalyzerKind::Deps)
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.path.cmp(&b.path)));
    let mut out = String::from(
        "\n### Vulnerable or disallowed dependencies introduced\n\n| Severity | Package | Version | Advisory or licence rule | File |\n| --- | --- | --- | --- | --- |\n",
    );
    for finding in rows.iter().take(MAX_ROWS) {
        let (name, version) = headline(&finding.message).unwrap_or(("?", "?"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            finding.severity,
            cell(name),
            cell(version),
            cell(&finding.rule_id),
            cell(&format!("{}:{}", finding.path, finding.start.line)),
        );
    }
    if rows.len() > MAX_ROWS {
        let _ = writeln!(out, "\n{} more not listed.", rows.len() - MAX_ROWS);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ChangeKind, Confidence, Position, Severity};

    fn finding(message: &str, severity: Severity) -> Finding {
        Finding {
            rule_id: "GHSA-p6mc-m468-83gw".into(),
            analyzer: AnalyzerKind::Deps,
            severity,
            confidence: Confidence::High,
            cwe: None,
            path: "web/package-lock.json".into(),
            start: Position {
                line: 14,
                column: 1,
            },
            end: Position {
                line: 15,
                column: 1,
            },
            message: message.into(),
            remediation: None,
            fix: None,
            fingerprint: String::new(),
            change: ChangeKind::New,
            suppression: None,
            snippet: String::new(),
            flow: Vec::new(),
        }
    }

    #[test]
    fn rows_are_inert_and_most_severe_first() {
        let low = finding(
            "`a|b` 1.0.0 (added) (direct) is affected by X",
            Severity::Low,
        );
        let high = finding(
            "`lodash` 4.17.19 → 4.17.15 (direct) is affected by Y",
            Severity::High,
        );
        let table = table(&[&low, &high]).expect("table");
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with("| high") || l.starts_with("| low"))
            .collect();
        assert_eq!(rows.len(), 2, "{table}");
        assert!(
            rows[0].contains("`lodash`") && rows[0].contains("`4.17.19 → 4.17.15`"),
            "{table}"
        );
        assert!(
            rows[1].contains("`a¦b`"),
            "a pipe cannot split the row: {table}"
        );
        let mut licence = finding(
            "`gpl-widget` 2.0.0 (added) is licensed `GPL-3.0-only`, which `licenses.deny` forbids.",
            Severity::High,
        );
        licence.rule_id = "license-denied".into();
        let table = super::table(&[&licence]).expect("table");
        assert!(
            table.contains("| high | `gpl-widget` | `2.0.0 (added)` | `license-denied` |"),
            "{table}"
        );
        let mut other = finding("x", Severity::High);
        other.analyzer = AnalyzerKind::Sast;
        assert!(
            super::table(&[&other]).is_none(),
            "no table without dependency findings"
        );
    }
}
