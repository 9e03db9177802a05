package deploy

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// Each mode of the deploy task, on the same cluster: an app with a canary
// left by a killed rollout.
func TestDoModes(t *testing.T) {
	tests := []struct {
		mode    rollout.Mode
		spec    Spec
		want    string
		wantErr string
		// left are the Deployments there afterwards.
		left []string
	}{
		{mode: rollout.ModeRollout, spec: Spec{Strategy: rollout.Rolling, Image: newImage},
			want: "deployed " + newImage + " to shop/shop (rolling)", left: []string{"shop", "shop-canary"}},
		{mode: rollout.ModeRemoveCanary, spec: Spec{},
			want: "removed the canary of shop/shop, stable untouched", left: []string{"shop"}},
		{mode: rollout.ModeDeleteApp, spec: Spec{},
			want: "deleted from shop: deployment/shop, deployment/shop-canary", left: nil},
		{mode: "explode", wantErr: `unknown mode "explode"`, left: []string{"shop", "shop-canary"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			stable := deployment("shop", 2, appLabels, oldImage)
			stable.Labels = map[string]string{LabelManagedBy: managedBy}
			canary := deployment("shop-canary", 1, map[string]string{"app": "shop", LabelTrack: trackCanary}, newImage)
			canary.Labels = map[string]string{LabelManagedBy: managedBy, LabelApp: "shop"}
			c := newCluster(t, stable, canary)
			s := tt.spec
			s.Namespace, s.App = testNS, "shop"
			got, err := c.deployer().Do(context.Background(), tt.mode, s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Do = %q, %v; want error %q", got, err, tt.wantErr)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("Do = %q, %v; want %q", got, err, tt.want)
			}
			var left []string
			for _, n := range []string{"shop", "shop-canary"} {
				if c.exists(n) {
					left = append(left, n)
				}
			}
			if diff := cmp.Diff(tt.left, left); diff != "" {
				t.Errorf("deployments left (-want +got):\n%s", diff)
			}
		})
	}
}
