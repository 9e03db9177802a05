package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/provenance"
)

// Provenance is the summary of an image's SLSA provenance the run page
// shows; Err is set instead when it could not be read.
type Provenance struct {
	BuilderID string
	Repo      string
	Commit    string
	Started   time.Time
	Finished  time.Time
	Materials int
	// Dockerfile is the one recorded in the provenance (BuildKit mode=max),
	// DockerfileName its name: how a repository's own Dockerfile is shown.
	Dockerfile     string
	DockerfileName string
	Err            string
}

// provenanceCache fetches each digest's provenance once: a digest's
// provenance never changes. Failures are not kept, the next view retries.
type provenanceCache struct {
	fetch    func(ctx context.Context, ref name.Reference) (*provenance.Statement, error)
	insecure map[string]bool

	mu   sync.Mutex
	byDG map[string]Provenance
}

func newProvenanceCache(insecure []string, opts ...remote.Option) *provenanceCache {
	c := &provenanceCache{insecure: map[string]bool{}, byDG: map[string]Provenance{}}
	for _, r := range insecure {
		c.insecure[r] = true
	}
	c.fetch = func(ctx context.Context, ref name.Reference) (*provenance.Statement, error) {
		return provenance.Fetch(ctx, ref, opts...)
	}
	return c
}

// get summarizes the provenance of image (a repository, tagged or not) at digest.
func (c *provenanceCache) get(ctx context.Context, image, digest string) Provenance {
	c.mu.Lock()
	p, ok := c.byDG[digest]
	c.mu.Unlock()
	if ok {
		return p
	}
	p, err := c.load(ctx, image, digest)
	if err != nil {
		return Provenance{Err: err.Error()}
	}
	c.mu.Lock()
	c.byDG[digest] = p
	c.mu.Unlock()
	return p
}

func (c *provenanceCache) load(ctx context.Context, image, digest string) (Provenance, error) {
	repo, err := name.ParseReference(image)
	if err != nil {
		return Provenance{}, fmt.Errorf("image %q: %w", image, err)
	}
	var opts []name.Option
	if c.insecure[repo.Context().RegistryStr()] {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewDigest(repo.Context().Name()+"@"+digest, opts...)
	if err != nil {
		return Provenance{}, fmt.Errorf("image %s@%s: %w", image, digest, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := c.fetch(ctx, ref)
	if err != nil {
		return Provenance{}, err
	}
	return summarize(st), nil
}

// summarize reads the fields the page shows; the build times are not in
// provenance.Statement, so they come from the raw predicate.
func summarize(st *provenance.Statement) Provenance {
	p := Provenance{BuilderID: st.BuilderID(), Materials: len(st.Materials())}
	p.Repo, p.Commit = st.Source()
	if n, df, ok := st.Dockerfile(); ok {
		p.DockerfileName, p.Dockerfile = n, string(df)
	}
	var times struct {
		Metadata struct {
			Started  time.Time `json:"buildStartedOn"`
			Finished time.Time `json:"buildFinishedOn"`
		} `json:"metadata"`
		RunDetails struct {
			Metadata struct {
				Started  time.Time `json:"startedOn"`
				Finished time.Time `json:"finishedOn"`
			} `json:"metadata"`
		} `json:"runDetails"`
	}
	if json.Unmarshal(st.Predicate, &times) == nil {
		p.Started, p.Finished = times.Metadata.Started, times.Metadata.Finished
		if st.V1 != nil {
			p.Started, p.Finished = times.RunDetails.Metadata.Started, times.RunDetails.Metadata.Finished
		}
	}
	return p
}
