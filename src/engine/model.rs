//! What the engine and its analyzers exchange: the change set going in
//! (files with both sides' content), what an analyzer returns for one file,
//! the [`Analyzer`] trait itself, and the report coming out.

use super::{
    AnalyzerKind, ChangeKind, Deadline, Finding, Sealed, Severity, deps, iac, redact, secrets,
};
use crate::diff::FileDiff;
use serde::Serialize;
use std::any::Any;
use std::sync::Arc;

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
