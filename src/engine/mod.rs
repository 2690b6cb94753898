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

mod anchor;
pub mod deadline;
pub mod deps;
mod finding;
pub mod fingerprint;
pub mod iac;
pub mod lazy_regex;
pub mod literals;
mod model;
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
pub use model::{
    Analyzer, ChangeSet, ChangedFile, ComparedFinding, Content, FileOutcome, MAX_FILE_BYTES,
    Prepared, RawFinding, ScanReport, Skipped, max_bytes_for,
};
pub use sealed::Sealed;

use crate::diff::FileStatus;
use anchor::anchor_near_deletion;
use std::collections::HashMap;
use std::time::Duration;

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
