-- The operator's status page (src/app/status): what the server answered
-- each signed delivery, and the newest deliveries and jobs first.

ALTER TABLE deliveries ADD COLUMN event TEXT;
ALTER TABLE deliveries ADD COLUMN outcome TEXT;
-- From the request being whole to the answer, in milliseconds.
ALTER TABLE deliveries ADD COLUMN ack_ms INTEGER;

CREATE INDEX deliveries_received ON deliveries (received_at);
CREATE INDEX jobs_enqueued ON jobs (enqueued_at);
