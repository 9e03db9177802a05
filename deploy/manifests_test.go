// Package deploy_test renders the Kustomize manifests that install
// Slipway, with the kustomize API kubectl uses, and checks what the
// default and the HA install promise.
package deploy_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/tekton"
)

// render builds dir and returns its objects by kind and name.
func render(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		out[r.GetKind()+"/"+r.GetName()] = b
	}
	return out
}

func decode[T any](t *testing.T, objs map[string][]byte, key string) *T {
	t.Helper()
	b, ok := objs[key]
	if !ok {
		t.Fatalf("%s not rendered", key)
	}
	var v T
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return &v
}

func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "slipway" {
			return c
		}
	}
	t.Fatal("no slipway container")
	return corev1.Container{}
}

// The default stays one replica on SQLite, recreated on upgrade.
func TestDefaultInstall(t *testing.T) {
	objs := render(t, ".")
	d := decode[appsv1.Deployment](t, objs, "Deployment/slipway")
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("default: %d replicas, strategy %s; want 1, Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if _, ok := objs["PersistentVolumeClaim/slipway-data"]; !ok {
		t.Error("default: no SQLite volume")
	}
	cm := decode[corev1.ConfigMap](t, objs, "ConfigMap/slipway")
	if cm.Data["SLIPWAY_LEADER_ELECT"] != "" {
		t.Error("default: leader election set")
	}
}

func TestHAOverlay(t *testing.T) {
	objs := render(t, "ha")
	d := decode[appsv1.Deployment](t, objs, "Deployment/slipway")
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", *d.Spec.Replicas)
	}
	zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
	want := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}}
	if diff := cmp.Diff(want, d.Spec.Strategy); diff != "" {
		t.Errorf("strategy (-want +got):\n%s", diff)
	}
	spec := d.Spec.Template.Spec
	if a := spec.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 ||
		a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("no pod anti-affinity across nodes: %+v", spec.Affinity)
	}
	c := container(t, d)
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("readiness probe %+v: want /healthz, which turns 503 on SIGTERM", c.ReadinessProbe)
	}
	cm := decode[corev1.ConfigMap](t, objs, "ConfigMap/slipway")
	drain, preStop := cm.Data["SLIPWAY_SHUTDOWN_DRAIN"], c.Lifecycle.PreStop.Sleep.Seconds
	probeWindow := c.ReadinessProbe.PeriodSeconds * c.ReadinessProbe.FailureThreshold
	if drain != "10s" || int32(10) <= probeWindow {
		t.Errorf("drain %q must outlast the readiness probe's window (%ds)", drain, probeWindow)
	}
	// preStop + drain + shutdown timeout (25s) fit in the grace period.
	if grace := *spec.TerminationGracePeriodSeconds; grace < preStop+10+25 {
		t.Errorf("terminationGracePeriodSeconds = %d, want >= %d", grace, preStop+10+25)
	}
	for k, want := range map[string]string{"SLIPWAY_LEADER_ELECT": "true", "PGPASSFILE": "/etc/slipway/postgres/pgpass"} {
		if cm.Data[k] != want {
			t.Errorf("ConfigMap %s = %q, want %q", k, cm.Data[k], want)
		}
	}
	if s := cm.Data["SLIPWAY_STORE"]; len(s) < 11 || s[:11] != "postgres://" {
		t.Errorf("store %q: want PostgreSQL", s)
	}
	if _, ok := objs["PersistentVolumeClaim/slipway-data"]; ok {
		t.Error("the SQLite volume is still rendered")
	}
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("volume %s still mounts a claim", v.Name)
		}
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil
	}) {
		t.Error("POD_NAMESPACE not set from the pod's namespace")
	}

	pdb := decode[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget/slipway")
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 ||
		pdb.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "slipway" {
		t.Errorf("PodDisruptionBudget = %+v", pdb.Spec)
	}

	// Leases, in Slipway's namespace only.
	role := decode[rbacv1.Role](t, objs, "Role/slipway-leader")
	if role.Namespace != d.Namespace {
		t.Errorf("lease Role in %q, want Slipway's namespace %q", role.Namespace, d.Namespace)
	}
	for _, r := range role.Rules {
		if !slices.Equal(r.APIGroups, []string{"coordination.k8s.io"}) || !slices.Equal(r.Resources, []string{"leases"}) || slices.Contains(r.Verbs, "delete") {
			t.Errorf("lease Role rule %+v: want leases only, no delete", r)
		}
	}
	rb := decode[rbacv1.RoleBinding](t, objs, "RoleBinding/slipway-leader")
	if rb.Namespace != d.Namespace || rb.RoleRef.Kind != "Role" || len(rb.Subjects) != 1 || rb.Subjects[0].Name != spec.ServiceAccountName {
		t.Errorf("lease RoleBinding = %+v", rb)
	}
	for key := range objs {
		if key == "ClusterRole/slipway-leader" || key == "ClusterRoleBinding/slipway-leader" {
			t.Errorf("%s: the lease grant must not be cluster-wide", key)
		}
	}
}

// The pods of the builds namespace as Tekton labels them: Slipway's
// PipelineRun labels are copied to every TaskRun pod, and Tekton adds the
// Task's name.
var (
	unitTestPod  = labels.Set{tekton.LabelPipeline: "ci", "tekton.dev/task": "slipway-unit-test", "tekton.dev/pipelineTask": "unit-test"}
	buildPushPod = labels.Set{tekton.LabelPipeline: "ci", "tekton.dev/task": "slipway-build-push", "tekton.dev/pipelineTask": "build-push"}
	// A pod labelled as a deploy run's: deploy runs run in the deploy
	// namespace, so one in the builds namespace is confined like any other.
	deployPod = labels.Set{tekton.LabelPipeline: tekton.KindDeploy, "tekton.dev/task": "slipway-deploy", "tekton.dev/pipelineTask": "deploy"}
	// unlabelledPod is a pod of the builds namespace without Slipway's
	// labels: it must be confined too (fail closed).
	unlabelledPod = labels.Set{"tekton.dev/task": "slipway-unit-test"}
)

// The NetworkPolicies of the builds namespace, in both installs: every pod
// there, whatever its labels, is denied everything but the CI
// destinations, buildkitd only from the build step, nothing in Slipway's
// namespace but buildkitd, no kube-apiserver (no rule without ports, no
// rule to any address). The deploy namespace, where deploy pods need the
// kube-apiserver, has no policy.
func TestNetworkPolicies(t *testing.T) {
	for _, dir := range []string{".", "ha"} {
		t.Run(dir, func(t *testing.T) {
			var pols []*networkingv1.NetworkPolicy
			for key, b := range render(t, dir) {
				if !strings.HasPrefix(key, "NetworkPolicy/") {
					continue
				}
				var p networkingv1.NetworkPolicy
				if err := yaml.UnmarshalStrict(b, &p); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				if p.Namespace != "slipway-builds" {
					// buildkitd's own ingress policy, checked in TestBuildkitd.
					continue
				}
				pols = append(pols, &p)
			}
			for _, pod := range []struct {
				name      string
				labels    labels.Set
				buildkitd bool
			}{{"unit-test", unitTestPod, false}, {"build-push", buildPushPod, true}, {"unlabelled", unlabelledPod, false}, {"deploy-labelled", deployPod, false}} {
				sel := selecting(t, pols, pod.labels)
				if !deniesBoth(sel) {
					t.Errorf("%s pod: no policy denies both ingress and egress (selected by %v)", pod.name, names(sel))
				}
				var peers []string
				for _, p := range sel {
					if len(p.Spec.Ingress) > 0 {
						t.Errorf("%s pod: %s allows ingress", pod.name, p.Name)
					}
					for i, r := range p.Spec.Egress {
						where := fmt.Sprintf("%s pod: %s egress[%d]", pod.name, p.Name, i)
						if len(r.To) == 0 || len(r.Ports) == 0 {
							t.Errorf("%s: a rule without peers or ports allows every address or port", where)
						}
						for _, to := range r.To {
							peers = append(peers, checkPeer(t, where, to, r.Ports))
						}
					}
				}
				if got := slices.Contains(peers, "buildkitd"); got != pod.buildkitd {
					t.Errorf("%s pod: reaches buildkitd = %v, want %v (peers %v)", pod.name, got, pod.buildkitd, peers)
				}
			}
		})
	}
}

func selecting(t *testing.T, pols []*networkingv1.NetworkPolicy, pod labels.Set) []*networkingv1.NetworkPolicy {
	t.Helper()
	var out []*networkingv1.NetworkPolicy
	for _, p := range pols {
		s, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if s.Matches(pod) {
			out = append(out, p)
		}
	}
	return out
}

func deniesBoth(pols []*networkingv1.NetworkPolicy) bool {
	return slices.ContainsFunc(pols, func(p *networkingv1.NetworkPolicy) bool {
		return slices.Equal(p.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) &&
			len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0
	})
}

func names(pols []*networkingv1.NetworkPolicy) []string {
	var out []string
	for _, p := range pols {
		out = append(out, p.Name)
	}
	return out
}

// checkPeer returns what an egress peer is ("dns", "buildkitd", or its
// CIDR) and fails on one that reaches too far: another namespace but the
// DNS (port 53) and Slipway's buildkitd (port 1234), a CIDR wider than one
// address of the placeholders, or a pod selector in the builds namespace.
func checkPeer(t *testing.T, where string, to networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) string {
	t.Helper()
	portsAre := func(want ...int) bool {
		for _, p := range ports {
			if p.Port == nil || p.EndPort != nil || !slices.Contains(want, p.Port.IntValue()) {
				return false
			}
		}
		return true
	}
	switch {
	case to.IPBlock != nil:
		if to.NamespaceSelector != nil || to.PodSelector != nil {
			t.Errorf("%s: ipBlock with selectors", where)
		}
		if !strings.HasSuffix(to.IPBlock.CIDR, "/32") {
			t.Errorf("%s: %s is wider than one address", where, to.IPBlock.CIDR)
		}
		return to.IPBlock.CIDR
	case to.NamespaceSelector == nil:
		t.Errorf("%s: a pod selector in the builds namespace (%v): CI pods must not reach each other", where, to.PodSelector)
	case to.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "kube-system" &&
		to.PodSelector != nil && to.PodSelector.MatchLabels["k8s-app"] == "kube-dns" && portsAre(53):
		return "dns"
	case to.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "slipway" &&
		to.PodSelector != nil && maps.Equal(to.PodSelector.MatchLabels, map[string]string{"app.kubernetes.io/name": "buildkitd"}) &&
		len(to.PodSelector.MatchExpressions) == 0 && portsAre(1234):
		return "buildkitd"
	default:
		t.Errorf("%s: peer %+v reaches another namespace", where, to)
	}
	return ""
}

// buildkitd takes only TLS clients with a certificate of its CA, from
// build steps only, and Slipway hands the build step that certificate.
func TestBuildkitd(t *testing.T) {
	for _, dir := range []string{".", "ha"} {
		t.Run(dir, func(t *testing.T) {
			objs := render(t, dir)
			d := decode[appsv1.Deployment](t, objs, "Deployment/buildkitd")
			var tlsSecret string
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == "tls" && v.Secret != nil {
					tlsSecret = v.Secret.SecretName
				}
			}
			if tlsSecret != "buildkitd-tls" {
				t.Errorf("buildkitd's tls volume is Secret %q, want buildkitd-tls", tlsSecret)
			}
			conf := decode[corev1.ConfigMap](t, objs, "ConfigMap/buildkitd").Data["buildkitd.toml"]
			for _, want := range []string{`"tcp://0.0.0.0:1234"`, "[grpc.tls]", `ca = "/etc/buildkit/tls/ca.crt"`} {
				if !strings.Contains(conf, want) {
					t.Errorf("buildkitd.toml lacks %s: without a CA buildkitd takes any client", want)
				}
			}
			if got := d.Spec.Template.Labels["app.kubernetes.io/name"]; got != "buildkitd" {
				t.Errorf("buildkitd pods labelled %q: slipway-ci-buildkitd lets build steps reach app.kubernetes.io/name=buildkitd", got)
			}
			cm := decode[corev1.ConfigMap](t, objs, "ConfigMap/slipway")
			if got := cm.Data["SLIPWAY_BUILDKIT_TLS_SECRET"]; got != "buildkit-client-tls" {
				t.Errorf("SLIPWAY_BUILDKIT_TLS_SECRET = %q, want buildkit-client-tls: build steps would dial buildkitd without a certificate", got)
			}
			np := decode[networkingv1.NetworkPolicy](t, objs, "NetworkPolicy/buildkitd")
			if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 {
				t.Fatalf("buildkitd ingress: %+v, want one rule from build steps", np.Spec.Ingress)
			}
			from := np.Spec.Ingress[0].From[0]
			if from.PodSelector == nil || from.PodSelector.MatchLabels["tekton.dev/task"] != "slipway-build-push" ||
				from.NamespaceSelector == nil || from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "slipway-builds" {
				t.Errorf("buildkitd ingress from %+v, want build-push pods of slipway-builds only", from)
			}
		})
	}
}

// Deploy runs live in the deploy namespace, Slipway's own, in both
// installs: the server is told so, the deployer account and its Role on
// its own PipelineRun are there, and the server's Role there covers the
// deploy pipeline and its runs and nothing else. No Role or ClusterRole
// of deploy/ grants Secrets to anyone, and the builds namespace, where CI
// pods run, holds nothing of the deployer's.
func TestDeployNamespace(t *testing.T) {
	for _, dir := range []string{".", "ha"} {
		t.Run(dir, func(t *testing.T) {
			objs := render(t, dir)
			d := decode[appsv1.Deployment](t, objs, "Deployment/slipway")
			cm := decode[corev1.ConfigMap](t, objs, "ConfigMap/slipway")
			deployNS, buildsNS := cm.Data["SLIPWAY_DEPLOY_NAMESPACE"], cm.Data["SLIPWAY_NAMESPACE"]
			if deployNS != d.Namespace || buildsNS == deployNS || buildsNS == "" {
				t.Fatalf("deploy namespace %q, builds namespace %q: want Slipway's own (%q) and a separate builds namespace", deployNS, buildsNS, d.Namespace)
			}
			if sa := decode[corev1.ServiceAccount](t, objs, "ServiceAccount/slipway-deployer"); sa.Namespace != deployNS {
				t.Errorf("deployer account in %q, want %q", sa.Namespace, deployNS)
			}
			runs := decode[rbacv1.Role](t, objs, "Role/slipway-deployer-runs")
			runsRB := decode[rbacv1.RoleBinding](t, objs, "RoleBinding/slipway-deployer-runs")
			if runs.Namespace != deployNS || runsRB.Namespace != deployNS ||
				!cmp.Equal(runsRB.Subjects, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "slipway-deployer", Namespace: deployNS}}) {
				t.Errorf("deployer's run Role in %q, bound in %q to %+v; want both in %q, to slipway-deployer there", runs.Namespace, runsRB.Namespace, runsRB.Subjects, deployNS)
			}

			role := decode[rbacv1.Role](t, objs, "Role/slipway-deploys")
			rb := decode[rbacv1.RoleBinding](t, objs, "RoleBinding/slipway-deploys")
			if role.Namespace != deployNS || rb.Namespace != deployNS || rb.RoleRef.Name != role.Name ||
				!cmp.Equal(rb.Subjects, []rbacv1.Subject{{Kind: "ServiceAccount", Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: d.Namespace}}) {
				t.Errorf("server's deploy Role in %q, binding %+v; want it in %q, bound to the server's account", role.Namespace, rb, deployNS)
			}
			grants := map[string][]string{}
			for _, r := range role.Rules {
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						grants[g+"/"+res] = append(grants[g+"/"+res], r.Verbs...)
					}
				}
			}
			want := map[string][]string{
				"tekton.dev/tasks":        {"get", "create", "patch"},
				"tekton.dev/pipelines":    {"get", "create", "patch"},
				"tekton.dev/pipelineruns": {"get", "list", "watch", "create", "patch", "delete"},
			}
			if diff := cmp.Diff(want, grants); diff != "" {
				t.Errorf("server's grants in the deploy namespace (-want +got):\n%s", diff)
			}

			for key, b := range objs {
				kind, _, _ := strings.Cut(key, "/")
				if kind != "Role" && kind != "ClusterRole" {
					continue
				}
				var r rbacv1.ClusterRole // a Role's fields are a subset
				if err := yaml.Unmarshal(b, &r); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				for _, rule := range r.Rules {
					for _, res := range rule.Resources {
						if res == "secrets" || res == "*" {
							t.Errorf("%s grants %s %v", key, res, rule.Verbs)
						}
					}
				}
				if kind == "Role" && r.Namespace == buildsNS && strings.Contains(key, "deployer") {
					t.Errorf("%s is in the builds namespace", key)
				}
			}
		})
	}
}
