// Package reconcile is Writ's bundled GitOps agent: it fetches a Git repository, verifies the
// commits with package provenance before rendering anything, renders plain YAML or Kustomize,
// applies with server-side apply under the field manager "writ", prunes what Git no longer
// declares, and watches what it applied so drift is detected and healed in seconds.
package reconcile
