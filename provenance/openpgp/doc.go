// Package openpgp verifies OpenPGP (gpg) signatures on Git commits and tags against a set of
// trusted public keys, with ProtonMail's go-crypto (the library go-git uses) for key parsing and
// the signature arithmetic, and its own rules for everything else:
//
//   - armor.go: exactly one signature packet in exactly one armor, nothing before or after it.
//   - policy.go: SHA-2/SHA-3 digests only, RSA and DSA keys of 2048 bits or more.
//   - validity.go: a key's validity (expiry, revocation by its owner) comes from its current
//     self-signatures, as gpg reads a key, and is judged at the signature's creation time, never
//     at "now": GitHub's old web-flow key expired in January 2024 and still verifies the commits
//     it signed before; a key whose expiry was extended still verifies what it signed before the
//     extension.
//
// Keys may come as several armored blocks in one text: go-git's Commit.Verify reads only the first
// block of a concatenated file, so Compile decodes every block. It imports nothing of Writ's but
// the signature contract.
package openpgp
