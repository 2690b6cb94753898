//! What a finding says about the detector that found it: its title, its
//! provider and where to rotate the credential.

use super::super::Severity;
use super::{SecretRule, files};

/// What a finding says about the detector that found it: a provider rule
/// or a credential-file reader.
pub(super) struct Described<'a> {
    pub(super) id: &'a str,
    pub(super) provider: &'a str,
    pub(super) title: String,
    pub(super) generic: bool,
    pub(super) severity: Severity,
    pub(super) rotation: Option<&'a str>,
}

impl<'a> Described<'a> {
    pub(super) fn rule(rule: &'a SecretRule) -> Self {
        Self {
            id: &rule.id,
            provider: &rule.provider,
            title: rule.display_title(),
            generic: rule.is_generic(),
            severity: rule.severity,
            rotation: rule.rotation.as_deref(),
        }
    }

    pub(super) fn reader(reader: &'static files::Reader) -> Self {
        Self {
            id: reader.id,
            provider: reader.provider,
            title: reader.title.to_owned(),
            generic: reader.provider.eq_ignore_ascii_case("generic"),
            severity: reader.severity,
            rotation: reader.rotation,
        }
    }

    /// "Revoke and rotate it …": with the provider's page when there is
    /// one, with the provider's name when it is someone, and with neither
    /// for a generic detector ("… with Generic now" named nobody).
    pub(super) fn rotate_advice(&self) -> String {
        match self.rotation {
            Some(url) => format!("Revoke and rotate it now: {url}"),
            None if self.generic => "Revoke and rotate it now.".to_owned(),
            None => format!("Revoke and rotate it with {} now.", self.provider),
        }
    }
}
