//! Support code shared by the integration tests.
//!
//! Each test crate includes this module with `mod support;` and uses a
//! different part of it, hence the `dead_code` and `unused_imports`
//! allowances.
#![allow(dead_code, unused_imports)]

pub mod bot;
pub mod github_emulator;
pub mod markdown;
