// Package controller is the in-cluster half of sealing: the controller that unseals SealedSecrets
// into Secrets, the key store and renewer that keep the cluster's sealing keys as Secrets, the HTTP
// service kubeseal and `writ seal` talk to (certificate, verify, rotate) and their metrics.
//
// The sealing package itself (the wire format, keys, sealing and unsealing) imports no
// controller-runtime, so that `writ seal` stays small and starts fast.
package controller
