package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	t.Setenv(postgresEnv, "postgres://u@127.0.0.1/db")
	t.Setenv("KUBECONFIG", "/k")
	o, err := parse([]string{"--slipway", "bin/slipway", "--concurrency", "1, 8,32", "--rate", "100, 400", "--engines", "sqlite,postgres", "--triggers-config", "/mod/triggers/config"})
	if err != nil {
		t.Fatal(err)
	}
	want := options{slipway: "bin/slipway", kubeconfig: "/k", engines: []string{"sqlite", "postgres"}, events: 500,
		concurrency: []int{1, 8, 32}, rates: []float64{100, 400}, workers: 32, sigterm: true, dispatchWait: -1,
		triggers: true, sink: "bin/eventlistenersink", interceptors: "bin/interceptors", triggersConfig: "/mod/triggers/config"}
	if d := cmp.Diff(want, o, cmp.AllowUnexported(options{})); d != "" {
		t.Errorf("parse (-want +got):\n%s", d)
	}
}

func TestParseRejects(t *testing.T) {
	t.Setenv("KUBECONFIG", "/k")
	t.Setenv(postgresEnv, "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no binary", []string{}, "--slipway is required"},
		{"triggers without its config", []string{"--slipway", "s", "--engines", "sqlite"}, "--triggers-config"},
		{"unknown engine", []string{"--slipway", "s", "--engines", "mysql"}, "unknown engine"},
		{"postgres without URL", []string{"--slipway", "s", "--engines", "postgres"}, postgresEnv},
		{"bad concurrency", []string{"--slipway", "s", "--engines", "sqlite", "--concurrency", "8,x"}, "not a positive number"},
		{"bad rate", []string{"--slipway", "s", "--engines", "sqlite", "--rate", "0"}, "not a positive number"},
		{"no load", []string{"--slipway", "s", "--engines", "sqlite", "--concurrency", "", "--rate", ""}, "nothing to measure"},
		{"one event", []string{"--slipway", "s", "--engines", "sqlite", "--events", "1"}, "at least 2"},
		{"no workers", []string{"--slipway", "s", "--engines", "sqlite", "--workers", "0"}, "--workers"},
		{"stray argument", []string{"--slipway", "s", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parse(%q) = %v, want an error with %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestTriggersVersion(t *testing.T) {
	tests := []struct{ dir, want string }{
		{"/root/go/pkg/mod/github.com/tektoncd/triggers@v0.37.0/config", "v0.37.0"},
		{"/root/go/pkg/mod/github.com/tektoncd/triggers@v0.37.0/config/", "v0.37.0"},
		{"/src/triggers/config", "(version unknown: --triggers-config is not in the module cache)"},
	}
	for _, tt := range tests {
		if got := triggersVersion(tt.dir); got != tt.want {
			t.Errorf("triggersVersion(%q) = %q, want %q", tt.dir, got, tt.want)
		}
	}
}
