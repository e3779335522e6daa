// Package app wires Writ's in-cluster manager: command-line flags become Options, Options become a
// controller-runtime Manager with health and readiness probes, a Prometheus metrics endpoint,
// optional leader election, and the components (webhook, reconciler, audit, sealing) switched on
// by flags.
package app
