//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/e2e/framework"
)

// What each of Slipway's identities may do, asked of the live apiserver
// (RBAC on) after the stack applied deploy/: `kubectl auth can-i` as a
// table. Slipway's server reads no Secret anywhere and changes no
// workload; it runs CI in the builds namespace and deploys in the deploy
// namespace (Slipway's own, where kubeconfig Secrets live). The
// pipelines' accounts have no API access at all, least of all to the
// deploy namespace's Secrets; the deployer lives in the deploy namespace,
// changes workloads only in namespaces bound to it (qa, prod here), reads
// no Secret and cannot exec into pods anywhere.
func TestServiceAccountPermissions(t *testing.T) {
	t.Parallel()
	slipway(t) // the stack with deploy/ applied
	c := framework.Get(t)
	const (
		server   = "system:serviceaccount:slipway:slipway"
		pipeline = "system:serviceaccount:slipway-builds:slipway-pipeline"
		// The builds namespace's default account: what a CI run without a
		// service account of its own runs as.
		buildsDefault = "system:serviceaccount:slipway-builds:default"
		deployer      = "system:serviceaccount:slipway:slipway-deployer"
		// The deployer as it was before deploy runs left the builds
		// namespace: nothing of it may be left there.
		oldDeployer = "system:serviceaccount:slipway-builds:slipway-deployer"
		builds      = buildsNamespace
		deploys     = deployNamespace
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
		// ... and deploy runs in the deploy namespace, never their Secrets.
		{ask{server, deploys, "create", "tekton.dev", "pipelineruns", "", ""}, true},
		{ask{server, deploys, "watch", "tekton.dev", "pipelineruns", "", ""}, true},
		{ask{server, deploys, "patch", "tekton.dev", "pipelineruns", "", ""}, true},
		{ask{server, deploys, "delete", "tekton.dev", "pipelineruns", "", ""}, true},
		{ask{server, deploys, "patch", "tekton.dev", "pipelines", "", "slipway-deploy"}, true},
		{ask{server, deploys, "get", "", "secrets", "", "prod-kubeconfig"}, false},
		{ask{server, deploys, "list", "", "secrets", "", ""}, false},
		{ask{server, deploys, "get", "", "pods", "log", ""}, false},
		{ask{server, deploys, "create", "", "pods", "", ""}, false},
		// The pipelines' own account: nothing.
		{ask{pipeline, builds, "get", "", "secrets", "", ""}, false},
		{ask{pipeline, builds, "create", "tekton.dev", "pipelineruns", "", ""}, false},
		{ask{pipeline, builds, "get", "", "pods", "", ""}, false},
		{ask{pipeline, builds, "create", "", "pods", "exec", ""}, false},
		{ask{pipeline, "qa", "get", "apps", "deployments", "", ""}, false},
		// Nor to the deploy namespace, where the kubeconfig Secrets are.
		{ask{pipeline, deploys, "get", "", "secrets", "", "prod-kubeconfig"}, false},
		{ask{pipeline, deploys, "list", "", "secrets", "", ""}, false},
		{ask{pipeline, deploys, "create", "tekton.dev", "pipelineruns", "", ""}, false},
		{ask{buildsDefault, deploys, "get", "", "secrets", "", "prod-kubeconfig"}, false},
		{ask{buildsDefault, builds, "get", "", "secrets", "", ""}, false},
		{ask{oldDeployer, "qa", "patch", "apps", "deployments", "", ""}, false},
		{ask{oldDeployer, builds, "patch", "tekton.dev", "pipelineruns", "", ""}, false},
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
		{ask{deployer, deploys, "get", "tekton.dev", "pipelineruns", "", ""}, true},
		{ask{deployer, deploys, "patch", "tekton.dev", "pipelineruns", "", ""}, true},
		{ask{deployer, deploys, "create", "tekton.dev", "pipelineruns", "", ""}, false},
		{ask{deployer, deploys, "get", "", "secrets", "", "prod-kubeconfig"}, false},
		{ask{deployer, deploys, "patch", "apps", "deployments", "", ""}, false},
		{ask{deployer, builds, "patch", "tekton.dev", "pipelineruns", "", ""}, false},
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

	// The deployer's account is where deploy runs start (they name it),
	// and gone from the builds namespace, where CI pods could use it.
	if _, err := c.Kube.CoreV1().ServiceAccounts(deploys).Get(ctx, deployerAccount, metav1.GetOptions{}); err != nil {
		t.Errorf("the deployer's account in %s: %v", deploys, err)
	}
	if _, err := c.Kube.CoreV1().ServiceAccounts(builds).Get(ctx, deployerAccount, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the deployer's account in %s: %v, want none there", builds, err)
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
