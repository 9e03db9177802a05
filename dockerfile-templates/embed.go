// Package templates carries the standard Dockerfile templates and their
// metadata into the binary; pkg/dockerfile renders them.
package templates

import "embed"

// FS holds <language>.Dockerfile.tmpl and <language>.yaml for every language.
//
//go:embed *.Dockerfile.tmpl *.yaml
var FS embed.FS
