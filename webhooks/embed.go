// Package webhooks carries real example webhook payloads of GitHub and GitLab
// (see README.md for where each comes from). Tests and `make demo` replay them.
package webhooks

import "embed"

// FS holds github/*.json and gitlab/*.json.
//
//go:embed github/*.json gitlab/*.json
var FS embed.FS
