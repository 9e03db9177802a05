// Package tasks carries Slipway's Tekton Tasks in the binary.
package tasks

import "embed"

// FS holds every Task manifest of this folder, one object per file.
//
//go:embed *.yaml
var FS embed.FS
