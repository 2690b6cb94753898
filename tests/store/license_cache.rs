//! The licence cache dependency review's licence policy reads through:
//! answers per release, found by key in chunks, replaced by a newer
//! answer, shared by every instance on the database, kept across a reopen.

use crate::harness::{Db, t};
use hunkscan::app::store::{CachedLicense, LicenseKey};

fn key(ecosystem: &str, name: &str, version: &str) -> LicenseKey {
    LicenseKey {
        ecosystem: ecosystem.into(),
        name: name.into(),
        version: version.into(),
    }
}

fn found(key: LicenseKey, license: &str) -> CachedLicense {
    CachedLicense {
        key,
        license: Some(license.into()),
        reason: None,
    }
}

pub async fn licences_are_cached_per_release_and_shared(db: &Db) {
    let one = db.open().await;
    let serde = key("crates.io", "serde", "1.0.200");
    let ghost = key("PyPI", "ghost-pkg", "0.1");
    assert!(
        one.cached_licenses(std::slice::from_ref(&serde))
            .await
            .expect("read")
            .is_empty()
    );
    one.cache_licenses(
        &[
            found(serde.clone(), "MIT OR Apache-2.0"),
            CachedLicense {
                key: ghost.clone(),
                license: None,
                reason: Some("PyPI has no release 0.1".into()),
            },
        ],
        t(10),
    )
    .await
    .expect("write");
    // Another instance on the same database sees them; an unknown release
    // and another version of a known one are not there.
    let two = db.open().await;
    let mut got = two
        .cached_licenses(&[
            serde.clone(),
            ghost.clone(),
            key("crates.io", "serde", "1.0.201"),
            key("npm", "serde", "1.0.200"),
        ])
        .await
        .expect("read");
    got.sort_by(|a, b| a.key.name.cmp(&b.key.name));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].key, ghost);
    assert_eq!(got[0].license, None);
    assert_eq!(got[0].reason.as_deref(), Some("PyPI has no release 0.1"));
    assert_eq!(got[1], found(serde.clone(), "MIT OR Apache-2.0"));
    // A newer answer replaces the old one.
    two.cache_licenses(&[found(ghost.clone(), "BSD-3-Clause")], t(20))
        .await
        .expect("write");
    let got = one
        .cached_licenses(std::slice::from_ref(&ghost))
        .await
        .expect("read");
    assert_eq!(got, vec![found(ghost, "BSD-3-Clause")]);
}

pub async fn many_licences_are_read_and_written_in_chunks(db: &Db) {
    let store = db.open().await;
    let entries: Vec<CachedLicense> = (0..1_234)
        .map(|i| found(key("npm", &format!("pkg-{i}"), "1.0.0"), "ISC"))
        .collect();
    store.cache_licenses(&entries, t(1)).await.expect("write");
    let keys: Vec<LicenseKey> = entries.iter().map(|e| e.key.clone()).collect();
    let got = store.cached_licenses(&keys).await.expect("read");
    assert_eq!(got.len(), entries.len());
    drop(store);
    let reopened = db.open().await;
    assert_eq!(
        reopened
            .cached_licenses(&keys[..3])
            .await
            .expect("read")
            .len(),
        3,
        "kept across a reopen"
    );
}

pub async fn licences_older_than_the_ttl_are_pruned(db: &Db) {
    let store = db.open().await;
    let old = key("npm", "old-pkg", "1.0.0");
    let new = key("npm", "new-pkg", "1.0.0");
    store
        .cache_licenses(&[found(old.clone(), "MIT")], t(10))
        .await
        .expect("write");
    store
        .cache_licenses(&[found(new.clone(), "ISC")], t(30))
        .await
        .expect("write");
    assert_eq!(
        store.prune_licenses(t(10)).await.expect("prune"),
        0,
        "not before itself"
    );
    assert_eq!(store.prune_licenses(t(20)).await.expect("prune"), 1);
    let got = store
        .cached_licenses(&[old.clone(), new.clone()])
        .await
        .expect("read");
    assert_eq!(got, vec![found(new, "ISC")], "only the older answer went");
    // More stale rows than one prune statement deletes.
    let many: Vec<CachedLicense> = (0..12_345)
        .map(|i| found(key("PyPI", &format!("p{i}"), "1.0"), "MIT"))
        .collect();
    store.cache_licenses(&many, t(40)).await.expect("write");
    assert_eq!(store.prune_licenses(t(50)).await.expect("prune"), 12_346);
    assert!(
        store
            .cached_licenses(&[key("PyPI", "p0", "1.0")])
            .await
            .expect("read")
            .is_empty()
    );
}
