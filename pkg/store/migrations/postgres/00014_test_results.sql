-- Parsed unit-test results per run (the unit-test step's JUnit reports).
-- test_reports says a run has a report at all (an empty one included);
-- test_results holds its cases in the order the report listed them. Both go
-- with their run when retention deletes it.

-- +goose Up
CREATE TABLE test_reports (
    run_id    TEXT        PRIMARY KEY,
    truncated BOOLEAN     NOT NULL DEFAULT FALSE,
    saved_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE test_results (
    run_id      TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    suite       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    duration_ms BIGINT  NOT NULL DEFAULT 0,
    output      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
);
-- A test's history across runs.
CREATE INDEX test_results_test ON test_results (suite, name);
-- +goose StatementBegin
CREATE FUNCTION runs_delete_test_results() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM test_results WHERE run_id = OLD.id;
    DELETE FROM test_reports WHERE run_id = OLD.id;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER runs_delete_test_results AFTER DELETE ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_delete_test_results();

-- +goose Down
DROP TRIGGER runs_delete_test_results ON runs;
DROP FUNCTION runs_delete_test_results();
DROP TABLE test_results;
DROP TABLE test_reports;
