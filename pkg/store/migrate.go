package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// migrations holds one folder of goose SQL files per dialect.
//
//go:embed migrations
var migrations embed.FS

// migrate applies the pending migrations of dir to db.
func migrate(ctx context.Context, dialect goose.Dialect, db *sql.DB, dir string) error {
	sub, err := fs.Sub(migrations, "migrations/"+dir)
	if err != nil {
		return fmt.Errorf("migrations %s: %w", dir, err)
	}
	p, err := goose.NewProvider(dialect, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations %s: %w", dir, err)
	}
	// Without a lock (SQLite has no advisory lock) a second process may be
	// applying the same migration; then ours fails on its DDL and rolls
	// back. Look again: if the other one finished, there is nothing to do.
	var upErr error
	for range migrateAttempts {
		if _, upErr = p.Up(ctx); upErr == nil {
			return nil
		}
		pending, err := p.HasPending(ctx)
		if err != nil {
			break
		}
		if !pending {
			return nil
		}
	}
	return fmt.Errorf("apply %s migrations: %w", dir, upErr)
}

const migrateAttempts = 5
