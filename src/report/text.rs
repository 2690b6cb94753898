//! Terminal output: one block per finding, the way compilers print errors
//! (`path:line:column`, so editors and terminals make it clickable).
//! Every piece of text the change controls goes through
//! [`crate::render::terminal`]: a file name or a line of code must not be
//! able to send escape sequences to the reader's terminal.

use super::severity_counts;
use crate::engine::{ChangeKind, Finding, ScanReport};
use crate::render::terminal;
use std::fmt::Write;

fn finding_block(out: &mut String, finding: &Finding) {
    let _ = writeln!(
        out,
        "{}:{}:{}: {} [{}] {}{}",
        terminal(&finding.path),
        finding.start.line,
        finding.start.column,
        finding.severity.as_str().to_uppercase(),
        finding.rule_id,
        // New is the norm; a regression says so (IaC: base against head).
        if finding.change == ChangeKind::Regression {
            "regression: "
        } else {
            ""
        },
        terminal(&finding.message)
    );
    let width = (finding.start.line as usize + finding.snippet.lines().count())
        .to_string()
        .len();
    for (offset, line) in finding.snippet.lines().enumerate() {
        let _ = writeln!(
            out,
            "  {:>width$} | {}",
            finding.start.line as usize + offset,
            terminal(line)
        );
    }
    if let Some(cwe) = &finding.cwe {
        let _ = writeln!(
            out,
            "  {:>width$} = {cwe}, confidence {}",
            "",
            finding.confidence.as_str()
        );
    }
    if let Some(fix) = &finding.fix {
        let _ = writeln!(
            out,
            "  {:>width$} = fix: {}",
            "",
            terminal(&fix.replacement)
        );
    }
    if let Some(suppression) = &finding.suppression {
        let reason = terminal(suppression.reason.as_deref().unwrap_or("no reason given"));
        let _ = writeln!(
            out,
            "  {:>width$} = suppressed on line {}: {reason}",
            "", suppression.line
        );
    }
}

/// Renders the report for a terminal.
pub fn render(report: &ScanReport) -> String {
    let mut out = String::new();
    let active: Vec<&Finding> = report.active().collect();
    let suppressed: Vec<&Finding> = report.suppressed().collect();
    let fixed: Vec<&Finding> = report.fixed().collect();
    for finding in &active {
        finding_block(&mut out, finding);
        out.push('\n');
    }
    if !suppressed.is_empty() {
        let _ = writeln!(out, "Suppressed ({}):", suppressed.len());
        for finding in &suppressed {
            finding_block(&mut out, finding);
        }
        out.push('\n');
    }
    if !fixed.is_empty() {
        let _ = writeln!(out, "Fixed by this change ({}):", fixed.len());
        for finding in &fixed {
            let _ = writeln!(
                out,
                "  {}:{} (base): {} [{}] {}",
                terminal(&finding.path),
                finding.start.line,
                finding.severity.as_str().to_uppercase(),
                finding.rule_id,
                terminal(&finding.message)
            );
        }
        out.push('\n');
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(out, "Skipped ({}):", report.skipped.len());
        for skipped in &report.skipped {
            let what = if skipped.partial {
                "partly scanned"
            } else {
                "skipped"
            };
            let _ = writeln!(
                out,
                "  {}: {what}, because {}",
                terminal(&skipped.path),
                terminal(&skipped.reason)
            );
        }
        out.push('\n');
    }
    let counts = severity_counts(active.iter().map(|f| &f.severity));
    let _ = writeln!(
        out,
        "{} finding{}{}, {} suppressed{}; {} file{} analysed, {} skipped",
        active.len(),
        if active.len() == 1 { "" } else { "s" },
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({counts})")
        },
        suppressed.len(),
        if fixed.is_empty() {
            String::new()
        } else {
            format!(", {} fixed", fixed.len())
        },
        report.files_analyzed,
        if report.files_analyzed == 1 { "" } else { "s" },
        report.skipped.len(),
    );
    out
}

/// The secret candidates turned down on added lines and why
/// (`--explain-dropped`), values masked, after the report.
pub fn render_dropped(dropped: &[crate::engine::secrets::Dropped]) -> String {
    let mut out = format!(
        "{} secret candidate{} not reported:\n",
        dropped.len(),
        if dropped.len() == 1 { "" } else { "s" }
    );
    for item in dropped {
        let _ = writeln!(
            out,
            "  {}:{}:{}: [{}] `{}`: {}",
            terminal(&item.path),
            item.line,
            item.column,
            item.rule_id,
            terminal(&item.value),
            item.explanation
        );
    }
    out
}
