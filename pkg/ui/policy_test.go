package ui

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

func TestRunPageShowsPolicy(t *testing.T) {
	digest := "sha256:" + strings.Repeat("b", 64)
	tests := []struct {
		name    string
		check   *run.PolicyCheck
		want    []string
		notWant []string
	}{
		{"violations", &run.PolicyCheck{Digest: digest, RunID: ns + "/" + runName, Outcome: run.PolicyFailed, Packages: 4, More: 1,
			Violations: []run.PolicyViolation{
				{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Severity: "CRITICAL", Fixed: "1.2.0"},
				{Package: "evil<script>", Version: "1", Rule: "denied-package", ID: "pkg:npm/evil*"},
			}},
			[]string{
				`<p id="policy-summary">3 policy violations, first: example.com/slipway-vuln v1.0.0: SLIPWAY-2026-0001 (fixed in 1.2.0), checked`,
				`<tr><td><code>example.com/slipway-vuln</code></td><td>v1.0.0</td><td><code>SLIPWAY-2026-0001</code></td><td>CRITICAL</td><td>1.2.0</td></tr>`,
				`<td><code>evil&lt;script&gt;</code></td>`, `denied-package: <code>pkg:npm/evil*</code>`, "…and 1 more.",
			}, []string{"evil<script>"}},
		{"no policy", &run.PolicyCheck{Digest: digest, RunID: ns + "/" + runName, Outcome: run.PolicyNone},
			[]string{`<p id="policy-summary">no dependency policy`}, []string{`id="policy-violations"`}},
		{"not stored", nil, nil, []string{`id="policy-summary"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, nil, func(st *store.DB) []Option { return []Option{WithPolicyChecks(st)} })
			e.recordRun(run.Failed)
			ctx := context.Background()
			r, _ := e.st.GetRun(ctx, ns+"/"+runName)
			r.ImageURL, r.ImageDigest = "127.0.0.1:1/apps/web:3f786850", digest
			if err := e.st.UpdateRun(ctx, r, *r); err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				if err := e.st.SavePolicyCheck(ctx, tc.check); err != nil {
					t.Fatal(err)
				}
			}
			code, body, _ := e.get("/runs/" + ns + "/" + runName)
			if code != http.StatusOK {
				t.Fatalf("GET run page: %d\n%s", code, body)
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("run page lacks %q", s)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(body, s) {
					t.Errorf("run page shows %q", s)
				}
			}
		})
	}
}
