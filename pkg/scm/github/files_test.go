package github

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

// servePullFiles answers "list pull request files" of acme/app#7 with n
// files, paginated as GitHub does (per_page, page, a Link header to the
// next page); file 3 is a rename. It counts the pages asked for.
func servePullFiles(t *testing.T, mux *http.ServeMux, n int, pages *int) {
	t.Helper()
	mux.HandleFunc("GET /api/v3/repos/acme/app/pulls/7/files", func(w http.ResponseWriter, r *http.Request) {
		*pages++
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			t.Errorf("Authorization = %q", got)
		}
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if per != 100 {
			t.Errorf("per_page = %d, want 100", per)
		}
		page = max(page, 1)
		var out []map[string]any
		for i := (page - 1) * per; i < min(page*per, n); i++ {
			f := map[string]any{"filename": fmt.Sprintf("dir/f%d", i), "status": "modified"}
			if i == 3 {
				f["status"], f["previous_filename"] = "renamed", "old/f3"
			}
			out = append(out, f)
		}
		if page*per < n {
			w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d&per_page=%d>; rel="next"`, "http://"+r.Host+r.URL.Path, page+1, per))
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
			servePullFiles(t, mux, tc.files, &pages)
			got, complete, err := c.MergeRequestFiles(context.Background(), scm.Repo{FullName: "acme/app"}, 7, tc.limit)
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
	mux.HandleFunc("GET /api/v3/repos/acme/down/pulls/7/files", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	mux.HandleFunc("GET /api/v3/repos/acme/gone/pulls/7/files", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	})
	ctx := context.Background()
	if _, _, err := c.MergeRequestFiles(ctx, scm.Repo{FullName: "acme/down"}, 7, 10); err == nil {
		t.Error("a 502: no error")
	} else if ok, _ := scm.IsTransient(err); !ok {
		t.Errorf("a 502: %v is not transient", err)
	}
	if _, _, err := c.MergeRequestFiles(ctx, scm.Repo{FullName: "acme/gone"}, 7, 10); err == nil {
		t.Error("a 404: no error")
	} else if ok, _ := scm.IsTransient(err); ok {
		t.Errorf("a 404: %v is transient", err)
	}
	for _, tc := range []struct {
		repo      string
		mr, limit int
	}{{"acme", 7, 10}, {"acme/app", 0, 10}, {"acme/app", 7, 0}, {"acme/app", 7, 3001}} {
		if _, _, err := c.MergeRequestFiles(ctx, scm.Repo{FullName: tc.repo}, tc.mr, tc.limit); err == nil {
			t.Errorf("MergeRequestFiles(%q, %d, limit %d): no error", tc.repo, tc.mr, tc.limit)
		}
	}
}
