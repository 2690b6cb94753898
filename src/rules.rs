//! Where rule files come from: the `rules/` folder embedded in the binary at
//! build time, plus an optional folder given at run time whose files add
//! rules or replace embedded ones with the same id.
//!
//! A run-time folder mirrors the layout of `rules/`: SAST rules go under
//! `python/` or `rust/`, IaC policies under `terraform/`, `kubernetes/`,
//! `dockerfile/` or `github-actions/`. A rule file anywhere else is an error, not a silent
//! no-op, so a misplaced override is noticed.

use include_dir::{Dir, include_dir};
use std::path::{Path, PathBuf};

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/rules");

/// Folders of `rules/` that hold ast-grep SAST rules.
pub const SAST_FOLDERS: [&str; 2] = ["python", "rust"];

/// Folders of `rules/` that hold secret-detection rules.
pub const SECRET_FOLDERS: [&str; 1] = ["secrets"];

/// Folders of `rules/` that hold IaC policies, one per format.
pub const IAC_FOLDERS: [&str; 4] = ["terraform", "kubernetes", "dockerfile", "github-actions"];

/// Every folder a rules directory may hold; a rule file elsewhere is an error.
pub const ALL_FOLDERS: [&str; 7] = [
    "python",
    "rust",
    "secrets",
    "terraform",
    "kubernetes",
    "dockerfile",
    "github-actions",
];

/// One rule file's text and where it came from.
#[derive(Debug, Clone)]
pub struct RuleSource {
    /// For messages: `rules/python/x.yml` (embedded) or the file's path.
    pub origin: String,
    /// The folder under the rules root, e.g. `python`.
    pub folder: String,
    /// The YAML text.
    pub text: String,
}

/// A rule folder that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RuleSourceError {
    /// The folder or a file in it cannot be read.
    #[error("cannot read rules from {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A rule file outside the known folders.
    #[error("{path}: rule files must be in one of the folders {known:?} of the rules directory")]
    Misplaced {
        /// The misplaced file.
        path: PathBuf,
        /// The folders that are read.
        known: Vec<&'static str>,
    },
    /// A rule file that is not UTF-8.
    #[error("{path}: rule file is not UTF-8")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
}

fn is_rule_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

/// The embedded rule files of the given folders, sorted by path.
pub fn embedded(folders: &[&str]) -> Vec<RuleSource> {
    let mut sources = Vec::new();
    for folder in folders {
        let Some(dir) = EMBEDDED.get_dir(folder) else {
            continue;
        };
        // Subfolders too (`python/taint/`), as a run-time folder is read.
        let mut dirs = vec![dir];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            files.extend(dir.files());
            dirs.extend(dir.dirs());
        }
        for file in files {
            if !is_rule_file(file.path()) {
                continue;
            }
            if let Some(text) = file.contents_utf8() {
                sources.push(RuleSource {
                    origin: format!("rules/{}", file.path().display()),
                    folder: (*folder).to_owned(),
                    text: text.to_owned(),
                });
            }
        }
    }
    sources.sort_by(|a, b| a.origin.cmp(&b.origin));
    sources
}

/// The rule files of `folders` in a run-time folder laid out like `rules/`.
/// A rule file outside every known folder is an error.
pub fn from_dir(root: &Path, folders: &[&'static str]) -> Result<Vec<RuleSource>, RuleSourceError> {
    let mut sources = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|error| RuleSourceError::Io {
            path: error.path().unwrap_or(root).to_path_buf(),
            source: error.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.into_path();
        if !is_rule_file(&path) {
            continue;
        }
        let folder = path
            .strip_prefix(root)
            .ok()
            .and_then(|rel| rel.components().next())
            .and_then(|c| c.as_os_str().to_str())
            .filter(|first| ALL_FOLDERS.contains(first) && path.parent() != Some(root));
        let Some(folder) = folder else {
            return Err(RuleSourceError::Misplaced {
                path,
                known: ALL_FOLDERS.to_vec(),
            });
        };
        if !folders.contains(&folder) {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|source| RuleSourceError::Io {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| RuleSourceError::NotUtf8 { path: path.clone() })?;
        sources.push(RuleSource {
            origin: path.display().to_string(),
            folder: folder.to_owned(),
            text,
        });
    }
    sources.sort_by(|a, b| a.origin.cmp(&b.origin));
    Ok(sources)
}

/// A rules folder holding one rule file, `folder/name`: what the tests of
/// the rules a user's folder may not hold write.
#[cfg(test)]
pub(crate) fn folder_with_rule(folder: &str, name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join(folder);
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::write(folder.join(name), text).expect("write");
    dir
}
