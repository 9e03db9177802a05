-- UI sign-in sessions: the cookie holds a random id, the store only its
-- SHA-256, so a copy of the database signs nobody in. Retention deletes
-- old audit rows: a delete is refused unless it runs in the transaction
-- that holds the audit_pruning row (the pruner's), so hand-typed SQL
-- still cannot rewrite history; updates and TRUNCATE stay refused.

-- +goose Up
CREATE TABLE sessions (
    id_sha256  TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    role       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE TABLE audit_pruning (one INTEGER PRIMARY KEY CHECK (one = 1));
-- +goose StatementBegin
CREATE FUNCTION audit_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_pruning) THEN
        RAISE EXCEPTION 'audit is append-only';
    END IF;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd
DROP TRIGGER audit_no_change ON audit;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_delete_guard();
CREATE INDEX events_updated ON events (updated_at, id);
CREATE INDEX runs_updated ON runs (updated_at, id);

-- +goose Down
DROP INDEX runs_updated;
DROP INDEX events_updated;
DROP TRIGGER audit_no_delete ON audit;
DROP TRIGGER audit_no_update ON audit;
DROP FUNCTION audit_delete_guard();
DROP TABLE audit_pruning;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
DROP TABLE sessions;
