// Package scheme owns the runtime.Scheme Writ's clients use: Kubernetes' built-in API groups,
// Writ's own (provenance, audit, guard, reconcile) and Bitnami's SealedSecret, which sealing
// reads and writes. writ-controller's manager and the test harness both build their clients
// from it, so a test talks to the apiserver with exactly the kinds the controller knows.
//
// It imports only API types (test/layering checks it): importing it never links a controller.
package scheme
