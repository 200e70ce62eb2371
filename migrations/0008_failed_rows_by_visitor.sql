-- Each visitor's failed rows, oldest first. A delivered row newer than a failed row of its visitor
-- is what stops `retry` from sending the failed row's older value over it, so `purge` and the
-- retention prune keep such a row; this index finds the failed rows without a scan.
CREATE INDEX outbox_failed_visitor ON outbox (visitor, id) WHERE state = 'failed';
