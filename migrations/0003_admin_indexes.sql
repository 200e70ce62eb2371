-- Indexes for the admin commands (`status`, `list`, `retry`, `cancel`).
--
-- `status` counts rows per state without reading the table: pending and in-flight rows are counted
-- from the indexes of 0001, failed and cancelled rows from these two, and delivered rows are the
-- rest of `count(*)`, which SQLite answers from the table's page headers. Both indexes are partial:
-- producers insert rows as 'pending', so a new row enters neither, and an INSERT costs what it did.
-- Failed and cancelled rows are few (each is an operator's to handle), so the indexes stay small.
CREATE INDEX outbox_failed ON outbox (id) WHERE state = 'failed';
CREATE INDEX outbox_cancelled ON outbox (id) WHERE state = 'cancelled';
