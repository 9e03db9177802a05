package server

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/pkg/advisory"
	"github.com/slipway-ci/slipway/pkg/promote"
)

// configMapFeed reads the advisory feed from its ConfigMap on every
// promotion check: the same object the CI policy step mounts, as it is
// now, without waiting for a mounted copy to refresh.
type configMapFeed struct {
	kc              kubernetes.Interface
	namespace, name string
}

var _ promote.FeedLoader = configMapFeed{}

func (f configMapFeed) LoadFeed(ctx context.Context) (*advisory.Feed, error) {
	cm, err := f.kc.CoreV1().ConfigMaps(f.namespace).Get(ctx, f.name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the advisory feed ConfigMap %s/%s: %w", f.namespace, f.name, err)
	}
	feed, err := advisory.LoadFiles(cm.Data)
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", f.namespace, f.name, err)
	}
	return feed, nil
}
