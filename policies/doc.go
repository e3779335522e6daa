// Package policies holds the policies Writ ships (guard policies for Writ's own reconciler, Argo
// CD and Flux, and example trust policies) as YAML files beside this file, loaded and validated by
// the package's tests so a shipped policy can never be broken.
package policies
