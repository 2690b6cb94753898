//! hunkscan: security review of pull requests, only over the changed hunks.
//!
//! The library is the engine shared by the command line (`hunkscan scan`)
//! and the GitHub App: [`diff`] reads changes, [`engine`] turns a change set
//! into findings, [`report`] renders them, [`local`] builds change sets from
//! a git repository or from two directory trees.
#![deny(missing_docs)]

pub mod advisories;
pub mod alloc;
pub mod app;
pub mod config;
pub mod diff;
pub mod engine;
pub mod github;
pub mod local;
pub mod metrics;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod rules;
pub mod ruletest;
