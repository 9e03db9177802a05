//go:build tools

// Package triggers pins the Tekton Triggers commands dispatchbench runs
// beside Slipway (see bench/README.md); nothing here is compiled into
// Slipway.
package triggers

import (
	_ "github.com/tektoncd/triggers/cmd/eventlistenersink"
	_ "github.com/tektoncd/triggers/cmd/interceptors"
)
