//! The reconciler against the GitHub emulator's delivery log: events whose
//! every attempt failed and that the store (a set here) does not hold are
//! redelivered, once each; everything else is left alone.

use crate::support::bot::{APP_ID, PRIVATE_KEY, PUBLIC_KEY, test_policy};
use crate::support::github_emulator::{DeliverySpec, Emulator, Fault, RedeliveryOutcome};
use chrono::{Duration as Age, Utc};
use hunkscan::app::reconcile::{
    KnownDeliveries, ReconcileError, ReconcileOptions, ReconcileReport, Reconciler, StoreError,
    spawn_periodic,
};
use hunkscan::config::settings::{ApiUrls, AppIdentity};
use hunkscan::github::GitHubApp;
use hunkscan::metrics::{Metrics, ReconcilerRunLabels};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// The job store, as far as the reconciler sees it.
#[derive(Default)]
struct Store(Mutex<HashSet<String>>);

impl Store {
    fn hold(&self, guid: &str) {
        self.0.lock().expect("store lock").insert(guid.to_owned());
    }
}

impl KnownDeliveries for Store {
    fn known(
        &self,
        guids: &[String],
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send {
        let held = self.0.lock().expect("store lock");
        let found = guids
            .iter()
            .filter(|g| held.contains(*g))
            .cloned()
            .collect();
        std::future::ready(Ok(found))
    }
}

struct Setup {
    gh: Emulator,
    github: Arc<GitHubApp>,
    metrics: Arc<Metrics>,
    reconciler: Arc<Reconciler>,
    store: Arc<Store>,
}

fn options() -> ReconcileOptions {
    ReconcileOptions {
        window: Duration::from_secs(6 * 3600),
        interval: Duration::from_secs(3600),
        max_pages: 20,
        per_page: 100,
        max_redeliveries_per_pass: 50,
        remembered: 1000,
    }
}

async fn setup(options: ReconcileOptions) -> Setup {
    let gh = Emulator::start(APP_ID, PUBLIC_KEY).await;
    let metrics = Arc::new(Metrics::new());
    let identity = AppIdentity {
        app_id: APP_ID,
        key: jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes())
            .expect("test key parses"),
    };
    let github = Arc::new(
        GitHubApp::new(
            &ApiUrls::from_rest(&gh.url),
            identity,
            Arc::clone(&metrics),
            test_policy(),
        )
        .expect("client"),
    );
    let reconciler = Arc::new(Reconciler::new(options, Arc::clone(&metrics)));
    Setup {
        gh,
        github,
        metrics,
        reconciler,
        store: Arc::new(Store::default()),
    }
}

impl Setup {
    async fn pass(&self) -> ReconcileReport {
        self.reconciler
            .reconcile_once(&self.github, self.store.as_ref(), Utc::now())
            .await
            .expect("the pass completes")
    }

    /// The guids GitHub was asked to redeliver, in order.
    fn redelivered(&self) -> Vec<String> {
        self.gh
            .redelivery_requests()
            .into_iter()
            .map(|r| r.guid)
            .collect()
    }

    fn requests_to(&self, method: &str, predicate: impl Fn(&str) -> bool) -> usize {
        self.gh
            .requests()
            .iter()
            .filter(|r| r.method == method && predicate(&r.path))
            .count()
    }

    fn list_requests(&self) -> usize {
        self.requests_to("GET", |p| p == "/app/hook/deliveries")
    }

    fn runs(&self, outcome: &'static str) -> u64 {
        self.metrics
            .reconciler_runs
            .get_or_create(&ReconcilerRunLabels { outcome })
            .get()
    }

    /// Every request the bot sent was one GitHub accepts, and every answer
    /// had GitHub's shape.
    fn assert_clean(&self) {
        assert!(
            self.gh.schema_violations().is_empty(),
            "{:?}",
            self.gh.schema_violations()
        );
        assert!(
            self.gh.response_violations().is_empty(),
            "{:?}",
            self.gh.response_violations()
        );
    }
}

fn minutes_ago(minutes: i64) -> chrono::DateTime<Utc> {
    Utc::now() - Age::minutes(minutes)
}

#[tokio::test]
async fn lost_events_are_redelivered_exactly_once_across_passes() {
    // Whether the redelivery fails again or GitHub has not made it yet, the
    // next pass sees an event whose every attempt failed; it must not ask
    // again.
    for outcome in [RedeliveryOutcome::Attempt(502), RedeliveryOutcome::Pending] {
        let s = setup(options()).await;
        s.gh.set_redelivery_outcome(outcome);
        s.gh.add_delivery(DeliverySpec::answered("a", 503, minutes_ago(50)));
        let latest_a =
            s.gh.add_delivery(DeliverySpec::unanswered("a", minutes_ago(40)).redelivery());
        let b =
            s.gh.add_delivery(DeliverySpec::unanswered("b", minutes_ago(30)));

        let first = s.pass().await;
        assert_eq!(
            first,
            ReconcileReport {
                listed: 3,
                complete: true,
                failed: 2,
                redelivered: 2,
                ..ReconcileReport::default()
            },
            "{outcome:?}"
        );
        assert_eq!(s.redelivered(), ["a", "b"], "oldest first");
        let ids: Vec<u64> =
            s.gh.redelivery_requests()
                .iter()
                .map(|r| r.delivery_id)
                .collect();
        assert_eq!(ids, [latest_a, b], "the latest attempt is redelivered");

        let second = s.pass().await;
        assert_eq!(second.failed, 2, "{outcome:?}: {second:?}");
        assert_eq!(second.already_requested, 2);
        assert_eq!(second.redelivered, 0);
        assert_eq!(s.redelivered(), ["a", "b"], "{outcome:?}");
        assert_eq!(s.metrics.reconciler_redeliveries.get(), 2);
        assert_eq!(s.runs("completed"), 2);
        assert!(
            s.metrics
                .render()
                .contains("hunkscan_reconciler_redeliveries_total 2")
        );
        s.assert_clean();
    }
}

#[tokio::test]
async fn an_event_that_later_reached_the_bot_is_left_alone() {
    let s = setup(options()).await;
    s.gh.add_delivery(DeliverySpec::answered("a", 500, minutes_ago(60)));
    s.gh.add_delivery(DeliverySpec::answered("a", 202, minutes_ago(30)).redelivery());
    // Any 2xx counts, also a success before a failure.
    s.gh.add_delivery(DeliverySpec::answered("b", 200, minutes_ago(20)));
    s.gh.add_delivery(DeliverySpec::unanswered("b", minutes_ago(10)).redelivery());
    let report = s.pass().await;
    assert_eq!(report.listed, 4);
    assert_eq!(report.failed, 0);
    assert!(s.redelivered().is_empty());
    s.assert_clean();
}

#[tokio::test]
async fn an_event_the_store_holds_is_left_alone() {
    let s = setup(options()).await;
    // The bot stored it but answered after GitHub's 10 s.
    s.gh.add_delivery(DeliverySpec::unanswered("held", minutes_ago(20)));
    s.gh.add_delivery(DeliverySpec::unanswered("lost", minutes_ago(10)));
    s.store.hold("held");
    let report = s.pass().await;
    assert_eq!((report.failed, report.already_known), (2, 1));
    assert_eq!(report.redelivered, 1);
    assert_eq!(s.redelivered(), ["lost"]);
    s.assert_clean();
}

#[tokio::test]
async fn deliveries_outside_the_window_are_not_looked_at() {
    let s = setup(options()).await;
    for i in 0..150 {
        s.gh.add_delivery(DeliverySpec::answered(
            &format!("old-{i}"),
            500,
            minutes_ago(7 * 60 + i),
        ));
    }
    for i in 0..3 {
        s.gh.add_delivery(DeliverySpec::answered(
            &format!("new-{i}"),
            500,
            minutes_ago(60 - i),
        ));
    }
    let report = s.pass().await;
    assert_eq!((report.listed, report.complete), (3, true));
    assert_eq!(
        s.list_requests(),
        1,
        "the first page reached the window's start"
    );
    assert_eq!(s.redelivered(), ["new-0", "new-1", "new-2"], "oldest first");
    s.assert_clean();
}

#[tokio::test]
async fn a_pass_pages_through_the_whole_window() {
    let s = setup(ReconcileOptions {
        per_page: 10,
        ..options()
    })
    .await;
    // Recovered: its failure is on the last page, its success on the first.
    s.gh.add_delivery(DeliverySpec::answered("recovered", 500, minutes_ago(300)));
    for i in 0..35 {
        s.gh.add_delivery(DeliverySpec::answered(
            &format!("lost-{i:02}"),
            502,
            minutes_ago(200 - i),
        ));
    }
    s.gh.add_delivery(DeliverySpec::answered("recovered", 200, minutes_ago(1)).redelivery());
    let report = s.pass().await;
    assert_eq!((report.listed, report.complete), (37, true));
    assert_eq!(s.list_requests(), 4);
    assert_eq!(report.failed, 35);
    let expected: Vec<String> = (0..35).map(|i| format!("lost-{i:02}")).collect();
    assert_eq!(s.redelivered(), expected);
    s.assert_clean();
}

#[tokio::test]
async fn the_page_cap_bounds_a_pass() {
    let s = setup(ReconcileOptions {
        per_page: 10,
        max_pages: 2,
        ..options()
    })
    .await;
    for i in 0..35 {
        s.gh.add_delivery(DeliverySpec::answered(
            &format!("lost-{i:02}"),
            502,
            minutes_ago(100 - i),
        ));
    }
    let report = s.pass().await;
    assert_eq!((report.listed, report.complete), (20, false));
    assert_eq!(s.list_requests(), 2);
    // The 20 newest.
    let expected: Vec<String> = (15..35).map(|i| format!("lost-{i:02}")).collect();
    assert_eq!(s.redelivered(), expected);
    s.assert_clean();
}

#[tokio::test]
async fn the_per_pass_cap_leaves_the_rest_for_later_passes_oldest_first() {
    let s = setup(ReconcileOptions {
        max_redeliveries_per_pass: 2,
        ..options()
    })
    .await;
    s.gh.set_redelivery_outcome(RedeliveryOutcome::Pending);
    for i in 0..5 {
        s.gh.add_delivery(DeliverySpec::unanswered(
            &format!("g{i}"),
            minutes_ago(50 - i),
        ));
    }
    let first = s.pass().await;
    assert_eq!((first.redelivered, first.deferred), (2, 3));
    assert_eq!(s.redelivered(), ["g0", "g1"]);
    let second = s.pass().await;
    assert_eq!(
        (
            second.already_requested,
            second.redelivered,
            second.deferred
        ),
        (2, 2, 1)
    );
    let third = s.pass().await;
    assert_eq!((third.redelivered, third.deferred), (1, 0));
    assert_eq!(s.redelivered(), ["g0", "g1", "g2", "g3", "g4"]);
    s.assert_clean();
}

#[tokio::test]
async fn a_failed_redelivery_request_is_an_error_and_is_tried_again() {
    let s = setup(options()).await;
    s.gh.add_delivery(DeliverySpec::unanswered("lost", minutes_ago(10)));
    s.gh.inject(Fault::Status {
        method: "POST",
        path_contains: "/attempts",
        status: 500,
        times: 1,
    });
    let first = s.pass().await;
    assert_eq!((first.errors, first.redelivered), (1, 0));
    assert_eq!(s.metrics.reconciler_errors.get(), 1);
    assert!(s.redelivered().is_empty());
    // A write whose outcome is unknown is never retried within the pass.
    assert_eq!(s.requests_to("POST", |p| p.ends_with("/attempts")), 1);

    let second = s.pass().await;
    assert_eq!((second.errors, second.redelivered), (0, 1));
    assert_eq!(s.redelivered(), ["lost"]);
    s.assert_clean();
}

#[tokio::test]
async fn a_redelivery_github_refuses_is_not_asked_again() {
    let s = setup(ReconcileOptions {
        window: Duration::from_secs(4 * 24 * 3600),
        ..options()
    })
    .await;
    // Older than GitHub's 3 days: refused with 422.
    s.gh.add_delivery(DeliverySpec::unanswered("too-old", minutes_ago(84 * 60)));
    let first = s.pass().await;
    assert_eq!((first.errors, first.redelivered), (1, 0));
    let second = s.pass().await;
    assert_eq!((second.already_requested, second.errors), (1, 0));
    assert_eq!(s.requests_to("POST", |p| p.ends_with("/attempts")), 1);
    s.assert_clean();
}

#[tokio::test]
async fn a_pass_that_cannot_list_fails_and_asks_for_nothing() {
    let s = setup(options()).await;
    s.gh.add_delivery(DeliverySpec::unanswered("lost", minutes_ago(10)));
    s.gh.inject(Fault::Status {
        method: "GET",
        path_contains: "/app/hook/deliveries",
        status: 502,
        times: 10,
    });
    let outcome = s
        .reconciler
        .reconcile_once(&s.github, s.store.as_ref(), Utc::now())
        .await;
    assert!(
        matches!(outcome, Err(ReconcileError::List(_))),
        "{outcome:?}"
    );
    assert_eq!(s.runs("failed"), 1);
    assert_eq!(s.requests_to("POST", |p| p.ends_with("/attempts")), 0);
    s.assert_clean();
}

#[tokio::test]
async fn the_periodic_task_runs_at_start_up_and_stops_on_shutdown() {
    // An hour between passes: only the start-up pass can do this.
    let s = setup(options()).await;
    s.gh.add_delivery(DeliverySpec::unanswered("lost", minutes_ago(10)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = spawn_periodic(
        Arc::clone(&s.reconciler),
        Arc::clone(&s.github),
        Arc::clone(&s.store),
        || async { Some(()) },
        async move {
            let _ = stopped.await;
        },
    );
    s.gh.wait_for("the start-up pass's redelivery", WAIT, |gh| {
        (!gh.redelivery_requests().is_empty()).then_some(())
    })
    .await;
    stop.send(()).expect("the task is running");
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the task ends on shutdown")
        .expect("the task did not panic");
    assert_eq!(s.redelivered(), ["lost"]);
    s.assert_clean();
}

#[tokio::test]
async fn the_periodic_task_runs_every_interval_when_allowed() {
    let s = setup(ReconcileOptions {
        interval: Duration::from_millis(50),
        ..options()
    })
    .await;
    s.gh.add_delivery(DeliverySpec::unanswered("first", minutes_ago(10)));
    let allowed = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let (allowed, asked) = (Arc::clone(&allowed), Arc::clone(&asked));
        spawn_periodic(
            Arc::clone(&s.reconciler),
            Arc::clone(&s.github),
            Arc::clone(&s.store),
            move || {
                asked.fetch_add(1, Ordering::SeqCst);
                let allowed = allowed.load(Ordering::SeqCst);
                async move { allowed.then_some(()) }
            },
            async move {
                let _ = stopped.await;
            },
        )
    };
    // Another instance holds the lock: passes are skipped, GitHub untouched.
    s.gh.wait_for("two skipped passes", WAIT, |_| {
        (asked.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    assert_eq!(s.list_requests(), 0);
    assert!(s.runs("skipped") >= 2);

    allowed.store(true, Ordering::SeqCst);
    s.gh.wait_for("the first redelivery", WAIT, |gh| {
        (gh.redelivery_requests().len() == 1).then_some(())
    })
    .await;
    s.gh.add_delivery(DeliverySpec::unanswered("second", minutes_ago(1)));
    s.gh.wait_for("a later pass's redelivery", WAIT, |gh| {
        (gh.redelivery_requests().len() == 2).then_some(())
    })
    .await;
    stop.send(()).expect("the task is running");
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the task ends on shutdown")
        .expect("the task did not panic");
    assert_eq!(s.redelivered(), ["first", "second"]);
    s.assert_clean();
}
