-- Claims walk the open jobs oldest first and stop at their limit; finished
-- jobs, kept until pruned, stay out of the way.
CREATE INDEX jobs_open_order ON jobs (enqueued_at, seq) WHERE state <> 'done';
