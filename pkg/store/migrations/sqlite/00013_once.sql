-- Once, whatever the replica count (issue 16). Each thing sent or started
-- on behalf of a run gets a key the database enforces, so a retry or a
-- second replica meets the key instead of sending again:
--   status_posts  one commit status per (run, state), claimed before the
--                 post and marked sent after it;
--   notifications one per (run, channel, recipient);
--   once_keys     insert-if-absent keys (the auto-deploy of a run);
--   run_slots     the per-repository concurrency limit, counted here
--                 rather than in one replica's memory.

-- +goose Up
CREATE TABLE status_posts (
    run_id        TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    claimed_until INTEGER,
    sent_at       INTEGER,
    PRIMARY KEY (run_id, state)
);
-- The recipient as first recorded: target may be refined when sent (the
-- commit author's address). NULL in older rows, which never collide.
ALTER TABLE notifications ADD COLUMN recipient TEXT;
CREATE UNIQUE INDEX notifications_once ON notifications (run_id, channel, recipient);
CREATE TABLE once_keys (
    scope      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
INSERT INTO once_keys (scope, key, created_at)
SELECT DISTINCT 'auto-deploy', run_id, 0 FROM promotions WHERE kind = 'auto-deploy' AND run_id <> '';
CREATE TABLE run_slots (
    run_id     TEXT    NOT NULL PRIMARY KEY,
    repo       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX run_slots_repo ON run_slots (repo);

-- +goose Down
DROP TABLE run_slots;
DROP TABLE once_keys;
DROP INDEX notifications_once;
ALTER TABLE notifications DROP COLUMN recipient;
DROP TABLE status_posts;
