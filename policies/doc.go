// Package policies holds the policies Writ ships as YAML files beside this file — guard policies
// for Writ's own reconciler, an existing Argo CD and an existing Flux (with the exemptions
// Kubernetes' own controllers need), and example trust policies — embedded in FS and loaded and
// validated by the package's tests, so a shipped policy can never be broken.
package policies

import "embed"

// FS holds every shipped policy file.
//
//go:embed *.yaml
var FS embed.FS
