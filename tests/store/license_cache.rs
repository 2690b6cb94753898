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
