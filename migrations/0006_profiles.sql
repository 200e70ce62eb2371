-- What the daemon learned from Target's profile fetch API (target.check_profile): the single update
-- API only updates profiles Target already has, and answers the same for a visitor it has never
-- seen, so the daemon looks first. Visitors are keyed like outbox.visitor ('pc:…' or '3p:…').
-- Times are on the daemon's timeline (docs/quota.md).

-- Visitors found to have a profile, so a visitor with many rows is looked up once. Forgotten 14
-- days after they were found (Target drops a profile after 14 days without activity, by default).
CREATE TABLE known_profiles (
    visitor  TEXT PRIMARY KEY,
    found_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX known_profiles_found_at ON known_profiles (found_at);

-- Visitors Target had no profile for yet: since when, and how many lookups said so. Their rows wait
-- (a new visitor's profile can take up to an hour to appear) and fail after target.profile_wait.
CREATE TABLE missing_profiles (
    visitor TEXT PRIMARY KEY,
    since   INTEGER NOT NULL,
    checks  INTEGER NOT NULL
) WITHOUT ROWID;
