package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/dockerfile"
)

func TestLanguageChecks(t *testing.T) {
	// Defaults: no pipeline param, every default image checked.
	param, checker, err := languageChecks(&config.Config{BaseRegistry: "r:5000/base"})
	if err != nil {
		t.Fatal(err)
	}
	if param != "" || len(checker.Images) == 0 || checker.Options.Insecure {
		t.Errorf("defaults: param %q, %d images, insecure %v", param, len(checker.Images), checker.Options.Insecure)
	}

	langs, err := dockerfile.CompletePlatform(dockerfile.Platform{"node": {Default: "18", Versions: []string{"18"}}, "static": {Default: "18", Versions: []string{"18"}}})
	if err != nil {
		t.Fatal(err)
	}
	param, checker, err = languageChecks(&config.Config{BaseRegistry: "r:5000/base", InsecureRegistries: []string{"r:5000"}, Languages: langs})
	if err != nil {
		t.Fatal(err)
	}
	// What the server hands the pipeline is what render reads back.
	back, err := dockerfile.ParsePlatform([]byte(param))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(langs, back); diff != "" {
		t.Errorf("languages param round trip (-want +got)\n%s", diff)
	}
	if !checker.Options.Insecure {
		t.Error("the base registry is listed as insecure, the check must use plain HTTP")
	}
	found := false
	for _, img := range checker.Images {
		if img == "r:5000/base/node:20" {
			t.Errorf("node:20 is checked but not offered")
		}
		found = found || img == "r:5000/base/node:18"
	}
	if !found {
		t.Errorf("images %v lack r:5000/base/node:18", checker.Images)
	}
}
