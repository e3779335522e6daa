// Package openpgp verifies OpenPGP (gpg) signatures on Git commits and tags against a set of
// trusted public keys, with ProtonMail's go-crypto (the library go-git uses).
//
// Keys may come as several armored blocks in one text: go-git's Commit.Verify reads only the first
// block of a concatenated file, so Compile decodes every block. A key's validity (expiry,
// revocation by its owner) is judged at the signature's creation time, never at "now": GitHub's
// old web-flow key expired in January 2024 and still verifies the commits it signed before. It
// imports nothing of Writ's but the signature contract.
package openpgp
