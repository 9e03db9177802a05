-- A promotion records its deployment once, even when two replicas finish
-- it at the same moment: the second insert meets this index and is a
-- no-op (RecordDeployment returns the first record). Rollback's "previous
-- distinct digest" no longer has to step over doubles.

-- +goose Up
DELETE FROM deployments
 WHERE promotion_id > 0
   AND id NOT IN (SELECT MIN(id) FROM deployments WHERE promotion_id > 0 GROUP BY promotion_id);
CREATE UNIQUE INDEX deployments_promotion ON deployments (promotion_id) WHERE promotion_id > 0;

-- +goose Down
DROP INDEX deployments_promotion;
