// Package gitobj splits raw Git commit and tag objects — the exact bytes in the object database,
// the bytes git itself hands its signature verifier — into the signed payload, the signature and
// the headers Writ needs.
//
// It works on raw bytes instead of decoding and re-encoding through a Git library, and it rejects
// structurally ambiguous objects (a duplicated tree, author, committer or signature header, a
// continuation line with no header), because a parser that resolves duplicates differently from
// git can be made to verify a signature over bytes other than the ones git stores. It imports
// nothing of Writ's.
package gitobj
