package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/promotion"
	"github.com/slipway-ci/slipway/pkg/store"
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
			cfg := &config.Config{ReleaseConfig: tt.release, APITokensFile: tt.tokens, Namespace: "slipway-builds",
				SlipwayImage: "reg/slipway:dev", ImageRegistry: "10.244.0.1:5000/apps", RegistryInsecure: true}
			tok, err := apiTokens(cfg)
			var svc *promotion.Service
			if err == nil {
				svc, err = promotionService(cfg, st, tektonfake.NewSimpleClientset(), k8sfake.NewSimpleClientset())
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
