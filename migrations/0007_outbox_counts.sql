-- Rows per state, kept as rows change, so that `status`, systemd's status line and `/metrics` read
-- six numbers instead of counting an index, and an index of pending rows by id (docs/schema.md,
-- "Figures"). Producers write with plain
-- SQL, so triggers are the only way their inserts are counted; they also count the daemon's claims
-- and outcomes, the admin commands (retry, cancel, purge), pruning and crash recovery.
--
-- Each row counts under exactly one kind: its state, except that a failed row whose reason says
-- Target has no profile for its visitor (src/delivery/settle.rs, NO_PROFILE) counts as
-- 'failed_no_profile', so `status` can say how many failed rows wait for a profile. Failed rows are
-- 'failed' plus 'failed_no_profile'.
CREATE TABLE outbox_counts (
    kind TEXT PRIMARY KEY
         CHECK (kind IN ('pending', 'in_flight', 'delivered', 'failed', 'failed_no_profile', 'cancelled')),
    rows INTEGER NOT NULL
) WITHOUT ROWID;

-- The rows already there, counted once (one pass over the table).
INSERT INTO outbox_counts (kind, rows)
SELECT CASE WHEN state = 'failed' AND last_status = 404
                 AND instr(last_error, 'Target has no profile for this visitor') = 1
            THEN 'failed_no_profile' ELSE state END AS kind,
       count(*)
FROM outbox GROUP BY kind;
INSERT OR IGNORE INTO outbox_counts (kind, rows) VALUES
    ('pending', 0), ('in_flight', 0), ('delivered', 0), ('failed', 0), ('failed_no_profile', 0),
    ('cancelled', 0);

-- Pending rows by id, so the oldest pending row is one seek: `outbox_due` orders rows by their
-- time first, and rows put off (a retry, a wait for a profile or the quota) are not in id order.
-- A new row's entry goes at the end of the index.
CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';

-- One small UPDATE per inserted row. With the index above, what a producer pays for the figures
-- (BENCHMARKS.md, figure 4).
CREATE TRIGGER outbox_counts_inserts AFTER INSERT ON outbox
BEGIN
    UPDATE outbox_counts SET rows = rows + 1
    WHERE kind = CASE WHEN NEW.state = 'failed' AND NEW.last_status = 404
                           AND instr(NEW.last_error, 'Target has no profile for this visitor') = 1
                      THEN 'failed_no_profile' ELSE NEW.state END;
END;

-- Fires for any UPDATE that sets one of these columns; the body runs only when the row's kind
-- changes (a retry that leaves a row pending changes nothing).
CREATE TRIGGER outbox_counts_changes AFTER UPDATE OF state, last_status, last_error ON outbox
WHEN (CASE WHEN OLD.state = 'failed' AND OLD.last_status = 404
                AND instr(OLD.last_error, 'Target has no profile for this visitor') = 1
           THEN 'failed_no_profile' ELSE OLD.state END)
     IS NOT
     (CASE WHEN NEW.state = 'failed' AND NEW.last_status = 404
                AND instr(NEW.last_error, 'Target has no profile for this visitor') = 1
           THEN 'failed_no_profile' ELSE NEW.state END)
BEGIN
    UPDATE outbox_counts SET rows = rows - 1
    WHERE kind = CASE WHEN OLD.state = 'failed' AND OLD.last_status = 404
                           AND instr(OLD.last_error, 'Target has no profile for this visitor') = 1
                      THEN 'failed_no_profile' ELSE OLD.state END;
    UPDATE outbox_counts SET rows = rows + 1
    WHERE kind = CASE WHEN NEW.state = 'failed' AND NEW.last_status = 404
                           AND instr(NEW.last_error, 'Target has no profile for this visitor') = 1
                      THEN 'failed_no_profile' ELSE NEW.state END;
END;

CREATE TRIGGER outbox_counts_deletes AFTER DELETE ON outbox
BEGIN
    UPDATE outbox_counts SET rows = rows - 1
    WHERE kind = CASE WHEN OLD.state = 'failed' AND OLD.last_status = 404
                           AND instr(OLD.last_error, 'Target has no profile for this visitor') = 1
                      THEN 'failed_no_profile' ELSE OLD.state END;
END;
