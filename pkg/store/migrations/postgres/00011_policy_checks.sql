-- The dependency policy's outcome per image digest, written when the CI
-- run's policy step finishes: the latest check of a digest wins (a rebuild
-- of the same commit pushes the same digest). violations is the bounded
-- JSON list the step wrote (run.PolicyViolation).

-- +goose Up
CREATE TABLE policy_checks (
    digest     TEXT    PRIMARY KEY,
    run_id     TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    packages   INTEGER NOT NULL,
    more       INTEGER NOT NULL,
    violations TEXT    NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE policy_checks;
