//go:build tools

// Package tools pins the NetworkPolicy enforcer of the local stack:
// kube-router's firewall, built by e2e/stack/netpol.sh from this module.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
