-- The durable job store (src/app/store), PostgreSQL flavour: the same
-- tables as migrations/sqlite, with timestamptz (UTC) times. Tables are
-- created in the first schema of the connection's search_path.

-- Every delivery accepted, jobs or not, for the reconciler's `knows_delivery`.
CREATE TABLE deliveries (
    id          TEXT PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE jobs (
    -- Insertion order: ties on enqueued_at are claimed in this order.
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Job.id: X-GitHub-Delivery, plus '#<pr number>' when one delivery
    -- yields several jobs. Unique: a redelivery inserts nothing.
    id                  TEXT NOT NULL UNIQUE,
    delivery_id         TEXT NOT NULL,
    -- 'owner/name'; with number, the pull request (serialisation key).
    repo                TEXT NOT NULL,
    number              BIGINT NOT NULL,
    head_sha            TEXT NOT NULL,
    -- False for re-runs: automatic jobs of one head are the same push
    -- announced twice (see jobs_automatic_head).
    automatic           BOOLEAN NOT NULL,
    -- The whole Job, as JSON.
    job                 TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done')),
    outcome             TEXT,
    enqueued_at         TIMESTAMPTZ NOT NULL,
    not_before          TIMESTAMPTZ NOT NULL,
    lease_owner         TEXT,
    lease_until         TIMESTAMPTZ,
    -- Claims so far; the current claim's number fences stale lease holders.
    attempts            BIGINT NOT NULL DEFAULT 0,
    retries             BIGINT NOT NULL DEFAULT 0,
    lease_expiries      BIGINT NOT NULL DEFAULT 0,
    last_error          TEXT,
    -- External writes already done, so a resumed job does not repeat them.
    check_run_id        BIGINT,
    review_fingerprints TEXT,
    superseded_by       TEXT,
    finished_at         TIMESTAMPTZ
);

CREATE UNIQUE INDEX jobs_automatic_head ON jobs (repo, number, head_sha) WHERE automatic;
CREATE INDEX jobs_state_order ON jobs (state, enqueued_at, seq);
CREATE INDEX jobs_pull ON jobs (repo, number, state);
CREATE INDEX jobs_delivery ON jobs (delivery_id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state = 'done';

-- Totals of pruned jobs, so the counters /metrics reads never go down.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('lease_expiries', 0), ('retries', 0);

-- Leased locks for singleton work across instances (the reconciler): a row
-- with an expiry, so a dead instance's lock expires by itself.
CREATE TABLE locks (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
