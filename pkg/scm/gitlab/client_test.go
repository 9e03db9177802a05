package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/scm"
)

const token = "glpat-supersecrettoken"

// setup returns a real go-gitlab client talking to an httptest mux.
func setup(t *testing.T) (*Client, *http.ServeMux) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := NewClient(token, srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c, mux
}

const rawPath = "GET /api/v4/projects/{id}/repository/files/{file}/raw"

func TestNewClient(t *testing.T) {
	if _, err := NewClient("", "", nil); err == nil {
		t.Error("NewClient with empty token: want error")
	}
	c, err := NewClient(token, "https://gitlab.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.String(), "gitlab(gitlab.example.com)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestReadFile(t *testing.T) {
	tests := []struct {
		name   string
		repo   scm.Repo
		wantID string
	}{
		{"by project id", scm.Repo{FullName: "group/sub/app", ProjectID: 42}, "42"},
		{"by path", scm.Repo{FullName: "group/sub/app"}, "group/sub/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc(rawPath, func(w http.ResponseWriter, r *http.Request) {
				got := map[string]string{
					"id": r.PathValue("id"), "file": r.PathValue("file"),
					"ref": r.URL.Query().Get("ref"), "token": r.Header.Get("PRIVATE-TOKEN"),
				}
				want := map[string]string{"id": tt.wantID, "file": ".slipway.yaml", "ref": "abc123", "token": token}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("request (-want +got):\n%s", diff)
				}
				fmt.Fprint(w, "app: demo\n")
			})
			got, err := c.ReadFile(context.Background(), tt.repo, "abc123", ".slipway.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("app: demo\n", string(got)); diff != "" {
				t.Errorf("ReadFile (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	tests := []struct {
		name          string
		handler       http.HandlerFunc
		repo          scm.Repo
		wantNotFound  bool
		wantTransient bool
		wantAfter     time.Duration
	}{{
		name: "404",
		handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"message":"404 File Not Found"}`, http.StatusNotFound)
		},
		repo:         scm.Repo{ProjectID: 7},
		wantNotFound: true,
	}, {
		name: "500",
		handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"message":"500 Internal Server Error"}`, http.StatusInternalServerError)
		},
		repo:          scm.Repo{ProjectID: 7},
		wantTransient: true,
	}, {
		name: "429 with Retry-After",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "60")
			http.Error(w, `{"message":"Retry later"}`, http.StatusTooManyRequests)
		},
		repo:          scm.Repo{ProjectID: 7},
		wantTransient: true,
		wantAfter:     time.Minute,
	}, {
		name: "403 is permanent",
		handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"message":"403 Forbidden"}`, http.StatusForbidden)
		},
		repo: scm.Repo{ProjectID: 7},
	}, {
		name:    "no project",
		handler: func(w http.ResponseWriter, r *http.Request) { t.Error("no request expected") },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			calls := 0
			mux.HandleFunc(rawPath, func(w http.ResponseWriter, r *http.Request) {
				calls++
				tt.handler(w, r)
			})
			_, err := c.ReadFile(context.Background(), tt.repo, "abc123", ".slipway.yaml")
			if err == nil {
				t.Fatal("ReadFile: want error")
			}
			if got := errors.Is(err, scm.ErrNotFound); got != tt.wantNotFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, got, tt.wantNotFound)
			}
			transient, after := scm.IsTransient(err)
			if transient != tt.wantTransient || after != tt.wantAfter {
				t.Errorf("IsTransient(%v) = %v, %v; want %v, %v", err, transient, after, tt.wantTransient, tt.wantAfter)
			}
			if calls > 1 {
				t.Errorf("%d requests: the SDK retried by itself", calls)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestReadFileNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	c, err := NewClient(token, srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_, err = c.ReadFile(context.Background(), scm.Repo{ProjectID: 1}, "abc", "x")
	if ok, _ := scm.IsTransient(err); !ok {
		t.Errorf("IsTransient(%v) = false, want true", err)
	}
}

func TestRetryAfterRateLimitReset(t *testing.T) {
	fixed := time.Unix(1_700_000_000, 0)
	now = func() time.Time { return fixed }
	t.Cleanup(func() { now = time.Now })
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"Retry-After wins", http.Header{"Retry-After": {"5"}, "Ratelimit-Reset": {strconv.FormatInt(fixed.Unix()+90, 10)}}, 5 * time.Second},
		{"RateLimit-Reset", http.Header{"Ratelimit-Reset": {strconv.FormatInt(fixed.Unix()+90, 10)}}, 90 * time.Second},
		{"reset in the past", http.Header{"Ratelimit-Reset": {strconv.FormatInt(fixed.Unix()-90, 10)}}, 0},
		{"HTTP date is not read", http.Header{"Retry-After": {"Wed, 21 Oct 2015 07:28:00 GMT"}}, 0},
		{"nothing", http.Header{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.header); got != tt.want {
				t.Errorf("retryAfter() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetStatus(t *testing.T) {
	tests := []struct {
		name string
		in   scm.Status
		want map[string]string
	}{{
		name: "running on a branch",
		in:   scm.Status{SHA: "abc", State: scm.StateRunning, Context: "slipway/ci", Description: "Building", TargetURL: "https://slipway/runs/1", Ref: "main"},
		want: map[string]string{"state": "running", "name": "slipway/ci", "description": "Building", "target_url": "https://slipway/runs/1", "ref": "main"},
	}, {
		name: "pending, nothing optional",
		in:   scm.Status{SHA: "abc", State: scm.StatePending},
		want: map[string]string{"state": "pending"},
	}, {
		name: "success",
		in:   scm.Status{SHA: "abc", State: scm.StateSuccess, Context: "slipway/ci"},
		want: map[string]string{"state": "success", "name": "slipway/ci"},
	}, {
		name: "failure is failed",
		in:   scm.Status{SHA: "abc", State: scm.StateFailure, Context: "slipway/ci"},
		want: map[string]string{"state": "failed", "name": "slipway/ci"},
	}, {
		name: "canceled",
		in:   scm.Status{SHA: "abc", State: scm.StateCanceled, Context: "slipway/ci", Description: strings.Repeat("é", 300)},
		want: map[string]string{"state": "canceled", "name": "slipway/ci", "description": strings.Repeat("é", 254) + "…"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			var got map[string]string
			mux.HandleFunc("POST /api/v4/projects/{id}/statuses/{sha}", func(w http.ResponseWriter, r *http.Request) {
				if r.PathValue("id") != "9" || r.PathValue("sha") != "abc" {
					t.Errorf("path %s, want project 9 and sha abc", r.URL.Path)
				}
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &got); err != nil {
					t.Errorf("request body %s: %v", b, err)
				}
				w.WriteHeader(http.StatusCreated)
				fmt.Fprint(w, `{"id":1}`)
			})
			if err := c.SetStatus(context.Background(), scm.Repo{FullName: "g/app", ProjectID: 9}, tt.in); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetStatusErrors(t *testing.T) {
	tests := []struct {
		name          string
		in            scm.Status
		code          int
		body          string
		wantErr       bool
		wantTransient bool
	}{
		{"unknown state", scm.Status{SHA: "abc", State: "weird"}, 0, "", true, false},
		{"empty SHA", scm.Status{State: scm.StatePending}, 0, "", true, false},
		{"same state again is fine", scm.Status{SHA: "abc", State: scm.StateRunning}, http.StatusBadRequest, `{"message":"Cannot transition status via :run from :running"}`, false, false},
		{"other 400", scm.Status{SHA: "abc", State: scm.StateRunning}, http.StatusBadRequest, `{"message":"ref is invalid"}`, true, false},
		{"503", scm.Status{SHA: "abc", State: scm.StatePending}, http.StatusServiceUnavailable, `{"message":"down"}`, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc("POST /api/v4/projects/{id}/statuses/{sha}", func(w http.ResponseWriter, r *http.Request) {
				if tt.code == 0 {
					t.Error("no request expected")
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.code)
				fmt.Fprint(w, tt.body)
			})
			err := c.SetStatus(context.Background(), scm.Repo{ProjectID: 9}, tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SetStatus() = %v, want error %v", err, tt.wantErr)
			}
			if ok, _ := scm.IsTransient(err); ok != tt.wantTransient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, ok, tt.wantTransient)
			}
		})
	}
}
