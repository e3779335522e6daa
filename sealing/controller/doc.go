// Package controller is the in-cluster half of sealing: the controller that unseals SealedSecrets
// into Secrets (controller.go), the key store (keystore.go) and renewer (renewer.go) that keep the
// cluster's sealing keys as Secrets, the HTTP service kubeseal and `writ seal` talk to
// (certificate, verify, rotate; server.go) and their metrics (metrics.go). Randomness and clocks
// are injected (Renewer.Rand, HandlerOptions.Rand and Now) and default to crypto/rand and
// time.Now.
//
// The sealing package itself (the wire format, keys, sealing and unsealing) imports no
// controller-runtime, so that `writ seal` stays small and starts fast.
package controller
