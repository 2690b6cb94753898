//! How fast the app may talk to GitHub, per installation.
//!
//! Two things hold an installation's calls back, and only that
//! installation's: a rate limit GitHub answered (primary or secondary), which
//! pauses every call of the installation until GitHub's reset; and the pace of
//! content-creating calls (check runs, reviews, replies, mutations), which
//! GitHub limits to 80 a minute per installation before it starts answering
//! secondary rate limits. Waiting for one installation never delays another.
//!
//! GitHub counts an installation's content calls whichever instance of the
//! app makes them, so instances sharing a PostgreSQL store share the pace:
//! each paces itself at the pace divided by the live instances
//! ([`Pacing::share_among`]), which the server refreshes from the store
//! every few seconds.

use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whose limits a call counts against: the app itself (its JWT calls) or one
/// installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account {
    /// `/app/...` calls made with the app's JWT.
    App,
    /// Calls made with an installation's token.
    Installation(u64),
}

/// At most `calls` content-creating calls per installation in any window of
/// `window` (`HUNKSCAN_CONTENT_CALLS`, `HUNKSCAN_CONTENT_WINDOW_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentPace {
    /// Calls allowed per window.
    pub calls: u32,
    /// The window.
    pub window: Duration,
}

impl ContentPace {
    /// GitHub's documented secondary limit: 80 content-creating requests a
    /// minute.
    pub const GITHUB: ContentPace = ContentPace {
        calls: 80,
        window: Duration::from_secs(60),
    };

    /// The limiter's quota. A token bucket of burst `b` refilled every `t`
    /// lets through at most `b + window / t` calls in any window; the bucket
    /// is sized so that stays one below `calls`, leaving room for requests
    /// that arrive at GitHub closer together than they left.
    fn quota(self) -> Option<Quota> {
        let calls = self.calls.max(3);
        let burst = (calls / 4).max(1);
        let refills = calls - 1 - burst;
        let period = self.window / refills.max(1);
        Some(Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?))
    }
}

/// An installation paused by a rate limit, as the status page and logs show
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PausedAccount {
    /// Whose calls wait.
    pub account: Account,
    /// When GitHub said the limit resets.
    pub until: DateTime<Utc>,
}

/// This instance's share of the content pace: the limiter, and among how
/// many instances the pace is shared.
struct Share {
    instances: u32,
    limiter: Arc<DefaultKeyedRateLimiter<u64>>,
}

/// The pauses and the content pace of every installation.
pub struct Pacing {
    pace: Option<ContentPace>,
    content: Mutex<Option<Share>>,
    paused: Mutex<HashMap<Account, (Instant, DateTime<Utc>)>>,
}

impl Pacing {
    /// Pacing content-creating calls at `pace`, or not at all (`None`: a
    /// GitHub Enterprise Server without secondary limits, or a benchmark).
    pub fn new(pace: Option<ContentPace>) -> Self {
        let pacing = Self {
            pace,
            content: Mutex::new(None),
            paused: Mutex::new(HashMap::new()),
        };
        pacing.share_among(1);
        pacing
    }

    /// Paces this instance at the pace divided by `instances` (at least one),
    /// the instances now sharing the store and so GitHub's limit. A change
    /// starts a fresh bucket; answers whether the share changed. With more
    /// instances than calls in the window, each still gets the bucket's
    /// smallest size (two calls a window), which then exceeds the pace.
    pub fn share_among(&self, instances: u32) -> bool {
        let Some(pace) = self.pace else {
            return false;
        };
        let instances = instances.max(1);
        let mut content = self.content.lock().unwrap_or_else(|e| e.into_inner());
        if content
            .as_ref()
            .is_some_and(|share| share.instances == instances)
        {
            return false;
        }
        let share = ContentPace {
            calls: (pace.calls / instances).max(1),
            window: pace.window,
        };
        *content = share.quota().map(|quota| Share {
            instances,
            limiter: Arc::new(RateLimiter::dashmap(quota)),
        });
        true
    }

    fn limiter(&self) -> Option<Arc<DefaultKeyedRateLimiter<u64>>> {
        let content = self.content.lock().unwrap_or_else(|e| e.into_inner());
        content.as_ref().map(|share| Arc::clone(&share.limiter))
    }

    /// How long `account` is still paused, if it is.
    pub fn paused_for(&self, account: Account) -> Option<Duration> {
        let now = Instant::now();
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        match paused.get(&account) {
            Some((until, _)) if *until > now => Some(*until - now),
            Some(_) => {
                paused.remove(&account);
                None
            }
            None => None,
        }
    }

    /// Pauses every call of `account` for `wait` (extending a pause already
    /// running, never shortening it).
    pub fn pause(&self, account: Account, wait: Duration) {
        let until = Instant::now() + wait;
        let until_utc = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        let entry = paused.entry(account).or_insert((until, until_utc));
        if until > entry.0 {
            *entry = (until, until_utc);
        }
    }

    /// Waits for a content-creating slot of `installation`; answers how long
    /// it waited.
    pub async fn content_slot(&self, installation: u64) -> Duration {
        let Some(limiter) = self.limiter() else {
            return Duration::ZERO;
        };
        let started = Instant::now();
        limiter.until_key_ready(&installation).await;
        started.elapsed()
    }

    /// The accounts paused now, for operators.
    pub fn paused(&self) -> Vec<PausedAccount> {
        let now = Instant::now();
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        paused.retain(|_, (until, _)| *until > now);
        let mut list: Vec<PausedAccount> = paused
            .iter()
            .map(|(account, (_, until))| PausedAccount {
                account: *account,
                until: *until,
            })
            .collect();
        list.sort_by_key(|p| p.until);
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_never_lets_more_than_the_pace_through_in_a_window() {
        for calls in [3u32, 4, 8, 20, 80, 500] {
            let window = Duration::from_secs(60);
            let pace = ContentPace { calls, window };
            let quota = pace.quota().expect("a quota");
            let burst = quota.burst_size().get();
            let period = quota.replenish_interval();
            let most = burst as u128 + window.as_nanos() / period.as_nanos();
            assert!(
                most < calls as u128,
                "{calls}/min lets {most} through (burst {burst}, period {period:?})"
            );
            // And not needlessly slow: within a few calls of the pace.
            assert!(most + 3 >= calls as u128, "{calls}/min only lets {most}");
        }
    }

    #[test]
    fn a_pause_is_per_account_and_only_ever_extended() {
        let pacing = Pacing::new(None);
        pacing.pause(Account::Installation(1), Duration::from_secs(30));
        pacing.pause(Account::Installation(1), Duration::from_secs(5));
        let left = pacing
            .paused_for(Account::Installation(1))
            .expect("installation 1 is paused");
        assert!(left > Duration::from_secs(25), "{left:?}");
        assert_eq!(pacing.paused_for(Account::Installation(2)), None);
        assert_eq!(pacing.paused_for(Account::App), None);
        assert_eq!(pacing.paused().len(), 1);
    }

    #[tokio::test]
    async fn content_slots_are_paced_per_installation() {
        let pacing = Pacing::new(Some(ContentPace {
            calls: 8,
            window: Duration::from_millis(400),
        }));
        // Burst 2, then one every 80 ms: the tenth call of installation 1
        // waits, while installation 2's first calls do not.
        let started = Instant::now();
        for _ in 0..10 {
            pacing.content_slot(1).await;
        }
        let paced = started.elapsed();
        assert!(paced >= Duration::from_millis(500), "{paced:?}");
        let other = pacing.content_slot(2).await;
        assert!(other * 4 < paced, "installation 2 waited {other:?}");
    }

    /// Calls of `installation` let through at once, without waiting.
    fn immediate(pacing: &Pacing, installation: u64) -> usize {
        let limiter = pacing.limiter().expect("paced");
        (0..1000)
            .take_while(|_| limiter.check_key(&installation).is_ok())
            .count()
    }

    #[test]
    fn instances_sharing_a_store_share_the_pace() {
        let pacing = Pacing::new(Some(ContentPace {
            calls: 80,
            window: Duration::from_secs(60),
        }));
        // Alone: a burst of 20 (a quarter of 80).
        assert_eq!(immediate(&pacing, 1), 20);
        // Two instances: each gets half the pace, so half the burst.
        assert!(pacing.share_among(2));
        assert!(!pacing.share_among(2), "the same share is no change");
        assert_eq!(immediate(&pacing, 1), 10);
        // Zero live instances (the store not yet read) counts as one.
        assert!(pacing.share_among(0));
        assert_eq!(immediate(&pacing, 1), 20);
        // Unpaced stays unpaced.
        let unpaced = Pacing::new(None);
        assert!(!unpaced.share_among(2));
        assert!(unpaced.limiter().is_none());
    }
}
