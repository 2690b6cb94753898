//! Which lockfile or manifest a path is, from its name, and the reader of
//! each format.

use super::model::{ReadError, Resolved};
use super::{cargo, cargo_toml, composer, gemfile, go, npm, pnpm, pylock, pyproject, python, yarn};

/// The formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `Cargo.lock`.
    CargoLock,
    /// `Cargo.toml` (exact `=` pins only).
    CargoToml,
    /// `package-lock.json` / `npm-shrinkwrap.json`.
    PackageLock,
    /// `yarn.lock`, classic or berry.
    YarnLock,
    /// `pnpm-lock.yaml`.
    PnpmLock,
    /// `requirements*.txt`.
    Requirements,
    /// `poetry.lock`.
    PoetryLock,
    /// `uv.lock`.
    UvLock,
    /// `pdm.lock`.
    PdmLock,
    /// `Pipfile.lock`.
    PipfileLock,
    /// `pyproject.toml` (exact pins only).
    PyProject,
    /// `go.mod`.
    GoMod,
    /// `Gemfile.lock` (also `gems.locked`, Bundler's other name for it).
    GemfileLock,
    /// `composer.lock`.
    ComposerLock,
}

/// The format of a path, from its name.
pub fn detect(path: &str) -> Option<Format> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "Cargo.lock" => Some(Format::CargoLock),
        "Cargo.toml" => Some(Format::CargoToml),
        "package-lock.json" | "npm-shrinkwrap.json" => Some(Format::PackageLock),
        "yarn.lock" => Some(Format::YarnLock),
        "pnpm-lock.yaml" => Some(Format::PnpmLock),
        "poetry.lock" => Some(Format::PoetryLock),
        "uv.lock" => Some(Format::UvLock),
        "pdm.lock" => Some(Format::PdmLock),
        "Pipfile.lock" => Some(Format::PipfileLock),
        "pyproject.toml" => Some(Format::PyProject),
        "go.mod" => Some(Format::GoMod),
        "Gemfile.lock" | "gems.locked" => Some(Format::GemfileLock),
        "composer.lock" => Some(Format::ComposerLock),
        _ if name.ends_with(".txt")
            && (name.starts_with("requirements") || path.contains("requirements/")) =>
        {
            Some(Format::Requirements)
        }
        _ => None,
    }
}

/// Reads one side of a file in `format`.
pub fn read(format: Format, text: &str) -> Result<Resolved, ReadError> {
    match format {
        Format::CargoLock => cargo::read(text),
        Format::CargoToml => cargo_toml::read(text),
        Format::PackageLock => npm::read(text),
        Format::YarnLock => yarn::read(text),
        Format::PnpmLock => pnpm::read(text),
        Format::Requirements => python::read_requirements(text),
        Format::PoetryLock => python::read_poetry(text),
        Format::UvLock => pylock::read_uv(text),
        Format::PdmLock => pylock::read_pdm(text),
        Format::PipfileLock => pylock::read_pipfile(text),
        Format::PyProject => pyproject::read(text),
        Format::GoMod => go::read(text),
        Format::GemfileLock => gemfile::read(text),
        Format::ComposerLock => composer::read(text),
    }
}
