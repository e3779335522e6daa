// Package controlplane builds and locates the kube-apiserver and etcd binaries that Writ's
// integration tests run against.
//
// The machines Writ is developed and tested on cannot download envtest's prebuilt binaries, so
// the project compiles them from Go modules pinned in two tools modules under test/tools
// (kube-apiserver from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3). The binaries live in
// a cache outside the clone, keyed by a hash of those modules and the Go toolchain:
//
//	${XDG_CACHE_HOME:-$HOME/.cache}/writ/controlplane/<kubernetes version>-<hash>
//
// Build returns at once when that directory exists, serialises concurrent builds with a file lock,
// and builds into a temporary directory that is renamed into place only when complete, so a reader
// never sees a half-built directory.
package controlplane
