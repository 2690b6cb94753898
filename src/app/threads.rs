//! Which of the bot's earlier comments each current finding keeps.
//!
//! Several findings may share one identity (the same rule, code and scope
//! twice in one function), so a fingerprint alone cannot say which comment
//! is whose. Findings are matched to the bot's comments of their
//! fingerprint by the comment's current line (GitHub moves a comment with
//! its line; `null` once the line changed: outdated), then the rest in
//! order. Only findings left without a comment get a new one; only comments
//! left without a finding are resolved. A finding whose thread the BOT
//! resolved earlier (it was fixed, and is back) gets its thread reopened, or
//! a fresh comment when the old one is outdated; never silence. A thread a
//! person resolved stays resolved: that was their call.
//!
//! Pure, so the rules are tested here without GitHub.

use crate::engine::Finding;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One of the bot's top-level review comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// REST id.
    pub id: u64,
    /// Its file.
    pub path: String,
    /// Its current line; `None` when outdated.
    pub line: Option<u32>,
    /// The fingerprints its marker covers.
    pub fingerprints: Vec<String>,
}

/// The state of a comment's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThreadState {
    /// Resolved.
    pub resolved: bool,
    /// Resolved by the bot itself (its finding was fixed).
    pub by_bot: bool,
}

/// A current finding and the line its comment would sit on (`None` when
/// no line of it can take a comment).
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// The finding.
    pub finding: &'a Finding,
    /// Its anchor line.
    pub line: Option<u32>,
}

/// What to do.
#[derive(Debug, Default)]
pub struct Matching<'a> {
    /// Findings that need a comment (new, or back with an outdated thread).
    pub to_post: Vec<&'a Finding>,
    /// Findings that keep a comment.
    pub kept: usize,
    /// Comments whose thread to reopen.
    pub reopen: Vec<u64>,
    /// Comments left without a finding (to resolve unless resolved).
    pub gone: Vec<u64>,
}

/// Matches `findings` to `posted` (see the module's doc). `threads` maps a
/// comment id to its thread's state (absent: open). Comments on
/// `skipped_paths` are never gone: their file was not analysed this time.
pub fn match_findings<'a>(
    findings: &[Current<'a>],
    posted: &[Posted],
    threads: &HashMap<u64, ThreadState>,
    skipped_paths: &HashSet<&str>,
) -> Matching<'a> {
    let mut matching = Matching::default();
    let mut by_fingerprint: BTreeMap<&str, Vec<&Current<'a>>> = BTreeMap::new();
    for current in findings {
        by_fingerprint
            .entry(current.finding.fingerprint.as_str())
            .or_default()
            .push(current);
    }
    let mut used: HashSet<u64> = HashSet::new();
    for (fingerprint, mut currents) in by_fingerprint {
        currents.sort_by_key(|c| (c.line.is_none(), c.line, c.finding.start));
        // Current comments first (in line order), then outdated ones.
        let mut comments: Vec<&Posted> = posted
            .iter()
            .filter(|p| p.fingerprints.iter().any(|f| f == fingerprint))
            .collect();
        comments.sort_by_key(|p| (p.line.is_none(), p.line, p.id));
        let mut pairs: Vec<(&Current<'a>, &Posted)> = Vec::new();
        let mut free: Vec<&Current<'a>> = Vec::new();
        for current in currents {
            let exact = comments
                .iter()
                .position(|p| p.line.is_some() && p.line == current.line);
            match exact {
                Some(at) => pairs.push((current, comments.remove(at))),
                None => free.push(current),
            }
        }
        for current in free {
            if comments.is_empty() {
                matching.to_post.push(current.finding);
            } else {
                pairs.push((current, comments.remove(0)));
            }
        }
        for (current, comment) in pairs {
            used.insert(comment.id);
            let state = threads.get(&comment.id).copied().unwrap_or_default();
            match (state.resolved && state.by_bot, comment.line.is_some()) {
                (true, true) => {
                    matching.reopen.push(comment.id);
                    matching.kept += 1;
                }
                (true, false) => matching.to_post.push(current.finding),
                (false, _) => matching.kept += 1,
            }
        }
    }
    matching.gone = posted
        .iter()
        .filter(|p| !used.contains(&p.id) && !skipped_paths.contains(p.path.as_str()))
        .map(|p| p.id)
        .collect();
    matching.reopen.sort_unstable();
    matching.reopen.dedup();
    matching
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{AnalyzerKind, ChangeKind, Confidence, Position, Severity};

    fn finding(fingerprint: &str, line: u32) -> Finding {
        Finding {
            rule_id: "python.os-system".into(),
            analyzer: AnalyzerKind::Sast,
            severity: Severity::High,
            confidence: Confidence::High,
            cwe: None,
            path: "app.py".into(),
            start: Position { line, column: 1 },
            end: Position { line, column: 9 },
            message: String::new(),
            remediation: None,
            fix: None,
            fingerprint: fingerprint.into(),
            change: ChangeKind::New,
            suppression: None,
            snippet: String::new(),
            flow: Vec::new(),
        }
    }

    fn posted(id: u64, line: Option<u32>, fingerprints: &[&str]) -> Posted {
        Posted {
            id,
            path: "app.py".into(),
            line,
            fingerprints: fingerprints.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    fn currents(findings: &[Finding]) -> Vec<Current<'_>> {
        findings
            .iter()
            .map(|finding| Current {
                finding,
                line: Some(finding.end.line),
            })
            .collect()
    }

    #[test]
    fn an_identical_pattern_inserted_above_gets_one_comment_and_moves_none() {
        // The commented finding moved from line 10 to 14 (GitHub moved its
        // comment along); the same code, same scope, is now at 10 too.
        let findings = [finding("aa", 10), finding("aa", 14)];
        let posted = [posted(1, Some(14), &["aa"])];
        let m = match_findings(
            &currents(&findings),
            &posted,
            &HashMap::new(),
            &HashSet::new(),
        );
        assert_eq!(m.to_post.len(), 1);
        assert_eq!(m.to_post[0].start.line, 10, "the new one");
        assert_eq!((m.kept, m.gone.len(), m.reopen.len()), (1, 0, 0));
    }

    #[test]
    fn moved_code_keeps_its_outdated_comment() {
        let findings = [finding("aa", 30)];
        let posted = [posted(1, None, &["aa"])];
        let m = match_findings(
            &currents(&findings),
            &posted,
            &HashMap::new(),
            &HashSet::new(),
        );
        assert!(m.to_post.is_empty() && m.gone.is_empty());
        assert_eq!(m.kept, 1);
    }

    #[test]
    fn reintroduced_findings_reopen_or_repost_and_human_resolutions_stand() {
        let findings = [finding("aa", 5), finding("bb", 7), finding("cc", 9)];
        let posted = [
            posted(1, Some(5), &["aa"]),
            posted(2, None, &["bb"]),
            posted(3, Some(9), &["cc"]),
            posted(4, Some(12), &["dd"]),
        ];
        let bot = ThreadState {
            resolved: true,
            by_bot: true,
        };
        let human = ThreadState {
            resolved: true,
            by_bot: false,
        };
        let threads = HashMap::from([(1, bot), (2, bot), (3, human)]);
        let m = match_findings(&currents(&findings), &posted, &threads, &HashSet::new());
        assert_eq!(
            m.reopen,
            vec![1],
            "a current thread the bot resolved reopens"
        );
        assert_eq!(m.to_post.len(), 1, "an outdated one gets a fresh comment");
        assert_eq!(m.to_post[0].fingerprint, "bb");
        assert_eq!(m.kept, 2, "the reopened one and the human-resolved one");
        assert_eq!(m.gone, vec![4]);
    }

    #[test]
    fn one_comment_covers_every_fingerprint_of_its_marker_and_skips_protect() {
        let findings = [finding("aa", 5), finding("bb", 5)];
        let posted = [
            posted(1, Some(5), &["aa", "bb"]),
            Posted {
                path: "skipped.py".into(),
                ..posted(2, Some(1), &["ee"])
            },
        ];
        let skipped = HashSet::from(["skipped.py"]);
        let m = match_findings(&currents(&findings), &posted, &HashMap::new(), &skipped);
        assert!(m.to_post.is_empty() && m.gone.is_empty(), "{m:?}");
        assert_eq!(m.kept, 2);
    }
}
