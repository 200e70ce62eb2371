-- The optional cap on waiting rows (database.max_pending_rows). The counter and the triggers that
-- keep it and refuse inserts past the cap exist only while a cap is configured: the daemon creates
-- or drops them at start (src/housekeeping/limit.rs), so producers pay nothing when there is no cap.
CREATE TABLE outbox_limit (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    -- NULL: no cap.
    max_pending_rows INTEGER,
    -- Rows pending or in flight, kept by the triggers while a cap is set.
    pending_rows     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO outbox_limit (id, max_pending_rows, pending_rows) VALUES (1, NULL, 0);

-- Finished rows by age, for pruning past database.retention without a scan.
CREATE INDEX outbox_finished ON outbox (updated_at) WHERE state IN ('delivered', 'cancelled');
