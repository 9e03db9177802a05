-- Notifications are recorded as pending before they are sent, so a
-- restart resumes them. claim counts the takeovers: an update by an owner
-- whose claim was taken over changes nothing, so a notification is never
-- sent twice.

-- +goose Up
ALTER TABLE notifications ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN claimed_until INTEGER;
CREATE INDEX notifications_pending ON notifications (claimed_until, id) WHERE state = 'pending';

-- +goose Down
DROP INDEX notifications_pending;
ALTER TABLE notifications DROP COLUMN claimed_until;
ALTER TABLE notifications DROP COLUMN claim;
