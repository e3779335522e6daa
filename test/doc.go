// Package test holds Writ's test infrastructure: controlplane builds kube-apiserver and etcd from
// source into a cache, harness starts them for a package's integration tests, and the end-to-end
// suites live in subpackages. Nothing here is imported by Writ's own code.
package test
