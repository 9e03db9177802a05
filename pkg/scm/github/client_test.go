package github

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

const token = "ghp_supersecrettoken"

// setup returns a real go-github client talking to an httptest mux, the way
// the GitHub Enterprise API looks (/api/v3/...).
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

func TestNewClient(t *testing.T) {
	if _, err := NewClient("", "", nil); err == nil {
		t.Error("NewClient with empty token: want error")
	}
	if _, err := NewClient(token, "://bad", nil); err == nil {
		t.Error("NewClient with bad URL: want error")
	}
	c, err := NewClient(token, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.String(), "github(api.github.com)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestReadFile(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /api/v3/repos/acme/app/contents/.slipway.yaml", func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.URL.Query().Get("ref"); got != "abc123" {
			t.Errorf("ref = %q, want abc123", got)
		}
		fmt.Fprint(w, `{"type":"file","encoding":"base64","content":"YXBwOiBkZW1vCg=="}`)
	})
	got, err := c.ReadFile(context.Background(), scm.Repo{FullName: "acme/app"}, "abc123", ".slipway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("app: demo\n", string(got)); diff != "" {
		t.Errorf("ReadFile (-want +got):\n%s", diff)
	}
}

func TestReadFileErrors(t *testing.T) {
	reset := time.Now().Add(time.Hour).Unix()
	tests := []struct {
		name          string
		handler       http.HandlerFunc
		repo          string
		wantNotFound  bool
		wantTransient bool
		// wantAfterMin is a lower bound, as the rate limit reset is absolute.
		wantAfterMin time.Duration
	}{{
		name: "404",
		handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		},
		repo:         "acme/app",
		wantNotFound: true,
	}, {
		name: "500",
		handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"message":"boom"}`, http.StatusInternalServerError)
		},
		repo:          "acme/app",
		wantTransient: true,
	}, {
		name: "429 with Retry-After",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			http.Error(w, `{"message":"slow down"}`, http.StatusTooManyRequests)
		},
		repo:          "acme/app",
		wantTransient: true,
		wantAfterMin:  7 * time.Second,
	}, {
		name: "primary rate limit",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Limit", "5000")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
			http.Error(w, `{"message":"API rate limit exceeded"}`, http.StatusForbidden)
		},
		repo:          "acme/app",
		wantTransient: true,
		wantAfterMin:  50 * time.Minute,
	}, {
		name: "secondary rate limit",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
		},
		repo:          "acme/app",
		wantTransient: true,
		wantAfterMin:  30 * time.Second,
	}, {
		name: "401 is permanent",
		handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		},
		repo: "acme/app",
	}, {
		name:    "directory",
		handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `[{"type":"file","name":"a"}]`) },
		repo:    "acme/app",
	}, {
		name:    "bad repo name",
		handler: func(w http.ResponseWriter, r *http.Request) { t.Error("no request expected") },
		repo:    "acme",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc("GET /api/v3/repos/acme/app/contents/.slipway.yaml", tt.handler)
			_, err := c.ReadFile(context.Background(), scm.Repo{FullName: tt.repo}, "abc123", ".slipway.yaml")
			if err == nil {
				t.Fatal("ReadFile: want error")
			}
			if got := errors.Is(err, scm.ErrNotFound); got != tt.wantNotFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, got, tt.wantNotFound)
			}
			transient, after := scm.IsTransient(err)
			if transient != tt.wantTransient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, transient, tt.wantTransient)
			}
			if after < tt.wantAfterMin {
				t.Errorf("RetryAfter = %v, want at least %v", after, tt.wantAfterMin)
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
	_, err = c.ReadFile(context.Background(), scm.Repo{FullName: "acme/app"}, "abc", "x")
	if ok, _ := scm.IsTransient(err); !ok {
		t.Errorf("IsTransient(%v) = false, want true", err)
	}
}

func TestSetStatus(t *testing.T) {
	tests := []struct {
		name string
		in   scm.Status
		want map[string]string
	}{{
		name: "pending",
		in:   scm.Status{SHA: "abc", State: scm.StatePending, Context: "slipway/ci", Description: "Queued", TargetURL: "https://slipway/runs/1"},
		want: map[string]string{"state": "pending", "context": "slipway/ci", "description": "Queued", "target_url": "https://slipway/runs/1"},
	}, {
		name: "running is pending on GitHub",
		in:   scm.Status{SHA: "abc", State: scm.StateRunning, Context: "slipway/ci"},
		want: map[string]string{"state": "pending", "context": "slipway/ci", "description": "Running"},
	}, {
		name: "canceled is error on GitHub",
		in:   scm.Status{SHA: "abc", State: scm.StateCanceled, Context: "slipway/ci", Description: "superseded by a newer push"},
		want: map[string]string{"state": "error", "context": "slipway/ci", "description": "Canceled: superseded by a newer push"},
	}, {
		name: "success",
		in:   scm.Status{SHA: "abc", State: scm.StateSuccess, Context: "slipway/ci", Description: "Built"},
		want: map[string]string{"state": "success", "context": "slipway/ci", "description": "Built"},
	}, {
		name: "failure with a long description",
		in:   scm.Status{SHA: "abc", State: scm.StateFailure, Context: "slipway/ci", Description: strings.Repeat("x", 200)},
		want: map[string]string{"state": "failure", "context": "slipway/ci", "description": strings.Repeat("x", 139) + "…"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			var got map[string]string
			mux.HandleFunc("POST /api/v3/repos/acme/app/statuses/abc", func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &got); err != nil {
					t.Errorf("request body %s: %v", b, err)
				}
				w.WriteHeader(http.StatusCreated)
				fmt.Fprint(w, `{"id":1}`)
			})
			if err := c.SetStatus(context.Background(), scm.Repo{FullName: "acme/app"}, tt.in); err != nil {
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
		wantTransient bool
	}{
		{"unknown state", scm.Status{SHA: "abc", State: "weird"}, 0, false},
		{"empty SHA", scm.Status{State: scm.StatePending}, 0, false},
		{"422", scm.Status{SHA: "abc", State: scm.StatePending}, http.StatusUnprocessableEntity, false},
		{"502", scm.Status{SHA: "abc", State: scm.StatePending}, http.StatusBadGateway, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc("POST /api/v3/repos/acme/app/statuses/abc", func(w http.ResponseWriter, r *http.Request) {
				if tt.code == 0 {
					t.Error("no request expected")
				}
				http.Error(w, `{"message":"no"}`, tt.code)
			})
			err := c.SetStatus(context.Background(), scm.Repo{FullName: "acme/app"}, tt.in)
			if err == nil {
				t.Fatal("SetStatus: want error")
			}
			if ok, _ := scm.IsTransient(err); ok != tt.wantTransient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, ok, tt.wantTransient)
			}
		})
	}
}
