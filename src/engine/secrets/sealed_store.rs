//! Findings of a sealed credential store ([`files::is_sealed_store`]): the
//! file has no text lines, so a store holding saved passwords is one
//! finding on line 1, and a store that does not decrypt is a visible
//! skipped reason rather than silence.

use super::super::{AnalyzerKind, ChangedFile, Confidence, FileOutcome, Skipped};
use super::describe::Described;
use super::{SecretsAnalyzer, files};

impl SecretsAnalyzer {
    pub(super) fn sealed_findings(&self, file: &ChangedFile, bytes: &[u8], out: &mut FileOutcome) {
        let path = &file.diff.path;
        let (reader, passwords) = match files::open_sealed(bytes) {
            Ok(opened) => opened,
            Err(error) => {
                out.skipped.push(Skipped {
                    path: path.clone(),
                    analyzer: Some(AnalyzerKind::Secrets),
                    reason: format!(
                        "DBeaver credential store not read: {error}; its saved passwords were not checked"
                    ),
                    partial: false,
                });
                return;
            }
        };
        let Some(first) = passwords.first() else {
            return;
        };
        // The line a finding shows: what the store holds, the value masked
        // by `to_finding` like any other.
        let prefix = "(decrypted with DBeaver's default key) \"password\": ";
        let more = match passwords.len() - 1 {
            0 => String::new(),
            1 => " and 1 more saved password".to_owned(),
            n => format!(" and {n} more saved passwords"),
        };
        let shown = format!("{prefix}{first}{more}");
        let span = prefix.len()..prefix.len() + first.len();
        let mut raw = self.to_finding(
            path,
            &shown,
            &Described::reader(reader),
            (1, 1),
            span,
            first,
            true,
            Confidence::High,
            (1, 1),
        );
        // Every password is masked wherever the engine shows text, and the
        // finding is the same one while the store holds the same passwords.
        raw.secrets.extend(passwords[1..].iter().cloned());
        raw.identity = self.keyed_hash(&passwords.join("\n"));
        out.findings.push(raw);
    }
}
