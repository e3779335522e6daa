// Package sealing encrypts Secrets with a cluster key so they can live in Git, in the wire format
// of Bitnami Sealed Secrets (bitnami.com/v1alpha1 SealedSecret, sealed with Bitnami's own
// pkg/crypto): keys and their Secrets, sealing, unsealing, and reading manifests. `writ seal` seals
// on a laptop with it; the in-cluster controller that unseals SealedSecrets into Secrets, serves
// the public certificate as kubeseal expects and renews keys is sealing/controller. This package
// imports no controller-runtime, which keeps `writ seal` quick to start.
//
// Files: keys.go (Key, KeyRing, key Secrets, PEM parsing through client-go's certutil), seal.go
// (Sealer), unseal.go, reseal.go (Reseal: open and seal again with the newest key, for
// /v1/rotate), manifest.go (reading and writing Secrets and SealedSecrets), report.go (which
// SealedSecrets depend on which key), service.go (the paths of the controller's HTTP service).
//
// Beyond Sealed Secrets, every SealedSecret Writ seals names the fingerprint of the key that
// sealed it in the annotation AnnotationKey, so the controller tries that key first and
// `writ keys report` can say which SealedSecrets still depend on a key before it is retired.
package sealing
