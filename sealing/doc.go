// Package sealing encrypts Secrets with a cluster key so they can live in Git, in the wire format
// of Bitnami Sealed Secrets: an in-cluster controller unseals SealedSecrets into Secrets, serves
// the public certificate as kubeseal expects, and rotates keys; `writ seal` seals on a laptop.
package sealing
