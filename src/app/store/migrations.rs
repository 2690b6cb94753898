//! The schema migrations, embedded at compile time.
//!
//! Hand-written instead of `sqlx::migrate!`: that macro needs sqlx's
//! `macros` feature, whose proc-macro crate builds a second copy of the
//! bundled libsqlite3 (for the host profile) — a minute of build time for
//! three lines of `include_str!`. The files in `migrations/{sqlite,postgres}`
//! follow sqlx's `<version>_<description>.sql` naming, and a test checks
//! that every file there is listed here.

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

/// `(version, description, sql)`.
type Embedded = &'static [(i64, &'static str, &'static str)];

pub(super) const SQLITE: Embedded = &[
    (
        1,
        "jobs",
        include_str!("../../../migrations/sqlite/0001_jobs.sql"),
    ),
    (
        2,
        "status",
        include_str!("../../../migrations/sqlite/0002_status.sql"),
    ),
    (
        3,
        "claim_order",
        include_str!("../../../migrations/sqlite/0003_claim_order.sql"),
    ),
    (
        4,
        "license_cache",
        include_str!("../../../migrations/sqlite/0004_license_cache.sql"),
    ),
    (
        5,
        "license_cache_age",
        include_str!("../../../migrations/sqlite/0005_license_cache_age.sql"),
    ),
];

pub(super) const POSTGRES: Embedded = &[
    (
        1,
        "jobs",
        include_str!("../../../migrations/postgres/0001_jobs.sql"),
    ),
    (
        2,
        "status",
        include_str!("../../../migrations/postgres/0002_status.sql"),
    ),
    (
        3,
        "claim_order",
        include_str!("../../../migrations/postgres/0003_claim_order.sql"),
    ),
    (
        4,
        "license_cache",
        include_str!("../../../migrations/postgres/0004_license_cache.sql"),
    ),
    (
        5,
        "license_cache_age",
        include_str!("../../../migrations/postgres/0005_license_cache_age.sql"),
    ),
];

#[derive(Debug)]
struct Source(Embedded);

impl<'s> MigrationSource<'s> for Source {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The migrator for one flavour of the schema.
pub(super) async fn migrator(embedded: Embedded) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Source(embedded)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files(flavour: &str) -> Vec<(i64, String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(flavour);
        let mut found: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
            .expect("migrations directory")
            .map(|entry| {
                let path = entry.expect("directory entry").path();
                let name = path
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .expect("utf-8 file name")
                    .to_owned();
                let (version, description) = name.split_once('_').expect("<version>_<name>.sql");
                (
                    version.parse().expect("numeric version"),
                    description.to_owned(),
                    std::fs::read_to_string(&path).expect("readable migration"),
                )
            })
            .collect();
        found.sort();
        found
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        for (flavour, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let embedded: Vec<(i64, String, String)> = embedded
                .iter()
                .map(|(v, d, s)| (*v, (*d).to_owned(), (*s).to_owned()))
                .collect();
            assert_eq!(embedded, files(flavour), "{flavour} migrations");
        }
    }
}
