-- The trust gate (issue 14): an untrusted merge request's event ends
-- "waiting" for a maintainer's /ok-to-test instead of building, and each
-- approval is kept for the one head SHA it was given for.
--
-- SQLite cannot alter a CHECK constraint: the events table is rebuilt
-- with the same columns and indexes, keeping its AUTOINCREMENT sequence
-- so no pruned id is reused.

-- +goose Up
CREATE TABLE events_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    provider        TEXT    NOT NULL,
    delivery        TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    repo            TEXT    NOT NULL,
    sha             TEXT    NOT NULL,
    ref             TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'dispatched', 'ignored', 'failed', 'waiting')),
    reason          TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (provider, delivery)
);
INSERT INTO events_new (id, provider, delivery, kind, action, repo, sha, ref, body, state, reason, attempts,
    last_error, next_attempt_at, claimed_until, received_at, updated_at)
SELECT id, provider, delivery, kind, action, repo, sha, ref, body, state, reason, attempts,
    last_error, next_attempt_at, claimed_until, received_at, updated_at FROM events;
DELETE FROM sqlite_sequence WHERE name = 'events_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'events_new', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_due ON events (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX events_repo ON events (repo, id);
CREATE INDEX events_state ON events (state, id);
CREATE INDEX events_updated ON events (updated_at, id);

CREATE TABLE approvals (
    provider    TEXT    NOT NULL,
    repo        TEXT    NOT NULL,
    mr_number   INTEGER NOT NULL,
    sha         TEXT    NOT NULL,
    approver    TEXT    NOT NULL,
    event_id    INTEGER NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (provider, repo, mr_number, sha)
);

-- +goose Down
DROP TABLE approvals;
UPDATE events SET state = 'ignored' WHERE state = 'waiting';
CREATE TABLE events_old (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    provider        TEXT    NOT NULL,
    delivery        TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    repo            TEXT    NOT NULL,
    sha             TEXT    NOT NULL,
    ref             TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'dispatched', 'ignored', 'failed')),
    reason          TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (provider, delivery)
);
INSERT INTO events_old SELECT * FROM events;
DELETE FROM sqlite_sequence WHERE name = 'events_old';
INSERT INTO sqlite_sequence (name, seq) SELECT 'events_old', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_due ON events (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX events_repo ON events (repo, id);
CREATE INDEX events_state ON events (state, id);
CREATE INDEX events_updated ON events (updated_at, id);
