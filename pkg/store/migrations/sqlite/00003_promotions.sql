-- Promotions (one digest into one environment), the history of what was
-- deployed where, and the append-only audit log of who did what.

-- +goose Up
CREATE TABLE promotions (
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
    -- JSON list of "namespace/name" of the deploy PipelineRuns.
    pipeline_runs TEXT    NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX promotions_created ON promotions (created_at, id);
CREATE INDEX promotions_app ON promotions (app, to_env, created_at);
CREATE INDEX promotions_to ON promotions (to_env, created_at);
CREATE INDEX promotions_state ON promotions (state, created_at);

CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    app          TEXT    NOT NULL,
    env          TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    image        TEXT    NOT NULL DEFAULT '',
    commit_sha   TEXT    NOT NULL DEFAULT '',
    promotion_id INTEGER NOT NULL DEFAULT 0,
    deployed_at  INTEGER NOT NULL
);
-- "What runs in qa", "the previous digest in prod": one app and env,
-- newest first.
CREATE INDEX deployments_app_env ON deployments (app, env, deployed_at, id);
CREATE INDEX deployments_app ON deployments (app, deployed_at, id);

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    role         TEXT    NOT NULL DEFAULT '',
    action       TEXT    NOT NULL,
    app          TEXT    NOT NULL DEFAULT '',
    from_env     TEXT    NOT NULL DEFAULT '',
    to_env       TEXT    NOT NULL DEFAULT '',
    digest       TEXT    NOT NULL DEFAULT '',
    promotion_id INTEGER NOT NULL DEFAULT 0,
    result       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at, id);
CREATE INDEX audit_app ON audit (app, at, id);
CREATE INDEX audit_actor ON audit (actor, at, id);
CREATE INDEX audit_promotion ON audit (promotion_id, at, id);

-- The audit log is append-only in the database too, not only in the Go
-- interface, so no code path (or hand-typed SQL) rewrites history.
-- +goose StatementBegin
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit;
DROP TABLE deployments;
DROP TABLE promotions;
