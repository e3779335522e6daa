package openpgp

import (
	"os"
	"path/filepath"
	"testing"

	"writ.dev/writ/test/fixtures"

	"writ.dev/writ/provenance/gitobj"
)

// FuzzVerify feeds arbitrary signature bytes to the OpenPGP decoder and verifier: it must never
// panic, and nothing but a real signature by the trusted key may verify.
func FuzzVerify(f *testing.F) {
	dir := filepath.Join(fixtures.Corpus(f), "openpgp")
	key, err := os.ReadFile(filepath.Join(dir, "key.asc"))
	if err != nil {
		f.Fatal(err)
	}
	v, err := Compile([]string{string(key)})
	if err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "3c84d87240644b5c62b3b3d79177ae64448591c8.commit"))
	if err != nil {
		f.Fatal(err)
	}
	c, err := gitobj.ParseCommit(raw)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.Payload, c.Signature)
	f.Add([]byte("x"), []byte("-----BEGIN PGP SIGNATURE-----\n\nwsFcBAABCAAQ\n-----END PGP SIGNATURE-----\n"))
	f.Fuzz(func(t *testing.T, payload, sig []byte) {
		s, err := v.Verify(payload, sig)
		if err == nil && (string(payload) != string(c.Payload) || s.Fingerprint == "") {
			t.Fatalf("verified a forged pair: %+v", s)
		}
	})
}

// FuzzCompile feeds arbitrary key text to Compile: it must never panic.
func FuzzCompile(f *testing.F) {
	f.Add("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n-----END PGP PUBLIC KEY BLOCK-----\n")
	f.Fuzz(func(t *testing.T, text string) {
		_, _ = Compile([]string{text})
	})
}
