package promotion

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/pkg/deploy"
	"github.com/slipway-ci/slipway/pkg/environment"
)

// Signal is what a running rollout is told.
type Signal string

const (
	// SignalContinue moves a canary paused "manual" to its next step.
	SignalContinue Signal = "continue"
	// SignalAbort makes the rollout roll back and stop.
	SignalAbort Signal = "abort"
)

// Clusters reaches an app in the clusters of an environment, for what
// happens beside the deploy PipelineRun.
type Clusters interface {
	// Signal tells the rollout of app in namespace to continue or abort;
	// rollout names the deploy PipelineRun an abort is meant for (see
	// deploy.AnnotationAbortRollout).
	Signal(ctx context.Context, cl environment.Cluster, namespace, app string, sig Signal, rollout, reason string) error
	// Progress is the rollout's latest step, "" when none is known.
	Progress(ctx context.Context, cl environment.Cluster, namespace, app string) (string, error)
	// DeleteApp removes what Slipway created for app in namespace.
	DeleteApp(ctx context.Context, cl environment.Cluster, namespace, app string) error
	// RemoveCanary removes the canary (and its traffic share) a canary
	// rollout of t left in cl when it was killed before cleaning up.
	RemoveCanary(ctx context.Context, cl environment.Cluster, t environment.Target) error
}

// KubeconfigKey is the key of a cluster's kubeconfig in its Secret (the
// deploy Task reads the same key).
const KubeconfigKey = "kubeconfig"

// KubeClusters reaches clusters with client-go: the in-cluster one with
// Local, the others with the kubeconfig in their Secret in Namespace.
type KubeClusters struct {
	Local kubernetes.Interface
	// LocalDynamic reaches Gateway API HTTPRoutes in the local cluster;
	// nil: a canary with an httpRoute cannot be cleaned up there.
	LocalDynamic dynamic.Interface
	Namespace    string

	mu      sync.Mutex
	remotes map[string]remoteClients
}

// remoteClients are the clients of one cluster reached through its kubeconfig.
type remoteClients struct {
	kc  kubernetes.Interface
	dyn dynamic.Interface
}

var _ Clusters = (*KubeClusters)(nil)

// Signal implements Clusters with deploy.Signal.
func (k *KubeClusters) Signal(ctx context.Context, cl environment.Cluster, namespace, app string, sig Signal, rollout, reason string) error {
	kc, err := k.client(ctx, cl)
	if err != nil {
		return err
	}
	return deploy.Signal(ctx, kc, namespace, app, deploy.SignalKind(sig), rollout, reason)
}

// Progress implements Clusters with deploy.Progress.
func (k *KubeClusters) Progress(ctx context.Context, cl environment.Cluster, namespace, app string) (string, error) {
	kc, err := k.client(ctx, cl)
	if err != nil {
		return "", err
	}
	return deploy.Progress(ctx, kc, namespace, app)
}

// DeleteApp implements Clusters with deploy.DeleteApp.
func (k *KubeClusters) DeleteApp(ctx context.Context, cl environment.Cluster, namespace, app string) error {
	kc, err := k.client(ctx, cl)
	if err != nil {
		return err
	}
	return deploy.DeleteApp(ctx, kc, namespace, app)
}

// RemoveCanary implements Clusters with deploy.Deployer.RemoveCanary.
func (k *KubeClusters) RemoveCanary(ctx context.Context, cl environment.Cluster, t environment.Target) error {
	kc, dyn, err := k.clients(ctx, cl)
	if err != nil {
		return err
	}
	var opts []deploy.Option
	if dyn != nil {
		opts = append(opts, deploy.WithDynamic(dyn))
	}
	return deploy.New(kc, opts...).RemoveCanary(ctx, deploy.Spec{Namespace: t.Namespace, App: t.Deployment,
		HTTPRoute: t.Rollout.HTTPRoute, NginxIngress: t.Rollout.NginxIngress})
}

func (k *KubeClusters) client(ctx context.Context, cl environment.Cluster) (kubernetes.Interface, error) {
	kc, _, err := k.clients(ctx, cl)
	return kc, err
}

// clients returns (and keeps) the clients of cl. A Secret that cannot be
// read is not cached, so fixing it needs no restart.
func (k *KubeClusters) clients(ctx context.Context, cl environment.Cluster) (kubernetes.Interface, dynamic.Interface, error) {
	if cl.InCluster() {
		return k.Local, k.LocalDynamic, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.remotes[cl.Name]; ok {
		return r.kc, r.dyn, nil
	}
	sec, err := k.Local.CoreV1().Secrets(k.Namespace).Get(ctx, cl.KubeconfigSecret, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: reading Secret %s/%s: %w", cl.Name, k.Namespace, cl.KubeconfigSecret, err)
	}
	data, ok := sec.Data[KubeconfigKey]
	if !ok {
		return nil, nil, fmt.Errorf("cluster %s: Secret %s/%s has no key %q", cl.Name, k.Namespace, cl.KubeconfigSecret, KubeconfigKey)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: kubeconfig in Secret %s: %w", cl.Name, cl.KubeconfigSecret, err)
	}
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: client: %w", cl.Name, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: dynamic client: %w", cl.Name, err)
	}
	if k.remotes == nil {
		k.remotes = map[string]remoteClients{}
	}
	k.remotes[cl.Name] = remoteClients{kc: kc, dyn: dyn}
	return kc, dyn, nil
}
