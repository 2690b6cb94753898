//! Files the engine keeps as bytes rather than skip as binary: credential
//! stores a reader decrypts ([`super::Content::Sealed`]). Only analyzers
//! that [`Analyzer::analyze_sealed`] read them, and a finding on one sits on
//! line 1, which the change touched when it changed the bytes.

use super::{Analyzer, ChangedFile, Engine, FileOutcome, ScanReport, skip};

/// The bytes of a [`super::Content::Sealed`] file. They decrypt to credentials,
/// so their `Debug` shows the length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl Engine {
    /// A [`super::Content::Sealed`] head: only analyzers that decrypt such a file
    /// read it, and only when the change touched its bytes.
    pub(super) fn scan_sealed(
        &self,
        file: &ChangedFile,
        bytes: &[u8],
        interested: &[&dyn Analyzer],
        report: &mut ScanReport,
    ) -> Option<FileOutcome> {
        if file.base == file.head {
            // A rename or mode change: no new bytes to blame.
            return None;
        }
        let mut outcome = self.outcome();
        let mut read = false;
        for analyzer in interested {
            read |= analyzer.analyze_sealed(file, bytes, &mut outcome);
        }
        if !read {
            report
                .skipped
                .push(skip(&file.diff.path, "binary file".into()));
            return None;
        }
        report.files_analyzed += 1;
        Some(outcome)
    }
}
