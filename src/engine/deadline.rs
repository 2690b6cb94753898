//! A time budget for the analysis of one file, shared by all its analyzers.
//!
//! A hostile change can make one file expensive: a huge minified line, YAML
//! nested as deep as the parser allows, a Terraform file with thousands of
//! resources, a line every secret regex matches over and over. The engine
//! gives each file one [`Deadline`] ([`FileOutcome::deadline`]); the parse,
//! the rule walk, the IaC comparison and the secrets scan all draw on it, so
//! a file costs at most about its budget however many analyzers read it.
//!
//! Rust cannot stop a thread from outside, so the deadline is cooperative:
//! an analyzer asks [`Deadline::expired`] in each loop that grows with its
//! input and stops when it says yes, recording a [`Skipped`] line made by
//! [`Deadline::skipped`]. What an analyzer found before it stopped is kept
//! and the line says `partial: true`: a finding on an added line is as true
//! when the rest of the file went unread, and the bot would rather show it
//! than nothing. Where a partial result would be wrong rather than short
//! (an IaC comparison that has read only part of one version would call the
//! rest "fixed"), the analyzer drops it and says `partial: false`.
//!
//! [`Deadline::expired`] reads the clock only on its first call and every
//! [`CHECK_EVERY`]-th after, so a loop may ask once per tree node or line;
//! [`Deadline::expired_now`] reads it every time, for coarse steps whose
//! single iteration can be long. Once passed, a deadline stays passed.
//!
//! [`FileOutcome::deadline`]: super::FileOutcome::deadline

use super::{AnalyzerKind, Skipped};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The default budget for one file, all analyzers together. Generous: a
/// 1 MB file of ordinary code takes well under a second.
pub const DEFAULT_FILE_DEADLINE: Duration = Duration::from_secs(10);

/// Calls of [`Deadline::expired`] per reading of the clock.
pub const CHECK_EVERY: u32 = 64;

/// When the analysis of one file must stop. The default never expires.
///
/// Atomics rather than `Cell`s, so a [`super::FileOutcome`] stays `Sync`;
/// relaxed ordering is enough: the counter only spaces out clock readings.
#[derive(Debug, Default)]
pub struct Deadline {
    /// The moment the budget runs out; `None`: never.
    at: Option<Instant>,
    /// The whole budget, for messages.
    budget: Duration,
    /// Calls of `expired` since the clock was last read.
    calls: AtomicU32,
    /// Set once the deadline has been seen to pass.
    passed: AtomicBool,
    /// Tests only: questions answered "not yet" before the deadline passes,
    /// so a test can stop an analyzer part-way without timing anything.
    #[cfg(test)]
    questions: Option<AtomicU32>,
}

impl Deadline {
    /// A deadline `budget` from now. A zero budget is already expired.
    pub fn after(budget: Duration) -> Self {
        Self {
            // An overflowing budget (`Duration::MAX`) means no deadline.
            at: Instant::now().checked_add(budget),
            budget,
            ..Self::default()
        }
    }

    /// Tests only: a deadline that passes at the `n + 1`-th question.
    #[cfg(test)]
    pub(crate) fn after_questions(n: u32) -> Self {
        Self {
            questions: Some(AtomicU32::new(n)),
            ..Self::after(Duration::from_secs(3600))
        }
    }

    /// Tests only: counts a question down; true once none are left.
    #[cfg(test)]
    fn counted_out(&self) -> bool {
        let Some(left) = &self.questions else {
            return false;
        };
        let out = left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_err();
        if out {
            self.passed.store(true, Ordering::Relaxed);
        }
        out
    }

    /// A deadline that never expires.
    pub fn none() -> Self {
        Self::default()
    }

    /// The whole budget (zero for [`Deadline::none`]).
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// True once the deadline has passed. Cheap enough for a hot loop: it
    /// reads the clock on the first call and every [`CHECK_EVERY`]-th.
    pub fn expired(&self) -> bool {
        if self.at.is_none() {
            return false;
        }
        if self.passed.load(Ordering::Relaxed) {
            return true;
        }
        #[cfg(test)]
        if self.counted_out() {
            return true;
        }
        if !self
            .calls
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(CHECK_EVERY)
        {
            return false;
        }
        self.read_clock()
    }

    /// True once the deadline has passed, reading the clock now.
    pub fn expired_now(&self) -> bool {
        if self.at.is_none() {
            return false;
        }
        if self.passed.load(Ordering::Relaxed) {
            return true;
        }
        #[cfg(test)]
        if self.counted_out() {
            return true;
        }
        self.read_clock()
    }

    /// Reads the clock, remembering when the deadline has passed.
    fn read_clock(&self) -> bool {
        let Some(at) = self.at else {
            return false;
        };
        let passed = Instant::now() >= at;
        if passed {
            self.passed.store(true, Ordering::Relaxed);
        }
        passed
    }

    /// The time left (`None`: no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        let at = self.at?;
        if self.passed.load(Ordering::Relaxed) {
            return Some(Duration::ZERO);
        }
        Some(at.saturating_duration_since(Instant::now()))
    }

    /// The line that says `analyzer` stopped on `path` because the deadline
    /// passed; `partial` when what it found before is kept. Also logs it.
    pub fn skipped(&self, path: &str, analyzer: AnalyzerKind, partial: bool) -> Skipped {
        let ms = u64::try_from(self.budget.as_millis()).unwrap_or(u64::MAX);
        // Logged here, where every analyzer's stop passes: an operator sees
        // which files run long without reading check-run summaries.
        tracing::warn!(
            path,
            analyzer = analyzer.as_str(),
            budget_ms = ms,
            partial,
            "analysis deadline passed"
        );
        let what = if partial {
            format!(
                "the {} analyzer stopped part-way: what it found before is reported, the rest of the file was not analysed by it",
                analyzer.as_str()
            )
        } else {
            format!(
                "the {} analyzer did not analyse this file",
                analyzer.as_str()
            )
        };
        Skipped {
            path: path.to_owned(),
            analyzer: Some(analyzer),
            reason: format!(
                "analysis deadline of {ms} ms per file exceeded: {what}. The rest of the change was analysed"
            ),
            partial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_budget_is_expired_at_the_first_question() {
        let deadline = Deadline::after(Duration::ZERO);
        assert!(deadline.expired());
        assert!(deadline.expired_now());
        assert_eq!(deadline.remaining(), Some(Duration::ZERO));
    }

    #[test]
    fn no_deadline_never_expires() {
        let deadline = Deadline::none();
        for _ in 0..(CHECK_EVERY * 3) {
            assert!(!deadline.expired());
        }
        assert!(!deadline.expired_now());
        assert_eq!(deadline.remaining(), None);
        let huge = Deadline::after(Duration::MAX);
        assert!(!huge.expired_now());
    }

    #[test]
    fn a_distant_deadline_is_not_expired_and_stays_passed_once_passed() {
        let deadline = Deadline::after(Duration::from_secs(3600));
        assert!(!deadline.expired());
        assert!(!deadline.expired_now());
        assert!(
            deadline
                .remaining()
                .is_some_and(|left| left > Duration::ZERO)
        );
        deadline.passed.store(true, Ordering::Relaxed);
        assert!(deadline.expired());
        assert_eq!(deadline.remaining(), Some(Duration::ZERO));
    }

    #[test]
    fn a_counted_deadline_passes_at_the_question_after_its_count() {
        let deadline = Deadline::after_questions(2);
        assert!(!deadline.expired());
        assert!(!deadline.expired_now());
        assert!(deadline.expired());
        assert!(deadline.expired(), "stays passed");
    }

    #[test]
    fn the_skip_line_names_the_budget_the_analyzer_and_whether_findings_were_kept() {
        let deadline = Deadline::after(Duration::from_millis(250));
        let kept = deadline.skipped("a.py", AnalyzerKind::Sast, true);
        assert_eq!(
            (kept.path.as_str(), kept.analyzer, kept.partial),
            ("a.py", Some(AnalyzerKind::Sast), true)
        );
        assert!(
            kept.reason.contains("deadline of 250 ms") && kept.reason.contains("sast"),
            "{}",
            kept.reason
        );
        let dropped = deadline.skipped("a.py", AnalyzerKind::Iac, false);
        assert!(!dropped.partial);
        assert!(
            dropped.reason.contains("did not analyse"),
            "{}",
            dropped.reason
        );
    }
}
