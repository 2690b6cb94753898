//! Configuration: the bot's own settings (environment) and a repository's
//! `.github/hunkscan.yml`.

pub mod repo;
pub mod settings;
