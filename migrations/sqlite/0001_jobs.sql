-- The durable job store (src/app/store), SQLite flavour. Times are UTC
-- milliseconds since the Unix epoch, so comparisons are integer comparisons.

-- Every delivery accepted, jobs or not, for the reconciler's `knows_delivery`.
CREATE TABLE deliveries (
    id          TEXT PRIMARY KEY NOT NULL,
    received_at INTEGER NOT NULL
);

CREATE TABLE jobs (
    -- Insertion order: ties on enqueued_at are claimed in this order.
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Job.id: X-GitHub-Delivery, plus '#<pr number>' when one delivery
    -- yields several jobs. Unique: a redelivery inserts nothing.
    id                  TEXT NOT NULL UNIQUE,
    delivery_id         TEXT NOT NULL,
    -- 'owner/name'; with number, the pull request (serialisation key).
    repo                TEXT NOT NULL,
    number              INTEGER NOT NULL,
    head_sha            TEXT NOT NULL,
    -- 1 unless the trigger is a re-run: automatic jobs of one head are
    -- the same push announced twice (see jobs_automatic_head).
    automatic           INTEGER NOT NULL CHECK (automatic IN (0, 1)),
    -- The whole Job, as JSON.
    job                 TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done')),
    outcome             TEXT,
    enqueued_at         INTEGER NOT NULL,
    not_before          INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_until         INTEGER,
    -- Claims so far; the current claim's number fences stale lease holders.
    attempts            INTEGER NOT NULL DEFAULT 0,
    retries             INTEGER NOT NULL DEFAULT 0,
    lease_expiries      INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    -- External writes already done, so a resumed job does not repeat them.
    check_run_id        INTEGER,
    review_fingerprints TEXT,
    superseded_by       TEXT,
    finished_at         INTEGER
);

CREATE UNIQUE INDEX jobs_automatic_head ON jobs (repo, number, head_sha) WHERE automatic = 1;
CREATE INDEX jobs_state_order ON jobs (state, enqueued_at, seq);
CREATE INDEX jobs_pull ON jobs (repo, number, state);
CREATE INDEX jobs_delivery ON jobs (delivery_id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state = 'done';

-- Totals of pruned jobs, so the counters /metrics reads never go down.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('lease_expiries', 0), ('retries', 0);

-- Leased locks for singleton work across instances (the reconciler).
CREATE TABLE locks (
    name       TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
