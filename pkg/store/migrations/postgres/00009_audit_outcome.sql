-- An audit entry says how the action ended in a column of its own, so a
-- success is recorded as one and nobody parses the result text back.
-- Older entries get theirs from the prefix of their result.

-- +goose Up
ALTER TABLE audit ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
UPDATE audit SET outcome = CASE
  WHEN result = 'succeeded' THEN 'succeeded'
  WHEN result LIKE 'accepted%' THEN 'accepted'
  WHEN result LIKE 'refused%' THEN 'refused'
  WHEN result LIKE 'forbidden%' THEN 'forbidden'
  WHEN result LIKE 'unauthenticated%' THEN 'unauthenticated'
  ELSE 'failed'
END;

-- +goose Down
ALTER TABLE audit DROP COLUMN outcome;
