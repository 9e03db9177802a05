package promote

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/advisory"
	"github.com/slipway-ci/slipway/pkg/policy"
	"github.com/slipway-ci/slipway/pkg/sbom/sbomtest"
)

// feedFiles is a FeedLoader over files that the test changes between
// checks, as a platform team updates its ConfigMap.
type feedFiles struct {
	files map[string]string
	err   error
}

func (f *feedFiles) LoadFeed(context.Context) (*advisory.Feed, error) {
	if f.err != nil {
		return nil, f.err
	}
	return advisory.LoadFiles(f.files)
}

func pushSBOM(t *testing.T, repo string, pkgs ...sbomtest.Package) name.Digest {
	t.Helper()
	idx, err := sbomtest.Index(pkgs...)
	if err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(repo + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestPolicyGate(t *testing.T) {
	reg := newRegistry(t)
	record, err := os.ReadFile("../advisory/testdata/feed/SLIPWAY-2026-0001.json")
	if err != nil {
		t.Fatal(err)
	}
	vuln := sbomtest.Package{Name: "example.com/slipway-vuln", Version: "v1.0.0", PURL: "pkg:golang/example.com/slipway-vuln@v1.0.0"}
	fixed := sbomtest.Package{Name: "example.com/slipway-vuln", Version: "v1.2.0", PURL: "pkg:golang/example.com/slipway-vuln@v1.2.0"}
	vulnImg := pushSBOM(t, reg+"/acme/shop", vuln)
	fixedImg := pushSBOM(t, reg+"/acme/shop", fixed)
	provOnly := pushIndex(t, reg+"/acme/shop", cloneURL, commit, builder)
	pf, err := policy.Parse([]byte("apps:\n  legacy:\n    ignoreAdvisories: [{id: CVE-2026-99901, reason: not reachable}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	withAdvisory := map[string]string{"SLIPWAY-2026-0001.json": string(record)}

	tests := []struct {
		name    string
		files   map[string]string
		feedErr error
		image   name.Digest
		app     string
		// wantRefused is a substring of the refusal; "" passes; "error" is
		// an error that is no verdict.
		wantRefused string
	}{
		{"clean at build time, clean now", nil, nil, vulnImg, "shop", ""},
		{"an advisory published since", withAdvisory, nil, vulnImg, "shop", "1 policy violation, first: example.com/slipway-vuln v1.0.0: SLIPWAY-2026-0001 (fixed in 1.2.0)"},
		{"the bumped dependency", withAdvisory, nil, fixedImg, "shop", ""},
		{"an app's accepted advisory", withAdvisory, nil, vulnImg, "legacy", ""},
		{"no SBOM: fail closed", withAdvisory, nil, provOnly, "shop", "no readable SBOM"},
		{"feed unreadable: no verdict", nil, errors.New("configmap not found"), vulnImg, "shop", "error"},
		{"a bad record: no verdict", map[string]string{"bad.json": "{"}, nil, vulnImg, "shop", "error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &PolicyGate{Policy: pf, Feed: &feedFiles{files: tc.files, err: tc.feedErr},
				Clock: clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))}
			err := g.Check(context.Background(), tc.image, tc.app)
			var refused *RefusedError
			var pref *PolicyRefusedError
			switch tc.wantRefused {
			case "":
				if err != nil {
					t.Fatalf("Check = %v, want it to pass", err)
				}
			case "error":
				if err == nil || errors.As(err, &refused) || errors.As(err, &pref) {
					t.Fatalf("Check = %v, want an error that is no refusal", err)
				}
			default:
				if !errors.As(err, &pref) || !strings.Contains(pref.Error(), tc.wantRefused) {
					t.Fatalf("Check = %v, want a refusal containing %q", err, tc.wantRefused)
				}
			}
		})
	}
	if err := (&PolicyGate{}).Check(context.Background(), vulnImg, "shop"); err == nil {
		t.Error("a gate without a feed passed")
	}
}

func TestPolicyRefusedIDs(t *testing.T) {
	e := &PolicyRefusedError{RefusedError: RefusedError{Reason: "r"}}
	if got := e.IDs(); got != "r" {
		t.Errorf("IDs of a refusal without violations = %q", got)
	}
	e.Check = policy.Check(policy.Result{Violations: []policy.Violation{{ID: "SLIPWAY-2026-0001"}, {ID: "GHSA-x"}}}, 3)
	e.Check.More = 2
	if got, want := e.IDs(), "SLIPWAY-2026-0001, GHSA-x, +2 more"; got != want {
		t.Errorf("IDs = %q, want %q", got, want)
	}
}
