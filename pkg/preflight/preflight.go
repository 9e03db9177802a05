// Package preflight checks that images exist in their registry before
// anything is scheduled to pull them, so a missing base image is reported
// with its reference and the tags that do exist, instead of as a pod
// stuck in ImagePullBackOff.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Problem is one image that cannot be pulled.
type Problem struct {
	Image string
	// Reason is "not found", "unauthorized" or "unreachable".
	Reason string
	// Tags are the tags the repository does have (not found only; empty
	// when the registry would not list them).
	Tags []string
	Err  error
}

func (p Problem) Error() string {
	switch p.Reason {
	case ReasonNotFound:
		if len(p.Tags) == 0 {
			return fmt.Sprintf("image %s does not exist (the repository has no tags)", p.Image)
		}
		return fmt.Sprintf("image %s does not exist; the repository has: %s", p.Image, strings.Join(p.Tags, ", "))
	case ReasonUnauthorized:
		return fmt.Sprintf("image %s: the registry refused access (check the pull credentials): %v", p.Image, p.Err)
	}
	return fmt.Sprintf("image %s: registry unreachable: %v", p.Image, p.Err)
}

// Reasons of a Problem.
const (
	ReasonNotFound     = "not found"
	ReasonUnauthorized = "unauthorized"
	ReasonUnreachable  = "unreachable"
)

// Options tune the registry access.
type Options struct {
	// Insecure reaches registries over plain HTTP. Default: false.
	Insecure bool
	// Keychain authenticates. Default: authn.DefaultKeychain.
	Keychain authn.Keychain
	// Transport carries the requests. Default: remote.DefaultTransport.
	Transport http.RoundTripper
}

// Check HEADs every image (a few at a time) and returns the problems, in
// the order of images. "scratch" and empty references are skipped.
func Check(ctx context.Context, images []string, o Options) []Problem {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if o.Transport != nil {
		ropts = append(ropts, remote.WithTransport(o.Transport))
	}
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	results := make([]*Problem, len(images))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, img := range images {
		if img == "" || img == "scratch" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = checkOne(img, nopts, ropts)
		}()
	}
	wg.Wait()
	var out []Problem
	for _, p := range results {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func checkOne(img string, nopts []name.Option, ropts []remote.Option) *Problem {
	ref, err := name.ParseReference(img, nopts...)
	if err != nil {
		return &Problem{Image: img, Reason: ReasonNotFound, Err: fmt.Errorf("invalid image reference: %w", err)}
	}
	_, err = remote.Head(ref, ropts...)
	if err == nil {
		return nil
	}
	p := &Problem{Image: img, Reason: classify(err), Err: err}
	if p.Reason == ReasonNotFound {
		if tags, lerr := remote.List(ref.Context(), ropts...); lerr == nil {
			sort.Strings(tags)
			p.Tags = tags
		}
	}
	return p
}

func classify(err error) string {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusNotFound:
			return ReasonNotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			return ReasonUnauthorized
		}
	}
	return ReasonUnreachable
}

// Err joins problems into one error, nil when there are none.
func Err(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}
