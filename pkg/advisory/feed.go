package advisory

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Feed is a set of OSV records indexed by package.
type Feed struct {
	byPackage map[string][]*Record
	n         int
}

func feedKey(ecosystem, name string) string {
	e, _, _ := strings.Cut(ecosystem, ":")
	return e + "\x00" + NormalizeName(e, name)
}

// NewFeed indexes records. Withdrawn records are dropped.
func NewFeed(records ...*Record) *Feed {
	f := &Feed{byPackage: map[string][]*Record{}}
	for _, r := range records {
		if r.Withdrawn != "" {
			continue
		}
		f.n++
		seen := map[string]bool{}
		for _, a := range r.Affected {
			if a.Package.Name == "" {
				continue
			}
			k := feedKey(a.Package.Ecosystem, a.Package.Name)
			if !seen[k] {
				seen[k] = true
				f.byPackage[k] = append(f.byPackage[k], r)
			}
		}
	}
	return f
}

// Len is the number of (non-withdrawn) records.
func (f *Feed) Len() int { return f.n }

// LoadDir reads every *.json file under dir (recursively) as an OSV record:
// the layout of osv.dev's per-ecosystem all.zip once unpacked, or of a
// hand-written feed. Any unreadable or invalid record fails the load, with
// every bad file named: a security check must not run on a partial feed.
func LoadDir(dir string) (*Feed, error) {
	var records []*Record
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// A ConfigMap volume holds each file twice: the visible symlink and
		// the real file in a hidden "..<timestamp>" directory; reading both
		// would report every advisory twice. Hidden directories are skipped.
		if d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(path), ".json") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		r, err := ParseRecord(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			return nil
		}
		records = append(records, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading advisory feed %s: %w", dir, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("advisory feed %s: %w", dir, errors.Join(errs...))
	}
	return NewFeed(records...), nil
}

// Match returns the advisories that affect version of the package, ordered
// by id.
func (f *Feed) Match(ecosystem, name, version string) []Match {
	var out []Match
	for _, r := range f.byPackage[feedKey(ecosystem, name)] {
		if m, ok := r.Affects(ecosystem, name, version); ok {
			out = append(out, m)
		}
	}
	sortMatches(out)
	return out
}

// LoadFiles parses OSV records held by name, such as the data of a
// ConfigMap; names not ending in .json are skipped. Like LoadDir, any bad
// record fails the load, every bad one named.
func LoadFiles(files map[string]string) (*Feed, error) {
	var records []*Record
	var errs []error
	for name, data := range files {
		if !strings.EqualFold(filepath.Ext(name), ".json") {
			continue
		}
		r, err := ParseRecord([]byte(data))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		records = append(records, r)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("advisory feed: %w", errors.Join(errs...))
	}
	// Map order is random: index in name order so matches are stable.
	slices.SortFunc(records, func(a, b *Record) int { return strings.Compare(a.ID, b.ID) })
	return NewFeed(records...), nil
}
