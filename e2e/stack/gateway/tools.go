//go:build tools

// Package tools pins the Gateway API implementation of the local stack:
// Traefik, built by e2e/stack/gateway.sh from this module.
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
