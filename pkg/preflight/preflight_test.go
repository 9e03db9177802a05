package preflight

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func push(t *testing.T, ref string) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push(t, host+"/base/python:3.11")
	push(t, host+"/base/node:18")
	push(t, host+"/base/node:16")

	// A registry that refuses everyone.
	locked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
	}))
	defer locked.Close()
	lockedHost := strings.TrimPrefix(locked.URL, "http://")

	got := Check(context.Background(), []string{
		host + "/base/python:3.11",
		"scratch",
		host + "/base/python:3.12",
		host + "/base/node:20",
		host + "/base/golang:1.22",
		lockedHost + "/base/node:20",
	}, Options{Insecure: true})
	want := []Problem{
		{Image: host + "/base/python:3.12", Reason: ReasonNotFound, Tags: []string{"3.11"}},
		{Image: host + "/base/node:20", Reason: ReasonNotFound, Tags: []string{"16", "18"}},
		{Image: host + "/base/golang:1.22", Reason: ReasonNotFound},
		{Image: lockedHost + "/base/node:20", Reason: ReasonUnauthorized},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Problem{}, "Err")); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if len(got) == 4 {
		for i, w := range []string{
			"base/python:3.12 does not exist; the repository has: 3.11",
			"base/node:20 does not exist; the repository has: 16, 18",
			"base/golang:1.22 does not exist (the repository has no tags)",
			"the registry refused access",
		} {
			if !strings.Contains(got[i].Error(), w) {
				t.Errorf("problem %d says %q, want it to contain %q", i, got[i].Error(), w)
			}
		}
	}
	if Err(nil) != nil {
		t.Error("Err(nil) is not nil")
	}
}

func TestBaseImages(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push(t, host+"/base/node:18")
	b := &BaseImages{Images: []string{host + "/base/node:18", host + "/base/node:20"}, Options: Options{Insecure: true}}
	if err := b.Check(context.Background()); err != nil {
		t.Errorf("before any check: %v, want nil", err)
	}
	b.checkOnce(context.Background())
	err := b.Check(context.Background())
	want := "1 of 2 base images cannot be pulled: " + host + "/base/node:20 (not found)"
	if err == nil || err.Error() != want {
		t.Errorf("Check = %v, want %q", err, want)
	}
}
