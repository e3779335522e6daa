// Package app is writ-verify: `writ verify`, which checks the signatures of Git commits against a
// TrustPolicy. It is a binary of its own because its libraries (Sigstore, go-git, OpenPGP) take
// longer to initialise than every other command of writ needs; `writ verify` runs it.
package app
