package tekton

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
)

// A merge request builds sandboxed: its own image repository and cache,
// main's cache read-only, no git credentials, its own buildkitd when set.
func TestSandboxedRuns(t *testing.T) {
	o := opts
	o.GitCredentialsSecret = "git-creds"
	o.BuildkitAddr = "tcp://buildkitd:1234"
	o.PRBuildkitAddr = "tcp://buildkitd-pr:1234"
	mrEv := pushEvent()
	mrEv.Kind, mrEv.MRNumber, mrEv.SourceBranch, mrEv.TargetBranch = event.MergeRequest, 7, "feature", "main"
	type view struct {
		Trust, Image, CacheRef, CacheFrom, Buildkit string
		Workspaces                                  []string
	}
	viewOf := func(t *testing.T, ev *event.Event, o RunOptions) view {
		t.Helper()
		pr, err := NewCIRun(ev, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		v := view{Trust: pr.Labels[LabelTrust]}
		for _, p := range pr.Spec.Params {
			switch p.Name {
			case "image":
				v.Image = p.Value.StringVal
			case "cache-ref":
				v.CacheRef = p.Value.StringVal
			case "cache-from":
				v.CacheFrom = p.Value.StringVal
			case "buildkit-addr":
				v.Buildkit = p.Value.StringVal
			}
		}
		for _, w := range pr.Spec.Workspaces {
			v.Workspaces = append(v.Workspaces, w.Name)
		}
		return v
	}
	prefix := strings.TrimSuffix(o.ImagePrefix, "/") + "/" + AppName(mrEv.Repo)
	suffixed := o
	suffixed.PRImageSuffix = "untrusted"
	for _, tc := range []struct {
		name string
		ev   *event.Event
		o    RunOptions
		want view
	}{
		{"push", pushEvent(), o, view{Trust: TrustTrusted, Image: prefix, Buildkit: "tcp://buildkitd:1234", Workspaces: []string{"source", "git-credentials"}}},
		{"merge request", mrEv, o, view{Trust: TrustUntrusted, Image: prefix + "/pr", CacheRef: prefix + "/pr:buildcache",
			CacheFrom: prefix + ":buildcache", Buildkit: "tcp://buildkitd-pr:1234", Workspaces: []string{"source"}}},
		{"merge request, own suffix", mrEv, suffixed, view{Trust: TrustUntrusted, Image: prefix + "/untrusted", CacheRef: prefix + "/untrusted:buildcache",
			CacheFrom: prefix + ":buildcache", Buildkit: "tcp://buildkitd-pr:1234", Workspaces: []string{"source"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, viewOf(t, tc.ev, tc.o)); diff != "" {
				t.Errorf("run (-want +got)\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"/pr", "pr/", "pr:tag", "pr@sha256"} {
		b := o
		b.PRImageSuffix = bad
		if _, err := NewCIRun(mrEv, nil, b); err == nil || !strings.Contains(err.Error(), "PR image suffix") {
			t.Errorf("suffix %q: error %v, want a PR image suffix error", bad, err)
		}
	}
}
