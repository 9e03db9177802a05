package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/slipway-ci/slipway/pkg/dockerfile"
	"github.com/slipway-ci/slipway/pkg/preflight"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// NewRenderCmd returns `slipway render [DIR]`: detect the project's
// language and print its standard Dockerfile. The pipeline writes it to
// DIR/.slipway/Dockerfile (`-o .slipway/Dockerfile`), where the Dockerfile
// copies itself into the image from.
func NewRenderCmd() *cobra.Command {
	var (
		o         dockerfile.Options
		output    string
		printTest bool
		asJSON    bool
		languages string
		langFile  string
		check     bool
		insecure  bool
		// buildConfig is one app's build: section (JSON or YAML).
		buildConfig string
	)
	cmd := &cobra.Command{
		Use:   "render [DIR]",
		Short: "Print the standard Dockerfile for the project in DIR (default: .)",
		Long: `Detect the language of the project in DIR (go.mod, pom.xml, build.gradle(.kts),
package.json, requirements.txt, pyproject.toml, index.html) and render its
standard Dockerfile. DIR/.slipway.yaml may choose the language, version, port,
build args, test command, or name the repository's own Dockerfile.

The Dockerfile must be written to .slipway/Dockerfile in the build context:
it copies itself from there into the image at /.slipway/Dockerfile.`,
		Example: `  slipway render -o .slipway/Dockerfile --base-registry 127.0.0.1:5000/base .
  slipway render --print-test-command .
  slipway render --json --maven-offline ./service
  slipway render --check --languages-file slipway.yaml --base-registry registry.corp/mirror .`,
		Args:         cobra.MaximumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			rc, err := renderRepoConfig(dir)
			if buildConfig != "" {
				// A monorepo's app: the dispatcher resolved its build
				// settings; a .slipway.yaml in DIR is not the app's.
				var b *repoconfig.Build
				if b, err = repoconfig.ParseBuild([]byte(buildConfig)); err == nil {
					rc = &repoconfig.Config{Build: *b}
				}
			}
			if err != nil {
				return err
			}
			if o.Languages, err = renderLanguages(languages, langFile); err != nil {
				return err
			}
			res, err := dockerfile.Render(dir, rc, o)
			if err != nil {
				return err
			}
			if check {
				// Before any test pod: the images the unit-test step and the
				// Dockerfile pull must exist.
				var missing []preflight.Problem
				images := []string{res.BuildImage}
				if res.RuntimeImage != res.BuildImage {
					images = append(images, res.RuntimeImage)
				}
				for _, p := range preflight.Check(cmd.Context(), images, preflight.Options{Insecure: insecure}) {
					if p.Reason != preflight.ReasonNotFound {
						// Nodes may pull with credentials or routes this pod lacks:
						// only an answer of "no such image" is certain enough to fail on.
						fmt.Fprintf(cmd.ErrOrStderr(), "warning: cannot check %v\n", p)
						continue
					}
					missing = append(missing, p)
				}
				if err := preflight.Err(missing); err != nil {
					return fmt.Errorf("%s %s: the unit tests and the image build need base images this platform's registry does not have: %w (fix the languages configuration or the base registry)",
						res.Language, res.Version, err)
				}
			}
			if output != "" {
				if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
					return fmt.Errorf("creating the output directory: %w", err)
				}
				if err := os.WriteFile(output, res.Dockerfile, 0o644); err != nil {
					return fmt.Errorf("writing the Dockerfile: %w", err)
				}
			}
			out := cmd.OutOrStdout()
			switch {
			case printTest:
				_, err = fmt.Fprintln(out, res.TestCommand)
			case asJSON:
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				err = enc.Encode(res)
			case output == "":
				_, err = out.Write(res.Dockerfile)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.BaseRegistry, "base-registry", "", "registry prefix of the base images, e.g. registry.corp/mirror (default: Docker Hub names)")
	f.StringVarP(&output, "output", "o", "", "write the Dockerfile to this file instead of stdout (the pipeline uses .slipway/Dockerfile)")
	f.StringVar(&o.GoProxy, "goproxy", "", "default GOPROXY build arg (default: none, Go's own)")
	f.StringVar(&o.NpmRegistry, "npm-registry", "", "default NPM_CONFIG_REGISTRY build arg (default: none, npm's own)")
	f.StringVar(&o.PipIndexURL, "pip-index-url", "", "default PIP_INDEX_URL build arg (default: none, pip's own)")
	f.StringVar(&o.MavenSettings, "maven-settings", "", "settings.xml path inside the build context, or a Maven mirror URL")
	f.BoolVar(&o.MavenOffline, "maven-offline", false, "default MAVEN_OFFLINE build arg: build Maven projects offline against /usr/share/maven-repo")
	f.StringVar(&languages, "languages", "", "the platform's languages configuration, inline: a YAML or JSON document with a languages: section (default: the template metadata)")
	f.StringVar(&langFile, "languages-file", "", "read the languages configuration from this file (Slipway's config file will do: only its languages: section is read)")
	f.BoolVar(&check, "check", false, "check that the base images exist in their registry (what the pipeline's Dockerfile step does before any test pod)")
	f.BoolVar(&insecure, "insecure-registry", false, "with --check: reach the base registry over plain HTTP (local development only)")
	f.BoolVar(&printTest, "print-test-command", false, "print only the unit test command")
	f.StringVar(&o.CacheScope, "cache-scope", dockerfile.CacheTrusted, "id scope of the BuildKit cache mounts: trusted, or untrusted for merge requests (never shared with trusted builds)")
	f.StringVar(&buildConfig, "build-config", "", "the build settings (a build: section, JSON or YAML) instead of DIR/.slipway.yaml's; the pipeline passes a monorepo app's")
	f.BoolVar(&asJSON, "json", false, "print the render result (language, version, port, test command, images) as JSON")
	cmd.MarkFlagsMutuallyExclusive("print-test-command", "json")
	cmd.MarkFlagsMutuallyExclusive("languages", "languages-file")
	return cmd
}

// renderLanguages reads the platform's languages configuration from the
// inline document or the file; nil (the defaults) when neither is given.
func renderLanguages(inline, file string) (dockerfile.Platform, error) {
	data := []byte(inline)
	if file != "" {
		var err error
		if data, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("reading the languages configuration: %w", err)
		}
	}
	if len(data) == 0 {
		return nil, nil
	}
	return dockerfile.ParsePlatform(data)
}

// renderRepoConfig reads DIR/.slipway.yaml; a repository without one gets
// the defaults (nil).
func renderRepoConfig(dir string) (*repoconfig.Config, error) {
	data, err := os.ReadFile(filepath.Join(dir, repoconfig.FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", repoconfig.FileName, err)
	}
	return repoconfig.Parse(data)
}
