// Package layering checks the import rules the code base relies on, with `go list -deps`: the pure
// libraries (provenance, sealing) import nothing else of Writ's and no controller code; the writ
// binary links none of the libraries that would slow every command's start (controller-runtime,
// Sigstore, go-git, client-go's typed clientset, Prometheus); package scheme holds API types only;
// test/harness, which every integration test imports, reaches Writ only through scheme and the
// API types, never a controller; the witness's index (witness) is pure; and its feed (witness/feed)
// uses the reconciler's libraries but never the reconciler's controllers, the guard or the audit
// trail.
package layering
