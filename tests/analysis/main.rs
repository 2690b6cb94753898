//! The analysis pipeline without GitHub: the engine's analyzers, the diff
//! model, SARIF and the command line.
//!
//! One test binary for all of them, so the library is linked once.

#[path = "../support/osv_endpoint.rs"]
mod osv_endpoint;
#[path = "../support/registries.rs"]
mod registries;

mod cli;
mod cli_paths;
mod deadline;
mod deps;
mod deps_licenses;
mod diff_model;
mod engine;
mod iac;
mod iac_semantics;
mod iac_split_across;
mod sarif_schema;
mod secrets;
mod taint;
mod taint_cross;
mod taint_rust;
