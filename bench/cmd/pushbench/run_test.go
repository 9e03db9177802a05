package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	env := func(k string) string {
		if k == "KUBECONFIG" {
			return "/stack/kubeconfig"
		}
		return ""
	}
	type got struct {
		Samples    []string
		Pushes     int
		Timeout    time.Duration
		Kubeconfig string
	}
	tests := []struct {
		name    string
		args    []string
		want    got
		wantErr bool
	}{
		{name: "defaults", args: nil, want: got{Samples: []string{"go"}, Pushes: 5, Timeout: 20 * time.Minute, Kubeconfig: "/stack/kubeconfig"}},
		{
			name: "all samples",
			args: []string{"--samples", "go, node,python", "--pushes", "3", "--timeout", "5m", "--kubeconfig", "/k"},
			want: got{Samples: []string{"go", "node", "python"}, Pushes: 3, Timeout: 5 * time.Minute, Kubeconfig: "/k"},
		},
		{name: "unknown sample", args: []string{"--samples", "go,rust"}, wantErr: true},
		{name: "empty sample", args: []string{"--samples", ""}, wantErr: true},
		{name: "sample twice", args: []string{"--samples", "go,go"}, wantErr: true},
		{name: "one push is cold only", args: []string{"--pushes", "1"}, wantErr: true},
		{name: "zero timeout", args: []string{"--timeout", "0s"}, wantErr: true},
		{name: "no kubeconfig", args: []string{"--kubeconfig", ""}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(tt.args, env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parse(%q) error = %v, wantErr %v", tt.args, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got{o.samples, o.pushes, o.timeout, o.kubeconfig}); diff != "" {
				t.Errorf("parse(%q) (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

// Without the stack's environment the program stops before touching
// anything, naming what to source.
func TestRunNeedsTheStacksEnvironment(t *testing.T) {
	env := func(k string) string {
		if k == "KUBECONFIG" {
			return "/nonexistent/kubeconfig"
		}
		return ""
	}
	err := run(t.Context(), nil, nil, env)
	if err == nil {
		t.Fatal("run without SLIPWAY_URL etc. succeeded")
	}
	if want := "slipway.sh env"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}
