-- Licences the package registries stated for releases, for dependency
-- review's licence policy. A published release's licence does not change,
-- so rows are kept; `license` is NULL with the registry's `reason` when it
-- states none.
CREATE TABLE license_cache (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    license TEXT,
    reason TEXT,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (ecosystem, name, version)
);
