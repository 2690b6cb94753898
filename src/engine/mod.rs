//! The engine turns a change set into findings. It knows nothing of GitHub,
//! HTTP or git: the command line and the bot build a [`ChangeSet`] their own
//! way and call [`Engine::scan`], so both say exactly the same thing.
//!
//! Analyzers see whole files (a parser needs context) and report everything
//! they match; the engine alone decides what the change is responsible for
//! (findings intersecting added lines), applies suppressions and computes
//! fingerprints, so every analyzer gets those rules for free and identically.

mod finding;
pub mod fingerprint;
pub mod literals;
pub mod sast;
pub mod secrets;
pub mod suppress;

pub use finding::{
    AnalyzerKind, ChangeKind, Confidence, Finding, Fix, Position, Severity, Suppression,
    SuppressionSource,
};

use crate::diff::{FileDiff, FileStatus};
use serde::Serialize;

/// Files above this size are not analysed (1 MB).
pub const MAX_FILE_BYTES: usize = 1_000_000;

/// The content of one side of a changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The file as text.
    Text(String),
    /// The file holds NUL bytes or is otherwise not text.
    Binary,
    /// The file is larger than [`MAX_FILE_BYTES`]; its size in bytes.
    TooLarge(usize),
    /// The file does not exist on this side.
    Absent,
}

impl Content {
    /// Classifies raw bytes: binary when they hold a NUL byte, too large over
    /// [`MAX_FILE_BYTES`], text otherwise (invalid UTF-8 is replaced, line
    /// numbers stay right).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        if bytes.len() > MAX_FILE_BYTES {
            return Content::TooLarge(bytes.len());
        }
        if bytes.contains(&0) {
            return Content::Binary;
        }
        match String::from_utf8(bytes) {
            Ok(text) => Content::Text(text),
            Err(error) => Content::Text(String::from_utf8_lossy(error.as_bytes()).into_owned()),
        }
    }

    /// The text, when there is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Content::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// One changed file: its diff and both versions.
#[derive(Debug, Clone)]
pub struct ChangedFile {
    /// Paths, status and changed lines.
    pub diff: FileDiff,
    /// The file before the change.
    pub base: Content,
    /// The file after the change.
    pub head: Content,
}

/// Everything a change touched.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    /// The changed files, in diff order.
    pub files: Vec<ChangedFile>,
}

/// Why a file (or part of it) was not analysed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Repository-relative path.
    pub path: String,
    /// Which analyzer skipped it, when only one did.
    pub analyzer: Option<AnalyzerKind>,
    /// Human-readable reason, e.g. "binary file".
    pub reason: String,
    /// Whether some findings may still have been produced (a partial parse).
    pub partial: bool,
}

/// What an analyzer found in one file before the engine filters it.
#[derive(Debug, Clone)]
pub struct RawFinding {
    /// The finding, without fingerprint, suppression or change kind yet.
    pub finding: Finding,
    /// Only this line must touch an added line (for matches spanning a whole block).
    pub anchor_first_line: bool,
    /// What identifies the match independently of its position (normalised
    /// matched text; for secrets a keyed hash of the value).
    pub identity: String,
}

/// What an analyzer reports for one file.
#[derive(Debug, Default)]
pub struct FileOutcome {
    /// Everything matched, anywhere in the file.
    pub findings: Vec<RawFinding>,
    /// Reasons parts of the file were not analysed.
    pub skipped: Vec<Skipped>,
}

/// A family of checks over a changed file.
pub trait Analyzer: Send + Sync {
    /// Which analyzer this is.
    fn kind(&self) -> AnalyzerKind;
    /// Whether this analyzer reads this path at all (e.g. by language).
    fn handles(&self, path: &str) -> bool;
    /// Analyses the head text of `file` (its base is there for analyzers
    /// that compare); `head` is guaranteed to be text.
    fn analyze(&self, file: &ChangedFile, head: &str, out: &mut FileOutcome);
    /// Whether this analyzer compares the file's base version with its head
    /// (so callers that fetch files, like the bot, fetch the base too).
    fn needs_base(&self, _path: &str) -> bool {
        false
    }
}

/// The result of scanning a change set.
#[derive(Debug, Default, Serialize)]
pub struct ScanReport {
    /// Every finding on a changed line, suppressed ones included, sorted by path and line.
    pub findings: Vec<Finding>,
    /// Files (or parts) that were not analysed, and why.
    pub skipped: Vec<Skipped>,
    /// How many files at least one analyzer read.
    pub files_analyzed: usize,
}

impl ScanReport {
    /// Findings not silenced by a marker.
    pub fn active(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_active())
    }

    /// True when an active finding is at or above `threshold`.
    pub fn fails_at(&self, threshold: Severity) -> bool {
        self.active().any(|f| f.severity >= threshold)
    }
}

/// Runs analyzers over change sets.
pub struct Engine {
    analyzers: Vec<Box<dyn Analyzer>>,
}

impl Engine {
    /// An engine with the given analyzers.
    pub fn new(analyzers: Vec<Box<dyn Analyzer>>) -> Self {
        Self { analyzers }
    }

    /// Scans every file of the change set; a file that cannot be read is
    /// listed in `skipped` and the others are still scanned.
    pub fn scan(&self, changes: &ChangeSet) -> ScanReport {
        self.scan_with(changes, &|_| true)
    }

    /// Like [`Engine::scan`], with only the analyzers `enabled` accepts (a
    /// repository's config can switch analyzers off).
    pub fn scan_with(
        &self,
        changes: &ChangeSet,
        enabled: &dyn Fn(AnalyzerKind) -> bool,
    ) -> ScanReport {
        let mut report = ScanReport::default();
        for file in &changes.files {
            self.scan_file(file, enabled, &mut report);
        }
        report
            .findings
            .sort_by(|a, b| (&a.path, a.start, &a.rule_id).cmp(&(&b.path, b.start, &b.rule_id)));
        report
    }

    /// Whether any analyzer reads this path (the bot fetches only those).
    pub fn reads(&self, path: &str) -> bool {
        self.analyzers.iter().any(|a| a.handles(path))
    }

    /// Whether any analyzer compares this path's base with its head.
    pub fn needs_base(&self, path: &str) -> bool {
        self.analyzers
            .iter()
            .any(|a| a.handles(path) && a.needs_base(path))
    }

    fn scan_file(
        &self,
        file: &ChangedFile,
        enabled: &dyn Fn(AnalyzerKind) -> bool,
        report: &mut ScanReport,
    ) {
        let path = &file.diff.path;
        if file.diff.status == FileStatus::Removed {
            // Nothing was added: nothing this change can be blamed for.
            return;
        }
        let head = match (&file.head, file.diff.binary) {
            (Content::Text(text), false) => text,
            (Content::TooLarge(bytes), _) => {
                let reason = format!("file is {bytes} bytes, over the {MAX_FILE_BYTES}-byte limit");
                return report.skipped.push(skip(path, reason));
            }
            (Content::Binary, _) | (_, true) => {
                return report.skipped.push(skip(path, "binary file".into()));
            }
            (Content::Absent, _) => {
                return report
                    .skipped
                    .push(skip(path, "head content is missing".into()));
            }
        };
        if file.diff.lines.added.is_empty() {
            // Renames, mode changes and pure deletions add no line to blame.
            return;
        }
        let interested: Vec<&dyn Analyzer> = self
            .analyzers
            .iter()
            .map(|a| a.as_ref())
            .filter(|a| enabled(a.kind()) && a.handles(path))
            .collect();
        if interested.is_empty() {
            return report
                .skipped
                .push(skip(path, "no analyzer reads this kind of file".into()));
        }
        report.files_analyzed += 1;
        let mut outcome = FileOutcome::default();
        for analyzer in interested {
            analyzer.analyze(file, head, &mut outcome);
        }
        report.skipped.append(&mut outcome.skipped);
        let kept = outcome
            .findings
            .into_iter()
            .filter(|raw| {
                let end = if raw.anchor_first_line {
                    raw.finding.start.line
                } else {
                    raw.finding.end.line
                };
                file.diff
                    .lines
                    .intersects_added(raw.finding.start.line, end)
            })
            .collect();
        let mut findings = fingerprint::assign(path, kept);
        let markers = suppress::Markers::scan(head);
        for finding in &mut findings {
            finding.suppression = markers.suppression_for(finding);
        }
        report.findings.extend(findings);
    }
}

fn skip(path: &str, reason: String) -> Skipped {
    Skipped {
        path: path.to_owned(),
        analyzer: None,
        reason,
        partial: false,
    }
}
