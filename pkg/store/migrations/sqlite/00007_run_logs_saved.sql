-- Step logs are pruned by run, once the run's last step was saved longer
-- ago than the retention; this index answers that from the index alone,
-- without reading the logs.

-- +goose Up
CREATE INDEX run_logs_saved ON run_logs (run_id, saved_at);

-- +goose Down
DROP INDEX run_logs_saved;
