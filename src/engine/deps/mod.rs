//! Dependency review: the packages a change adds or moves to another
//! version, checked against OSV advisories.
//!
//! Each changed lockfile or pinned manifest is read on both sides into
//! resolved packages ([`model`]); a package version the head has and the
//! base does not is what the change introduces. It is a **new** finding
//! when an advisory affects it that did not already affect the version it
//! replaced (an upgrade that stays inside the same vulnerable range adds
//! nothing the base did not have); a base version the change removes or
//! upgrades away from an advisory is **fixed**. Packages on both sides are
//! not reported, vulnerable or not: the change did not bring them.
//!
//! Findings sit on the package's entry (lockfile header to version line,
//! the pinned requirement, the `go.mod` require line), name the advisories
//! folded by alias ([`matching`]), the fixed versions and the path from a
//! direct dependency, and suggest the fixed version where the line pins it.
//!
//! Without an advisory database every changed lockfile is listed as
//! skipped with how to get one, never silently passed. A file that does
//! not parse is skipped with the parser's line and reason.

pub mod cargo;
pub mod cargo_toml;
pub mod change;
pub mod composer;
pub mod composer_version;
pub mod format;
pub mod gem_version;
pub mod gemfile;
pub mod go;
pub mod license;
pub mod license_policy;
pub mod matching;
pub mod model;
pub mod npm;
pub mod parsed;
pub mod pnpm;
pub mod pylock;
pub mod pyproject;
pub mod python;
pub mod version;
pub mod yarn;

pub use self::change::Change;
use self::change::{Key, key};
pub use self::format::{Format, detect, read};
use self::matching::Group;
use self::model::{Package, Resolved};
use super::{
    Analyzer, AnalyzerKind, ChangeKind, ChangedFile, ComparedFinding, Confidence, Content,
    FileOutcome, Finding, Fix, Position, RawFinding, Severity, Skipped,
};
use crate::advisories::{Index, SharedIndex};
use crate::diff::FileStatus;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// What the analyzer says when there is no advisory database.
pub const NOT_SYNCED: &str = "advisory database not synced: run `hunkscan advisories sync`";

/// The largest lockfile read (the engine's general limit is 1 MB; large
/// monorepos' lockfiles are tens of MB).
pub const MAX_LOCKFILE_BYTES: usize = 64 * 1024 * 1024;

/// Severity of an advisory that states none.
const UNRATED: Severity = Severity::Medium;

/// The `deps` analyzer.
pub struct DepsAnalyzer {
    index: SharedIndex,
}

impl DepsAnalyzer {
    /// Matching against `index`; `None`: no database, lockfiles are skipped
    /// with [`NOT_SYNCED`].
    pub fn new(index: Option<Arc<Index>>) -> Self {
        Self {
            index: SharedIndex::new(index),
        }
    }

    /// The database in use, and the handle that replaces it.
    pub fn shared(&self) -> &SharedIndex {
        &self.index
    }
}

impl Analyzer for DepsAnalyzer {
    fn kind(&self) -> AnalyzerKind {
        AnalyzerKind::Deps
    }

    fn handles(&self, path: &str) -> bool {
        detect(path).is_some()
    }

    fn needs_base(&self, _path: &str) -> bool {
        true
    }

    fn analyze(&self, file: &ChangedFile, head: &str, out: &mut FileOutcome) {
        self.review(file, head, out, None);
    }

    /// A `Cargo.lock` reviewed again with what the change's `Cargo.toml`
    /// files say is dev-only (the lockfile does not record it).
    fn across_files(&self, files: &mut [(&ChangedFile, &mut FileOutcome)]) {
        let manifests = cargo_toml::changed_manifests(files.iter().map(|(f, _)| *f));
        if manifests.is_empty() {
            return;
        }
        for (file, out) in files.iter_mut() {
            if detect(&file.diff.path) != Some(Format::CargoLock)
                || file.diff.status == FileStatus::Removed
            {
                continue;
            }
            let Content::Text(head) = &file.head else {
                continue;
            };
            let Some(dev_only) = cargo_toml::dev_only_for(&file.diff.path, &manifests) else {
                continue;
            };
            out.compared
                .retain(|c| c.raw.finding.analyzer != AnalyzerKind::Deps);
            out.skipped
                .retain(|s| s.analyzer != Some(AnalyzerKind::Deps));
            self.review(file, head, out, Some(&dev_only));
        }
    }
}

impl DepsAnalyzer {
    /// The review of one file; `dev_only`: direct dependencies only
    /// development needs, from manifests beside a `Cargo.lock`.
    fn review(
        &self,
        file: &ChangedFile,
        head: &str,
        out: &mut FileOutcome,
        dev_only: Option<&HashSet<String>>,
    ) {
        let path = file.diff.path.as_str();
        let Some(format) = detect(path) else { return };
        let skip = |reason: String, partial: bool| Skipped {
            path: path.to_owned(),
            analyzer: Some(AnalyzerKind::Deps),
            reason,
            partial,
        };
        let head_side = if file.diff.status == FileStatus::Removed {
            Arc::new(Resolved::default())
        } else {
            match parsed::read_shared(format, head) {
                Ok(resolved) => resolved,
                Err(error) => {
                    return out.skipped.push(skip(
                        format!("cannot be read ({error}); dependencies not checked"),
                        false,
                    ));
                }
            }
        };
        let base_text = match &file.base {
            Content::Text(text) => Some(text.as_str()),
            Content::Absent => Some(""),
            _ => None,
        };
        let base_side = match base_text.map(|t| {
            if t.is_empty() {
                Ok(Arc::new(Resolved::default()))
            } else {
                parsed::read_shared(format, t)
            }
        }) {
            Some(Ok(resolved)) => resolved,
            Some(Err(error)) => {
                out.skipped.push(skip(
                    format!("base version cannot be read ({error}): every package of the head is treated as added"),
                    true,
                ));
                Arc::new(Resolved::default())
            }
            None => {
                out.skipped.push(skip(
                    "base version not available: every package of the head is treated as added"
                        .into(),
                    true,
                ));
                Arc::new(Resolved::default())
            }
        };
        for note in &head_side.notes {
            out.skipped.push(skip(note.clone(), true));
        }
        let (base_side, head_side) = match dev_only {
            Some(names) => (
                Arc::new(cargo_toml::mark_dev(&base_side, names)),
                Arc::new(cargo_toml::mark_dev(&head_side, names)),
            ),
            None => (base_side, head_side),
        };
        let change = Change::between(&base_side, &head_side);
        let current = self.index.current();
        let Some(index) = current.as_deref() else {
            return out.skipped.push(skip(
                format!(
                    "{NOT_SYNCED} ({} package version{} added or changed not checked)",
                    change.introduced.len(),
                    if change.introduced.len() == 1 {
                        ""
                    } else {
                        "s"
                    }
                ),
                false,
            ));
        };
        let ecosystems: BTreeSet<model::Ecosystem> = head_side
            .packages
            .iter()
            .chain(&base_side.packages)
            .map(|p| p.ecosystem)
            .collect();
        for eco in ecosystems {
            if !index.has(eco) {
                out.skipped.push(skip(
                    format!(
                        "the advisory database has no {} advisories: run `hunkscan advisories sync --ecosystem {}`",
                        eco.osv_name(),
                        eco.osv_name()
                    ),
                    false,
                ));
                return;
            }
        }
        let head_lines: Vec<&str> = head.lines().collect();
        let base_lines: Vec<&str> = base_text.unwrap_or("").lines().collect();
        // Each side's advisory groups, computed once and only for the
        // packages the change touches: the introduced and gone entries, and
        // the other versions of a name the change moved (for "already
        // there" and "fixed"). Evaluating every package of both sides, then
        // the introduced and gone ones again, cost four passes over a
        // 5,000-entry lockfile where two do.
        let introduced: HashSet<usize> = change.introduced.iter().copied().collect();
        let gone: HashSet<usize> = change.gone.iter().copied().collect();
        let head_groups = groups_of(index, &head_side, |i, p| {
            introduced.contains(&i) || change.now.contains_key(&key(p))
        });
        let base_groups = groups_of(index, &base_side, |i, p| {
            gone.contains(&i) || change.previous.contains_key(&key(p))
        });
        // Advisory ids affecting each name on each side, for "already there" and "fixed".
        let base_ids = ids_by_name(&base_side, &base_groups);
        let head_ids = ids_by_name(&head_side, &head_groups);
        let paths = head_side.paths();
        for &i in &change.introduced {
            if out.deadline.expired() {
                return out
                    .skipped
                    .push(out.deadline.skipped(path, AnalyzerKind::Deps, true));
            }
            let package = &head_side.packages[i];
            let before = change.previous.get(&key(package));
            let known = base_ids.get(&key(package));
            for group in &head_groups[i] {
                if known.is_some_and(|ids| group.ids().any(|id| ids.contains(id))) {
                    continue;
                }
                let finding = finding(
                    path,
                    package,
                    group,
                    before.map(Vec::as_slice),
                    paths.to(i),
                    &head_lines,
                    ChangeKind::New,
                );
                out.compared.push(ComparedFinding {
                    raw: raw(finding, package),
                    change: ChangeKind::New,
                    base_lines: None,
                });
            }
        }
        for &i in &change.gone {
            if out.deadline.expired() {
                return out
                    .skipped
                    .push(out.deadline.skipped(path, AnalyzerKind::Deps, true));
            }
            let package = &base_side.packages[i];
            let still = head_ids.get(&key(package));
            for group in &base_groups[i] {
                if still.is_some_and(|ids| group.ids().any(|id| ids.contains(id))) {
                    continue;
                }
                let now = change.now.get(&key(package));
                let finding = finding(
                    path,
                    package,
                    group,
                    now.map(Vec::as_slice),
                    None,
                    &base_lines,
                    ChangeKind::Fixed,
                );
                out.compared.push(ComparedFinding {
                    raw: raw(finding, package),
                    change: ChangeKind::Fixed,
                    base_lines: Some(package.lines),
                });
            }
        }
    }
}

/// The advisory groups of each package of `side` that `wanted` picks (by
/// position and package); an empty list for the others.
fn groups_of<'a>(
    index: &'a Index,
    side: &Resolved,
    wanted: impl Fn(usize, &Package) -> bool,
) -> Vec<Vec<matching::Group<'a>>> {
    side.packages
        .iter()
        .enumerate()
        .map(|(i, package)| {
            if wanted(i, package) {
                matching::groups(index, package)
            } else {
                Vec::new()
            }
        })
        .collect()
}

/// Advisory ids affecting each name of `side`, from its packages' groups.
fn ids_by_name(
    side: &Resolved,
    groups: &[Vec<matching::Group<'_>>],
) -> HashMap<Key, HashSet<String>> {
    let mut out: HashMap<Key, HashSet<String>> = HashMap::new();
    for (package, groups) in side.packages.iter().zip(groups) {
        // A name without advisories needs no entry: its lookups find none.
        if groups.is_empty() {
            continue;
        }
        let ids = out.entry(key(package)).or_default();
        for group in groups {
            ids.extend(group.ids().map(str::to_owned));
        }
    }
    out
}

/// The package name and version text (`1.0 → 1.1`, `1.1 (added)`) of a
/// finding's message, as [`finding`] writes it: for reports that tabulate.
pub fn headline(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix('`')?;
    let (name, rest) = rest.split_once('`')?;
    let rest = rest.trim_start();
    let end = rest.find(" (").map_or(rest.len(), |i| {
        // "(added)" belongs to the version text.
        if rest[i..].starts_with(" (added)") {
            i + " (added)".len()
        } else {
            i
        }
    });
    Some((name, &rest[..end]))
}

/// The fixed version to suggest: for each advisory of the group the
/// lowest fix above the version, and the highest of those (so every
/// advisory is addressed); `None` when one has no fix.
fn suggested_fix(package: &Package, group: &Group<'_>) -> Option<String> {
    let eco = package.ecosystem;
    let mut wanted: Option<(version::Version, String)> = None;
    for hit in &group.hits {
        let lowest = hit
            .fixed
            .iter()
            .filter_map(|f| version::parse(eco, f).map(|v| (v, f.clone())))
            .min_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))?;
        if wanted.as_ref().is_none_or(|w| lowest.0 > w.0) {
            wanted = Some(lowest);
        }
    }
    wanted.map(|(_, text)| text)
}

fn finding(
    path: &str,
    package: &Package,
    group: &Group<'_>,
    other_versions: Option<&[String]>,
    chain: Option<Vec<String>>,
    lines: &[&str],
    change: ChangeKind,
) -> Finding {
    let (start, end) = package.lines;
    let line_text = |n: u32| {
        lines
            .get((n as usize).saturating_sub(1))
            .copied()
            .unwrap_or("")
    };
    let snippet = (start..=end).map(line_text).collect::<Vec<_>>().join("\n");
    let mut ids = group.primary.clone();
    if !group.aliases.is_empty() {
        ids.push_str(&format!(" ({})", group.aliases.join(", ")));
    }
    let fixed: BTreeSet<&str> = group
        .hits
        .iter()
        .flat_map(|h| h.fixed.iter().map(String::as_str))
        .collect();
    let fix_version = suggested_fix(package, group);
    let how = match (package.direct, &chain) {
        (Some(true), _) => "direct".to_owned(),
        (_, Some(chain)) => format!("transitive, via {}", chain.join(" → ")),
        (Some(false), None) => "transitive".to_owned(),
        (None, _) => "direct or transitive: the file does not say".to_owned(),
    };
    let dev = if package.dev == Some(true) {
        ", dev only"
    } else {
        ""
    };
    let summary = group.summary();
    let summary = if summary.is_empty() {
        String::new()
    } else {
        format!(": {summary}")
    };
    let message = match change {
        ChangeKind::Fixed => {
            let now = match other_versions {
                Some(v) => format!("upgraded from {} to {}", package.version, v.join(", ")),
                None => format!("{} removed", package.version),
            };
            format!(
                "`{}` {now}, no longer affected by {ids}{summary}",
                package.name
            )
        }
        _ => {
            let version = match other_versions {
                Some(previous) => format!("{} → {}", previous.join(", "), package.version),
                None => format!("{} (added)", package.version),
            };
            let fixes = if fixed.is_empty() {
                " No fixed version is known.".to_owned()
            } else {
                format!(
                    " Fixed in {}.",
                    fixed.into_iter().collect::<Vec<_>>().join(", ")
                )
            };
            let undecided = group
                .hits
                .iter()
                .find_map(|h| h.undecided.as_deref())
                .map(|reason| {
                    format!(" (a range could not be evaluated, {reason}: counted as affected)")
                })
                .unwrap_or_default();
            format!(
                "`{}` {version} ({how}{dev}) is affected by {ids}{summary}.{fixes}{undecided}",
                package.name
            )
        }
    };
    let remediation = Some(match &fix_version {
        Some(v) => format!("Upgrade `{}` to {v} or later.", package.name),
        None => format!(
            "No fixed release of `{}` is known: consider removing or replacing it.",
            package.name
        ),
    });
    let fix = (change == ChangeKind::New && package.pinned && start == end)
        .then(|| {
            fix_version
                .as_ref()
                .and_then(|v| pin_replacement(package, line_text(start), v))
        })
        .flatten();
    let end_column = u32::try_from(line_text(end).chars().count() + 1).unwrap_or(u32::MAX);
    Finding {
        rule_id: group.primary.clone(),
        analyzer: AnalyzerKind::Deps,
        severity: group.severity().unwrap_or(UNRATED),
        confidence: Confidence::High,
        cwe: group.cwe(),
        path: path.to_owned(),
        start: Position {
            line: start,
            column: 1,
        },
        end: Position {
            line: end,
            column: end_column,
        },
        message,
        remediation,
        fix,
        fingerprint: String::new(),
        change,
        suppression: None,
        snippet,
        flow: Vec::new(),
    }
}

/// The pinned line with its version replaced by `fixed` (Go's keep their `v`).
fn pin_replacement(package: &Package, line: &str, fixed: &str) -> Option<Fix> {
    let new = match package.ecosystem {
        model::Ecosystem::Go => format!("v{}", fixed.trim_start_matches('v')),
        _ => fixed.to_owned(),
    };
    let at = line.find(package.version.as_str())?;
    let mut replacement = line.to_owned();
    replacement.replace_range(at..at + package.version.len(), &new);
    Some(Fix { replacement })
}

fn raw(finding: Finding, package: &Package) -> RawFinding {
    RawFinding {
        identity: format!(
            "{}:{}@{}",
            package.ecosystem.osv_name(),
            package.name,
            package.version
        ),
        finding,
        anchor_first_line: false,
        masked: false,
        secrets: Vec::new(),
    }
}
