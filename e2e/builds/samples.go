package builds

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/slipway-ci/slipway/pkg/dockerfile"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// Sample is one sample app of pkg/dockerfile/testdata/apps and how it is
// built on this machine.
type Sample struct {
	// Name names the case, App the folder under testdata/apps.
	Name, App string
	// Version is the toolchain version of the base image e2e/stack/images.sh
	// makes from Debian (bookworm: node 18, python 3.11, JDK 17, the host's
	// Go); set as .slipway.yaml build.version, as a platform team whose
	// mirror only carries these would. Empty: the app's own choice.
	Version string
	// MavenOffline builds against /usr/share/maven-repo in the maven image.
	MavenOffline bool
	// Source is a source file (not a dependency manifest) a rebuild changes.
	Source string
	// Skip, when set, says why this sample cannot be built here.
	Skip string
}

// GoVersion is the Go of the base image: images.sh copies the host's toolchain.
const GoVersion = "1.26"

// Samples are the apps built for real: every template whose toolchain
// Debian packages.
var Samples = []Sample{
	{Name: "go", App: "go", Version: GoVersion, Source: "main.go"},
	{Name: "java-maven", App: "java-maven", Version: "17", MavenOffline: true, Source: "src/main/java/example/Hello.java"},
	{Name: "java-gradle", App: "java-gradle", Version: "17", Source: "src/main/java/example/Hello.java", Skip: GradleSkip},
	{Name: "node", App: "node", Version: "18", Source: "greet.js"},
	{Name: "python", App: "python", Version: "3.11", Source: "app.py"},
	{Name: "python-pyproject", App: "python-pyproject", Version: "3.11", Source: "hello/server.py"},
	{Name: "static", App: "static", Source: "index.html"},
	{Name: "static-build", App: "static-build", Version: "18", Source: "src/index.html"},
}

// GradleSkip is why the Gradle sample is not built here, as seen on a real
// attempt: Debian bookworm's gradle package is 4.4.1, which runs on JDK 17
// but predates the `java { toolchain { … } }` block the template relies on
// to pin the JDK (Gradle 6.7+).
const GradleSkip = "Debian bookworm ships gradle 4.4.1-18 (the base image e2e/stack/images.sh makes); " +
	"the sample's build.gradle pins JDK 17 with `java { toolchain { languageVersion = JavaLanguageVersion.of(17) } }`, " +
	"which needs Gradle 6.7 or later: 4.4.1 stops in the template's `gradle dependencies` step with " +
	"\"Could not find method java() for arguments [...] on root project 'hello'\" (build.gradle line 7). " +
	"Build base/gradle:jdk17 from a Gradle >= 6.7 distribution to run this case"

// RepoConfig is the .slipway.yaml the sample is rendered with: its own
// file if any, plus the version and port set here.
func (s Sample) RepoConfig(appsDir string, port int) (*repoconfig.Config, error) {
	rc := &repoconfig.Config{}
	data, err := os.ReadFile(filepath.Join(appsDir, s.App, repoconfig.FileName))
	switch {
	case err == nil:
		if rc, err = repoconfig.Parse(data); err != nil {
			return nil, fmt.Errorf("%s: %w", s.App, err)
		}
	case !os.IsNotExist(err):
		return nil, err
	}
	if s.Version != "" {
		rc.Build.Version = s.Version
	}
	if port != 0 {
		rc.Build.Port = port
	}
	return rc, nil
}

// Options are the render options for this machine: base images from the
// loopback registry, Maven offline where asked. GOPROXY and the npm
// registry keep their public defaults, which this machine reaches; the
// Python samples use only the standard library, so pip never runs.
func (s Sample) Options(st Stack) dockerfile.Options {
	return dockerfile.Options{BaseRegistry: st.BaseRegistry(), MavenOffline: s.MavenOffline}
}
