-- The trust gate (issue 14): an untrusted merge request's event ends
-- "waiting" for a maintainer's /ok-to-test instead of building, and each
-- approval is kept for the one head SHA it was given for.

-- +goose Up
ALTER TABLE events DROP CONSTRAINT events_state_check;
ALTER TABLE events ADD CONSTRAINT events_state_check
    CHECK (state IN ('queued', 'dispatched', 'ignored', 'failed', 'waiting'));

CREATE TABLE approvals (
    provider    TEXT        NOT NULL,
    repo        TEXT        NOT NULL,
    mr_number   INTEGER     NOT NULL,
    sha         TEXT        NOT NULL,
    approver    TEXT        NOT NULL,
    event_id    BIGINT      NOT NULL,
    approved_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, repo, mr_number, sha)
);

-- +goose Down
DROP TABLE approvals;
UPDATE events SET state = 'ignored' WHERE state = 'waiting';
ALTER TABLE events DROP CONSTRAINT events_state_check;
ALTER TABLE events ADD CONSTRAINT events_state_check
    CHECK (state IN ('queued', 'dispatched', 'ignored', 'failed'));
