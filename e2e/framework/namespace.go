//go:build e2e

package framework

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestLabel marks the namespaces the framework creates, with the test's name.
const TestLabel = "e2e.slipway.dev/test"

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// NamespacePrefix turns a test name into the start of a namespace name:
// lower case, DNS-label characters only, short enough to leave room for the
// generated suffix.
func NamespacePrefix(testName string) string {
	p := notDNS.ReplaceAllString(strings.ToLower(testName), "-")
	p = strings.Trim(p, "-")
	if len(p) > 40 {
		p = strings.TrimRight(p[:40], "-")
	}
	if p == "" {
		p = "test"
	}
	return "e2e-" + p + "-"
}

// NewNamespace creates a namespace for this test alone and waits until pods
// can be created in it. On cleanup it is deleted, unless the test failed and
// E2E_KEEP=1; a failed test first gets its PipelineRuns dumped.
func NewNamespace(t *testing.T) string {
	t.Helper()
	c := Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: NamespacePrefix(t.Name()),
			Labels:       map[string]string{TestLabel: labelValue(t.Name())},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	name := ns.Name
	t.Cleanup(func() { cleanupNamespace(t, name) })

	// The controller-manager adds the default service account shortly after;
	// pods are refused until it exists.
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := c.Kube.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("waiting for service account %s/default: %v", name, err)
	}
	return name
}

func cleanupNamespace(t *testing.T, ns string) {
	c := Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if t.Failed() {
		prs, err := c.Tekton.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Logf("listing PipelineRuns of %s for the dump: %v", ns, err)
		} else {
			for _, pr := range prs.Items {
				if _, done := dumped.Load(ns + "/" + pr.Name); !done {
					DumpPipelineRun(t, ns, pr.Name)
				}
			}
		}
		if os.Getenv("E2E_KEEP") == "1" {
			t.Logf("E2E_KEEP=1: keeping namespace %s", ns)
			return
		}
	}
	err := c.Kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting namespace %s: %v", ns, err)
	}
}

// labelValue fits a test name into a label value (63 characters, alphanumeric ends).
func labelValue(s string) string {
	v := regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(s, "_")
	if len(v) > 63 {
		v = v[:63]
	}
	v = strings.Trim(v, "._-")
	if v == "" {
		return "unnamed"
	}
	return v
}

// String forms used in failure messages.
func objRef(ns, kind, name string) string { return fmt.Sprintf("%s %s/%s", kind, ns, name) }
