-- Quota ledger, the daemon's visible state, and coalescing's opt-out flag.
--
-- Times in quota_ledger and in daemon_state's timeline_* columns are on the daemon's timeline:
-- milliseconds that advance with real elapsed time and never jump when the wall clock is stepped
-- (docs/quota.md). Columns ending in _at in daemon_state are wall-clock milliseconds, for people.

-- Set when Target refused a combined update this row was part of: from then on the row is sent on
-- its own, so that the refusal lands on the row at fault.
ALTER TABLE outbox ADD COLUMN send_alone INTEGER NOT NULL DEFAULT 0;

-- Calls made (or reserved just before being made) per minute of the timeline. The rolling 24-hour
-- count is the sum of the last 1,440 buckets and any later ones.
CREATE TABLE quota_ledger (
    bucket INTEGER PRIMARY KEY,
    calls  INTEGER NOT NULL CHECK (calls >= 0)
);

-- One row, written by the running daemon, read by the admin CLI.
CREATE TABLE daemon_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    -- Where the timeline stood at the last write: timeline time, wall time, and the boot and
    -- CLOCK_BOOTTIME reading then, so a later start can tell how much real time has passed.
    timeline_ms      INTEGER NOT NULL,
    wall_ms          INTEGER NOT NULL,
    boot_id          TEXT NOT NULL,
    boot_ms          INTEGER NOT NULL,
    pid              INTEGER,
    started_at       INTEGER,
    heartbeat_at     INTEGER,
    quota_limit      INTEGER,
    calls_in_window  INTEGER,
    -- When the next call is allowed, if the quota is spent now.
    next_call_at     INTEGER,
    -- 'slow_down', 'endpoint_down' or 'unauthorized' while delivery is paused.
    pause_reason     TEXT,
    paused_until     INTEGER,
    -- 'closed' (delivering), 'open' (paused), 'half_open' (one probe request allowed).
    circuit          TEXT NOT NULL DEFAULT 'closed',
    last_delivery_at INTEGER,
    last_error       TEXT,
    last_error_at    INTEGER
);
