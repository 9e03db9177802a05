-- Times are INTEGER microseconds since the Unix epoch (UTC): they compare
-- and index as numbers, and keep the precision PostgreSQL keeps.

-- +goose Up
CREATE TABLE events (
    -- AUTOINCREMENT: an id is never reused, even after old events are pruned,
    -- so runs.event_id cannot come to point at a newer event.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    provider        TEXT    NOT NULL,
    delivery        TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    repo            TEXT    NOT NULL,
    sha             TEXT    NOT NULL,
    ref             TEXT    NOT NULL,
    -- The whole normalized event.Event as JSON; the columns around it are
    -- for querying and for the queue's own bookkeeping.
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
-- The claim query: due queued events, oldest first.
CREATE INDEX events_due ON events (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX events_repo ON events (repo, id);
CREATE INDEX events_state ON events (state, id);

CREATE TABLE runs (
    id           TEXT    PRIMARY KEY, -- namespace/name of the PipelineRun
    event_id     INTEGER NOT NULL,
    provider     TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    repo         TEXT    NOT NULL,
    project_id   INTEGER NOT NULL DEFAULT 0,
    app          TEXT    NOT NULL,
    ref          TEXT    NOT NULL,
    sha          TEXT    NOT NULL,
    mr_number    INTEGER NOT NULL DEFAULT 0,
    state        TEXT    NOT NULL,
    reported     TEXT    NOT NULL DEFAULT '',
    message      TEXT    NOT NULL DEFAULT '',
    image_url    TEXT    NOT NULL DEFAULT '',
    image_digest TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX runs_created ON runs (created_at, id);
CREATE INDEX runs_repo ON runs (repo, created_at);
CREATE INDEX runs_state ON runs (state, created_at);
CREATE INDEX runs_event ON runs (event_id);

-- +goose Down
DROP TABLE runs;
DROP TABLE events;
