//! Talking to GitHub: app authentication, a transport that retries and
//! honours rate limits, and the typed calls the bot makes. Knows nothing of
//! rules or findings; `report` turns findings into the shapes sent here.

pub mod api;
pub mod app_info;
pub mod auth;
pub mod client;
pub mod deliveries;
pub mod graphql;
pub mod pacing;
pub mod triage;
pub mod types;

pub use client::{GitHubApp, GitHubError, Installation, RetryPolicy};
