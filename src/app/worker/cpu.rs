//! Where analyses run: threads that yield the CPU to the server.
//!
//! Analysis is CPU-bound and, with a long queue, keeps every core busy for
//! as long as the queue lasts. Acknowledging a delivery needs a few hundred
//! microseconds of CPU, and GitHub waits for it (every delivery's latency
//! shows in its delivery log, and it gives up after 10 s). At equal
//! priority a burst of pull requests made acknowledgements wait for the
//! analysis threads' time slices. Analyses therefore run on a pool of their
//! own whose threads have a higher nice value: when both want a core the
//! kernel prefers the server's threads, and when the server is idle the
//! analyses have every core. The engine's per-file scan threads are started
//! from these threads and inherit their nice value.

use std::panic::{AssertUnwindSafe, catch_unwind};
use tokio::sync::oneshot;

/// How much nicer analysis threads are than the server's threads: 10 more
/// weighs about a tenth as much when both are runnable.
const ANALYSIS_NICE: i32 = 10;

/// A pool of analysis threads.
pub struct AnalysisPool {
    pool: rayon::ThreadPool,
}

/// An analysis that panicked (its message) or whose pool stopped.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Crashed(pub String);

impl AnalysisPool {
    /// `threads` analysis threads (at least one).
    pub fn new(threads: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|index| format!("hunkscan-analysis-{index}"))
            .start_handler(|_| lower_this_threads_priority())
            .build()?;
        Ok(Self { pool })
    }

    /// Runs `work` on an analysis thread and waits for it without blocking
    /// the async threads. A panic is caught and answered as [`Crashed`], as
    /// `spawn_blocking` would (rayon would abort the process).
    pub async fn run<T, F>(&self, work: F) -> Result<T, Crashed>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        self.pool.spawn(move || {
            let _ = answer.send(catch_unwind(AssertUnwindSafe(work)));
        });
        match answered.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => Err(Crashed(panic_text(panic.as_ref()))),
            Err(_) => Err(Crashed("the analysis pool stopped".into())),
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the analysis panicked".into())
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // On Linux the nice value belongs to each thread, and PRIO_PROCESS with
    // `who` 0 names the calling thread; a new thread starts with its
    // creator's value. Raising one's own nice value needs no privilege;
    // failing to is harmless (the analysis then competes at equal
    // priority), so it is only logged.
    // SAFETY: errno is this thread's; getpriority and setpriority read no
    // memory of ours, their arguments are plain integers.
    let status = unsafe {
        // getpriority may return -1 as a value: errno tells an error.
        *libc::__errno_location() = 0;
        let current = libc::getpriority(libc::PRIO_PROCESS, 0);
        if current == -1 && *libc::__errno_location() != 0 {
            -1
        } else {
            libc::setpriority(libc::PRIO_PROCESS, 0, (current + ANALYSIS_NICE).min(19))
        }
    };
    if status != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "analysis thread keeps the default priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {
    // Elsewhere the nice value is per process: lowering it would slow the
    // server too, so analysis competes at equal priority.
    let _ = ANALYSIS_NICE;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_and_answers_a_panic_as_crashed() {
        let pool = AnalysisPool::new(1).expect("pool");
        assert_eq!(pool.run(|| 6 * 7).await.expect("ran"), 42);
        let crashed = pool
            .run(|| -> u32 { panic!("parser bug") })
            .await
            .expect_err("a panic is an error");
        assert_eq!(crashed.0, "parser bug");
        // The thread survives the panic and takes the next analysis.
        assert_eq!(pool.run(|| 1).await.expect("ran after a panic"), 1);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn analysis_threads_run_below_the_server() {
        let pool = AnalysisPool::new(1).expect("pool");
        // SAFETY: getpriority reads no memory of ours.
        let here = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let there = pool
            .run(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
            .await
            .expect("ran");
        assert_eq!(there, (here + ANALYSIS_NICE).min(19), "analysis nice value");
    }
}
