package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/api/wire"
)

func TestPrintRetirement(t *testing.T) {
	clusters := func(errEast string) []wire.RetiredCluster {
		return []wire.RetiredCluster{
			{Env: "qa", Cluster: "local", Namespace: "apps-qa", Objects: []string{"configmap/slipway-applyset-shop", "deployment/shop"}},
			{Env: "prod", Cluster: "east", Namespace: "apps-prod", Objects: []string{}, Error: errEast},
		}
	}
	tests := []struct {
		name string
		r    wire.Retirement
		want string
	}{
		{"dry run", wire.Retirement{App: "shop", DryRun: true, Clusters: clusters("")},
			"qa/local (apps-qa): would delete\n  configmap/slipway-applyset-shop\n  deployment/shop\nprod/east (apps-prod): nothing to delete\n"},
		{"deleted", wire.Retirement{App: "shop", Clusters: clusters("")},
			"qa/local (apps-qa): deleted\n  configmap/slipway-applyset-shop\n  deployment/shop\nprod/east (apps-prod): nothing to delete\ndeleted shop from every environment\n"},
		{"a cluster failed", wire.Retirement{App: "shop", Clusters: clusters("cluster away")},
			"qa/local (apps-qa): deleted\n  configmap/slipway-applyset-shop\n  deployment/shop\nprod/east (apps-prod): FAILED: cluster away\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printRetirement(&b, &tt.r)
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteObjects(t *testing.T) {
	long := make([]string, 400)
	for i := range long {
		long[i] = "configmap/settings-of-a-long-named-app"
	}
	tests := []struct {
		name     string
		objs     []string
		wantTail string
		wantLen  int // at most
	}{
		{"none", nil, "", 0},
		{"some", []string{"deployment/web", "service/web"}, "deployment/web\nservice/web\n", 100},
		{"beyond the result's size", long, "… and 324 more\n", maxObjectsResult + 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := t.TempDir() + "/objects"
			if err := writeObjects(file, tt.objs); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); !strings.HasSuffix(got, tt.wantTail) || len(got) > tt.wantLen {
				t.Errorf("objects result = %d bytes ending %q, want at most %d ending %q", len(got), got[max(0, len(got)-40):], tt.wantLen, tt.wantTail)
			}
		})
	}
	if err := writeObjects("", []string{"deployment/web"}); err != nil {
		t.Errorf("not asked for: %v", err)
	}
}

func TestPrintOrphans(t *testing.T) {
	var b bytes.Buffer
	printClusters(&b, []wire.RetiredCluster{
		{Env: "qa", Cluster: "local", Namespace: "apps-qa", Objects: []string{"deployment/old (app old)"}},
		{Env: "prod", Cluster: "east", Namespace: "apps-prod", Objects: []string{}},
		{Env: "prod", Cluster: "west", Namespace: "apps-prod", Error: "cluster away"},
	}, "not claimed", "none")
	want := "qa/local (apps-qa): not claimed\n  deployment/old (app old)\nprod/east (apps-prod): none\nprod/west (apps-prod): FAILED: cluster away\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}
