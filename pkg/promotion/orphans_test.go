package promotion

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/rollout"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// playOrphans ends each orphans run as the deploy pod would, reporting
// one orphan named after the claimed list it was given, so the test sees
// what each run was asked.
func (e *env) playOrphans() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			l, err := e.tc.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{LabelSelector: tekton.LabelMode + "=" + string(rollout.ModeOrphans)})
			if err == nil {
				for i := range l.Items {
					pr := &l.Items[i]
					if len(pr.Status.Conditions) != 0 {
						continue
					}
					var claimed, namespace string
					for _, p := range pr.Spec.Params {
						switch p.Name {
						case "claimed":
							claimed = p.Value.StringVal
						case "namespace":
							namespace = p.Value.StringVal
						}
					}
					if pr.Labels[tekton.LabelCluster] == "west" {
						e.endDelete(pr, "cluster away")
						continue
					}
					// endDelete writes deployment/APP…; for an orphans run
					// the "app" is what was claimed and where.
					pr.Spec.Params = append(pr.Spec.Params[:0:0], pr.Spec.Params...)
					for j := range pr.Spec.Params {
						if pr.Spec.Params[j].Name == "app" {
							pr.Spec.Params[j].Value.StringVal = namespace + "-not-" + claimed
						}
					}
					e.endDelete(pr, "")
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
}

func TestOrphans(t *testing.T) {
	const notClaimed = "-not-shop,shop-web"
	objs := func(ns string) []string {
		return []string{"deployment/" + ns + notClaimed, "service/" + ns + notClaimed}
	}
	wantReport := &release.OrphanReport{Clusters: []release.RetiredCluster{
		{Env: "qa", Cluster: "local", Namespace: "apps-qa", Objects: objs("apps-qa")},
		{Env: "prod", Cluster: "east", Namespace: "apps-prod", Objects: objs("apps-prod")},
		{Env: "prod", Cluster: "west", Namespace: "apps-prod", Error: "orphans PipelineRun: cluster away"},
	}}
	tests := []struct {
		name    string
		who     Caller
		want    *release.OrphanReport
		wantErr error
	}{
		{"developer", dev, nil, ErrForbidden},
		{"no identity", Caller{}, nil, ErrForbidden},
		{"release manager", rm, wantReport, nil},
		{"admin", adm, wantReport, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.playOrphans()
			got, err := e.svc.Orphans(context.Background(), tt.who)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Orphans = %v, want %v", err, tt.wantErr)
			}
			if got != nil {
				for i := range got.Clusters {
					got.Clusters[i].Error = orphanRuns.ReplaceAllString(got.Clusters[i].Error, "PipelineRun")
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Orphans (-want +got):\n%s", diff)
			}
			if tt.wantErr != nil && len(e.modeRuns(rollout.ModeOrphans)) != 0 {
				t.Error("a refused report started runs")
			}
		})
	}
}
