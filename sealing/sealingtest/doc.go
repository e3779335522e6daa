// Package sealingtest holds the keys, Secrets and sealers the sealing packages' tests share. Keys are
// made once per test binary: RSA key generation takes long enough to matter.
package sealingtest
