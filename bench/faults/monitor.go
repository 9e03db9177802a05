package faults

import (
	"context"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PodState is one Slipway pod as a sample saw it.
type PodState struct {
	Name     string
	Ready    bool
	Restarts int32
}

// Sample is what the monitor read at one instant: the leader Lease, the
// Deployment's wanted replicas and its pods. Err is set when the
// apiserver did not answer (then the rest is empty).
type Sample struct {
	At          time.Time
	Err         string
	Holder      string
	RenewTime   time.Time
	Transitions int32
	Want        int32
	Pods        []PodState
}

// Ready counts the pods that are ready.
func (s Sample) Ready() int32 {
	var n int32
	for _, p := range s.Pods {
		if p.Ready {
			n++
		}
	}
	return n
}

// Pod returns the named pod's state.
func (s Sample) Pod(name string) (PodState, bool) {
	for _, p := range s.Pods {
		if p.Name == name {
			return p, true
		}
	}
	return PodState{}, false
}

// Monitor samples Slipway's leader Lease, Deployment and pods on a period,
// each read bounded by a short timeout so that an apiserver outage is a
// run of failed samples, not a stall.
type Monitor struct {
	Kube       kubernetes.Interface
	Namespace  string // Slipway's own: slipway
	Deployment string
	Lease      string
	Selector   string // the pods' label selector
	Period     time.Duration

	mu      sync.Mutex
	samples []Sample
}

// Run samples until ctx is done.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.Period)
	defer t.Stop()
	for {
		s := m.sample(ctx)
		m.mu.Lock()
		m.samples = append(m.samples, s)
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Samples returns what was sampled so far, oldest first.
func (m *Monitor) Samples() []Sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Sample(nil), m.samples...)
}

func (m *Monitor) sample(ctx context.Context) Sample {
	s := Sample{At: time.Now()}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	l, err := m.Kube.CoordinationV1().Leases(m.Namespace).Get(rctx, m.Lease, metav1.GetOptions{})
	if err != nil {
		s.Err = err.Error()
		return s
	}
	if l.Spec.HolderIdentity != nil {
		s.Holder = *l.Spec.HolderIdentity
	}
	if l.Spec.RenewTime != nil {
		s.RenewTime = l.Spec.RenewTime.Time
	}
	if l.Spec.LeaseTransitions != nil {
		s.Transitions = *l.Spec.LeaseTransitions
	}
	d, err := m.Kube.AppsV1().Deployments(m.Namespace).Get(rctx, m.Deployment, metav1.GetOptions{})
	if err != nil {
		s.Err = err.Error()
		return s
	}
	if d.Spec.Replicas != nil {
		s.Want = *d.Spec.Replicas
	}
	pods, err := m.Kube.CoreV1().Pods(m.Namespace).List(rctx, metav1.ListOptions{LabelSelector: m.Selector})
	if err != nil {
		s.Err = err.Error()
		return s
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		s.Pods = append(s.Pods, PodState{Name: p.Name, Ready: podReady(p), Restarts: restarts(p)})
	}
	sort.Slice(s.Pods, func(i, j int) bool { return s.Pods[i].Name < s.Pods[j].Name })
	return s
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}
