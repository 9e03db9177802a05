package dockerfile

import (
	"path/filepath"
	"strings"
	"testing"
)

// Merge requests' builds get cache mounts of their own id; a scope that is
// neither is refused.
func TestCacheScope(t *testing.T) {
	for _, tc := range []struct {
		app, scope, want, wantErr string
	}{
		{"go", "", "id=slipway-trusted-go-build,target=/root/.cache/go-build", ""},
		{"go", CacheUntrusted, "id=slipway-untrusted-go-build,target=/root/.cache/go-build", ""},
		{"node", CacheUntrusted, "id=slipway-untrusted-npm,target=/root/.npm", ""},
		{"go", "shared", "", `cache scope "shared"`},
	} {
		res, err := Render(filepath.Join("testdata", "apps", tc.app), nil, Options{CacheScope: tc.scope})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s %q: error %v, want %q", tc.app, tc.scope, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %q: %v", tc.app, tc.scope, err)
		}
		if !strings.Contains(string(res.Dockerfile), "--mount=type=cache,"+tc.want) {
			t.Errorf("%s %q: Dockerfile lacks the cache mount %s:\n%s", tc.app, tc.scope, tc.want, res.Dockerfile)
		}
	}
}
