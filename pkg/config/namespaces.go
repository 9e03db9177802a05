package config

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// namespaceErrors checks the builds and the deploy namespace. They must
// differ: a Secret can be mounted by any pod of its namespace, and CI pods
// run whatever was pushed, so the kubeconfig Secrets deploy runs mount
// must not live where CI pods run.
func (c *Config) namespaceErrors() []string {
	var errs []string
	for _, ns := range []struct{ flag, v string }{{"namespace", c.Namespace}, {"deploy-namespace", c.DeployNamespace}} {
		if ns.v == "" {
			errs = append(errs, ns.flag+" must not be empty")
			continue
		}
		if e := validation.IsDNS1123Label(ns.v); len(e) > 0 {
			errs = append(errs, fmt.Sprintf("%s %q is not a namespace name: %s", ns.flag, ns.v, strings.Join(e, "; ")))
		}
	}
	if c.Namespace != "" && c.Namespace == c.DeployNamespace {
		errs = append(errs, fmt.Sprintf("deploy-namespace %q is the builds namespace (namespace): CI pods, which run untrusted code, could mount the kubeconfig Secrets deploy runs use; give deploy runs Slipway's own namespace (default slipway)", c.DeployNamespace))
	}
	return errs
}
