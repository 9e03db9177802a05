-- UI sign-in sessions: the cookie holds a random id, the store only its
-- SHA-256, so a copy of the database signs nobody in. Retention deletes
-- old audit rows: a delete is refused unless it runs in the transaction
-- that holds the audit_pruning row (the pruner's), so hand-typed SQL
-- still cannot rewrite history.

-- +goose Up
CREATE TABLE sessions (
    id_sha256  TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE TABLE audit_pruning (one INTEGER PRIMARY KEY CHECK (one = 1));
DROP TRIGGER audit_no_delete;
-- +goose StatementBegin
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN NOT EXISTS (SELECT 1 FROM audit_pruning)
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;
-- +goose StatementEnd
CREATE INDEX events_updated ON events (updated_at, id);
CREATE INDEX runs_updated ON runs (updated_at, id);

-- +goose Down
DROP INDEX runs_updated;
DROP INDEX events_updated;
DROP TRIGGER audit_no_delete;
-- +goose StatementBegin
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;
-- +goose StatementEnd
DROP TABLE audit_pruning;
DROP TABLE sessions;
