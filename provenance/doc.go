// Package provenance verifies that the Git commits Writ applies were signed by someone a
// TrustPolicy trusts: OpenPGP, SSH and Sigstore keyless (gitsign) signatures, for a commit, every
// commit of a range, or a signed tag, with two-person approval rules, rollback protection and
// revocation.
//
// It is a pure library: it imports nothing else of Writ's and no controller code, so the same
// verification runs in the cluster and in `writ verify` on a laptop. A policy is compiled once
// into a Verifier whose results marshal to JSON as evidence.
//
// Compile builds the verifier of every format the policy names directly, Sigstore's included
// (keyless.go); nothing is registered at init. A binary that must start fast keeps Sigstore,
// go-git and OpenPGP out by not importing this package: `writ seal` does not, and `writ verify`
// is the separate binary writ-verify (test/layering checks it).
package provenance
