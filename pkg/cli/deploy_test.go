package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/deploy"
)

func floatPtr(v float64) *float64 { return &v }

func TestParseAnalysis(t *testing.T) {
	tests := []struct {
		in      string
		want    deploy.Query
		wantErr bool
	}{
		{in: `errors=sum(rate(http_requests_total{code=~"5.."}[1m]))<=0.05`,
			want: deploy.Query{Name: "errors", Query: `sum(rate(http_requests_total{code=~"5.."}[1m]))`, Max: floatPtr(0.05)}},
		{in: "up=min(up{job='shop'}) >= 1", want: deploy.Query{Name: "up", Query: "min(up{job='shop'})", Min: floatPtr(1)}},
		{in: "ratio=a >= b <= 2", want: deploy.Query{Name: "ratio", Query: "a >= b", Max: floatPtr(2)}},
		{in: "noop=up", wantErr: true},
		{in: "=up<=1", wantErr: true},
		{in: "x=up<=many", wantErr: true},
		{in: "x=<=1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseAnalysis(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseAnalysis error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseAnalysis (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeployCmdRefusesBadFlags(t *testing.T) {
	digest := "registry.test/shop@sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"tag", []string{"--image", "registry.test/shop:latest", "-n", "ns", "--app", "shop"}, "must be REPO@sha256"},
		{"strategy", []string{"--strategy", "recreate", "--image", digest, "-n", "ns", "--app", "shop"}, `unknown strategy "recreate"`},
		{"steps", []string{"--strategy", "canary", "--steps", "50,10", "--image", digest, "-n", "ns", "--app", "shop"}, "greater than the one before"},
		{"analysis without prometheus", []string{"--strategy", "canary", "--analysis", "e=up<=1", "--image", digest, "-n", "ns", "--app", "shop"}, "needs --prometheus-url"},
		{"missing app", []string{"--image", digest, "-n", "ns"}, `"app" not set`},
		{"missing image", []string{"-n", "ns", "--app", "shop"}, "--image is required"},
		{"two modes", []string{"--remove-canary", "--delete-app", "-n", "ns", "--app", "shop"}, "none of the others can be"},
		{"mode without app", []string{"--delete-app", "-n", "ns"}, `"app" not set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := NewDeployCmd()
			cmd.SetArgs(tt.args)
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			err := cmd.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("deploy %v = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}
