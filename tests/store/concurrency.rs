//! Many claimers at once, across several instances of the store: no job is
//! handed out twice, and no two jobs of one pull request run at once.

use crate::harness::{Db, MINUTE, add, job, t};
use hunkscan::app::store::Outcome;
use hunkscan::app::webhook::{Job, Trigger};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub async fn concurrent_claimers_never_share_a_job(db: &Db) {
    const JOBS: u64 = 60;
    // Three instances on one database, four claimers each.
    let stores = [db.open().await, db.open().await, db.open().await];
    for n in 0..JOBS {
        add(
            stores[0].as_ref(),
            &job(&format!("j{n}"), n, "h", Trigger::PullRequest),
            t(n as i64),
        )
        .await;
    }
    let mut tasks = Vec::new();
    for claimer in 0..12 {
        let store = Arc::clone(&stores[claimer % stores.len()]);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..100 {
                let claimed = store
                    .claim(&format!("w{claimer}"), 3, 10 * MINUTE, t(1000))
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    break;
                }
                mine.extend(claimed.into_iter().map(|c| c.job.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("claimer"));
    }
    all.sort();
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "a job was claimed twice: {all:?}"
    );
    assert_eq!(all.len() as u64, JOBS, "every job was claimed");
    let stats = stores[1].stats(t(1000)).await.expect("stats");
    assert_eq!((stats.queued, stats.running), (0, JOBS));
}

pub async fn concurrent_claimers_take_one_job_per_pull_request(db: &Db) {
    let stores = [db.open().await, db.open().await];
    for round in 0..3 {
        for pull in 0..10u64 {
            add(
                stores[0].as_ref(),
                &job(
                    &format!("p{pull}-{round}"),
                    pull,
                    &format!("h{round}"),
                    Trigger::PullRequest,
                ),
                t(round * 100 + pull as i64),
            )
            .await;
        }
    }
    let mut tasks = Vec::new();
    for claimer in 0..8 {
        let store = Arc::clone(&stores[claimer % stores.len()]);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..50 {
                let claimed = store
                    .claim(&format!("w{claimer}"), 4, 10 * MINUTE, t(1000))
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    break;
                }
                mine.extend(claimed.into_iter().map(|c| (c.job.number, c.job.id)));
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.expect("claimer"));
    }
    claimed.sort();
    let expected: Vec<(u64, String)> = (0..10).map(|pull| (pull, format!("p{pull}-0"))).collect();
    assert_eq!(
        claimed, expected,
        "exactly the oldest job of each pull request, once"
    );
}

pub async fn claimers_with_different_clocks_take_one_job_per_pull_request(db: &Db) {
    // Each pull request has an older job delayed until 150 and a newer one
    // runnable now: a claimer at 100 picks the newer, one at 200 the older.
    // Racing, they pick *different* rows of one pull request; the store
    // must still hand out only one of them.
    const PULLS: u64 = 40;
    let stores = [db.open().await, db.open().await];
    let older: Vec<Job> = (0..PULLS)
        .map(|pull| job(&format!("old{pull}"), pull, "h1", Trigger::PullRequest))
        .collect();
    stores[0]
        .enqueue("old", &older, t(0))
        .await
        .expect("enqueue");
    let claimed = stores[0]
        .claim("setup", PULLS as usize, MINUTE, t(0))
        .await
        .expect("claim");
    assert_eq!(claimed.len() as u64, PULLS);
    for job in &claimed {
        assert!(
            stores[0]
                .retry_later(&job.lease, t(150), "rate_limited")
                .await
                .expect("retry")
        );
    }
    let newer: Vec<Job> = (0..PULLS)
        .map(|pull| job(&format!("new{pull}"), pull, "h2", Trigger::PullRequest))
        .collect();
    stores[0]
        .enqueue("new", &newer, t(1))
        .await
        .expect("enqueue");

    let mut tasks = Vec::new();
    for claimer in 0..8 {
        let store = Arc::clone(&stores[claimer % stores.len()]);
        let now = if claimer % 2 == 0 { t(100) } else { t(200) };
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..200 {
                let claimed = store
                    .claim(&format!("w{claimer}"), 1, 10 * MINUTE, now)
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    break;
                }
                mine.extend(claimed.into_iter().map(|c| (c.job.number, c.job.id)));
            }
            mine
        }));
    }
    let mut per_pull: HashMap<u64, Vec<String>> = HashMap::new();
    for task in tasks {
        for (pull, id) in task.await.expect("claimer") {
            per_pull.entry(pull).or_default().push(id);
        }
    }
    for pull in 0..PULLS {
        assert_eq!(
            per_pull.get(&pull).map(Vec::len),
            Some(1),
            "pull request {pull} ran {:?}",
            per_pull.get(&pull)
        );
    }
}

pub async fn jobs_of_one_pull_request_never_run_at_once(db: &Db) {
    const PULLS: u64 = 4;
    const PER_PULL: u64 = 6;
    let stores = [db.open().await, db.open().await];
    for round in 0..PER_PULL {
        for pull in 0..PULLS {
            add(
                stores[0].as_ref(),
                &job(
                    &format!("p{pull}-{round}"),
                    pull,
                    &format!("h{round}"),
                    Trigger::PullRequest,
                ),
                t((round * PULLS + pull) as i64),
            )
            .await;
        }
    }
    let holding: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for claimer in 0..6 {
        let store = Arc::clone(&stores[claimer % stores.len()]);
        let holding = Arc::clone(&holding);
        let finished = Arc::clone(&finished);
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for _ in 0..2000 {
                if finished.load(Ordering::SeqCst) == (PULLS * PER_PULL) as usize {
                    break;
                }
                let claimed = store
                    .claim(&format!("w{claimer}"), 2, 10 * MINUTE, t(1000))
                    .await
                    .expect("claim");
                for job in &claimed {
                    // Held from the claim until just before completion: if
                    // the store let two jobs of one pull request run, this
                    // insert finds the other one's mark.
                    assert!(
                        holding.lock().expect("set").insert(job.job.number),
                        "two jobs of pull request {} ran at once",
                        job.job.number
                    );
                }
                tokio::task::yield_now().await;
                for job in claimed {
                    holding.lock().expect("set").remove(&job.job.number);
                    assert!(
                        store
                            .complete(&job.lease, Outcome::Completed, t(1000))
                            .await
                            .expect("complete")
                    );
                    finished.fetch_add(1, Ordering::SeqCst);
                    done.push(job.job.id);
                }
            }
            done
        }));
    }
    let mut done = Vec::new();
    for task in tasks {
        done.extend(task.await.expect("claimer"));
    }
    done.sort();
    let mut expected: Vec<String> = (0..PULLS)
        .flat_map(|pull| (0..PER_PULL).map(move |round| format!("p{pull}-{round}")))
        .collect();
    expected.sort();
    assert_eq!(done, expected, "every job ran exactly once");
}
