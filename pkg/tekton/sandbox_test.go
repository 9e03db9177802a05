package tekton

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pipelines"
	"github.com/slipway-ci/slipway/pkg/event"
)

// A merge request builds sandboxed: its own image repository and cache,
// main's cache read-only, no git credentials, its own buildkitd when set.
func TestSandboxedRuns(t *testing.T) {
	o := opts
	o.GitCredentialsSecret = "git-creds"
	o.BuildkitTLSSecret = "buildkit-client-tls"
	o.TestCache = true
	o.BuildkitAddr = "tcp://buildkitd:1234"
	o.PRBuildkitAddr = "tcp://buildkitd-pr:1234"
	mrEv := pushEvent()
	mrEv.Kind, mrEv.MRNumber, mrEv.SourceBranch, mrEv.TargetBranch = event.MergeRequest, 7, "feature", "main"
	type view struct {
		Trust, Image, CacheRef, CacheFrom, Buildkit string
		TestCache, TestCacheSave                    string
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
			case "cache-repo":
				v.TestCache = p.Value.StringVal
			case "cache-save":
				v.TestCacheSave = p.Value.StringVal
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
		{"push", pushEvent(), o, view{Trust: TrustTrusted, Image: prefix, Buildkit: "tcp://buildkitd:1234", TestCache: prefix + "/depcache", TestCacheSave: "true", Workspaces: []string{"source", "git-credentials", "buildkit-tls"}}},
		{"merge request", mrEv, o, view{Trust: TrustUntrusted, Image: prefix + "/pr", CacheRef: prefix + "/pr:buildcache",
			CacheFrom: prefix + ":buildcache", Buildkit: "tcp://buildkitd-pr:1234", TestCache: prefix + "/depcache", Workspaces: []string{"source", "buildkit-tls"}}},
		{"merge request, own suffix", mrEv, suffixed, view{Trust: TrustUntrusted, Image: prefix + "/untrusted", CacheRef: prefix + "/untrusted:buildcache",
			CacheFrom: prefix + ":buildcache", Buildkit: "tcp://buildkitd-pr:1234", TestCache: prefix + "/depcache", Workspaces: []string{"source", "buildkit-tls"}}},
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

// Secrets reach only the tasks that need them: the buildkitd client
// certificate the build step, git credentials the clone; the tasks that
// run the repository's code (unit tests) get neither.
func TestPipelineSecretWorkspacesPerTask(t *testing.T) {
	data, err := pipelines.FS.ReadFile("ci.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p pipelinev1.Pipeline
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, task := range p.Spec.Tasks {
		for _, w := range task.Workspaces {
			if w.Workspace == "buildkit-tls" || w.Workspace == "git-credentials" {
				got[w.Workspace] = append(got[w.Workspace], task.Name)
			}
		}
	}
	want := map[string][]string{"buildkit-tls": {"build-push"}, "git-credentials": {"clone"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks given secret workspaces (-want +got)\n%s", diff)
	}
}
