package sshsig

import (
	"testing"
	"time"
)

// BenchmarkVerifyEd25519 measures one verification of a real ssh-keygen ed25519 signature: armor
// decoding, key lookup, the signature check and the allowed_signers policy.
func BenchmarkVerifyEd25519(b *testing.B) {
	dir := b.TempDir()
	path, pub := newKey(b, dir, "ed25519", "bench")
	payload := []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n" +
		"author Alice <alice@example.com> 1717243200 +0000\n" +
		"committer Alice <alice@example.com> 1717243200 +0000\n\ndeploy v1\n")
	sig := sign(b, dir, path, "git", payload)
	v, err := Compile([]byte(`alice valid-after="20240101" ` + pub))
	if err != nil {
		b.Fatal(err)
	}
	at := time.Unix(1717243200, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(payload, sig, at); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile measures compiling a real 12-line allowed_signers file.
func BenchmarkCompile(b *testing.B) {
	in := readTestdata(b, "heartwood_allowed_signers")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(in); err != nil {
			b.Fatal(err)
		}
	}
}
