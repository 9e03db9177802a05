package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

func testPolicyChecks(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	digest := "sha256:" + strings.Repeat("a", 64)
	if _, err := s.PolicyCheck(ctx, digest); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown digest: err = %v, want ErrNotFound", err)
	}
	failed := run.PolicyCheck{Digest: digest, RunID: "ci/app-1", Outcome: run.PolicyFailed, Packages: 3, More: 2,
		Violations: []run.PolicyViolation{{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Severity: "CRITICAL", Fixed: "1.2.0"}}}
	if err := s.SavePolicyCheck(ctx, &failed); err != nil {
		t.Fatal(err)
	}
	got, err := s.PolicyCheck(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	want := failed
	want.CheckedAt = clock.Now().UTC().Truncate(time.Microsecond)
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("PolicyCheck (-want +got):\n%s", diff)
	}
	// A later check of the same digest replaces the first.
	clock.Advance(time.Minute)
	passed := run.PolicyCheck{Digest: digest, RunID: "ci/app-2", Outcome: run.PolicyPassed, Packages: 3}
	if err := s.SavePolicyCheck(ctx, &passed); err != nil {
		t.Fatal(err)
	}
	got, err = s.PolicyCheck(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	want = passed
	want.CheckedAt = clock.Now().UTC().Truncate(time.Microsecond)
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("second PolicyCheck (-want +got):\n%s", diff)
	}
	for name, bad := range map[string]run.PolicyCheck{
		"no digest":   {RunID: "ci/x", Outcome: run.PolicyPassed},
		"tag":         {Digest: "latest", RunID: "ci/x", Outcome: run.PolicyPassed},
		"no run":      {Digest: digest, Outcome: run.PolicyPassed},
		"bad outcome": {Digest: digest, RunID: "ci/x", Outcome: "maybe"},
	} {
		if err := s.SavePolicyCheck(ctx, &bad); err == nil {
			t.Errorf("%s: saved", name)
		}
	}
	// Bad input lost nothing.
	if got, err := s.PolicyCheck(ctx, digest); err != nil || got.RunID != "ci/app-2" {
		t.Errorf("after bad saves: %+v, %v", got, err)
	}
}
