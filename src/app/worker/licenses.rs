//! Licences a job's licence policy needs and lockfiles do not state: from
//! the store's licence cache, else from the registries (the lasting
//! answers then cached for every instance sharing the store).
//!
//! A store that cannot be read or written costs lookups, not the job: the
//! registries are asked and the analysis goes on.

use crate::advisories::registry::{self, RegistryOptions};
use crate::app::store::{CachedLicense, LicenseKey, Store};
use crate::engine::deps::license::{Licenses, Lookup, PackageId};
use std::collections::HashMap;

/// Most packages one job looks up.
pub(super) const MAX_LOOKUPS: usize = 2_000;

fn key(id: &PackageId) -> LicenseKey {
    LicenseKey {
        ecosystem: id.ecosystem.osv_name().to_owned(),
        name: id.ecosystem.normalise_name(&id.name),
        version: id.version.clone(),
    }
}

/// The licences of `wanted`, through `store`'s cache.
pub(super) async fn look_up(store: &dyn Store, wanted: Vec<PackageId>) -> Licenses {
    let mut licenses = Licenses::none(format!("more than {MAX_LOOKUPS} packages to look up"));
    if wanted.is_empty() {
        return licenses;
    }
    let keys: Vec<LicenseKey> = wanted.iter().map(key).collect();
    let cached: HashMap<LicenseKey, CachedLicense> = match store.cached_licenses(&keys).await {
        Ok(rows) => rows.into_iter().map(|c| (c.key.clone(), c)).collect(),
        Err(error) => {
            tracing::warn!(%error, "licence cache not read; asking the registries");
            HashMap::new()
        }
    };
    let mut missing = Vec::new();
    for id in wanted {
        match cached.get(&key(&id)) {
            Some(hit) => {
                let lookup = match &hit.license {
                    Some(license) => Lookup::Found(license.clone()),
                    None => Lookup::Unknown(hit.reason.clone().unwrap_or_default()),
                };
                licenses.insert(&id, lookup);
            }
            None => missing.push(id),
        }
    }
    let fetched = registry::fetch(missing, &RegistryOptions::default()).await;
    let lasting: Vec<CachedLicense> = fetched
        .iter()
        .filter(|f| f.lasting)
        .map(|f| {
            let (license, reason) = match &f.lookup {
                Lookup::Found(license) => (Some(license.clone()), None),
                Lookup::Unknown(reason) => (None, Some(reason.clone())),
            };
            CachedLicense {
                key: key(&f.id),
                license,
                reason,
            }
        })
        .collect();
    if !lasting.is_empty()
        && let Err(error) = store.cache_licenses(&lasting, chrono::Utc::now()).await
    {
        tracing::warn!(%error, "licence cache not written");
    }
    for f in fetched {
        licenses.insert(&f.id, f.lookup);
    }
    licenses
}
