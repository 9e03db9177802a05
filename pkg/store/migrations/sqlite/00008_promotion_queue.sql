-- One active promotion per app and environment: two rollouts of one app
-- into one environment (two quick auto-deploys, a rollback during a
-- blue-green scale-down delay) would otherwise run two deploy
-- PipelineRuns on the same Deployment at once. A promotion that cannot
-- start waits in the new state 'queued'; the partial unique index is the
-- arbiter between replicas (the second one to move a promotion of the
-- same app and environment to running or paused fails on it).
--
-- SQLite cannot change a CHECK constraint in place, so the table is
-- rebuilt with the same columns and indexes.

-- +goose Up
CREATE TABLE promotions_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL CHECK (kind IN ('promote', 'rollback', 'auto-deploy')),
    app           TEXT    NOT NULL,
    from_env      TEXT    NOT NULL DEFAULT '',
    to_env        TEXT    NOT NULL,
    digest        TEXT    NOT NULL DEFAULT '',
    source_image  TEXT    NOT NULL DEFAULT '',
    target_image  TEXT    NOT NULL DEFAULT '',
    commit_sha    TEXT    NOT NULL DEFAULT '',
    run_id        TEXT    NOT NULL DEFAULT '',
    state         TEXT    NOT NULL CHECK (state IN ('awaiting-approval', 'queued', 'running', 'paused', 'succeeded', 'failed', 'refused', 'aborted')),
    reason        TEXT    NOT NULL DEFAULT '',
    progress      TEXT    NOT NULL DEFAULT '',
    requested_by  TEXT    NOT NULL,
    approved_by   TEXT    NOT NULL DEFAULT '',
    pipeline_runs TEXT    NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
INSERT INTO promotions_new SELECT id, kind, app, from_env, to_env, digest, source_image, target_image, commit_sha, run_id,
    state, reason, progress, requested_by, approved_by, pipeline_runs, created_at, updated_at, finished_at FROM promotions;
DROP TABLE promotions;
ALTER TABLE promotions_new RENAME TO promotions;
CREATE INDEX promotions_created ON promotions (created_at, id);
CREATE INDEX promotions_app ON promotions (app, to_env, created_at);
CREATE INDEX promotions_to ON promotions (to_env, created_at);
CREATE INDEX promotions_state ON promotions (state, created_at);
-- Promotions that already run side by side: the oldest keeps running, the
-- others wait their turn (their PipelineRuns have deterministic names, so
-- resuming one follows the run it already has).
UPDATE promotions SET state = 'queued'
 WHERE state IN ('running', 'paused')
   AND id NOT IN (SELECT MIN(id) FROM promotions WHERE state IN ('running', 'paused') GROUP BY app, to_env);
CREATE UNIQUE INDEX promotions_active ON promotions (app, to_env) WHERE state IN ('running', 'paused');

-- +goose Down
DROP INDEX promotions_active;
UPDATE promotions SET state = 'running' WHERE state = 'queued';
CREATE TABLE promotions_old (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL CHECK (kind IN ('promote', 'rollback', 'auto-deploy')),
    app           TEXT    NOT NULL,
    from_env      TEXT    NOT NULL DEFAULT '',
    to_env        TEXT    NOT NULL,
    digest        TEXT    NOT NULL DEFAULT '',
    source_image  TEXT    NOT NULL DEFAULT '',
    target_image  TEXT    NOT NULL DEFAULT '',
    commit_sha    TEXT    NOT NULL DEFAULT '',
    run_id        TEXT    NOT NULL DEFAULT '',
    state         TEXT    NOT NULL CHECK (state IN ('awaiting-approval', 'running', 'paused', 'succeeded', 'failed', 'refused', 'aborted')),
    reason        TEXT    NOT NULL DEFAULT '',
    progress      TEXT    NOT NULL DEFAULT '',
    requested_by  TEXT    NOT NULL,
    approved_by   TEXT    NOT NULL DEFAULT '',
    pipeline_runs TEXT    NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
INSERT INTO promotions_old SELECT * FROM promotions;
DROP TABLE promotions;
ALTER TABLE promotions_old RENAME TO promotions;
CREATE INDEX promotions_created ON promotions (created_at, id);
CREATE INDEX promotions_app ON promotions (app, to_env, created_at);
CREATE INDEX promotions_to ON promotions (to_env, created_at);
CREATE INDEX promotions_state ON promotions (state, created_at);
