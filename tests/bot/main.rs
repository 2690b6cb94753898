//! The GitHub App end to end: the bot against the GitHub API emulator, its
//! store, its server and its setup page.
//!
//! One test binary for all of them: each integration binary compiled and
//! linked the emulator again, and linking thirty binaries dominated CI.

#[path = "../support/mod.rs"]
mod support;

mod app;
mod app_retries;
mod checks_per_commit;
mod deps_review;
mod durability;
mod emulator_deliveries;
mod emulator_selftest;
mod forged_markers;
mod gitleaks_ignore;
mod hostile_text;
mod identity;
mod job_deadline;
mod merge_queue;
mod no_secret_leaks;
mod pipeline_parity;
mod reconcile;
mod server_limits;
mod setup;
mod triage;
