//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/e2e/framework"
)

// What each of Slipway's identities may do, asked of the live apiserver
// (RBAC on) after the stack applied deploy/: `kubectl auth can-i` as a
// table. Slipway's server reads no Secret and changes no workload; the
// pipelines' account has no API access at all; the deployer changes
// workloads only in namespaces bound to it (qa, prod here), reads no
// Secret and cannot exec into pods anywhere.
func TestServiceAccountPermissions(t *testing.T) {
	t.Parallel()
	slipway(t) // the stack with deploy/ applied
	c := framework.Get(t)
	const (
		server   = "system:serviceaccount:slipway:slipway"
		pipeline = "system:serviceaccount:slipway-builds:slipway-pipeline"
		deployer = "system:serviceaccount:slipway-builds:slipway-deployer"
		builds   = "slipway-builds"
	)
	type ask struct {
		user, ns, verb, group, resource, sub, name string
	}
	tests := []struct {
		ask
		want bool
	}{
		// Slipway's server: Tekton runs in the builds namespace and their logs.
		{ask{server, builds, "create", "tekton.dev", "pipelineruns", "", ""}, true},
		{ask{server, builds, "delete", "tekton.dev", "pipelineruns", "", ""}, true},
		{ask{server, builds, "watch", "tekton.dev", "taskruns", "", ""}, true},
		{ask{server, builds, "get", "", "pods", "log", ""}, true},
		{ask{server, builds, "get", "", "configmaps", "", "slipway-advisories"}, true},
		{ask{server, builds, "get", "", "configmaps", "", "other"}, false},
		{ask{server, builds, "get", "", "secrets", "", "slipway-git-credentials"}, false},
		{ask{server, builds, "list", "", "secrets", "", ""}, false},
		{ask{server, "slipway", "get", "", "secrets", "", "slipway-secrets"}, false},
		{ask{server, "", "list", "", "secrets", "", ""}, false},
		{ask{server, builds, "create", "", "pods", "", ""}, false},
		{ask{server, builds, "create", "", "pods", "exec", ""}, false},
		{ask{server, "qa", "patch", "apps", "deployments", "", ""}, false},
		{ask{server, "prod", "create", "tekton.dev", "pipelineruns", "", ""}, false},
		// The pipelines' own account: nothing.
		{ask{pipeline, builds, "get", "", "secrets", "", ""}, false},
		{ask{pipeline, builds, "create", "tekton.dev", "pipelineruns", "", ""}, false},
		{ask{pipeline, builds, "get", "", "pods", "", ""}, false},
		{ask{pipeline, builds, "create", "", "pods", "exec", ""}, false},
		{ask{pipeline, "qa", "get", "apps", "deployments", "", ""}, false},
		// The deployer: workloads in bound namespaces; its own PipelineRun.
		{ask{deployer, "qa", "patch", "apps", "deployments", "", ""}, true},
		{ask{deployer, "prod", "create", "apps", "deployments", "", ""}, true},
		{ask{deployer, "prod", "patch", "gateway.networking.k8s.io", "httproutes", "", ""}, true},
		{ask{deployer, "qa", "create", "", "configmaps", "", ""}, true},
		{ask{deployer, "qa", "get", "", "secrets", "", ""}, false},
		{ask{deployer, "qa", "create", "", "secrets", "", ""}, false},
		{ask{deployer, "qa", "create", "", "pods", "exec", ""}, false},
		{ask{deployer, "qa", "create", "", "pods", "", ""}, false},
		{ask{deployer, "qa", "create", "rbac.authorization.k8s.io", "rolebindings", "", ""}, false},
		{ask{deployer, "slipway", "patch", "apps", "deployments", "", ""}, false},
		{ask{deployer, builds, "patch", "apps", "deployments", "", ""}, false},
		{ask{deployer, "", "list", "apps", "deployments", "", ""}, false},
		{ask{deployer, builds, "patch", "tekton.dev", "pipelineruns", "", ""}, true},
		{ask{deployer, builds, "create", "tekton.dev", "pipelineruns", "", ""}, false},
		{ask{deployer, builds, "get", "", "secrets", "", ""}, false},
	}
	ctx := context.Background()
	var got, want []string
	for _, tt := range tests {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: tt.user,
			// The groups the apiserver gives every service account token.
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + saNamespace(tt.user), "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: tt.ns, Verb: tt.verb, Group: tt.group, Resource: tt.resource, Subresource: tt.sub, Name: tt.name,
			},
		}}
		res, err := c.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SubjectAccessReview %+v: %v", tt.ask, err)
		}
		line := fmt.Sprintf("%s may %s %s/%s/%s %q in %q", tt.user, tt.verb, tt.group, tt.resource, tt.sub, tt.name, tt.ns)
		got = append(got, fmt.Sprintf("%s: %v", line, res.Status.Allowed))
		want = append(want, fmt.Sprintf("%s: %v", line, tt.want))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("permissions differ from deploy/'s intent (-want +got):\n%s", d)
	}
}

// saNamespace is the namespace of a system:serviceaccount:NS:NAME user.
func saNamespace(user string) string {
	parts := strings.Split(user, ":")
	if len(parts) != 4 {
		return ""
	}
	return parts[2]
}
