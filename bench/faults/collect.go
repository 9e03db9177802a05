package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// PipelineRun is one, by what the count needs of it.
type PipelineRun struct {
	Name    string // namespace/name, as Slipway's run ids
	SHA     string
	Created time.Time
}

var pipelineRuns = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}

// RunWatch keeps the metadata of every PipelineRun of a namespace, from a
// watch: thousands of runs are listed once, not on every look, and the
// watch lists again by itself after an apiserver outage.
type RunWatch struct {
	inf cache.SharedIndexInformer
}

// WatchRuns starts watching ns's PipelineRuns until ctx is done.
func WatchRuns(ctx context.Context, mc metadata.Interface, ns string) (*RunWatch, error) {
	inf := metadatainformer.NewFilteredMetadataInformer(mc, pipelineRuns, ns, 0, cache.Indexers{}, nil).Informer()
	// Only names, labels and times are read: managed fields are the bulk.
	if err := inf.SetTransform(func(obj any) (any, error) {
		if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
			m.ManagedFields = nil
			m.Annotations = nil
		}
		return obj, nil
	}); err != nil {
		return nil, fmt.Errorf("watching PipelineRuns: %w", err)
	}
	go inf.Run(ctx.Done())
	return &RunWatch{inf: inf}, nil
}

// Synced reports whether the first list is in.
func (w *RunWatch) Synced() bool { return w.inf.HasSynced() }

// Runs returns the runs seen so far, by their commit SHA.
func (w *RunWatch) Runs() map[string][]PipelineRun {
	out := map[string][]PipelineRun{}
	for _, obj := range w.inf.GetStore().List() {
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			continue
		}
		sha := m.Labels[tekton.LabelSHA]
		out[sha] = append(out[sha], PipelineRun{Name: m.Namespace + "/" + m.Name, SHA: sha, Created: m.CreationTimestamp.Time})
	}
	return out
}

// Record is what the fakescm received that the bench counts.
type Record struct {
	Statuses []fakescm.Status // of the bench's repositories
	Chats    []fakescm.ChatMessage
	Mails    []fakescm.Mail
	Comments []fakescm.Comment
}

// ReadFakeSCM reads the statuses of repos and every chat message, mail
// and comment (the count keeps the bench's own), retrying what fails for
// a moment.
func ReadFakeSCM(ctx context.Context, client *http.Client, base string, repos Repos) (Record, error) {
	var r Record
	names := append([]string(nil), repos.GitHub...)
	for _, p := range repos.GitLab {
		names = append(names, p.Path)
	}
	for _, n := range names {
		var sts []fakescm.Status
		if err := fakeGet(ctx, client, base+"/_fake/statuses?repo="+url.QueryEscape(n), &sts); err != nil {
			return r, err
		}
		r.Statuses = append(r.Statuses, sts...)
	}
	for path, v := range map[string]any{"/_fake/chat": &r.Chats, "/_fake/mail": &r.Mails, "/_fake/comments": &r.Comments} {
		if err := fakeGet(ctx, client, base+path, v); err != nil {
			return r, err
		}
	}
	return r, nil
}

func fakeGet(ctx context.Context, client *http.Client, u string, v any) error {
	return withRetry(ctx, "GET "+u, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return retry.Terminal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return retry.Transient(fmt.Errorf("HTTP %d", resp.StatusCode))
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			return retry.Terminal(fmt.Errorf("decoding: %w", err))
		}
		return nil
	})
}

// withRetry calls f until it succeeds, fails for good (not
// retry.IsTransient: a refused connection while the apiserver is down is
// transient) or ctx ends, spacing attempts with Slipway's backoff.
func withRetry(ctx context.Context, what string, f func(context.Context) error) error {
	b := retry.Exponential(500*time.Millisecond, 5*time.Second)
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		ok, after := retry.IsTransient(err)
		if !ok {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !sleepUntil(ctx, time.Now().Add(max(after, retry.Delay(b, attempt)))) {
			return fmt.Errorf("%s: %w (last error: %w)", what, context.Cause(ctx), err)
		}
	}
}
