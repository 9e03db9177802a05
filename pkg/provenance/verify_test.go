package provenance

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVerify(t *testing.T) {
	st, err := Parse(readFixture(t, "buildkit-provenance-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	const builder = "https://slipway.dev/builder/buildkit"
	other := strings.Repeat("0", 40)
	tests := []struct {
		name string
		want Expectations
		// nil: Verify passes
		mismatches []Mismatch
	}{
		{"exact", Expectations{Repo: fixtureRepo, Commit: fixtureCommit, BuilderID: builder}, nil},
		{"builder not checked when empty", Expectations{Repo: fixtureRepo, Commit: fixtureCommit}, nil},
		{"equivalent repo spelling", Expectations{Repo: "HTTP://Git.Slipway.Local/team/hello/", Commit: strings.ToUpper(fixtureCommit)}, nil},
		{"other commit", Expectations{Repo: fixtureRepo, Commit: other}, []Mismatch{
			{Field: "commit", Want: other, Got: fixtureCommit},
		}},
		{"short commit is not enough", Expectations{Repo: fixtureRepo, Commit: fixtureCommit[:7]}, []Mismatch{
			{Field: "commit", Want: fixtureCommit[:7], Got: fixtureCommit},
		}},
		{"repo path case matters", Expectations{Repo: "http://git.slipway.local/Team/hello.git", Commit: fixtureCommit}, []Mismatch{
			{Field: "source repo", Want: "http://git.slipway.local/Team/hello.git", Got: fixtureRepo},
		}},
		{"everything wrong", Expectations{Repo: "https://github.com/evil/app", Commit: other, BuilderID: "https://evil/builder"}, []Mismatch{
			{Field: "source repo", Want: "https://github.com/evil/app", Got: fixtureRepo},
			{Field: "commit", Want: other, Got: fixtureCommit},
			{Field: "builder id", Want: "https://evil/builder", Got: builder},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(st, tc.want)
			var got []Mismatch
			var me *MismatchError
			if errors.As(err, &me) {
				got = me.Mismatches
			} else if err != nil {
				t.Fatalf("Verify: unexpected error %v", err)
			}
			if diff := cmp.Diff(tc.mismatches, got); diff != "" {
				t.Errorf("mismatches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyMessageNamesEachField(t *testing.T) {
	st, err := Parse(readFixture(t, "buildkit-provenance-v0.2.json"))
	if err != nil {
		t.Fatal(err)
	}
	err = Verify(st, Expectations{Repo: "https://x/y", Commit: "abc"})
	want := `provenance does not match: source repo: want "https://x/y", got "` + fixtureRepo +
		`"; commit: want "abc", got "` + fixtureCommit + `"`
	if err == nil || err.Error() != want {
		t.Errorf("Verify error =\n%v\nwant\n%s", err, want)
	}
}

func TestVerifyRejectsBadInput(t *testing.T) {
	st, err := Parse(readFixture(t, "buildkit-provenance-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		st   *Statement
		want Expectations
	}{
		{"nil statement", nil, Expectations{Repo: fixtureRepo, Commit: fixtureCommit}},
		{"no repo", st, Expectations{Commit: fixtureCommit}},
		{"no commit", st, Expectations{Repo: fixtureRepo}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.st, tc.want)
			var me *MismatchError
			if err == nil || errors.As(err, &me) {
				t.Errorf("Verify = %v, want a usage error", err)
			}
		})
	}
}
