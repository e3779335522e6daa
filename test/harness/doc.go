// Package harness starts a real Kubernetes control plane — kube-apiserver and etcd built from
// source by package controlplane — for a package's integration tests, installs Writ's CRDs, and
// hands out clients for chosen identities: the admin (system:masters), an impersonated user with
// groups, or a service account with a real token.
//
// A package uses one control plane for all its tests:
//
//	var env *harness.Env
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }
//
//	func TestSomething(t *testing.T) {
//		harness.Require(t, env) // skips only under -short (make test-unit)
//		...
//	}
//
// Main fails the whole package, with the make target to run, when the control-plane binaries are
// missing; it never skips silently.
package harness
