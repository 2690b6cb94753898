-- Migration 0004 says cached licences are kept. They are not: the bot prunes
-- rows older than 30 days (`advisories::license_cache::TTL`), because
-- registries correct their metadata and a "no such release" answer stops
-- being true once the release is published. The prune selects rows by age,
-- in batches; this index spares it a scan of the whole table each time.
CREATE INDEX license_cache_fetched_at ON license_cache (fetched_at);
