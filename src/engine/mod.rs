//! The engine turns a change set into findings. It knows nothing of GitHub,
//! HTTP or git: the command line and the bot build a [`ChangeSet`] their own
//! way and call [`Engine::scan`], so both say exactly the same thing.
//!
//! Analyzers see whole files (a parser needs context) and report everything
//! they match; the engine alone decides what the change is responsible for
//! (findings intersecting added lines), applies suppressions and computes
//! fingerprints, so every analyzer gets those rules for free and identically.
//!
//! Analyzers that compare a file's base with its head (IaC) know more than
//! the added lines can tell: a setting made worse by a deleted line, or a
//! problem the change removed. They report those as [`ComparedFinding`]s
//! that declare their [`ChangeKind`], and the engine trusts the declaration:
//! `new` findings still have to touch an added line, a `regression` is kept
//! and anchored on the changed line nearest to its evidence (deleted lines
//! have no RIGHT-side position), and a `fixed` finding is kept with its base
//! lines, to be credited rather than commented. Those analyzers also see
//! removed files and changes that only delete lines.

pub mod deadline;
pub mod deps;
mod finding;
pub mod fingerprint;
pub mod iac;
pub mod literals;
pub mod redact;
pub mod sast;
mod sealed;
pub mod secrets;
mod snippet;
pub mod suppress;

pub use deadline::{DEFAULT_FILE_DEADLINE, Deadline};
pub use finding::{
    AnalyzerKind, ChangeKind, Confidence, Finding, Fix, FlowStep, Position, Severity, Suppression,
    SuppressionSource,
};
pub use sealed::Sealed;

use crate::diff::{FileDiff, FileStatus};
use serde::Serialize;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Files above this size are not analysed (1 MB), lockfiles excepted
/// (see [`max_bytes_for`]).
pub const MAX_FILE_BYTES: usize = 1_000_000;

/// The most bytes of `path` worth reading: a lockfile dependency review
/// reads may be up to [`deps::MAX_LOCKFILE_BYTES`] (large projects' are
/// tens of MB); every other file [`MAX_FILE_BYTES`]. Only dependency review
/// sees a file over [`MAX_FILE_BYTES`].
pub fn max_bytes_for(path: &str) -> usize {
    if deps::detect(path).is_some() {
        deps::MAX_LOCKFILE_BYTES
    } else {
        MAX_FILE_BYTES
    }
}

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
    /// The file was deliberately not read (a symbolic link, a submodule, a
    /// special file) or could not be; the reason. Not analysed, and listed
    /// as skipped so that no path of a change goes unmentioned.
    Unreadable(String),
    /// A binary credential store a reader decrypts (DBeaver's
    /// `credentials-config.json`): its bytes, at most
    /// [`secrets::files::MAX_SEALED_BYTES`]. Only analyzers that
    /// [`Analyzer::analyze_sealed`] see it; to the others it is binary.
    Sealed(Sealed),
}

impl Content {
    /// Classifies raw bytes: binary when they hold a NUL byte, too large over
    /// [`MAX_FILE_BYTES`], text otherwise (invalid UTF-8 is replaced, line
    /// numbers stay right).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self::from_bytes_within(bytes, MAX_FILE_BYTES)
    }

    /// [`Content::from_bytes`] with the limit of `path` ([`max_bytes_for`]).
    pub fn from_bytes_for(path: &str, bytes: Vec<u8>) -> Self {
        Self::from_bytes_at(path, bytes, max_bytes_for(path))
    }

    /// [`Content::from_bytes_within`] for the file at `path`: a binary
    /// credential store a reader decrypts is kept as [`Content::Sealed`].
    pub fn from_bytes_at(path: &str, bytes: Vec<u8>, limit: usize) -> Self {
        let binary = || bytes.contains(&0) || std::str::from_utf8(&bytes).is_err();
        if secrets::files::is_sealed_store(path)
            && bytes.len() <= secrets::files::MAX_SEALED_BYTES.min(limit)
            && binary()
        {
            return Content::Sealed(Sealed(bytes));
        }
        Self::from_bytes_within(bytes, limit)
    }

    /// [`Content::from_bytes`] with a limit of `limit` bytes.
    pub fn from_bytes_within(bytes: Vec<u8>, limit: usize) -> Self {
        if bytes.len() > limit {
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
    /// The snippet hides a credential: when the engine moves the finding
    /// onto another line, it keeps this snippet rather than show that line.
    pub masked: bool,
    /// What identifies the match independently of its position (normalised
    /// matched text; for secrets a keyed hash of the value).
    pub identity: String,
    /// Credential values this finding knows of (the token the secrets
    /// analyzer found, the literal a hard-coded-key rule matched). They stay
    /// in the process: the engine masks them in every finding of the file.
    pub secrets: Vec<String>,
}

/// A finding whose change kind the analyzer established by comparing the
/// file's base and head versions.
#[derive(Debug, Clone)]
pub struct ComparedFinding {
    /// The finding. For `fixed` its position is in the BASE version; for
    /// `new` and `regression` in the head version (or, when the file was
    /// removed, in the base version: there is no head).
    pub raw: RawFinding,
    /// New, regression or fixed, as the comparison found.
    pub change: ChangeKind,
    /// For a regression: the BASE lines that held what the change made
    /// worse (a deleted protective block, the old value). When no added line
    /// of the finding's own range shows the problem, the engine anchors it
    /// on the changed line nearest to where these lines were.
    pub base_lines: Option<(u32, u32)>,
}

/// What an analyzer reports for one file.
#[derive(Debug, Default)]
pub struct FileOutcome {
    /// Everything matched, anywhere in the file.
    pub findings: Vec<RawFinding>,
    /// Findings of analyzers that compare base and head, with their kind.
    pub compared: Vec<ComparedFinding>,
    /// Reasons parts of the file were not analysed.
    pub skipped: Vec<Skipped>,
    /// Candidates a detector matched on an added line and turned down
    /// (placeholders, documentation samples), with the reason.
    pub dropped: Vec<secrets::Dropped>,
    /// The file's IaC subjects on both sides, for the change-set step
    /// ([`Analyzer::across_files`]): a resource moved to another file of
    /// the change is neither deleted nor new.
    pub iac_subjects: Option<iac::moved::FileSubjects>,
    /// What this analyzer's [`Analyzer::prepare`] learnt from the whole
    /// change set (set by the engine for the analyzer's own call only).
    pub prepared: Prepared,
    /// The file's time budget, shared by all its analyzers: each loop that
    /// grows with the input asks [`Deadline::expired`] and stops when it
    /// passes, recording [`Deadline::skipped`] (see [`deadline`]).
    pub deadline: Deadline,
}

/// What an analyzer's [`Analyzer::prepare`] computed over the whole change
/// set, handed to its analysis of each file (opaque to the engine: only the
/// analyzer knows its type).
#[derive(Clone, Default)]
pub struct Prepared(pub Option<Arc<dyn Any + Send + Sync>>);

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Prepared(..)"
        } else {
            "Prepared(None)"
        })
    }
}

impl Prepared {
    /// The prepared value, when it is a `T`.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.as_deref()?.downcast_ref::<T>()
    }
}

/// A family of checks over a changed file.
pub trait Analyzer: Send + Sync {
    /// Which analyzer this is.
    fn kind(&self) -> AnalyzerKind;
    /// Whether this analyzer reads this path at all (e.g. by language).
    fn handles(&self, path: &str) -> bool;
    /// Analyses the head text of `file` (its base is there for analyzers
    /// that compare); `head` is guaranteed to be text. For a removed file,
    /// which only analyzers that [`Analyzer::needs_base`] see, `head` is empty.
    /// Work that grows with the file stops when `out.deadline` passes.
    fn analyze(&self, file: &ChangedFile, head: &str, out: &mut FileOutcome);
    /// Before any file is analysed: what the analysis of one file needs to
    /// know of the others (the functions another changed file defines),
    /// handed to each [`Analyzer::analyze`] as [`FileOutcome::prepared`].
    /// Must stay cheap and bounded: it runs once, before the files.
    fn prepare(&self, _changes: &ChangeSet) -> Prepared {
        Prepared::default()
    }
    /// Whether this analyzer compares the file's base version with its head
    /// (so callers that fetch files, like the bot, fetch the base too).
    fn needs_base(&self, _path: &str) -> bool {
        false
    }
    /// The analyzer's detector of credential values, when it has one: the
    /// engine masks what it finds in every finding's text, whether or not
    /// the analyzer's own findings are wanted.
    fn secret_finder(&self) -> Option<&dyn redact::SecretFinder> {
        None
    }
    /// Analyses a [`Content::Sealed`] head; returns whether this analyzer
    /// reads such files (when none does, the file is skipped as binary).
    fn analyze_sealed(&self, _file: &ChangedFile, _bytes: &[u8], _out: &mut FileOutcome) -> bool {
        false
    }
    /// Once every file of the change is analysed, and before the engine
    /// keeps what the change did: reconciles what one file's analysis
    /// cannot see alone (a resource moved from one file to another).
    fn across_files(&self, _files: &mut [(&ChangedFile, &mut FileOutcome)]) {}
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
    /// Findings the change is responsible for (new or regressions) and no
    /// marker silenced: what counts and fails a scan.
    pub fn active(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.is_active() && f.change != ChangeKind::Fixed)
    }

    /// Problems the base had and the change removed (credited, never failing).
    pub fn fixed(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.change == ChangeKind::Fixed)
    }

    /// Suppressed findings the change is responsible for.
    pub fn suppressed(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| !f.is_active() && f.change != ChangeKind::Fixed)
    }

    /// True when an active finding is at or above `threshold`.
    pub fn fails_at(&self, threshold: Severity) -> bool {
        self.active().any(|f| f.severity >= threshold)
    }
}

/// Runs analyzers over change sets.
pub struct Engine {
    analyzers: Vec<Box<dyn Analyzer>>,
    /// Files scanned at once (1: in the calling thread).
    threads: usize,
    /// Time one file may take, all its analyzers together.
    file_deadline: Duration,
    /// The key of the fingerprints' MAC (see [`fingerprint`]).
    fingerprint_key: Vec<u8>,
}

impl Engine {
    /// An engine with the given analyzers, scanning one file at a time.
    pub fn new(analyzers: Vec<Box<dyn Analyzer>>) -> Self {
        Self {
            analyzers,
            threads: 1,
            file_deadline: DEFAULT_FILE_DEADLINE,
            fingerprint_key: secrets::DEFAULT_FINGERPRINT_KEY.to_vec(),
        }
    }

    /// Gives each file at most `budget` of analysis, shared by all the
    /// analyzers that read it (default [`DEFAULT_FILE_DEADLINE`]). An
    /// analyzer still running when it passes stops and the file is listed
    /// as skipped by it; the other files are analysed as usual.
    pub fn with_file_deadline(mut self, budget: Duration) -> Self {
        self.file_deadline = budget;
        self
    }

    /// Fingerprints keyed with `key`: a deployment's own key makes the
    /// fingerprints in its comments impossible to compute, so nobody can
    /// forge a marker for a finding that does not exist yet.
    pub fn with_fingerprint_key(mut self, key: Vec<u8>) -> Self {
        self.fingerprint_key = key;
        self
    }

    /// Scans up to `threads` files at once (at least 1). Files are
    /// independent, so a change of many files scales with the cores; the
    /// report is the same whatever the number, in the same order.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
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
        enabled: &(dyn Fn(AnalyzerKind) -> bool + Sync),
    ) -> ScanReport {
        self.scan_explained(changes, enabled).0
    }

    /// Like [`Engine::scan_with`], with the candidates the detectors turned
    /// down on added lines (placeholders, documentation samples) and why,
    /// their values masked: what `--explain-dropped` lists.
    pub fn scan_explained(
        &self,
        changes: &ChangeSet,
        enabled: &(dyn Fn(AnalyzerKind) -> bool + Sync),
    ) -> (ScanReport, Vec<secrets::Dropped>) {
        use rayon::prelude::*;
        type Part = (ScanReport, Vec<secrets::Dropped>);
        let prepared: HashMap<AnalyzerKind, Prepared> = self
            .analyzers
            .iter()
            .filter(|a| enabled(a.kind()))
            .map(|a| (a.kind(), a.prepare(changes)))
            .filter(|(_, p)| p.0.is_some())
            .collect();
        let analyse = |file: &ChangedFile| {
            let mut part: Part = (ScanReport::default(), Vec::new());
            let outcome = self.scan_file(file, enabled, &prepared, &mut part.0);
            (part, outcome)
        };
        let pool = self.thread_pool(changes.files.len());
        let mut analysed: Vec<(Part, Option<FileOutcome>)> = match &pool {
            Some(pool) => pool.install(|| changes.files.par_iter().map(analyse).collect()),
            None => changes.files.iter().map(analyse).collect(),
        };
        // The change-set step, between every file's analysis and keeping
        // what the change did.
        let mut outcomes: Vec<(&ChangedFile, &mut FileOutcome)> = changes
            .files
            .iter()
            .zip(analysed.iter_mut())
            .filter_map(|(file, (_, outcome))| outcome.as_mut().map(|o| (file, o)))
            .collect();
        for analyzer in self.analyzers.iter().filter(|a| enabled(a.kind())) {
            analyzer.across_files(&mut outcomes);
        }
        drop(outcomes);
        let keep = |(file, (mut part, outcome)): (&ChangedFile, (Part, Option<FileOutcome>))| {
            if let Some(outcome) = outcome {
                let head = match &file.head {
                    Content::Text(text) if file.diff.status != FileStatus::Removed => text.as_str(),
                    _ => "",
                };
                self.collect(file, head, outcome, &mut part.0, &mut part.1);
            }
            part
        };
        let parts: Vec<Part> = match &pool {
            Some(pool) => pool.install(|| {
                changes
                    .files
                    .par_iter()
                    .zip(analysed.into_par_iter())
                    .map(keep)
                    .collect()
            }),
            None => changes.files.iter().zip(analysed).map(keep).collect(),
        };
        let mut report = ScanReport::default();
        let mut dropped = Vec::new();
        for (mut part, mut part_dropped) in parts {
            report.findings.append(&mut part.findings);
            report.skipped.append(&mut part.skipped);
            report.files_analyzed += part.files_analyzed;
            dropped.append(&mut part_dropped);
        }
        report
            .findings
            .sort_by(|a, b| (&a.path, a.start, &a.rule_id).cmp(&(&b.path, b.start, &b.rule_id)));
        (report, dropped)
    }

    /// A pool of worker threads when more than one file can be scanned at
    /// once; `None` means the calling thread does it all.
    fn thread_pool(&self, files: usize) -> Option<rayon::ThreadPool> {
        let threads = self.threads.min(files);
        if threads <= 1 {
            return None;
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("hunkscan-scan-{index}"))
            .build()
            .inspect_err(|error| {
                tracing::warn!(%error, "cannot start scan threads; scanning on one thread");
            })
            .ok()
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

    /// Analyses one file; the outcome is what the engine keeps of it once
    /// the change-set step has run (`None`: nothing to keep).
    fn scan_file(
        &self,
        file: &ChangedFile,
        enabled: &(dyn Fn(AnalyzerKind) -> bool + Sync),
        prepared: &HashMap<AnalyzerKind, Prepared>,
        report: &mut ScanReport,
    ) -> Option<FileOutcome> {
        let prepared_for = |a: &dyn Analyzer| prepared.get(&a.kind()).cloned().unwrap_or_default();
        let path = &file.diff.path;
        // A lockfile past the general limit was read for dependency review
        // alone ([`max_bytes_for`]).
        let oversized =
            file.head.text().map_or(0, str::len) > MAX_FILE_BYTES && deps::detect(path).is_some();
        let interested: Vec<&dyn Analyzer> = self
            .analyzers
            .iter()
            .map(|a| a.as_ref())
            .filter(|a| enabled(a.kind()) && a.handles(path))
            .filter(|a| !oversized || a.kind() == AnalyzerKind::Deps)
            .collect();
        // Analyzers that compare versions can blame a change that only
        // deletes lines (a protective block removed), even a removed file.
        let comparing: Vec<&dyn Analyzer> = interested
            .iter()
            .copied()
            .filter(|a| a.needs_base(path))
            .collect();
        let deletes_only = file.diff.lines.added.is_empty();
        if file.diff.status == FileStatus::Removed {
            if comparing.is_empty() || file.diff.binary {
                // Nothing was added: nothing this change can be blamed for.
                return None;
            }
            report.files_analyzed += 1;
            let mut outcome = self.outcome();
            for analyzer in comparing {
                analyze_guarded(analyzer, file, "", &mut outcome, prepared_for(analyzer));
            }
            return Some(outcome);
        }
        if let Content::Sealed(Sealed(bytes)) = &file.head {
            return self.scan_sealed(file, bytes, &interested, report);
        }
        let head = match (&file.head, file.diff.binary) {
            (Content::Text(text), false) => text,
            (Content::Unreadable(reason), _) => {
                report.skipped.push(skip(path, reason.clone()));
                return None;
            }
            (Content::TooLarge(bytes), _) => {
                let reason = format!("file is {bytes} bytes, over the {MAX_FILE_BYTES}-byte limit");
                report.skipped.push(skip(path, reason));
                return None;
            }
            (Content::Binary | Content::Sealed(_), _) | (_, true) => {
                report.skipped.push(skip(path, "binary file".into()));
                return None;
            }
            (Content::Absent, _) => {
                report
                    .skipped
                    .push(skip(path, "head content is missing".into()));
                return None;
            }
        };
        if deletes_only && (file.diff.lines.deleted.is_empty() || comparing.is_empty()) {
            // Renames, mode changes and pure deletions add no line to blame.
            return None;
        }
        if interested.is_empty() {
            let reason = if oversized {
                format!(
                    "file is {} bytes, over the {MAX_FILE_BYTES}-byte limit",
                    head.len()
                )
            } else {
                "no analyzer reads this kind of file".into()
            };
            report.skipped.push(skip(path, reason));
            return None;
        }
        report.files_analyzed += 1;
        let mut outcome = self.outcome();
        let run = if deletes_only { comparing } else { interested };
        let deps_ran = run.iter().any(|a| a.kind() == AnalyzerKind::Deps);
        for analyzer in run {
            analyze_guarded(analyzer, file, head, &mut outcome, prepared_for(analyzer));
        }
        if deps_ran {
            // Dependency review is what a lockfile gets: the secrets
            // analyzer's "lock file: not scanned" line beside it is noise.
            outcome.skipped.retain(|s| {
                !(s.analyzer == Some(AnalyzerKind::Secrets) && s.reason.starts_with("lock file:"))
            });
        }
        Some(outcome)
    }

    /// An empty outcome for one file, its deadline starting now.
    fn outcome(&self) -> FileOutcome {
        FileOutcome {
            deadline: Deadline::after(self.file_deadline),
            ..FileOutcome::default()
        }
    }

    /// Keeps what the change is responsible for, fingerprints it and applies
    /// suppression markers.
    fn collect(
        &self,
        file: &ChangedFile,
        head: &str,
        outcome: FileOutcome,
        report: &mut ScanReport,
        dropped: &mut Vec<secrets::Dropped>,
    ) {
        let path = &file.diff.path;
        let FileOutcome {
            findings: raw,
            compared,
            skipped: mut skipped_parts,
            dropped: mut dropped_parts,
            ..
        } = outcome;
        report.skipped.append(&mut skipped_parts);
        dropped.append(&mut dropped_parts);
        let lines = &file.diff.lines;
        // A decrypted store has no lines of its own: its findings sit on
        // line 1, which changed when its bytes did.
        let sealed_changed = matches!(file.head, Content::Sealed(_)) && file.base != file.head;
        let touches_added = |raw: &RawFinding| {
            if sealed_changed && raw.finding.start.line == 1 {
                return true;
            }
            let end = if raw.anchor_first_line {
                raw.finding.start.line
            } else {
                raw.finding.end.line
            };
            lines.intersects_added(raw.finding.start.line, end)
        };
        // Every value any analyzer declared secret, from every finding of
        // the file, kept or not: another finding's text may show it.
        let declared: Vec<String> = raw
            .iter()
            .chain(compared.iter().map(|c| &c.raw))
            .flat_map(|r| r.secrets.iter().cloned())
            .collect();
        let finder = self.analyzers.iter().find_map(|a| a.secret_finder());
        let redactor = redact::Redactor::new(&declared, finder);
        let mut kept: Vec<RawFinding> = raw.into_iter().filter(|r| touches_added(r)).collect();
        let mut fixed = Vec::new();
        for mut item in compared {
            item.raw.finding.change = item.change;
            match item.change {
                ChangeKind::New => {
                    if touches_added(&item.raw) {
                        kept.push(item.raw);
                    }
                }
                ChangeKind::Regression => {
                    if !touches_added(&item.raw)
                        && let Some(base_lines) = item.base_lines
                    {
                        let masked = item.raw.masked;
                        anchor_near_deletion(
                            &mut item.raw.finding,
                            base_lines,
                            lines,
                            head,
                            masked,
                        );
                    }
                    kept.push(item.raw);
                }
                ChangeKind::Fixed => fixed.push(item.raw),
            }
        }
        let key = &self.fingerprint_key;
        let mut findings = fingerprint::assign(key, path, kept);
        let markers = suppress::Markers::scan(head);
        let head_lines: Vec<&str> = head.lines().collect();
        for finding in &mut findings {
            // The IaC analyzer reads `hunkscan:ignore` itself, in comments
            // only: matched as text, a marker inside a string value (which
            // whoever writes the data controls) would silence a check.
            if finding.suppression.is_none() && finding.analyzer != AnalyzerKind::Iac {
                finding.suppression = markers.suppression_for(finding);
            }
            redactor.apply(finding, &head_lines);
        }
        report.findings.extend(findings);
        // Fixed findings are credits: they keep their base lines and no marker applies.
        let mut fixed = fingerprint::assign(key, path, fixed);
        let base_lines: Vec<&str> = file.base.text().unwrap_or_default().lines().collect();
        for finding in &mut fixed {
            finding.suppression = None;
            redactor.apply(finding, &base_lines);
        }
        report.findings.extend(fixed);
    }
}

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
fn anchor_near_deletion(
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

/// Runs one analyzer over one file; a panic becomes a "skipped" line for
/// that file and analyzer, and what the analyzer had produced for the file
/// is dropped as untrustworthy. The analyzers call into tree-sitter grammars,
/// ast-grep and parsers of untrusted text, all of which have had panics on
/// unusual input: one such file must not cost the rest of the pull request
/// its analysis (nor, in the bot, the check run its conclusion).
///
/// An analyzer whose turn comes after the file's deadline has passed does
/// not run; the file is listed as skipped by it.
fn analyze_guarded(
    analyzer: &dyn Analyzer,
    file: &ChangedFile,
    head: &str,
    out: &mut FileOutcome,
    prepared: Prepared,
) {
    if out.deadline.expired_now() {
        let skipped = out
            .deadline
            .skipped(&file.diff.path, analyzer.kind(), false);
        return out.skipped.push(skipped);
    }
    // The analyzer draws on the file's deadline; it is handed back below,
    // panic or not.
    let mut own = FileOutcome {
        deadline: std::mem::take(&mut out.deadline),
        prepared,
        ..FileOutcome::default()
    };
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        analyzer.analyze(file, head, &mut own);
    }));
    out.deadline = std::mem::take(&mut own.deadline);
    match run {
        Ok(()) => {
            out.findings.append(&mut own.findings);
            out.compared.append(&mut own.compared);
            out.skipped.append(&mut own.skipped);
            out.dropped.append(&mut own.dropped);
            if own.iac_subjects.is_some() {
                out.iac_subjects = own.iac_subjects.take();
            }
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            let kind = analyzer.kind();
            // The panic's text stays in the log (it may quote the file);
            // users get an id to find it by.
            let error_id = crate::report::failure::new_error_id();
            tracing::error!(
                path = %crate::render::Untrusted(&file.diff.path),
                analyzer = kind.as_str(),
                error_id,
                message = %crate::render::Untrusted(&message),
                "analyzer panicked"
            );
            out.skipped.push(Skipped {
                path: file.diff.path.clone(),
                analyzer: Some(kind),
                reason: format!(
                    "the {} analyzer failed on this file with an internal error (error id {error_id}); please report it. The rest of the change was analysed",
                    kind.as_str()
                ),
                partial: false,
            });
        }
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
