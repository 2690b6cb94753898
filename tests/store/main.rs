//! The durable job store, one suite run against both implementations:
//! SQLite in a temporary directory, and PostgreSQL in a fresh schema per
//! test when `HUNKSCAN_TEST_DATABASE_URL` names a database (otherwise the
//! PostgreSQL tests say on stderr that they were skipped).
//!
//! Time is an argument of the store, so every test runs on a made-up clock:
//! leases expire because a later `now` is passed, never by sleeping.

mod concurrency;
mod connect;
mod harness;
mod license_cache;

use concurrency::*;
use harness::{Db, MINUTE, add, claim, ids, job, t};
use hunkscan::app::queue::Submitted;
use hunkscan::app::store::{self, JobState, Outcome, Store, StoreStats};
use hunkscan::app::webhook::Trigger;
use license_cache::*;
use std::sync::Arc;
use std::time::Duration;

async fn enqueue_is_idempotent_across_a_reopen(db: &Db) {
    let store = db.open().await;
    let first = job("d1", 1, "h1", Trigger::PullRequest);
    let d1 = std::slice::from_ref(&first);
    assert_eq!(
        store.enqueue("d1", d1, t(0)).await.expect("enqueue"),
        vec![Submitted::Queued]
    );
    assert_eq!(
        store.enqueue("d1", d1, t(1)).await.expect("enqueue"),
        vec![Submitted::DuplicateDelivery],
        "a redelivery is a no-op"
    );
    assert_eq!(
        store
            .enqueue("d2", &[job("d2", 1, "h1", Trigger::SuiteRequested)], t(2))
            .await
            .expect("enqueue"),
        vec![Submitted::SameHeadQueued],
        "check_suite.requested after pull_request.synchronize is the same push"
    );
    assert_eq!(
        store
            .enqueue("d3", &[job("d3", 1, "h1", Trigger::Rerun)], t(3))
            .await
            .expect("enqueue"),
        vec![Submitted::Queued],
        "a re-run always runs"
    );
    let d4 = [
        job("d4#2", 2, "h2", Trigger::SuiteRequested),
        job("d4#1", 1, "h1", Trigger::SuiteRequested),
    ];
    assert_eq!(
        store.enqueue("d4", &d4, t(4)).await.expect("enqueue"),
        vec![Submitted::Queued, Submitted::SameHeadQueued],
        "one answer per job, in order"
    );
    assert_eq!(
        store.enqueue("d5", &[], t(5)).await.expect("enqueue"),
        Vec::<Submitted>::new()
    );
    store.close().await;
    drop(store);

    let store = db.open().await;
    assert_eq!(
        store.enqueue("d1", d1, t(10)).await.expect("enqueue"),
        vec![Submitted::DuplicateDelivery],
        "a redelivery after a restart is still a no-op"
    );
    assert_eq!(
        store.enqueue("d4", &d4, t(10)).await.expect("enqueue"),
        vec![Submitted::DuplicateDelivery, Submitted::SameHeadQueued]
    );
    for delivery in ["d1", "d2", "d3", "d4", "d5"] {
        assert!(
            store.knows_delivery(delivery).await.expect("knows"),
            "{delivery} was received, even if none of its jobs was new"
        );
    }
    assert!(!store.knows_delivery("d6").await.expect("knows"));

    let claimed = claim(store.as_ref(), "w", t(20)).await;
    assert_eq!(
        ids(&claimed),
        ["d1", "d4#2"],
        "d3 waits for d1 (same pull request)"
    );
    assert_eq!(claimed[0].job, first, "the job comes back whole");
    let stats = store.stats(t(20)).await.expect("stats");
    assert_eq!((stats.queued, stats.running), (1, 2));
}

async fn claims_lease_renew_and_take_over_expired_leases(db: &Db) {
    let store = db.open().await;
    let store = store.as_ref();
    add(store, &job("a", 1, "h1", Trigger::PullRequest), t(0)).await;
    add(store, &job("b", 2, "h1", Trigger::PullRequest), t(1)).await;

    let a = store.claim("w1", 1, MINUTE, t(10)).await.expect("claim");
    assert_eq!(ids(&a), ["a"], "oldest first, at most the limit");
    let a = a[0].clone();
    assert_eq!(a.lease.worker, "w1");
    assert_eq!(a.lease.attempt, 1);
    assert_eq!(a.lease_until, t(70));
    assert_eq!(a.enqueued_at, t(0));
    assert_eq!(a.last_error, None);
    assert_eq!(a.written, store::Written::default());
    let b = store.claim("w2", 1, MINUTE, t(10)).await.expect("claim");
    assert_eq!(ids(&b), ["b"]);
    let b = b[0].clone();
    assert!(
        claim(store, "w3", t(10)).await.is_empty(),
        "both are leased"
    );

    assert!(store.renew(&a.lease, MINUTE, t(50)).await.expect("renew"));
    // At 100, a's renewed lease (until 110) is live, b's (until 70) is not:
    // b's worker is presumed dead and b is taken over.
    let taken = claim(store, "w3", t(100)).await;
    assert_eq!(ids(&taken), ["b"]);
    let b2 = taken[0].clone();
    assert_eq!((b2.lease.worker.as_str(), b2.lease.attempt), ("w3", 2));
    assert_eq!(b2.last_error.as_deref(), Some("lease_expired"));
    assert!(!store.renew(&b.lease, MINUTE, t(100)).await.expect("renew"));
    assert!(
        !store.record_check_run(&b.lease, 7).await.expect("record"),
        "a lost lease writes nothing"
    );
    assert!(
        !store
            .complete(&b.lease, Outcome::Completed, t(100))
            .await
            .expect("complete")
    );
    assert!(
        store
            .complete(&b2.lease, Outcome::Completed, t(101))
            .await
            .expect("complete")
    );

    assert!(
        !store.renew(&a.lease, MINUTE, t(111)).await.expect("renew"),
        "an expired lease cannot be renewed"
    );
    assert!(
        store
            .complete(&a.lease, Outcome::Failed, t(112))
            .await
            .expect("complete"),
        "nobody took a over: its outcome still counts"
    );

    let a = store.job("a").await.expect("job").expect("a is stored");
    assert_eq!(
        (a.state, a.outcome, a.attempts, a.finished_at),
        (JobState::Done, Some(Outcome::Failed), 1, Some(t(112)))
    );
    let b = store.job("b").await.expect("job").expect("b is stored");
    assert_eq!(
        (b.state, b.outcome, b.attempts, b.lease_owner.as_deref()),
        (JobState::Done, Some(Outcome::Completed), 2, Some("w3"))
    );
    let stats = store.stats(t(120)).await.expect("stats");
    assert_eq!(
        (stats.queued, stats.running, stats.lease_expiries),
        (0, 0, 1)
    );
    assert!(
        claim(store, "w4", t(10_000)).await.is_empty(),
        "done is done"
    );
    assert!(store.job("nope").await.expect("job").is_none());
}

async fn jobs_of_one_pull_request_run_one_after_another(db: &Db) {
    let store = db.open().await;
    let store = store.as_ref();
    add(store, &job("a", 1, "h1", Trigger::PullRequest), t(0)).await;
    add(store, &job("b", 1, "h2", Trigger::PullRequest), t(1)).await;
    add(store, &job("c", 2, "h1", Trigger::PullRequest), t(2)).await;
    let first = claim(store, "w", t(10)).await;
    assert_eq!(ids(&first), ["a", "c"], "one job per pull request");
    assert!(claim(store, "w", t(11)).await.is_empty(), "b waits for a");
    assert!(
        store
            .complete(&first[1].lease, Outcome::Completed, t(20))
            .await
            .expect("complete")
    );
    let again = claim(store, "w2", t(71)).await;
    assert_eq!(
        ids(&again),
        ["a"],
        "an expired a is taken over before b starts"
    );
    assert!(
        store
            .complete(&again[0].lease, Outcome::Completed, t(72))
            .await
            .expect("complete")
    );
    assert_eq!(ids(&claim(store, "w", t(73)).await), ["b"]);
}

async fn supersede_ends_older_heads_not_held_by_a_live_lease(db: &Db) {
    let store = db.open().await;
    let store = store.as_ref();
    let repo = job("x", 1, "h", Trigger::PullRequest).repo;
    add(store, &job("a", 1, "h1", Trigger::PullRequest), t(0)).await;
    let a = claim(store, "w1", t(1)).await;
    assert_eq!(ids(&a), ["a"]);
    assert!(
        store
            .record_check_run(&a[0].lease, 501)
            .await
            .expect("record")
    );
    add(store, &job("b", 1, "h2", Trigger::PullRequest), t(2)).await;
    add(store, &job("c", 1, "h3", Trigger::PullRequest), t(3)).await;
    add(store, &job("e", 3, "h1", Trigger::PullRequest), t(4)).await;
    let e = claim(store, "w2", t(5)).await;
    assert_eq!(ids(&e), ["e"], "a still holds pull request 1");

    // a's lease (until 61) has expired; b is queued; c is the current head.
    let superseded = store
        .supersede(&repo, 1, "h3", t(100))
        .await
        .expect("supersede");
    let ended: Vec<(&str, Option<u64>)> = superseded
        .iter()
        .map(|s| (s.job.id.as_str(), s.check_run_id))
        .collect();
    assert_eq!(ended, [("a", Some(501)), ("b", None)]);
    let a_record = store.job("a").await.expect("job").expect("stored");
    assert_eq!(
        (
            a_record.state,
            a_record.outcome,
            a_record.superseded_by.as_deref()
        ),
        (JobState::Done, Some(Outcome::Superseded), Some("h3"))
    );
    assert!(
        !store
            .complete(&a[0].lease, Outcome::Completed, t(100))
            .await
            .expect("complete"),
        "a superseded job's old worker cannot complete it"
    );
    assert_eq!(
        store
            .supersede(&repo, 1, "h3", t(100))
            .await
            .expect("supersede"),
        Vec::new(),
        "nothing left to supersede"
    );

    // e holds a live lease: its worker is the only writer of its check run.
    assert!(
        store
            .supersede(&repo, 3, "h9", t(30))
            .await
            .expect("supersede")
            .is_empty()
    );
    assert!(
        store
            .renew(&e[0].lease, MINUTE, t(31))
            .await
            .expect("renew")
    );
    assert!(
        store
            .complete(&e[0].lease, Outcome::Completed, t(40))
            .await
            .expect("complete")
    );
    assert_eq!(ids(&claim(store, "w3", t(101)).await), ["c"]);
}

async fn retry_later_waits_and_counts(db: &Db) {
    let store = db.open().await;
    let store = store.as_ref();
    add(store, &job("a", 1, "h1", Trigger::PullRequest), t(0)).await;
    let first = claim(store, "w1", t(1)).await;
    assert!(
        store
            .retry_later(&first[0].lease, t(61), "rate_limited")
            .await
            .expect("retry")
    );
    let stats = store.stats(t(2)).await.expect("stats");
    assert_eq!(
        (stats.queued, stats.running, stats.retries),
        (1, 0, 1),
        "a delayed job is still waiting"
    );
    assert!(claim(store, "w2", t(60)).await.is_empty(), "not before 61");
    let second = claim(store, "w2", t(61)).await;
    assert_eq!(ids(&second), ["a"]);
    assert_eq!(second[0].lease.attempt, 2);
    assert_eq!(second[0].last_error.as_deref(), Some("rate_limited"));
    assert_eq!(
        second[0].enqueued_at,
        t(0),
        "the age counts from the first enqueue"
    );
    assert!(
        !store
            .retry_later(&first[0].lease, t(70), "rate_limited")
            .await
            .expect("retry"),
        "only the current claim can re-queue"
    );

    assert!(
        store
            .release(&second[0].lease, t(62))
            .await
            .expect("release")
    );
    let third = claim(store, "w3", t(62)).await;
    assert_eq!(ids(&third), ["a"], "a released job is claimable at once");
    assert_eq!(third[0].last_error.as_deref(), Some("released"));
    let record = store.job("a").await.expect("job").expect("stored");
    assert_eq!(
        (record.attempts, record.retries),
        (3, 1),
        "a release is no retry"
    );
}

async fn recorded_writes_survive_a_reopen(db: &Db) {
    let store = db.open().await;
    add(
        store.as_ref(),
        &job("a", 1, "h1", Trigger::PullRequest),
        t(0),
    )
    .await;
    add(
        store.as_ref(),
        &job("b", 2, "h1", Trigger::PullRequest),
        t(0),
    )
    .await;
    let first = claim(store.as_ref(), "w1", t(1)).await;
    assert_eq!(ids(&first), ["a", "b"]);
    let big_id = 9_000_000_001_u64;
    assert!(
        store
            .record_check_run(&first[0].lease, big_id)
            .await
            .expect("record")
    );
    let fingerprints = vec!["fp-1".to_owned(), "fp-2".to_owned()];
    assert!(
        store
            .record_review(&first[0].lease, &fingerprints)
            .await
            .expect("record")
    );
    assert!(
        store
            .record_check_run(&first[1].lease, 77)
            .await
            .expect("record")
    );
    // The process dies: nothing completed, leases run out.
    store.close().await;
    drop(store);

    let store = db.open().await;
    let resumed = claim(store.as_ref(), "w2", t(100)).await;
    assert_eq!(ids(&resumed), ["a", "b"]);
    assert_eq!(resumed[0].written.check_run_id, Some(big_id));
    assert_eq!(resumed[0].written.review, Some(fingerprints));
    assert_eq!(resumed[1].written.check_run_id, Some(77));
    assert_eq!(resumed[1].written.review, None, "b posted no review yet");
    assert!(
        !store
            .record_check_run(&first[0].lease, 1)
            .await
            .expect("record"),
        "the dead worker's lease writes nothing"
    );
    assert!(
        store
            .record_review(&resumed[1].lease, &[])
            .await
            .expect("record")
    );
    let b = store.job("b").await.expect("job").expect("stored");
    assert_eq!(
        b.written,
        store::Written {
            check_run_id: Some(77),
            review: Some(Vec::new())
        },
        "a review without comments is still a posted review"
    );
}

async fn prune_removes_old_finished_jobs_and_keeps_totals(db: &Db) {
    let store = db.open().await;
    let store = store.as_ref();
    for (id, pull) in [("a", 1), ("b", 2), ("c", 3)] {
        add(store, &job(id, pull, "h1", Trigger::PullRequest), t(0)).await;
    }
    store.enqueue("empty", &[], t(0)).await.expect("enqueue");
    let claimed = store
        .claim("w", 10, Duration::from_secs(10), t(1))
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), ["a", "b", "c"]);
    assert!(
        store
            .complete(&claimed[0].lease, Outcome::Completed, t(10))
            .await
            .expect("complete")
    );
    assert!(
        store
            .retry_later(&claimed[2].lease, t(30), "github_unavailable")
            .await
            .expect("retry")
    );
    let b = claim(store, "w2", t(20)).await;
    assert_eq!(ids(&b), ["b"], "b's lease expired at 11: taken over");
    assert!(
        store
            .complete(&b[0].lease, Outcome::Completed, t(21))
            .await
            .expect("complete")
    );
    let before = store.stats(t(22)).await.expect("stats");
    assert_eq!((before.lease_expiries, before.retries), (1, 1));

    assert_eq!(store.prune(t(15)).await.expect("prune"), 1, "only a");
    assert!(store.job("a").await.expect("job").is_none());
    assert!(
        store.job("b").await.expect("job").is_some(),
        "b finished at 21"
    );
    assert!(!store.knows_delivery("a").await.expect("knows"));
    assert!(!store.knows_delivery("empty").await.expect("knows"));
    assert!(store.knows_delivery("b").await.expect("knows"));
    assert!(store.knows_delivery("c").await.expect("knows"));

    assert_eq!(store.prune(t(100)).await.expect("prune"), 1, "then b");
    assert!(
        store.job("c").await.expect("job").is_some(),
        "a waiting job is never pruned"
    );
    let after = store.stats(t(100)).await.expect("stats");
    assert_eq!(
        (after.queued, after.lease_expiries, after.retries),
        (1, 1, 1),
        "totals survive the pruning of the jobs they came from"
    );
    assert_eq!(ids(&claim(store, "w3", t(100)).await), ["c"]);
}

async fn the_lock_has_one_holder_and_expires(db: &Db) {
    let one = db.open().await;
    let two = db.open().await;
    let lock = |store: &Arc<dyn Store>, holder: &'static str, at: i64| {
        let store = Arc::clone(store);
        async move {
            store
                .try_lock("reconciler", holder, MINUTE, t(at))
                .await
                .expect("try_lock")
        }
    };
    assert!(lock(&one, "i1", 0).await);
    assert!(!lock(&two, "i2", 1).await, "held by i1");
    assert!(
        lock(&one, "i1", 30).await,
        "its holder renews it (until 90)"
    );
    assert!(!lock(&two, "i2", 61).await, "the renewal holds");
    assert!(lock(&two, "i2", 90).await, "an expired lock is taken over");
    assert!(!lock(&one, "i1", 91).await);
    assert!(
        two.try_lock("other", "i1", MINUTE, t(91))
            .await
            .expect("try_lock"),
        "locks are independent"
    );
    assert!(!one.unlock("reconciler", "i1").await.expect("unlock"));
    assert!(two.unlock("reconciler", "i2").await.expect("unlock"));
    assert!(lock(&one, "i1", 92).await, "free again once given up");
}

async fn live_instances_are_counted_by_their_locks(db: &Db) {
    let one = db.open().await;
    let two = db.open().await;
    let live = |store: &Arc<dyn Store>, at: i64| {
        let store = Arc::clone(store);
        async move {
            store
                .live_locks("instance:", t(at))
                .await
                .expect("live_locks")
        }
    };
    assert_eq!(live(&one, 0).await, 0);
    assert!(
        one.try_lock("instance:a", "a", MINUTE, t(0))
            .await
            .expect("lock")
    );
    assert!(
        two.try_lock("instance:b", "b", MINUTE, t(30))
            .await
            .expect("lock")
    );
    // Other locks are not instances.
    assert!(
        one.try_lock("reconciler", "a", MINUTE, t(0))
            .await
            .expect("lock")
    );
    assert_eq!(live(&two, 31).await, 2, "both instances, seen from either");
    assert_eq!(
        live(&one, 60).await,
        1,
        "a's lease ran out: it stopped saying it is alive"
    );
    assert!(two.unlock("instance:b", "b").await.expect("unlock"));
    assert_eq!(live(&one, 61).await, 0, "b left");
}

async fn stats_count_waiting_running_and_age(db: &Db) {
    let store = db.open().await;
    let store = store.as_ref();
    store.health().await.expect("health");
    assert_eq!(
        store.stats(t(0)).await.expect("stats"),
        StoreStats::default()
    );
    add(store, &job("a", 1, "h", Trigger::PullRequest), t(10)).await;
    add(store, &job("b", 2, "h", Trigger::PullRequest), t(20)).await;
    add(store, &job("c", 3, "h", Trigger::PullRequest), t(30)).await;
    let stats = store.stats(t(40)).await.expect("stats");
    assert_eq!(
        stats,
        StoreStats {
            queued: 3,
            oldest_queued_age: Some(Duration::from_secs(30)),
            running: 0,
            lease_expiries: 0,
            retries: 0,
        }
    );
    let a = store.claim("w", 1, MINUTE, t(40)).await.expect("claim");
    assert_eq!(ids(&a), ["a"]);
    let stats = store.stats(t(40)).await.expect("stats");
    assert_eq!(
        (stats.queued, stats.oldest_queued_age, stats.running),
        (2, Some(Duration::from_secs(20)), 1)
    );
    let stats = store.stats(t(101)).await.expect("stats");
    assert_eq!(
        (stats.queued, stats.oldest_queued_age, stats.running),
        (3, Some(Duration::from_secs(91)), 0),
        "a job under an expired lease is waiting again"
    );
}

async fn recent_deliveries_and_jobs_newest_first(db: &Db) {
    let store = db.open().await;
    let store = store.as_ref();
    add(store, &job("a", 1, "h1", Trigger::PullRequest), t(10)).await;
    add(store, &job("b", 2, "h2", Trigger::PullRequest), t(20)).await;
    let record = |id: &str, outcome: &str, at: i64| store::DeliveryRecord {
        id: id.to_owned(),
        event: "pull_request".to_owned(),
        outcome: outcome.to_owned(),
        received_at: t(at),
        ack: Some(Duration::from_millis(7)),
    };
    assert!(
        store
            .recent_deliveries(10)
            .await
            .expect("deliveries")
            .is_empty(),
        "deliveries without a recorded outcome are not listed"
    );
    // "a" was stored by enqueue: recording keeps its first reception time.
    // One batch, as the server's delivery log writes them: the later
    // record of "p" wins.
    store
        .record_deliveries(&[
            record("a", "accepted", 11),
            record("p", "pong", 30),
            record("p", "duplicate", 31),
        ])
        .await
        .expect("record");
    let listed = store.recent_deliveries(10).await.expect("deliveries");
    assert_eq!(
        listed,
        vec![
            store::DeliveryRecord {
                outcome: "duplicate".to_owned(),
                ..record("p", "", 30)
            },
            record("a", "accepted", 10),
        ]
    );
    assert_eq!(
        store.recent_deliveries(1).await.expect("deliveries").len(),
        1
    );
    assert!(store.knows_delivery("p").await.expect("knows"));

    let lease = &store.claim("w", 1, MINUTE, t(40)).await.expect("claim")[0].lease;
    store
        .complete(lease, Outcome::Completed, t(45))
        .await
        .expect("complete");
    let jobs = store.recent_jobs(10).await.expect("jobs");
    let summary: Vec<_> = jobs
        .iter()
        .map(|j| {
            (
                j.record.job.id.as_str(),
                j.record.outcome,
                j.enqueued_at,
                j.record.finished_at,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("b", None, t(20), None),
            ("a", Some(Outcome::Completed), t(10), Some(t(45))),
        ]
    );
    assert_eq!(store.recent_jobs(1).await.expect("jobs").len(), 1);
}

async fn instances_starting_at_once_share_one_schema(db: &Db) {
    // Every instance migrates at start-up; the second finds nothing to do.
    let url = db.url();
    let (one, two) = if let Some(rest) = url.strip_prefix("postgres://") {
        // Several PostgreSQL instances may start at once (sqlx serialises
        // their migrations with an advisory lock); postgresql:// works too.
        let other = format!("postgresql://{rest}");
        tokio::join!(store::connect(url), store::connect(&other))
    } else {
        // SQLite serves one instance: a restart, not a race.
        (store::connect(url).await, store::connect(url).await)
    };
    let (one, two) = (one.expect("first instance"), two.expect("second instance"));
    add(one.as_ref(), &job("a", 1, "h", Trigger::PullRequest), t(0)).await;
    assert_eq!(ids(&claim(two.as_ref(), "w", t(1)).await), ["a"]);
    let reopened = db.open().await;
    assert_eq!(reopened.stats(t(1)).await.expect("stats").running, 1);
}

async fn accept_stores_a_batch_in_order_with_its_supersedes(db: &Db) {
    let store = db.open().await;
    let incoming = |delivery: &str, jobs: Vec<hunkscan::app::webhook::Job>| store::Incoming {
        delivery_id: delivery.into(),
        jobs,
    };
    add(
        store.as_ref(),
        &job("old", 1, "h1", Trigger::PullRequest),
        t(0),
    )
    .await;
    let accepted = store
        .accept(
            &[
                incoming("d1", vec![job("new", 1, "h2", Trigger::PullRequest)]),
                // The same push announced again in the same batch.
                incoming("d2", vec![job("again", 1, "h2", Trigger::SuiteRequested)]),
                // A redelivery of an earlier delivery's job.
                incoming("d3", vec![job("old", 1, "h1", Trigger::PullRequest)]),
                // A re-run of an older head supersedes nothing.
                incoming("d4", vec![job("rerun", 2, "h0", Trigger::Rerun)]),
            ],
            t(5),
        )
        .await
        .expect("accept");
    let submitted: Vec<Vec<Submitted>> = accepted.iter().map(|a| a.submitted.clone()).collect();
    assert_eq!(
        submitted,
        [
            vec![Submitted::Queued],
            vec![Submitted::SameHeadQueued],
            vec![Submitted::DuplicateDelivery],
            vec![Submitted::Queued],
        ]
    );
    let superseded: Vec<(usize, Vec<&str>)> = accepted[0]
        .superseded
        .iter()
        .map(|(index, ended)| (*index, ended.iter().map(|s| s.job.id.as_str()).collect()))
        .collect();
    assert_eq!(
        superseded,
        [(0, vec!["old"])],
        "the push ends the older head"
    );
    assert!(accepted[1..].iter().all(|a| a.superseded.is_empty()));
    for delivery in ["d1", "d2", "d3", "d4"] {
        assert!(
            store.knows_delivery(delivery).await.expect("knows"),
            "{delivery}"
        );
    }
    let old = store.job("old").await.expect("job").expect("stored");
    assert_eq!(old.outcome, Some(Outcome::Superseded));

    // Through the group-commit writer: many deliveries at once, each
    // answered with its own outcome, none lost.
    let intake = store::intake::Intake::start(Arc::clone(&store));
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..300u64 {
        let intake = intake.clone();
        burst.spawn(async move {
            let delivery = incoming_owned(
                &format!("burst-{n}"),
                job(&format!("j{n}"), 100 + n, "h", Trigger::PullRequest),
            );
            intake.accept(delivery, t(10)).await.expect("accepted")
        });
    }
    let answers = burst.join_all().await;
    assert!(answers.iter().all(|a| a.submitted == [Submitted::Queued]));
    assert_eq!(store.stats(t(10)).await.expect("stats").queued, 302);
}

/// One batch may hold several pushes to one pull request, and the same
/// delivery twice: stored together, the newest head ends every older one
/// (the batch's own included) and the repeated job is queued once.
async fn a_batch_keeps_the_newest_push_of_each_pull_request(db: &Db) {
    let store = db.open().await;
    add(
        store.as_ref(),
        &job("stored", 7, "a0", Trigger::PullRequest),
        t(0),
    )
    .await;
    let accepted = store
        .accept(
            &[
                incoming_owned("p1", job("push-1", 7, "a1", Trigger::PullRequest)),
                incoming_owned("other", job("elsewhere", 8, "b1", Trigger::PullRequest)),
                incoming_owned("p2", job("push-2", 7, "a2", Trigger::PullRequest)),
                incoming_owned("p2", job("push-2", 7, "a2", Trigger::PullRequest)),
            ],
            t(3),
        )
        .await
        .expect("accept");
    let submitted: Vec<Vec<Submitted>> = accepted.iter().map(|a| a.submitted.clone()).collect();
    assert_eq!(
        submitted,
        [
            vec![Submitted::Queued],
            vec![Submitted::Queued],
            vec![Submitted::Queued],
            vec![Submitted::DuplicateDelivery],
        ]
    );
    let ended = |a: &store::Accepted| -> Vec<(usize, Vec<String>)> {
        a.superseded
            .iter()
            .map(|(index, ended)| (*index, ended.iter().map(|s| s.job.id.clone()).collect()))
            .collect()
    };
    assert_eq!(
        ended(&accepted[0]),
        [],
        "an older push of the batch ends nothing"
    );
    assert_eq!(ended(&accepted[1]), [(0, vec![])], "nothing older on #8");
    assert_eq!(
        ended(&accepted[2]),
        [(0, vec!["stored".to_owned(), "push-1".to_owned()])],
        "the newest push ends the stored head and the batch's older one, oldest first"
    );
    assert_eq!(ended(&accepted[3]), []);
    for (id, superseded) in [
        ("stored", true),
        ("push-1", true),
        ("push-2", false),
        ("elsewhere", false),
    ] {
        let record = store.job(id).await.expect("job").expect("stored");
        assert_eq!(
            record.outcome == Some(Outcome::Superseded),
            superseded,
            "{id}: {record:?}"
        );
    }
    assert_eq!(store.stats(t(3)).await.expect("stats").queued, 2);
}

fn incoming_owned(delivery: &str, job: hunkscan::app::webhook::Job) -> store::Incoming {
    store::Incoming {
        delivery_id: delivery.into(),
        jobs: vec![job],
    }
}

macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = super::Db::sqlite().await;
                    super::$test(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(db) = super::Db::postgres(stringify!($test)).await else {
                        return;
                    };
                    super::$test(&db).await;
                }
            )*
        }
    };
}

on_both_stores!(
    enqueue_is_idempotent_across_a_reopen,
    claims_lease_renew_and_take_over_expired_leases,
    concurrent_claimers_never_share_a_job,
    concurrent_claimers_take_one_job_per_pull_request,
    claimers_with_different_clocks_take_one_job_per_pull_request,
    jobs_of_one_pull_request_never_run_at_once,
    jobs_of_one_pull_request_run_one_after_another,
    supersede_ends_older_heads_not_held_by_a_live_lease,
    retry_later_waits_and_counts,
    recorded_writes_survive_a_reopen,
    prune_removes_old_finished_jobs_and_keeps_totals,
    the_lock_has_one_holder_and_expires,
    live_instances_are_counted_by_their_locks,
    stats_count_waiting_running_and_age,
    recent_deliveries_and_jobs_newest_first,
    instances_starting_at_once_share_one_schema,
    accept_stores_a_batch_in_order_with_its_supersedes,
    a_batch_keeps_the_newest_push_of_each_pull_request,
    licences_are_cached_per_release_and_shared,
    many_licences_are_read_and_written_in_chunks,
    licences_older_than_the_ttl_are_pruned,
);
