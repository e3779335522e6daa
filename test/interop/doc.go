// Package interop holds end-to-end tests of Writ against other tools on the real control plane:
// Bitnami's kubeseal and sealed-secrets controller, built from the same Go module Writ uses
// (test/tools/sealedsecrets), against writ seal and writ-controller --enable-sealing.
package interop
