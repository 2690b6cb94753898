//! The part of the OSV schema (<https://ossf.github.io/osv-schema/>) the
//! index keeps: ids and aliases, summary, severity (CVSS vectors or the
//! database's own rating), and per affected package its ranges and
//! explicit versions. Everything else (`details`, credits, …) is skipped
//! by serde without being held.

use crate::engine::Severity;
use crate::engine::deps::version::Event;
use serde::Deserialize;
use std::str::FromStr;

/// One OSV record as published.
#[derive(Debug, Deserialize)]
pub struct Record {
    /// `GHSA-…`, `RUSTSEC-…`, `PYSEC-…`, `GO-…`, `CVE-…`.
    pub id: String,
    /// RFC 3339 time of the last change.
    #[serde(default)]
    pub modified: String,
    /// Set when the advisory was withdrawn: it no longer applies.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// The same vulnerability under other ids.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// One line.
    #[serde(default)]
    pub summary: Option<String>,
    /// Scores of the whole record.
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    /// Affected packages.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Links.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Free-form; GHSA puts `severity` and `cwe_ids` here.
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// A score: `CVSS_V3`, `CVSS_V4`, … with its vector.
#[derive(Debug, Deserialize)]
pub struct SeverityScore {
    /// The scoring system.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector string.
    pub score: String,
}

/// One affected package.
#[derive(Debug, Deserialize)]
pub struct Affected {
    /// Ecosystem and name.
    pub package: Option<PackageRef>,
    /// Scores for this package only.
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Affected versions listed one by one.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Free-form; the GitHub database puts its severity here too.
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// `affected[].package`.
#[derive(Debug, Deserialize)]
pub struct PackageRef {
    /// OSV's ecosystem name.
    pub ecosystem: String,
    /// The package name in that ecosystem.
    pub name: String,
}

/// One range: `SEMVER`, `ECOSYSTEM` or `GIT` with its events.
#[derive(Debug, Deserialize)]
pub struct Range {
    /// The range type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Events in any order.
    #[serde(default)]
    pub events: Vec<RangeEvent>,
}

/// One event; exactly one field is set. `limit` (which only bounds GIT
/// ranges) is not read.
#[derive(Debug, Deserialize)]
pub struct RangeEvent {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
}

impl RangeEvent {
    /// The event, or `None` for a `limit`.
    pub fn event(&self) -> Option<Event> {
        if let Some(v) = &self.introduced {
            return Some(Event::Introduced(v.clone()));
        }
        if let Some(v) = &self.fixed {
            return Some(Event::Fixed(v.clone()));
        }
        self.last_affected.clone().map(Event::LastAffected)
    }
}

/// A link.
#[derive(Debug, Deserialize)]
pub struct Reference {
    /// `ADVISORY`, `WEB`, `FIX`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The URL.
    pub url: String,
}

/// The highest severity the record states: any CVSS v3 or v4 vector's
/// score (by the `cvss` crate), any v2 vector's (by [`super::cvss2`], as
/// the crate scores no v2), or the database's own rating (GitHub's
/// `LOW`/`MODERATE`/`HIGH`/`CRITICAL`).
pub fn severity_of(
    scores: &[&SeverityScore],
    database: &[Option<&serde_json::Value>],
) -> Option<Severity> {
    let from_cvss = scores
        .iter()
        .filter_map(|s| match s.kind.as_str() {
            "CVSS_V3" => cvss::v3::Base::from_str(&s.score)
                .ok()
                .map(|base| base.score().value()),
            "CVSS_V4" => cvss::v4::Vector::from_str(&s.score)
                .ok()
                .map(|vector| vector.score().value()),
            "CVSS_V2" => super::cvss2::base_score(&s.score),
            _ => None,
        })
        .map(from_score)
        .max();
    let from_database = database
        .iter()
        .flatten()
        .filter_map(|d| d.get("severity").and_then(serde_json::Value::as_str))
        .filter_map(|s| match s.to_ascii_uppercase().as_str() {
            "CRITICAL" => Some(Severity::Critical),
            "HIGH" => Some(Severity::High),
            "MODERATE" | "MEDIUM" => Some(Severity::Medium),
            "LOW" => Some(Severity::Low),
            _ => None,
        })
        .max();
    from_cvss.into_iter().chain(from_database).max()
}

/// CVSS's qualitative scale.
fn from_score(score: f64) -> Severity {
    if score >= 9.0 {
        Severity::Critical
    } else if score >= 7.0 {
        Severity::High
    } else if score >= 4.0 {
        Severity::Medium
    } else if score > 0.0 {
        Severity::Low
    } else {
        Severity::Info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_vector_or_database_rating_whichever_is_higher() {
        let critical = SeverityScore {
            kind: "CVSS_V3".into(),
            score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
        };
        assert_eq!(severity_of(&[&critical], &[]), Some(Severity::Critical));
        let low = SeverityScore {
            kind: "CVSS_V3".into(),
            score: "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N".into(),
        };
        let high = serde_json::json!({"severity": "HIGH"});
        assert_eq!(severity_of(&[&low], &[Some(&high)]), Some(Severity::High));
        let moderate = serde_json::json!({"severity": "MODERATE"});
        assert_eq!(severity_of(&[], &[Some(&moderate)]), Some(Severity::Medium));
        assert_eq!(severity_of(&[], &[None]), None);
    }

    #[test]
    fn cvss_v4_and_v2_vectors_are_scored() {
        let v4_critical = SeverityScore {
            kind: "CVSS_V4".into(),
            score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N".into(),
        };
        assert_eq!(severity_of(&[&v4_critical], &[]), Some(Severity::Critical));
        let v4_low_impact = SeverityScore {
            kind: "CVSS_V4".into(),
            score: "CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N".into(),
        };
        let rated = severity_of(&[&v4_low_impact], &[]).expect("scored");
        assert!(rated <= Severity::Medium, "{rated:?}");
        let v2 = SeverityScore {
            kind: "CVSS_V2".into(),
            score: "AV:N/AC:L/Au:N/C:C/I:C/A:C".into(),
        };
        let moderate = serde_json::json!({"severity": "MODERATE"});
        assert_eq!(
            severity_of(&[&v2], &[Some(&moderate)]),
            Some(Severity::Critical),
            "a v2 vector of 10.0 outranks the rating"
        );
        let v2_medium = SeverityScore {
            kind: "CVSS_V2".into(),
            score: "AV:N/AC:M/Au:N/C:N/I:P/A:N".into(),
        };
        assert_eq!(severity_of(&[&v2_medium], &[]), Some(Severity::Medium));
        let v2_high = SeverityScore {
            kind: "CVSS_V2".into(),
            score: "AV:N/AC:L/Au:N/C:P/I:P/A:P".into(),
        };
        assert_eq!(severity_of(&[&v2_high], &[]), Some(Severity::High));
        let v2_broken = SeverityScore {
            kind: "CVSS_V2".into(),
            score: "AV:N/AC:L".into(),
        };
        assert_eq!(
            severity_of(&[&v2_broken], &[Some(&moderate)]),
            Some(Severity::Medium)
        );
        let broken = SeverityScore {
            kind: "CVSS_V4".into(),
            score: "CVSS:4.0/AV:X".into(),
        };
        assert_eq!(
            severity_of(&[&broken], &[]),
            None,
            "an unreadable vector is no score"
        );
    }
}
