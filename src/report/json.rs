//! JSON output. The shape is versioned (`"version": 1`) and documented in
//! the README; fields are only ever added within a version.
//!
//! Every finding carries `change` (`new`, `regression` or `fixed`). Fixed
//! findings (IaC: in the base, gone in the head) are listed with their BASE
//! lines and never count in `summary.findings` or `suppressed`; the summary
//! counts them in `fixed`, and regressions in `regressions`.

use super::severity_counts;
use crate::engine::{ChangeKind, ScanReport};
use serde_json::{Value, json};

/// The JSON document for a report.
pub fn render(report: &ScanReport) -> Value {
    let active: Vec<_> = report.active().collect();
    let regressions = active
        .iter()
        .filter(|f| f.change == ChangeKind::Regression)
        .count();
    json!({
        "version": 1,
        "tool": { "name": "hunkscan", "version": env!("CARGO_PKG_VERSION") },
        "summary": {
            "files_analyzed": report.files_analyzed,
            "findings": active.len(),
            "suppressed": report.suppressed().count(),
            "skipped": report.skipped.len(),
            "regressions": regressions,
            "fixed": report.fixed().count(),
            "by_severity": severity_counts(active.iter().map(|f| &f.severity)),
        },
        "findings": report.findings,
        "skipped": report.skipped,
    })
}

/// `document` with the secret candidates turned down on added lines, and
/// why (`--explain-dropped`): `"dropped": [{path, line, column, rule_id,
/// value (masked), code, explanation, …}]`.
pub fn with_dropped(mut document: Value, dropped: &[crate::engine::secrets::Dropped]) -> Value {
    document["dropped"] = serde_json::to_value(dropped).unwrap_or_else(|_| json!([]));
    document
}
