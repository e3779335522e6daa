package sigstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkVerifyEmbeddedTlog measures a full offline verification of a real gitsign commit with
// an embedded Rekor entry against the public-good root: CMS decoding, signature, two chain
// checks, SCT, identity, SET, inclusion proof and checkpoint.
func BenchmarkVerifyEmbeddedTlog(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(corpusDir(b), "dc68e8ce155fe12ab8fd7c55de6ef336ce716ee8.commit"))
	if err != nil {
		b.Fatal(err)
	}
	payload, sig, committed := splitCommit(b, raw)
	v, err := Compile(Options{Identities: corpusIdentities, RequireTransparencyLog: true, RequireSCT: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(payload, sig, committed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyVirtualSigstore is the same path on a VirtualSigstore signature (SET and
// inclusion proof, no SCT).
func BenchmarkVerifyVirtualSigstore(b *testing.B) {
	vs := newVirtualSigstore(b)
	sig := sign(b, vs, testPayload).armor(b)
	v := testVerifier(b, vs)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(testPayload, sig, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
