-- One active promotion per app and environment: two rollouts of one app
-- into one environment (two quick auto-deploys, a rollback during a
-- blue-green scale-down delay) would otherwise run two deploy
-- PipelineRuns on the same Deployment at once. A promotion that cannot
-- start waits in the new state 'queued'; the partial unique index is the
-- arbiter between replicas (the second one to move a promotion of the
-- same app and environment to running or paused fails on it).

-- +goose Up
ALTER TABLE promotions DROP CONSTRAINT promotions_state_check;
ALTER TABLE promotions ADD CONSTRAINT promotions_state_check
    CHECK (state IN ('awaiting-approval', 'queued', 'running', 'paused', 'succeeded', 'failed', 'refused', 'aborted'));
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
ALTER TABLE promotions DROP CONSTRAINT promotions_state_check;
ALTER TABLE promotions ADD CONSTRAINT promotions_state_check
    CHECK (state IN ('awaiting-approval', 'running', 'paused', 'succeeded', 'failed', 'refused', 'aborted'));
