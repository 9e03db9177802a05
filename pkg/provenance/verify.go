package provenance

import (
	"errors"
	"fmt"
	"strings"
)

// Expectations is what an image's provenance must say. Repo and Commit are
// required; BuilderID is checked only when set.
type Expectations struct {
	Repo      string
	Commit    string
	BuilderID string
}

// Mismatch is one field whose recorded value is not the expected one.
type Mismatch struct {
	Field string
	Want  string
	Got   string
}

// MismatchError lists every field that did not match, so one run of a
// promotion gate shows all of them at once.
type MismatchError struct {
	Mismatches []Mismatch
}

func (e *MismatchError) Error() string {
	parts := make([]string, len(e.Mismatches))
	for i, m := range e.Mismatches {
		parts[i] = fmt.Sprintf("%s: want %q, got %q", m.Field, m.Want, m.Got)
	}
	return "provenance does not match: " + strings.Join(parts, "; ")
}

// Verify checks the statement's source repository, commit and builder
// against want. It returns a *MismatchError naming each differing field.
func Verify(st *Statement, want Expectations) error {
	if st == nil {
		return errors.New("verify provenance: no statement")
	}
	if want.Repo == "" || want.Commit == "" {
		return errors.New("verify provenance: expected repo and commit are required")
	}
	repo, rev := st.Source()
	var ms []Mismatch
	if normalizeRepo(repo) != normalizeRepo(want.Repo) {
		ms = append(ms, Mismatch{Field: "source repo", Want: want.Repo, Got: repo})
	}
	// A short SHA is not accepted: the gate must pin one exact commit.
	if !strings.EqualFold(rev, want.Commit) {
		ms = append(ms, Mismatch{Field: "commit", Want: want.Commit, Got: rev})
	}
	if want.BuilderID != "" && st.BuilderID() != want.BuilderID {
		ms = append(ms, Mismatch{Field: "builder id", Want: want.BuilderID, Got: st.BuilderID()})
	}
	if len(ms) > 0 {
		return &MismatchError{Mismatches: ms}
	}
	return nil
}

// normalizeRepo makes equivalent spellings of one clone URL compare equal:
// scheme and host case, a trailing slash and a ".git" suffix do not matter.
func normalizeRepo(u string) string {
	u = strings.TrimSpace(u)
	u = strings.TrimSuffix(u, "/")
	u = strings.TrimSuffix(u, ".git")
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	host, path, _ := strings.Cut(rest, "/")
	return strings.ToLower(scheme) + "://" + strings.ToLower(host) + "/" + path
}
