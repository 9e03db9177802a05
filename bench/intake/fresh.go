package intake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-ci/slipway/pkg/store"
)

// Fresh is an empty store made for one burst.
type Fresh struct {
	Store *store.DB
	// Where names it for the report: a file (and its filesystem) or a
	// database.
	Where string
	drop  func(context.Context) error
}

// Close closes the store and removes what was made for it.
func (f *Fresh) Close(ctx context.Context) error {
	return errors.Join(f.Store.Close(), f.drop(ctx))
}

// FreshSQLite opens a store on a new SQLite file in a new directory under
// dir (the system temp directory if empty).
func FreshSQLite(ctx context.Context, dir string) (*Fresh, error) {
	tmp, err := os.MkdirTemp(dir, "intakebench-")
	if err != nil {
		return nil, fmt.Errorf("fresh sqlite: %w", err)
	}
	path := filepath.Join(tmp, "slipway.db")
	st, err := store.Open(ctx, "sqlite://"+path)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("fresh sqlite: %w", err), os.RemoveAll(tmp))
	}
	where := path
	if fs, err := filesystem(tmp); err == nil {
		where += " (" + fs + ")"
	}
	return &Fresh{Store: st, Where: where, drop: func(context.Context) error { return os.RemoveAll(tmp) }}, nil
}

// FreshPostgres creates a new database on the server of baseURL (whose
// user may create databases) and opens a store on it.
func FreshPostgres(ctx context.Context, baseURL string) (*Fresh, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("fresh postgres: base URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("fresh postgres: base URL scheme %q: want postgres:// or postgresql://", u.Scheme)
	}
	suffix, err := uuid()
	if err != nil {
		return nil, fmt.Errorf("fresh postgres: %w", err)
	}
	name := "intakebench_" + strings.ReplaceAll(suffix, "-", "")[:16]
	admin, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return nil, fmt.Errorf("fresh postgres: connect to %s: %w", u.Redacted(), err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("fresh postgres: create database %s: %w", name, err)
	}
	drop := func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, baseURL)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer c.Close(context.WithoutCancel(ctx))
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	fresh := *u
	fresh.Path = "/" + name
	st, err := store.Open(ctx, fresh.String())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("fresh postgres: %w", err), drop(context.WithoutCancel(ctx)))
	}
	return &Fresh{Store: st, Where: "database " + name + " on " + u.Host, drop: drop}, nil
}

// filesystem names the type of the filesystem holding path, from the
// longest matching mount point in /proc/self/mounts.
func filesystem(path string) (string, error) {
	abs, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return "", err
	}
	defer f.Close()
	best, fsType := "", ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		mnt := fields[1]
		inside := abs == mnt || strings.HasPrefix(abs, strings.TrimSuffix(mnt, "/")+"/")
		if inside && len(mnt) > len(best) {
			best, fsType = mnt, fields[2]
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if fsType == "" {
		return "", fmt.Errorf("no mount holds %s", abs)
	}
	return fsType + " on " + best, nil
}
