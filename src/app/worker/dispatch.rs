//! Taking jobs from the store: a claim whenever a slot is free, a lease kept
//! alive while a job runs, and the delays between retries.

use super::publish::completion;
use super::{JobOutcome, Worker};
use crate::app::store::{Lease, Store, SupersededJob};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often an idle worker looks for jobs another instance stored (its own
/// process wakes it at once) or whose retry delay ran out.
const POLL: Duration = Duration::from_millis(500);

impl Worker {
    /// Claims jobs while a slot is free, until [`Worker::drain`] stops it.
    pub fn start(self: Arc<Self>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut stopping = self.stopping.subscribe();
            loop {
                if *stopping.borrow() {
                    return;
                }
                let slot = tokio::select! {
                    slot = Arc::clone(&self.slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => return,
                    },
                    _ = stopping.wait_for(|stop| *stop) => return,
                };
                let claimed = self
                    .store
                    .claim(&self.id, 1, self.options.lease, Utc::now())
                    .await;
                match claimed.map(|jobs| jobs.into_iter().next()) {
                    Ok(Some(job)) => {
                        let worker = Arc::clone(&self);
                        tokio::spawn(async move {
                            let _slot = slot;
                            worker.run(job).await
                        });
                    }
                    Ok(None) => {
                        drop(slot);
                        tokio::select! {
                            () = self.wake.notified() => {}
                            () = tokio::time::sleep(POLL) => {}
                            _ = stopping.wait_for(|stop| *stop) => return,
                        }
                    }
                    Err(error) => {
                        drop(slot);
                        tracing::error!(%error, "cannot claim jobs; trying again");
                        tokio::time::sleep(POLL * 2).await;
                    }
                }
            }
        })
    }

    /// Completes the check runs of jobs a newer push superseded before they
    /// ran (`neutral`, naming the new head); their jobs are already ended in
    /// the store.
    pub fn complete_superseded(self: &Arc<Self>, superseded: Vec<SupersededJob>, head: &str) {
        let with_checks: Vec<SupersededJob> = superseded
            .into_iter()
            .filter(|s| s.check_run_id.is_some())
            .collect();
        if with_checks.is_empty() {
            return;
        }
        let worker = Arc::clone(self);
        let head = head.to_owned();
        tokio::spawn(async move {
            for superseded in with_checks {
                let Some(check_id) = superseded.check_run_id else {
                    continue;
                };
                let job = &superseded.job;
                let github = worker.github.installation(job.installation_id);
                let update = completion(
                    "neutral",
                    "Superseded by a newer push",
                    &format!(
                        "A newer push made [`{head}`]({}/commit/{head}) the pull request's head; its own check run has the results.",
                        job.repo_url
                    ),
                );
                if let Err(error) = github
                    .patient()
                    .update_check_run(&job.repo, check_id, &update)
                    .await
                {
                    tracing::warn!(check_id, %error, "cannot complete a superseded check run");
                }
            }
        });
    }
}

/// Renews `lease` every third of its duration while the job runs; says on
/// `lost` when the store refuses (the lease expired or was taken over), or
/// when it cannot be reached until the lease has run out.
pub(super) async fn keep_lease(
    store: Arc<dyn Store>,
    lease: Lease,
    duration: Duration,
    lost: watch::Sender<bool>,
) {
    let period = (duration / 3).max(Duration::from_millis(50));
    let mut valid_until = tokio::time::Instant::now() + duration;
    loop {
        tokio::time::sleep(period).await;
        match store.renew(&lease, duration, Utc::now()).await {
            Ok(true) => valid_until = tokio::time::Instant::now() + duration,
            Ok(false) => {
                lost.send_replace(true);
                return;
            }
            Err(error) => {
                tracing::warn!(job = %lease.job_id, %error, "cannot renew the lease");
                if tokio::time::Instant::now() >= valid_until {
                    lost.send_replace(true);
                    return;
                }
            }
        }
    }
}

/// The wait before attempt `attempt + 1`: `base` doubling, at most 5 min,
/// with up to a fifth of jitter so retries of many jobs do not arrive
/// together.
pub(super) fn retry_delay(base: Duration, attempt: u32) -> Duration {
    let base = base.saturating_mul(1u32 << attempt.min(6).saturating_sub(1));
    let capped = base.min(Duration::from_secs(300));
    let nanos = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    );
    let jitter = capped.mul_f64((nanos % 1000) as f64 / 5000.0);
    capped + jitter
}

impl From<JobOutcome> for crate::app::store::Outcome {
    fn from(outcome: JobOutcome) -> Self {
        use crate::app::store::Outcome;
        match outcome {
            JobOutcome::Completed => Outcome::Completed,
            JobOutcome::Superseded => Outcome::Superseded,
            JobOutcome::SkippedDraft => Outcome::SkippedDraft,
            JobOutcome::Abandoned => Outcome::Abandoned,
            JobOutcome::Failed
            | JobOutcome::Retried
            | JobOutcome::LeaseLost
            | JobOutcome::Released => Outcome::Failed,
        }
    }
}
