-- Producer columns hold text. The columns are declared TEXT, so SQLite already stores a number a
-- producer writes there as its text; but a BLOB (Python's bytes, a common slip) is kept as a BLOB,
-- and such a row could not be read as text by the daemon or the admin commands. These triggers
-- refuse it at INSERT (and at an UPDATE of those columns) with a sentence naming the column, as
-- 0001 does for structural mistakes. Rows written before this migration are checked when claimed
-- (src/outbox/row.rs): one that cannot be read as text is set aside as failed, never sent.
CREATE TRIGGER outbox_refuses_non_text_on_insert BEFORE INSERT ON outbox
BEGIN
    SELECT RAISE(ABORT, 'outbox: mbox_pc must be TEXT or NULL, not a BLOB (in Python pass a str, not bytes)')
    WHERE typeof(NEW.mbox_pc) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'outbox: mbox_3rd_party_id must be TEXT or NULL, not a BLOB (in Python pass a str, not bytes)')
    WHERE typeof(NEW.mbox_3rd_party_id) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'outbox: attributes must be TEXT holding a JSON object, not a BLOB (in Python pass json.dumps(...), a str, not bytes)')
    WHERE typeof(NEW.attributes) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'outbox: source must be TEXT or NULL, not a BLOB (in Python pass a str, not bytes)')
    WHERE typeof(NEW.source) NOT IN ('text', 'null');
END;

CREATE TRIGGER outbox_refuses_non_text_on_update
BEFORE UPDATE OF mbox_pc, mbox_3rd_party_id, attributes, source ON outbox
BEGIN
    SELECT RAISE(ABORT, 'outbox: mbox_pc must be TEXT or NULL, not a BLOB (in Python pass a str, not bytes)')
    WHERE typeof(NEW.mbox_pc) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'outbox: mbox_3rd_party_id must be TEXT or NULL, not a BLOB (in Python pass a str, not bytes)')
    WHERE typeof(NEW.mbox_3rd_party_id) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'outbox: attributes must be TEXT holding a JSON object, not a BLOB (in Python pass json.dumps(...), a str, not bytes)')
    WHERE typeof(NEW.attributes) NOT IN ('text', 'null');
    SELECT RAISE(ABORT, 'outbox: source must be TEXT or NULL, not a BLOB (in Python pass a str, not bytes)')
    WHERE typeof(NEW.source) NOT IN ('text', 'null');
END;
