//go:build integration

package build_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/build"
	"github.com/slipway-ci/slipway/pkg/provenance"
)

// A repository's own Dockerfile knows nothing of Slipway's build args: the
// labels come from BuildKit's label: options, and the Dockerfile itself
// travels in the mode=max provenance.
func TestOwnDockerfileDescribesItself(t *testing.T) {
	e := setup(t)
	base := pushBusybox(t, e.registry)
	own := "FROM " + base + "\nCOPY app.txt /app.txt\nCMD [\"cat\", \"/app.txt\"]\n"
	dir := writeContext(t, map[string]string{"Dockerfile": own, "app.txt": "mine\n"})
	image := e.registry + "/it/own-" + randomName(t)
	created := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	const runID = "slipway-builds/own-3f2a9c1-d00d"
	var progress bytes.Buffer
	res, err := newBuilder(t, e, &progress).Build(buildContext(t), build.Request{
		ContextDir: dir, Image: image, Tag: "3f2a9c1", SourceURL: sourceURL, Revision: commit, Insecure: true,
		Created: created, Run: runID, NoCache: true,
	})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, progress.String())
	}
	tag, err := name.NewTag(res.ImageURL, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		build.LabelSource:   sourceURL,
		build.LabelRevision: commit,
		build.LabelCreated:  "2026-12-07T05:00:00Z",
		build.LabelRun:      runID,
	} {
		if got := cf.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}

	ref, err := name.NewDigest(tag.Context().Name()+"@"+res.Digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	st, err := provenance.Fetch(buildContext(t), ref)
	if err != nil {
		t.Fatalf("provenance: %v", err)
	}
	fn, df, ok := st.Dockerfile()
	if !ok || fn != "Dockerfile" || string(df) != own {
		t.Errorf("provenance Dockerfile = %q, %q, %v; want the own Dockerfile:\n%s", fn, df, ok, own)
	}
}
