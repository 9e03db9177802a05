package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/build"
	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/promote"
	"github.com/slipway-ci/slipway/pkg/promotion"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

func TestPromotionService(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), "sqlite://"+dir+"/db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	example, err := os.ReadFile("../environment/testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, bad := write("release.yaml", string(example)), write("bad.yaml", "environments: []\n")
	tokens := write("tokens.yaml", "- {name: rita, role: release-manager, token: rita-token-0123456789}\n")
	tests := []struct {
		name                  string
		release, tokens       string
		wantService, wantAuth bool
		wantErr               string
	}{
		{name: "no release config"},
		{name: "example", release: good, tokens: tokens, wantService: true, wantAuth: true},
		{name: "example without tokens", release: good, wantService: true},
		{name: "invalid", release: bad, wantErr: "release config " + bad + ": environments: at least one environment is required"},
		{name: "missing tokens file", release: good, tokens: filepath.Join(dir, "nope"), wantErr: "reading API tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{ReleaseConfig: tt.release, APITokensFile: tt.tokens, Namespace: "slipway-builds", DeployNamespace: "slipway",
				SlipwayImage: "reg/slipway:dev", ImageRegistry: "10.244.0.1:5000/apps", RegistryInsecure: true}
			tok, err := apiTokens(cfg)
			var svc *promotion.Service
			if err == nil {
				tc := tektonfake.NewSimpleClientset()
				svc, err = promotionService(cfg, st, tc, nil, nil, informerFactory(tc, cfg.DeployNamespace, tekton.KindDeploy))
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (svc != nil) != tt.wantService || (tok.Len() > 0) != tt.wantAuth {
				t.Errorf("service %v, tokens %d", svc != nil, tok.Len())
			}
		})
	}
}

// The gate requires this instance's builder id (what its CI PipelineRuns
// pass to their builds), not the constant any BuildKit build may claim.
func TestGateRequiresThisInstancesBuilder(t *testing.T) {
	const (
		cloneURL = "https://git.example/acme/shop.git"
		commit   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push := func(repo, builderID string) name.Digest {
		t.Helper()
		idx, err := provenancetest.Index(cloneURL, commit, builderID)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := idx.Digest()
		ref, err := name.NewDigest(host + "/" + repo + "@" + d.String())
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		return ref
	}
	runs := fakeRuns{{Repo: "acme/shop", SHA: commit, State: run.Succeeded}}
	src := promote.Source{Repo: "acme/shop", CloneURL: cloneURL}
	tests := []struct {
		name       string
		cfg        config.Config
		builder    string // the image's provenance builder id
		wantReason string // "" = let through
	}{
		{name: "derived from the public URL", cfg: config.Config{PublicURL: "https://ci.example.com/"},
			builder: "https://ci.example.com/builder"},
		{name: "set explicitly", cfg: config.Config{PublicURL: "https://ci.example.com", BuilderID: "urn:slipway:prod-eu"},
			builder: "urn:slipway:prod-eu"},
		{name: "the build default is refused", cfg: config.Config{PublicURL: "https://ci.example.com"},
			builder:    build.DefaultBuilderID,
			wantReason: `was not built by this Slipway from ` + cloneURL + `: provenance does not match: builder id: want "https://ci.example.com/builder", got "` + build.DefaultBuilderID + `"`},
		{name: "another instance is refused", cfg: config.Config{PublicURL: "https://ci.example.com", BuilderID: "urn:slipway:prod-eu"},
			builder:    "https://ci.example.com/builder",
			wantReason: `provenance does not match: builder id: want "urn:slipway:prod-eu", got "https://ci.example.com/builder"`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := push(fmt.Sprintf("shop%d", i), tt.builder)
			_, err := newGate(&tt.cfg, runs, nil).Check(context.Background(), img, src)
			var refused *promote.RefusedError
			switch {
			case tt.wantReason == "" && err != nil:
				t.Fatalf("Check = %v, want it let through", err)
			case tt.wantReason == "":
			case !errors.As(err, &refused):
				t.Fatalf("Check = %v, want a refusal", err)
			case !strings.HasSuffix(refused.Error(), tt.wantReason):
				t.Errorf("reason = %q, want it to end in %q", refused.Error(), tt.wantReason)
			}
		})
	}
}

type fakeRuns []run.Run

func (f fakeRuns) ListRuns(_ context.Context, rf store.RunFilter) ([]run.Run, error) {
	var out []run.Run
	for _, r := range f {
		if r.Repo == rf.Repo && (rf.SHA == "" || r.SHA == rf.SHA) && (rf.State == "" || r.State == rf.State) {
			out = append(out, r)
		}
	}
	return out, nil
}

// The service serve wires starts its deploy runs in the deploy
// namespace, where the environments' kubeconfig Secrets live, and follows
// them through that namespace's informer factory: the orphans report's
// run for each cluster, the remote clusters' with their Secret bound.
func TestPromotionServiceRunsInTheDeployNamespace(t *testing.T) {
	st, err := store.Open(context.Background(), "sqlite://"+t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := &config.Config{ReleaseConfig: "../environment/testdata/example.yaml", Namespace: "slipway-builds", DeployNamespace: "slipway",
		SlipwayImage: "reg/slipway:dev", DeployAccount: "slipway-deployer", ImageRegistry: "10.244.0.1:5000/apps"}
	tc := tektonfake.NewSimpleClientset()
	deployInformers := informerFactory(tc, cfg.DeployNamespace, tekton.KindDeploy)
	svc, err := promotionService(cfg, st, tc, nil, nil, deployInformers)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deployInformers.Start(ctx.Done())
	defer deployInformers.Shutdown()

	// No deploy pod runs here: the report follows its runs until they
	// are all created, then gives up with its context (each cluster's
	// entry an error; what matters is where the runs went).
	go func() {
		for len(runsIn(t, tc, cfg.DeployNamespace)) < 3 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	_, _ = svc.Orphans(ctx, promotion.Caller{Name: "rita", Role: "release-manager", ReleaseManager: true})
	got := map[string]string{} // cluster → kubeconfig Secret
	for _, pr := range runsIn(t, tc, cfg.DeployNamespace) {
		secret := "-"
		for _, w := range pr.Spec.Workspaces {
			if w.Name == "kubeconfig" && w.Secret != nil {
				secret = w.Secret.SecretName
			}
		}
		if sa := pr.Spec.TaskRunTemplate.ServiceAccountName; sa != cfg.DeployAccount {
			t.Errorf("%s runs as %q, want %q", pr.Name, sa, cfg.DeployAccount)
		}
		got[pr.Labels[tekton.LabelCluster]] = secret
	}
	want := map[string]string{"local": "-", "dc-east": "prod-dc-east-kubeconfig", "dc-west": "prod-dc-west-kubeconfig"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("orphans runs in %s per cluster, their kubeconfig Secret (-want +got):\n%s", cfg.DeployNamespace, diff)
	}
	if builds := runsIn(t, tc, cfg.Namespace); len(builds) > 0 {
		t.Errorf("%d deploy runs in the builds namespace", len(builds))
	}
}

func runsIn(t *testing.T, tc *tektonfake.Clientset, ns string) []pipelinev1.PipelineRun {
	t.Helper()
	l, err := tc.TektonV1().PipelineRuns(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Error(err)
		return nil
	}
	return l.Items
}
