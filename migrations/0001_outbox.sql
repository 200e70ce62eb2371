-- The outbox table is a public contract: producers are other programs that INSERT into it with plain
-- SQL (README, "Producer contract"). A producer sets only mbox_pc or mbox_3rd_party_id, attributes and,
-- if it likes, source; every other column has a default. Columns are only ever added, never renamed.
--
-- Times are milliseconds since the Unix epoch. created_at is the one time SQLite fills in (producers
-- do not pass one); every other time is written by the daemon from its own clock.
CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    mbox_pc           TEXT,
    mbox_3rd_party_id TEXT,
    attributes        TEXT NOT NULL,
    source            TEXT,
    created_at        INTEGER NOT NULL
                      DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    state             TEXT NOT NULL DEFAULT 'pending'
                      CONSTRAINT state_is_pending_in_flight_delivered_failed_or_cancelled
                      CHECK (state IN ('pending', 'in_flight', 'delivered', 'failed', 'cancelled')),
    -- Requests Target refused for this row's own fault; the row is failed when it reaches
    -- retry.max_attempts. Outages, slow-downs and a bad token never count here.
    attempts          INTEGER NOT NULL DEFAULT 0,
    -- Requests made for this row, whatever their answer.
    sends             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL DEFAULT 0,
    last_status       INTEGER,
    last_error        TEXT,
    updated_at        INTEGER,
    -- One key for "the same visitor", used to keep each visitor's rows in order.
    visitor           TEXT GENERATED ALWAYS AS
                      (coalesce('pc:' || mbox_pc, '3p:' || mbox_3rd_party_id)) VIRTUAL
);

-- Structural checks at INSERT time, with messages that say what to fix. A trigger rather than CHECK
-- constraints, because RAISE carries a sentence where a failed CHECK only names the constraint.
-- Content rules (id format, name and value lengths) are Target's and can change, so the daemon
-- checks those and sets a breaking row aside as 'failed' with its reason.
CREATE TRIGGER outbox_refuses_malformed_rows BEFORE INSERT ON outbox
BEGIN
    SELECT RAISE(ABORT, 'outbox: set one of mbox_pc or mbox_3rd_party_id (neither is set)')
    WHERE NEW.mbox_pc IS NULL AND NEW.mbox_3rd_party_id IS NULL;
    SELECT RAISE(ABORT, 'outbox: set only one of mbox_pc or mbox_3rd_party_id, not both')
    WHERE NEW.mbox_pc IS NOT NULL AND NEW.mbox_3rd_party_id IS NOT NULL;
    SELECT RAISE(ABORT, 'outbox: attributes must be valid JSON, for example {"loyalty_tier":"gold"}')
    WHERE NEW.attributes IS NOT NULL AND NOT json_valid(NEW.attributes);
    SELECT RAISE(ABORT, 'outbox: attributes must be a JSON object of attribute name to value, for example {"loyalty_tier":"gold"}')
    WHERE NEW.attributes IS NOT NULL AND json_type(NEW.attributes) <> 'object';
END;

-- Due rows in the order the daemon claims them; only pending rows are in it.
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';

-- Each visitor's unfinished rows, oldest first: a row is claimed only when no older row of its
-- visitor is still unfinished.
CREATE INDEX outbox_visitor_unfinished ON outbox (visitor, id)
    WHERE state IN ('pending', 'in_flight');

-- Rows a crash may have left in flight, found at start-up without a scan.
CREATE INDEX outbox_in_flight ON outbox (id) WHERE state = 'in_flight';
