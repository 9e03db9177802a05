-- The log of every terminated step, so the run page shows it after the
-- pods are gone. The collector upserts by (run, task, step): several
-- replicas may save the same step.

-- +goose Up
CREATE TABLE run_logs (
    run_id      TEXT        NOT NULL,
    task        TEXT        NOT NULL,
    step        TEXT        NOT NULL,
    task_run    TEXT        NOT NULL DEFAULT '',
    exit_code   INTEGER     NOT NULL DEFAULT 0,
    log         TEXT        NOT NULL,
    truncated   BOOLEAN     NOT NULL DEFAULT FALSE,
    size        BIGINT      NOT NULL DEFAULT 0,
    started_at  TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    saved_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, task, step)
);

-- +goose Down
DROP TABLE run_logs;
