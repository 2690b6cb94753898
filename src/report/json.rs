//! JSON output. The shape is versioned (`"version": 1`) and documented in
//! the README; fields are only ever added within a version.

use super::severity_counts;
use crate::engine::ScanReport;
use serde_json::{Value, json};

/// The JSON document for a report.
pub fn render(report: &ScanReport) -> Value {
    let active: Vec<_> = report.active().collect();
    json!({
        "version": 1,
        "tool": { "name": "hunkscan", "version": env!("CARGO_PKG_VERSION") },
        "summary": {
            "files_analyzed": report.files_analyzed,
            "findings": active.len(),
            "suppressed": report.findings.len() - active.len(),
            "skipped": report.skipped.len(),
            "by_severity": severity_counts(active.iter().map(|f| &f.severity)),
        },
        "findings": report.findings,
        "skipped": report.skipped,
    })
}
