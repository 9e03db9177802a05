-- Notifications (email, chat) sent about finished runs, with their outcome,
-- so a failed delivery is visible rather than lost.

-- +goose Up
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT    NOT NULL,
    repo       TEXT    NOT NULL DEFAULT '',
    channel    TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    subject    TEXT    NOT NULL DEFAULT '',
    state      TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX notifications_created ON notifications (created_at, id);
CREATE INDEX notifications_state ON notifications (state, created_at);

-- +goose Down
DROP TABLE notifications;
