// Package pipelines carries Slipway's Tekton Pipelines in the binary.
package pipelines

import "embed"

// FS holds every Pipeline manifest of this folder, one object per file.
//
//go:embed *.yaml
var FS embed.FS
