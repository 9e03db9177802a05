package gitlab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// serveDiffs answers "list merge request diffs" of project 5 !7 with n
// files, paginated as GitLab does (per_page, page, X-Next-Page); file 3
// is a rename. It counts the pages asked for.
func serveDiffs(t *testing.T, mux *http.ServeMux, n int, pages *int) {
	t.Helper()
	mux.HandleFunc("GET /api/v4/projects/5/merge_requests/7/diffs", func(w http.ResponseWriter, r *http.Request) {
		*pages++
		if got := r.Header.Get("Private-Token"); got != token {
			t.Errorf("Private-Token = %q", got)
		}
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if per != 100 {
			t.Errorf("per_page = %d, want 100", per)
		}
		page = max(page, 1)
		out := []map[string]any{}
		for i := (page - 1) * per; i < min(page*per, n); i++ {
			p := fmt.Sprintf("dir/f%d", i)
			d := map[string]any{"old_path": p, "new_path": p, "diff": "@@ -1 +1 @@"}
			if i == 3 {
				d["old_path"], d["renamed_file"] = "old/f3", true
			}
			out = append(out, d)
		}
		if page*per < n {
			w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}

func TestMergeRequestFiles(t *testing.T) {
	want := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("dir/f%d", i))
			if i == 3 {
				out = append(out, "old/f3")
			}
		}
		return out
	}
	for _, tc := range []struct {
		name         string
		files, limit int
		want         []string
		complete     bool
		pages        int
	}{
		{"one page", 5, 1000, want(5), true, 1},
		{"paginated", 250, 1000, want(250), true, 3},
		{"exactly the limit", 200, 200, want(200), true, 2},
		{"more than the limit", 250, 120, want(120), false, 2},
		{"none", 0, 10, nil, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mux := setup(t)
			pages := 0
			serveDiffs(t, mux, tc.files, &pages)
			got, complete, err := c.MergeRequestFiles(context.Background(), scm.Repo{ProjectID: 5}, 7, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if complete != tc.complete || pages != tc.pages {
				t.Errorf("complete %v after %d pages, want %v after %d", complete, pages, tc.complete, tc.pages)
			}
		})
	}
}

func TestMergeRequestFilesErrors(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /api/v4/projects/6/merge_requests/7/diffs", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /api/v4/projects/8/merge_requests/7/diffs", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	})
	ctx := context.Background()
	if _, _, err := c.MergeRequestFiles(ctx, scm.Repo{ProjectID: 6}, 7, 10); err == nil {
		t.Error("a 503: no error")
	} else if ok, _ := scm.IsTransient(err); !ok {
		t.Errorf("a 503: %v is not transient", err)
	}
	if _, _, err := c.MergeRequestFiles(ctx, scm.Repo{ProjectID: 8}, 7, 10); err == nil {
		t.Error("a 403: no error")
	} else if ok, _ := scm.IsTransient(err); ok {
		t.Errorf("a 403: %v is transient", err)
	}
	for _, tc := range []struct{ mr, limit int }{{0, 10}, {7, 0}} {
		if _, _, err := c.MergeRequestFiles(ctx, scm.Repo{ProjectID: 5}, tc.mr, tc.limit); err == nil {
			t.Errorf("MergeRequestFiles(!%d, limit %d): no error", tc.mr, tc.limit)
		}
	}
}
