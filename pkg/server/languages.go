package server

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/dockerfile"
	"github.com/slipway-ci/slipway/pkg/preflight"
)

// languageChecks returns the languages configuration as the pipeline's
// languages param (empty for the defaults) and the checker of every base
// image it names.
func languageChecks(cfg *config.Config) (string, *preflight.BaseImages, error) {
	p, err := dockerfile.CompletePlatform(cfg.Languages)
	if err != nil {
		return "", nil, err
	}
	images, err := p.Images(cfg.BaseRegistry)
	if err != nil {
		return "", nil, err
	}
	insecure := cfg.RegistryInsecure
	for _, r := range cfg.InsecureRegistries {
		if strings.HasPrefix(cfg.BaseRegistry+"/", strings.TrimRight(r, "/")+"/") {
			insecure = true
		}
	}
	checker := &preflight.BaseImages{Images: images, Options: preflight.Options{Insecure: insecure}}
	if cfg.Languages == nil {
		return "", checker, nil
	}
	b, err := json.Marshal(map[string]dockerfile.Platform{config.LanguagesKey: cfg.Languages})
	if err != nil {
		return "", nil, fmt.Errorf("encoding the languages configuration: %w", err)
	}
	return string(b), checker, nil
}
